"""Files the project writes: names made from identifiers safely, paths kept inside their root,
and writes that are atomic.

Identifiers come from manifests, i.e. from whoever can drop a batch into landing. They are data,
never path components: a file name is a slug of the id (letters, digits, `-`, `_`, at most
`SLUG_MAX` characters) plus a short hash of the full id, so two ids never share a name, the name
is stable across runs, and it stays far below filesystem limits whatever the id holds
(`../../x`, `/etc/passwd`, 300 characters, NUL bytes, emoji). Every write path is resolved and
checked to lie inside its root before anything is written.
"""

import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

SLUG_MAX = 60
ID_HASH_CHARS = 10  # 40 bits of sha256: collisions need ~10^6 ids sharing one slug
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
TEMP_PREFIX = ".tmp-"


class UnsafePath(ValueError):
    """A path that would leave its root folder."""


def slug(identifier: str) -> str:
    """Letters, digits, `-` and `_` of the identifier (accents folded), at most SLUG_MAX."""
    folded = unicodedata.normalize("NFKD", identifier).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE.sub("-", folded).strip("-_")[:SLUG_MAX].strip("-_")
    return text or "id"


def id_hash(identifier: str) -> str:
    data = identifier.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:ID_HASH_CHARS]


def safe_stem(identifier: str, attempt: int | None = None) -> str:
    """A stable, collision-free file stem for an identifier (and attempt)."""
    stem = f"{slug(identifier)}-{id_hash(identifier)}"
    return f"{stem}_a{attempt}" if attempt is not None else stem


def inside(root: Path, *parts: str) -> Path:
    """`root/parts...`, resolved, refusing anything that resolves outside `root`."""
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if path != base and not path.is_relative_to(base):
        raise UnsafePath(f"{path} is outside {base}")
    return path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic(root: Path, relative: str, data: bytes) -> Path:
    """Write `data` to `root/relative` through a temporary name in the same folder and a
    rename, so a reader (or a crash) sees the old file or the new one, never half of one."""
    target = inside(root, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f"{TEMP_PREFIX}{target.name}.{os.getpid()}")
    with temp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)
    return target


def write_text_atomic(root: Path, relative: str, text: str) -> Path:
    return write_atomic(root, relative, text.encode("utf-8"))


def remove_stale(folder: Path, keep: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Delete the files of `folder` (not sub-folders) that are not in `keep`, and leftover
    temporary files; returns what was removed."""
    if not folder.is_dir():
        return []
    kept = {Path(p).resolve() for p in keep}
    removed = []
    for child in folder.iterdir():
        if child.is_file() and not child.is_symlink() and child.resolve() not in kept:
            child.unlink()
            removed.append(child)
    return removed
