"""Hostile and messy business exports: CSV dialects, encodings, number and date forms, Parquet
types, and the overlay and cost meter on data unlike the sample. Every file read here must put
each of its rows in exactly one of accepted or quarantine."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from retouch_assets.business.cost import attempt_costs
from retouch_assets.business.inputs import (
    KPI_COLUMNS,
    RUM_COLUMNS,
    BusinessInputs,
    BusinessReason,
    WeekRange,
    read_business_inputs,
)
from retouch_assets.business.overlay import drift_outcome_rows
from retouch_assets.business.queries import (
    overlay_rows,
    quarantine_slice,
    replace_slices,
    week_slice,
)
from retouch_assets.business.tables import KPI_DAILY, QUARANTINE, RUM_LCP
from retouch_assets.config import Cost
from retouch_assets.ingest.tables import GENERATIONS
from retouch_assets.migrations import migrate
from retouch_assets.warehouse import connect, fetch_dicts, insert

R = BusinessReason
CHANNELS = ("web", "social", "email", "display", "print")
WEEKS = WeekRange(date(2025, 1, 6), date(2026, 11, 16))
WEEK = date(2026, 10, 5)
KPI_HEADER = ",".join(KPI_COLUMNS)
RUM_HEADER = ",".join(RUM_COLUMNS)
ROW = "2026-10-05,cmp-a,web,1000,50,5,250.50,1"


def _read(folder: Path, kpi: bytes | None = None, rum: bytes | None = None) -> BusinessInputs:
    folder.mkdir(parents=True, exist_ok=True)
    if kpi is not None:
        (folder / "kpi_daily.csv").write_bytes(kpi)
    if rum is not None:
        (folder / "rum_lcp.csv").write_bytes(rum)
    inputs = read_business_inputs(folder, CHANNELS, WEEKS)
    _assert_every_row_once(inputs)
    return inputs


def _assert_every_row_once(inputs: BusinessInputs) -> None:
    """Accepted + quarantined = rows read, and no (file, line) is in two places."""
    keys = [
        (r["source_file"], r["line_no"])
        for frame in (inputs.kpi, inputs.rum, inputs.quarantine)
        for r in frame.select("source_file", "line_no").iter_rows(named=True)
    ]
    assert len(keys) == len(set(keys)), "a row is in two places"
    assert len(keys) == sum(inputs.rows_read.values())


def _kpi(*rows: str, header: str = KPI_HEADER, end: str = "\n") -> bytes:
    return (end.join([header, *rows]) + end).encode()


def _rum(*rows: str) -> bytes:
    return ("\n".join([RUM_HEADER, *rows]) + "\n").encode()


def _reasons(inputs: BusinessInputs) -> dict[int, str]:
    return dict(inputs.quarantine.select("line_no", "reason_code").iter_rows())


# --- CSV dialects ---------------------------------------------------------------------------


def test_rfc4180_quoting_keeps_commas_quotes_and_line_breaks_in_one_row(tmp_path):
    inputs = _read(
        tmp_path,
        _kpi(
            '2026-10-05,"cmp,a",web,1,1,1,1,0',
            '2026-10-05,"cmp\r\nb",social,1,1,1,1,0',  # one row over lines 3 and 4
            '2026-10-05,"cmp ""c""",email,1,1,1,1,0',
            end="\r\n",
        ),
    )
    assert inputs.quarantine.height == 0
    assert inputs.kpi["campaign_id"].to_list() == ["cmp,a", "cmp\r\nb", 'cmp "c"']
    assert inputs.kpi["line_no"].to_list() == [2, 3, 5]


def test_a_stray_quote_costs_its_own_row_not_the_rest_of_the_file(tmp_path):
    inputs = _read(tmp_path, _kpi('2026-10-05,"cmp-a,web,1,1,1,1,0', ROW.replace("05", "06", 1)))
    assert _reasons(inputs) == {2: R.UNREADABLE}
    assert inputs.kpi["line_no"].to_list() == [3]


@pytest.mark.parametrize("end", ["\r\n", "\r"])  # Windows and classic-Mac exports
def test_bom_crlf_lone_cr_and_trailing_blank_lines(tmp_path, end):
    data = b"\xef\xbb\xbf" + _kpi(ROW, "", "   ", end=end) + end.encode() * 2
    inputs = _read(tmp_path, data)
    assert inputs.kpi.height == 1 and inputs.quarantine.height == 0
    assert inputs.rows_read == {"kpi_daily.csv": 1}


def test_empty_file_header_only_and_utf16_excel_export(tmp_path):
    assert _read(tmp_path / "a", b"").rows_read == {"kpi_daily.csv": 0}
    assert _read(tmp_path / "b", KPI_HEADER.encode()).kpi.height == 0
    utf16 = _read(tmp_path / "c", f"{KPI_HEADER}\r\n{ROW}\r\n".encode("utf-16"))
    assert utf16.kpi.height == 1 and utf16.quarantine.height == 0


def test_latin1_and_nul_bytes_cost_their_row_with_the_byte_named(tmp_path):
    data = _kpi(ROW) + b"2026-10-06,Caf\xe9,web,1,1,1,1,0\n2026-10-07,c\x00,web,1,1,1,1,0\n"
    inputs = _read(tmp_path, data)
    assert _reasons(inputs) == {3: R.UNREADABLE, 4: R.UNREADABLE}
    reasons = inputs.quarantine["reason"].to_list()
    assert "byte 0xe9" in reasons[0] and "UTF-8" in reasons[0] and "NUL" in reasons[1]
    assert "Caf\ufffd" in inputs.quarantine["raw"][0]  # the raw text, as far as it reads


# --- headers --------------------------------------------------------------------------------


def test_a_missing_column_names_file_column_and_fix_and_loses_no_row(tmp_path):
    header = KPI_HEADER.replace("date", "Date").replace(",support_tickets", ",tickets")
    inputs = _read(tmp_path, _kpi("2026-10-05,c,web,1,1,1,1,0", ROW, header=header))
    assert inputs.kpi.height == 0
    assert inputs.quarantine["reason_code"].to_list() == [R.BAD_HEADER] * 2
    reason = inputs.quarantine["reason"][0]
    assert reason.startswith("kpi_daily.csv header missing date, support_tickets")
    assert "found 'Date': rename it date" in reason


def test_columns_in_another_order_padded_names_and_unknown_columns(tmp_path):
    header = " channel ,date,campaign_id,impressions,clicks,conversions,revenue,support_tickets,x"
    inputs = _read(tmp_path, _kpi("web,2026-10-05,c,1,1,1,1,0,y", header=header))
    assert inputs.kpi["channel"].to_list() == ["web"]
    assert inputs.notes == ["kpi_daily.csv: ignored columns x"]


# --- values ---------------------------------------------------------------------------------


def test_surrounding_white_space_is_trimmed_raw_text_kept(tmp_path):
    inputs = _read(tmp_path, _kpi(" 2026-10-05 , cmp-a ,\tweb , 1000,50 ,5, 250.50 ,1"))
    row = inputs.kpi.row(0, named=True)
    assert (row["campaign_id"], row["channel"], row["impressions"]) == ("cmp-a", "web", 1000)


REVENUE = [
    ("250.5", Decimal("250.5")),
    ("-35.10", Decimal("-35.1")),  # refunds
    ("12.50000", Decimal("12.5")),  # trailing zeros beyond 4 places: the same amount
    ("0.1234", Decimal("0.1234")),
    ("12.123456", None),
    ("1e3", None),
    ('"12,50"', None),
    ("€12", None),
    ("12 EUR", None),
    ("1,234.50", None),  # unquoted: nine fields
    ("9999999999999", None),  # 13 digits: a week of them would overflow DECIMAL(18,4)
    ("", None),
]


def test_revenue_forms(tmp_path):
    rows = [f"2026-10-{i + 1:02d},c,web,10,5,1,{v},0" for i, (v, _) in enumerate(REVENUE)]
    inputs = _read(tmp_path, _kpi(*rows))
    accepted = dict(inputs.kpi.select("line_no", "revenue").iter_rows())
    reasons = _reasons(inputs)
    for i, (text, expected) in enumerate(REVENUE):
        line = i + 2
        if expected is None:
            assert line in reasons, text
        else:
            assert accepted[line] == expected, text
    assert reasons[2 + REVENUE.index(('"12,50"', None))] == R.NOT_A_NUMBER
    assert reasons[2 + REVENUE.index(("1,234.50", None))] == R.UNREADABLE
    assert reasons[2 + REVENUE.index(("", None))] == R.MISSING_VALUE
    comma = inputs.quarantine.filter(pl.col("raw").str.contains('"12,50"'))["reason"][0]
    assert "revenue '12,50'" in comma and "point" in comma


COUNTS = [
    ("12", 12),
    ("12.0", 12),  # a float export of a whole number
    ("999999999999999999", 999999999999999999),
    ("12.5", None),
    ("99999999999999999999", None),  # beyond int64
    ("1_000", None),
    ("+12", None),
]


def test_count_forms(tmp_path):
    rows = [f"2026-10-{i + 1:02d},c,web,{v},0,0,0,0" for i, (v, _) in enumerate(COUNTS)]
    inputs = _read(tmp_path, _kpi(*rows))
    accepted = dict(inputs.kpi.select("line_no", "impressions").iter_rows())
    reasons = _reasons(inputs)
    for i, (text, expected) in enumerate(COUNTS):
        assert accepted.get(i + 2) == expected, text
        assert (reasons.get(i + 2) == R.NOT_A_NUMBER) == (expected is None), text


def test_dates_channels_and_campaigns(tmp_path):
    rows = {
        "2026-02-30,c,web,1,1,1,1,0": R.BAD_DATE,
        "2026-10-5,c,web,1,1,1,1,0": R.BAD_DATE,
        "2026-10-05T00:00:00,c,web,1,1,1,1,0": R.BAD_DATE,
        "05/10/2026,c,web,1,1,1,1,0": R.BAD_DATE,
        "2099-10-05,c,web,1,1,1,1,0": R.OUT_OF_PARTITIONS,  # a week not yet started
        "2026-10-06,,web,1,1,1,1,0": R.MISSING_VALUE,
        "2026-10-06,c,,1,1,1,1,0": R.MISSING_VALUE,
        "2026-10-06,c,Web,1,1,1,1,0": R.UNKNOWN_CHANNEL,  # channels are exact
        "2026-10-06,c,tv,1,1,1,1,0": R.UNKNOWN_CHANNEL,
    }
    inputs = _read(tmp_path, _kpi(*rows))
    assert _reasons(inputs) == {i + 2: r for i, r in enumerate(rows.values())}
    weeks = dict(inputs.quarantine.select("line_no", "week").iter_rows())
    assert weeks[2] is None and weeks[6] is None and weeks[9] == WEEK


def test_duplicates_compare_values_not_spelling(tmp_path):
    inputs = _read(
        tmp_path,
        _kpi(
            ROW,
            "2026-10-05,cmp-a,web,1000,50,5,250.5,1",  # the same figures, written differently
            "2026-10-05,cmp-a,web,1000.0,50,5,250.5000,1",
            "2026-10-05,cmp-a,web,1000,50,5,250.51,1",
        ),
    )
    assert inputs.kpi["line_no"].to_list() == [2]
    reasons = inputs.quarantine["reason"].to_list()
    assert [r.endswith("(same figures)") for r in reasons] == [True, True, False]
    assert all("first seen on line 2" in r for r in reasons)


# --- beacons --------------------------------------------------------------------------------

TIMESTAMPS = [
    ("2026-10-12T01:30:00Z", datetime(2026, 10, 12, 1, 30, tzinfo=UTC)),
    ("2026-10-12T01:30:00.123456Z", datetime(2026, 10, 12, 1, 30, 0, 123456, tzinfo=UTC)),
    ("2026-10-12T01:30:00+05:30", datetime(2026, 10, 11, 20, 0, tzinfo=UTC)),
    ("2026-10-12T01:30:00+02:00", datetime(2026, 10, 11, 23, 30, tzinfo=UTC)),  # last week
    ("2026-10-12t01:30:00z", datetime(2026, 10, 12, 1, 30, tzinfo=UTC)),  # RFC 3339
    ("2026-03-29T02:30:00+01:00", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # DST gap
    ("2026-10-25T02:30:00+01:00", datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),  # DST repeat
    ("2026-10-12T01:30:00", None),  # no offset: which day is it?
    ("1791070200000", None),  # epoch millis
    ("2026-10-12 01:30:00Z", None),
    ("2026-10-12T24:00:00Z", None),
    ("2026-02-30T01:00:00Z", None),
    ("2026-10-12T01:30:00+99:00", None),
]


def test_timestamp_forms_and_utc_monday_weeks(tmp_path):
    rows = [f"{ts},web,tpl,cmp,/p,1000" for ts, _ in TIMESTAMPS]
    inputs = _read(tmp_path, rum=_rum(*rows))
    accepted = dict(inputs.rum.select("line_no", "ts").iter_rows())
    reasons = _reasons(inputs)
    for i, (text, expected) in enumerate(TIMESTAMPS):
        assert accepted.get(i + 2) == expected, text
        assert (reasons.get(i + 2) == R.BAD_TIMESTAMP) == (expected is None), text
    weeks = dict(inputs.rum.select("line_no", "week").iter_rows())
    assert weeks[4] == weeks[5] == WEEK and weeks[2] == WEEK + timedelta(weeks=1)


LCP = [
    ("0", 0.0),
    ("2100.5000000000002", 2100.5000000000002),  # as web-vitals reports it
    ("1.2e3", 1200.0),
    ("600000", 600000.0),
    ("-1", R.BAD_LCP),
    ("600000.1", R.BAD_LCP),
    ("1e300", R.BAD_LCP),
    ("NaN", R.NOT_A_NUMBER),
    ("inf", R.NOT_A_NUMBER),
    ("-Infinity", R.NOT_A_NUMBER),
    ("12ms", R.NOT_A_NUMBER),
]


def test_lcp_forms_and_campaignless_beacons(tmp_path):
    rows = [f"2026-10-06T10:00:00Z,web,tpl,,/p,{v}" for v, _ in LCP]
    inputs = _read(tmp_path, rum=_rum(*rows))
    accepted = dict(inputs.rum.select("line_no", "lcp_ms").iter_rows())
    reasons = _reasons(inputs)
    for i, (text, expected) in enumerate(LCP):
        got = accepted.get(i + 2, reasons.get(i + 2))
        assert got == expected, text
    assert inputs.rum["campaign_id"].null_count() == inputs.rum.height


def _beacons(**columns) -> pl.DataFrame:
    base = {
        "ts": ["2026-10-12T01:30:00+02:00"],
        "channel": ["web"],
        "template_id": ["tpl"],
        "campaign_id": ["cmp"],
        "page": ["/p"],
        "lcp_ms": ["1200"],
    }
    return pl.DataFrame({**base, **columns})


def test_parquet_with_other_types(tmp_path):
    berlin = (
        _beacons(ts=[datetime(2026, 10, 12, 1, 30)], lcp_ms=[1200.0])
        .with_columns(pl.col("ts").dt.replace_time_zone("Europe/Berlin"))
        .with_columns(pl.col("channel").cast(pl.Categorical))
    )
    berlin.write_parquet(tmp_path / "rum_lcp.parquet")
    inputs = _read(tmp_path)
    assert inputs.rum["ts"].to_list() == [datetime(2026, 10, 11, 23, 30, tzinfo=UTC)]
    assert inputs.rum["week"].to_list() == [WEEK]
    bad = {
        "strings": (_beacons(lcp_ms=["fast"]), R.NOT_A_NUMBER),
        "nan": (_beacons(lcp_ms=[float("nan")]), R.NOT_A_NUMBER),
        "epoch": (_beacons(ts=[1791070200000]), R.BAD_TIMESTAMP),
        "nested": (_beacons(page=[["/a", "/b"]]), R.BAD_HEADER),
    }
    for name, (frame, reason) in bad.items():
        frame.write_parquet(tmp_path / "rum_lcp.parquet")
        inputs = _read(tmp_path)
        assert inputs.quarantine["reason_code"].to_list() == [reason], name
    assert "page is List" in inputs.quarantine["reason"][0]


def test_a_corrupt_parquet_file_counts_as_absent_and_is_named_not_raised(tmp_path):
    (tmp_path / "rum_lcp.parquet").write_bytes(b"PAR1 truncated")
    inputs = _read(tmp_path)
    assert not inputs.rum_read  # what earlier runs stored from it is kept
    assert inputs.quarantine.height == 0
    assert any(
        m.startswith("rum_lcp.parquet is not a readable Parquet file") for m in inputs.missing
    )


def test_csv_wins_over_parquet_and_says_so(tmp_path):
    _beacons().write_parquet(tmp_path / "rum_lcp.parquet")
    inputs = _read(tmp_path, rum=_rum("2026-10-06T10:00:00Z,web,tpl,,/p,1"))
    assert set(inputs.rows_read) == {"rum_lcp.csv"}
    assert inputs.notes == ["rum_lcp.parquet ignored: rum_lcp.csv is read instead"]


# --- the warehouse --------------------------------------------------------------------------


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        yield con


def _store(con, inputs: BusinessInputs, week: date) -> None:
    one = inputs.for_week(week)
    replace_slices(
        con,
        [
            week_slice(KPI_DAILY, week, one.kpi.to_dicts()),
            quarantine_slice(week, ["kpi_daily.csv"], one.quarantine.to_dicts()),
            week_slice(RUM_LCP, week, one.rum.to_dicts()),
            quarantine_slice(week, ["rum_lcp.csv"], one.quarantine.to_dicts()),
        ],
    )


def test_rerunning_a_week_is_idempotent_and_hostile_text_is_only_data(con, tmp_path):
    hostile = "x'); DROP TABLE business.kpi_daily; --"
    inputs = _read(
        tmp_path,
        _kpi(f'2026-10-05,"{hostile}",web,10,5,1,1,0', "2026-02-30,c,web,1,1,1,1,0"),
        _rum(f'2026-10-06T10:00:00Z,web,../../etc/passwd,"{hostile}",/p,900'),
    )
    for _ in range(2):
        _store(con, inputs, WEEK)
    counts = fetch_dicts(
        con,
        "SELECT (SELECT count(*) FROM business.kpi_daily) AS kpi, "
        "(SELECT count(*) FROM business.rum_lcp) AS rum, "
        "(SELECT count(*) FROM business.quarantine) AS q",
    )
    assert counts == [{"kpi": 1, "rum": 1, "q": 1}]
    (row,) = overlay_rows(con, WEEK, "EUR")
    assert row["campaign_id"] == hostile and row["lcp_samples"] == 1
    _store(con, inputs, WEEK + timedelta(weeks=1))  # another week: the dateless row once
    assert fetch_dicts(con, f"SELECT count(*) AS n FROM {QUARANTINE.name}") == [{"n": 1}]


def test_a_week_without_data_is_empty_not_an_error(con, tmp_path):
    inputs = _read(tmp_path, _kpi(), _rum())
    _store(con, inputs, WEEK)
    assert overlay_rows(con, WEEK, "EUR") == []
    rows = drift_outcome_rows(WEEK, {1: [], 4: []})
    assert rows and all(r["n"] == 0 and r["spearman_rho"] is None for r in rows)
    assert all("too few rows" in r["caveat"] for r in rows)


def _generation(artifact: str, campaign: str, channel: str, week: date) -> dict:
    return {
        "artifact_id": artifact,
        "attempt": 1,
        "campaign_id": campaign,
        "template_id": "tpl-a",
        "channel": channel,
        "retouch_version": "1",
        "model_version": "m",
        "prompt": "p",
        "prompt_version": "1",
        "prompt_hash": "h",
        "seed": 1,
        "steps": 1,
        "cfg_scale": 1.0,
        "generated_at": datetime.combine(week, datetime.min.time(), UTC),
        "processing_ms": 1000,
        "image": "i.png",
        "master": "m.png",
        "batch_id": "b",
        "line_no": 1,
        "week": week,
    }


def test_overlay_on_campaigns_that_do_not_line_up_and_weeks_with_gaps(con, tmp_path):
    two_weeks_ago = WEEK - timedelta(weeks=2)
    inputs = _read(
        tmp_path,
        _kpi(
            "2026-10-05,kpi-only,web,100,0,0,0,0",  # no clicks: cvr NULL
            "2026-09-21,kpi-only,web,100,10,1,5,0",  # two weeks back: a gap, no change
        ),
        _rum("2026-10-06T10:00:00Z,social,tpl,rum-only,/p,900"),
    )
    _store(con, inputs, WEEK)
    _store(con, inputs, two_weeks_ago)
    insert(con, GENERATIONS, [_generation("a1", "art-only", "email", WEEK)])
    rows = {r["campaign_id"]: r for r in overlay_rows(con, WEEK, "EUR")}
    assert set(rows) == {"kpi-only", "rum-only", "art-only"}
    kpi = rows["kpi-only"]
    assert kpi["ctr"] == 0.0 and kpi["cvr"] is None and kpi["cvr_wow_change"] is None
    assert kpi["artifacts"] == 0 and kpi["lcp_samples"] == 0
    assert rows["rum-only"]["impressions"] is None and rows["rum-only"]["lcp_p75_ms"] == 900.0
    assert rows["art-only"]["artifacts"] == 1 and rows["art-only"]["clicks"] is None
    # One or two campaigns: no coefficient, a caveat, never an error.
    one = [{"colour_fail_rate": 0.5, "cvr": 0.1, "clicks": 10, "support_tickets": 1}]
    for rows_of_week in (one, one * 2):
        out = drift_outcome_rows(WEEK, {1: rows_of_week})
        assert all(r["spearman_rho"] is None and r["caveat"] for r in out)


# --- the cost meter -------------------------------------------------------------------------


def _retry(template: str, review: float | None) -> dict:
    return {
        "week": WEEK,
        "artifact_id": "a",
        "attempt": 3,
        "campaign_id": "c",
        "template_id": template,
        "channel": "web",
        "generated_at": datetime(2026, 10, 6, tzinfo=UTC),
        "processing_ms": 36_000,
        "review_seconds": review,
    }


def test_cost_meter_with_no_review_time_overrides_and_impossible_rates():
    cost = Cost(staff_rate_per_hour=50.0, template_rates={"tpl-x": 100.0})
    rows = attempt_costs([_retry("tpl-x", None), _retry("tpl-y", None)], cost)
    assert [r["cost"] for r in rows] == [Decimal("1.0000"), Decimal("0.5000")]  # 0.01 h
    assert [r["review_seconds"] for r in rows] == [0.0, 0.0]
    # The config refuses impossible rates (inf, NaN, over 1,000,000 an hour) ...
    for bad in ({"staff_rate_per_hour": float("inf")}, {"template_rates": {"t": 1e12}}):
        with pytest.raises(ValueError):
            Cost(**bad)
    # ... and the meter refuses them too, should a Cost be built around the validation.
    for bad in (
        Cost.model_construct(staff_rate_per_hour=float("inf"), template_rates={}),
        Cost.model_construct(staff_rate_per_hour=1.0, template_rates={"t": 1e12}),
    ):
        with pytest.raises(ValueError, match="an hourly rate must be a finite amount"):
            attempt_costs([_retry("t", 1.0)], bad)


def test_an_unreadable_csv_file_counts_as_absent(tmp_path, monkeypatch):
    (tmp_path / "kpi_daily.csv").write_bytes(_kpi(ROW))

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    inputs = read_business_inputs(tmp_path, CHANNELS, WEEKS)
    assert not inputs.kpi_read
    assert "kpi_daily.csv cannot be read (Permission denied)" in inputs.missing
