"""The benchmark commands run and report their same-run baseline (no timing assertions)."""

import json

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
