"""Jobs: the weekly pipeline materializes every asset of one week; the monthly job writes the
executive report of one month."""

import dagster as dg

# The one monthly asset (defs/ops/reports.py); every other asset is weekly.
EXECUTIVE_REPORT = dg.AssetKey(["ops", "executive_report"])

# Partitioning (Monday weeks) is inferred from the selected assets.
weekly_job = dg.define_asset_job(
    name="retouch_weekly",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(EXECUTIVE_REPORT),
    description="Every layer of the asset graph for one Monday week (UTC).",
)

monthly_job = dg.define_asset_job(
    name="retouch_monthly",
    selection=dg.AssetSelection.assets(EXECUTIVE_REPORT),
    description="The monthly executive report (HTML and PDF) of one month.",
)
