"""The `retouch` CLI end to end on a small sample: sample, run twice, validate."""

import hashlib
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

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
    assert main(["sample", "--out", str(landing), "--weeks", "1", "--per-week", "6"]) == 0
    lines = sum(len(read_manifest_lines(b)) for b in list_batches(landing))
    counts = []
    snapshot = tmp_path / "analytics.duckdb"  # next to the warehouse by default
    reader = None
    for _ in range(2):
        if snapshot.exists():
            # An analyst holds the readers' snapshot open: the run neither waits nor fails.
            reader = duckdb.connect(str(snapshot), read_only=True)
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
    # Readers get a complete copy taken after the run, never the live file.
    assert reader is not None
    assert reader.execute("SELECT count(*) FROM retouch.generations").fetchone()[0] == counts[0][0]
    reader.close()
    assert f"read-only): {snapshot.resolve()}" in out
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM retouch.generations").fetchone()[0] == counts[0][0]


@contextmanager
def _held_by_another_process(db: Path):
    """Another process holding the warehouse's run lock (as a running `retouch run` does)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from retouch_assets.warehouse import exclusive_run\n"
            "with exclusive_run(sys.argv[1]):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_second_run_or_signoff_waits_then_fails_naming_the_holder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RETOUCH_LOCK_TIMEOUT_S", "0.5")
    (tmp_path / "landing").mkdir()
    db = tmp_path / "w.duckdb"
    with _held_by_another_process(db) as pid:
        run = main(["run", "--landing", str(tmp_path / "landing"), "--db", str(db)])
        run_err = capsys.readouterr().err
        signoff = main(
            ["signoff", "--scope", "delivery/*", "--approver", "a", "--release-note", "n"]
            + ["--db", str(db)]
        )
        signoff_err = capsys.readouterr().err
    assert run == signoff == 3
    for err in (run_err, signoff_err):
        assert "another run holds it" in err and f"pid {pid}" in err and "Fix:" in err
        assert "Traceback" not in err
    assert not db.exists()  # nothing written while waiting


def test_a_ui_materialization_during_a_run_waits_then_fails_naming_the_holder(
    tmp_path, small_sample
):
    import dagster as dg

    from retouch_assets.defs.ingest.assets import ingest_landing_batches
    from retouch_assets.resources import build_resources
    from retouch_assets.settings import Settings

    db = tmp_path / "w.duckdb"
    resources = build_resources(
        Settings(duckdb_path=str(db), landing_dir=str(small_sample), lock_timeout_s=0.5)
    )
    with _held_by_another_process(db) as pid:
        result = dg.materialize(
            [ingest_landing_batches],
            resources=resources,
            partition_key="2026-10-05",
            raise_on_error=False,
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure)
    assert "another run holds it" in str(failure.event_specific_data) and f"pid {pid}" in str(
        failure.event_specific_data
    )
    assert not db.exists()


def test_the_cli_and_the_ui_resolve_the_same_settings(tmp_path, monkeypatch):
    """`dagster dev` loads `.env` from its directory over the shell's variables; the CLI does
    the same, so both write the same warehouse, outputs and reports."""
    import importlib

    from retouch_assets import settings as settings_module
    from retouch_assets.cli import build_parser

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RETOUCH_DUCKDB_PATH", "from-shell.duckdb")
    monkeypatch.setenv("RETOUCH_REPORTS_DIR", "shell-reports")
    for name in ("RETOUCH_OUTPUTS_DIR", "RETOUCH_SLO_CONFIG", "RETOUCH_LANDING_DIR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(
        "RETOUCH_DUCKDB_PATH=env-file.duckdb\nRETOUCH_OUTPUTS_DIR=env-outputs\n"
    )
    # What dagster dev does before loading the code location (its .env loader).
    from dotenv import dotenv_values

    ui_env = {**os.environ, **dotenv_values(tmp_path / ".env")}
    with monkeypatch.context() as ui:
        for key, value in ui_env.items():
            ui.setenv(key, value)
        import retouch_assets.definitions as definitions

        ui_resources = importlib.reload(definitions).defs.resources
        ui_paths = {k: _resolved(ui_resources[k].path) for k in PATHS}
    # The CLI, in a fresh environment: .env loaded by `retouch` itself.
    monkeypatch.delenv("RETOUCH_OUTPUTS_DIR", raising=False)
    settings_module.load_dotenv()
    args = build_parser().parse_args(["run"])
    cli = settings_module.settings_from_env().with_overrides(
        duckdb_path=args.db, outputs_dir=args.outputs, reports_dir=args.reports
    )
    cli_paths = {
        "warehouse": cli.duckdb_path,
        "outputs": cli.outputs_dir,
        "reports": cli.reports_dir,
    }
    assert (
        ui_paths
        == cli_paths
        == {
            "warehouse": "env-file.duckdb",
            "outputs": "env-outputs",
            "reports": "shell-reports",
        }
    )


PATHS = ("warehouse", "outputs", "reports")


def _resolved(value):
    """A resource field's value as Dagster resolves it (an EnvVar reads its variable)."""
    import dagster as dg

    return value.get_value() if isinstance(value, dg.EnvVar) else value


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
    from retouch_assets.migrations import migrate
    from retouch_assets.slo.governance import apply_config
    from retouch_assets.warehouse import connect

    with connect(db) as con:
        migrate(con)
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


@pytest.mark.parametrize("value", ["abc", "nan", "-1", "inf"])
def test_a_bad_lock_timeout_is_a_configuration_error(monkeypatch, capsys, value):
    monkeypatch.setenv("RETOUCH_LOCK_TIMEOUT_S", value)
    assert main(["validate", "--config", str(REPO_ROOT / "retouch-slo.yaml")]) == 2
    err = capsys.readouterr().err
    assert "RETOUCH_LOCK_TIMEOUT_S" in err and "Fix:" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--reports", "outputs"), ("--outputs", "landing/sub"), ("--db", "outputs/w.duckdb")],
)
def test_overlapping_folders_are_a_configuration_error(tmp_path, capsys, flag, value):
    (tmp_path / "landing").mkdir()
    argv = ["run", "--landing", str(tmp_path / "landing"), "--db", str(tmp_path / "w.duckdb")]
    argv += ["--outputs", str(tmp_path / "outputs"), "--reports", str(tmp_path / "reports")]
    argv[argv.index(flag) + 1] = str(tmp_path / value)
    (tmp_path / "landing" / "b1").mkdir()
    (tmp_path / "landing" / "b1" / "manifest.jsonl").write_text("{}\n")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Fix:" in err and "Traceback" not in err
    assert not any(p.suffix == ".duckdb" for p in tmp_path.rglob("*"))  # nothing written


@pytest.mark.parametrize(("value", "deep"), [("on", True), ("TRUE", True), ("0", False)])
def test_deep_verification_is_a_setting_and_a_run_flag(monkeypatch, value, deep):
    from retouch_assets.cli import build_parser
    from retouch_assets.resources import build_resources
    from retouch_assets.settings import settings_from_env

    monkeypatch.delenv("RETOUCH_DEEP_VERIFY", raising=False)
    assert build_parser().parse_args(["run"]).deep_verify is False
    assert build_parser().parse_args(["run", "--deep-verify"]).deep_verify is True
    monkeypatch.setenv("RETOUCH_DEEP_VERIFY", value)
    settings = settings_from_env()
    assert settings.deep_verify is deep and build_parser().parse_args(["run"]).deep_verify is deep
    assert build_resources(settings)["outputs"].deep_verify is deep


def test_a_bad_deep_verify_value_is_a_configuration_error(monkeypatch, capsys):
    monkeypatch.setenv("RETOUCH_DEEP_VERIFY", "maybe")
    assert main(["validate", "--config", str(REPO_ROOT / "retouch-slo.yaml")]) == 2
    err = capsys.readouterr().err
    assert "RETOUCH_DEEP_VERIFY" in err and "Fix:" in err and "Traceback" not in err
