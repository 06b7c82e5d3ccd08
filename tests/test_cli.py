"""The `retouch` CLI end to end on a small sample: sample, run twice, validate."""

import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb

from retouch_assets.cli import main
from retouch_assets.ingest.landing import list_batches, read_manifest_lines
from retouch_assets.settings import ENV_DUCKDB_PATH, ENV_LANDING_DIR, ENV_SLO_CONFIG
from tests.conftest import REPO_ROOT


def _digest(folder):
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_sample_is_deterministic_for_a_seed(tmp_path):
    args = ["sample", "--weeks", "1", "--per-week", "4", "--seed", "3"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert (
        main(
            [
                "sample",
                "--weeks",
                "1",
                "--per-week",
                "4",
                "--seed",
                "4",
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_run_accounts_for_every_line_and_is_idempotent(tmp_path, monkeypatch, capsys):
    for name in (ENV_DUCKDB_PATH, ENV_LANDING_DIR, ENV_SLO_CONFIG):
        monkeypatch.delenv(name, raising=False)
    landing, db = tmp_path / "landing", tmp_path / "w.duckdb"
    # A tiny sample can exceed the systemic-failure tolerance by chance; this test is about
    # accounting and idempotency, so it tolerates any share of failures.
    config = tmp_path / "retouch-slo.yaml"
    config.write_text("gates:\n  systemic_failure_tolerance: 1.0\n")
    assert main(["sample", "--out", str(landing), "--weeks", "2", "--per-week", "6"]) == 0
    lines = sum(len(read_manifest_lines(b)) for b in list_batches(landing))
    counts = []
    for _ in range(2):
        code = main(
            [
                "run",
                "--landing",
                str(landing),
                "--db",
                str(db),
                "--config",
                str(config),
                "--outputs",
                str(tmp_path / "outputs"),
                "--reports",
                str(tmp_path / "reports"),
            ]
        )
        assert code == 0
        with duckdb.connect(str(db), read_only=True) as con:
            counts.append(
                tuple(
                    con.execute(f"SELECT count(*) FROM retouch.{t}").fetchone()[0]
                    for t in ("generations", "quarantine")
                )
            )
    assert counts[0] == counts[1]
    assert sum(counts[0]) == lines
    out = capsys.readouterr().out
    assert f"manifest lines {lines} = generations {counts[0][0]} + quarantine {counts[0][1]}" in out
    assert "accounted for: yes" in out and str(db.resolve()) in out
    assert "gate status: approved" in out and "error budgets (overall" in out
    assert "colour-fidelity" in out and "consumed" in out


def test_run_fails_fast_on_a_bad_config(tmp_path, capsys):
    bad = tmp_path / "retouch-slo.yaml"
    bad.write_text("gates:\n  colour:\n    delta_e_mean_max: -1\n")
    (tmp_path / "landing").mkdir()
    code = main(
        [
            "run",
            "--landing",
            str(tmp_path / "landing"),
            "--db",
            str(tmp_path / "w.duckdb"),
            "--config",
            str(bad),
        ]
    )
    assert code == 2
    assert "gates.colour.delta_e_mean_max" in capsys.readouterr().err
    assert not (tmp_path / "w.duckdb").exists()


def test_validate_command(capsys):
    assert main(["validate", "--config", str(REPO_ROOT / "retouch-slo.yaml")]) == 0
    assert "valid" in capsys.readouterr().out


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "retouch"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "sample" in result.stdout and "run" in result.stdout


def test_signoff_and_validate_guard_a_relaxed_objective(tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    shipped = str(REPO_ROOT / "retouch-slo.yaml")
    from datetime import UTC, datetime

    from retouch_assets.config import load_config
    from retouch_assets.slo.governance import apply_config
    from retouch_assets.warehouse import connect, ensure_schema

    with connect(db) as con:
        ensure_schema(con)
        apply_config(con, load_config(shipped), shipped, datetime(2026, 11, 1, tzinfo=UTC))
    relaxed = tmp_path / "relaxed.yaml"
    relaxed.write_text(
        (REPO_ROOT / "retouch-slo.yaml")
        .read_text()
        .replace(
            "objective: 0.95\n    window: 30d\n    "
            "dimensions: [campaign_id, template_id, channel]\n  - name: accessibility",
            "objective: 0.9\n    window: 30d\n    "
            "dimensions: [campaign_id, template_id, channel]\n  - name: accessibility",
            1,
        )
    )
    assert main(["validate", "--config", str(relaxed), "--db", str(db)]) == 2
    assert "colour-fidelity: objective 0.95 -> 0.9" in capsys.readouterr().err
    assert (
        main(
            [
                "signoff",
                "--kind",
                "relax_objective",
                "--scope",
                "colour-fidelity",
                "--approver",
                "ana",
                "--release-note",
                "agreed in the weekly sync",
                "--db",
                str(db),
            ]
        )
        == 0
    )
    assert main(["validate", "--config", str(relaxed), "--db", str(db)]) == 0
    assert "no unapproved relaxation" in capsys.readouterr().out
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT kind, scope, approver FROM ops.signoffs").fetchall() == [
            ("relax_objective", "colour-fidelity", "ana")
        ]


def test_signoff_refuses_an_empty_release_note(tmp_path):
    import pytest

    with pytest.raises(SystemExit, match="non-empty release note"):
        main(
            [
                "signoff",
                "--scope",
                "delivery/*",
                "--approver",
                "ana",
                "--release-note",
                " ",
                "--db",
                str(tmp_path / "w.duckdb"),
            ]
        )
