"""Names every layer's wiring shares."""

# Every step that opens the DuckDB file runs in this pool; dagster.yaml limits it to one.
WAREHOUSE_POOL = "retouch_warehouse"
OWNERS = ["team:creative-ops-data"]
