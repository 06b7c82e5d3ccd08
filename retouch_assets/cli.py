"""`retouch`: build the sample, run the weekly pipeline, validate the configuration.

Heavy imports (Dagster, the definitions, image libraries) happen inside the commands, so
`retouch --help` answers at once.
"""

import argparse
import sys
import time
from collections import Counter
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from retouch_assets import settings as settings_module
from retouch_assets.config import ConfigError, load_config
from retouch_assets.vocabulary import OutboxStatus, SignoffKind


def _cmd_sample(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from retouch_assets.business.sample import generate_business_sample
    from retouch_assets.sample import generate_sample

    out = Path(args.out)
    with tqdm(total=args.weeks * args.per_week, unit="artifact", desc="sample") as bar:
        summary = generate_sample(
            out,
            weeks=args.weeks,
            per_week=args.per_week,
            seed=args.seed,
            start_week=date.fromisoformat(args.start_week),
            on_artifact=bar.update,
        )
    defects = ", ".join(f"{k} {v}" for k, v in sorted(summary.defects.items()))
    print(
        f"sample: {summary.batches} batches, {summary.lines} manifest lines "
        f"({summary.artifacts} artifact attempts, {summary.invalid_lines} invalid) in {out}\n"
        f"defects: {defects}"
    )
    business_out = Path(args.business_out) if args.business_out else out.parent / "business"
    business = generate_business_sample(
        business_out,
        weeks=args.weeks,
        seed=args.seed,
        start_week=date.fromisoformat(args.start_week),
    )
    print(
        f"business sample: {business.kpi_rows} KPI rows, {business.beacons} LCP beacons, "
        f"{sum(business.invalid_rows.values())} invalid rows in {business_out}"
    )
    return 0


def _cmd_provenance_test_chain(args: argparse.Namespace) -> int:
    from retouch_assets.provenance.testchain import TestChainError, write_test_chain

    try:
        chain = write_test_chain(args.out)
    except TestChainError as exc:
        raise SystemExit(f"retouch provenance test-chain: {exc}") from None
    what = "written" if chain.created else "exists, kept"
    print(
        "*" * 72 + "\n"
        "* C2PA TEST CERTIFICATE CHAIN: FOR TESTING ONLY. Nobody trusts its root, and its\n"
        "* private key is not encrypted. Never sign production images with it.\n"
        + "*"
        * 72
        + f"\ntest chain {what}: {chain.folder}\n"
        f"  certificate chain  {chain.chain}   (RETOUCH_C2PA_CERT, provenance.cert_chain)\n"
        f"  private key        {chain.key}  (RETOUCH_C2PA_KEY, provenance.private_key)\n"
        f"  trust anchor       {chain.root}    (RETOUCH_C2PA_TRUST_ANCHOR, "
        "provenance.trust_anchor)"
    )
    return 0


def _signer_for_run(config, args: argparse.Namespace):
    """The run's C2PA signer, proven before any step runs (ProvenanceError: exit 2)."""
    from retouch_assets.provenance.c2pa_io import open_signer
    from retouch_assets.provenance.identity import load_identity, not_configured, resolve_paths

    paths = resolve_paths(
        config, args.config, settings_module.c2pa_environment(), args.fallback_c2pa_identity
    )
    if not paths.configured:
        raise not_configured(args.config)
    return open_signer(load_identity(paths))


def _provenance_validation(config, args: argparse.Namespace) -> str:
    """The signing identity `retouch run` would use, checked (ProvenanceError: exit 2)."""
    from retouch_assets.provenance.c2pa_io import open_signer
    from retouch_assets.provenance.identity import TEST_CHAIN_HINT, load_identity, resolve_paths

    paths = resolve_paths(config, args.config, settings_module.c2pa_environment())
    if not paths.configured:
        return (
            "  provenance: no C2PA signing identity configured: `retouch run` refuses to start "
            f"until provenance.cert_chain and provenance.private_key are set; {TEST_CHAIN_HINT}"
        )
    return f"  provenance: signs {open_signer(load_identity(paths)).identity.describe()}"


def _cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    names = ", ".join(slo.name for slo in config.slos)
    print(f"{args.config}: valid (service {config.service!r}; SLOs: {names})")
    print(_provenance_validation(config, args))
    if Path(args.db).exists():
        from retouch_assets.slo.governance import refuse_relaxations

        with _migrated(args.db) as con:
            refuse_relaxations(con, config, f"{args.config} (against {args.db})")
        print(f"  no unapproved relaxation against the config last applied to {args.db}")
    return 0


def _cmd_signoff(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from retouch_assets.slo.governance import record_signoff

    if args.template is not None:
        if args.scope is not None:
            raise SystemExit("retouch signoff: give either --template or --scope, not both")
        if args.kind not in (None, SignoffKind.UNLOCK_TEMPLATE):
            raise SystemExit(
                f"retouch signoff: --template unlocks a template; not --kind {args.kind}"
            )
        args.kind, args.scope = SignoffKind.UNLOCK_TEMPLATE, args.template
    else:
        args.kind = args.kind or SignoffKind.RELEASE_FREEZE
    if args.scope is None:
        raise SystemExit("retouch signoff: --scope (or --template for a template lock) is required")
    effective = datetime.fromisoformat(args.effective_from) if args.effective_from else None
    if effective is not None and effective.tzinfo is None:
        raise SystemExit(
            "retouch signoff: --effective-from needs a UTC offset, e.g. 2026-10-19T00:00:00Z"
        )
    with _migrated(args.db) as con:
        if args.kind == SignoffKind.UNLOCK_TEMPLATE:
            _refuse_unlocked_template(con, args.scope)
        try:
            signoff_id = record_signoff(
                con,
                args.kind,
                args.scope,
                args.approver,
                args.release_note,
                datetime.now(UTC),
                effective,
            )
        except ValueError as exc:
            raise SystemExit(f"retouch signoff: {exc}") from None
    print(
        f"sign-off {signoff_id} recorded in {args.db}: {args.kind} {args.scope} by {args.approver}"
    )
    if args.kind == SignoffKind.RELEASE_FREEZE:
        print("  re-run the held weeks (`retouch run`) to publish what the freeze held")
    if args.kind == SignoffKind.UNLOCK_TEMPLATE:
        print(
            f"  re-run the held weeks (`retouch run`) to publish what the lock of {args.scope} held"
        )
    return 0


def _refuse_unlocked_template(con, template_id: str) -> None:
    from retouch_assets.gates.locks import active_locks, locked_templates

    locked = locked_templates(active_locks(con))
    if template_id not in locked:
        listed = ", ".join(sorted(locked)) or "none"
        raise SystemExit(
            f"retouch signoff: template {template_id!r} is not locked (locked templates: {listed})"
        )


def _quiet_run_config() -> dict:
    # The CLI prints its own summary and names every failure; Dagster's console log would
    # repeat each failure with a stack trace.
    return {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _instance():
    import dagster as dg

    # With DAGSTER_HOME set, runs are recorded where `dagster dev` shows them.
    if settings_module.dagster_home():
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


@contextmanager
def _migrated(db):
    """A write connection to a warehouse brought up to the current schema, holding the
    warehouse's run lock (a sign-off or a delivery never interleaves with a run)."""
    from retouch_assets.migrations import migrate
    from retouch_assets.warehouse import connect, exclusive_run

    timeout = settings_module.settings_from_env().lock_timeout_s
    with exclusive_run(db, timeout_s=timeout), connect(db, lock_timeout_s=timeout) as con:
        migrate(con)
        yield con


def _run_problems(result) -> tuple[list[str], list[str]]:
    """(failures, warnings) of one run: failed steps with their error, failed checks."""
    import dagster as dg

    failures, warnings = [], []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            while error is not None and error.cause is not None:
                error = error.cause  # the user code's exception, not Dagster's wrapper
            message = error.message.strip().splitlines()[-1] if error else event.message
            failures.append(f"step {event.step_key} failed: {message}")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                text = f"check {evaluation.check_name} on {evaluation.asset_key.to_user_string()}"
                if evaluation.severity == dg.AssetCheckSeverity.WARN:
                    warnings.append(text + " warns")
                else:
                    failures.append(text + " failed")
    return failures, warnings


def _apply_config(config, args: argparse.Namespace) -> None:
    """Refuse an SLO relaxation without sign-off, and record the config as applied."""
    from datetime import UTC, datetime

    from retouch_assets.slo.governance import apply_config

    with _migrated(args.db) as con:
        apply_config(con, config, str(args.config), datetime.now(UTC))


def _cmd_run(args: argparse.Namespace) -> int:
    from retouch_assets.warehouse import exclusive_run

    landing = Path(args.landing)
    if not landing.is_dir():
        raise SystemExit(
            f"retouch run: landing folder {landing} does not exist (make one with `retouch sample`)"
        )
    config = load_config(args.config)  # fail fast, before any run starts
    # Every published image is signed: no identity, or one that cannot sign, stops here.
    signer = _signer_for_run(config, args)
    _start_measurement_workers(config)
    settings = settings_module.settings_from_env().with_overrides(
        duckdb_path=str(args.db),
        landing_dir=str(landing),
        slo_config=str(args.config),
        outputs_dir=str(args.outputs),
        reports_dir=str(args.reports),
        clip_model_dir=args.clip_model
        or (None if config.clip.model_dir else args.fallback_clip_model),
        business_dir=_business_dir(args, landing),
        analytics_path=_analytics_path(args),
        deep_verify=args.deep_verify,
        c2pa_fallback_dir=args.fallback_c2pa_identity,
    )
    settings.check_folders()
    print(f"C2PA: signing with {signer.identity.describe()}")
    # One run at a time per warehouse; a second one waits, then fails naming the holder.
    with exclusive_run(args.db, timeout_s=settings.lock_timeout_s):
        _apply_config(config, args)
        return _run_weeks(args, landing, settings, signer)


def _start_measurement_workers(config) -> None:
    """The measurement workers' fork server warms up on an idle core during start-up."""
    from retouch_assets.quality.week import MeasureOptions, start_worker_server

    if MeasureOptions.from_config(config).workers > 1:
        start_worker_server()


def _business_dir(args: argparse.Namespace, landing: Path) -> str:
    """--business, else RETOUCH_BUSINESS_DIR, else `business` next to the landing folder
    (data/business for the default data/landing)."""
    if args.business:
        return str(args.business)
    env = settings_module.settings_from_env()
    return env.business_dir if "business_dir" in env.from_env else str(landing.parent / "business")


def _analytics_path(args: argparse.Namespace) -> str:
    """--analytics, else RETOUCH_ANALYTICS_PATH, else `analytics.duckdb` next to the warehouse
    (data/analytics.duckdb for the default data/warehouse.duckdb)."""
    if args.analytics:
        return str(args.analytics)
    env = settings_module.settings_from_env()
    if "analytics_path" in env.from_env:
        return env.analytics_path
    return str(Path(args.db).with_name("analytics.duckdb"))


def _run_weeks(args: argparse.Namespace, landing: Path, settings, signer) -> int:
    from tqdm import tqdm

    from retouch_assets.defs.assembly import build_definitions
    from retouch_assets.defs.snapshot import SNAPSHOT_KEY
    from retouch_assets.ingest.landing import list_batches, weeks_of_batches
    from retouch_assets.partitions import partition_key, week_bounds
    from retouch_assets.reports.build import months_of_weeks, report_paths

    batches = list_batches(landing)
    weeks = [partition_key(w) for w in weeks_of_batches(batches, week_bounds())]
    if not weeks:
        print(f"retouch run: no batches with a manifest.jsonl in {landing}; nothing to do")
        return 0
    from retouch_assets.defs.metrics import project as dbt_metrics

    # The definitions read the dbt manifest; it is parsed here when missing or out of date.
    try:
        if dbt_metrics.dbt_metrics_enabled() and dbt_metrics.prepare_manifest():
            print("dbt metrics layer: parsed dbt_metrics/ (its manifest was missing or stale)")
    except dbt_metrics.DbtManifestError as exc:
        print(f"retouch run: {exc}", file=sys.stderr)
        return 2
    definitions = build_definitions(settings)
    job = definitions.resolve_job_def("retouch_weekly")
    started = time.perf_counter()
    failures: dict[str, list[str]] = {}
    warnings: dict[str, list[str]] = {}
    snapshot_by: str | None = None  # the last week whose run published the analyst snapshot
    read_back = Counter()  # C2PA validation states, as the weeks' read-back checks found them
    run_ids: list[str] = []
    with _instance() as instance:
        for week in tqdm(weeks, unit="week", desc="retouch_weekly"):
            result = job.execute_in_process(
                partition_key=week,
                instance=instance,
                run_config=_quiet_run_config(),
                raise_on_error=False,
            )
            run_ids.append(result.run_id)
            problems, warned = _run_problems(result)
            if warned:
                warnings[week] = warned
            if not result.success:
                failures[week] = problems or ["run failed"]
            if any(e.asset_key == SNAPSHOT_KEY for e in result.get_asset_materialization_events()):
                snapshot_by = week
            read_back += c2pa_states_read_back(result.get_asset_check_evaluations())
        # The executive report of every month the weeks touch, after their weekly runs.
        monthly = definitions.resolve_job_def("retouch_monthly")
        months = months_of_weeks(weeks)
        for month in months:
            result = monthly.execute_in_process(
                partition_key=month,
                instance=instance,
                run_config=_quiet_run_config(),
                raise_on_error=False,
            )
            run_ids.append(result.run_id)
            if not result.success:
                failures[f"month {month}"] = _run_problems(result)[0] or ["run failed"]
        if args.step_timings:
            from retouch_assets.bench import write_step_timings

            write_step_timings(instance, run_ids, args.step_timings)
    elapsed = time.perf_counter() - started
    print(_summary(Path(args.db), args.outputs, batches, weeks, elapsed, settings.business_dir))
    print(_provenance_summary(Path(args.db), signer, weeks, read_back))
    print(report_paths(Path(settings.reports_dir), weeks[-1], months[-1] if months else None))
    # Every successful weekly run ends by publishing the snapshot (`analytics/snapshot`).
    snapshot = Path(settings.analytics_file).resolve()
    if snapshot_by is None:
        print(f"  analyst snapshot: not refreshed (no week's run succeeded): {snapshot}")
    else:
        late = f", after week {snapshot_by}: a later week failed" if failures else ""
        print(
            f"  analyst snapshot (DuckDB storage {settings.analytics_storage_version}, "
            f"read-only{late}): {snapshot}"
        )
    for week, notes in warnings.items():
        for note in notes:
            print(f"WARNING {week}: {note}", file=sys.stderr)
    for week, problems in failures.items():
        for problem in problems:
            print(f"FAILED {week}: {problem}", file=sys.stderr)
    return 1 if failures else 0


def _summary(
    db: Path, outputs: str, batches, weeks: list[str], elapsed: float, business_dir: str
) -> str:
    from retouch_assets.business.summary import business_summary
    from retouch_assets.delivery.summary import delivery_summary
    from retouch_assets.gates.queries import held_by_freeze
    from retouch_assets.ingest.landing import read_manifest_lines
    from retouch_assets.ops.queries import outbox_status_counts
    from retouch_assets.vocabulary import GATE_STATUSES, OVERALL
    from retouch_assets.warehouse import connect, fetch_value

    lines = sum(len(read_manifest_lines(b)) for b in batches)
    with connect(db, read_only=True) as con:
        generations = fetch_value(con, "SELECT count(*) FROM retouch.generations")
        quarantine = fetch_value(con, "SELECT count(*) FROM retouch.quarantine")
        per_week = con.execute(
            """
            SELECT week, sum(g) AS generations, sum(q) AS quarantined FROM (
                SELECT week, 1 AS g, 0 AS q FROM retouch.generations
                UNION ALL SELECT week, 0, 1 FROM retouch.quarantine
            ) GROUP BY week ORDER BY week
            """
        ).fetchall()
        reasons = con.execute(
            "SELECT reason_code, count(*) FROM retouch.quarantine GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        statuses = dict(
            con.execute("SELECT status, count(*) FROM retouch.gate_decisions GROUP BY 1").fetchall()
        )
        published = fetch_value(
            con, "SELECT count(*) FROM retouch.gated_outputs WHERE output_path IS NOT NULL"
        )
        review = fetch_value(con, "SELECT count(*) FROM retouch.review_queue")
        budgets = con.execute(
            "SELECT slo, budget_consumed, policy_state, sli, objective, excluded "
            "FROM slo.error_budget "
            "WHERE scope = $overall AND week = (SELECT max(week) FROM slo.error_budget) "
            "ORDER BY slo",
            {"overall": OVERALL},
        ).fetchall()
        held = held_by_freeze(con)
        windows = fetch_value(con, "SELECT count(*) FROM slo.exclusion_windows")
        alerts = con.execute(
            "SELECT severity, count(*) FILTER (WHERE NOT low_traffic), "
            "count(*) FILTER (WHERE low_traffic) FROM slo.burn_alerts GROUP BY 1 ORDER BY 1"
        ).fetchall()
        incidents = con.execute(
            "SELECT incident_id, slo, scope, status, root_cause_category, timeline_path "
            "FROM ops.incidents ORDER BY number"
        ).fetchall()
        outbox = list(outbox_status_counts(con).items())
        business_lines = business_summary(con, business_dir)
        clip_lines = _clip_summary(con)
        delivery_lines = delivery_summary(con)
        heal_line = _heal_summary(con)
        failed_gates = con.execute(
            "SELECT gate, count(*) FROM (SELECT unnest(failed_gates) AS gate "
            "FROM retouch.gate_decisions) GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
    accounted = "yes" if generations + quarantine == lines else "NO"
    out = [
        "",
        f"retouch run: {len(weeks)} weeks, {len(batches)} batches in {elapsed:.1f}s",
        f"  manifest lines {lines} = generations {generations} + quarantine {quarantine}: "
        f"accounted for: {accounted}",
        "  week         generations  quarantined",
    ]
    out += [f"  {week}  {g:>11}  {q:>11}" for week, g, q in per_week]
    if reasons:
        out.append("  quarantine reasons: " + ", ".join(f"{r} {n}" for r, n in reasons))
    out.append("  gate status: " + ", ".join(f"{s} {statuses.get(s, 0)}" for s in GATE_STATUSES))
    if failed_gates:
        out.append(
            "  failed gates (before healing): " + ", ".join(f"{g} {n}" for g, n in failed_gates)
        )
    out += heal_line
    out.append(
        f"  published {published} images to {outputs}, {review} in the human-review queue, "
        f"{held} held by SLO freezes"
    )
    out += delivery_lines
    if budgets:
        out.append("  error budgets (overall, end of the last week):")
        for slo, consumed, state, sli, objective, excluded in budgets:
            level = f"SLI {sli:.3f}" if sli is not None else "no events"
            # Events inside an exclusion window (planned maintenance) count in no budget.
            left_out = f" ({excluded} events excluded)" if excluded else ""
            out.append(
                f"    {slo:<20} {consumed:>7.0%} consumed  {state:<16} {level} / {objective}"
                f"{left_out}"
            )
        excluded_events = sum(row[5] or 0 for row in budgets)
        out.append(
            f"  exclusion windows: {windows} applied; {excluded_events} events excluded from the "
            "budgets above" + ("" if windows else " (none configured: `exclusions:` in the config)")
        )
    if alerts:
        out.append(
            "  burn-rate alerts: "
            + ", ".join(f"{sev} {n} (+{low} low-traffic, not paged)" for sev, n, low in alerts)
        )
    out += clip_lines
    for incident_id, slo, scope, status, category, path in incidents:
        out.append(f"  {incident_id} {status}: {slo} ({scope}), root cause {category} — {path}")
    if outbox:
        out.append(
            "  alert outbox: "
            + ", ".join(f"{s} {n}" for s, n in outbox)
            + " (`retouch alerts --deliver` sends them)"
        )
    out += business_lines
    out.append(f"  warehouse: {db.resolve()}")
    return "\n".join(out)


# The blocking checks that read every signed file back (`gates.audit.c2pa_read_back`); their
# metadata counts the validation states as `state/<state>`.
C2PA_READ_BACK_CHECKS = ("published_images_carry_valid_c2pa", "renditions_carry_valid_c2pa")


def c2pa_states_read_back(evaluations) -> Counter:
    """The C2PA validation states counted by one run's read-back checks."""
    states: Counter = Counter()
    for evaluation in evaluations:
        if evaluation.check_name in C2PA_READ_BACK_CHECKS:
            for label, value in evaluation.metadata.items():
                if label.startswith("state/"):
                    states[label.removeprefix("state/")] += int(value.value)
    return states


def _provenance_summary(db: Path, signer, weeks: list[str], read_back: Counter) -> str:
    """The run's weeks' published images and renditions, with their C2PA manifests' validation
    states as the weeks' blocking read-back checks found them (each file is read back once, by
    its check, not again here); files whose check did not run are counted as such."""
    from retouch_assets.warehouse import connect

    with connect(db, read_only=True) as con:
        row = con.execute(
            "SELECT (SELECT count(*) FROM retouch.gated_outputs "
            "        WHERE output_path IS NOT NULL AND list_contains($weeks, week)), "
            "(SELECT count(*) FROM retouch.renditions WHERE list_contains($weeks, week))",
            {"weeks": [date.fromisoformat(w) for w in weeks]},
        ).fetchone()
    images, renditions = row if row else (0, 0)
    found = ", ".join(f"{state} {n}" for state, n in read_back.most_common())
    unread = images + renditions - read_back.total()
    if unread > 0:
        found = f"{found}, " if found else ""
        found += f"not read back {unread} (their week's check did not run)"
    anchor = signer.identity.trust_anchor_pem
    return (
        f"  C2PA: {images} published images and {renditions} renditions signed as "
        f"{signer.identity.subject!r}; read back: {found or 'nothing published'}"
        + (
            ""
            if anchor
            else " (no trust anchor configured: Valid = signature intact, signer untrusted)"
        )
    )


def _heal_summary(con) -> list[str]:
    """How many artifacts each healing preset healed, of the attempts it made."""
    import typing

    from retouch_assets.config import HealPreset
    from retouch_assets.gates.queries import heal_preset_counts

    counts = heal_preset_counts(con)
    if not counts:
        return []
    order = [p for p in typing.get_args(HealPreset) if p in counts]
    order += sorted(set(counts) - set(order))
    return [
        "  healing presets (healed / tried): "
        + ", ".join(f"{p} {counts[p][1]} / {counts[p][0]}" for p in order)
    ]


def _clip_summary(con) -> list[str]:
    """CLIP scoring, the prompt-drift gate and template locks, in a few lines."""
    from retouch_assets.gates.locks import active_locks, locked_templates
    from retouch_assets.quality.clip_scores import NOT_CONFIGURED_HINT
    from retouch_assets.quality.queries import clip_overview
    from retouch_assets.vocabulary import DriftStatus

    overview = clip_overview(con)
    statuses = overview["statuses"]
    lines = []
    if not overview["models"]:
        lines.append("  CLIP: " + NOT_CONFIGURED_HINT)
    for model in overview["models"]:
        trained = (
            "UNTRAINED (seeded random weights: the scores exercise the plumbing, not the "
            "judgement; export a real checkpoint with `retouch clip export`)"
            if model["untrained"]
            else "trained"
        )
        lines.append(
            f"  CLIP: {model['model_name']} {model['model_hash'][:12]} on {model['provider']}, "
            f"{model['artifacts']} artifacts scored; {trained}"
        )
    judged = statuses.get(DriftStatus.SCORED, 0)
    others = ", ".join(f"{s} {n}" for s, n in statuses.items() if s != DriftStatus.SCORED)
    lines.append(
        f"  prompt-drift gate: judged {judged}" + (f"; not judged: {others}" if others else "")
    )
    if overview["unapproved"]:
        lines.append("  templates without an approved prompt: " + ", ".join(overview["unapproved"]))
    for template_id, lock in sorted(locked_templates(active_locks(con)).items()):
        lines.append(
            f"  template lock: {lock.reason()} — unlock with `retouch signoff --template "
            f"{template_id} --by <name> --note <text>`"
        )
    return lines


def _cmd_bench(args: argparse.Namespace) -> int:
    import json

    from retouch_assets import bench

    if args.what == "clip":
        return _bench_clip(args)
    if args.what == "renditions":
        return _bench_renditions(args)
    if args.what == "e2e":
        print(
            f"bench e2e: {args.n} artifacts of {args.megapixels} MP over {args.weeks} weeks, "
            f"{args.masters} shared masters, best of {args.repeat}...",
            file=sys.stderr,
        )
        result = bench.bench_e2e(
            args.n,
            args.weeks,
            args.megapixels,
            args.repeat,
            masters=args.masters,
            progress=lambda line: print(line, file=sys.stderr),
        )
        print(f"bench e2e: dbt metrics layer {'ran' if result['dbt'] else 'off'}", file=sys.stderr)
    elif args.what == "delta-e":
        print(
            f"bench delta-e: {args.megapixels} MP photograph, best of {args.repeat}...",
            file=sys.stderr,
        )
        result = bench.bench_delta_e(args.megapixels, args.repeat)
    else:
        print(
            f"bench quality: {args.artifacts} artifacts of {args.megapixels} MP...", file=sys.stderr
        )
        result = bench.bench_quality(args.artifacts, args.megapixels, args.repeat)
    print(json.dumps(result))
    return 0


def _bench_renditions(args: argparse.Namespace) -> int:
    import json

    from retouch_assets.delivery.bench import bench_renditions

    width = args.width
    print(f"bench renditions: 5 real photographs at {width} px wide...", file=sys.stderr)
    for figures in bench_renditions(width, args.repeat or 3):
        print(json.dumps(figures), flush=True)
    return 0


def _bench_clip(args: argparse.Namespace) -> int:
    import json

    from retouch_assets.clip import DEMO_MODEL_DIR
    from retouch_assets.clip.bench import bench_clip
    from retouch_assets.clip.manifest import ClipModelError

    model_dir = args.clip_model or DEMO_MODEL_DIR
    print(
        f"bench clip: {args.images} images of 1 MP, batch {args.batch}, model {model_dir}...",
        file=sys.stderr,
    )
    notes: list[str] = []
    try:
        result = bench_clip(
            model_dir,
            batch=args.batch,
            images=args.images,
            device=args.device,
            precision=args.precision,
            pretrained=args.pretrained,
            repeat=args.repeat,
            notes=notes,
        )
    except ClipModelError as exc:
        raise SystemExit(f"retouch bench clip: {exc}") from None
    for note in notes:
        print(f"bench clip: {note}", file=sys.stderr)
    print(json.dumps(result))
    return 0


def _cmd_clip_export(args: argparse.Namespace) -> int:
    from retouch_assets.clip.export import ClipExportError, ClipExportUnavailable, export_model

    pretrained = None if args.pretrained.lower() == "none" else args.pretrained
    try:
        result = export_model(
            args.model,
            pretrained,
            args.out,
            seed=args.seed,
            int8=not args.no_int8,
            force=args.force,
            on_step=lambda message: print(f"clip export: {message}", file=sys.stderr),
        )
    except (ClipExportError, ClipExportUnavailable) as exc:
        raise SystemExit(f"retouch clip export: {exc}") from None
    m = result.manifest
    int8 = m["int8"]
    source = f"untrained, seed {m['seed']}" if m["untrained"] else m["checkpoint_sha256"]
    print(
        f"exported {m['model_name']} ({source}) to {result.out} in {result.seconds:.0f}s\n"
        f"  model_hash {m['model_hash']}, dim {m['dim']}, variants {', '.join(m['variants'])}\n"
        f"  ONNX Runtime vs torch: image {m['parity_vs_torch']['image_max_abs_diff']:.1e}, "
        f"text {m['parity_vs_torch']['text_max_abs_diff']:.1e} (max abs diff, normalised)"
        + (
            f"\n  int8 image tower: min cosine vs fp32 {int8['min_cosine_vs_fp32']:.5f} "
            f"({'offered' if int8['offered'] else 'not offered: below ' + str(int8['threshold'])})"
            if int8
            else ""
        )
    )
    return 0


def _cmd_alerts(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    import httpx

    from retouch_assets.ops import queries as outbox_queries
    from retouch_assets.ops.delivery import deliver_pending

    config = load_config(args.config)
    with _migrated(args.db) as con:
        if args.deliver:
            with httpx.Client(timeout=10.0) as client:
                counts = deliver_pending(
                    con,
                    config.alerting.routes,
                    settings_module.alert_environment(),
                    client,
                    datetime.now(UTC),
                )
            print(
                "delivery: "
                + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to deliver")
            )
        rows = outbox_queries.latest_outbox_rows(con, args.limit)
        totals = outbox_queries.outbox_status_counts(con)
    print("outbox: " + (", ".join(f"{s} {n}" for s, n in totals.items()) or "empty"))
    for r in rows:
        error = r["last_error"]
        note = f"  ({error})" if error and r["status"] != OutboxStatus.DELIVERED else ""
        print(
            f"  {r['created_at']:%Y-%m-%d %H:%M} {r['action']:<8} {r['route']:<14} "
            f"{r['status']:<12} {r['summary']}{note}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    defaults = settings_module.settings_from_env()
    parser = argparse.ArgumentParser(
        prog="retouch", description="Quality gates and SLOs for AI-generated marketing images."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="write sample landing batches from real photos")
    sample.add_argument("--out", required=True, help="landing folder to write (created)")
    sample.add_argument("--weeks", type=int, default=4, help="weeks of data (default 4)")
    sample.add_argument("--per-week", type=int, default=40, help="artifacts per week (default 40)")
    sample.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    sample.add_argument(
        "--start-week", default="2026-10-05", help="Monday of the first week (default 2026-10-05)"
    )
    sample.add_argument(
        "--business-out",
        default=None,
        help="business inputs folder to write (default: `business` next to --out, i.e. "
        "data/business for data/landing)",
    )
    sample.set_defaults(func=_cmd_sample)

    run = commands.add_parser("run", help="materialize every asset for every week in the landing")
    run.add_argument("--landing", default=defaults.landing_dir, help="landing folder")
    run.add_argument("--db", default=defaults.duckdb_path, help="DuckDB warehouse file")
    run.add_argument("--config", default=defaults.slo_config, help="retouch-slo.yaml to use")
    run.add_argument("--outputs", default=defaults.outputs_dir, help="published images folder")
    run.add_argument("--reports", default=defaults.reports_dir, help="reports and timelines")
    run.add_argument(
        "--clip-model",
        default=defaults.clip_model_dir,
        help="CLIP model folder (`retouch clip export`) for this run; default: "
        "RETOUCH_CLIP_MODEL, else clip.model_dir of the config",
    )
    run.add_argument(
        "--fallback-clip-model",
        default=None,
        help="CLIP model folder used only when none is configured (`make demo` passes the "
        "shipped untrained model)",
    )
    run.add_argument(
        "--business",
        default=None,
        help="business inputs folder (kpi_daily.csv, rum_lcp.csv); default: "
        "RETOUCH_BUSINESS_DIR, else `business` next to the landing folder",
    )
    run.add_argument(
        "--analytics",
        default=None,
        help="where to publish the analyst snapshot; default: RETOUCH_ANALYTICS_PATH, else "
        "analytics.duckdb next to the warehouse",
    )
    run.add_argument(
        "--deep-verify",
        action="store_true",
        default=defaults.deep_verify,
        help="the publication integrity check also re-decodes and re-measures every published "
        "image (default: hashes and gate rows only; RETOUCH_DEEP_VERIFY=on)",
    )
    run.add_argument(
        "--fallback-c2pa-identity",
        default=None,
        help="a test-chain folder (`retouch provenance test-chain`) signed with only when "
        "neither RETOUCH_C2PA_CERT/KEY nor provenance: of the config names an identity "
        "(`make demo` passes data/c2pa-test)",
    )
    run.add_argument(
        "--step-timings",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the seconds of every step of the runs as JSON to FILE (what `retouch bench "
        "e2e` reads; the runs themselves are unchanged)",
    )
    run.set_defaults(func=_cmd_run)

    provenance = commands.add_parser("provenance", help="C2PA signing identity tools")
    provenance_commands = provenance.add_subparsers(dest="provenance_command", required=True)
    test_chain = provenance_commands.add_parser(
        "test-chain",
        help="write a local TEST certificate chain (root CA + P-256 signer) once; FOR TESTING ONLY",
    )
    test_chain.add_argument("--out", required=True, help="folder to write (kept if complete)")
    test_chain.set_defaults(func=_cmd_provenance_test_chain)

    bench = commands.add_parser("bench", help="benchmarks with a same-run baseline (JSON last)")
    bench.add_argument("what", choices=["delta-e", "quality", "clip", "e2e", "renditions"])
    bench.add_argument("--width", type=int, default=480, help="renditions: pixels wide")
    bench.add_argument("n", nargs="?", type=int, default=400, help="e2e: artifacts (400)")
    bench.add_argument("--megapixels", type=float, default=None, help="image size (4.2 / 1.0)")
    bench.add_argument("--repeat", type=int, default=None, help="best of N runs (default 3; e2e 1)")
    bench.add_argument("--weeks", type=int, default=2, help="e2e: weeks of artifacts (2)")
    bench.add_argument("--masters", type=int, default=20, help="e2e: shared masters (20)")
    bench.add_argument("--artifacts", type=int, default=48, help="quality: artifacts (48)")
    bench.add_argument(
        "--clip-model", default=None, help="clip: exported model folder (default: the tiny demo)"
    )
    bench.add_argument("--batch", type=int, default=32, help="clip: batch size (32)")
    bench.add_argument("--images", type=int, default=64, help="clip: images (64)")
    bench.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto", help="clip")
    bench.add_argument(
        "--precision", choices=["auto", "fp32", "fp16", "int8"], default="auto", help="clip"
    )
    bench.add_argument(
        "--pretrained", default=None, help="clip: the checkpoint a checkpoint export came from"
    )
    bench.set_defaults(func=_cmd_bench)

    clip = commands.add_parser("clip", help="CLIP model tools (export needs the `clip` extra)")
    clip_commands = clip.add_subparsers(dest="clip_command", required=True)
    export = clip_commands.add_parser(
        "export", help="export an open_clip model to ONNX for the torch-free runtime"
    )
    export.add_argument("--model", required=True, help="open_clip model name, e.g. ViT-B-32")
    export.add_argument(
        "--pretrained",
        required=True,
        help="a local open_clip checkpoint file, or `none` for a seeded untrained model",
    )
    export.add_argument("--seed", type=int, default=0, help="seed of an untrained model (0)")
    export.add_argument("--out", required=True, help="model folder to write (atomically)")
    export.add_argument("--force", action="store_true", help="replace an existing --out")
    export.add_argument("--no-int8", action="store_true", help="skip the int8 image tower")
    export.set_defaults(func=_cmd_clip_export)

    alerts = commands.add_parser("alerts", help="list the alert outbox; --deliver sends it")
    alerts.add_argument("--deliver", action="store_true", help="deliver undelivered rows")
    alerts.add_argument("--db", default=defaults.duckdb_path, help="DuckDB warehouse file")
    alerts.add_argument("--config", default=defaults.slo_config, help="retouch-slo.yaml (routes)")
    alerts.add_argument("--limit", type=int, default=20, help="rows to list (default 20)")
    alerts.set_defaults(func=_cmd_alerts)

    validate = commands.add_parser("validate", help="check a retouch-slo.yaml and exit")
    validate.add_argument("--config", default=defaults.slo_config, help="file to check")
    validate.add_argument(
        "--db", default=defaults.duckdb_path, help="warehouse holding the last applied config"
    )

    signoff = commands.add_parser(
        "signoff", help="record a sign-off: release an SLO freeze or allow relaxing an SLO"
    )
    signoff.add_argument(
        "--kind", choices=list(SignoffKind), default=None, help="default: release_freeze"
    )
    signoff.add_argument(
        "--template",
        default=None,
        help="unlock a template locked by the prompt-drift gate (kind unlock_template)",
    )
    signoff.add_argument(
        "--scope",
        default=None,
        help="release_freeze: <slo>/<scope>, e.g. colour-fidelity/template_id=tpl-pet-care, "
        "accessibility/overall, or delivery/* for every scope; relax_objective: the SLO name",
    )
    signoff.add_argument("--approver", "--by", dest="approver", required=True)
    signoff.add_argument(
        "--release-note", "--note", dest="release_note", required=True, help="the release note"
    )
    signoff.add_argument("--effective-from", default=None, help="ISO time (default: now)")
    signoff.add_argument("--db", default=defaults.duckdb_path, help="DuckDB warehouse file")
    signoff.set_defaults(func=_cmd_signoff)
    validate.set_defaults(func=_cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    from retouch_assets.errors import WarehouseLocked
    from retouch_assets.settings import SettingsError

    try:
        # Like `dagster dev`: `.env` in the working directory, its values over the shell's.
        settings_module.load_dotenv()
        args = build_parser().parse_args(argv)
        if args.command == "bench" and args.megapixels is None:
            args.megapixels = 4.2 if args.what == "delta-e" else 1.0
        if args.command == "bench" and args.repeat is None:
            args.repeat = 1 if args.what == "e2e" else 3
        return args.func(args)
    except (ConfigError, SettingsError) as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    except WarehouseLocked as exc:
        print(f"retouch: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
