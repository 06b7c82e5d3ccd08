"""Signed C2PA provenance: every published image carries a manifest that reads back valid with
the creation action, its healing edits, the master as ingredient and the generation and gate
assertions; tampering, stripping and a missing identity are caught; re-runs keep signed files."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from PIL import Image

from retouch_assets.cli import main
from retouch_assets.config import RetouchConfig, parse_config
from retouch_assets.defs.shared import key_of
from retouch_assets.delivery.tables import RENDITIONS
from retouch_assets.gates.publish import PNG_MIME
from retouch_assets.gates.tables import GATED_OUTPUTS
from retouch_assets.provenance.c2pa_io import (
    INVALID,
    TRUSTED,
    VALID,
    open_signer,
    read_manifest,
    strip_png_manifest,
)
from retouch_assets.provenance.identity import (
    ProvenanceError,
    load_identity,
    resolve_paths,
)
from retouch_assets.provenance.manifest import (
    GATES_LABEL,
    GENERATION_LABEL,
    TRAINED_ALGORITHMIC_MEDIA,
    generator_version,
    rendition_actions,
    rendition_claim,
)
from retouch_assets.provenance.testchain import TestChainError, make_test_chain, write_test_chain
from retouch_assets.safe_paths import sha256_bytes, sha256_file
from retouch_assets.settings import ENV_C2PA_CERT, ENV_C2PA_KEY, ENV_C2PA_TRUST_ANCHOR
from tests.conftest import SAMPLE_WEEKS, SampleRun
from tests.test_pipeline import _check as check_alone

WEEK = SAMPLE_WEEKS[0]
C2PA_CHECK = dg.AssetCheckKey(key_of(GATED_OUTPUTS), "published_images_carry_valid_c2pa")


def _published(run: SampleRun, status: str) -> tuple[str, int, Path, str]:
    rows = run.query(
        "SELECT o.artifact_id, o.attempt, o.output_path, o.heal_actions::VARCHAR "
        "FROM retouch.gated_outputs o WHERE o.output_path IS NOT NULL AND o.status = $s "
        "ORDER BY o.week, o.artifact_id LIMIT 1",
        {"s": status},
    )
    assert rows, f"the sample publishes no {status} image"
    artifact, attempt, path, heal = rows[0]
    return artifact, attempt, Path(path), heal


def _anchor() -> bytes:
    import os

    return Path(os.environ[ENV_C2PA_TRUST_ANCHOR]).read_bytes()


def _actions(manifest: dict) -> list[dict]:
    (actions,) = [
        a["data"]["actions"]
        for a in manifest["assertions"]
        if a["label"].startswith("c2pa.actions")
    ]
    return actions


def test_a_published_image_reads_back_trusted_with_its_claim(sample_run):
    artifact, attempt, path, _ = _published(sample_run, "approved")
    back = read_manifest(path, PNG_MIME, _anchor())
    assert back.state == TRUSTED and back.failures == ()
    manifest = back.manifest
    assert manifest is not None
    assert manifest["claim_generator_info"][0]["name"] == "retouch_assets"
    assert manifest["claim_generator_info"][0]["version"] == generator_version()
    (created,) = _actions(manifest)  # approved: nothing was edited
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    (master,) = manifest["ingredients"]
    assert master["relationship"] == "inputTo" and master["format"].startswith("image/")
    generation = back.assertion(GENERATION_LABEL)
    assert generation is not None
    assert (generation["artifact_id"], generation["attempt"]) == (artifact, attempt)
    [(seed, model)] = sample_run.query(
        "SELECT seed, model_version FROM retouch.generations WHERE artifact_id = $a AND attempt = $n",
        {"a": artifact, "n": attempt},
    )
    assert generation["seed"] == seed and created["softwareAgent"]["name"] == model
    gates = back.assertion(GATES_LABEL)
    assert gates is not None and gates["status"] == "approved" and gates["gates"]
    # Without a trust anchor the same signature is Valid, its signer untrusted.
    untrusted = read_manifest(path, PNG_MIME, None)
    assert untrusted.state == VALID and untrusted.failures == ("signingCredential.untrusted",)
    # The manifest is all signing added: the rest is the unsigned PNG the record hashed.
    [(unsigned,)] = sample_run.query(
        "SELECT unsigned_sha256 FROM retouch.gated_outputs WHERE output_path = $p", {"p": str(path)}
    )
    assert sha256_bytes(strip_png_manifest(path.read_bytes())) == unsigned


def test_a_healed_image_has_the_edit_action_of_its_kept_correction(sample_run):
    _, _, path, heal = _published(sample_run, "healed")
    (kept,) = [a for a in json.loads(heal) if a["passed"]]
    created, *edits = _actions(read_manifest(path, PNG_MIME, _anchor()).manifest or {})
    assert created["action"] == "c2pa.created"
    (edit,) = edits
    assert edit["action"] == "c2pa.color_adjustments"
    assert edit["parameters"]["com.retouch-assets.heal"]["preset"] == kept["preset"]
    assert edit["parameters"]["com.retouch-assets.heal"]["matrix"] == kept["matrix"]


def _check(run: SampleRun):
    from tests.test_pipeline import _check as check_alone

    return check_alone(run, C2PA_CHECK)


def _flip_image_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[data.index(b"IDAT") + 200] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_tampered_image_reads_back_invalid_and_fails_the_check(sample_copy):
    assert _check(sample_copy).passed
    artifact, attempt, path, _ = _published(sample_copy, "approved")
    _flip_image_byte(path)
    back = read_manifest(path, PNG_MIME, _anchor())
    assert back.state == INVALID and "assertion.dataHash.mismatch" in back.failures
    evaluation = _check(sample_copy)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["violations"].value == 1
    offenders = evaluation.metadata["worst_offenders"].value
    assert artifact in offenders and "assertion.dataHash.mismatch" in offenders
    assert evaluation.metadata["state/Invalid"].value == 1


def test_an_image_without_a_manifest_fails_the_check(sample_copy):
    artifact, _, path, _ = _published(sample_copy, "approved")
    path.write_bytes(strip_png_manifest(path.read_bytes()))
    evaluation = _check(sample_copy)
    assert not evaluation.passed and evaluation.metadata["state/missing"].value == 1
    offenders = evaluation.metadata["worst_offenders"].value
    assert artifact in offenders and "no C2PA manifest" in offenders


def test_a_file_signed_for_another_artifact_fails_the_check(sample_copy):
    """Two valid signed files swapped: each manifest is intact but names the other artifact."""
    rows = sample_copy.query(
        "SELECT output_path FROM retouch.gated_outputs WHERE week = $w AND output_path IS NOT NULL "
        "ORDER BY artifact_id LIMIT 2",
        {"w": date.fromisoformat(WEEK)},
    )
    a, b = (Path(p) for (p,) in rows)
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    evaluation = _check(sample_copy)
    assert evaluation.metadata["violations"].value == 2
    assert "C2PA manifest names artifact" in evaluation.metadata["worst_offenders"].value


def test_a_rerun_keeps_every_signed_file_and_row(sample_copy):
    from tests.conftest import run_weeks

    def state():
        rows = sample_copy.query("SELECT * FROM retouch.gated_outputs ORDER BY ALL")
        files = {
            p.name: (sha256_file(p), p.stat().st_mtime_ns)
            for p in sample_copy.outputs.rglob("*.png")
        }
        return rows, files

    before = state()
    assert all(r.success for r in run_weeks(sample_copy.settings).values())
    assert state() == before  # same rows, same files, not even rewritten


def test_a_new_signing_certificate_signs_every_image_again(sample_copy, tmp_path, monkeypatch):
    from tests.conftest import run_weeks

    chain = write_test_chain(tmp_path / "other-chain")
    monkeypatch.setenv(ENV_C2PA_CERT, str(chain.chain))
    monkeypatch.setenv(ENV_C2PA_KEY, str(chain.key))
    monkeypatch.setenv(ENV_C2PA_TRUST_ANCHOR, str(chain.root))
    before = dict(
        sample_copy.query(
            "SELECT output_path, artifact_id || '/' || attempt FROM retouch.gated_outputs WHERE week = $w AND output_path IS NOT NULL",
            {"w": date.fromisoformat(WEEK)},
        )
    )
    assert run_weeks(sample_copy.settings, [WEEK])[WEEK].success
    after = dict(
        sample_copy.query(
            "SELECT output_path, artifact_id || '/' || attempt FROM retouch.gated_outputs WHERE week = $w AND output_path IS NOT NULL",
            {"w": date.fromisoformat(WEEK)},
        )
    )
    # The same artifacts, every one signed anew (their XMP names the renditions' re-signed
    # byte counts, so even the unsigned PNG may differ).
    assert sorted(before.values()) == sorted(after.values())
    assert not set(before) & set(after)
    for path in after:
        assert read_manifest(Path(path), PNG_MIME, chain.root.read_bytes()).state == TRUSTED
    renditions = sample_copy.query(
        "SELECT path, mime FROM retouch.renditions WHERE week = $w", {"w": date.fromisoformat(WEEK)}
    )
    assert renditions
    for path, mime in renditions:
        assert read_manifest(Path(path), mime, chain.root.read_bytes()).state == TRUSTED


def test_without_an_identity_publication_fails_before_writing(sample_copy, monkeypatch):
    from tests.conftest import run_weeks

    for name in (ENV_C2PA_CERT, ENV_C2PA_KEY, ENV_C2PA_TRUST_ANCHOR):
        monkeypatch.delenv(name)
    files = sorted(sample_copy.outputs.rglob("*"))
    result = run_weeks(sample_copy.settings, [WEEK])[WEEK]
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    # Renditions are the first files signed; nothing is rendered or published unsigned.
    assert failure.step_key == "retouch__renditions"
    message = str(failure.step_failure_data.error)
    assert "provenance.cert_chain" in message and "retouch provenance test-chain" in message
    assert sorted(sample_copy.outputs.rglob("*")) == files


def test_retouch_run_without_an_identity_exits_2_naming_the_fix(tmp_path, monkeypatch, capsys):
    for name in (ENV_C2PA_CERT, ENV_C2PA_KEY, ENV_C2PA_TRUST_ANCHOR):
        monkeypatch.delenv(name)
    (tmp_path / "landing").mkdir()
    monkeypatch.chdir(tmp_path)  # no .env of the repository
    config = Path(__file__).resolve().parents[1] / "retouch-slo.yaml"
    code = main(["run", "--landing", "landing", "--config", str(config), "--db", "w.duckdb"])
    err = capsys.readouterr().err
    assert code == 2
    assert "provenance.cert_chain: no C2PA signing identity is configured" in err
    assert "RETOUCH_C2PA_CERT" in err and "test-chain" in err
    assert not (tmp_path / "w.duckdb").exists()


def test_the_test_chain_command_writes_once_and_says_it_is_for_testing(tmp_path, capsys):
    out = tmp_path / "c2pa-test"
    assert main(["provenance", "test-chain", "--out", str(out)]) == 0
    first = capsys.readouterr().out
    assert "FOR TESTING ONLY" in first and "test chain written" in first
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(files) == {"chain.pem", "signer.key", "root.pem", "README.txt"}
    assert (out / "signer.key").stat().st_mode & 0o077 == 0
    assert main(["provenance", "test-chain", "--out", str(out)]) == 0
    again = capsys.readouterr().out
    assert "exists, kept" in again and "FOR TESTING ONLY" in again
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files
    # It signs, and its root makes the signature Trusted.
    identity = load_identity(resolve_paths(RetouchConfig(), tmp_path / "x.yaml", {}, out))
    assert identity.trust_anchor_pem == files["root.pem"]
    open_signer(identity)
    (out / "chain.pem").unlink()
    with pytest.raises(TestChainError, match="not a complete test chain"):
        write_test_chain(out)


# ----- identity configuration errors: the file, the field and the fix -----


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _config_naming(tmp_path: Path, cert: str, key: str, anchor: str | None = None):
    config_path = tmp_path / "retouch-slo.yaml"
    section = {"cert_chain": cert, "private_key": key, "trust_anchor": anchor}
    config = parse_config({"provenance": section}, str(config_path))
    return resolve_paths(config, config_path, {})


def _load(tmp_path, cert: bytes | None, key: bytes | None, anchor: bytes | None = None):
    if cert is not None:
        _write(tmp_path / "chain.pem", cert)
    if key is not None:
        _write(tmp_path / "signer.key", key)
    if anchor is not None:
        _write(tmp_path / "root.pem", anchor)
    paths = _config_naming(
        tmp_path, "chain.pem", "signer.key", "root.pem" if anchor is not None else None
    )
    return open_signer(load_identity(paths))


def _pem_key(curve) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(curve).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_relative_identity_paths_are_relative_to_the_config_file(tmp_path):
    chain, key, root = make_test_chain()
    signer = _load(tmp_path, chain, key, root)
    assert signer.identity.paths.cert_chain == tmp_path / "chain.pem"
    assert signer.identity.trust_anchor_pem == root


def test_a_missing_certificate_file_names_the_config_field_and_the_fix(tmp_path):
    _, key, _ = make_test_chain()
    with pytest.raises(ProvenanceError) as error:
        _load(tmp_path, None, key)
    message = str(error.value)
    assert "retouch-slo.yaml: provenance.cert_chain" in message
    assert "file not found" in message and "Fix:" in message and "test-chain" in message


def test_a_key_of_another_certificate_is_refused(tmp_path):
    chain, _, _ = make_test_chain()
    _, other_key, _ = make_test_chain()
    with pytest.raises(
        ProvenanceError,
        match=r"provenance.private_key .*does not match the signing certificate.*Fix:",
    ):
        _load(tmp_path, chain, other_key)


def test_a_key_on_the_wrong_curve_is_refused(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    chain, _, _ = make_test_chain()
    with pytest.raises(
        ProvenanceError, match=r"provenance.private_key .*wrong curve: the key is secp384r1.*Fix:"
    ):
        _load(tmp_path, chain, _pem_key(ec.SECP384R1()))


def test_a_chain_root_first_is_refused(tmp_path):
    chain, key, root = make_test_chain()
    leaf = chain[: chain.index(root)]
    with pytest.raises(ProvenanceError, match=r"chain is out of order.*Fix: list the end-entity"):
        _load(tmp_path, root + leaf, key)


def test_an_expired_certificate_is_refused(tmp_path):
    chain, key, _ = make_test_chain(now=datetime.now(UTC) - timedelta(days=1000))
    with pytest.raises(ProvenanceError, match=r"provenance.cert_chain .*not now.*Fix: renew"):
        _load(tmp_path, chain, key)


def test_garbage_files_are_refused(tmp_path):
    chain, key, _ = make_test_chain()
    with pytest.raises(ProvenanceError, match="holds no PEM certificate"):
        _load(tmp_path, b"not a certificate", key)
    with pytest.raises(ProvenanceError, match="not a PEM private key"):
        _load(tmp_path, chain, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_a_trust_anchor_the_chain_does_not_lead_to_is_refused(tmp_path):
    chain, key, _ = make_test_chain()
    _, _, other_root = make_test_chain()
    with pytest.raises(
        ProvenanceError, match=r"provenance.trust_anchor .*reads back Valid, not Trusted"
    ):
        _load(tmp_path, chain, key, other_root)


def test_the_environment_overrides_the_config(tmp_path):
    chain, key, _ = make_test_chain()
    env = {
        "cert_chain": str(_write(tmp_path / "env.pem", chain)),
        "private_key": str(_write(tmp_path / "env.key", key)),
    }
    config = parse_config(
        {"provenance": {"cert_chain": "nowhere.pem", "private_key": "nowhere.key"}}, "c.yaml"
    )
    paths = resolve_paths(config, tmp_path / "c.yaml", env, fallback_dir=tmp_path / "unused")
    assert paths.cert_chain == tmp_path / "env.pem" and paths.origin["cert_chain"] == ENV_C2PA_CERT
    assert paths.trust_anchor is None  # the fallback is for when nothing names an identity
    assert load_identity(paths).fingerprint


def test_a_key_given_without_its_certificate_names_what_is_missing(tmp_path):
    _, key, _ = make_test_chain()
    paths = resolve_paths(
        RetouchConfig(), tmp_path / "c.yaml", {"private_key": str(_write(tmp_path / "k", key))}
    )
    with pytest.raises(
        ProvenanceError,
        match=r"provenance.cert_chain: not set.*Fix: set provenance.cert_chain or RETOUCH_C2PA_CERT",
    ):
        load_identity(paths)


# ----- the API renditions sign through -----


@pytest.mark.parametrize(
    ("fmt", "mime"), [("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("AVIF", "image/avif")]
)
def test_a_rendition_signs_with_the_published_image_as_parent(sample_run, c2pa_signer, fmt, mime):
    import io

    _, _, path, _ = _published(sample_run, "approved")
    with Image.open(path) as image:
        small = image.convert("RGB").resize((160, 120))
    buffer = io.BytesIO()
    small.save(buffer, format=fmt, quality=70)
    claim = rendition_claim(
        path.read_bytes(),
        path.name,
        f"web-160.{fmt.lower()}",
        rendition_actions(160, 120, mime, quality=70),
    )
    signed = c2pa_signer.sign(buffer.getvalue(), mime, claim)
    back = read_manifest(signed, mime, _anchor())
    assert back.state == TRUSTED, back.failures
    manifest = back.manifest or {}
    assert [a["action"] for a in _actions(manifest)] == [
        "c2pa.opened",
        "c2pa.resized",
        "c2pa.converted",
    ]
    (parent,) = manifest["ingredients"]
    assert parent["relationship"] == "parentOf" and parent["title"] == path.name
    assert parent.get("active_manifest")  # the published image's own manifest came along


def test_the_c2pa_check_is_blocking():
    from retouch_assets.definitions import build_definitions
    from retouch_assets.settings import Settings

    graph = build_definitions(Settings()).resolve_asset_graph()
    assert graph.get_check_spec(C2PA_CHECK).blocking


def test_migration_14_adds_the_signing_columns_to_an_older_warehouse(tmp_path):
    from retouch_assets.migrations import migrate

    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        migrate(con)
        con.execute("ALTER TABLE retouch.gated_outputs DROP COLUMN unsigned_sha256")
        con.execute("ALTER TABLE retouch.gated_outputs DROP COLUMN c2pa_input_sha256")
        con.execute("DELETE FROM meta.migrations WHERE version = 14")
        assert migrate(con) == [14]


def test_validate_checks_the_signing_identity(tmp_path, monkeypatch, capsys):
    config = Path(__file__).resolve().parents[1] / "retouch-slo.yaml"
    assert main(["validate", "--config", str(config), "--db", str(tmp_path / "none.duckdb")]) == 0
    assert "provenance: signs ES256 as" in capsys.readouterr().out
    _, other_key, _ = make_test_chain()
    monkeypatch.setenv(ENV_C2PA_KEY, str(_write(tmp_path / "other.key", other_key)))
    assert main(["validate", "--config", str(config), "--db", str(tmp_path / "none.duckdb")]) == 2
    err = capsys.readouterr().err
    assert f"{ENV_C2PA_KEY} ({tmp_path / 'other.key'}): the key does not match" in err
    for name in (ENV_C2PA_CERT, ENV_C2PA_KEY, ENV_C2PA_TRUST_ANCHOR):
        monkeypatch.delenv(name)
    assert main(["validate", "--config", str(config), "--db", str(tmp_path / "none.duckdb")]) == 0
    assert "no C2PA signing identity configured" in capsys.readouterr().out


def test_every_kept_correction_and_only_those_becomes_an_edit_action():
    from retouch_assets.provenance.manifest import master_ingredient, publication_claim

    facts = {
        "artifact_id": "a",
        "attempt": 1,
        "model_version": "sdxl-turbo-1.1",
        "generated_at": "2026-10-05T10:00:00+00:00",
        "heal_actions": [
            {"preset": "white_balance", "passed": False, "note": "out of bounds"},
            {"preset": "unsharp_mask", "passed": True, "amount": 0.4},
            {"preset": "masked_regions", "passed": True, "regions": 2},
        ],
        "gates": [{"gate": "colour_fidelity", "value": float("nan")}],
    }
    claim = publication_claim(facts, "a.png", master_ingredient("m.png", b"\x89PNG\r\n\x1a\n"))
    actions = claim.definition(PNG_MIME)["assertions"][0]["data"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.filtered", "c2pa.edited"]
    assert actions[1]["parameters"]["com.retouch-assets.heal"] == {
        "preset": "unsharp_mask",
        "amount": 0.4,
    }
    assert claim.ingredients[0].mime == "image/png"
    gates = dict(claim.assertions)[GATES_LABEL]
    # NaN is not JSON: it reaches the manifest as null.
    definition = claim.definition(PNG_MIME)
    (gate_data,) = [a["data"] for a in definition["assertions"] if a["label"] == GATES_LABEL]
    assert gates["gates"][0]["gate"] == "colour_fidelity" and gate_data["gates"][0]["value"] is None
    assert json.dumps(definition, allow_nan=False)


# ----- renditions: signed in the pipeline, read back by their own blocking check -----

RENDITION_CHECK = dg.AssetCheckKey(key_of(RENDITIONS), "renditions_carry_valid_c2pa")


def _rendition(run: SampleRun, fmt: str) -> tuple[str, int, Path, str]:
    artifact, attempt, path, mime = run.query(
        "SELECT artifact_id, attempt, path, mime FROM retouch.renditions "
        "WHERE week = $w AND format = $f ORDER BY artifact_id, attempt, channel, width LIMIT 1",
        {"w": date.fromisoformat(WEEK), "f": fmt},
    )[0]
    return artifact, attempt, Path(path), mime


@pytest.mark.parametrize("fmt", ["avif", "webp", "jpeg"])
def test_every_pipeline_rendition_reads_back_trusted_naming_its_artifact(sample_run, fmt):
    rows = sample_run.query(
        "SELECT artifact_id, attempt, path, mime, width, height FROM retouch.renditions "
        "WHERE format = $f",
        {"f": fmt},
    )
    assert rows
    for artifact, attempt, path, mime, width, height in rows[:5]:
        back = read_manifest(Path(path), mime, _anchor())
        assert back.state == TRUSTED, (path, back.failures)
        actions = [a["action"] for a in _actions(back.manifest or {})]
        assert actions[0] == "c2pa.created" and actions[-2:] == ["c2pa.resized", "c2pa.converted"]
        resized = _actions(back.manifest or {})[-2]
        assert resized["parameters"] == {"width": width, "height": height}
        generation = back.assertion(GENERATION_LABEL) or {}
        assert (generation["artifact_id"], generation["attempt"]) == (artifact, attempt)
    evaluation = check_alone(sample_run, RENDITION_CHECK)
    assert evaluation.passed and evaluation.metadata["violations"].value == 0


def test_a_tampered_rendition_fails_the_renditions_check(sample_copy):
    artifact, _, path, mime = _rendition(sample_copy, "jpeg")
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01  # inside the JPEG's entropy-coded image data, before EOI
    path.write_bytes(bytes(data))
    assert read_manifest(path, mime, _anchor()).state == INVALID
    evaluation = check_alone(sample_copy, RENDITION_CHECK)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["violations"].value == 1
    assert artifact in evaluation.metadata["worst_offenders"].value


def test_the_renditions_check_is_blocking():
    from retouch_assets.definitions import build_definitions
    from retouch_assets.settings import Settings

    graph = build_definitions(Settings()).resolve_asset_graph()
    assert graph.get_check_spec(RENDITION_CHECK).blocking


def test_the_fallback_dir_from_the_environment_ranks_below_a_configured_identity(
    tmp_path, monkeypatch
):
    from retouch_assets.resources import ProvenanceResource
    from retouch_assets.settings import ENV_C2PA_FALLBACK_DIR, settings_from_env

    for name in (ENV_C2PA_CERT, ENV_C2PA_KEY, ENV_C2PA_TRUST_ANCHOR):
        monkeypatch.delenv(name, raising=False)
    chain = write_test_chain(tmp_path / "demo-chain")
    settings = settings_from_env({ENV_C2PA_FALLBACK_DIR: str(tmp_path / "demo-chain")})
    assert settings.c2pa_fallback_dir == str(tmp_path / "demo-chain")
    resource = ProvenanceResource(fallback_dir=settings.c2pa_fallback_dir)
    # Nothing configured: the fallback chain signs.
    paths = resource.paths(RetouchConfig(), str(tmp_path / "retouch-slo.yaml"))
    assert paths.cert_chain == chain.chain
    # A configured identity wins over the fallback.
    other = write_test_chain(tmp_path / "own")
    config = parse_config(
        {"provenance": {"cert_chain": str(other.chain), "private_key": str(other.key)}},
        str(tmp_path / "retouch-slo.yaml"),
    )
    assert resource.paths(config, str(tmp_path / "retouch-slo.yaml")).cert_chain == other.chain


def test_an_image_whose_master_is_gone_gets_no_renditions_and_the_step_succeeds(
    sample_copy, tmp_path
):
    """Signing hashes the master into the manifest: a master deleted after measurement leaves
    its images without renditions (counted as not rendered), not a failed step."""
    import shutil
    from dataclasses import replace

    from retouch_assets.definitions import build_definitions

    week = date.fromisoformat(WEEK)
    landing = tmp_path / "landing"  # a private landing: the sample's is shared
    shutil.copytree(sample_copy.settings.landing_dir, landing)
    settings = replace(sample_copy.settings, landing_dir=str(landing))
    [(artifact, attempt, master)] = sample_copy.query(
        "SELECT g.artifact_id, g.attempt, g.master FROM retouch.generations g "
        "JOIN retouch.renditions r USING (artifact_id, attempt) WHERE g.week = $w "
        "ORDER BY 1, 2 LIMIT 1",
        {"w": week},
    )
    gone = [p for p in landing.rglob("*") if p.is_file() and p.name == Path(master).name]
    assert gone
    for path in gone:
        path.unlink()
    only = dg.define_asset_job(
        "only_renditions", selection=dg.AssetSelection.assets(key_of(RENDITIONS))
    )
    defs = dg.Definitions.merge(build_definitions(settings), dg.Definitions(jobs=[only]))
    result = defs.resolve_job_def("only_renditions").execute_in_process(partition_key=WEEK)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("retouch__renditions")
    assert "master_unreadable" in materialization.metadata["not_rendered"].value
    left = sample_copy.query(
        "SELECT count(*) FROM retouch.renditions WHERE artifact_id = $a AND attempt = $n",
        {"a": artifact, "n": attempt},
    )
    assert left == [(0,)]


def test_the_run_summary_counts_the_read_back_checks_states_without_reading_again(
    sample_run, c2pa_signer
):
    """The summary's C2PA line takes the validation states from the weeks' blocking read-back
    checks (each signed file is read once, by its check): the same counts as reading every
    published image and rendition again."""
    from collections import Counter

    from retouch_assets.cli import _provenance_summary, c2pa_states_read_back

    read_back = Counter()
    for result in sample_run.results.values():
        read_back += c2pa_states_read_back(result.get_asset_check_evaluations())
    files = sample_run.query(
        "SELECT output_path, $png FROM retouch.gated_outputs WHERE output_path IS NOT NULL "
        "UNION ALL SELECT path, mime FROM retouch.renditions",
        {"png": PNG_MIME},
    )
    anchor = _anchor()
    again = Counter(read_manifest(Path(p), mime, anchor).state or "missing" for p, mime in files)
    assert read_back == again and again.total() == len(files) > 0

    line = _provenance_summary(sample_run.db, c2pa_signer, list(SAMPLE_WEEKS), read_back)
    assert line.endswith(f"read back: Trusted {len(files)}"), line
    # A week whose checks did not run is said so, not counted as read.
    missing_week = _provenance_summary(sample_run.db, c2pa_signer, list(SAMPLE_WEEKS), Counter())
    assert f"not read back {len(files)} (their week's check did not run)" in missing_week
