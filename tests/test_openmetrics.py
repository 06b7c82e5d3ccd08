"""The SLO state in the OpenMetrics text format, read back by the reference parser
(prometheus_client): families, samples, escaped labels, and the file the weekly run writes."""

import json
import math

from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as prometheus_families

from retouch_assets.ops.openmetrics import openmetrics_text
from tests.conftest import SAMPLE_WEEKS, SampleRun

WINDOWS = [
    {
        "severity": "page",
        "long_window": "1h",
        "short_window": "5m",
        "factor": 14.4,
        "burn_long": 20.5,
        "burn_short": 30.0,
    }
]


def _budget(**overrides) -> dict:
    row = {
        "slo": "colour-fidelity",
        "scope": "overall",
        "good": 95,
        "total": 100,
        "sli": 0.95,
        "objective": 0.99,
        "budget_consumed": 5.0,
        "burn_rates": json.dumps(WINDOWS),
        "low_traffic": False,
    }
    return row | overrides


def _samples(text: str) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge" and family.documentation
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_every_gauge_parses_with_its_labels_and_values():
    hostile = 'campaign_id=cmp "x"\\n<script>'
    text = openmetrics_text([_budget(), _budget(scope=hostile, sli=None, total=0, good=0)])
    assert text.endswith("# EOF\n")
    samples = _samples(text)
    overall = (("scope", "overall"), ("slo", "colour-fidelity"))
    assert samples[("retouch_slo_sli", overall)] == 0.95
    assert samples[("retouch_slo_error_budget_remaining_ratio", overall)] == -4.0
    assert samples[("retouch_slo_events_total", overall)] == 100
    assert samples[("retouch_slo_low_traffic", overall)] == 0
    long = (
        ("scope", "overall"),
        ("severity", "page"),
        ("slo", "colour-fidelity"),
        ("span", "long"),
        ("window", "1h"),
    )
    assert samples[("retouch_slo_burn_rate", long)] == 20.5
    threshold = (("scope", "overall"), ("severity", "page"), ("slo", "colour-fidelity"))
    assert samples[("retouch_slo_burn_rate_threshold", threshold + (("window", "1h"),))] == 14.4
    # A label value from the data comes back exactly as it was: escaped, never interpreted.
    odd = (("scope", hostile), ("slo", "colour-fidelity"))
    assert math.isnan(samples[("retouch_slo_sli", odd)])
    # The same text is valid Prometheus exposition too (what a textfile collector reads).
    assert {f.name for f in prometheus_families(text)} >= {
        "retouch_slo_sli",
        "retouch_slo_burn_rate",
    }


def test_the_weekly_run_writes_the_latest_weeks_metrics(sample_run: SampleRun):
    latest = sample_run.reports / "openmetrics" / "retouch_slo.prom"
    per_week = sample_run.reports / SAMPLE_WEEKS[-1] / "retouch_slo.prom"
    assert latest.read_text() == per_week.read_text()
    samples = _samples(latest.read_text())
    [(total,)] = sample_run.query(
        "SELECT total FROM slo.error_budget WHERE week = $w AND slo = 'colour-fidelity' "
        "AND scope = 'overall'",
        {"w": SAMPLE_WEEKS[-1]},
    )
    key = ("retouch_slo_events_total", (("scope", "overall"), ("slo", "colour-fidelity")))
    assert samples[key] == total > 0


def test_budget_metadata_is_numeric_so_the_ui_plots_it(sample_run: SampleRun):
    import dagster as dg

    result = sample_run.results[SAMPLE_WEEKS[-1]]
    (budget,) = [
        m.materialization
        for m in result.get_asset_materialization_events()
        if m.asset_key == dg.AssetKey(["slo", "error_budget"])
    ]
    value = budget.metadata["budget_consumed/colour-fidelity"]
    assert isinstance(value, dg.FloatMetadataValue) and value.value >= 0
    assert isinstance(budget.metadata["sli/colour-fidelity"], dg.FloatMetadataValue)
