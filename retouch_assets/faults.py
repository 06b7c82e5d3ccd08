"""Named checkpoints where the crash-repair tests kill a run (SIGKILL, no clean-up at all).

`checkpoint(name)` does nothing unless `RETOUCH_TEST_KILL_AT` names that checkpoint; the
tests set it for a subprocess running `retouch run` and check that the next run repairs
everything. The checkpoints sit between a step's effects, where a real crash hurts most.
"""

import os
import signal

from retouch_assets.settings import kill_point

INGEST_WRITTEN = "ingest_written"
QUALITY_MEASURED = "quality_measured"  # measured, not yet written
PUBLICATION_FILES_WRITTEN = "publication_files_written"  # new files in place, rows not yet
PUBLICATION_COMMITTED = "publication_committed"  # new rows committed, stale files still there
SLO_EVALUATED = "slo_evaluated"  # budgets computed, not yet written
OUTBOX_WRITTEN = "outbox_written"
INCIDENTS_COMMITTED = "incidents_committed"  # rows committed, timeline files not yet
DELIVERY_SENT = "delivery_sent"  # an alert sent, its outcome not yet recorded

# The checkpoints of `retouch run` (DELIVERY_SENT is `retouch alerts --deliver`'s).
CHECKPOINTS = (
    INGEST_WRITTEN,
    QUALITY_MEASURED,
    PUBLICATION_FILES_WRITTEN,
    PUBLICATION_COMMITTED,
    SLO_EVALUATED,
    OUTBOX_WRITTEN,
    INCIDENTS_COMMITTED,
)


def checkpoint(name: str) -> None:
    if kill_point() == name:
        os.kill(os.getpid(), signal.SIGKILL)
