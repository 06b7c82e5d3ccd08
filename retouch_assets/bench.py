"""Benchmarks that print a ratio against a baseline measured in the same process.

- `delta_e`: our CIEDE2000 image path against colour-science's on the same real photograph
  scaled to at least 4 MP (the master's Lab conversion is timed as part of ours).
- `quality`: the whole per-artifact quality step against the cost of only decoding the same
  images (the floor any quality step pays).
Timings are the best of `repeat` runs; first calls (numba compilation, imports) are excluded.
"""

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from retouch_assets.cores import available_cores

T = TypeVar("T")


def _best(fn: Callable[[], T], repeat: int) -> tuple[float, T | None]:
    """The best time of `repeat` runs and the last run's result (None if nothing ran)."""
    best: float = float("inf")
    result: T | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def _photo_pair(megapixels: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A real photograph (scikit-image's astronaut) scaled to `megapixels`, and a retouched
    version with a global colour cast, noise and a local edit."""
    from skimage import data

    side = int(np.ceil(np.sqrt(megapixels * 1e6)))
    master = np.asarray(
        Image.fromarray(data.astronaut()).resize((side, side), Image.Resampling.LANCZOS)
    )
    rng = np.random.default_rng(seed)
    out = master.astype(np.float32) * np.array([1.04, 0.98, 0.95], dtype=np.float32)
    out += rng.normal(0.0, 1.5, out.shape).astype(np.float32)
    out[side // 3 : side // 2, side // 3 : side // 2] *= np.array([0.8, 1.1, 1.2], dtype=np.float32)
    return master, np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _best_cpu(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """The best wall time and the best CPU time (all threads of this process) of `repeat` runs:
    CPU time is what other work on a shared machine disturbs least."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_wall, best_cpu


def bench_delta_e(megapixels: float = 4.2, repeat: int = 3, workers: int | None = None) -> dict:
    """Our ΔE path (the master's Lab, the ΔE map on `workers` threads, mean and p95) against
    colour-science's on the same pair, in this process. Both are timed in alternating rounds
    so that other load on a shared machine falls on both alike; `speedup` is the ratio of the
    best wall times, `cpu_speedup` that of the best CPU times (ours summed over its threads)."""
    import colour

    from retouch_assets.quality.delta_e import (
        delta_e_map,
        delta_e_summary,
        lab_planes,
        percentile,
    )

    workers = workers or available_cores()
    master, output = _photo_pair(megapixels)
    load_before = os.getloadavg()[0]

    def ours(n: int):
        de = delta_e_map(output, lab_planes(master, n), n)
        return de, delta_e_summary(de)

    def reference():
        lab_m = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(master / 255.0))
        lab_o = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(output / 255.0))
        de = colour.delta_E(lab_m, lab_o, method="CIE 2000")
        return de, (float(de.mean()), float(np.percentile(de, 95)))

    ours_map, ours_stats = ours(workers)  # compile (or load the cached kernels) untimed
    # Ours is cheap to repeat: a few runs per round keep page-fault noise (a 100 MB master Lab
    # is allocated each time) out of the best time.
    ours_s = ours_cpu_s = colour_s = colour_cpu_s = float("inf")
    ref: list = []
    for _ in range(max(1, repeat)):
        wall, cpu = _best_cpu(lambda: ref.append(reference()), 1)
        colour_s, colour_cpu_s = min(colour_s, wall), min(colour_cpu_s, cpu)
        wall, cpu = _best_cpu(lambda: ours(workers), 3)
        ours_s, ours_cpu_s = min(ours_s, wall), min(ours_cpu_s, cpu)
    ref_map, ref_stats = ref[-1]
    single_s, _ = _best(lambda: ours(1), repeat)
    # Where our single-thread time goes.
    planes = lab_planes(master)
    steps = {
        "master_lab": _best(lambda: lab_planes(master), repeat)[0],
        "delta_e_map": _best(lambda: delta_e_map(output, planes), repeat)[0],
        "mean": _best(lambda: ours_map.mean(dtype=np.float64), repeat)[0],
        "p95": _best(lambda: percentile(ours_map, 95.0), repeat)[0],
    }
    return {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "workers": workers,
        "delta_e_mean": round(ours_stats[0], 6),
        "delta_e_p95": round(ours_stats[1], 6),
        "ours_single_thread_s": round(single_s, 4),
        "pixels": int(master.shape[0] * master.shape[1]),
        "ours_s": round(ours_s, 4),
        "colour_science_s": round(colour_s, 4),
        "speedup": round(colour_s / ours_s, 1),
        "max_abs_diff": float(np.abs(ours_map.astype(np.float64) - ref_map).max()),
        "single_thread_speedup": round(colour_s / single_s, 1),
        "ours_cpu_s": round(ours_cpu_s, 4),
        "colour_science_cpu_s": round(colour_cpu_s, 4),
        "cpu_speedup": round(colour_cpu_s / ours_cpu_s, 1),
        "reference_mean_p95": [round(ref_stats[0], 6), round(ref_stats[1], 6)],
        "ours_single_thread_steps_s": {k: round(v, 4) for k, v in steps.items()},
        # The 1-minute load average before and after: on a shared machine, read the ratios
        # with it.
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def bench_quality(artifacts: int = 48, megapixels: float = 1.0, repeat: int = 2) -> dict:
    """Artifacts per second of the quality step against decoding alone, on generated pairs."""
    from concurrent.futures import ThreadPoolExecutor

    from retouch_assets.quality.artifact import ArtifactInput, QualitySettings, measure_all
    from retouch_assets.quality.decode import decode_srgb8

    with tempfile.TemporaryDirectory(prefix="retouch-bench-") as tmp:
        root = Path(tmp)
        items = []
        for k in range(artifacts):
            master, output = _photo_pair(megapixels, seed=k)
            master_path, image_path = root / f"m{k}.png", root / f"o{k}.png"
            Image.fromarray(master).save(master_path, compress_level=1)
            Image.fromarray(output).save(image_path, compress_level=1)
            layers = [
                {
                    "id": "cta",
                    "text": "Buy",
                    "fg": "#FFFFFF",
                    "bg": None,
                    "bbox": [10, 10, 200, 40],
                    "font_px": 20.0,
                    "bold": False,
                }
            ]
            items.append(
                ArtifactInput(
                    f"a{k}",
                    1,
                    "c",
                    datetime(2026, 1, 5, tzinfo=UTC),
                    image_path,
                    master_path,
                    layers,
                    1000,
                )
            )
        workers = available_cores()

        def decode_only():
            paths = [p for item in items for p in (item.image_path, item.master_path)]
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return list(pool.map(decode_srgb8, paths))

        settings = QualitySettings()
        measure_all(items[:2], settings)  # warm-up: kernels, imagehash/scipy imports
        floor_s, _ = _best(decode_only, repeat)
        quality_s, results = _best(lambda: measure_all(items, settings), repeat)
    assert results is not None, "repeat must be at least 1"
    errors = [m.measure_error for m in results if m.measure_error]
    if errors:
        raise RuntimeError(f"benchmark artifacts failed to measure: {errors[:3]}")
    pixels = 0
    if items:
        first = results[0]
        # Every artifact was measured without an error, so its size is known.
        assert first.width is not None and first.height is not None
        pixels = int(np.prod(first.width * first.height))
    return {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "artifacts": artifacts,
        "pixels_per_image": pixels,
        "decode_only_s": round(floor_s, 3),
        "quality_s": round(quality_s, 3),
        "decode_artifacts_per_s": round(artifacts / floor_s, 1),
        "quality_artifacts_per_s": round(artifacts / quality_s, 1),
        "quality_over_decode": round(quality_s / floor_s, 2),
    }


# Step keys of the dbt metrics layer (`@dbt_assets(name="dbt_metrics")`).
DBT_STEP_PREFIX = "dbt_metrics"
RENDITIONS_STEP = "retouch__renditions"
# The sample's aspect ratio (3:2), at any size.
E2E_ASPECT = 1.5


def e2e_image_size(megapixels: float) -> tuple[int, int]:
    """(width, height) of a 3:2 image of about `megapixels` (1.0 -> 1224 x 816)."""
    height = max(int(round(np.sqrt(megapixels * 1e6 / E2E_ASPECT))), 120)
    return int(round(height * E2E_ASPECT)), height


def _decode_floor(paths: list[Path], repeat: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the best pass decoding every image once with the pipeline's
    decoder, one thread per core (only the shape is kept, so a week of images is never held in
    memory at once)."""
    from concurrent.futures import ThreadPoolExecutor

    from retouch_assets.quality.decode import DecodeError, decode_srgb8

    def decode(path: Path) -> tuple[int, ...]:
        try:
            return decode_srgb8(path).pixels.shape
        except DecodeError:  # the sample's deliberately truncated upload: refused, as the run does
            return ()

    def decode_all() -> tuple[int, float]:
        cpu = time.process_time()
        with ThreadPoolExecutor(max_workers=available_cores()) as pool:
            decoded = sum(1 for shape in pool.map(decode, paths) if shape)
        return decoded, time.process_time() - cpu

    floor_s, best = _best(decode_all, repeat)
    assert best is not None
    return floor_s, best[1]


Span = tuple[str, float, float]  # step key, start and end epochs


def step_timings(
    instance, run_ids: list[str]
) -> tuple[float | None, dict[str, float], bool, list[Span]]:
    """From the instance's records of the runs: (epoch of the first STEP_START, seconds per
    step summed over the runs, whether a dbt step succeeded, every step's spans)."""
    import dagster as dg

    kinds = {
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
    }
    first_start: float | None = None
    steps: dict[str, float] = {}
    spans: list[Span] = []
    dbt_ran = False
    for run_id in run_ids:
        started: dict[str, float] = {}
        for entry in instance.all_logs(run_id, of_type=kinds):
            key, event = entry.step_key, entry.dagster_event
            if key is None or event is None:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                started[key] = entry.timestamp
                first_start = min(first_start or entry.timestamp, entry.timestamp)
            elif key in started:
                start = started.pop(key)
                steps[key] = steps.get(key, 0.0) + entry.timestamp - start
                spans.append((key, start, entry.timestamp))
                if event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                    dbt_ran = dbt_ran or key.startswith(DBT_STEP_PREFIX)
    return first_start, steps, dbt_ran, spans


def write_step_timings(instance, run_ids: list[str], path: Path) -> None:
    """`retouch run --step-timings FILE`: `step_timings` of the command's runs as JSON, read
    from the instance the runs used (the default temporary one included, so that the
    benchmark measures the run as a user runs it, without a persistent DAGSTER_HOME's
    per-event SQLite writes)."""
    first_start, steps, dbt_ran, spans = step_timings(instance, run_ids)
    payload = {"first_step_start": first_start, "steps": steps, "dbt": dbt_ran, "spans": spans}
    path.write_text(json.dumps(payload), encoding="utf-8")


def read_step_timings(path: Path) -> tuple[float | None, dict[str, float], bool, list[Span]]:
    """What `write_step_timings` wrote; nothing when the run wrote no file (no week to run)."""
    if not path.exists():
        return None, {}, False, []
    payload = json.loads(path.read_text(encoding="utf-8"))
    spans = [(key, float(start), float(end)) for key, start, end in payload["spans"]]
    return payload["first_step_start"], payload["steps"], payload["dbt"], spans


def step_cores(
    spans: list[Span], memory: "TreeMemory", min_seconds: float = 1.0
) -> dict[str, float]:
    """Average cores each step kept busy over its spans (steps of `min_seconds` or more)."""
    busy: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for key, start, end in spans:
        cores = memory.cores_busy(start, end)
        if cores is not None:
            busy[key] = busy.get(key, 0.0) + cores * (end - start)
            seconds[key] = seconds.get(key, 0.0) + end - start
    return {
        key: round(busy[key] / seconds[key], 2)
        for key in sorted(busy, key=lambda k: -seconds[k])
        if seconds[key] >= min_seconds
    }


class TreeMemory:
    """Samples the memory of a process and all its descendants (the run and its measurement
    workers) every `interval_s` while in use; `peak_mb` is the largest sum seen. Each process
    counts its proportional set size (PSS, from /proc/<pid>/smaps_rollup: pages shared between
    the workers are split among them, not counted once per worker), or its RSS where PSS
    cannot be read. Each sample also records the tree's CPU seconds so far (`cpu`: (epoch,
    seconds) pairs; `_tree_cpu_s`), from which `cores_busy` tells how many cores a time span
    kept busy. Linux only: elsewhere `peak_mb` stays None and `cpu` empty."""

    def __init__(self, pid: int, interval_s: float = 0.25):
        import threading

        self.pid, self.interval_s = pid, interval_s
        self.peak_mb: float | None = None
        self.cpu: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "TreeMemory":
        if Path("/proc/self/smaps_rollup").exists() or Path("/proc/self/status").exists():
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            tree = _descendants(self.pid)
            total = sum(_process_kb(pid) for pid in tree) / 1024
            if total > 0:
                self.peak_mb = max(self.peak_mb or 0.0, total)
                self.cpu.append((time.time(), _tree_cpu_s(tree)))
            self._stop.wait(self.interval_s)

    def cores_busy(self, start: float, end: float) -> float | None:
        """Average cores the tree kept busy from `start` to `end` (epochs), from the samples
        around them (None without two samples in the span)."""
        inside = [(t, c) for t, c in self.cpu if start <= t <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def _tree_cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) of the processes and of their children already reaped: a
    worker that ends moves its seconds into its parent's children's counts, so the sum over a
    live tree only grows."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (from /proc/<pid>/task/*/children)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                queue += [int(child) for child in task.read_text().split()]
            except OSError:  # the process ended meanwhile
                continue
    return found


def _process_kb(pid: int) -> int:
    """A process's PSS in kB (its RSS where smaps_rollup cannot be read); 0 once it ended."""
    for name, field in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                if line.startswith(field):
                    return int(line.split()[1])
        except (OSError, ValueError):
            continue
    return 0


def _bench_test_chain(folder: Path) -> Path:
    """A C2PA test chain for the benchmark's runs, made once in its folder."""
    from retouch_assets.provenance.testchain import write_test_chain

    write_test_chain(folder / "c2pa-test")
    return folder / "c2pa-test"


def _run_pipeline(
    root: Path, landing: Path, business: Path, config: Path, say: Callable[[str], object]
) -> dict:
    """`retouch run` on `landing` in a fresh subprocess with its own warehouse, no CLIP model
    and no DAGSTER_HOME (Dagster's temporary instance, the default), writing its steps'
    timings to a file (`--step-timings`, read after it exits)."""
    import resource
    import subprocess
    import sys  # the interpreter running this benchmark runs the pipeline too

    root.mkdir(parents=True)
    timings = root / "step_timings.json"
    # A user's DAGSTER_HOME is left out: the runs are the benchmark's, not history to keep,
    # and a persistent instance's per-event SQLite writes are not the pipeline's cost.
    env = {k: v for k, v in os.environ.items() if k not in ("RETOUCH_CLIP_MODEL", "DAGSTER_HOME")}
    command = [
        sys.executable,
        "-m",
        "retouch_assets.cli",
        "run",
        *("--landing", str(landing), "--business", str(business), "--config", str(config)),
        *("--db", str(root / "warehouse.duckdb"), "--analytics", str(root / "analytics.duckdb")),
        *("--outputs", str(root / "outputs"), "--reports", str(root / "reports")),
        # Signed like any run: the caller's identity (RETOUCH_C2PA_*, provenance:) first, else a
        # test chain made for the benchmark (`retouch provenance test-chain`).
        *("--fallback-c2pa-identity", str(_bench_test_chain(root.parent))),
        *("--step-timings", str(timings)),
    ]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started_at = time.time()
    started = time.perf_counter()
    # The working directory holds no `.env`: the child sees this process's environment (which
    # already has the caller's `.env`, less DAGSTER_HOME), so no `.env` can set DAGSTER_HOME.
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, text=True)
    with TreeMemory(process.pid) as memory:
        stdout, _ = process.communicate()
    run_s = time.perf_counter() - started
    say(stdout.rstrip())
    # 1: the run finished and some gate failed (the sample's defects are there to fail gates).
    if process.returncode not in (0, 1):
        raise RuntimeError(f"retouch run exited with {process.returncode}")
    # The run and every process under it. What `wait` reports for the run misses its
    # measurement workers: their fork server is not waited for by the run (it is left to exit
    # when the run does), so their seconds never reach the run's children's counts. The tree's
    # samples see them (the fork server's reaped workers, the live ones); their largest value
    # is the run's CPU up to the last sample, a quarter of a second before the end.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    waited_cpu_s = (usage.ru_utime - children.ru_utime) + (usage.ru_stime - children.ru_stime)
    cpu_s = max([waited_cpu_s] + [cpu for _, cpu in memory.cpu])
    first_start, steps, dbt_ran, spans = read_step_timings(timings)
    return {
        "run_s": run_s,
        "cpu_s": cpu_s,
        "renditions": _count(root / "warehouse.duckdb", "retouch.renditions"),
        "rc": process.returncode,
        "startup_s": (first_start - started_at) if first_start is not None else None,
        "steps": steps,
        "step_cores": step_cores(spans, memory),
        "startup_cores": memory.cores_busy(started_at, first_start) if first_start else None,
        "dbt": dbt_ran,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "peak_tree_mb": memory.peak_mb,
    }


def _count(db: Path, table: str) -> int:
    from retouch_assets.warehouse import connect

    with connect(db, read_only=True) as con:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # a fixed table name
    return int(row[0]) if row else 0


def _round_or_none(mb: float) -> float | None:
    return round(mb, 1) if mb > 0 else None


def bench_e2e(
    artifacts: int = 400,
    weeks: int = 2,
    megapixels: float = 1.0,
    repeat: int = 1,
    masters: int = 20,
    seed: int = 7,
    progress: Callable[[str], object] | None = None,
) -> dict:
    """The whole pipeline (`retouch run`, in a subprocess) on `artifacts` generated artifacts
    over `weeks` weeks against the decode floor: decoding every artifact and master image once,
    in this process, one thread per core. Best of `repeat` runs, each on a fresh warehouse.
    `progress` receives progress lines and the run's own output (the sample's bar is tqdm's,
    on stderr)."""
    from tqdm import tqdm

    from retouch_assets.business.sample import generate_business_sample
    from retouch_assets.sample import generate_sample
    from retouch_assets.settings import settings_from_env

    def say(message: str) -> None:
        if progress is not None:
            progress(message)

    if artifacts < 1 or weeks < 1 or repeat < 1:
        raise ValueError("artifacts, weeks and repeat must be at least 1")
    per_week = -(-artifacts // weeks)
    config = Path(settings_from_env().slo_config).resolve()
    load_before = _load_average()
    with tempfile.TemporaryDirectory(prefix="retouch-e2e-") as tmp:
        root = Path(tmp)
        landing, business = root / "landing", root / "business"
        size = e2e_image_size(megapixels)
        with tqdm(total=per_week * weeks, unit="artifact", desc="e2e sample") as bar:
            sample = generate_sample(
                landing,
                weeks=weeks,
                per_week=per_week,
                seed=seed,
                on_artifact=bar.update,
                image_size=size,
                shared_masters=masters,
            )
        generate_business_sample(business, weeks=weeks, seed=seed)
        images = sorted(landing.glob("*/images/*")) + sorted(landing.glob("*/masters/*"))
        say(f"e2e: decode floor over {len(images)} image files...")
        floor_s, floor_cpu_s = _decode_floor(images, repeat)
        runs = []
        for k in range(repeat):
            say(f"e2e: retouch run {k + 1}/{repeat}...")
            runs.append(_run_pipeline(root / f"run-{k + 1}", landing, business, config, say))
    best = min(runs, key=lambda r: r["run_s"])
    steps_total = sum(best["steps"].values())
    startup_s = best["startup_s"]
    cores = available_cores()
    renditions_s = best["steps"].get(RENDITIONS_STEP)
    return {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "artifacts": per_week * weeks,
        "attempts": sample.artifacts,
        "weeks": weeks,
        "image_size": list(size),
        "image_files": len(images),
        "run_s": round(best["run_s"], 2),
        "decode_floor_s": round(floor_s, 4),
        "ratio": round(best["run_s"] / floor_s, 2),
        "artifacts_per_s": round(per_week * weeks / best["run_s"], 2),
        # The work, apart from how well it filled the cores: the run's CPU seconds (all its
        # processes) against the floor's, and the share of the cores' time the run kept busy.
        "cpu_s": round(best["cpu_s"], 1),
        "decode_floor_cpu_s": round(floor_cpu_s, 4),
        "cpu_ratio": round(best["cpu_s"] / floor_cpu_s, 2),
        "utilisation": round(best["cpu_s"] / (cores * best["run_s"]), 2),
        # The channel renditions (issue 15) are encoder-bound work the ratio goal predates:
        # their step's own rate, and the ratio of the run without that step.
        "renditions": best["renditions"],
        "renditions_s": round(renditions_s, 2) if renditions_s is not None else None,
        "renditions_per_s": round(best["renditions"] / renditions_s, 2) if renditions_s else None,
        "ratio_without_renditions": round((best["run_s"] - (renditions_s or 0.0)) / floor_s, 2),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        # The run and its workers together (PSS, sampled): what the machine must have.
        "peak_tree_mb": _round_or_none(max((r["peak_tree_mb"] or 0.0) for r in runs)),
        "startup_s": round(startup_s, 2) if startup_s is not None else None,
        # Wall time that is neither start-up nor a step: between steps and weeks, and the
        # command's summary at the end.
        "other_s": round(best["run_s"] - steps_total - (startup_s or 0.0), 2),
        "steps": {
            key: round(seconds, 3)
            for key, seconds in sorted(best["steps"].items(), key=lambda kv: -kv[1])
        },
        # How many of the cores each step of a second or more kept busy (the run's process
        # tree, sampled every 0.25 s): below the core count, the step left cores idle.
        "step_cores": best["step_cores"],
        "startup_cores": round(best["startup_cores"], 2)
        if best["startup_cores"] is not None
        else None,
        "dbt": best["dbt"],
        "run_rc": best["rc"],
        # The 1-minute load average when the benchmark started and when it ended: on a shared
        # machine, other work slows the run and the floor alike, but not in proportion.
        "load_avg": [load_before, _load_average()],
    }


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # not available on this platform
        return None
