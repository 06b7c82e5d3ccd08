"""The torch-free CLIP tokenizer gives open_clip's token ids (recorded once in
tests/data/clip/tokens.json by tests/data/clip/record_fixtures.py, so CI needs no torch)."""

import json
from pathlib import Path

import numpy as np
import pytest

from retouch_assets.clip import DEMO_MODEL_DIR
from retouch_assets.clip.tokenizer import BPE_FILENAME, clean_text, load_tokenizer

FIXTURE = Path(__file__).parent / "data" / "clip" / "tokens.json"
SOT, EOT = 49406, 49407


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(str(DEMO_MODEL_DIR / BPE_FILENAME))


def _unpadded(row: np.ndarray) -> list[int]:
    ids = row.tolist()
    while ids and ids[-1] == 0:
        ids.pop()
    return ids


def test_ids_equal_open_clips_on_every_recorded_prompt(recorded, tokenizer):
    cases = recorded["cases"]
    assert len(cases) >= 300
    out = tokenizer([c["prompt"] for c in cases])
    assert out.ids.shape == (len(cases), 77) and out.ids.dtype == np.int64
    mismatches = [
        c["prompt"] for c, row in zip(cases, out.ids, strict=True) if _unpadded(row) != c["ids"]
    ]
    assert mismatches == []
    assert not out.escaped.any()


def test_truncation_is_flagged_per_row_with_the_end_token_last(recorded, tokenizer):
    cases = recorded["cases"]
    out = tokenizer([c["prompt"] for c in cases])
    expected = np.array([c["truncated"] for c in cases])
    assert expected.sum() >= 10  # the fixture holds long prompts in several scripts
    assert np.array_equal(out.truncated, expected)
    assert (out.ids[out.truncated, -1] == EOT).all()
    # At the boundary: 75 words + start + end fit exactly; 76 do not.
    fits, cut = tokenizer([" ".join(["photo"] * 75), " ".join(["photo"] * 76)]).truncated
    assert not fits and cut


def test_a_literal_special_token_in_a_prompt_is_escaped_not_obeyed(recorded, tokenizer):
    cases = recorded["escaped_cases"]
    out = tokenizer([c["prompt"] for c in cases])
    assert out.escaped.all()
    for case, row in zip(cases, out.ids, strict=True):
        ids = _unpadded(row)
        # open_clip turned the literal into a special token; ours keeps one start, one end.
        assert case["open_clip_ids"].count(SOT) + case["open_clip_ids"].count(EOT) > 2
        assert ids[0] == SOT and ids[-1] == EOT
        assert SOT not in ids[1:] and EOT not in ids[:-1]


def test_cleaning_repairs_mojibake_unescapes_html_and_lowercases():
    assert clean_text("  KÃ¤tzchen &amp;amp;\tCafé  ") == "kätzchen & café"
