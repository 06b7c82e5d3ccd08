"""The benchmark commands run and report their same-run baseline (no timing assertions)."""

import json
import os

import pytest

from retouch_assets.cli import main


def test_bench_delta_e_prints_the_contract_json_last(capsys):
    assert main(["bench", "delta-e", "--megapixels", "0.05", "--repeat", "1"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"pixels", "ours_s", "colour_science_s", "speedup", "max_abs_diff"} <= set(result)
    assert result["pixels"] >= 50_000 and result["max_abs_diff"] <= 1e-3


def test_bench_quality_reports_against_the_decode_floor(capsys):
    assert (
        main(["bench", "quality", "--artifacts", "3", "--megapixels", "0.05", "--repeat", "1"]) == 0
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["artifacts"] == 3
    assert result["quality_artifacts_per_s"] > 0 and result["decode_artifacts_per_s"] > 0


def test_bench_e2e_runs_the_pipeline_against_the_decode_floor(capsys):
    # The whole `retouch run` in a subprocess on a tiny landing: the contract, not the speed.
    assert main(["bench", "e2e", "6", "--weeks", "1", "--megapixels", "0.05"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    contract = {"artifacts", "weeks", "run_s", "decode_floor_s", "ratio", "artifacts_per_s"}
    assert contract | {
        "peak_rss_mb",
        "peak_tree_mb",
        "startup_s",
        "steps",
        "dbt",
        "load_avg",
    } <= set(result)
    assert result["artifacts"] == 6 and result["weeks"] == 1
    assert result["ratio"] == pytest.approx(result["run_s"] / result["decode_floor_s"], rel=0.02)
    assert 0 < result["startup_s"] < result["run_s"] and result["peak_rss_mb"] > 0
    assert "retouch__artifact_quality" in result["steps"]
    assert isinstance(result["dbt"], bool)
    # The work apart from how it filled the cores: CPU of the run's whole process tree (the
    # measurement workers included, so more than the run's own process could use alone).
    assert result["cpu_s"] > 0 and result["decode_floor_cpu_s"] > 0
    assert result["cpu_ratio"] == pytest.approx(
        result["cpu_s"] / result["decode_floor_cpu_s"], rel=0.05
    )
    assert 0 < result["utilisation"] <= 1.05
    # Cores kept busy per step (sampled): between 0 and the cores (a little over: sampling).
    assert isinstance(result["step_cores"], dict) and all(
        0 <= cores <= os.cpu_count() * 1.25 for cores in result["step_cores"].values()
    )
    # The renditions step reported on its own, and the ratio without it.
    assert result["renditions"] > 0 and result["renditions_s"] > 0
    assert result["renditions_per_s"] == pytest.approx(
        result["renditions"] / result["renditions_s"], rel=0.05
    )
    assert result["ratio_without_renditions"] == pytest.approx(
        (result["run_s"] - result["renditions_s"]) / result["decode_floor_s"], rel=0.05
    )


def test_tree_memory_counts_a_process_and_its_children():
    import subprocess
    import sys

    from retouch_assets.bench import TreeMemory

    # A parent holding ~40 MB that starts a child holding ~60 MB: the tree's peak is their sum.
    script = (
        "import subprocess, sys, time; a = bytearray(40 << 20); "
        "c = subprocess.Popen([sys.executable, '-c', "
        "'import time; b = bytearray(60 << 20); time.sleep(1.5)']); c.wait()"
    )
    process = subprocess.Popen([sys.executable, "-c", script])
    with TreeMemory(process.pid, interval_s=0.05) as memory:
        process.wait()
    assert memory.peak_mb is not None and memory.peak_mb > 100
