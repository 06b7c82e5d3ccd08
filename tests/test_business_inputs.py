"""Business inputs: strict reading of kpi_daily.csv and rum_lcp.csv / .parquet, every row in
exactly one of accepted or quarantine, weeks in UTC, and the duplicate policy."""

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from retouch_assets.business.inputs import (
    KPI_COLUMNS,
    RUM_COLUMNS,
    BusinessReason,
    WeekRange,
    read_business_inputs,
)
from retouch_assets.business.sample import generate_business_sample

CHANNELS = ("web", "social", "email", "display", "print")
WEEKS = WeekRange(date(2025, 1, 6), date(2026, 11, 16))
KPI_HEADER = ",".join(KPI_COLUMNS)
RUM_HEADER = ",".join(RUM_COLUMNS)


def _write(folder: Path, kpi: list[str] | None = None, rum: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if kpi is not None:
        (folder / "kpi_daily.csv").write_text("\n".join([KPI_HEADER, *kpi]) + "\n")
    if rum is not None:
        (folder / "rum_lcp.csv").write_text("\n".join([RUM_HEADER, *rum]) + "\n")
    return folder


def _reasons(inputs) -> dict[tuple[str, int], str]:
    return {
        (r["source_file"], r["line_no"]): r["reason_code"]
        for r in inputs.quarantine.iter_rows(named=True)
    }


# One row per kind of bad KPI row, each with the reason it must get (line = index + 2).
BAD_KPI = [
    ("2026-10-05,cmp-a,web,1000,50,5,250.50,1", None),
    ("2026-10-05,cmp-a,web,1000,50,5,250.50,1", BusinessReason.DUPLICATE_KEY),
    ("2026-10-05,cmp-a,web,900,50,5,250.50,1", BusinessReason.DUPLICATE_KEY),
    ("2026-10-06,cmp-a,web,1000,40,4,200", BusinessReason.UNREADABLE),
    ("2026-02-30,cmp-a,web,1000,40,4,200,0", BusinessReason.BAD_DATE),
    ("06.10.2026,cmp-a,web,1000,40,4,200,0", BusinessReason.BAD_DATE),
    ("2026-10-06,cmp-a,web,-1,0,0,0,0", BusinessReason.NEGATIVE_COUNT),
    ("2026-10-06,cmp-a,social,10,40,4,200,0", BusinessReason.CLICKS_EXCEED_IMPRESSIONS),
    ("2026-10-06,cmp-a,email,100,40,41,200,0", BusinessReason.CONVERSIONS_EXCEED_CLICKS),
    ("2026-10-06,,display,100,40,4,200,0", BusinessReason.MISSING_VALUE),
    ("2026-10-06,cmp-a,fax,100,40,4,200,0", BusinessReason.UNKNOWN_CHANNEL),
    ("2026-10-07,cmp-a,web,100,4x0,4,200,0", BusinessReason.NOT_A_NUMBER),
    ("2026-10-07,cmp-a,social,100,40,4,2.00001,0", BusinessReason.NOT_A_NUMBER),
    ("2024-10-09,cmp-a,web,100,40,4,200,0", BusinessReason.OUT_OF_PARTITIONS),
    ("2027-10-09,cmp-a,web,100,40,4,200,0", BusinessReason.OUT_OF_PARTITIONS),
    ("2026-10-08,cmp-b,web,100,40,4,-35.10,0", None),  # a day of refunds: allowed
]
BAD_RUM = [
    ("2026-10-12T01:30:00+02:00,web,tpl-a,cmp-a,/p,2100.5", None),
    ("2026-10-12T01:30:00Z,web,tpl-a,,/p,2100", None),
    ("2026-10-12T01:30:00,web,tpl-a,cmp-a,/p,2100", BusinessReason.BAD_TIMESTAMP),
    ("2026-10-12 01:30:00+02:00,web,tpl-a,cmp-a,/p,2100", BusinessReason.BAD_TIMESTAMP),
    ("2026-13-12T01:30:00+02:00,web,tpl-a,cmp-a,/p,1", BusinessReason.BAD_TIMESTAMP),
    ("2026-10-12T01:30:00+02:00,web,tpl-a,cmp-a,/p,-5", BusinessReason.BAD_LCP),
    ("2026-10-12T01:30:00+02:00,web,tpl-a,cmp-a,/p,abc", BusinessReason.NOT_A_NUMBER),
    ("2026-10-12T01:30:00+02:00,web,,cmp-a,/p,1200", BusinessReason.MISSING_VALUE),
    ("2026-10-12T01:30:00+02:00,tv,tpl-a,cmp-a,/p,1200", BusinessReason.UNKNOWN_CHANNEL),
    ("2030-10-12T01:30:00+02:00,web,tpl-a,cmp-a,/p,1200", BusinessReason.OUT_OF_PARTITIONS),
]


def test_every_bad_row_kind_is_quarantined_with_its_reason(tmp_path):
    folder = _write(tmp_path, [r for r, _ in BAD_KPI], [r for r, _ in BAD_RUM])
    inputs = read_business_inputs(folder, CHANNELS, WEEKS)
    reasons = _reasons(inputs)
    for name, rows in (("kpi_daily.csv", BAD_KPI), ("rum_lcp.csv", BAD_RUM)):
        for index, (_, expected) in enumerate(rows):
            assert reasons.get((name, index + 2)) == expected, (name, index + 2)
    # Every data row is in exactly one of accepted or quarantine.
    assert inputs.kpi.height + inputs.rum.height + inputs.quarantine.height == len(BAD_KPI) + len(
        BAD_RUM
    )
    assert inputs.rows_read == {"kpi_daily.csv": len(BAD_KPI), "rum_lcp.csv": len(BAD_RUM)}
    # The raw text is kept as written.
    raw = inputs.quarantine.filter(pl.col("line_no") == 6)["raw"].to_list()
    assert BAD_KPI[4][0] in raw


def test_duplicates_keep_the_first_row_and_say_whether_figures_differ(tmp_path):
    folder = _write(tmp_path, [r for r, _ in BAD_KPI[:3]])
    inputs = read_business_inputs(folder, CHANNELS, WEEKS)
    assert inputs.kpi["line_no"].to_list() == [2]
    reasons = dict(inputs.quarantine.select("line_no", "reason").iter_rows())
    assert "first seen on line 2 (same figures)" in reasons[3]
    assert "first seen on line 2 (different figures)" in reasons[4]


def test_rows_without_a_usable_date_have_no_week_and_others_keep_theirs(tmp_path):
    folder = _write(tmp_path, [r for r, _ in BAD_KPI])
    weeks = {
        r["line_no"]: r["week"]
        for r in read_business_inputs(folder, CHANNELS, WEEKS).quarantine.iter_rows(named=True)
    }
    assert weeks[6] is None and weeks[7] is None  # impossible and unreadable dates
    assert weeks[15] is None and weeks[16] is None  # outside the partitions
    assert weeks[5] is None  # a ragged line cannot be dated
    assert weeks[8] == date(2026, 10, 5)  # negative count: the row has a week


def test_a_monday_beacon_at_plus_two_belongs_to_the_previous_week(tmp_path):
    folder = _write(tmp_path, rum=[r for r, _ in BAD_RUM[:2]])
    rum = read_business_inputs(folder, CHANNELS, WEEKS).rum.sort("line_no")
    assert rum["week"].to_list() == [date(2026, 10, 5), date(2026, 10, 12)]
    assert rum["ts"][0] == datetime(2026, 10, 11, 23, 30, tzinfo=UTC)
    assert rum["campaign_id"].to_list() == ["cmp-a", None]  # empty campaign: NULL


def test_a_bad_header_quarantines_every_row_of_the_file(tmp_path):
    tmp_path.joinpath("kpi_daily.csv").write_text(
        "date,campaign,channel,impressions,clicks,conversions,revenue,support_tickets\n"
        "2026-10-05,cmp-a,web,1,1,1,1,0\n2026-10-06,cmp-a,web,1,1,1,1,0\n"
    )
    inputs = read_business_inputs(tmp_path, CHANNELS, WEEKS)
    assert inputs.kpi.height == 0
    assert inputs.quarantine["reason_code"].to_list() == [BusinessReason.BAD_HEADER] * 2
    assert "missing campaign_id" in inputs.quarantine["reason"][0]


def test_columns_in_any_order_extra_ignored_bom_and_crlf_accepted(tmp_path):
    text = (
        "\ufeffchannel,date,campaign_id,impressions,clicks,conversions,revenue,"
        "support_tickets,country\r\nweb,2026-10-05,cmp-a,10,5,1,9.99,0,DE\r\n"
    )
    tmp_path.joinpath("kpi_daily.csv").write_text(text, encoding="utf-8")
    inputs = read_business_inputs(tmp_path, CHANNELS, WEEKS)
    assert inputs.kpi.height == 1 and inputs.quarantine.height == 0
    assert inputs.notes == ["kpi_daily.csv: ignored columns country"]
    assert str(inputs.kpi["revenue"][0]) == "9.9900"


def test_parquet_beacons_with_zoned_and_naive_timestamps(tmp_path):
    frame = pl.DataFrame(
        {
            "ts": [datetime(2026, 10, 11, 23, 30), datetime(2026, 10, 12, 8, 0)],
            "channel": ["web", "web"],
            "template_id": ["tpl-a", "tpl-a"],
            "campaign_id": ["cmp-a", None],
            "page": ["/p", "/p"],
            "lcp_ms": [1800.5, 2500.0],
        }
    )
    zoned = frame.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    zoned.write_parquet(tmp_path / "rum_lcp.parquet")
    inputs = read_business_inputs(tmp_path, CHANNELS, WEEKS)
    assert inputs.rum["week"].to_list() == [date(2026, 10, 5), date(2026, 10, 12)]
    assert inputs.rum["line_no"].to_list() == [1, 2]
    frame.write_parquet(tmp_path / "rum_lcp.parquet")  # no time zone: refused, row by row
    inputs = read_business_inputs(tmp_path, CHANNELS, WEEKS)
    assert inputs.rum.height == 0
    assert inputs.quarantine["reason_code"].to_list() == [BusinessReason.BAD_TIMESTAMP] * 2
    assert '"lcp_ms": 1800.5' in inputs.quarantine["raw"][0]


def test_a_missing_folder_or_file_is_reported_not_raised(tmp_path):
    inputs = read_business_inputs(tmp_path / "nowhere", CHANNELS, WEEKS)
    assert inputs.kpi.height == inputs.rum.height == inputs.quarantine.height == 0
    assert inputs.missing == [f"business folder {tmp_path / 'nowhere'} does not exist"]
    _write(tmp_path / "half", kpi=[])
    missing = read_business_inputs(tmp_path / "half", CHANNELS, WEEKS).missing
    assert missing == [f"rum_lcp.csv or rum_lcp.parquet not found in {tmp_path / 'half'}"]


def test_for_week_keeps_the_week_and_the_rows_without_one(tmp_path):
    folder = _write(tmp_path, [r for r, _ in BAD_KPI])
    inputs = read_business_inputs(folder, CHANNELS, WEEKS).for_week(date(2026, 10, 5))
    weeks = set(inputs.quarantine["week"].to_list())
    assert weeks == {date(2026, 10, 5), None}


@pytest.mark.parametrize("seed", [7])
def test_the_sample_is_deterministic_and_tells_its_story(tmp_path, seed):
    a = generate_business_sample(tmp_path / "a", seed=seed)
    generate_business_sample(tmp_path / "b", seed=seed)
    for name in ("kpi_daily.csv", "rum_lcp.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    inputs = read_business_inputs(tmp_path / "a", CHANNELS, WEEKS)
    assert inputs.kpi.height == a.kpi_rows == 4 * 7 * 4 * 4
    assert inputs.rum.height == a.beacons
    assert inputs.quarantine.height == sum(a.invalid_rows.values())
    # The regression week (the third) costs social conversions; other channels hold.
    weekly = (
        inputs.kpi.group_by("week", "channel")
        .agg(pl.col("conversions").sum() / pl.col("clicks").sum())
        .pivot("channel", index="week", values="conversions")
        .sort("week")
    )
    social = weekly["social"].to_list()
    assert social[2] < 0.7 * social[1]
    assert weekly["web"][2] > 0.85 * weekly["web"][1]
    # The heavy template is slower than the others on every channel.
    p75 = inputs.rum.group_by("template_id").agg(pl.col("lcp_ms").quantile(0.75))
    slowest = p75.sort("lcp_ms", descending=True)["template_id"][0]
    assert slowest == "tpl-launch-banner"
