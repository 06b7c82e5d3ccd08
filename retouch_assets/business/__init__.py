"""The business layer: business inputs, the overlay of outcomes on quality drift, and the
reprocess-cost meter. Pure logic and SQL; the Dagster wiring is in `defs/business`."""
