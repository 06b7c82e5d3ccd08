"""Weekly baselines: the scopes a week is summarised by, and the rows of `baselines.weekly`
from the week's statistics, gate failures and the incidents of the last 30 days."""

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from retouch_assets.vocabulary import Dimension, ScopeType

INCIDENT_WINDOW = timedelta(days=30)


ALL = "all"  # the scope of the overall row

# Incident scopes are SLO scopes (`template_id=<t>`): the dimension names the baseline scope.
_SCOPE_TYPE_OF = {Dimension.TEMPLATE: ScopeType.TEMPLATE, Dimension.CHANNEL: ScopeType.CHANNEL}

Scope = tuple[str, str]  # (scope_type, scope)


def incident_counts(incidents: Iterable[Mapping[str, Any]]) -> dict[Scope, Counter]:
    """Incidents by root-cause category for each baseline scope: every incident counts for the
    overall scope; one scoped to `template_id=<t>` or `channel=<c>` also for that template or
    channel (campaign-scoped incidents only count overall)."""
    counts: dict[Scope, Counter] = defaultdict(Counter)
    for incident in incidents:
        category = incident["root_cause_category"]
        counts[(ScopeType.OVERALL, ALL)][category] += 1
        dimension, _, value = incident["scope"].partition("=")
        scope_type = _SCOPE_TYPE_OF.get(dimension)
        if scope_type is not None and value:
            counts[(scope_type, value)][category] += 1
    return counts


def gate_failure_counts(failures: Iterable[Mapping[str, Any]]) -> dict[Scope, dict[str, int]]:
    """Rows (scope_type, scope, gate, n) as gate → count per scope."""
    counts: dict[Scope, dict[str, int]] = defaultdict(dict)
    for f in failures:
        counts[(f["scope_type"], f["scope"])][f["gate"]] = f["n"]
    return counts


def weekly_rows(
    week: date,
    stats: Iterable[Mapping[str, Any]],
    failures: Iterable[Mapping[str, Any]],
    incidents: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """`baselines.weekly`: each scope's statistics with its gate failures and its incidents of
    the 30 days before the end of the week, both as JSON objects keyed by gate / category."""
    by_gate, by_cause = gate_failure_counts(failures), incident_counts(incidents)
    return [
        dict(row)
        | {
            "week": week,
            "gate_failures": json.dumps(by_gate.get(scope, {}), sort_keys=True),
            "incidents_30d": json.dumps(dict(by_cause.get(scope, {})), sort_keys=True),
        }
        for row in stats
        for scope in [(row["scope_type"], row["scope"])]
    ]
