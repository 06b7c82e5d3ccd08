"""Business inputs: `kpi_daily.csv` and `rum_lcp.csv` (or `rum_lcp.parquet`) read with polars
against strict schemas. Every data row ends up in exactly one of the accepted rows or the
quarantine (file, line, reason, raw text), like manifest lines.

- A CSV row is one physical line (no quoted line breaks); line numbers count the header as
  line 1. Blank lines are not rows. A UTF-8 byte-order mark is ignored. A Parquet row's "line"
  is its row number (1-based) and its raw text the row as JSON.
- Columns may come in any order; extra columns are ignored (and reported); a missing or
  repeated required column quarantines every row of the file (`bad_header`).
- Values are taken as written: no trimming, no guessing. Counts are non-negative integers,
  revenue a decimal with at most four decimals (negative revenue, e.g. a day of refunds, is
  allowed), `lcp_ms` a number of milliseconds between 0 and 10 minutes.
- Weeks are Monday weeks in UTC: a beacon stamped Monday 01:30+02:00 is Sunday 23:30 UTC and
  belongs to the previous week. A row whose date cannot be read, or that falls outside the
  partitions (before the first week, or in a week that has not started), has no week: it is
  quarantined with `week` NULL, and those rows are replaced by every run.
- A repeated date × campaign × channel: the first row (lowest line) is kept, every later one
  is quarantined as `duplicate_key`, naming the line it repeats — as manifests keep the first
  of a repeated (artifact_id, attempt). The reason says whether the figures differ.

No Dagster import: the business layer's assets call `read_business_inputs` once per step.
"""

import csv
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

import polars as pl

KPI_FILE = "kpi_daily.csv"
RUM_FILES = ("rum_lcp.csv", "rum_lcp.parquet")
KPI_COLUMNS = (
    "date",
    "campaign_id",
    "channel",
    "impressions",
    "clicks",
    "conversions",
    "revenue",
    "support_tickets",
)
KPI_COUNTS = ("impressions", "clicks", "conversions", "support_tickets")
RUM_COLUMNS = ("ts", "channel", "template_id", "campaign_id", "page", "lcp_ms")
RUM_OPTIONAL = ("campaign_id",)
LCP_MAX_MS = 600_000.0  # a page view whose largest paint took over ten minutes is not a measure

_DATE = r"^\d{4}-\d{2}-\d{2}$"
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"
_INTEGER = r"^-?\d{1,18}$"
_DECIMAL = r"^-?\d{1,14}(\.\d{1,4})?$"
_NUMBER = r"^-?\d+(\.\d+)?$"


class BusinessReason(StrEnum):
    """`business.quarantine.reason_code`: why a business input row was not accepted."""

    BAD_HEADER = "bad_header"
    UNREADABLE = "unreadable"
    MISSING_VALUE = "missing_value"
    BAD_DATE = "bad_date"
    BAD_TIMESTAMP = "bad_timestamp"
    NOT_A_NUMBER = "not_a_number"
    OUT_OF_PARTITIONS = "out_of_partitions"
    UNKNOWN_CHANNEL = "unknown_channel"
    NEGATIVE_COUNT = "negative_count"
    CLICKS_EXCEED_IMPRESSIONS = "clicks_exceed_impressions"
    CONVERSIONS_EXCEED_CLICKS = "conversions_exceed_clicks"
    BAD_LCP = "bad_lcp"
    DUPLICATE_KEY = "duplicate_key"


R = BusinessReason


@dataclass(frozen=True)
class WeekRange:
    """The weeks that exist as partitions (Mondays, inclusive)."""

    first: date
    last: date


@dataclass
class BusinessInputs:
    """Accepted KPI rows and beacons, and the quarantine, of one read of the folder."""

    kpi: pl.DataFrame
    rum: pl.DataFrame
    quarantine: pl.DataFrame
    rows_read: dict[str, int] = field(default_factory=dict)  # file read -> its data rows
    missing: list[str] = field(default_factory=list)  # what is absent, in words
    notes: list[str] = field(default_factory=list)  # ignored columns and the like

    @property
    def kpi_read(self) -> bool:
        return KPI_FILE in self.rows_read

    @property
    def rum_read(self) -> bool:
        return any(name in self.rows_read for name in RUM_FILES)

    def for_week(self, week: date) -> "BusinessInputs":
        """The rows of one week, with the quarantined rows that have no week."""
        return BusinessInputs(
            kpi=self.kpi.filter(pl.col("week") == week),
            rum=self.rum.filter(pl.col("week") == week),
            quarantine=self.quarantine.filter((pl.col("week") == week) | pl.col("week").is_null()),
            rows_read=self.rows_read,
            missing=self.missing,
            notes=self.notes,
        )


_QUARANTINE_SCHEMA = pl.Schema(
    {
        "week": pl.Date,
        "source_file": pl.String,
        "line_no": pl.Int64,
        "reason_code": pl.String,
        "reason": pl.String,
        "raw": pl.String,
    }
)
_KPI_SCHEMA = pl.Schema(
    {
        "week": pl.Date,
        "date": pl.Date,
        "campaign_id": pl.String,
        "channel": pl.String,
        **{c: pl.Int64 for c in ("impressions", "clicks", "conversions")},
        "revenue": pl.Decimal(18, 4),
        "support_tickets": pl.Int64,
        "source_file": pl.String,
        "line_no": pl.Int64,
    }
)
_RUM_SCHEMA = pl.Schema(
    {
        "week": pl.Date,
        "ts": pl.Datetime("us", "UTC"),
        "channel": pl.String,
        "template_id": pl.String,
        "campaign_id": pl.String,
        "page": pl.String,
        "lcp_ms": pl.Float64,
        "source_file": pl.String,
        "line_no": pl.Int64,
    }
)


def read_business_inputs(
    folder: str | Path, channels: Collection[str], weeks: WeekRange
) -> BusinessInputs:
    """Read the folder's KPI and RUM files (either may be absent: reported, not an error)."""
    folder = Path(folder)
    result = BusinessInputs(
        kpi=pl.DataFrame(schema=_KPI_SCHEMA),
        rum=pl.DataFrame(schema=_RUM_SCHEMA),
        quarantine=pl.DataFrame(schema=_QUARANTINE_SCHEMA),
    )
    if not folder.is_dir():
        result.missing.append(f"business folder {folder} does not exist")
        return result
    quarantined = []
    kpi_path = folder / KPI_FILE
    if kpi_path.is_file():
        text = _csv_frame(kpi_path, KPI_COLUMNS, (), result)
        result.kpi, bad = _parse_kpi(text, channels, weeks)
        quarantined += [text.rejected, bad]
    else:
        result.missing.append(f"{KPI_FILE} not found in {folder}")
    rum_path = next((folder / n for n in RUM_FILES if (folder / n).is_file()), None)
    if rum_path is None:
        result.missing.append(f"{' or '.join(RUM_FILES)} not found in {folder}")
    else:
        if rum_path.suffix == ".parquet":
            text = _parquet_frame(rum_path, RUM_COLUMNS, RUM_OPTIONAL, result)
        else:
            text = _csv_frame(rum_path, RUM_COLUMNS, RUM_OPTIONAL, result)
        result.rum, bad = _parse_rum(text, channels, weeks)
        quarantined += [text.rejected, bad]
    result.quarantine = pl.concat(
        [result.quarantine, *(q.select(list(_QUARANTINE_SCHEMA)) for q in quarantined)]
    ).sort("source_file", "line_no")
    return result


@dataclass
class _TextFrame:
    """A file's rows as strings (`line_no`, `raw` and one column per required field), and the
    rows that could not even be split into fields."""

    name: str
    rows: pl.DataFrame
    rejected: pl.DataFrame


def _quarantine_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=_QUARANTINE_SCHEMA)


def _csv_frame(
    path: Path, columns: Sequence[str], optional: Sequence[str], result: BusinessInputs
) -> _TextFrame:
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    lines = [
        (i, line.removesuffix(b"\r"))
        for i, line in enumerate(data.split(b"\n"), start=1)
        if line.strip()
    ]
    result.rows_read[path.name] = max(len(lines) - 1, 0)
    if not lines:
        return _TextFrame(path.name, _empty_text(columns), _quarantine_frame([]))
    header_raw = lines[0][1].decode("utf-8", errors="replace")
    header = next(csv.reader([header_raw]), [])
    problem = _header_problem(header, columns, optional, path.name, result)
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for line_no, raw_bytes in lines[1:]:
        try:
            raw = raw_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raw = raw_bytes.decode("utf-8", errors="replace")
            rejected.append(_reject(path.name, line_no, R.UNREADABLE, "not UTF-8 text", raw))
            continue
        if problem:
            rejected.append(_reject(path.name, line_no, R.BAD_HEADER, problem, raw))
            continue
        try:
            fields = next(csv.reader([raw]), [])
        except csv.Error as exc:
            rejected.append(_reject(path.name, line_no, R.UNREADABLE, f"not CSV ({exc})", raw))
            continue
        if len(fields) != len(header):
            rejected.append(
                _reject(
                    path.name,
                    line_no,
                    R.UNREADABLE,
                    f"{len(fields)} fields, the header has {len(header)}",
                    raw,
                )
            )
            continue
        values = dict(zip(header, fields, strict=True))
        rows.append({"line_no": line_no, "raw": raw, **{c: values.get(c) for c in columns}})
    frame = pl.DataFrame(rows, schema=_text_schema(columns)) if rows else _empty_text(columns)
    return _TextFrame(path.name, frame, _quarantine_frame(rejected))


def _header_problem(
    header: list[str],
    columns: Sequence[str],
    optional: Sequence[str],
    name: str,
    result: BusinessInputs,
) -> str | None:
    missing = [c for c in columns if c not in header and c not in optional]
    repeated = sorted({c for c in header if header.count(c) > 1})
    extra = [c for c in header if c not in columns]
    if extra:
        result.notes.append(f"{name}: ignored columns {', '.join(extra)}")
    if missing or repeated:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"repeated {', '.join(repeated)}"] if repeated else []
        return f"header {'; '.join(parts)} (expected {', '.join(columns)})"
    return None


def _parquet_frame(
    path: Path, columns: Sequence[str], optional: Sequence[str], result: BusinessInputs
) -> _TextFrame:
    table = pl.read_parquet(path)
    result.rows_read[path.name] = table.height
    raws = [json.dumps(r, default=str, ensure_ascii=False) for r in table.to_dicts()]
    problem = _header_problem(table.columns, columns, optional, path.name, result)
    if problem:
        rejected = [
            _reject(path.name, i, R.BAD_HEADER, problem, raw) for i, raw in enumerate(raws, 1)
        ]
        return _TextFrame(path.name, _empty_text(columns), _quarantine_frame(rejected))
    text = {}
    for name in columns:
        if name not in table.columns:
            text[name] = pl.lit(None, pl.String)
            continue
        col = pl.col(name)
        dtype = table.schema[name]
        if isinstance(dtype, pl.Datetime):
            # A zoned timestamp as ISO text with its offset; a naive one without (refused).
            fmt = "%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if dtype.time_zone else "")
            text[name] = col.dt.strftime(fmt)
        else:
            text[name] = col.cast(pl.String)
    frame = table.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("line_no"),
        pl.Series("raw", raws, dtype=pl.String),
        **text,
    )
    return _TextFrame(path.name, frame, _quarantine_frame([]))


def _text_schema(columns: Sequence[str]) -> dict[str, Any]:
    return {"line_no": pl.Int64, "raw": pl.String, **{c: pl.String for c in columns}}


def _empty_text(columns: Sequence[str]) -> pl.DataFrame:
    return pl.DataFrame(schema=_text_schema(columns))


def _reject(name: str, line_no: int, reason: R, detail: str, raw: str) -> dict[str, Any]:
    return {
        "week": None,
        "source_file": name,
        "line_no": line_no,
        "reason_code": str(reason),
        "reason": detail,
        "raw": raw,
    }


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name) == "")


def _first_failure(checks: Sequence[tuple[pl.Expr, R, pl.Expr]]) -> tuple[pl.Expr, pl.Expr]:
    """The reason code and detail of the first failing check, NULL when every check passes."""
    code: Any = pl
    detail: Any = pl
    for failed, reason, text in checks:
        code = code.when(failed).then(pl.lit(str(reason)))
        detail = detail.when(failed).then(text)
    return code.otherwise(None), detail.otherwise(None)


def _week_of(day: pl.Expr) -> pl.Expr:
    """The Monday of a UTC date (polars weeks start on Monday)."""
    return day.dt.truncate("1w")


def _in_partitions(week: pl.Expr, weeks: WeekRange) -> pl.Expr:
    return week.is_between(pl.lit(weeks.first), pl.lit(weeks.last))


def _split(
    frame: pl.DataFrame, name: str, checks: Sequence[tuple[pl.Expr, R, pl.Expr]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(accepted rows, quarantined rows) of a parsed frame, by the first failing check."""
    code, detail = _first_failure(checks)
    judged = frame.with_columns(code.alias("reason_code"), detail.alias("reason"))
    accepted = judged.filter(pl.col("reason_code").is_null())
    bad = judged.filter(pl.col("reason_code").is_not_null()).select(
        pl.when(pl.col("_week_ok")).then(pl.col("week")).otherwise(None).alias("week"),
        pl.lit(name).alias("source_file"),
        "line_no",
        "reason_code",
        "reason",
        "raw",
    )
    return accepted, bad


def _parse_kpi(
    text: _TextFrame, channels: Collection[str], weeks: WeekRange
) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = text.rows.with_columns(
        pl.when(pl.col("date").str.contains(_DATE))
        .then(pl.col("date").str.to_date("%Y-%m-%d", strict=False))
        .alias("_date"),
        *(
            pl.when(pl.col(c).str.contains(_INTEGER))
            .then(pl.col(c).str.to_integer(strict=False))
            .alias(f"_{c}")
            for c in KPI_COUNTS
        ),
        pl.when(pl.col("revenue").str.contains(_DECIMAL))
        .then(pl.col("revenue").cast(pl.Decimal(18, 4), strict=False))
        .alias("_revenue"),
    ).with_columns(week=_week_of(pl.col("_date")))
    frame = frame.with_columns(_week_ok=_in_partitions(pl.col("week"), weeks).fill_null(False))
    numbers = (*KPI_COUNTS, "revenue")
    checks: list[tuple[pl.Expr, R, pl.Expr]] = [
        (
            pl.any_horizontal(_blank(c) for c in KPI_COLUMNS),
            R.MISSING_VALUE,
            pl.concat_str(
                pl.lit("empty: "),
                pl.concat_str(
                    [pl.when(_blank(c)).then(pl.lit(c)) for c in KPI_COLUMNS],
                    separator=", ",
                    ignore_nulls=True,
                ),
            ),
        ),
        (
            pl.col("_date").is_null(),
            R.BAD_DATE,
            pl.format("date {} is not a real YYYY-MM-DD day", pl.col("date")),
        ),
        (
            pl.any_horizontal(pl.col(f"_{c}").is_null() for c in numbers),
            R.NOT_A_NUMBER,
            pl.concat_str(
                pl.lit("not a number: "),
                pl.concat_str(
                    [
                        pl.when(pl.col(f"_{c}").is_null()).then(pl.format(f"{c} {{}}", pl.col(c)))
                        for c in numbers
                    ],
                    separator=", ",
                    ignore_nulls=True,
                ),
            ),
        ),
        (
            ~pl.col("_week_ok"),
            R.OUT_OF_PARTITIONS,
            pl.format(
                "date {} is outside the weeks {} to {}",
                pl.col("date"),
                pl.lit(weeks.first.isoformat()),
                pl.lit(weeks.last.isoformat()),
            ),
        ),
        _unknown_channel(channels),
        (
            pl.any_horizontal(pl.col(f"_{c}") < 0 for c in KPI_COUNTS),
            R.NEGATIVE_COUNT,
            pl.concat_str(
                [
                    pl.when(pl.col(f"_{c}") < 0).then(pl.format(f"{c} {{}}", pl.col(c)))
                    for c in KPI_COUNTS
                ],
                separator=", ",
                ignore_nulls=True,
            ),
        ),
        (
            pl.col("_clicks") > pl.col("_impressions"),
            R.CLICKS_EXCEED_IMPRESSIONS,
            pl.format("clicks {} > impressions {}", pl.col("clicks"), pl.col("impressions")),
        ),
        (
            pl.col("_conversions") > pl.col("_clicks"),
            R.CONVERSIONS_EXCEED_CLICKS,
            pl.format("conversions {} > clicks {}", pl.col("conversions"), pl.col("clicks")),
        ),
    ]
    accepted, bad = _split(frame, text.name, checks)
    accepted, duplicates = _first_of_each_key(accepted.sort("line_no"), text.name)
    kpi = accepted.select(
        "week",
        pl.col("_date").alias("date"),
        "campaign_id",
        "channel",
        *(pl.col(f"_{c}").alias(c) for c in ("impressions", "clicks", "conversions")),
        pl.col("_revenue").alias("revenue"),
        pl.col("_support_tickets").alias("support_tickets"),
        pl.lit(text.name).alias("source_file"),
        "line_no",
    )
    return kpi.cast(_KPI_SCHEMA), pl.concat([bad, duplicates])


_KPI_FIGURES = ("impressions", "clicks", "conversions", "revenue", "support_tickets")


def _first_of_each_key(frame: pl.DataFrame, name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the first row of each date × campaign × channel; later ones are duplicates."""
    key = ["_date", "campaign_id", "channel"]
    frame = frame.with_columns(
        pl.col("line_no").first().over(key).alias("_first_line"),
        pl.concat_str([pl.col(c) for c in _KPI_FIGURES], separator="|")
        .first()
        .over(key)
        .alias("_first_figures"),
    )
    repeated = pl.col("line_no") != pl.col("_first_line")
    same = pl.concat_str([pl.col(c) for c in _KPI_FIGURES], separator="|") == pl.col(
        "_first_figures"
    )
    duplicates = frame.filter(repeated).select(
        "week",
        pl.lit(name).alias("source_file"),
        "line_no",
        pl.lit(str(R.DUPLICATE_KEY)).alias("reason_code"),
        pl.format(
            "date {} × campaign {} × channel {} first seen on line {} ({})",
            pl.col("date"),
            pl.col("campaign_id"),
            pl.col("channel"),
            pl.col("_first_line"),
            pl.when(same).then(pl.lit("same figures")).otherwise(pl.lit("different figures")),
        ).alias("reason"),
        "raw",
    )
    return frame.filter(~repeated), duplicates


def _unknown_channel(channels: Collection[str]) -> tuple[pl.Expr, R, pl.Expr]:
    known = sorted(channels)
    return (
        ~pl.col("channel").is_in(known),
        R.UNKNOWN_CHANNEL,
        pl.format("channel {} is not one of {}", pl.col("channel"), pl.lit(", ".join(known))),
    )


def _parse_rum(
    text: _TextFrame, channels: Collection[str], weeks: WeekRange
) -> tuple[pl.DataFrame, pl.DataFrame]:
    ts = pl.col("ts").str.replace(r"Z$", "+00:00")
    frame = text.rows.with_columns(
        pl.when(pl.col("ts").str.contains(_TIMESTAMP))
        .then(ts.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", time_zone="UTC", strict=False))
        .alias("_ts"),
        pl.when(pl.col("lcp_ms").str.contains(_NUMBER))
        .then(pl.col("lcp_ms").cast(pl.Float64, strict=False))
        .alias("_lcp_ms"),
    ).with_columns(week=_week_of(pl.col("_ts").dt.date()))
    frame = frame.with_columns(_week_ok=_in_partitions(pl.col("week"), weeks).fill_null(False))
    required = [c for c in RUM_COLUMNS if c not in RUM_OPTIONAL]
    checks: list[tuple[pl.Expr, R, pl.Expr]] = [
        (
            pl.any_horizontal(_blank(c) for c in required),
            R.MISSING_VALUE,
            pl.concat_str(
                pl.lit("empty: "),
                pl.concat_str(
                    [pl.when(_blank(c)).then(pl.lit(c)) for c in required],
                    separator=", ",
                    ignore_nulls=True,
                ),
            ),
        ),
        (
            pl.col("_ts").is_null(),
            R.BAD_TIMESTAMP,
            pl.format("ts {} is not a real ISO-8601 time with a UTC offset", pl.col("ts")),
        ),
        (
            pl.col("_lcp_ms").is_null(),
            R.NOT_A_NUMBER,
            pl.format("lcp_ms {} is not a number", pl.col("lcp_ms")),
        ),
        (
            ~pl.col("_week_ok"),
            R.OUT_OF_PARTITIONS,
            pl.format(
                "ts {} is outside the weeks {} to {}",
                pl.col("ts"),
                pl.lit(weeks.first.isoformat()),
                pl.lit(weeks.last.isoformat()),
            ),
        ),
        _unknown_channel(channels),
        (
            (pl.col("_lcp_ms") < 0) | (pl.col("_lcp_ms") > LCP_MAX_MS),
            R.BAD_LCP,
            pl.format(
                "lcp_ms {} is outside 0 to {}", pl.col("lcp_ms"), pl.lit(f"{LCP_MAX_MS:.0f}")
            ),
        ),
    ]
    accepted, bad = _split(frame, text.name, checks)
    rum = accepted.select(
        "week",
        pl.col("_ts").alias("ts"),
        "channel",
        "template_id",
        pl.when(_blank("campaign_id"))
        .then(None)
        .otherwise(pl.col("campaign_id"))
        .alias("campaign_id"),
        "page",
        pl.col("_lcp_ms").alias("lcp_ms"),
        pl.lit(text.name).alias("source_file"),
        "line_no",
    )
    return rum.cast(_RUM_SCHEMA), bad
