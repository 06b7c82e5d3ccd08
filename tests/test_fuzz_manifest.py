"""Property-based tests: whatever an upstream writes into a manifest, the triage never raises,
every non-blank line ends in exactly one of accepted or quarantined, and both can be stored."""

import functools
import hashlib
import json
import os
import tempfile
import unicodedata
from pathlib import Path
from unittest import mock

import duckdb
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from retouch_assets.ingest import landing as landing_module
from retouch_assets.ingest.landing import Batch, read_manifest_lines, triage_landing
from retouch_assets.ingest.manifest import (
    IDENTIFIER_FIELDS,
    MAX_IDENTIFIER_CHARS,
    ManifestRecord,
    examine_line,
)
from retouch_assets.ingest.rows import generation_rows, quarantine_rows
from retouch_assets.ingest.tables import GENERATIONS, QUARANTINE
from retouch_assets.vocabulary import QuarantineReason
from tests.conftest import BOUNDS, valid_record

# Examples per property: modest, so the suite stays fast; raise it for a deeper run, e.g.
# RETOUCH_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz_manifest.py tests/test_fuzz_images.py
EXAMPLES = int(os.environ.get("RETOUCH_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Characters an upstream may send: anything, lone surrogates included, and a bias towards the
# ones that break things (controls, line and paragraph separators, bidi overrides, BOM).
NASTY = ["\x00", "\r", "\n", "\t", " ", "\u2028", "\u2029", "\u202e", "\ufeff", "\ud800", "\udfff"]
characters = st.one_of(st.characters(exclude_categories=[]), st.sampled_from(NASTY))
texts = st.one_of(
    st.text(characters, max_size=12),
    st.sampled_from(["", " x", "x\t", "../../x", "/etc/passwd", "C:\\x", ".", "..", "a/b"]),
    st.integers(190, 260).map(lambda n: "i" * n),
)
numbers = st.one_of(
    st.integers(),
    st.integers(2**62, 2**80),
    st.integers(-(2**80), -(2**62)),
    st.floats(allow_nan=True, allow_infinity=True),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = sorted(valid_record()) + ["prompt_hash", "negative_prompt", "sampler", "reviewer"]
LAYER_FIELDS = ["id", "text", "fg", "bg", "bbox", "font_px", "bold"]


SAFE_IDS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-"), min_size=1, max_size=4)


@st.composite
def records(draw) -> dict:
    """A valid record, often with a few fields replaced by arbitrary JSON, or removed."""
    record = valid_record(artifact_id=draw(SAFE_IDS))
    mutations = draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=mutations, max_size=mutations)):
        if draw(st.integers(0, 5)) == 0:
            record.pop(name, None)
        else:
            record[name] = draw(texts if draw(st.booleans()) else json_values)
    if draw(st.integers(0, 4)) == 0:
        layer = dict(valid_record()["text_layers"][0])
        layer[draw(st.sampled_from(LAYER_FIELDS))] = draw(json_values)
        record["text_layers"] = [layer]
    return record


def _dumped(record: dict, ascii_only: bool) -> bytes:
    text = json.dumps(record, ensure_ascii=ascii_only)  # writes NaN / Infinity literals too
    # A lone surrogate that is not \u-escaped becomes bytes that are not UTF-8 (CESU-8).
    return text.encode("utf-8", errors="surrogatepass")


record_lines = st.builds(_dumped, records(), st.booleans())
other_lines = st.one_of(
    st.binary(max_size=40),
    st.text(characters, max_size=20).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [b"NaN", b"[]", b"null", b'"x"', b"{", b'{"a": 1, "a": 2}', b"  ", b"\t", b"\xef\xbb\xbf"]
    ),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(4290, 4400).map(lambda n: b'{"seed": ' + b"9" * n + b"}"),
)
any_lines = st.one_of(record_lines, other_lines)


@st.composite
def lines(draw) -> list[bytes]:
    """Up to six lines, about two in three of them records."""
    count = draw(st.integers(0, 6))
    return [draw(record_lines if draw(st.integers(0, 2)) else other_lines) for _ in range(count)]


@st.composite
def manifests(draw) -> bytes:
    """Lines framed as an upstream might: BOM or not, LF or CRLF, final newline or not."""
    body = (b"\r\n" if draw(st.booleans()) else b"\n").join(draw(lines()))
    if draw(st.booleans()):
        body += b"\n"
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + body


def _write_batch(landing: Path, batch_id: str, manifest: bytes) -> None:
    batch = landing / batch_id
    rng = np.random.default_rng(0)
    for relative in (valid_record()["image"], valid_record()["master"]):
        (batch / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 12, 3), dtype=np.uint8)).save(batch / relative)
    (batch / "manifest.jsonl").write_bytes(manifest)


def _non_blank_line_numbers(manifest: bytes) -> set[int]:
    chunks = manifest.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    return {n for n, chunk in enumerate(chunks, start=1) if chunk.strip()}


FORBIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def _is_identifier(value: str) -> bool:
    return (
        0 < len(value) <= MAX_IDENTIFIER_CHARS
        and value == value.strip()
        and not any(unicodedata.category(c) in FORBIDDEN for c in value)
    )


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _assert_storable(accepted, quarantined) -> None:
    for record in (a.record for a in accepted):
        for text in _strings(record.model_dump(mode="json")):
            text.encode("utf-8")
        for name in IDENTIFIER_FIELDS:
            assert _is_identifier(getattr(record, name)), (name, getattr(record, name))
        assert all(_is_identifier(layer.id) for layer in record.text_layers)
    for item in quarantined:
        assert item.rejection.code in set(QuarantineReason)
        for text in (item.raw, item.rejection.reason, item.artifact_id or ""):
            text.encode("utf-8")
    generations = GENERATIONS.rows(generation_rows(accepted))
    quarantine = QUARANTINE.rows(quarantine_rows(quarantined))
    con = _database()  # and the warehouse reads every value back
    con.register("g", generations)
    con.register("q", quarantine)
    assert con.execute("select count(*) from g").fetchone()[0] == len(accepted)
    con.execute("select * from q").fetchall()
    con.execute("select * from g").fetchall()


@functools.cache
def _database() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()  # one in-memory database for every example (connecting is slow)


@FUZZ
@given(st.lists(manifests(), min_size=1, max_size=2))
def test_any_manifest_is_triaged_without_raising_and_every_line_is_filed_once(batches):
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        expected = set()
        for index, manifest in enumerate(batches):
            _write_batch(landing, f"b{index}", manifest)
            expected |= {(f"b{index}", n) for n in _non_blank_line_numbers(manifest)}
        triage = triage_landing(landing, BOUNDS, workers=2)
        filed = [(a.batch_id, a.line_no) for a in triage.accepted]
        filed += [(q.batch_id, q.line_no) for q in triage.quarantined]
        assert len(filed) == len(set(filed))
        assert set(filed) == expected
        _assert_storable(triage.accepted, triage.quarantined)


@settings(max_examples=EXAMPLES * 3, deadline=None)
@given(any_lines.map(lambda b: b.decode("utf-8", "replace")))
def test_examining_any_line_never_raises(raw):
    outcome = examine_line(raw).outcome
    if not isinstance(outcome, ManifestRecord):
        assert outcome.code in set(QuarantineReason)
        outcome.reason.encode("utf-8")


@settings(max_examples=EXAMPLES * 2, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.sampled_from(
                [b"", b" ", b"\r", b"\xef\xbb\xbf", b"x" * 61, b"x" * 62, b"x" * 63, b"x" * 64]
            ),
            st.integers(60, 70).map(lambda n: b"y" * n),
            st.integers(60, 70).map(lambda n: b" " * n),
        ),
        max_size=6,
    ),
    st.sampled_from([b"\n", b"\r\n"]),
    st.booleans(),
    st.booleans(),
)
def test_the_streaming_reader_agrees_with_a_plain_split(chunks, ending, final_newline, bom):
    """With a tiny line limit, every boundary case of the bounded reader is reachable."""
    manifest = ending.join(chunks) + (ending if final_newline else b"")
    manifest = (b"\xef\xbb\xbf" if bom else b"") + manifest
    limit, prefix = 64, 16
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.object(landing_module, "MAX_LINE_BYTES", limit),
        mock.patch.object(landing_module, "RAW_PREFIX_BYTES", prefix),
        mock.patch.object(landing_module, "_READ_CHUNK", 7),
    ):
        (Path(tmp) / "manifest.jsonl").write_bytes(manifest)
        got = read_manifest_lines(Batch("b", Path(tmp)))
    parts = manifest.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    want = [
        (n, part.removesuffix(b"\r"))
        for n, part in enumerate(parts, start=1)
        if part.removesuffix(b"\r").strip()
    ]
    assert [line.line_no for line in got] == [n for n, _ in want]
    for line, (_, content) in zip(got, want, strict=True):
        if len(content) > limit:
            assert line.rejection.code == QuarantineReason.LINE_TOO_LONG
            assert hashlib.sha256(content).hexdigest() in line.rejection.detail
            assert f"{len(content)} bytes" in line.rejection.detail
            assert line.raw == content[:prefix].decode("utf-8", "replace")
        else:
            assert line.raw == content.decode("utf-8", "replace")
            if line.rejection is not None:
                assert line.rejection.code == QuarantineReason.INVALID_ENCODING
