"""Dagster wiring, one folder per layer of the asset graph."""
