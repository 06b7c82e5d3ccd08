"""Accepted and quarantined lines as Arrow tables shaped like their warehouse tables."""

import pyarrow as pa

from retouch_assets.ingest.landing import Accepted, Quarantined
from retouch_assets.warehouse import GENERATIONS_SCHEMA, QUARANTINE_SCHEMA


def generations_table(accepted: list[Accepted]) -> pa.Table:
    rows = []
    for item in accepted:
        record = item.record
        row = record.model_dump(exclude={"text_layers"})
        row["prompt_hash"] = record.computed_prompt_hash
        row["text_layers"] = [layer.model_dump() for layer in record.text_layers]
        row.update(batch_id=item.batch_id, line_no=item.line_no, week=item.week)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=GENERATIONS_SCHEMA)


def quarantine_table(quarantined: list[Quarantined]) -> pa.Table:
    rows = [
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
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)
