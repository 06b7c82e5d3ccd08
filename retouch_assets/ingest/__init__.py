"""Pure ingest logic: the landing-batch contract, with no Dagster import."""
