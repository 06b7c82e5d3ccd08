"""QA review statistics (article §4.3): review durations, labels by template, and the
template-improvement backlog fed by slow reviews."""
