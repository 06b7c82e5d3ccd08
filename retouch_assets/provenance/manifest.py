"""What a C2PA manifest says, as plain data (no `c2pa` import): the claim of a published image
and of a rendition derived from it.

A published image's claim:
- `c2pa.created` with the IPTC digital source type `trainedAlgorithmicMedia`, the generating
  model as software agent and the generation time; the master linked as its ingredient;
- one edit action per healing correction kept (`heal_actions` rows with `passed`), with the
  preset, its fitted parameters and its re-measure: `c2pa.color_adjustments` for the colour
  presets, `c2pa.filtered` for sharpening, `c2pa.edited` for anything else (masked region
  corrections);
- the master as ingredient with relationship `inputTo`. Not `parentOf`: C2PA reserves the
  parent for a manifest whose first action is `c2pa.opened` (an edit of an existing asset),
  and this one is `c2pa.created`, a new asset made by a generative model. Not `componentOf`:
  no pixel of the master is composited into the image (healing never copies master pixels).
  `inputTo` (C2PA 2.1+) says what the master is: an input of the generative process that
  made the image, the reference its colour fidelity is measured and corrected against;
- the generation parameters (`com.retouch-assets.generation`) and the gate results with the
  status and every healing attempt (`com.retouch-assets.gates`) as custom assertions.

A rendition's claim (`rendition_claim`): `c2pa.opened` on the published image as `parentOf`
ingredient (its signed manifest travels along as the ingredient's), then what was done to it.
"""

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cache

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CLAIM_GENERATOR = "retouch_assets"
GENERATION_LABEL = "com.retouch-assets.generation"
GATES_LABEL = "com.retouch-assets.gates"
ACTIONS_LABEL = "c2pa.actions.v2"
MASTER_RELATIONSHIP = "inputTo"
MASTER_INGREDIENT_ID = "master"
PARENT_INGREDIENT_ID = "parent"

COLOR_ADJUSTMENTS = "c2pa.color_adjustments"
FILTERED = "c2pa.filtered"
EDITED = "c2pa.edited"
# The edit action of a healing preset; presets not listed (masked corrections) are c2pa.edited.
_PRESET_ACTIONS = {
    "white_balance": COLOR_ADJUSTMENTS,
    "colour_matrix": COLOR_ADJUSTMENTS,
    "sharpen": FILTERED,
    "sharpening": FILTERED,
    "unsharp_mask": FILTERED,
}

# The generation parameters of an artifact, as its published file states them.
GENERATION_PARAMETERS = (
    "model_version",
    "retouch_version",
    "prompt",
    "prompt_version",
    "prompt_hash",
    "negative_prompt",
    "sampler",
    "seed",
    "steps",
    "cfg_scale",
)
# The generation facts of a published image (`gates.publish.provenance`) its claim asserts.
GENERATION_FIELDS = (
    "artifact_id",
    "attempt",
    "campaign_id",
    "template_id",
    "channel",
    "generated_at",
    *GENERATION_PARAMETERS,
)
GATE_FIELDS = ("status", "final_delta_e_mean", "final_hist_delta_pct", "heal_actions", "gates")


@cache
def generator_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("retouch-assets")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def claim_generator() -> str:
    """`retouch_assets/<version>`, as readers show the claim generator."""
    return f"{CLAIM_GENERATOR}/{generator_version()}"


def plain(value):
    """JSON-safe: NaN and infinities become None (C2PA's CBOR takes no JSON NaN), tuples
    lists, anything else not JSON its string."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


@dataclass(frozen=True)
class Ingredient:
    """A file the claim names, with its bytes (hashed into the manifest by the library)."""

    title: str
    mime: str
    data: bytes = field(repr=False)
    relationship: str
    ingredient_id: str

    def definition(self) -> dict:
        return {"title": self.title, "relationship": self.relationship, "label": self.ingredient_id}


@dataclass(frozen=True)
class Claim:
    """What one signed file says: its title, actions (the first is c2pa.created or
    c2pa.opened), custom assertions (label -> data) and ingredients."""

    title: str
    actions: tuple[dict, ...]
    assertions: tuple[tuple[str, dict], ...] = ()
    ingredients: tuple[Ingredient, ...] = ()

    def definition(self, mime: str) -> dict:
        """The manifest definition the C2PA builder takes."""
        return {
            "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": generator_version()}],
            "title": self.title,
            "format": mime,
            "assertions": [
                {"label": ACTIONS_LABEL, "data": {"actions": [plain(a) for a in self.actions]}},
                *({"label": label, "data": plain(data)} for label, data in self.assertions),
            ],
        }

    def digest(self, mime: str) -> str:
        """sha256 of everything this claim signs but the asset: the definition and each
        ingredient's definition, format and bytes."""
        content = {
            "definition": self.definition(mime),
            "ingredients": [
                [i.definition(), i.mime, hashlib.sha256(i.data).hexdigest()]
                for i in self.ingredients
            ],
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def edit_action(heal_action: dict) -> dict:
    """The C2PA edit action of one kept healing correction, with its parameters."""
    preset = heal_action["preset"]
    parameters = {k: v for k, v in heal_action.items() if k not in ("passed",)}
    return {
        "action": _PRESET_ACTIONS.get(preset, EDITED),
        "softwareAgent": {"name": CLAIM_GENERATOR, "version": generator_version()},
        "description": f"self-healing preset {preset}: a bounded correction fitted against the "
        "master, kept because the colour gate passed on re-measure",
        "parameters": {"com.retouch-assets.heal": parameters},
    }


def publication_claim(facts: dict, title: str, master: Ingredient) -> Claim:
    """The claim of a published image from its provenance facts (`gates.publish.provenance`)."""
    created = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": {"name": str(facts.get("model_version") or "unknown model")},
        "when": facts.get("generated_at"),
        "parameters": {"ingredientIds": [master.ingredient_id]},
    }
    if created["when"] is None:
        del created["when"]
    kept = [a for a in facts.get("heal_actions") or [] if a.get("passed")]
    return Claim(
        title=title,
        actions=(created, *(edit_action(a) for a in kept)),
        assertions=(
            (GENERATION_LABEL, {k: facts.get(k) for k in GENERATION_FIELDS}),
            (GATES_LABEL, {k: facts.get(k) for k in GATE_FIELDS}),
        ),
        ingredients=(master,),
    )


def master_ingredient(title: str, data: bytes) -> Ingredient:
    return Ingredient(title, sniff_mime(data), data, MASTER_RELATIONSHIP, MASTER_INGREDIENT_ID)


def rendition_claim(
    published: bytes,
    published_title: str,
    title: str,
    actions: list[dict] | tuple[dict, ...] = (),
    assertions: tuple[tuple[str, dict], ...] = (),
) -> Claim:
    """The claim of a file derived from a published image (a channel rendition): opened from
    the signed published image (`parentOf`, its manifest carried as the ingredient's), then
    `actions`, e.g. `rendition_actions(...)`."""
    parent = Ingredient(
        published_title, sniff_mime(published), published, "parentOf", PARENT_INGREDIENT_ID
    )
    opened = {"action": "c2pa.opened", "parameters": {"ingredientIds": [PARENT_INGREDIENT_ID]}}
    return Claim(title, (opened, *actions), assertions, (parent,))


def rendition_actions(width: int, height: int, mime: str, **parameters) -> list[dict]:
    """Resized to `width`×`height` and converted to `mime` (parameters: quality, ...)."""
    agent = {"name": CLAIM_GENERATOR, "version": generator_version()}
    return [
        {
            "action": "c2pa.resized",
            "softwareAgent": agent,
            "parameters": {"width": width, "height": height},
        },
        {
            "action": "c2pa.converted",
            "softwareAgent": agent,
            "parameters": {"format": mime, **parameters},
        },
    ]


_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"WEBP", 8, "image/webp"),
    (b"ftypavif", 4, "image/avif"),
    (b"ftypavis", 4, "image/avif"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
    (b"GIF8", 0, "image/gif"),
)


def sniff_mime(data: bytes) -> str:
    """The image format of `data` from its signature (application/octet-stream if unknown)."""
    for magic, offset, mime in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return mime
    return "application/octet-stream"
