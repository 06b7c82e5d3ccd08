"""Batch-level expectations on one week of `retouch.generations`, run with great-expectations.

Line-level contract checks happen at ingest (a bad line is quarantined); these catch what is
valid line by line but wrong for the batch: unknown channels, implausible parameters, keys that
repeat, a schema that drifted. great-expectations is imported here, inside the function: it
takes seconds to import and the definitions must load fast.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from retouch_assets.config import IngestConfig

if TYPE_CHECKING:
    import pandas as pd

KEY_COLUMNS = ["artifact_id", "attempt"]
REQUIRED_COLUMNS = [
    "artifact_id",
    "attempt",
    "campaign_id",
    "template_id",
    "channel",
    "retouch_version",
    "model_version",
    "prompt",
    "prompt_version",
    "prompt_hash",
    "seed",
    "steps",
    "cfg_scale",
    "generated_at",
    "processing_ms",
    "image",
    "master",
    "batch_id",
    "week",
]


@dataclass(frozen=True)
class ExpectationOutcome:
    success: bool
    statistics: dict[str, Any]
    failures: list[dict[str, Any]]


def build_expectations(columns: list[str], config: IngestConfig) -> list[Any]:
    import great_expectations.expectations as gxe

    ranges = config.ranges
    expectations: list[Any] = [
        gxe.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=True),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=KEY_COLUMNS),
        gxe.ExpectColumnValuesToBeInSet(column="channel", value_set=list(config.channels)),
        gxe.ExpectColumnValuesToMatchRegex(column="prompt_hash", regex=r"^[0-9a-f]{64}$"),
    ]
    expectations += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in REQUIRED_COLUMNS]
    for column in ("attempt", "steps", "cfg_scale", "processing_ms", "review_seconds"):
        bounds = getattr(ranges, column)
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=column, min_value=bounds.min, max_value=bounds.max
            )
        )
    return expectations


def validate_generations(
    frame: "pd.DataFrame", expected_columns: list[str], config: IngestConfig
) -> ExpectationOutcome:
    """Validate one week of generations; failures name the expectation and sample values."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    source = context.data_sources.add_or_update_pandas("retouch")
    batch = (
        source.add_dataframe_asset("generations")
        .add_batch_definition_whole_dataframe("week")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(
        name="retouch_generations", expectations=build_expectations(expected_columns, config)
    )
    result = batch.validate(suite)
    failures = []
    for item in result.results:
        if item.success:
            continue
        kwargs = {k: v for k, v in item.expectation_config.kwargs.items() if k != "batch_id"}
        failures.append(
            {
                "expectation": item.expectation_config.type,
                "kwargs": kwargs,
                "unexpected_count": item.result.get("unexpected_count"),
                "sample": [str(v) for v in (item.result.get("partial_unexpected_list") or [])[:5]],
                "observed": str(item.result.get("observed_value", "")) or None,
            }
        )
    return ExpectationOutcome(bool(result.success), dict(result.statistics), failures)
