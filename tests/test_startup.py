"""Start-up stays light: loading the definitions (what `dagster dev` and every `retouch run`
do first) imports none of the heavy libraries a step imports when it needs them."""

import json
import os
import subprocess
import sys

import pytest

# Each is seconds of import, needed by one step at most: Great Expectations by the generations
# check, numba by the ΔE kernel, ONNX Runtime (and torch, open_clip) by CLIP scoring, dagster-dbt
# and dbt by the metrics layer (off here), colour-science and scikit-image by nothing at run
# time, the C2PA library by publication and its read-back check.
HEAVY = (
    "great_expectations",
    "numba",
    "onnxruntime",
    "torch",
    "open_clip",
    "dagster_dbt",
    "dbt",
    "colour",
    "skimage",
    "scipy",
    "c2pa",
)


def _imported_after(statement: str, **env: str) -> list[str]:
    code = (
        f"import json, sys\n{statement}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["retouch_assets.definitions", "retouch_assets.defs.assembly"])
def test_loading_the_definitions_imports_no_heavy_library(module):
    assert _imported_after(f"import {module}", RETOUCH_DBT_METRICS="off") == []


def test_the_cli_answers_without_dagster():
    code = "import retouch_assets.cli; print('dagster' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
