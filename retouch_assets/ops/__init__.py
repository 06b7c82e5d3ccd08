"""Pure operations logic: the alert outbox and its delivery, incidents, the weekly report."""
