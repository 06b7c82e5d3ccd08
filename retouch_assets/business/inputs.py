"""Business inputs: `kpi_daily.csv` and `rum_lcp.csv` (or `rum_lcp.parquet`) read with polars
against strict schemas. Every data row ends up in exactly one of the accepted rows or the
quarantine (file, line, reason, raw text), like manifest lines.

- CSV is RFC 4180: a quoted field may hold commas, doubled quotes and line breaks, and such a
  row keeps the number of the line it starts on. Lines end in LF, CRLF or a lone CR;
  line numbers count the header as line 1; blank lines are not rows. A UTF-8 byte-order mark
  is ignored and a UTF-16 file with its byte-order mark (Excel's "Unicode text") is read as
  such. Any other encoding is judged line by line: a line that is not UTF-8 (a Latin-1 "Café")
  or holds a NUL is `unreadable`, naming the byte, and costs its row only. A record spanning
  lines that does not parse (a stray quote would swallow the rest of the file) is judged line
  by line instead. A Parquet row's "line" is its row number (1-based) and its raw text the
  row as JSON; a file that is not readable Parquet at all (truncated while copied) counts
  as absent, named in `missing`, so that what earlier runs stored from it is kept.
- Columns may come in any order; extra columns are ignored (and reported in `notes`); a
  missing or repeated required column quarantines every row of the file (`bad_header`, naming
  the file, the columns and the fix). Header names and values are taken without surrounding
  white space (" web " is web; the raw text keeps it); nothing else is normalised: names and
  channels are case-sensitive.
- Counts are non-negative whole numbers of at most 18 digits ("12.0" from a float export is
  12; "12.5", "1_000", "+12" are not); revenue a decimal with a point, at most 4 places
  (trailing zeros beyond them are the same amount) and 12 digits before it, no currency
  sign, thousands separator or exponent; negative revenue (a day of refunds) is allowed;
  `lcp_ms` a finite number (decimal or scientific) of milliseconds from 0 to 10 minutes.
- `date` is YYYY-MM-DD exactly; `ts` is ISO-8601 / RFC 3339 with seconds and an offset (`Z`,
  `+05:30`, `+0530`; lower-case t/z allowed). A time without offset (which day is it?) or
  epoch milliseconds are `bad_timestamp`. A Parquet `ts` may be text or a zoned timestamp
  type; a naive timestamp type is refused like an offset-less string.
- Weeks are Monday weeks in UTC: a beacon stamped Monday 01:30+02:00 is Sunday 23:30 UTC and
  belongs to the previous week. A row whose date cannot be read, or that falls outside the
  partitions (before the first week, or in a week that has not started), has no week: it is
  quarantined with `week` NULL, and those rows are replaced by every run.
- A repeated date × campaign × channel: the first row (lowest line) is kept, every later one
  is quarantined as `duplicate_key`, naming the line it repeats — as manifests keep the first
  of a repeated (artifact_id, attempt). The reason says whether the figures differ (as
  values: "250.5" and "250.50" are the same figure).
- `rum_lcp.csv` and `rum_lcp.parquet` both present: the CSV is read, the Parquet file ignored
  and named in `notes` (the same beacons exported twice must not count twice).

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
# A whole number (a float export's "12.0" is the same number), at most 18 digits.
_INTEGER = r"^-?\d{1,18}(\.0+)?$"
# A decimal with a point, at most 4 places (trailing zeros beyond them are exact) and at most
# 12 digits before the point, so that a week's sums fit DECIMAL(18,4).
_DECIMAL = r"^-?\d{1,12}(\.\d{1,4}0*)?$"
# A finite decimal or scientific number (web-vitals reports floats: 2100.5000000000002).
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"


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
    present = [folder / n for n in RUM_FILES if (folder / n).is_file()]
    rum_path = present[0] if present else None
    for ignored in present[1:]:
        # Never both: the same beacons exported twice would count twice.
        result.notes.append(f"{ignored.name} ignored: {present[0].name} is read instead")
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
    try:
        data = path.read_bytes()
    except OSError as exc:  # no permission, a file vanishing mid-read: as if absent
        result.missing.append(f"{path.name} cannot be read ({exc.strerror or exc})")
        return _TextFrame(path.name, _empty_text(columns), _quarantine_frame([]))
    lines = _decoded_lines(data)
    records = _records(lines)
    header_at = next((i for i, r in enumerate(records) if not _blank_record(lines, r)), None)
    if header_at is None:  # an empty file, or only blank lines: no rows
        result.rows_read[path.name] = 0
        return _TextFrame(path.name, _empty_text(columns), _quarantine_frame([]))
    header = [h.strip() for h in records[header_at].fields or []]
    problem = _header_problem(header, columns, optional, path.name, result)
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []

    def judge(line_no: int, raw: str, fields: list[str] | None, why: str | None) -> None:
        if problem:
            rejected.append(_reject(path.name, line_no, R.BAD_HEADER, problem, raw))
        elif why is not None or fields is None:
            rejected.append(_reject(path.name, line_no, R.UNREADABLE, why or "not CSV", raw))
        elif len(fields) != len(header):
            detail = f"{len(fields)} fields, the header has {len(header)}"
            rejected.append(_reject(path.name, line_no, R.UNREADABLE, detail, raw))
        else:
            values = dict(zip(header, fields, strict=True))
            rows.append({"line_no": line_no, "raw": raw, **{c: values.get(c) for c in columns}})

    for record in records[header_at + 1 :]:
        if _blank_record(lines, record):
            continue
        span = lines[record.first : record.end]
        why = next((line.problem for line in span if line.problem), None) or record.error
        whole = why is None and record.fields is not None and len(record.fields) == len(header)
        if len(span) == 1 or whole:
            judge(span[0].number, _raw(span), record.fields, why)
            continue
        # A record over several lines that does not parse (a stray quote swallows the lines
        # after it): every line is judged on its own, so one bad quote costs one row.
        for line in span:
            if line.text.strip():
                fields, error = _fields(line.text)
                judge(line.number, _raw([line]), fields, line.problem or error)
    result.rows_read[path.name] = len(rows) + len(rejected)
    frame = pl.DataFrame(rows, schema=_text_schema(columns)) if rows else _empty_text(columns)
    return _TextFrame(path.name, frame, _quarantine_frame(rejected))


@dataclass(frozen=True)
class _Line:
    """One physical line: its number (1-based), its text with its line break, and why it
    cannot be read (not UTF-8, a NUL byte), if so."""

    number: int
    text: str
    problem: str | None


@dataclass(frozen=True)
class _Record:
    """One CSV record: the lines it spans ([first, end) indexes into the lines), its fields,
    or the CSV error that stopped it."""

    first: int
    end: int
    fields: list[str] | None
    error: str | None


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _decoded_lines(data: bytes) -> list[_Line]:
    """The file's lines, broken at LF, CRLF or a lone CR (classic Mac exports), each
    decoded on its own so that one Latin-1 byte costs one row, not the file. A UTF-16 file
    (Excel's "Unicode text") is read as such when it starts with its byte-order mark."""
    utf16 = data.startswith(_UTF16_BOMS)
    if utf16:
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            data = data.decode("utf-16", errors="replace").encode("utf-8")
            return [
                _Line(i, text.decode("utf-8"), "not valid UTF-16 text; save the file as UTF-8")
                for i, text in enumerate(data.splitlines(keepends=True), start=1)
            ]
    data = data.removeprefix(b"\xef\xbb\xbf")
    lines = []
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        problem = None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8", errors="replace")
            problem = (
                f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start + 1}); "
                "save the file as UTF-8"
            )
        if problem is None and "\x00" in text:
            problem = "contains a NUL character"
        lines.append(_Line(number, text, problem))
    return lines


class _Feed:
    """Lines handed to csv.reader one at a time, remembering how many it has taken."""

    def __init__(self, lines: Sequence[_Line]):
        self.lines = lines
        self.taken = 0

    def __iter__(self) -> "_Feed":
        return self

    def __next__(self) -> str:
        if self.taken >= len(self.lines):
            raise StopIteration
        self.taken += 1
        return self.lines[self.taken - 1].text


def _records(lines: Sequence[_Line]) -> list[_Record]:
    """The CSV records (RFC 4180: a quoted field may hold commas, quotes and line breaks)."""
    feed = _Feed(lines)
    reader = csv.reader(feed)
    records = []
    while True:
        first = feed.taken
        try:
            fields, error = next(reader), None
        except StopIteration:
            break
        except csv.Error as exc:
            fields, error = None, f"not CSV ({exc})"
        records.append(_Record(first, max(feed.taken, first + 1), fields, error))
        if feed.taken >= len(lines) and error is not None:
            break
    return records


def _fields(text: str) -> tuple[list[str] | None, str | None]:
    """One line parsed as a record on its own."""
    try:
        return next(csv.reader([text]), []), None
    except csv.Error as exc:
        return None, f"not CSV ({exc})"


def _blank_record(lines: Sequence[_Line], record: _Record) -> bool:
    return all(not line.text.strip() for line in lines[record.first : record.end])


def _raw(span: Sequence[_Line]) -> str:
    """The text of a record as written, without its final line break."""
    text = "".join(line.text for line in span)
    return text.removesuffix("\n").removesuffix("\r")


def _header_problem(
    header: list[str],
    columns: Sequence[str],
    optional: Sequence[str],
    name: str,
    result: BusinessInputs,
) -> str | None:
    missing = [c for c in columns if c not in header and c not in optional]
    repeated = sorted({c for c in header if c in columns and header.count(c) > 1})
    extra = [c for c in header if c not in columns]
    if extra:
        result.notes.append(f"{name}: ignored columns {', '.join(extra)}")
    if missing or repeated:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"repeated {', '.join(repeated)}"] if repeated else []
        hints = [
            f"found {h!r}: rename it {c}"
            for c in missing
            for h in header
            if h.strip().lower() == c.lower() and h != c
        ]
        fix = "; ".join(hints) or "fix the header row"
        return f"{name} header {'; '.join(parts)} (expected {', '.join(columns)}): {fix}"
    return None


def _parquet_frame(
    path: Path, columns: Sequence[str], optional: Sequence[str], result: BusinessInputs
) -> _TextFrame:
    try:
        table = pl.read_parquet(path)
    except Exception as exc:  # not Parquet, truncated (a copy under way), an unknown codec
        # No row can be told from another: the file counts as absent, so what earlier runs
        # stored from it is kept rather than replaced by nothing.
        result.missing.append(
            f"{path.name} is not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})"
        )
        return _TextFrame(path.name, _empty_text(columns), _quarantine_frame([]))
    result.rows_read[path.name] = table.height
    raws = [json.dumps(r, default=str, ensure_ascii=False) for r in table.to_dicts()]
    problem = _header_problem(table.columns, columns, optional, path.name, result)
    if problem is None:
        unusable = [
            f"{c} is {table.schema[c]}"
            for c in columns
            if c in table.columns and _unusable_type(table.schema[c])
        ]
        if unusable:
            problem = f"{path.name} column {', '.join(unusable)}: write it as text or a number"
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


def _unusable_type(dtype: Any) -> bool:
    """Nested, binary or object columns: no text a rule could judge."""
    return dtype.is_nested() or dtype in (pl.Binary, pl.Object)


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


_NUMBER_FORMS = {
    **{c: "a whole number of at most 18 digits" for c in KPI_COUNTS},
    "revenue": "a decimal like -1234.56: a point, at most 4 places and 12 digits before it, "
    "no thousands separator, currency sign or exponent",
}


def _trimmed(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Values without surrounding white space (" 12", "web "): the same value, never a
    different one. The raw text keeps them."""
    return frame.with_columns(pl.col(c).str.strip_chars() for c in columns)


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name) == "")


def _missing_values(columns: Sequence[str]) -> tuple[pl.Expr, BusinessReason, pl.Expr]:
    """The check that a required value is empty, naming every empty column of the row."""
    return (
        pl.any_horizontal(_blank(c) for c in columns),
        R.MISSING_VALUE,
        pl.concat_str(
            pl.lit("empty: "),
            pl.concat_str(
                [pl.when(_blank(c)).then(pl.lit(c)) for c in columns],
                separator=", ",
                ignore_nulls=True,
            ),
        ),
    )


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
    frame = (
        _trimmed(text.rows, KPI_COLUMNS)
        .with_columns(
            pl.when(pl.col("date").str.contains(_DATE))
            .then(pl.col("date").str.to_date("%Y-%m-%d", strict=False))
            .alias("_date"),
            *(
                pl.when(pl.col(c).str.contains(_INTEGER))
                .then(pl.col(c).str.replace(r"\.0+$", "").str.to_integer(strict=False))
                .alias(f"_{c}")
                for c in KPI_COUNTS
            ),
            pl.when(pl.col("revenue").str.contains(_DECIMAL))
            .then(
                pl.col("revenue")
                .str.replace(r"(\.\d{1,4})0+$", "${1}")
                .cast(pl.Decimal(18, 4), strict=False)
            )
            .alias("_revenue"),
        )
        .with_columns(week=_week_of(pl.col("_date")))
    )
    frame = frame.with_columns(_week_ok=_in_partitions(pl.col("week"), weeks).fill_null(False))
    numbers = (*KPI_COUNTS, "revenue")
    checks: list[tuple[pl.Expr, R, pl.Expr]] = [
        _missing_values(KPI_COLUMNS),
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
                        pl.when(pl.col(f"_{c}").is_null()).then(
                            pl.format(f"{c} '{{}}' ({_NUMBER_FORMS[c]})", pl.col(c))
                        )
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
        pl.concat_str([pl.col(f"_{c}").cast(pl.String) for c in _KPI_FIGURES], separator="|")
        .first()
        .over(key)
        .alias("_first_figures"),
    )
    repeated = pl.col("line_no") != pl.col("_first_line")
    same = pl.concat_str(
        [pl.col(f"_{c}").cast(pl.String) for c in _KPI_FIGURES], separator="|"
    ) == pl.col("_first_figures")
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
    # RFC 3339 allows a lower-case "t" and "z".
    ts = pl.col("ts").str.to_uppercase()
    frame = (
        _trimmed(text.rows, RUM_COLUMNS)
        .with_columns(
            pl.when(ts.str.contains(_TIMESTAMP))
            .then(
                ts.str.replace(r"Z$", "+00:00").str.to_datetime(
                    "%Y-%m-%dT%H:%M:%S%.f%z", time_zone="UTC", strict=False
                )
            )
            .alias("_ts"),
            pl.when(pl.col("lcp_ms").str.contains(_NUMBER))
            .then(pl.col("lcp_ms").cast(pl.Float64, strict=False))
            .alias("_lcp_ms"),
        )
        .with_columns(week=_week_of(pl.col("_ts").dt.date()))
    )
    frame = frame.with_columns(_week_ok=_in_partitions(pl.col("week"), weeks).fill_null(False))
    required = [c for c in RUM_COLUMNS if c not in RUM_OPTIONAL]
    checks: list[tuple[pl.Expr, R, pl.Expr]] = [
        _missing_values(required),
        (
            pl.col("_ts").is_null(),
            R.BAD_TIMESTAMP,
            pl.format("ts {} is not a real ISO-8601 time with a UTC offset", pl.col("ts")),
        ),
        (
            pl.col("_lcp_ms").is_null(),
            R.NOT_A_NUMBER,
            pl.format("lcp_ms '{}' is not a finite number of milliseconds", pl.col("lcp_ms")),
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
