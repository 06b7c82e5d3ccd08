"""Accepted and quarantined lines as rows of their warehouse tables."""

from retouch_assets.ingest.landing import Accepted, Quarantined


def generation_rows(accepted: list[Accepted]) -> list[dict]:
    rows = []
    for item in accepted:
        record = item.record
        row = record.model_dump(exclude={"text_layers"})
        row["prompt_hash"] = record.computed_prompt_hash
        row["text_layers"] = [layer.model_dump() for layer in record.text_layers]
        row.update(batch_id=item.batch_id, line_no=item.line_no, week=item.week)
        rows.append(row)
    return rows


def quarantine_rows(quarantined: list[Quarantined]) -> list[dict]:
    return [
        {
            "batch_id": item.batch_id,
            "line_no": item.line_no,
            "artifact_id": item.artifact_id,
            "reason_code": item.rejection.code,
            "reason": item.rejection.reason,
            "raw": item.raw,
            "week": item.week,
        }
        for item in quarantined
    ]
