"""What the blocking publication checks verify, as pure functions over plain rows."""

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from retouch_assets.config import ColourGate
from retouch_assets.cores import available_cores
from retouch_assets.gates.publish import canonical_json
from retouch_assets.provenance.c2pa_io import NO_MANIFEST, TRUSTED, VALID, ReadBack, read_manifest
from retouch_assets.provenance.manifest import GENERATION_LABEL
from retouch_assets.quality.artifact import ArtifactMeasurement
from retouch_assets.safe_paths import sha256_file
from retouch_assets.slo.governance import Freeze, held_reason
from retouch_assets.vocabulary import FAILING_AFTER_HEALING, PUBLISHABLE


def systemic_failure(counts: dict[str, int], tolerance: float) -> tuple[bool, int, float]:
    """(passed, failing, share): the share still failing after healing within tolerance."""
    total = sum(counts.values())
    failing = sum(counts.get(s, 0) for s in FAILING_AFTER_HEALING)
    share = failing / total if total else 0.0
    return share <= tolerance, failing, share


def file_problems(row: dict, outputs_root: Path) -> list[str]:
    """A published row's files: inside the outputs folder, present, with the recorded hash."""
    problems = []
    root = outputs_root.resolve()
    for field in ("output_path", "sidecar_path"):
        path = Path(row[field]) if row[field] else None
        if path is None:
            problems.append(f"{field} missing")
        elif not path.resolve().is_relative_to(root):
            problems.append(f"{field} {path} is outside the outputs folder")
        elif not path.is_file():
            problems.append(f"{field} {path.name} does not exist")
    if problems:
        return problems
    for field, what in (("output", "image"), ("sidecar", "sidecar")):
        if sha256_file(Path(row[f"{field}_path"])) != row[f"{field}_sha256"]:
            problems.append(f"published {what} does not match its recorded sha256")
    return problems


def provenance_problems(row: dict, gates: list[dict]) -> list[str]:
    """A published row whose sidecar (already checked against its recorded hash) no longer
    says what the warehouse says: its status, or its final gate rows (changed since it was
    published). The files are intact, but the decision they record is not the one in force."""
    try:
        facts = json.loads(Path(row["sidecar_path"]).read_bytes())
    except (OSError, ValueError) as exc:
        return [f"sidecar unreadable: {type(exc).__name__}"]
    problems = []
    if facts.get("status") != row["status"]:
        problems.append(f"sidecar status {facts.get('status')!r} is not {row['status']!r}")
    if canonical_json(facts.get("gates")) != canonical_json(gates):
        problems.append("final gate rows differ from those the published sidecar records")
    return problems


def c2pa_problems(row: dict, back: ReadBack, trusted_required: bool) -> list[str]:
    """A published image's C2PA manifest as read back: present, not Invalid, Trusted when a
    trust anchor is configured, and naming this artifact attempt."""
    if back.state is None:
        return [back.error or NO_MANIFEST]
    codes = ", ".join(back.failures) or "no failure codes"
    if back.state not in (TRUSTED, VALID):
        return [f"C2PA manifest {back.state}: {codes}"]
    if trusted_required and back.state != TRUSTED:
        return [f"C2PA signer not trusted by the configured trust anchor: {codes}"]
    generation = back.assertion(GENERATION_LABEL) or {}
    named = (generation.get("artifact_id"), generation.get("attempt"))
    if named != (row["artifact_id"], row["attempt"]):
        return [f"C2PA manifest names artifact {named[0]!r} attempt {named[1]!r}"]
    return []


def c2pa_read_back(
    rows: Iterable[dict],
    file_of: Callable[[dict], tuple[Path, str]],
    trust_anchor: bytes | None,
) -> tuple[Counter, list[tuple[dict, str]]]:
    """Every row's signed file (`file_of(row)`: path and MIME type) read back: the validation
    states counted ("missing" for no manifest), and each row with its problems
    (`c2pa_problems`; Trusted required when a trust anchor is given). Files are read on one
    thread per core: the C2PA library validates outside the GIL (2 threads: ×2)."""
    rows = list(rows)
    states: Counter = Counter()
    failing = []
    with ThreadPoolExecutor(max_workers=available_cores()) as pool:
        backs = list(pool.map(lambda row: read_manifest(*file_of(row), trust_anchor), rows))
    for row, back in zip(rows, backs, strict=True):
        states[back.state or "missing"] += 1
        found = c2pa_problems(row, back, trusted_required=trust_anchor is not None)
        if found:
            failing.append((row, "; ".join(found)))
    return states, failing


def row_problems(row: dict) -> list[str]:
    problems = []
    if row["status"] not in PUBLISHABLE:
        problems.append(f"status {row['status']}")
    if row["failed_final_gates"]:
        problems.append(f"{row['failed_final_gates']} failed final gate rows")
    return problems


def remeasure_problems(m: ArtifactMeasurement, colour: ColourGate) -> list[str]:
    """Gates the published file fails when measured again."""
    if m.measure_error:
        return [m.measure_error]
    # Without a measure error, the colour metrics are set (`measure_artifact`).
    assert m.delta_e_mean is not None and m.hist_delta is not None
    problems = []
    if not colour.passes(m.delta_e_mean, m.hist_delta, m.sharpness_ratio):
        sharpness = f", sharpness {m.sharpness_ratio:.2f}" if m.sharpness_ratio is not None else ""
        problems.append(
            f"re-measured ΔE {m.delta_e_mean:.3f}, hist {m.hist_delta:.2f} %{sharpness}"
        )
    if not m.wcag_aa_pass:
        problems.append(f"re-measured contrast {m.min_contrast_ratio:.2f}:1")
    return problems


def freeze_violations(
    published: Iterable[dict], freezes: Sequence[Freeze], first_seen: dict
) -> list[tuple]:
    """(artifact_id, attempt, freeze) of every published artifact a freeze in force holds."""
    return [
        (row["artifact_id"], row["attempt"], reason)
        for row in published
        if (reason := held_reason(row, list(freezes), first_seen))
    ]
