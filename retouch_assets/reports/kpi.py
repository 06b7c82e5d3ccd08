"""The KPI before/after table in the shape of the article's case studies: ΔE drift rate,
contrast failure rate, reprocess time P95 and incidents per month, first period against the
last, with the change in percent."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

DAYS_PER_MONTH = 30.4375  # incidents per month from a span counted in days


@dataclass(frozen=True)
class KpiRow:
    name: str
    before: str
    after: str
    change: str  # relative change, e.g. "−42 %", or "n/a"
    better: bool | None  # did it improve (all four KPIs are lower-is-better)


def periods(weeks: Sequence[date], size: int = 4) -> tuple[list[date], list[date]]:
    """The first and last `size` weeks of `weeks` (oldest first); with fewer than 2 × size
    weeks each period is half of them (at least one week, so one week compares with itself)."""
    if not weeks:
        return [], []
    k = max(1, min(size, len(weeks) // 2))
    return list(weeks[:k]), list(weeks[-k:])


def span_label(weeks: Sequence[date]) -> str:
    if not weeks:
        return "no data"
    last_day = weeks[-1] + timedelta(days=6)
    return f"{weeks[0]:%d %b} – {last_day:%d %b %Y}"


def _change(before: float | None, after: float | None) -> tuple[str, bool | None]:
    if before is None or after is None:
        return "n/a", None
    if before == 0:
        return ("0 %", None) if after == 0 else ("new", False)
    change = round((after - before) / before * 100)
    if change == 0:
        return "0 %", None
    return f"{change:+d} %".replace("-", "−"), after < before


def kpi_rows(before: dict, after: dict, days_before: int, days_after: int) -> list[KpiRow]:
    """The four KPIs from two `reports.queries.kpis` results over spans of the given days."""

    def rate(v):
        return None if v is None else v * 100

    def per_month(v, days):
        return None if v is None or days <= 0 else v * DAYS_PER_MONTH / days

    specs = [
        (
            "ΔE drift rate",
            rate(before["delta_e_drift_rate"]),
            rate(after["delta_e_drift_rate"]),
            "{:.1f} %",
        ),
        (
            "Contrast failure rate",
            rate(before["contrast_failure_rate"]),
            rate(after["contrast_failure_rate"]),
            "{:.1f} %",
        ),
        ("Reprocess time P95", before["reprocess_p95_s"], after["reprocess_p95_s"], "{:.1f} s"),
        (
            "Incidents per month",
            per_month(before["incidents"], days_before),
            per_month(after["incidents"], days_after),
            "{:.1f}",
        ),
    ]
    rows = []
    for name, b, a, fmt in specs:
        change, better = _change(b, a)
        rows.append(
            KpiRow(
                name,
                "n/a" if b is None else fmt.format(b),
                "n/a" if a is None else fmt.format(a),
                change,
                better,
            )
        )
    return rows
