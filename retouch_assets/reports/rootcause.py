"""The root-cause explorer: which prompt version, model version, template, reviewer or
channel burned the error budgets this week, and how each moved since last week.

An artifact attempt is a failure when it is a bad event of at least one SLO. A group's
contribution to budget burn is, summed over SLOs, its bad events divided by the SLO's allowed
bad events of the week ((1 − objective) × the week's eligible events): 1.0 is one week's worth
of budget. Ranking by it puts first what cost the most budget, not what failed most often.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from retouch_assets.config import ExclusionWindow, Slo
from retouch_assets.slo.engine import counted_events

DIMENSIONS = (
    ("prompt_version", "prompt version"),
    ("model_version", "model version"),
    ("template_id", "template"),
    ("reviewer", "reviewer"),
    ("channel", "channel"),
)
NOT_REVIEWED = "(not reviewed)"


@dataclass(frozen=True)
class Driver:
    dimension: str  # the label, e.g. "prompt version"
    value: str
    artifacts: int
    failures: int
    failure_rate: float
    previous_rate: float | None  # last week's failure rate of the same value
    burn: float  # contribution to budget burn, in weeks' worth of budget

    @property
    def move(self) -> float | None:
        """Week-over-week change of the failure rate, in percentage points."""
        if self.previous_rate is None:
            return None
        return (self.failure_rate - self.previous_rate) * 100


def _marks(
    facts: pl.DataFrame, slos: list[Slo], exclusions: Sequence[ExclusionWindow]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(any SLO counted, bad for any SLO, burn weights) per row; a row's weight is the sum
    over the SLOs it failed of 1 / that SLO's allowed bad events in the frame. Events an
    exclusion window leaves out count for nothing (as in the SLO engine)."""
    n = len(facts)
    eligible_any, bad_any, weight = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n)
    for slo in slos:
        eligible, good = counted_events(facts, slo, exclusions)
        bad = eligible & ~good
        allowed = (1 - slo.objective) * int(eligible.sum())
        eligible_any |= eligible
        bad_any |= bad
        if allowed > 0:
            weight += bad / allowed
    return eligible_any, bad_any, weight


def drivers(
    facts: pl.DataFrame,
    slos: list[Slo],
    week_start: datetime,
    exclusions: Sequence[ExclusionWindow] = (),
    per_dimension: int = 5,
) -> list[Driver]:
    """The top groups per dimension for the week starting at `week_start`, ranked by burn
    (then failures); `facts` holds that week and the one before it, with the dimensions.
    Events inside the config's exclusion windows (planned maintenance) are left out."""
    facts = facts.with_columns(pl.col("reviewer").fill_null(NOT_REVIEWED))
    this = facts.filter(pl.col("generated_at") >= week_start)
    last = facts.filter(pl.col("generated_at") < week_start)
    out: list[Driver] = []
    frames = {}
    for name, frame in (("this", this), ("last", last)):
        eligible, bad, weight = _marks(frame, slos, exclusions)
        frames[name] = frame.select([c for c, _ in DIMENSIONS]).with_columns(
            eligible=pl.Series(eligible), bad=pl.Series(bad), weight=pl.Series(weight)
        )
    for column, label in DIMENSIONS:
        now = _grouped(frames["this"], column)
        before = {r[column]: r for r in _grouped(frames["last"], column).to_dicts()}
        ranked = sorted(now.to_dicts(), key=lambda r: (-r["burn"], -r["failures"], r[column]))
        for r in ranked[:per_dimension]:
            prev = before.get(r[column])
            out.append(
                Driver(
                    label,
                    str(r[column]),
                    r["artifacts"],
                    r["failures"],
                    r["failures"] / r["artifacts"] if r["artifacts"] else 0.0,
                    prev["failures"] / prev["artifacts"] if prev and prev["artifacts"] else None,
                    r["burn"],
                )
            )
    return out


def _grouped(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    return (
        frame.filter(pl.col("eligible"))
        .group_by(column)
        .agg(
            artifacts=pl.len(),
            failures=pl.col("bad").sum(),
            burn=pl.col("weight").sum(),
        )
    )


def top_drivers(found: list[Driver], limit: int = 10) -> list[Driver]:
    """The biggest contributors across every dimension (only those that burned budget)."""
    burning = [d for d in found if d.burn > 0]
    return sorted(burning, key=lambda d: (-d.burn, -d.failures, d.dimension, d.value))[:limit]
