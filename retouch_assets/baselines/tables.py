"""The baselines layer's tables: weekly baselines and the regression guardrail."""

from retouch_assets.warehouse import BIGINT, BOOLEAN, DATE, DOUBLE, JSON, VARCHAR, Table, column

WEEKLY = Table(
    "baselines.weekly",
    (
        column("week", DATE, required=True),
        column("scope_type", VARCHAR, required=True),
        column("scope", VARCHAR, required=True),
        column("artifacts", BIGINT, required=True),
        column("delta_e_mean", DOUBLE),
        column("delta_e_p95", DOUBLE),
        column("wcag_failure_rate", DOUBLE),
        column("reprocess_ms_mean", DOUBLE),
        column("reprocess_ms_max", BIGINT),
        column("gate_failures", JSON, required=True),
        column("incidents_30d", JSON, required=True),
    ),
    "Per week, overall and per template and channel: ΔE mean and p95, WCAG failure rate, "
    "reprocess time mean and max, gate failure counts, incidents of the last 30 days by root "
    "cause.",
)

VERSION_GUARDRAIL = Table(
    "baselines.version_guardrail",
    (
        column("week", DATE, required=True),
        column("kind", VARCHAR, required=True),
        column("version", VARCHAR, required=True),
        column("template_id", VARCHAR),
        column("artifacts", BIGINT, required=True),
        column("delta_e_mean", DOUBLE),
        column("baseline_delta_e_mean", DOUBLE),
        column("baseline_artifacts", BIGINT, required=True),
        column("worse_by_pct", DOUBLE),
        column("regressed", BOOLEAN, required=True),
        column("note", VARCHAR),
    ),
    "Every model and prompt version first seen in the week against the previous weeks' "
    "baseline (overall for models, the template's for prompt versions).",
)

TABLES = (WEEKLY, VERSION_GUARDRAIL)
