"""C2PA signing of channel renditions: the `finalise` hook `render_week` passes every
rendition's bytes through before its budget is judged and its file written.

A rendition carries the published image's claim (`provenance.manifest.publication_claim`:
`c2pa.created` as trainedAlgorithmicMedia, an edit action per kept healing correction, the
master as `inputTo` ingredient, the generation and gate assertions) followed by
`c2pa.resized` and `c2pa.converted`. It cannot name the signed published PNG as its parent:
renditions are made before publication (they feed the delivery SLI, which publication's
freezes depend on), so each rendition is signed as a sibling of the PNG from the same facts.

Signatures carry random instance ids, so signing the same bytes twice gives different files.
A re-run keeps a rendition's existing signed file when everything its signature covers is
unchanged (`c2pa_input_sha256`: the unsigned bytes, the claim and the certificate) and the
file is in place with its recorded hash — as publication does for the PNG.
"""

import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from retouch_assets.delivery.renditions import RenditionContext
from retouch_assets.gates.publish import Signer, read_master, signing_input_sha256
from retouch_assets.provenance.manifest import (
    Claim,
    master_ingredient,
    publication_claim,
    rendition_actions,
)
from retouch_assets.safe_paths import sha256_bytes, sha256_file

# (artifact_id, attempt, channel, format, width): a rendition's identity within a week.
RenditionKey = tuple[str, int, str, str, int]


def rendition_key_of(context: RenditionContext) -> RenditionKey:
    return (context.artifact_id, context.attempt, context.channel, context.format, context.width)


def rendition_claim_of(
    context: RenditionContext, master_name: str, master: bytes, mime: str
) -> Claim:
    """The claim of one rendition (see the module docstring)."""
    title = f"{context.artifact_id} attempt {context.attempt}: {context.channel} {context.width}w"
    published = publication_claim(context.provenance, title, master_ingredient(master_name, master))
    return Claim(
        title=title,
        actions=(*published.actions, *rendition_actions(context.width, context.height, mime)),
        assertions=published.assertions,
        ingredients=published.ingredients,
    )


class RenditionSigner:
    """`finalise(data, mime, context) -> signed bytes`, recording per rendition the unsigned
    bytes' hash and the signing input's (`columns(key)`) for the rendition's row.
    Thread-safe: `render_week` renders images on a thread pool."""

    def __init__(
        self,
        signer: Signer,
        master_of: Callable[[str, int], Path],
        previous: dict[RenditionKey, dict],
    ) -> None:
        self._signer = signer
        self._master_of = master_of
        self._previous = previous
        self._columns: dict[RenditionKey, dict] = {}
        self._lock = threading.Lock()
        self.signed = 0
        self.kept = 0
        # Masters are shared by many renditions: each read once while it is in use.
        self._master_bytes = lru_cache(maxsize=16)(read_master)

    def can_sign(self, artifact_id: str, attempt: int) -> bool:
        """Whether the artifact's master can be read (it is every claim's ingredient)."""
        return self._master_bytes(self._master_of(artifact_id, attempt)) is not None

    def __call__(self, data: bytes, mime: str, context: RenditionContext) -> bytes:
        master = self._master_of(context.artifact_id, context.attempt)
        master_bytes = self._master_bytes(master)
        if master_bytes is None:  # `can_sign` keeps such an image out of the renditions
            raise FileNotFoundError(f"master no longer readable: {master}")
        claim = rendition_claim_of(context, master.name, master_bytes, mime)
        unsigned = sha256_bytes(data)
        inputs = signing_input_sha256(unsigned, claim, self._signer.key, mime)
        key = rendition_key_of(context)
        kept = _kept_file(self._previous.get(key), inputs)
        signed = kept if kept is not None else self._signer.sign(data, mime, claim)
        with self._lock:
            self._columns[key] = {"unsigned_sha256": unsigned, "c2pa_input_sha256": inputs}
            if kept is None:
                self.signed += 1
            else:
                self.kept += 1
        return signed

    def columns(self, row: dict) -> dict:
        """The signing columns of a rendition row (`render_week`'s rows)."""
        key = (row["artifact_id"], row["attempt"], row["channel"], row["format"], row["width"])
        return self._columns.get(key, {"unsigned_sha256": None, "c2pa_input_sha256": None})


def _kept_file(previous: dict | None, inputs: str) -> bytes | None:
    """The previous run's signed bytes of a rendition signed from the same input, when its file
    is in place with its recorded hash."""
    if not previous or previous.get("c2pa_input_sha256") != inputs:
        return None
    path = Path(previous["path"])
    try:
        if sha256_file(path) != previous["sha256"]:
            return None
        return path.read_bytes()
    except OSError:
        return None


def previous_by_key(week_renditions: dict[tuple, list[dict]]) -> dict[RenditionKey, dict]:
    """The week's previous rendition rows (`delivery.queries.week_renditions`) by rendition."""
    return {
        (r["artifact_id"], r["attempt"], r["channel"], r["format"], r["width"]): r
        for rows in week_renditions.values()
        for r in rows
    }
