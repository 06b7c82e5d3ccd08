"""The `retouch run` summary lines of the delivery layer."""

import duckdb

from retouch_assets.delivery.queries import published_without_alt_text, summary_by_channel
from retouch_assets.warehouse import fetch_value


def delivery_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Renditions per channel with budget and floor failures; manifests and missing alt text."""
    channels = summary_by_channel(con)
    if not channels:
        return ["  renditions: none (no approved or healed image in a channel with renditions)"]
    total = sum(c["renditions"] for c in channels)
    ok = sum(c["ok"] for c in channels)
    over = sum(c["over_budget"] for c in channels)
    below = sum(c["below_floor"] for c in channels)
    per_channel = ", ".join(
        f"{c['channel']} {c['renditions']}"
        + (
            f" ({c['over_budget']} over budget, {c['below_floor']} below floor)"
            if c["over_budget"] or c["below_floor"]
            else ""
        )
        for c in channels
    )
    manifests = fetch_value(
        con,
        "SELECT count(*) FROM retouch.gated_outputs WHERE delivery_manifest_path IS NOT NULL",
    )
    missing = published_without_alt_text(con)
    return [
        f"  renditions: {total} ({per_channel}); within budget and floor {ok}/{total} "
        f"({ok / total:.1%}); budget failures {over}, floor failures {below}",
        f"  web delivery manifests: {manifests}"
        + (
            f"; alt text missing on {missing} published images (optional `alt_text` in the "
            "landing manifest)"
            if missing
            else ""
        ),
    ]
