"""Regression guardrail: a model or prompt version that is new in a week is compared with the
previous weeks' baseline before it counts as safe."""

from dataclasses import dataclass

from retouch_assets.config import Guardrail


@dataclass(frozen=True)
class VersionStats:
    kind: str  # model_version | prompt_version
    version: str
    template_id: str | None  # prompt versions belong to a template: compared with its baseline
    artifacts: int
    delta_e_mean: float | None


@dataclass(frozen=True)
class Baseline:
    delta_e_mean: float | None
    artifacts: int


def weighted_baseline(weeks: list[tuple[float | None, int]]) -> Baseline:
    """Combine weekly (mean, artifacts) rows into the mean over all their artifacts."""
    usable = [(mean, n) for mean, n in weeks if mean is not None and n > 0]
    total = sum(n for _, n in usable)
    if total == 0:
        return Baseline(None, 0)
    return Baseline(sum(mean * n for mean, n in usable) / total, total)


def judge(stats: VersionStats, baseline: Baseline, rule: Guardrail) -> dict:
    """One guardrail row: worse by more than `max_worse_pct` (ΔE mean) means regressed; too few
    artifacts or no baseline means not judged yet (never regressed by default)."""
    row = {
        "kind": stats.kind,
        "version": stats.version,
        "template_id": stats.template_id,
        "artifacts": stats.artifacts,
        "delta_e_mean": stats.delta_e_mean,
        "baseline_delta_e_mean": baseline.delta_e_mean,
        "baseline_artifacts": baseline.artifacts,
        "worse_by_pct": None,
        "regressed": False,
        "note": None,
    }
    if baseline.delta_e_mean is None or baseline.artifacts == 0:
        row["note"] = "no baseline yet"
    elif stats.delta_e_mean is None:
        row["note"] = "no measured artifacts"
    else:
        worse = (
            (stats.delta_e_mean - baseline.delta_e_mean) / max(baseline.delta_e_mean, 1e-9) * 100
        )
        row["worse_by_pct"] = worse
        if stats.artifacts < rule.min_artifacts:
            row["note"] = (
                f"only {stats.artifacts} artifacts (< {rule.min_artifacts}): not judged yet"
            )
        else:
            row["regressed"] = worse > rule.max_worse_pct
            row["note"] = f"ΔE mean {worse:+.1f} % vs the previous {rule.baseline_weeks} weeks" + (
                f" (limit +{rule.max_worse_pct:g} %)" if row["regressed"] else ""
            )
    return row
