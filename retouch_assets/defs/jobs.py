"""Jobs: the weekly pipeline materializes every asset of one week."""

import dagster as dg

from retouch_assets.partitions import weekly_partitions

weekly_job = dg.define_asset_job(
    name="retouch_weekly",
    selection=dg.AssetSelection.all(),
    partitions_def=weekly_partitions,
    description="Every layer of the asset graph for one Monday week (UTC).",
)
