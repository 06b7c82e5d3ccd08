"""A deterministic sample landing folder built from real photographs shipped with scikit-image.

Masters are real photos with each template's text layers rendered on them. Outputs are the
"generated/retouched" versions with realistic, varied defects: global colour casts of different
strengths (in linear light), local edits, soft renders and local tints (the sharpening and
masking presets' cases), low-contrast text, JPEG re-encodes, near-duplicates,
slow processing, reprocessing attempts; across campaigns, templates, channels, prompt versions
and model versions. A few lines of each kind the input contract rejects are mixed in.
"""

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from retouch_assets.quality.icc import DISPLAY_P3, encode_in_profile, matrix_trc_profile

DEFAULT_START_WEEK = date(2026, 10, 5)  # a Monday
IMAGE_SIZE = (480, 320)  # width, height: small enough for a quick demo, large enough to measure


@dataclass(frozen=True)
class TemplateSpec:
    template_id: str
    photo: str
    campaign_id: str
    prompt: str
    headline: str
    headline_fg: str
    headline_bg: str
    legal_fg: str


TEMPLATES = [
    TemplateSpec(
        "tpl-coffee-hero",
        "coffee",
        "cmp-autumn-roast",
        "studio photo of a cappuccino on a saucer, warm morning light, shallow depth of field",
        "Autumn Roast",
        "#FFFFFF",
        "#5A3A1E",
        "#FFFFFF",
    ),
    TemplateSpec(
        "tpl-launch-banner",
        "rocket",
        "cmp-launch-week",
        "rocket on the launch pad at dawn, clear sky, dramatic wide angle",
        "Launch Week",
        "#FFFFFF",
        "#1B2A49",
        "#FFFFFF",
    ),
    TemplateSpec(
        "tpl-pet-care",
        "chelsea",
        "cmp-pet-care",
        "close-up portrait of a tabby cat, soft natural light, calm mood",
        "Happy Cats",
        "#1A1A1A",
        "#F2E6C9",
        "#FFFFFF",
    ),
    TemplateSpec(
        "tpl-astro-event",
        "astronaut",
        "cmp-launch-week",
        "astronaut portrait in a white suit holding a helmet, flag behind, studio lighting",
        "Meet the Crew",
        "#FFFFFF",
        "#0B3D91",
        "#FFFFFF",
    ),
    TemplateSpec(
        "tpl-moto-promo",
        "motorcycle",
        "cmp-ride-season",
        "sport motorcycle in a garage, stereo product shot, even lighting",
        "Ride Season",
        "#FFFFFF",
        "#B3261E",
        "#000000",
    ),
]
CHANNELS = ["web", "social", "email", "display"]
SAMPLERS = ["dpmpp_2m", "euler_a", "ddim"]
OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]
# Text colours a designer might pick that fail WCAG AA on their background.
LOW_CONTRAST_FG = {"#FFFFFF": "#707070", "#1A1A1A": "#B8A88A", "#000000": "#8A8A8A"}

# Defect kinds and their weights for a first attempt. A healthy pipeline misses the colour
# SLO (ΔE <= 1.0 for 95 %) for a few percent of its artifacts; the newer model version doubles
# the casts, a regression the SLOs and the guardrail must see. (wrong_size is also forced once.)
DEFECTS = [
    "clean",
    "mild_cast",
    "strong_cast",
    "local_edit",
    "low_contrast",
    "jpeg",
    "near_dup",
    "display_p3",
    "wrong_size",
]
WEIGHTS_STABLE = [0.905, 0.02, 0.015, 0.005, 0.005, 0.01, 0.02, 0.02, 0.0]
WEIGHTS_NEW_MODEL = [0.68, 0.08, 0.12, 0.03, 0.01, 0.03, 0.02, 0.03, 0.0]

# Defects the healing presets exist for, turned from clean first attempts of the newer model
# by a generator of their own (so every other artifact keeps its bytes), and forced once each
# in the last week: a soft render (sharpening) and a local tint under a soft-edged box
# (masking).
PRESET_DEFECTS = {"soft": 0.06, "local_tint": 0.1}

INVALID_KINDS = [
    "invalid_json",
    "missing_field",
    "wrong_type",
    "bad_timestamp",
    "bad_colour",
    "duplicate_key",
    "prompt_hash_mismatch",
    "negative_time",
    "absolute_path",
    "path_escape",
    "missing_file",
    "undecodable_image",
]


@dataclass
class SampleSummary:
    root: Path
    batches: int = 0
    lines: int = 0
    artifacts: int = 0
    invalid_lines: int = 0
    defects: dict[str, int] = field(default_factory=dict)


def _delivery_fields(record: dict[str, Any], spec: TemplateSpec, counter: int) -> None:
    """The optional delivery fields of issue 15 part 5 (owned by the renditions work): alt text
    and usage rights on most lines; every ninth artifact has no alt text and every fourth no
    rights (reported by the run, never rejected). Derived from the counter, not drawn from the
    random stream, so the rest of the sample is byte for byte what it was."""
    if counter % 9:
        record["alt_text"] = f"{spec.headline}: {spec.prompt.split(',')[0]}"
    if counter % 4:
        record["creator"] = "Retouch Studio"
        record["credit_text"] = "Retouch Studio / generated with sdxl"
        record["copyright_notice"] = "© 2026 Example Brands GmbH"
        record["usage_terms"] = f"Campaign {spec.campaign_id} only; web and social channels"
        record["license_url"] = "https://brands.example.com/licenses/campaign-2026"
        record["acquire_license_url"] = "https://brands.example.com/licensing"
        record["rights_expire_at"] = "2027-06-30T23:59:59+02:00"


def _photo(name: str) -> np.ndarray:
    from skimage import data

    image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    return np.asarray(image[..., :3], dtype=np.uint8)


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop to the target aspect ratio, then resize with Lanczos."""
    width, height = size
    h, w = image.shape[:2]
    target = width / height
    if w / h > target:
        new_w = int(round(h * target))
        x0 = (w - new_w) // 2
        image = image[:, x0 : x0 + new_w]
    else:
        new_h = int(round(w / target))
        y0 = (h - new_h) // 2
        image = image[y0 : y0 + new_h]
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def _framing(
    photo: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = IMAGE_SIZE
) -> np.ndarray:
    """A different framing of the template's photo for each artifact (zoom 1.15-2.2x, shifted,
    sometimes mirrored), so that distinct artifacts have distinct perceptual hashes."""
    if rng.random() < 0.5:
        photo = photo[:, ::-1]
    h, w = photo.shape[:2]
    zoom = float(rng.uniform(1.15, 2.2))
    ch, cw = int(h / zoom), int(w / zoom)
    y0 = int(rng.integers(0, h - ch + 1))
    x0 = int(rng.integers(0, w - cw + 1))
    return _fit(photo[y0 : y0 + ch, x0 : x0 + cw], size)


def _to_linear(srgb: np.ndarray) -> np.ndarray:
    c = srgb.astype(np.float32) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _to_srgb8(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    c = np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)
    return np.clip(np.rint(c * 255.0), 0, 255).astype(np.uint8)


def _layers(
    spec: TemplateSpec, headline_fg: str, legal_fg: str, size: tuple[int, int] = IMAGE_SIZE
) -> list[dict[str, Any]]:
    height = size[1]
    return [
        {
            "id": "headline",
            "text": spec.headline,
            "fg": headline_fg,
            "bg": spec.headline_bg,
            "bbox": [16, 16, 250, 44],
            "font_px": 28,
            "bold": True,
        },
        {
            "id": "legal",
            "text": "Terms apply. See site for details.",
            "fg": legal_fg,
            "bg": None,
            "bbox": [16, height - 30, 260, 20],
            "font_px": 14,
            "bold": False,
        },
    ]


def _render_layers(pixels: np.ndarray, layers: list[dict[str, Any]]) -> np.ndarray:
    pixels = pixels.copy()
    for layer in layers:
        if not layer["bg"]:
            # Text straight on the photo sits on a scrim (darkened for light text, lightened
            # for dark text), as designers do; its contrast is measured from the pixels.
            x, y, w, h = layer["bbox"]
            region = pixels[y : y + h, x : x + w].astype(np.float32)
            light_text = sum(int(layer["fg"][i : i + 2], 16) for i in (1, 3, 5)) > 384
            scrim = region * 0.3 if light_text else 255 - (255 - region) * 0.3
            pixels[y : y + h, x : x + w] = np.rint(scrim).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for layer in layers:
        x, y, w, h = layer["bbox"]
        if layer["bg"]:
            draw.rectangle([x, y, x + w - 1, y + h - 1], fill=layer["bg"])
        font = ImageFont.load_default(size=layer["font_px"])
        draw.text(
            (x + 8, y + (h - layer["font_px"]) // 2 - 1),
            layer["text"],
            fill=layer["fg"],
            font=font,
            stroke_width=1 if layer["bold"] else 0,
            stroke_fill=layer["fg"],
        )
    return np.asarray(image)


def _generation_noise(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The generated background: the master's photo with sub-level sensor-like noise."""
    linear = _to_linear(photo)
    noise = rng.normal(0.0, 0.6, linear.shape).astype(np.float32) / 255.0
    return _to_srgb8(linear + noise * (linear + 0.05))


def _retouch_defect(image: np.ndarray, defect: str, rng: np.random.Generator) -> np.ndarray:
    """What the retouch step does to the whole composed frame: a global colour cast of some
    strength (gains in linear light, as a wrong LUT or white point would), or a local edit."""
    if defect == "mild_cast":
        gains = 1.0 + rng.uniform(-0.025, 0.025, 3)
    elif defect == "strong_cast":
        gains = 1.0 + rng.uniform(0.05, 0.12, 3) * rng.choice([-1, 1], 3)
    elif defect == "local_edit":
        gains = np.ones(3)
    elif defect == "wrong_size":
        # Rendered at the wrong aspect ratio: cannot be compared with its master.
        return np.asarray(Image.fromarray(image).resize((image.shape[1] - 24, image.shape[0])))
    else:
        return image
    out = _to_linear(image) * gains.astype(np.float32)
    if defect == "local_edit":
        h, w = out.shape[:2]
        y0, x0 = int(rng.integers(h // 4, h // 2)), int(rng.integers(w // 4, w // 2))
        region = out[y0 : y0 + h // 3, x0 : x0 + w // 3]
        region[...] = region[..., [1, 2, 0]] * 0.6 + region * 0.4  # a hue swap, like an inpaint
    return _to_srgb8(out)


def _preset_defect(image: np.ndarray, defect: str, rng: np.random.Generator) -> np.ndarray:
    """A soft render of the photo (Gaussian blur, sigma 0.5-0.6: detail lost, colours kept; the
    text layers composed on it afterwards stay crisp) or a local tint of the composed frame
    (gains of 1 ± 0.15-0.25 in linear light under a soft-edged box of ~16 % of the frame), as
    `PRESET_DEFECTS` draws them."""
    from scipy.ndimage import gaussian_filter

    if defect == "soft":
        sigma = float(rng.uniform(0.5, 0.6))
        blurred = gaussian_filter(image.astype(np.float32), (sigma, sigma, 0), mode="nearest")
        return np.clip(np.rint(blurred), 0, 255).astype(np.uint8)
    h, w = image.shape[:2]
    bh, bw = int(h * 0.4), int(w * 0.4)
    y0, x0 = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
    mask = np.zeros((h, w), np.float32)
    mask[y0 : y0 + bh, x0 : x0 + bw] = 1.0
    mask = gaussian_filter(mask, 3.0)[..., None]
    gains = (1.0 + rng.uniform(0.15, 0.25, 3) * rng.choice([-1, 1], 3)).astype(np.float32)
    linear = _to_linear(image)
    return _to_srgb8(linear + (gains - 1.0) * linear * mask)


def _near_duplicate(source: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    jitter = rng.integers(-2, 3, source.shape)
    return np.clip(source.astype(np.int16) + jitter, 0, 255).astype(np.uint8)


def _timestamp(moment: datetime, rng: np.random.Generator) -> str:
    offset = OFFSETS[int(rng.integers(len(OFFSETS)))]
    text = moment.astimezone(offset).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if rng.random() < 0.5 else text


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # Level 1: the sample is about pixels, not file size, and it writes a few hundred.
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _save(pixels: np.ndarray, path: Path, jpeg: bool, icc_profile: bytes | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    if icc_profile is not None:
        image.save(path, format="PNG", compress_level=1, icc_profile=icc_profile)
    elif jpeg:
        image.save(path, format="JPEG", quality=90, subsampling=0)
    else:
        image.save(path, format="PNG", compress_level=1)


def _processing_ms(rng: np.random.Generator, slow: bool) -> int:
    if slow:
        return int(rng.uniform(95_000, 240_000))
    return int(min(rng.lognormal(np.log(25_000), 0.45), 85_000))


def generate_sample(
    out: Path,
    weeks: int = 4,
    per_week: int = 40,
    seed: int = 7,
    start_week: date = DEFAULT_START_WEEK,
    on_artifact: Callable[[], object] | None = None,
    image_size: tuple[int, int] = IMAGE_SIZE,
    shared_masters: int | None = None,
) -> SampleSummary:
    """Write `weeks` weeks of landing batches (two per week) under `out`; same seed, same
    bytes. Returns what was written.

    `image_size` (width, height) scales every image; `shared_masters` draws each artifact's
    master from a pool of that many (production reuses a few masters across many outputs;
    the default gives every artifact its own). Neither changes the default sample's bytes."""
    if weeks < 1 or per_week < 1:
        raise ValueError("weeks and per_week must be at least 1")
    if shared_masters is not None and shared_masters < 1:
        raise ValueError("shared_masters must be at least 1")
    if start_week.weekday() != 0:
        raise ValueError(f"start_week {start_week} is not a Monday")
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    summary = SampleSummary(root=out)
    photos = {spec.photo: _photo(spec.photo) for spec in TEMPLATES}
    p3_profile = matrix_trc_profile("Display P3 (retouch_assets sample)", DISPLAY_P3)
    # The shared masters come from a generator of their own, so the default sample's stream
    # of draws is the same with or without them.
    pool_rng = np.random.default_rng([seed, 1])
    preset_rng = np.random.default_rng([seed, 2])
    forced_presets = list(PRESET_DEFECTS)
    pool: list[tuple[str, TemplateSpec, np.ndarray, bytes]] = []
    for k in range(shared_masters or 0):
        pool_spec = TEMPLATES[k % len(TEMPLATES)]
        pool_photo = _framing(photos[pool_spec.photo], pool_rng, image_size)
        pool_master = _render_layers(
            pool_photo, _layers(pool_spec, pool_spec.headline_fg, pool_spec.legal_fg, image_size)
        )
        pool.append((f"master-{k + 1:03d}", pool_spec, pool_photo, _png_bytes(pool_master)))
    # campaign -> (artifact_id, output pixels, master PNG, master name) of its first artifact,
    # which later near-duplicates copy.
    first_of_campaign: dict[str, tuple[str, np.ndarray, bytes, str]] = {}
    written_lines: list[str] = []
    counter = 0
    invalid_queue = list(INVALID_KINDS)

    burst_week = max(1, weeks // 2) if weeks > 1 else -1
    burst_size = min(24, per_week // 2)
    for week_index in range(weeks):
        monday = datetime.combine(
            start_week + timedelta(weeks=week_index), datetime.min.time(), UTC
        )
        new_model_live = week_index >= max(1, weeks // 2)
        # Batches are named by landing day: one lands on Thursday with the first half of the
        # week, the next on the following Monday with the week's tail.
        batch_ids = [f"batch-{(monday + timedelta(days=d)).date()}" for d in (3, 7)]
        batch_lines: dict[str, list[str]] = {b: [] for b in batch_ids}
        for b in batch_ids:
            (out / b / "masters").mkdir(parents=True, exist_ok=True)

        for i in range(per_week):
            counter += 1
            spec = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
            pooled = pool[int(pool_rng.integers(len(pool)))] if pool else None
            if pooled:
                spec = pooled[1]  # a shared master fixes the template
            batch_id = batch_ids[0] if i < per_week * 0.6 else batch_ids[1]
            day_span = (0, 3.5) if batch_id == batch_ids[0] else (3.5, 6.99)
            moment = monday + timedelta(days=float(rng.uniform(*day_span)))
            model = "sdxl-turbo-1.1" if new_model_live and rng.random() < 0.5 else "sdxl-1.0"
            prompt_version = "v2" if week_index >= 2 and rng.random() < 0.5 else "v1"
            weights = WEIGHTS_NEW_MODEL if model == "sdxl-turbo-1.1" else WEIGHTS_STABLE
            defect = str(rng.choice(DEFECTS, p=weights))
            if defect == "near_dup" and spec.campaign_id not in first_of_campaign:
                defect = "clean"
            if week_index == weeks - 1 and i == 2:
                defect = "wrong_size"  # at least one artifact the gates must reject
            if week_index == burst_week and i < burst_size:
                # The new model's rollout hour: a burst of work, two minutes apart, mostly
                # cast, that burns the colour budget fast enough to page.
                moment = monday + timedelta(days=2, hours=10, minutes=2 * i)
                model = "sdxl-turbo-1.1"
                defect = "strong_cast" if i % 3 else "clean"
            if defect == "clean" and week_index == weeks - 1 and forced_presets and i >= 1:
                defect = forced_presets.pop(0)  # each preset's case at least once
            elif defect == "clean" and model == "sdxl-turbo-1.1":
                draw = float(preset_rng.random())
                for preset_defect, share in PRESET_DEFECTS.items():
                    if draw < share:
                        defect = preset_defect
                        break
                    draw -= share
            artifact_id = f"art-{counter:05d}"
            # rt-2.4 rolls out in week 2; rt-2.5 arrives for half the work of a later last week.
            retouch_version = "rt-2.4" if week_index >= 1 else "rt-2.3"
            if weeks >= 3 and week_index == weeks - 1 and rng.random() < 0.5:
                retouch_version = "rt-2.5"
            attempts = [defect] + (
                ["mild_cast"] if defect == "strong_cast" and rng.random() < 0.6 else []
            )
            if pooled:
                master_name, _, photo, master_png = pooled
            else:
                master_name = artifact_id
                photo = _framing(photos[spec.photo], rng, image_size)
                master_pixels = _render_layers(
                    photo, _layers(spec, spec.headline_fg, spec.legal_fg, image_size)
                )
                master_png = _png_bytes(master_pixels)
            for attempt, attempt_defect in enumerate(attempts, start=1):
                headline_fg, legal_fg = spec.headline_fg, spec.legal_fg
                if attempt_defect == "near_dup":
                    _, pixels, master_png, first_master = first_of_campaign[spec.campaign_id]
                    if pool:
                        master_name = first_master
                    pixels = _near_duplicate(pixels, rng)
                else:
                    if attempt_defect == "low_contrast":
                        headline_fg = LOW_CONTRAST_FG[spec.headline_fg]
                        if rng.random() < 0.5:
                            legal_fg = LOW_CONTRAST_FG[spec.legal_fg]
                    generated = _generation_noise(photo, rng)
                    if attempt_defect == "soft":
                        # A soft render of the photo; the template's text layers stay crisp.
                        generated = _preset_defect(generated, attempt_defect, preset_rng)
                    composed = _render_layers(
                        generated, _layers(spec, headline_fg, legal_fg, image_size)
                    )
                    if attempt_defect == "local_tint":
                        pixels = _preset_defect(composed, attempt_defect, preset_rng)
                    elif attempt_defect == "soft":
                        pixels = composed
                    else:
                        pixels = _retouch_defect(composed, attempt_defect, rng)
                jpeg = attempt_defect == "jpeg"
                image_rel = f"images/{artifact_id}_a{attempt}.{'jpg' if jpeg else 'png'}"
                if attempt_defect == "display_p3":
                    # Produced in Display P3 and tagged: only a decoder that honours the
                    # embedded profile sees the same colours as the master.
                    _save(
                        encode_in_profile(pixels, DISPLAY_P3),
                        out / batch_id / image_rel,
                        jpeg=False,
                        icc_profile=p3_profile,
                    )
                else:
                    _save(pixels, out / batch_id / image_rel, jpeg=jpeg)
                master_rel = f"masters/{master_name}.png"
                if not (pool and (out / batch_id / master_rel).exists()):
                    (out / batch_id / master_rel).write_bytes(master_png)
                first_of_campaign.setdefault(
                    spec.campaign_id, (artifact_id, pixels, master_png, master_name)
                )
                summary.defects[attempt_defect] = summary.defects.get(attempt_defect, 0) + 1
                layers = _layers(spec, headline_fg, legal_fg, image_size)
                prompt = spec.prompt + (
                    ", high detail, brand palette" if prompt_version == "v2" else ""
                )
                record: dict[str, Any] = {
                    "artifact_id": artifact_id,
                    "attempt": attempt,
                    "campaign_id": spec.campaign_id,
                    "template_id": spec.template_id,
                    "channel": CHANNELS[int(rng.integers(len(CHANNELS)))],
                    "retouch_version": retouch_version,
                    "model_version": model,
                    "prompt": prompt,
                    "prompt_version": f"{spec.template_id}/{prompt_version}",
                    "negative_prompt": "blurry, watermark, extra fingers",
                    "sampler": SAMPLERS[int(rng.integers(len(SAMPLERS)))],
                    "seed": int(rng.integers(0, 2**31)),
                    "steps": int(rng.choice([20, 25, 30, 40])),
                    "cfg_scale": float(rng.choice([5.0, 6.5, 7.0, 7.5])),
                    "generated_at": _timestamp(moment + timedelta(minutes=20 * (attempt - 1)), rng),
                    "processing_ms": _processing_ms(
                        rng, slow=rng.random() < (0.05 if model == "sdxl-turbo-1.1" else 0.02)
                    ),
                    "image": image_rel,
                    "master": master_rel,
                    "text_layers": layers,
                }
                if rng.random() < 0.5:
                    record["prompt_hash"] = hashlib.sha256(prompt.encode()).hexdigest()
                if rng.random() < 0.3:
                    record["reviewer"] = ["ana", "ben", "chloe"][int(rng.integers(3))]
                    record["review_seconds"] = float(round(rng.lognormal(np.log(120), 0.7), 1))
                    record["review_labels"] = ["colour"] if "cast" in attempt_defect else ["ok"]
                _delivery_fields(record, spec, counter)
                line = json.dumps(record, ensure_ascii=False)
                batch_lines[batch_id].append(line)
                written_lines.append(line)
                summary.artifacts += 1
            if on_artifact:
                on_artifact()

        # A few contract violations per week, each kind at least once over the sample.
        take = max(1, -(-len(INVALID_KINDS) // weeks))
        for kind in invalid_queue[:take]:
            batch_id = batch_ids[len(batch_lines[batch_ids[1]]) % 2]
            batch_lines[batch_id].append(
                _invalid_line(
                    kind, json.loads(batch_lines[batch_id][0]), written_lines[0], out / batch_id
                )
            )
            summary.invalid_lines += 1
        invalid_queue = invalid_queue[take:]

        for batch_id, lines in batch_lines.items():
            (out / batch_id / "manifest.jsonl").write_text(
                "\n".join(lines) + "\n", encoding="utf-8"
            )
            summary.batches += 1
            summary.lines += len(lines)
    return summary


def _invalid_line(kind: str, template: dict[str, Any], first_line: str, batch_dir: Path) -> str:
    """One manifest line that breaks the contract in the way `kind` names."""
    record = dict(template, artifact_id=f"bad-{kind}", attempt=1)
    record.pop("prompt_hash", None)
    if kind == "invalid_json":
        return json.dumps(record)[:-20]
    if kind == "missing_field":
        record.pop("seed")
    elif kind == "wrong_type":
        record["steps"] = str(record["steps"])
    elif kind == "bad_timestamp":
        record["generated_at"] = record["generated_at"][:19].replace("T", " ")
    elif kind == "bad_colour":
        record["text_layers"] = [dict(record["text_layers"][0], fg="#12G45Z")]
    elif kind == "duplicate_key":
        return first_line
    elif kind == "prompt_hash_mismatch":
        record["prompt_hash"] = hashlib.sha256(b"another prompt").hexdigest()
    elif kind == "negative_time":
        record["processing_ms"] = -1200
    elif kind == "absolute_path":
        record["image"] = "/etc/hostname"
    elif kind == "path_escape":
        record["image"] = "../../outside/escape.png"
    elif kind == "missing_file":
        record["image"] = "images/never-rendered.png"
    elif kind == "undecodable_image":
        record["image"] = "images/truncated-upload.png"
        (batch_dir / "images").mkdir(parents=True, exist_ok=True)
        (batch_dir / "images" / "truncated-upload.png").write_bytes(
            b"\x89PNG\r\n\x1a\n" + b"\0" * 64
        )
    return json.dumps(record, ensure_ascii=False)
