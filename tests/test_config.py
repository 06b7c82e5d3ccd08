"""retouch-slo.yaml: the shipped file is valid; a bad one names the file, the field, the fix."""

import pytest

from retouch_assets.config import ConfigError, load_config
from tests.conftest import REPO_ROOT


def _write(tmp_path, text):
    path = tmp_path / "retouch-slo.yaml"
    path.write_text(text)
    return path


def test_the_shipped_file_is_valid_and_holds_the_brief_defaults():
    config = load_config(REPO_ROOT / "retouch-slo.yaml")
    assert config.gates.colour.delta_e_mean_max == 0.8
    assert config.gates.colour.hist_delta_pct_max == 5.0
    assert config.gates.prompt_drift.cosine_distance_max == 0.2
    assert config.gates.delivery.processing_seconds_max == 90
    assert "web" in config.ingest.channels


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_an_empty_file_is_an_error_not_the_defaults(tmp_path, text):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    assert "retouch-slo.yaml: (top level): the file is empty. Fix:" in str(err.value)


def test_an_empty_mapping_asks_for_the_defaults(tmp_path):
    assert load_config(_write(tmp_path, "{}\n")).gates.accessibility.normal_text_min_ratio == 4.5


@pytest.mark.parametrize(
    ("yaml_text", "where", "listed"),
    [
        (
            "slos:\n  - {name: x, indicator: {metric: wcag_aa_pass, op: '==', threshold: true}, "
            "objective: 0.9, windw: 30d}\n",
            "slos[0].windw",
            "did you mean 'window'? remove it or use one of: name, description, indicator",
        ),
        (
            "alerting:\n  routes:\n    - {name: a, kind: slack, severities: [page], urll: x}\n",
            "alerting.routes[0].urll",
            "use one of: name, kind, severities, url_env, secret_env",
        ),
        ("gates:\n  colour:\n    delta: 1\n", "gates.colour.delta", "delta_e_mean_max"),
    ],
)
def test_a_misspelt_key_in_a_list_item_lists_the_allowed_keys(tmp_path, yaml_text, where, listed):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, yaml_text))
    message = str(err.value)
    assert where in message and listed in message
    assert not message.rstrip().endswith("use one of:")


def test_misspelt_key_suggests_the_right_one(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, "ingest:\n  chanels: [web]\n"))
    message = str(err.value)
    assert "retouch-slo.yaml: ingest.chanels" in message
    assert "did you mean 'channels'" in message


def test_wrong_type_names_the_field_and_value(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, "gates:\n  colour:\n    delta_e_mean_max: lots\n"))
    assert "gates.colour.delta_e_mean_max" in str(err.value)
    assert "'lots'" in str(err.value) and "Fix:" in str(err.value)


def test_out_of_range_value(tmp_path):
    with pytest.raises(
        ConfigError, match=r"gates\.delivery\.processing_seconds_max.*greater than 0"
    ):
        load_config(_write(tmp_path, "gates:\n  delivery:\n    processing_seconds_max: -5\n"))


def test_inverted_range(tmp_path):
    with pytest.raises(ConfigError, match=r"ingest\.ranges\.steps: min \(200\.0\) is greater"):
        load_config(_write(tmp_path, "ingest:\n  ranges:\n    steps: {min: 200, max: 10}\n"))


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, "service: ''\ngates:\n  colour: {delta_e_mean_max: 0}\n"))
    assert len(str(err.value).splitlines()) == 2


def test_invalid_yaml_gives_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"retouch-slo.yaml: line 2, column 1: not valid YAML"):
        load_config(_write(tmp_path, "gates:\n\tcolour: 1\n"))


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(_write(tmp_path, "- just\n- a list\n"))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_healing_preset_lists_the_allowed_ones(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, "healing:\n  presets: [white_balance, magic]\n"))
    message = str(err.value)
    assert (
        "healing.presets[1]" in message and "'colour_matrix', 'sharpening' or 'masking'" in message
    )


def test_bad_alpha_background_colour(tmp_path):
    with pytest.raises(ConfigError, match=r"quality\.alpha_background.*#RRGGBB"):
        load_config(_write(tmp_path, "quality:\n  alpha_background: white\n"))


@pytest.mark.parametrize(
    ("yaml_text", "field", "words"),
    [
        (
            "slos:\n  - name: x\n    indicator: {metric: delta_e_mean, op: '<=', threshold: 1}\n"
            "    objective: 1.5\n",
            "slos[0].objective",
            "less than 1",
        ),
        (
            "slos:\n  - name: x\n    indicator: {metric: delta_e_mean, op: '<=', threshold: 1}\n"
            "    objective: 0.9\n    window: 30 days\n",
            "slos[0].window",
            "duration",
        ),
        (
            "slos:\n  - name: x\n    indicator: {metric: colour, op: '<=', threshold: 1}\n"
            "    objective: 0.9\n",
            "slos[0].indicator.metric",
            "delta_e_mean",
        ),
        (
            "slos:\n  - name: x\n    indicator: {metric: wcag_aa_pass, op: '<', threshold: 3}\n"
            "    objective: 0.9\n",
            "slos[0].indicator",
            "true/false",
        ),
        (
            "slos:\n  - name: Bad Name\n    indicator: {metric: delta_e_mean, op: '<=', threshold: 1}\n"
            "    objective: 0.9\n",
            "slos[0].name",
            "pattern",
        ),
        ("budget_policy: {freeze_new_work_at: 0.95}\n", "budget_policy", "thresholds must rise"),
        (
            "alerting:\n  windows:\n    - {severity: page, budget_consumed: 0.02, long: 5m, short: 1h}\n",
            "alerting.windows[0]",
            "short window",
        ),
        (
            "alerting:\n  routes:\n    - {name: pd, kind: pagerduty, severities: [page], "
            "secret_env: my-key}\n",
            "alerting.routes[0].secret_env",
            "pattern",
        ),
        ("review: {timezone: Mars/Olympus}\n", "review", "unknown timezone"),
    ],
)
def test_slo_config_errors_name_the_field(tmp_path, yaml_text, field, words):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, yaml_text))
    message = str(err.value)
    assert f"retouch-slo.yaml: {field}" in message and words in message and "Fix:" in message


def test_duplicate_slo_names(tmp_path):
    one = "  - name: x\n    indicator: {metric: delta_e_mean, op: '<=', threshold: 1}\n    objective: 0.9\n"
    with pytest.raises(ConfigError, match="repeated: x"):
        load_config(_write(tmp_path, "slos:\n" + one + one))


def test_the_shipped_slos_are_the_brief_defaults():
    config = load_config(REPO_ROOT / "retouch-slo.yaml")
    objectives = {s.name: (s.objective, s.indicator.threshold) for s in config.slos}
    assert objectives == {
        "colour-fidelity": (0.95, 1.0),
        "accessibility": (0.99, True),
        # Processing under gates.delivery.processing_seconds_max (90 s) and every channel
        # rendition within budget and floor.
        "delivery": (0.95, True),
        "reprocess-success": (0.98, True),
        # The article's prompt-drift gate (cosine distance <= 0.2) as an objective.
        "prompt-fidelity": (0.95, 0.2),
    }
    assert [s.window.days for s in config.slos] == [30] * 5
    assert config.slo("delivery").indicator.metric == "delivery_ok"
    assert config.gates.delivery.processing_seconds_max == 90


@pytest.mark.parametrize(
    ("yaml_text", "fix"),
    [
        (
            "alerting:\n  routes:\n    - {name: x, kind: slack, severities: [page], url_env: HOME}\n",
            "starting with RETOUCH_",
        ),
        ("review: {time: '9 am'}\n", "HH:MM"),
        ("quality: {alpha_background: white}\n", "#RRGGBB"),
    ],
)
def test_a_pattern_mismatch_gets_the_fix_for_its_field(tmp_path, yaml_text, fix):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, yaml_text))
    assert fix in str(err.value) and ("#RRGGBB" not in str(err.value)) == (fix != "#RRGGBB")
