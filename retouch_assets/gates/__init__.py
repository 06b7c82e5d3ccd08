"""Pure gate logic: the four gates, self-healing and the per-artifact decision."""
