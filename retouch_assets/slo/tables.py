"""The SLO layer's tables: SLI facts, error budgets, burn-rate alerts, and the governance
records (sign-offs, applied configurations) that are never replaced."""

from retouch_assets.warehouse import (
    BIGINT,
    BOOLEAN,
    DATE,
    DOUBLE,
    JSON,
    TIMESTAMPTZ,
    VARCHAR,
    Table,
    column,
    list_of,
)

SLI_FACTS = Table(
    "slo.sli_facts",
    (
        column("week", DATE, required=True),
        column("slo", VARCHAR, required=True),
        column("day", DATE, required=True),
        column("campaign_id", VARCHAR, required=True),
        column("template_id", VARCHAR, required=True),
        column("channel", VARCHAR, required=True),
        column("good", BIGINT, required=True),
        column("total", BIGINT, required=True),
        column("excluded_good", BIGINT, required=True, default="0"),
        column("excluded_total", BIGINT, required=True, default="0"),
        column("exclusion_ids", list_of(VARCHAR)),
    ),
    "Good and total events per SLO × day × campaign × template × channel (event time = "
    "generated_at). Events inside an exclusion window are not in good and total but in "
    "excluded_good and excluded_total, with the ids of their windows (exclusion_ids).",
)

ERROR_BUDGET = Table(
    "slo.error_budget",
    (
        column("week", DATE, required=True),
        column("slo", VARCHAR, required=True),
        column("scope", VARCHAR, required=True),
        column("dimension", VARCHAR),
        column("window_end", TIMESTAMPTZ, required=True),
        column("window_days", DOUBLE, required=True),
        column("good", BIGINT, required=True),
        column("total", BIGINT, required=True),
        column("sli", DOUBLE),
        column("objective", DOUBLE, required=True),
        column("budget_consumed", DOUBLE, required=True),
        column("burn_rates", JSON, required=True),
        column("policy_state", VARCHAR, required=True),
        column("frozen_since", TIMESTAMPTZ),
        column("low_traffic", BOOLEAN, required=True),
        column("excluded", BIGINT, required=True, default="0"),
    ),
    "Per SLO and scope (overall, each campaign, template, channel) at the end of the week in "
    "event time: good, total, SLI, budget consumed, burn rate of every alert window, policy "
    "state (ok, freeze_new_work, slo_freeze, exhausted), and the events of the SLO window "
    "left out by exclusion windows (excluded).",
)

BURN_ALERTS = Table(
    "slo.burn_alerts",
    (
        column("week", DATE, required=True),
        column("slo", VARCHAR, required=True),
        column("scope", VARCHAR, required=True),
        column("severity", VARCHAR, required=True),
        column("long_window", VARCHAR, required=True),
        column("short_window", VARCHAR, required=True),
        column("factor", DOUBLE, required=True),
        column("fired_at", TIMESTAMPTZ, required=True),
        column("resolved_at", TIMESTAMPTZ),
        column("peak_burn_long", DOUBLE, required=True),
        column("peak_burn_short", DOUBLE, required=True),
        column("low_traffic", BOOLEAN, required=True),
    ),
    "Multi-window multi-burn-rate alert episodes of the week (SRE Workbook): fired when both "
    "the long and the short window burn faster than the factor.",
)

SIGNOFFS = Table(
    "ops.signoffs",
    (
        column("signoff_id", VARCHAR, required=True),
        column("signed_at", TIMESTAMPTZ, required=True),
        column("kind", VARCHAR, required=True),
        column("scope", VARCHAR, required=True),
        column("approver", VARCHAR, required=True),
        column("release_note", VARCHAR, required=True),
        column("effective_from", TIMESTAMPTZ, required=True),
    ),
    "Sign-offs releasing an SLO freeze or allowing a relaxed SLO: appended, never changed.",
    partition_by=(),
)

APPLIED_CONFIG = Table(
    "ops.applied_config",
    (
        column("applied_at", TIMESTAMPTZ, required=True),
        column("config_hash", VARCHAR, required=True),
        column("config", JSON, required=True),
        column("source", VARCHAR, required=True),
    ),
    "Every configuration applied to this warehouse, in order: appended, never changed.",
    partition_by=(),
)

EXCLUSION_WINDOWS = Table(
    "slo.exclusion_windows",
    (
        column("exclusion_id", VARCHAR, required=True),
        column("slo", VARCHAR),
        column("scope", VARCHAR, required=True),
        column("starts_at", TIMESTAMPTZ, required=True),
        column("ends_at", TIMESTAMPTZ, required=True),
        column("reason", VARCHAR, required=True),
        column("approved_by", VARCHAR, required=True),
        column("applied_at", TIMESTAMPTZ, required=True),
        column("retroactive", BOOLEAN, required=True),
        column("signoff_id", VARCHAR),
        column("retired_at", TIMESTAMPTZ),
    ),
    "Every exclusion window applied to this warehouse, keyed by the content hash of its bounds "
    "and scope (slo NULL: every SLO; scope `overall` or `dimension=value`): when it was first "
    "applied, whether it started before that (and the sign-off that allowed it), and when it "
    "left the config (retired_at). Rows are never deleted.",
    partition_by=(),
)

TABLES = (SLI_FACTS, ERROR_BUDGET, BURN_ALERTS, SIGNOFFS, APPLIED_CONFIG, EXCLUSION_WINDOWS)
