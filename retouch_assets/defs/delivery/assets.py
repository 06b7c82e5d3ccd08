"""Delivery layer: channel renditions (WebP, AVIF, JPEG within byte budgets and a quality
floor) of every approved or healed image of the week.

Where it sits in the graph, and why it makes no cycle. Publication (`gated_outputs`) depends
on the PREVIOUS week's `error_budget` (the freezes in force), and the SLI facts depend on this
week's gate results. A rendition failure counts toward the delivery SLO, so the facts must see
rendition outcomes: `renditions` therefore runs right after `evaluate_gates`, from the final
approved/healed pixels (the same pixels publication writes), and before both `sli_facts` and
`gated_outputs`, which depend on it:

    evaluate_gates -> renditions -> sli_facts -> error_budget(week) -> gated_outputs(week + 1)
                                 \\-> gated_outputs(week)

Nothing here depends on a budget, so no key-level cycle arises. Renditions are made for every
publishable image, also one a freeze or a template lock will hold (a hold is decided by
publication, after the facts); publication then carries the renditions of what it publishes:
its web delivery manifest lists them, and an image held has renditions but no manifest.
Its rows go to `retouch.renditions`, and the delivery gate's per-rendition rows (phase
`rendition`) to `retouch.gate_results`, both replaced per week in one transaction.
"""

from collections import Counter

import dagster as dg

from retouch_assets.defs.shared import (
    key_of,
    md,
    progress_logger,
    week_of_context,
    weekly_table_asset,
)
from retouch_assets.delivery.queries import replace_renditions, week_renditions
from retouch_assets.delivery.renditions import image_jobs, render_week, renditions_folder
from retouch_assets.delivery.signing import RenditionSigner, previous_by_key
from retouch_assets.delivery.tables import RENDITIONS
from retouch_assets.gates import queries as gate_queries
from retouch_assets.gates.publish import week_folder
from retouch_assets.gates.tables import GATE_DECISIONS, GATE_RESULTS
from retouch_assets.ingest.tables import GENERATIONS
from retouch_assets.quality.measures import hex_to_rgb
from retouch_assets.resources import (
    LandingResource,
    OutputsResource,
    ProvenanceResource,
    RetouchConfigResource,
    WarehouseResource,
)
from retouch_assets.safe_paths import remove_stale
from retouch_assets.vocabulary import PUBLISHABLE


@weekly_table_asset(
    RENDITIONS,
    "delivery",
    deps=[key_of(GATE_DECISIONS), key_of(GATE_RESULTS), key_of(GENERATIONS)],
    kinds=("duckdb", "python", "image"),
)
def renditions(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingResource,
    outputs: OutputsResource,
    retouch_config: RetouchConfigResource,
    provenance: ProvenanceResource,
) -> dg.MaterializeResult:
    """Every approved or healed image's channel renditions, each C2PA-signed like the
    published image (`delivery.signing`), within its byte budget and quality floor or failing
    the delivery gate with the numbers."""
    week = week_of_context(context)
    config = retouch_config.load()
    # Before anything is written: without a working signing identity nothing is rendered.
    signer = provenance.signer(config, retouch_config.path)
    background = hex_to_rgb(config.quality.alpha_background)
    with warehouse.connect() as con:
        rows = [r for r in gate_queries.week_to_publish(con, week) if r["status"] in PUBLISHABLE]
        gates_of = gate_queries.final_gates_by_artifact(con, week)
        previous = previous_by_key(week_renditions(con, week))
    masters = {(r["artifact_id"], r["attempt"]): landing.file(r, "master") for r in rows}
    # A master that can no longer be read cannot be the manifest's ingredient: its images get
    # no renditions (publication holds them the same way).
    finalise = RenditionSigner(signer, lambda aid, attempt: masters[aid, attempt], previous)
    signable = [r for r in rows if finalise.can_sign(r["artifact_id"], r["attempt"])]
    jobs = image_jobs(signable, gates_of, lambda row: landing.file(row, "image"), background)
    folder = renditions_folder(week_folder(outputs.root, week))
    made = render_week(
        jobs,
        config.channels,
        config.renditions,
        folder,
        week,
        finalise=finalise,
        on_done=progress_logger(context, "rendered"),
    )
    if len(signable) < len(rows):
        made.not_rendered["master_unreadable"] = len(rows) - len(signable)
    made.rows = [row | finalise.columns(row) for row in made.rows]
    with warehouse.connect() as con:
        replace_renditions(con, week, made.rows, made.gate_rows)
    removed = remove_stale(folder, keep=made.paths)
    return dg.MaterializeResult(
        metadata={
            **_metadata(made.rows, made.not_rendered, made.seconds, len(removed)),
            "c2pa_signed_now": finalise.signed,
            "c2pa_kept_unchanged": finalise.kept,
            "c2pa_signer": signer.identity.describe(),
        }
    )


def _metadata(rows: list[dict], not_rendered: dict[str, int], seconds: float, removed: int) -> dict:
    by_channel = Counter(r["channel"] for r in rows)
    over = Counter(r["channel"] for r in rows if not r["within_budget"])
    below = Counter(r["channel"] for r in rows if not r["meets_floor"])
    count = Counter(r["format"] for r in rows)
    size = Counter()
    for r in rows:
        size[r["format"]] += r["bytes"]
    images = len({(r["artifact_id"], r["attempt"]) for r in rows})
    return {
        "dagster/row_count": len(rows),
        "images": images,
        "within_budget_and_floor": sum(1 for r in rows if r["within_budget"] and r["meets_floor"]),
        "over_budget": over.total(),
        "below_floor": below.total(),
        "per_channel": md(
            ("channel", "renditions", "over budget", "below floor"),
            [(c, n, over[c], below[c]) for c, n in sorted(by_channel.items())],
        ),
        "per_format": md(
            ("format", "renditions", "mean kB"),
            [(f, n, f"{size[f] / n / 1000:.1f}") for f, n in sorted(count.items())],
        ),
        "not_rendered": md(("reason", "images"), sorted(not_rendered.items())),
        "seconds": round(seconds, 2),
        "stale_files_removed": removed,
    }
