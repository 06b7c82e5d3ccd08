"""A run killed with SIGKILL at any checkpoint (ingest, quality, publication, SLO evaluation,
alert outbox, incident timelines) and then run again leaves exactly what an uninterrupted run
leaves: the same warehouse rows, the same published files and reports (published images compared
without their C2PA manifests, which differ in random ids between any two signings), no
duplicated events, alerts or incidents.

The runs are real `retouch run` processes forked from one helper process that imported the
project once (a fork before any thread exists is safe, and it saves seconds of imports per
run); a killed run kills itself at a named checkpoint (`retouch_assets.faults`) with SIGKILL,
so no clean-up handler runs.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from retouch_assets import faults
from retouch_assets.gates.publish import PNG_MIME
from retouch_assets.migrations import ALL_TABLES
from retouch_assets.provenance.c2pa_io import (
    TRUSTED,
    VALID,
    read_manifest,
    strip_png_manifest,
)
from retouch_assets.safe_paths import sha256_bytes, sha256_file
from retouch_assets.sample import generate_sample

# Rows stamped with the wall clock when they were written, not derived from the inputs.
WALL_CLOCK_TABLES = {"ops.applied_config"}


# Reads one JSON request per line ({"argv": [...], "kill_at": name or null}), forks a child
# that runs the CLI with stdout and stderr discarded, and answers with the child's exit code
# (negative: killed by that signal).
_FORK_SERVER = """
import json, os, sys
import great_expectations  # the heavy imports, once, before any thread exists
import numpy as np
import retouch_assets.definitions
from retouch_assets.cli import main
from retouch_assets.quality.delta_e import delta_e_map, delta_e_summary, lab_planes
from retouch_assets.quality.measures import histogram_delta_pct

tiny = np.zeros((4, 4, 3), np.uint8)  # load the compiled kernels once, single-threaded
delta_e_summary(delta_e_map(tiny, lab_planes(tiny)))
histogram_delta_pct(tiny, tiny)

for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ.update(request.get("env") or {})
        if request["kill_at"]:
            os.environ["RETOUCH_TEST_KILL_AT"] = request["kill_at"]
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os._exit(main(request["argv"]))
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    print(code, flush=True)
"""


class Runner:
    def __init__(self, landing: Path, config: Path):
        self.landing, self.config = landing, config
        self.server = subprocess.Popen(
            [sys.executable, "-c", _FORK_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, root: Path, kill_at: str | None = None) -> int:
        argv = ["run", "--landing", str(self.landing), "--db", str(root / "w.duckdb")]
        argv += ["--config", str(self.config), "--outputs", str(root / "outputs")]
        argv += ["--reports", str(root / "reports")]
        return self.cli(argv, kill_at)

    def cli(self, argv: list[str], kill_at: str | None = None, env: dict | None = None) -> int:
        assert self.server.stdin and self.server.stdout
        request = {"argv": argv, "kill_at": kill_at, "env": env or {}}
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        return int(self.server.stdout.readline())

    def close(self) -> None:
        if self.server.stdin:
            self.server.stdin.close()
        self.server.wait(30)


# A published image's C2PA manifest carries random instance ids and salts, so two runs sign
# the same image into different bytes: its name's hash part and its recorded sha256 differ.
# They are compared without it: the same unsigned PNG (`unsigned_sha256`, and each file with
# its manifest stripped), the same signing input, and a manifest that reads back valid.
# Renditions are signed too (`delivery.signing`): their names and sha256 differ the same way,
# and so do the web delivery manifests that list them by name; renditions are compared by
# their recorded unsigned sha256 and a manifest that reads back valid.
_SIGNED_NAME = re.compile(r"\.[0-9a-f]{12}\.(png|json|delivery\.json|avif|webp|jpg)\b")
_SIGNED_HASH_COLUMNS = {
    "retouch.gated_outputs": {"output_sha256", "delivery_manifest_sha256"},
    "retouch.renditions": {"sha256"},
}
_FULL_HASH = re.compile(r"\b[0-9a-f]{64}\b")
_RENDITION_MIME = {".avif": "image/avif", ".webp": "image/webp", ".jpg": "image/jpeg"}


def _unsigned(value):
    return _SIGNED_NAME.sub(r".<signed>.\1", value) if isinstance(value, str) else value


def _file_state(path: Path):
    if "outputs" not in path.parts:
        return sha256_file(path)
    if path.name.endswith(".delivery.json"):
        text = _FULL_HASH.sub("<sha256>", _unsigned(path.read_text()))
        return sha256_bytes(text.encode())
    if path.suffix in _RENDITION_MIME:
        state = read_manifest(path.read_bytes(), _RENDITION_MIME[path.suffix]).state
        assert state in (TRUSTED, VALID), path
        return "signed rendition"
    if path.suffix != ".png":
        return sha256_file(path)
    data = path.read_bytes()
    assert read_manifest(data, PNG_MIME).state in (TRUSTED, VALID), path
    return sha256_bytes(strip_png_manifest(data))


def _state(root: Path) -> dict:
    """Every table's rows and every file's hash, with the run's root folder taken out (and
    published files compared without their C2PA manifests, see above)."""
    prefix = str(root)
    state: dict = {}
    with duckdb.connect(str(root / "w.duckdb"), read_only=True) as con:
        for table in ALL_TABLES:
            if table.name in WALL_CLOCK_TABLES:
                continue
            result = con.execute(f"SELECT * FROM {table.name} ORDER BY ALL")
            names = [d[0] for d in result.description]
            state[table.name] = [
                tuple(
                    None
                    if name in _SIGNED_HASH_COLUMNS.get(table.name, ())
                    else _unsigned(v.replace(prefix, "<root>") if isinstance(v, str) else v)
                    for name, v in zip(names, row, strict=True)
                )
                for row in result.fetchall()
            ]
    for folder in ("outputs", "reports"):
        state[folder] = {
            _unsigned(str(p.relative_to(root))): _file_state(p)
            for p in sorted((root / folder).rglob("*"))
            if p.is_file()
        }
    return state


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    generate_sample(root / "landing", weeks=1, per_week=6, seed=5)
    config = root / "retouch-slo.yaml"
    # Chance failures of a tiny sample must not stop publication: this test is about repair.
    config.write_text("gates:\n  systemic_failure_tolerance: 1.0\n")
    runner = Runner(root / "landing", config)
    yield runner
    runner.close()


def test_a_run_killed_at_every_checkpoint_repairs_itself(runner, tmp_path):
    reference, repaired = tmp_path / "reference", tmp_path / "repaired"
    assert runner.run(reference) == 0
    for checkpoint in faults.CHECKPOINTS:
        # Each killed run starts from what the previous one left behind.
        assert runner.run(repaired, kill_at=checkpoint) == -9, checkpoint
    assert runner.run(repaired) == 0
    expected, found = _state(reference), _state(repaired)
    for name in expected:
        assert found[name] == expected[name], name
    with duckdb.connect(str(repaired / "w.duckdb"), read_only=True) as con:
        for table, key in (
            ("ops.events", "event_id"),
            ("ops.alert_outbox", "outbox_id"),
            ("ops.incidents", "incident_id"),
        ):
            total, distinct = con.execute(
                f"SELECT count(*), count(DISTINCT {key}) FROM {table}"
            ).fetchone()
            assert total == distinct, table


def test_a_delivery_killed_after_a_send_resends_it_once_and_loses_nothing(runner, tmp_path):
    """At-least-once: the alert sent just before the kill is sent again (same payload, same
    dedup key), every other alert exactly once, and every outbox row ends delivered."""
    from datetime import UTC, datetime, timedelta

    from retouch_assets.config import AlertRoute
    from retouch_assets.migrations import migrate
    from retouch_assets.ops.outbox import outbox_rows
    from retouch_assets.ops.queries import store_outbox
    from retouch_assets.warehouse import connect
    from tests.test_ops import Receiver

    route = AlertRoute(name="chat", kind="slack", severities=["page"], url_env="RETOUCH_CHAT_URL")
    config = tmp_path / "retouch-slo.yaml"
    config.write_text(
        "alerting:\n  routes:\n    - {name: chat, kind: slack, severities: [page], "
        "url_env: RETOUCH_CHAT_URL}\n"
    )
    fired = datetime(2026, 10, 21, 10, 5, tzinfo=UTC)
    episodes = [
        {
            "slo": "colour-fidelity",
            "scope": f"template_id=t{k}",
            "severity": "page",
            "long_window": "1h",
            "short_window": "5m",
            "factor": 14.4,
            "fired_at": fired + timedelta(hours=k),
            "resolved_at": None,
            "peak_burn_long": 20.0,
            "peak_burn_short": 30.0,
            "low_traffic": False,
        }
        for k in range(3)
    ]
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        migrate(con)
        store_outbox(con, outbox_rows(fired.date(), episodes, [], [route]))
    receiver = Receiver()
    try:
        argv = ["alerts", "--deliver", "--db", str(db), "--config", str(config)]
        env = {"RETOUCH_CHAT_URL": receiver.url + "/chat"}
        assert runner.cli(argv, kill_at=faults.DELIVERY_SENT, env=env) == -9
        assert len(receiver.requests) == 1
        assert runner.cli(argv, env=env) == 0
    finally:
        receiver.server.shutdown()
    bodies = [json.dumps(r["body"], sort_keys=True) for r in receiver.requests]
    assert len(bodies) == 4 and len(set(bodies)) == 3 and bodies[0] == bodies[1]
    with duckdb.connect(str(db), read_only=True) as con:
        statuses = con.execute(
            "SELECT status, count(*) FROM ops.alert_outbox GROUP BY 1"
        ).fetchall()
    assert statuses == [("delivered", 3)]
