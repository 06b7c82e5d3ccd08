"""The LookML views of the dbt marts: one per mart, they parse, and their fields are exactly the
marts' columns (as dbt documents them; tests/test_dbt_metrics.py checks those are the built
columns)."""

import json
import re
from functools import cache

import lkml
import pytest

from retouch_assets.defs.metrics.project import DBT_PROJECT_DIR

LOOKML = DBT_PROJECT_DIR / "lookml"
_COLUMN = re.compile(r"\$\{TABLE\}\.(\w+)")
_FIELD = re.compile(r"\$\{(\w+)\}")


@cache
def marts() -> dict[str, list[str]]:
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    return {
        node["name"]: list(node["columns"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"].get("schema") == "marts"
    }


def view(name: str) -> dict:
    parsed = lkml.load((LOOKML / f"{name}.view.lkml").read_text())
    (only,) = parsed["views"]
    return only


def test_one_view_per_mart():
    assert {p.name.removesuffix(".view.lkml") for p in LOOKML.glob("*.view.lkml")} == set(marts())


@pytest.mark.parametrize("mart", sorted(marts()))
def test_view_fields_are_the_mart_columns(mart):
    columns = marts()[mart]
    v = view(mart)
    assert v["name"] == mart and v["sql_table_name"] == f"marts.{mart}"
    dimensions = v.get("dimensions", []) + v.get("dimension_groups", [])
    referenced = [c for d in dimensions for c in _COLUMN.findall(d["sql"])]
    assert sorted(referenced) == sorted(columns)  # each column once, nothing else
    (key,) = [d for d in v.get("dimensions", []) if d.get("primary_key") == "yes"]
    assert _COLUMN.findall(key["sql"]) == [columns[0]]  # the mart's key comes first
    fields = {d["name"] for d in v.get("dimensions", [])} | {m["name"] for m in v["measures"]}
    for measure in v["measures"]:
        sql = measure.get("sql", "")
        assert set(_COLUMN.findall(sql)) <= set(columns), measure["name"]
        assert set(_FIELD.findall(sql)) - {"TABLE"} <= fields, measure["name"]


def test_rates_are_ratios_of_sums():
    kpi = {m["name"]: m for m in view("fct_kpi_daily")["measures"]}
    assert kpi["cvr"]["sql"] == "1.0 * ${total_conversions} / nullif(${total_clicks}, 0)"
    assert kpi["total_clicks"]["type"] == "sum"
    lcp = {m["name"]: m for m in view("fct_lcp_beacons")["measures"]}
    assert lcp["lcp_p75_ms"]["sql"] == "quantile_disc(${TABLE}.lcp_ms, 0.75)"
