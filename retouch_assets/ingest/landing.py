"""Landing batches: find them, read their manifests, and sort every line into accepted or
quarantined, filed under a Monday week (UTC).

Every non-blank manifest line ends up in exactly one of the two lists. Checks run in three
stages, cheapest first: each line on its own (JSON, types, timestamps, colours, paths, prompt
hash), the key across all batches (the first occurrence in batch-id then line order wins), and
the files (exist, stay inside the batch folder, decode) only for the weeks being ingested.
"""

import os
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from PIL import Image

from retouch_assets.ingest.manifest import (
    ManifestRecord,
    Rejection,
    lenient_artifact_id,
    lenient_timestamp,
    parse_line,
)
from retouch_assets.vocabulary import QuarantineReason as R

MANIFEST_NAME = "manifest.jsonl"


def week_of(moment: datetime | date) -> date:
    """The Monday (UTC) that starts the week of `moment`: the partition key's date."""
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class WeekBounds:
    """The weeks that exist as partitions: from the partitions' start to the current week."""

    first: date
    last: date

    def clamp(self, week: date) -> date:
        return min(max(week, self.first), self.last)


@dataclass(frozen=True)
class Batch:
    batch_id: str
    path: Path

    @property
    def manifest(self) -> Path:
        return self.path / MANIFEST_NAME


@dataclass(frozen=True)
class ManifestLine:
    batch_id: str
    line_no: int
    raw: str
    encoding_error: str | None = None


@dataclass(frozen=True)
class Accepted:
    batch_id: str
    line_no: int
    week: date
    record: ManifestRecord


@dataclass(frozen=True)
class Quarantined:
    batch_id: str
    line_no: int
    week: date
    artifact_id: str | None
    rejection: Rejection
    raw: str


@dataclass
class Triage:
    accepted: list[Accepted] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)

    @property
    def weeks(self) -> list[date]:
        return sorted({a.week for a in self.accepted} | {q.week for q in self.quarantined})


def list_batches(landing: Path) -> list[Batch]:
    """Batch folders that hold a manifest, in batch-id order.

    Producers write the manifest last, so a folder without one is still being filled and is
    left for a later run; hidden folders (`.tmp…`) are ignored.
    """
    if not landing.is_dir():
        return []
    return [
        Batch(child.name, child)
        for child in sorted(landing.iterdir(), key=lambda p: p.name)
        if child.is_dir() and not child.name.startswith(".") and (child / MANIFEST_NAME).is_file()
    ]


def read_manifest_lines(batch: Batch) -> list[ManifestLine]:
    """Non-blank lines with their 1-based line numbers; bytes that are not UTF-8 are kept."""
    lines = []
    for line_no, chunk in enumerate(batch.manifest.read_bytes().split(b"\n"), start=1):
        chunk = chunk.removesuffix(b"\r")
        if not chunk.strip():
            continue
        try:
            lines.append(ManifestLine(batch.batch_id, line_no, chunk.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raw = chunk.decode("utf-8", errors="replace")
            lines.append(
                ManifestLine(batch.batch_id, line_no, raw, f"byte {exc.start}: {exc.reason}")
            )
    return lines


@dataclass
class _Parsed:
    line: ManifestLine
    outcome: ManifestRecord | Rejection
    week: date | None  # None: filed under the batch's home week


def _parse(line: ManifestLine, bounds: WeekBounds) -> _Parsed:
    if line.encoding_error:
        return _Parsed(
            line, Rejection(R.INVALID_ENCODING, f"not UTF-8 ({line.encoding_error})"), None
        )
    outcome = parse_line(line.raw)
    moment = (
        outcome.generated_at if isinstance(outcome, ManifestRecord) else lenient_timestamp(line.raw)
    )
    week = week_of(moment) if moment is not None else None
    if week is None or bounds.first <= week <= bounds.last:
        return _Parsed(line, outcome, week)
    if isinstance(outcome, ManifestRecord):
        if week < bounds.first:
            outcome = Rejection(
                R.TIMESTAMP_BEFORE_PARTITIONS,
                f"generated_at {moment.isoformat()} is before the first week {bounds.first}",
            )
        else:
            outcome = Rejection(
                R.TIMESTAMP_IN_FUTURE,
                f"generated_at {moment.isoformat()} is after the current week {bounds.last}",
            )
    return _Parsed(line, outcome, None)


def _home_week(batch: Batch, parsed: list[_Parsed], bounds: WeekBounds) -> date:
    """Where a batch's lines without a usable timestamp are filed: the batch's earliest week,
    or, when no line has one, the week the manifest was written."""
    weeks = [p.week for p in parsed if p.week is not None]
    if weeks:
        return min(weeks)
    written = datetime.fromtimestamp(batch.manifest.stat().st_mtime, tz=UTC)
    return bounds.clamp(week_of(written))


def _file_problem(batch_root: Path, relative: str, field_name: str) -> Rejection | None:
    path = batch_root / relative
    if not path.resolve().is_relative_to(batch_root.resolve()):
        return Rejection(
            R.UNSAFE_PATH, f"{field_name} '{relative}' resolves outside the batch folder"
        )
    if not path.is_file():
        return Rejection(R.MISSING_FILE, f"{field_name} '{relative}' does not exist")
    return None


def decode_error(path: Path) -> str | None:
    """Why Pillow cannot fully decode the image at `path`, or None when it can."""
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _decode_errors(paths: Iterable[Path], workers: int | None) -> dict[Path, str | None]:
    unique = sorted(set(paths))
    # Pillow releases the GIL while decoding, so threads use every core.
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        return dict(zip(unique, pool.map(decode_error, unique), strict=True))


def triage_landing(
    landing: Path,
    bounds: WeekBounds,
    weeks: Collection[date] | None = None,
    *,
    check_files: bool = True,
    workers: int | None = None,
) -> Triage:
    """Sort every manifest line of every batch; keep the results filed under `weeks` (all
    weeks when None). File checks run only for the kept lines."""
    batches = list_batches(landing)
    staged: list[tuple[Batch, _Parsed, date]] = []
    for batch in batches:
        parsed = [_parse(line, bounds) for line in read_manifest_lines(batch)]
        home = _home_week(batch, parsed, bounds) if parsed else None
        staged.extend((batch, p, p.week or home) for p in parsed)

    first_seen: dict[tuple[str, int], ManifestLine] = {}
    for _, p, _ in staged:
        if isinstance(p.outcome, ManifestRecord):
            first = first_seen.setdefault(p.outcome.key, p.line)
            if first is not p.line:
                p.outcome = Rejection(
                    R.DUPLICATE_KEY,
                    f"(artifact_id, attempt) = {p.outcome.key} first seen in batch "
                    f"{first.batch_id} line {first.line_no}",
                )

    kept = [s for s in staged if weeks is None or s[2] in weeks]
    if check_files:
        _check_files(kept, workers)

    triage = Triage()
    for batch, p, week in kept:
        if isinstance(p.outcome, ManifestRecord):
            triage.accepted.append(Accepted(batch.batch_id, p.line.line_no, week, p.outcome))
        else:
            artifact_id = lenient_artifact_id(p.line.raw) if not p.line.encoding_error else None
            triage.quarantined.append(
                Quarantined(
                    batch.batch_id, p.line.line_no, week, artifact_id, p.outcome, p.line.raw
                )
            )
    return triage


def _check_files(kept: list[tuple[Batch, _Parsed, date]], workers: int | None) -> None:
    """Reject records whose image or master is missing, escapes the batch, or does not decode."""
    candidates = []
    for batch, p, _ in kept:
        if not isinstance(p.outcome, ManifestRecord):
            continue
        problem = None
        for field_name in ("image", "master"):
            problem = problem or _file_problem(
                batch.path, getattr(p.outcome, field_name), field_name
            )
        if problem:
            p.outcome = problem
        else:
            candidates.append((batch, p))
    errors = _decode_errors(
        (
            batch.path / getattr(p.outcome, f)
            for batch, p in candidates
            for f in ("image", "master")
        ),
        workers,
    )
    for batch, p in candidates:
        for field_name in ("image", "master"):
            relative = getattr(p.outcome, field_name)
            error = errors[batch.path / relative]
            if error:
                p.outcome = Rejection(R.UNDECODABLE_IMAGE, f"{field_name} '{relative}': {error}")
                break


def weeks_of_batches(batches: Iterable[Batch], bounds: WeekBounds) -> list[date]:
    """The weeks whose partitions hold lines of these batches (accepted or quarantined), from
    the manifests alone: cheap enough for a sensor tick."""
    weeks: set[date] = set()
    for batch in batches:
        parsed = [_parse(line, bounds) for line in read_manifest_lines(batch)]
        weeks |= {p.week for p in parsed if p.week is not None}
        if any(p.week is None for p in parsed):
            weeks.add(_home_week(batch, parsed, bounds))
    return sorted(weeks)
