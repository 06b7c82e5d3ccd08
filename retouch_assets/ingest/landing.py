"""Landing batches: find them, read their manifests, and sort every line into accepted or
quarantined, filed under a Monday week (UTC).

Every non-blank manifest line ends up in exactly one of the two lists. Checks run in three
stages, cheapest first: each line on its own (JSON, types, timestamps, colours, paths, prompt
hash), the key across all batches (the first occurrence in batch-id then line order wins), and
the files (exist, stay inside the batch folder, decode) only for the weeks being ingested.

Reading a manifest is hostile-input safe: the file is streamed (memory is bounded by
MAX_LINE_BYTES, not by the file size); a UTF-8 byte order mark at the start of the file is
dropped; `\\r\\n` and `\\n` both end a line, and a missing final newline is fine; a line of
only ASCII whitespace is not a record. A line longer than MAX_LINE_BYTES is quarantined as
`line_too_long` without being parsed: its `raw` keeps only the first RAW_PREFIX_BYTES (decoded
with U+FFFD for broken bytes), and the reason gives its length and sha256 so it can be found in
the upstream file. A line that is not UTF-8 is `invalid_encoding` with `raw` decoded the same
lenient way, so every `raw` can be stored.
"""

import errno
import hashlib
import os
import stat
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from retouch_assets.cores import available_cores
from retouch_assets.ingest.manifest import (
    ManifestRecord,
    Rejection,
    examine_line,
    quoted,
)
from retouch_assets.ingest.png_check import image_proven_decodable
from retouch_assets.quality.decode import (
    describe_failure,
    file_kind,
    open_image,
    open_regular_file,
)
from retouch_assets.vocabulary import QuarantineReason as R

MANIFEST_NAME = "manifest.jsonl"

# The longest manifest line that is parsed, in bytes without its line ending. A record with
# even hundreds of text layers is a few KiB; 1 MiB leaves room for long prompts while keeping a
# single line from costing more than a few MiB of memory to parse and validate.
MAX_LINE_BYTES = 1024 * 1024
# How much of a too-long line is kept as its `raw` in retouch.quarantine.
RAW_PREFIX_BYTES = 4096

_BOM = b"\xef\xbb\xbf"
_READ_CHUNK = 1024 * 1024


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
    rejection: Rejection | None = None  # rejected while reading: not UTF-8, or too long


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
        Batch(storable_name(child.name), child)
        for child in sorted(landing.iterdir(), key=lambda p: p.name)
        if child.is_dir() and not child.name.startswith(".") and (child / MANIFEST_NAME).is_file()
    ]


def storable_name(name: str) -> str:
    """A folder name as text the warehouse can store: bytes that are not UTF-8 (which Python
    keeps as lone surrogates) become `\\xNN` escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _physical_lines(path: Path) -> Iterator[tuple[bytes, int, str | None]]:
    """Each line of the file as (bytes, length, sha256): the whole line without its ending when
    it is at most MAX_LINE_BYTES long (sha256 None), else its first RAW_PREFIX_BYTES with the
    full length and the sha256 of the full line. Memory stays bounded whatever the file holds;
    a line of only whitespace comes back as b"" (whatever its length)."""
    with open_regular_file(path) as stream:
        limit = MAX_LINE_BYTES + 2  # room for the line ending
        chunk = stream.readline(limit)
        if chunk.startswith(_BOM):  # dropped, and not counted towards the limit
            chunk += stream.readline(len(_BOM)) if not chunk.endswith(b"\n") else b""
            chunk = chunk.removeprefix(_BOM)
        while chunk:
            # readline stops at a newline, at `limit` bytes, or at the end of the file.
            if chunk.endswith(b"\n") or len(chunk) < limit:
                content = chunk.removesuffix(b"\n").removesuffix(b"\r")
                if len(content) <= MAX_LINE_BYTES:
                    yield (content if content.strip() else b""), len(content), None
                    chunk = stream.readline(limit)
                    continue
            yield _long_line(stream, chunk)
            chunk = stream.readline(limit)


def _long_line(stream: BinaryIO, chunk: bytes) -> tuple[bytes, int, str | None]:
    """Read the rest of a line that may be too long, hashing it instead of keeping it."""
    first, digest, length, blank = chunk, hashlib.sha256(), 0, True
    held = b""  # a "\r" that may be the start of the line ending
    while True:
        chunk = held + chunk
        held = b""
        last = chunk.endswith(b"\n")
        if last:
            chunk = chunk[:-1].removesuffix(b"\r")
        elif chunk.endswith(b"\r"):
            chunk, held = chunk[:-1], b"\r"
        digest.update(chunk)
        length += len(chunk)
        blank = blank and not chunk.strip()
        if last:
            break
        chunk = stream.readline(_READ_CHUNK)
        if not chunk:  # the end of a file without a final newline: a lone "\r" is dropped
            break
    if blank:
        return b"", length, None
    if length <= MAX_LINE_BYTES:  # it just fitted, its ending split from it: all in `first`
        return first[:length], length, None
    return first[:RAW_PREFIX_BYTES], length, digest.hexdigest()


def manifest_refusal(batch: Batch) -> Rejection | None:
    """Why a batch's manifest must not be read: the batch folder, or the manifest, is a
    symbolic link leading out of the landing folder (or out of the batch), or the manifest is
    not a regular file. A manifest is data from whoever can write to landing; following such
    a link would copy any file the run's user can read into the warehouse."""
    if storable_name(batch.path.name) != batch.path.name:
        return Rejection(
            R.BAD_IDENTIFIER,
            f"batch folder name {quoted(batch.batch_id)} is not valid UTF-8; its manifest was "
            "not read (rename the folder)",
        )
    landing = batch.path.parent.resolve()
    folder = batch.path.resolve()
    if folder.parent != landing:
        return Rejection(
            R.SYMLINK_ESCAPE,
            f"batch folder {quoted(batch.batch_id)} is a symbolic link leaving the landing "
            "folder; its manifest was not read",
        )
    manifest = batch.manifest.resolve()
    if not manifest.is_relative_to(folder):
        return Rejection(
            R.SYMLINK_ESCAPE,
            f"{MANIFEST_NAME} is a symbolic link leaving the batch folder; it was not read",
        )
    if not stat.S_ISREG(manifest.stat().st_mode):
        return Rejection(R.NOT_A_FILE, f"{MANIFEST_NAME} is not a regular file; it was not read")
    return None


def read_manifest_lines(batch: Batch) -> list[ManifestLine]:
    """Non-blank lines with their 1-based line numbers; lines that are not UTF-8 or too long
    are kept, already rejected, with a storable `raw` (see the module docstring)."""
    refusal = manifest_refusal(batch)
    if refusal is not None:
        # Nothing of a manifest that lives elsewhere is read: one quarantine row (line 0).
        return [ManifestLine(batch.batch_id, 0, "", refusal)]
    lines = []
    for line_no, (chunk, length, sha256) in enumerate(_physical_lines(batch.manifest), start=1):
        if not chunk:
            continue
        if sha256 is not None:
            raw = chunk.decode("utf-8", errors="replace")
            lines.append(
                ManifestLine(
                    batch.batch_id,
                    line_no,
                    raw,
                    Rejection(
                        R.LINE_TOO_LONG,
                        f"line is {length} bytes long (at most {MAX_LINE_BYTES}); sha256 "
                        f"{sha256}; raw keeps its first {len(chunk)} bytes",
                    ),
                )
            )
            continue
        try:
            lines.append(ManifestLine(batch.batch_id, line_no, chunk.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raw = chunk.decode("utf-8", errors="replace")
            problem = f"not UTF-8 (byte {exc.start}: {exc.reason})"
            lines.append(
                ManifestLine(batch.batch_id, line_no, raw, Rejection(R.INVALID_ENCODING, problem))
            )
    return lines


@dataclass
class _Parsed:
    line: ManifestLine
    outcome: ManifestRecord | Rejection
    week: date | None  # None: filed under the batch's home week
    artifact_id: str | None = None  # for a rejected line: its artifact_id if it is valid


def _parse(line: ManifestLine, bounds: WeekBounds) -> _Parsed:
    if line.rejection:
        return _Parsed(line, line.rejection, None)
    examined = examine_line(line.raw)
    outcome, moment = examined.outcome, examined.generated_at
    if moment is None:
        return _Parsed(line, outcome, None, examined.artifact_id)
    week = week_of(moment)
    if bounds.first <= week <= bounds.last:
        return _Parsed(line, outcome, week, examined.artifact_id)
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
    return _Parsed(line, outcome, None, examined.artifact_id)


def _home_week(batch: Batch, parsed: list[_Parsed], bounds: WeekBounds) -> date:
    """Where a batch's lines without a usable timestamp are filed: the batch's earliest week,
    or, when no line has one, the week the manifest was written."""
    weeks = [p.week for p in parsed if p.week is not None]
    if weeks:
        return min(weeks)
    written = datetime.fromtimestamp(batch.manifest.lstat().st_mtime, tz=UTC)
    return bounds.clamp(week_of(written))


def _symlinks_on_the_way(batch_root: Path, relative: str) -> list[str]:
    """The components of `relative` that are symbolic links (best effort, for messages)."""
    links, current = [], batch_root
    for part in Path(relative).parts:
        current = current / part
        try:
            if current.is_symlink():
                links.append(str(current.relative_to(batch_root)))
        except (OSError, ValueError):
            break
    return links


def _through(link: str, relative: str) -> str:
    if Path(link) == Path(relative):
        return " (it is a symbolic link)"
    return f" (through the symbolic link {quoted(link)})"


def _file_problem(batch_root: Path, relative: str, field_name: str) -> Rejection | None:
    """Why `relative` does not name a regular file inside the batch folder, or None.

    The path was already checked lexically (relative, no escape by `..`), so a path that
    resolves outside the batch folder does so through a symbolic link: `symlink_escape`.
    Nothing there (or a dangling link) is `missing_file`; a directory, FIFO, socket, device or
    a symlink loop is `not_a_file`. Nothing is opened here: a FIFO would block its reader."""
    path = batch_root / relative
    shown = f"{field_name} {quoted(relative)}"
    links = _symlinks_on_the_way(batch_root, relative)
    try:
        inside = Path(os.path.realpath(path)).is_relative_to(os.path.realpath(batch_root))
    except (OSError, ValueError) as exc:
        return Rejection(R.NOT_A_FILE, f"{shown} cannot be resolved ({exc})")
    if not inside:
        if links:
            through = _through(links[0], relative)
            return Rejection(
                R.SYMLINK_ESCAPE, f"{shown} resolves outside the batch folder{through}"
            )
        return Rejection(R.UNSAFE_PATH, f"{shown} resolves outside the batch folder")
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(path):
            return Rejection(R.MISSING_FILE, f"{shown} is a broken symbolic link")
        through = _through(links[-1], relative) if links else ""
        return Rejection(R.MISSING_FILE, f"{shown} does not exist{through}")
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # no file can have that name
            return Rejection(R.MISSING_FILE, f"{shown} does not exist ({exc.strerror})")
        if exc.errno == errno.ELOOP:
            return Rejection(R.NOT_A_FILE, f"{shown} is a symbolic link loop")
        return Rejection(R.NOT_A_FILE, f"{shown} cannot be examined ({exc.strerror})")
    except ValueError as exc:
        return Rejection(R.NOT_A_FILE, f"{shown} cannot be examined ({exc})")
    if not stat.S_ISREG(mode):
        return Rejection(R.NOT_A_FILE, f"{shown} is {file_kind(mode)}, not a regular file")
    return None


def decode_error(path: Path) -> str | None:
    """Why the image at `path` cannot be decoded, or None when it can: it must be a regular
    file in a supported format, declare at most `MAX_IMAGE_PIXELS` (checked before decoding),
    and its first frame must decode. Never raises for any file content.

    The same answer as `quality.decode.decode_problem` (open, then a full `load()`), at less
    cost for a plain PNG: its image data is only inflated and its rows' filter bytes checked
    (`ingest.png_check`), which proves that Pillow's decode succeeds; any file not proven that
    way is fully decoded, so every refusal keeps Pillow's own reason."""
    try:
        with open_image(path) as image:
            if image_proven_decodable(image):
                return None
            image.load()
    except Exception as exc:  # an untrusted-input boundary: every failure is an answer
        return describe_failure(exc)
    return None


def _decode_errors(paths: Iterable[Path], workers: int | None) -> dict[Path, str | None]:
    unique = sorted(set(paths))
    # Pillow releases the GIL while decoding, so threads use every core.
    with ThreadPoolExecutor(max_workers=workers or available_cores()) as pool:
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
        if not parsed:
            continue
        home = _home_week(batch, parsed, bounds)
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
            triage.quarantined.append(
                Quarantined(
                    batch.batch_id, p.line.line_no, week, p.artifact_id, p.outcome, p.line.raw
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
