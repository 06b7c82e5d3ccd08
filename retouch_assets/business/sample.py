"""Sample business inputs whose story matches the landing sample's (`retouch_assets.sample`).

Same weeks, campaigns, templates and channels. Daily KPIs per campaign and channel with
realistic volumes and rates; real-user LCP beacons (a few thousand a week) per channel,
template and campaign, stamped in the visitors' time zones. The story:

- the new model version goes live in the landing sample's middle week (the rollout burst):
  that week, conversion on the `social` channel drops by about a third and support tickets
  rise, and it partly recovers the week after;
- `tpl-launch-banner` is a heavy template: its pages' LCP is about 1.7 × the others', poor on
  mobile-heavy channels;
- a few rows of every kind the input contract refuses are appended to both files, including
  a beacon stamped Monday 01:30 at +02:00 (valid: it belongs to the previous week).

Deterministic: the same seed gives the same bytes.
"""

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np

from retouch_assets.business.inputs import KPI_COLUMNS, KPI_FILE, RUM_COLUMNS
from retouch_assets.sample import CHANNELS, DEFAULT_START_WEEK, TEMPLATES

RUM_FILE = "rum_lcp.csv"
REGRESSION_CHANNEL = "social"
HEAVY_TEMPLATE = "tpl-launch-banner"

# Per channel: daily impressions per campaign, CTR, CVR, median LCP (ms) of a light page.
_CHANNEL_PROFILE = {
    "web": (18_000, 0.021, 0.034, 1_900.0),
    "social": (42_000, 0.012, 0.021, 2_300.0),
    "email": (6_500, 0.045, 0.052, 1_600.0),
    "display": (65_000, 0.004, 0.011, 2_500.0),
}
# Per campaign: size multiplier and average order value (EUR).
_CAMPAIGN_PROFILE = {
    "cmp-autumn-roast": (1.0, 18.5),
    "cmp-launch-week": (1.6, 64.0),
    "cmp-pet-care": (0.8, 32.0),
    "cmp-ride-season": (0.6, 145.0),
}
_HEAVY_FACTOR = 1.7
_OFFSETS = [
    UTC,
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=1)),
    timezone(-timedelta(hours=5)),
]


@dataclass
class BusinessSampleSummary:
    root: Path
    kpi_rows: int = 0
    beacons: int = 0
    invalid_rows: dict[str, int] = field(default_factory=dict)


def generate_business_sample(
    out: Path,
    weeks: int = 4,
    seed: int = 7,
    start_week: date = DEFAULT_START_WEEK,
    beacons_per_week: int = 2_400,
    invalid_rows: bool = True,
) -> BusinessSampleSummary:
    """Write `kpi_daily.csv` and `rum_lcp.csv` for `weeks` weeks under `out` (with a few rows
    of each kind the contract refuses unless `invalid_rows` is false)."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    if start_week.weekday() != 0:
        raise ValueError(f"start_week {start_week} is not a Monday")
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    summary = BusinessSampleSummary(root=out)
    regression_week = max(1, weeks // 2) if weeks > 1 else -1  # as the landing sample's burst

    kpi_lines = [_csv_line(KPI_COLUMNS)]
    for day_index in range(weeks * 7):
        day = start_week + timedelta(days=day_index)
        week_index = day_index // 7
        for campaign, (size, order_value) in _CAMPAIGN_PROFILE.items():
            for channel in CHANNELS:
                kpi_lines.append(
                    _csv_line(
                        _kpi_row(
                            rng,
                            day,
                            campaign,
                            channel,
                            size,
                            order_value,
                            week_index,
                            regression_week,
                        )
                    )
                )
                summary.kpi_rows += 1

    rum_lines = [_csv_line(RUM_COLUMNS)]
    for week_index in range(weeks):
        monday = datetime.combine(
            start_week + timedelta(weeks=week_index), datetime.min.time(), UTC
        )
        for _ in range(beacons_per_week):
            rum_lines.append(_csv_line(_beacon(rng, monday)))
            summary.beacons += 1
    if weeks > 1:
        # Monday 01:30 in Berlin summer time is Sunday 23:30 UTC: the first week's last beacon.
        boundary = datetime.combine(start_week + timedelta(weeks=1), datetime.min.time())
        stamp = boundary.replace(hour=1, minute=30, tzinfo=timezone(timedelta(hours=2)))
        rum_lines.append(
            _csv_line(
                [
                    stamp.isoformat(),
                    "web",
                    "tpl-coffee-hero",
                    "cmp-autumn-roast",
                    "/c/cmp-autumn-roast",
                    "2210.4",
                ]
            )
        )
        summary.beacons += 1

    first = start_week.isoformat()
    bad_kpi = {
        "negative_count": [first, "cmp-pet-care", "web", "-120", "10", "1", "20.00", "0"],
        "clicks_exceed_impressions": [
            first,
            "cmp-pet-care",
            "print",
            "100",
            "140",
            "2",
            "40.00",
            "0",
        ],
        "conversions_exceed_clicks": [
            first,
            "cmp-ride-season",
            "print",
            "900",
            "12",
            "15",
            "2175.00",
            "1",
        ],
        "duplicate_key": _first_data_row(kpi_lines),
        "bad_date": ["2026-02-30", "cmp-pet-care", "web", "1000", "20", "1", "32.00", "0"],
        "not_a_number": [first, "cmp-autumn-roast", "print", "1,200", "12", "1", "18.50", "0"],
        "unknown_channel": [first, "cmp-autumn-roast", "tv", "5000", "50", "2", "37.00", "0"],
    }
    for reason, row in bad_kpi.items() if invalid_rows else ():
        kpi_lines.append(_csv_line(row))
        summary.invalid_rows[f"{KPI_FILE}:{reason}"] = 1
    stamp = f"{first}T12:00:00+02:00"
    bad_rum = {
        "bad_timestamp": [
            f"{first} 12:00:00",
            "web",
            "tpl-pet-care",
            "cmp-pet-care",
            "/c/cmp-pet-care",
            "1800",
        ],
        "bad_lcp": [stamp, "web", "tpl-pet-care", "cmp-pet-care", "/c/cmp-pet-care", "-40"],
        "not_a_number": [
            stamp,
            "social",
            "tpl-moto-promo",
            "cmp-ride-season",
            "/c/cmp-ride-season",
            "NaN",
        ],
        "missing_value": [stamp, "email", "", "cmp-ride-season", "/c/cmp-ride-season", "1500"],
    }
    for reason, row in bad_rum.items() if invalid_rows else ():
        rum_lines.append(_csv_line(row))
        summary.invalid_rows[f"{RUM_FILE}:{reason}"] = 1

    (out / KPI_FILE).write_text("".join(kpi_lines), encoding="utf-8")
    (out / RUM_FILE).write_text("".join(rum_lines), encoding="utf-8")
    return summary


def _kpi_row(
    rng: np.random.Generator,
    day: date,
    campaign: str,
    channel: str,
    size: float,
    order_value: float,
    week_index: int,
    regression_week: int,
) -> list[str]:
    base_impressions, ctr, cvr, _ = _CHANNEL_PROFILE[channel]
    weekend = 0.8 if day.weekday() >= 5 else 1.0
    impressions = int(rng.poisson(base_impressions * size * weekend * rng.uniform(0.85, 1.15)))
    clicks = int(rng.binomial(impressions, ctr * rng.uniform(0.9, 1.1)))
    ticket_rate = 0.03
    if channel == REGRESSION_CHANNEL and week_index == regression_week:
        cvr, ticket_rate = cvr * 0.55, 0.09  # the casts of the new model cost trust
    elif channel == REGRESSION_CHANNEL and week_index == regression_week + 1:
        cvr, ticket_rate = cvr * 0.85, 0.05  # rolled back mid-week: partly recovered
    conversions = int(rng.binomial(clicks, cvr * rng.uniform(0.9, 1.1)))
    revenue = sum(rng.gamma(4.0, order_value / 4.0, conversions)) if conversions else 0.0
    tickets = int(rng.poisson(conversions * ticket_rate + 0.2))
    return [
        day.isoformat(),
        campaign,
        channel,
        str(impressions),
        str(clicks),
        str(conversions),
        str(Decimal(str(round(float(revenue), 2))).quantize(Decimal("0.01"))),
        str(tickets),
    ]


def _beacon(rng: np.random.Generator, monday: datetime) -> list[str]:
    spec = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    channel = CHANNELS[int(rng.integers(len(CHANNELS)))]
    median = _CHANNEL_PROFILE[channel][3] * (
        _HEAVY_FACTOR if spec.template_id == HEAVY_TEMPLATE else 1.0
    )
    lcp = float(np.clip(rng.lognormal(np.log(median), 0.45), 250.0, 60_000.0))
    moment = monday + timedelta(seconds=float(rng.uniform(0, 7 * 86_400 - 1)))
    offset = _OFFSETS[int(rng.integers(len(_OFFSETS)))]
    stamp = moment.astimezone(offset).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    outside_campaign = rng.random() < 0.08  # the template on a page of no campaign
    campaign = "" if outside_campaign else spec.campaign_id
    page = f"/p/{spec.template_id}" if outside_campaign else f"/c/{spec.campaign_id}"
    return [stamp, channel, spec.template_id, campaign, page, f"{lcp:.1f}"]


def _csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _first_data_row(lines: list[str]) -> list[str]:
    return next(csv.reader([lines[1]]))
