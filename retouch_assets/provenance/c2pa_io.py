"""Signing and reading C2PA manifests with the C2PA library (c2pa-python, bindings of
c2pa-rs), imported only here and only when a function needs it (seconds of native library
load that the definitions must not pay).

Thumbnails are off: the library would embed a JPEG preview of every image in its manifest
(0.2–0.9 MB a file); without it a manifest adds ~4 KB.
"""

import io
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from retouch_assets.provenance.identity import ProvenanceError, SigningIdentity
from retouch_assets.provenance.manifest import TRAINED_ALGORITHMIC_MEDIA, Claim

# The states of a manifest read back (c2pa-rs): Trusted (valid, and the signer chains to a
# trust anchor), Valid (valid, signer not trusted), Invalid; None: the file has no manifest.
TRUSTED, VALID, INVALID = "Trusted", "Valid", "Invalid"
NO_MANIFEST = "no C2PA manifest"
UNTRUSTED = "signingCredential.untrusted"
_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class SigningError(RuntimeError):
    """The C2PA library refused to sign (its message says why)."""


@cache
def _context(trust_anchor_pem: bytes | None = None):
    import c2pa

    settings: dict = dict(_SETTINGS)
    if trust_anchor_pem:
        settings["trust"] = {"user_anchors": trust_anchor_pem.decode()}
    return c2pa.Context.from_dict(settings)


class C2paSigner:
    """Signs files with one identity: `sign(data, mime, claim) -> bytes`, the same bytes with
    the claim's manifest embedded. Thread-safe (one native signer, a builder per file)."""

    def __init__(self, identity: SigningIdentity) -> None:
        import c2pa

        self.identity = identity
        algorithm = getattr(c2pa.C2paSigningAlg, identity.algorithm)
        info = c2pa.C2paSignerInfo(
            algorithm, identity.cert_chain_pem, identity.private_key_pem, None
        )
        try:
            self._signer = c2pa.Signer.from_info(info)
        except c2pa.C2paError as exc:
            raise SigningError(f"the C2PA library refused the identity: {exc}") from None

    @property
    def key(self) -> str:
        """What identifies the signer in a publication's signing key (the certificate)."""
        return self.identity.fingerprint

    def sign(self, data: bytes, mime: str, claim: Claim) -> bytes:
        import c2pa

        builder = c2pa.Builder(claim.definition(mime), context=_context())
        try:
            for ingredient in claim.ingredients:
                builder.add_ingredient(
                    ingredient.definition(), ingredient.mime, io.BytesIO(ingredient.data)
                )
            out = io.BytesIO()
            builder.sign(self._signer, mime, io.BytesIO(data), out)
        except c2pa.C2paError as exc:
            raise SigningError(f"C2PA signing of {claim.title} ({mime}) failed: {exc}") from None
        finally:
            builder.close()
        return out.getvalue()


def open_signer(identity: SigningIdentity) -> C2paSigner:
    """A signer for the identity, proven by signing a 1×1 PNG and reading it back: anything
    the library refuses (a certificate without the key usages it accepts, an unsupported
    algorithm) fails here, before any image, and so does a chain that does not lead to the
    configured trust anchor."""
    from PIL import Image

    try:
        signer = C2paSigner(identity)
        probe = io.BytesIO()
        Image.new("RGB", (1, 1)).save(probe, format="PNG")
        created = {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}
        signed = signer.sign(probe.getvalue(), "image/png", Claim("probe.png", (created,)))
    except SigningError as exc:
        raise ProvenanceError(
            f"{identity.paths.where('cert_chain')}: {exc}. Fix: use a P-256 end-entity "
            "certificate with keyUsage digitalSignature and the extended key usage "
            "emailProtection (or one your C2PA trust configuration lists)"
        ) from None
    back = read_manifest(signed, "image/png", identity.trust_anchor_pem)
    wanted = TRUSTED if identity.trust_anchor_pem else VALID
    if back.state not in (TRUSTED, wanted):
        codes = ", ".join(c for c in back.failures if c != UNTRUSTED or identity.trust_anchor_pem)
        where = (
            identity.paths.where("trust_anchor")
            if identity.trust_anchor_pem and back.state == VALID
            else identity.paths.where("cert_chain")
        )
        raise ProvenanceError(
            f"{where}: a test signature reads back {back.state or back.error}, not {wanted} "
            f"({codes or 'no failure codes'}). Fix: "
            + (
                "give the root certificate the signing chain leads to as trust anchor"
                if back.state == VALID
                else "use a certificate chain the C2PA library accepts"
            )
        )
    return signer


@dataclass(frozen=True)
class ReadBack:
    """A file's manifest as the C2PA reader validates it."""

    state: str | None  # Trusted, Valid, Invalid; None: no manifest (or unreadable)
    failures: tuple[str, ...] = ()  # failure codes of the active manifest
    manifest: dict | None = None  # the active manifest
    error: str | None = None  # why there is no state

    def assertion(self, label: str) -> dict | None:
        for assertion in (self.manifest or {}).get("assertions", []):
            if assertion.get("label") == label:
                return assertion.get("data")
        return None


def read_manifest(data: bytes | Path, mime: str, trust_anchor_pem: bytes | None = None) -> ReadBack:
    """Read and validate the file's C2PA manifest; with a trust anchor, a signer chaining to
    it reads back as Trusted."""
    import c2pa

    try:
        stream = io.BytesIO(data) if isinstance(data, bytes) else Path(data).open("rb")
    except OSError as exc:
        return ReadBack(None, error=f"file unreadable: {exc.strerror}")
    try:
        with stream:
            reader = c2pa.Reader(mime, stream, context=_context(trust_anchor_pem))
            state = reader.get_validation_state()
            results = reader.get_validation_results() or {}
            manifest = reader.get_active_manifest()
    except c2pa.C2paError as exc:
        text = str(exc)
        missing = "ManifestNotFound" in type(exc).__name__ or "JUMBF" in text
        return ReadBack(None, error=NO_MANIFEST if missing else f"unreadable: {text}")
    failures = tuple(
        f.get("code", "?") for f in results.get("activeManifest", {}).get("failure", [])
    )
    return ReadBack(state, failures, manifest)


def strip_png_manifest(data: bytes) -> bytes:
    """A signed PNG without its C2PA manifest (the `caBX` chunk): the unsigned file's bytes,
    which the library leaves otherwise untouched."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG")
    parts, position = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        (length, kind) = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if kind != b"caBX":
            parts.append(data[position:end])
        position = end
    return b"".join(parts)
