"""The week's SLO state in the OpenMetrics text format, for monitoring stacks that already
exist: a file a Prometheus node-exporter textfile collector (or any OpenMetrics scraper of a
static file) picks up.

Gauges per SLO and scope: the SLI, the objective, the share of the error budget consumed and
remaining, the good and total events, whether the scope is low-traffic, and the burn rate of
every alert window (long and short) with the factor it is compared against. Label values come
from the configuration and the data (SLO names, campaign ids): they are escaped as the format
requires, never trusted.
"""

import json
import math
from collections.abc import Iterable, Mapping

PREFIX = "retouch_slo"

_GAUGES = {
    "sli": "Share of good events over the SLO's window (NaN without events).",
    "objective": "The SLO's objective.",
    "error_budget_consumed_ratio": "Share of the error budget consumed (1 = exhausted).",
    "error_budget_remaining_ratio": "Share of the error budget left (negative once overspent).",
    "events_good": "Good events over the SLO's window.",
    "events_total": "Events over the SLO's window.",
    "low_traffic": "1 when the scope has too few events to page or enforce.",
    "burn_rate": "Error-budget burn rate over an alert window (1 = on budget).",
    "burn_rate_threshold": "The burn-rate factor an alert window fires above.",
}


def _escape(value: object) -> str:
    """A label value as OpenMetrics writes it: backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float | int | bool | None) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return repr(number)


def _labels(labels: Mapping[str, object]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def openmetrics_text(budgets: Iterable[Mapping]) -> str:
    """The exposition: one family per gauge, every SLO × scope a sample of each, `# EOF` last.
    `budgets` are `slo.error_budget` rows (with `burn_rates` as JSON text or a list)."""
    samples: dict[str, list[str]] = {name: [] for name in _GAUGES}
    for b in budgets:
        base = {"slo": b["slo"], "scope": b["scope"]}
        consumed = b["budget_consumed"]
        values = {
            "sli": b["sli"],
            "objective": b["objective"],
            "error_budget_consumed_ratio": consumed,
            "error_budget_remaining_ratio": None if consumed is None else 1.0 - consumed,
            "events_good": b["good"],
            "events_total": b["total"],
            "low_traffic": b["low_traffic"],
        }
        for name, value in values.items():
            samples[name].append(f"{PREFIX}_{name}{_labels(base)} {_number(value)}")
        windows = b["burn_rates"]
        for w in json.loads(windows) if isinstance(windows, str) else windows:
            for span, rate in (("long", w["burn_long"]), ("short", w["burn_short"])):
                window = w[f"{span}_window"]
                labels = base | {"severity": w["severity"], "window": window, "span": span}
                samples["burn_rate"].append(f"{PREFIX}_burn_rate{_labels(labels)} {_number(rate)}")
            labels = base | {"severity": w["severity"], "window": w["long_window"]}
            samples["burn_rate_threshold"].append(
                f"{PREFIX}_burn_rate_threshold{_labels(labels)} {_number(w['factor'])}"
            )
    lines: list[str] = []  # OpenMetrics allows no free comments: HELP says what each is
    for name, help_text in _GAUGES.items():
        lines += [f"# TYPE {PREFIX}_{name} gauge", f"# HELP {PREFIX}_{name} {help_text}"]
        lines += samples[name]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
