"""Jobs: the weekly pipeline materializes every asset of one week."""

import dagster as dg

# Partitioning (Monday weeks) is inferred from the selected assets.
weekly_job = dg.define_asset_job(
    name="retouch_weekly",
    selection=dg.AssetSelection.all(),
    description="Every layer of the asset graph for one Monday week (UTC).",
)
