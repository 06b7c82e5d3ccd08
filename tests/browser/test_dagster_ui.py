"""The Dagster UI as a user opens it: the real `dagster dev` (webserver, daemon, code server) on a
free port with a temporary DAGSTER_HOME (`nux` off, so no community modal covers the page) and
RETOUCH_* pointing at a temporary warehouse over the small sample; headless Chromium sees every
asset group of the definitions on the global asset lineage; one week's `retouch_weekly` run is
launched over GraphQL and polled to success; a blocking check's page shows its result and its
metadata; then Ctrl-C (SIGINT to the process group) stops every process it started."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from retouch_assets.business.sample import generate_business_sample
from retouch_assets.definitions import build_definitions
from retouch_assets.settings import (
    ENV_ANALYTICS_PATH,
    ENV_BUSINESS_DIR,
    ENV_DAGSTER_HOME,
    ENV_DUCKDB_PATH,
    ENV_LANDING_DIR,
    ENV_OUTPUTS_DIR,
    ENV_REPORTS_DIR,
    ENV_SLO_CONFIG,
    Settings,
)
from tests.conftest import REPO_ROOT, SAMPLE_WEEKS

pytestmark = pytest.mark.xdist_group("dagster_ui")

WEEK = SAMPLE_WEEKS[0]
LOCATION = "retouch_assets"  # workspace.yaml's location_name
JOB = "retouch_weekly"
START_TIMEOUT_S = 120  # dagster dev loads the definitions in a code server first
RUN_TIMEOUT_S = 240
STOP_TIMEOUT_S = 90  # dagster dev waits up to 60 s for each of its services
UI_TIMEOUT_MS = 30_000
ENV_SCREENSHOTS = "RETOUCH_SCREENSHOTS_DIR"

# SIGINT is ignored in processes started in the background by a non-interactive shell (and
# Dagster maps SIGTERM to the SIGINT handler): restore the default, as a terminal has it.
_WITH_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)

_REPOSITORIES = """
{ repositoriesOrError { __typename
    ... on RepositoryConnection { nodes { name location { name } } }
    ... on PythonError { message } } }
"""
_LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on RunConflict { message }
  }
}
"""
_RUN = """
query Run($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status tags { key value } } } }
"""
_ERRORS = """
query Errors($id: ID!) {
  logsForRun(runId: $id) {
    ... on EventConnection { events { __typename
      ... on MessageEvent { message stepKey }
      ... on ExecutionStepFailureEvent { error { message } }
      ... on RunFailureEvent { error { message } } } }
  }
}
"""
_CHECK = """
query Check($path: [String!]!, $name: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $name, limit: 1) {
    runId status
    evaluation { success partition metadataEntries { label } }
  }
}
"""


@dataclass
class DagsterDev:
    url: str
    process: subprocess.Popen
    home: Path

    def graphql(self, query: str, **variables) -> dict:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _processes_of(marker: str) -> list[int]:
    """Our processes whose environment holds `marker` (the temporary DAGSTER_HOME): every
    process dagster dev started, wherever it is in the process tree."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:  # gone meanwhile, or not ours
            continue
    return [pid for pid in found if pid != os.getpid()]


def _wait_until_loaded(dev: DagsterDev) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        if dev.process.poll() is not None:
            pytest.fail(f"dagster dev exited with {dev.process.returncode}: {_log_tail(dev)}")
        try:
            repositories = dev.graphql(_REPOSITORIES)["repositoriesOrError"]
            names = [(r["location"]["name"], r["name"]) for r in repositories.get("nodes", [])]
            if (LOCATION, "__repository__") in names:
                return
            last = repositories
        except (httpx.HTTPError, AssertionError) as exc:
            last = exc
        time.sleep(1)
    pytest.fail(f"dagster dev not ready in {START_TIMEOUT_S} s: {last!r}; {_log_tail(dev)}")


def _log_tail(dev: DagsterDev) -> str:
    log = dev.home / "dagster-dev.log"
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def _stop(dev: DagsterDev) -> float:
    """Ctrl-C: SIGINT to dagster dev's process group; returns the seconds it took to exit."""
    started = time.monotonic()
    os.killpg(dev.process.pid, signal.SIGINT)
    try:
        dev.process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"dagster dev still running {STOP_TIMEOUT_S} s after SIGINT")
    return time.monotonic() - started


@pytest.fixture
def dagster_dev(small_sample, tmp_path) -> Iterator[DagsterDev]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance = (REPO_ROOT / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text(instance + "\nnux:\n  enabled: false\n")
    generate_business_sample(
        tmp_path / "business", weeks=2, seed=2, beacons_per_week=600, invalid_rows=False
    )
    port = _free_port()
    env = os.environ | {
        ENV_DAGSTER_HOME: str(home),
        ENV_DUCKDB_PATH: str(tmp_path / "warehouse.duckdb"),
        ENV_LANDING_DIR: str(small_sample),
        ENV_SLO_CONFIG: str(REPO_ROOT / "retouch-slo.yaml"),
        ENV_OUTPUTS_DIR: str(tmp_path / "outputs"),
        ENV_REPORTS_DIR: str(tmp_path / "reports"),
        ENV_BUSINESS_DIR: str(tmp_path / "business"),
        ENV_ANALYTICS_PATH: str(tmp_path / "analytics.duckdb"),
    }
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = ["dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with (home / "dagster-dev.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _WITH_DEFAULT_SIGINT, dagster, *command],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal gives it
        )
    dev = DagsterDev(f"http://127.0.0.1:{port}", process, home)
    try:
        yield dev
    finally:
        if process.poll() is None:  # the test failed before stopping it: leave nothing behind
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _screenshot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    folder = os.environ.get(ENV_SCREENSHOTS)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _expected(tmp_path: Path) -> tuple[list[str], tuple[list[str], str]]:
    """Every asset group of the definitions dagster dev loads (the same environment: the test
    session's RETOUCH_DBT_METRICS), and the first blocking check (asset path, name)."""
    settings = Settings(
        duckdb_path=str(tmp_path / "unused.duckdb"),
        landing_dir=str(tmp_path / "unused_landing"),
        slo_config=str(REPO_ROOT / "retouch-slo.yaml"),
        outputs_dir=str(tmp_path / "unused_outputs"),
        reports_dir=str(tmp_path / "unused_reports"),
        business_dir=str(tmp_path / "unused_business"),
    )
    defs = build_definitions(settings)
    groups = sorted({spec.group_name for spec in defs.resolve_all_asset_specs() if spec.group_name})
    graph = defs.resolve_asset_graph()
    blocking = sorted(
        (key.asset_key.path, key.name)
        for key in graph.asset_check_keys
        if graph.get_check_spec(key).blocking
    )
    assert groups and blocking
    return groups, blocking[0]


def test_the_dagster_ui_shows_every_group_runs_a_week_and_shows_a_check(
    dagster_dev, probe, tmp_path
):
    started = time.monotonic()
    groups, (check_asset, check_name) = _expected(tmp_path)
    _wait_until_loaded(dagster_dev)
    page = probe.page
    page.set_default_timeout(UI_TIMEOUT_MS)

    # The global asset lineage: one box per asset group (the graph's group nodes).
    page.goto(f"{dagster_dev.url}/asset-groups")
    group_nodes = page.locator("[class*='CollapsedGroupNode_collapsedGroupNodeBox']")
    group_nodes.first.wait_for()
    page.wait_for_function(
        "n => document.querySelectorAll(\"[class*='CollapsedGroupNode_collapsedGroupNodeBox']\")"
        ".length >= n",
        arg=len(groups),
    )
    shown = sorted(text.strip() for text in group_nodes.all_inner_texts())
    assert shown == groups
    _screenshot(page, tmp_path, "dagster-asset-lineage")

    # One week's materialization, launched as the UI's "Materialize" does (GraphQL).
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": "__repository__",
            "jobName": JOB,
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": WEEK}]},
    }
    launched = dagster_dev.graphql(_LAUNCH, params=params)["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = None
    while time.monotonic() < deadline:
        run = dagster_dev.graphql(_RUN, id=run_id)["runOrError"]
        status = run["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    if status != "SUCCESS":
        events = dagster_dev.graphql(_ERRORS, id=run_id)["logsForRun"].get("events", [])
        errors = [
            f"{e.get('stepKey')}: {(e.get('error') or {}).get('message') or e.get('message')}"
            for e in events
            if e["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent")
        ]
        pytest.fail(f"run {run_id} ended {status} (timeout {RUN_TIMEOUT_S} s): {errors}")
    assert {"key": "dagster/partition", "value": WEEK} in run["tags"]

    # The blocking check's result, in the API and on its page in the UI.
    (execution,) = dagster_dev.graphql(_CHECK, path=check_asset, name=check_name)[
        "assetCheckExecutions"
    ]
    evaluation = execution["evaluation"]
    assert execution["runId"] == run_id and execution["status"] == "SUCCEEDED"
    assert evaluation["success"] and evaluation["partition"] == WEEK
    labels = [entry["label"] for entry in evaluation["metadataEntries"]]
    assert labels
    page.goto(f"{dagster_dev.url}/assets/{'/'.join(check_asset)}?view=checks")
    page.get_by_text(check_name, exact=True).first.click()
    page.get_by_text("This is a").filter(has_text="blocking").first.wait_for()
    page.get_by_text("Evaluation result").wait_for()
    page.get_by_text("Passed", exact=True).first.wait_for()
    page.get_by_text(WEEK, exact=True).first.wait_for()
    for label in labels:
        page.get_by_text(label, exact=True).first.wait_for()
    _screenshot(page, tmp_path, "dagster-blocking-check")
    assert probe.page_errors == [] and probe.console_errors == []
    page.goto("about:blank")  # the UI's polling stops before the server does

    # Ctrl-C: every process dagster dev started exits, none is left behind.
    marker = str(dagster_dev.home)
    assert _processes_of(marker), "the marker should find the running services"
    stopped_in = _stop(dagster_dev)
    assert dagster_dev.process.returncode is not None
    deadline = time.monotonic() + 15
    while _processes_of(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_of(marker) == []
    print(
        f"dagster dev UI test: {time.monotonic() - started:.0f} s in all, "
        f"stopped {stopped_in:.0f} s after SIGINT"
    )
