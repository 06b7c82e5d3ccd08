"""What the single warehouse writer costs at scale: the figures behind the scale model in
docs/deployment.md. Prints one JSON line.

    .venv/bin/python deploy/measure_writer.py [--rows 1000000] [--pylist-rows 100000]

On a fresh, migrated warehouse in a temporary folder, with synthetic `retouch.artifact_quality`
rows (the real table declaration; realistic value shapes):
- `parquet_load`: one week of rows loaded from a Parquet file in one transaction (DELETE the
  week, INSERT … SELECT FROM read_parquet), the path a measurement fan-out would take: workers
  write Parquet on the shared volume, the writer loads it;
- `pylist_replace`: the same rows through `warehouse.replace_partition` from Python dicts, the
  path the pipeline takes today (Arrow built from a list of dicts);
- `snapshot`: `warehouse.write_snapshot` of that warehouse (the analysts' copy, every run);
- `png_bytes_1mp`: the PNG size of one 1 MP photograph (the object-store traffic per image).
"""

import argparse
import io
import json
import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from retouch_assets.migrations import migrate
from retouch_assets.quality.tables import ARTIFACT_QUALITY
from retouch_assets.warehouse import replace_partition, write_snapshot

WEEK = date(2026, 10, 5)


def synthetic_rows(n: int, seed: int = 0) -> pa.Table:
    """n artifact_quality rows of one week, with the value shapes the pipeline writes."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 10, 5, tzinfo=UTC)
    ids = [f"art-{i:08d}" for i in range(n)]
    columns = {
        "artifact_id": ids,
        "attempt": np.ones(n, dtype=np.int64),
        "week": [WEEK] * n,
        "campaign_id": [f"cmp-{i % 500:04d}" for i in range(n)],
        "template_id": [f"tpl-{i % 80:03d}" for i in range(n)],
        "generated_at": [start + timedelta(seconds=int(s)) for s in rng.integers(0, 604800, n)],
        "delta_e_mean": rng.gamma(2.0, 0.8, n),
        "delta_e_p95": rng.gamma(3.0, 1.2, n),
        "hist_delta": rng.random(n) * 0.2,
        "min_contrast_ratio": 1.0 + rng.random(n) * 20.0,
        "wcag_aa_pass": rng.random(n) > 0.05,
        "clip_score": rng.random(n) * 0.4,
        "prompt_drift": rng.random(n) * 0.3,
        "phash": [f"{v:016x}" for v in rng.integers(0, 2**63, n)],
        "duplicate_of": [None] * n,
        "processing_ms": rng.integers(200, 5000, n),
        "width": np.full(n, 1224, dtype=np.int64),
        "height": np.full(n, 816, dtype=np.int64),
        "image_profile": ["sRGB IEC61966-2.1"] * n,
        "master_profile": ["sRGB IEC61966-2.1"] * n,
        "measure_error": [None] * n,
        "layer_contrast": ['[{"layer": "headline", "ratio": 7.1, "aa": true}]'] * n,
        "prompt_drift_status": ["judged"] * n,
        "clip_model_hash": ["31178d458384"] * n,
        "clip_untrained": np.zeros(n, dtype=bool),
    }
    return pa.table(columns, schema=ARTIFACT_QUALITY.arrow_schema)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def png_bytes_1mp() -> int:
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.astronaut()).resize((1224, 816))
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    return buffer.tell()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pylist-rows", type=int, default=100_000)
    args = parser.parse_args()
    result: dict = {"machine": f"{os.uname().machine} {os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = synthetic_rows(args.rows)
        parquet = folder / "quality.parquet"
        result["parquet_write_s"] = round(timed(lambda: pq.write_table(rows, parquet)), 3)
        result["parquet_mb"] = round(parquet.stat().st_size / 1e6, 1)
        warehouse = folder / "warehouse.duckdb"
        with duckdb.connect(str(warehouse)) as con:
            migrate(con)

            def load_parquet() -> None:
                con.execute("BEGIN TRANSACTION")
                con.execute("DELETE FROM retouch.artifact_quality WHERE week = ?", [WEEK])
                con.execute(
                    "INSERT INTO retouch.artifact_quality BY NAME SELECT * FROM read_parquet(?)",
                    [str(parquet)],
                )
                con.execute("COMMIT")

            load_parquet()  # warm-up; the timed load replaces the week
            seconds = timed(load_parquet)
            result["parquet_load"] = {
                "rows": args.rows,
                "s": round(seconds, 3),
                "rows_per_s": round(args.rows / seconds),
            }
            dicts = rows.slice(0, args.pylist_rows).to_pylist()
            seconds = timed(lambda: replace_partition(con, {ARTIFACT_QUALITY: dicts}, week=WEEK))
            result["pylist_replace"] = {
                "rows": args.pylist_rows,
                "s": round(seconds, 3),
                "rows_per_s": round(args.pylist_rows / seconds),
            }
            load_parquet()  # the snapshot copies the full week
            con.execute("CHECKPOINT")
        result["warehouse_mb"] = round(warehouse.stat().st_size / 1e6, 1)
        target = folder / "analytics.duckdb"
        result["snapshot_s"] = round(timed(lambda: write_snapshot(warehouse, target)), 3)
    result["png_bytes_1mp"] = png_bytes_1mp()
    print(json.dumps(result))  # noqa: T201 (a script: its output is the JSON line)


if __name__ == "__main__":
    main()
