"""CLIP scores of a week's artifacts, from embeddings to rows: the prompt-image score, prompt
drift against the template's approved prompt with a word-level diff, and the rank of each
artifact among the variants of its campaign × template (pre-selection before review).

Pure functions over plain data and numpy arrays; the runtime that computes the embeddings is
`retouch_assets.clip.runtime`, and the Dagster step is `defs/quality`.
"""

import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from retouch_assets.config import RetouchConfig, TemplateEntry
from retouch_assets.ingest.manifest import prompt_sha256
from retouch_assets.vocabulary import DriftStatus

# The cache key of a prompt (with the model hash): the sha256 ingest records as `prompt_hash`.
prompt_hash = prompt_sha256


def resolve_model_dir(
    config: RetouchConfig, config_path: str | Path, override: str | None
) -> Path | None:
    """The CLIP model folder of a run: the override (environment or `--clip-model`), else
    `clip.model_dir` of the config, relative to the config file's folder; None when neither
    names one (CLIP scoring not configured)."""
    if override:
        return Path(override)
    if not config.clip.model_dir:
        return None
    path = Path(config.clip.model_dir)
    return path if path.is_absolute() else Path(config_path).parent / path


def word_diff(approved: str, prompt: str) -> str:
    """The prompt against the approved prompt, word by word, in wdiff's notation: `[-gone-]`
    and `{+new+}` around changed words; "" when they are the same."""
    old, new = approved.split(), prompt.split()
    if old == new:
        return ""
    parts: list[str] = []
    for op, a0, a1, b0, b1 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            parts += old[a0:a1]
            continue
        if op in ("delete", "replace"):
            parts.append("[-" + " ".join(old[a0:a1]) + "-]")
        if op in ("insert", "replace"):
            parts.append("{+" + " ".join(new[b0:b1]) + "+}")
    return " ".join(parts)


@dataclass(frozen=True)
class TextEmbedding:
    vector: np.ndarray  # float32, L2-normalised
    truncated: bool


@dataclass(frozen=True)
class ModelFacts:
    """What every score records about the model that computed it."""

    model_name: str
    model_hash: str
    untrained: bool
    provider: str
    precision: str = "fp32"  # the image tower's

    @property
    def text_precision(self) -> str:
        """The text tower's precision (fp16 on CUDA; fp32 otherwise, int8 included)."""
        return "fp16" if self.precision == "fp16" else "fp32"


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    # Both are L2-normalised by the runtime; clip guards the last ulp of rounding.
    return float(np.clip(np.dot(a.astype(np.float64), b.astype(np.float64)), -1.0, 1.0))


def drift_status(
    template: TemplateEntry | None, model: ModelFacts, judge_untrained: bool
) -> DriftStatus:
    if template is None:
        return DriftStatus.NO_APPROVED_PROMPT
    if model.untrained and not judge_untrained:
        return DriftStatus.UNTRAINED_MODEL
    return DriftStatus.SCORED


def score_rows(
    week: date,
    generations: Sequence[Mapping],
    image_embeddings: np.ndarray,
    image_errors: Sequence[str | None],
    texts: Mapping[str, TextEmbedding],
    config: RetouchConfig,
    model: ModelFacts,
) -> list[dict]:
    """`retouch.clip_scores` rows: one per generation (same order as `image_embeddings`).
    `texts` maps prompt hashes (of every prompt and every approved prompt) to embeddings."""
    rows = []
    for g, image, error in zip(generations, image_embeddings, image_errors, strict=True):
        template = config.templates.get(g["template_id"])
        text = texts[prompt_hash(g["prompt"])]
        row = _identity(week, g) | {
            "model_name": model.model_name,
            "model_hash": model.model_hash,
            "untrained": model.untrained,
            "provider": model.provider,
            "precision": model.precision,
            "prompt_truncated": text.truncated,
            "approved_prompt_version": template.prompt_version if template else None,
            "prompt_drift_status": drift_status(
                template, model, config.gates.prompt_drift.judge_untrained
            ),
            "error": error,
        }
        if template is not None:
            approved = texts[prompt_hash(template.approved_prompt)]
            # Rounding can put an unchanged prompt a hair below zero: distances are >= 0.
            row["prompt_drift"] = max(0.0, 1.0 - _cosine(text.vector, approved.vector))
            row["prompt_diff"] = word_diff(template.approved_prompt, g["prompt"])
        # An unreadable image has no clip_score; its drift (text only) is still valid.
        if error is None:
            cos = _cosine(image, text.vector)
            row["clip_score"] = cos
            row["clip_score_100"] = 100.0 * max(cos, 0.0)
        rows.append(row)
    rank_variants(rows)
    return rows


def not_configured_rows(week: date, generations: Sequence[Mapping]) -> list[dict]:
    """Rows saying that no CLIP model scored these artifacts: every score NULL."""
    return [
        _identity(week, g) | {"prompt_drift_status": DriftStatus.NOT_CONFIGURED}
        for g in generations
    ]


def _identity(week: date, g: Mapping) -> dict:
    return {
        "artifact_id": g["artifact_id"],
        "attempt": g["attempt"],
        "week": week,
        "campaign_id": g["campaign_id"],
        "template_id": g["template_id"],
        "prompt_version": g["prompt_version"],
        "prompt_hash": prompt_hash(g["prompt"]),
    }


def rank_variants(rows: list[dict]) -> None:
    """Set `rank_in_group` (1 = best clip_score) and `group_size` (artifacts) within each
    campaign × template of the week. Only an artifact's latest attempt competes (an earlier
    one was superseded: no rank); ties share the better rank; unscored rows have no rank."""
    latest: dict[str, int] = {}
    for row in rows:
        latest[row["artifact_id"]] = max(row["attempt"], latest.get(row["artifact_id"], 0))
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["campaign_id"], row["template_id"]), []).append(row)
    for members in groups.values():
        current = [r for r in members if r["attempt"] == latest[r["artifact_id"]]]
        scored = sorted(
            (r for r in current if r.get("clip_score") is not None),
            key=lambda r: -r["clip_score"],
        )
        rank, previous = 0, None
        for position, row in enumerate(scored, start=1):
            if row["clip_score"] != previous:
                rank, previous = position, row["clip_score"]
            row["rank_in_group"] = rank
        for row in members:
            row["group_size"] = len(current)


def prompts_to_embed(generations: Sequence[Mapping], config: RetouchConfig) -> dict[str, str]:
    """prompt hash -> text of every prompt of the week and the approved prompts of its
    templates (each distinct text once)."""
    texts = {prompt_hash(g["prompt"]): g["prompt"] for g in generations}
    for template_id in {g["template_id"] for g in generations}:
        template = config.templates.get(template_id)
        if template is not None:
            texts[prompt_hash(template.approved_prompt)] = template.approved_prompt
    return texts


def templates_without_approved_prompt(
    generations: Sequence[Mapping], config: RetouchConfig
) -> list[str]:
    return sorted({g["template_id"] for g in generations} - set(config.templates))


def quality_fields(row: Mapping) -> dict:
    """The columns a `retouch.clip_scores` row contributes to `retouch.artifact_quality`."""
    return {
        "clip_score": row.get("clip_score"),
        "prompt_drift": row.get("prompt_drift"),
        "prompt_drift_status": row["prompt_drift_status"],
        "clip_model_hash": row.get("model_hash"),
        "clip_untrained": row.get("untrained"),
    }


class TextEncoder(Protocol):
    def encode_texts(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]: ...


def embed_texts(
    encoder: TextEncoder,
    texts: Mapping[str, str],
    cached: Mapping[str, tuple[Sequence[float], bool]],
    model: ModelFacts,
    now: datetime,
) -> tuple[dict[str, TextEmbedding], list[dict]]:
    """Embeddings of every text (hash -> text), encoding only those not in `cached`; returns
    them and the `retouch.text_embeddings` rows to add to the cache."""
    found = {
        h: TextEmbedding(np.asarray(vector, dtype=np.float32), bool(truncated))
        for h, (vector, truncated) in cached.items()
        if h in texts
    }
    missing = [h for h in texts if h not in found]
    rows = []
    if missing:
        vectors, truncated = encoder.encode_texts([texts[h] for h in missing])
        for h, vector, cut in zip(missing, vectors, truncated, strict=True):
            found[h] = TextEmbedding(np.asarray(vector, dtype=np.float32), bool(cut))
            rows.append(
                {
                    "model_hash": model.model_hash,
                    "text_precision": model.text_precision,
                    "prompt_hash": h,
                    "embedding": [float(x) for x in vector],
                    "truncated": bool(cut),
                    "created_at": now,
                }
            )
    return found, rows


def score_metadata(
    model: Mapping,
    rows: Sequence[Mapping],
    image_errors: Sequence[str | None],
    texts: int,
    encoded: int,
    unapproved: Sequence[str],
    elapsed_s: float,
) -> dict:
    """What the CLIP step reports about a week: the model and where it ran (and why), speed,
    the text cache, truncated prompts, and how the drift of each artifact was judged."""
    statuses = Counter(r["prompt_drift_status"] for r in rows)
    return {
        "clip_model": model["model_name"],
        "model_hash": model["model_hash"],
        "untrained": model["untrained"],
        "provider": model["provider"],
        "provider_reason": model["provider_reason"],
        "precision": model["precision"],
        "images_per_second": round(len(rows) / elapsed_s, 1) if elapsed_s > 0 else None,
        "image_errors": sum(1 for e in image_errors if e),
        "text_embeddings_cached": texts - encoded,
        "text_embeddings_encoded": encoded,
        "prompts_truncated": sum(1 for r in rows if r.get("prompt_truncated")),
        "templates_without_approved_prompt": list(unapproved),
        **{f"drift_status/{s}": statuses.get(s, 0) for s in DriftStatus},
    }


NOT_CONFIGURED_HINT = (
    "no CLIP model configured: clip_score and prompt_drift stay NULL and the prompt-drift gate "
    "is not evaluated. Fix: export one with `retouch clip export --model ViT-B-32 --pretrained "
    "<checkpoint> --out models/clip-vit-b-32` (needs the `clip` extra) and set clip.model_dir "
    "in retouch-slo.yaml, RETOUCH_CLIP_MODEL, or `retouch run --clip-model DIR`"
)
UNTRAINED_HINT = (
    "the CLIP model has no trained weights (exported with --pretrained none): its scores "
    "exercise the plumbing, not the judgement, and the prompt-drift gate does not judge them"
)
