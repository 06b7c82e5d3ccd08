"""The C2PA signing identity: which certificate chain and key sign (`resolve_paths`), and
loading them with every check a signer would otherwise fail on later (`load_identity`).

Where each path comes from, first found wins: the environment (RETOUCH_C2PA_CERT,
RETOUCH_C2PA_KEY, RETOUCH_C2PA_TRUST_ANCHOR), then `provenance:` of the config (relative to the
config file's folder), then a fallback test-chain folder (`retouch run
--fallback-c2pa-identity`, what `make demo` passes) used only when neither names a chain or a
key. No identity at all is an error with the fix: nothing is ever published unsigned.

Every problem names where the path came from (the variable, or the config file and field),
what is wrong and the fix.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from retouch_assets.config import ConfigError, RetouchConfig
from retouch_assets.settings import C2PA_ENV

# The files `retouch provenance test-chain` writes (and a fallback folder must hold).
CHAIN_FILE = "chain.pem"
KEY_FILE = "signer.key"
ROOT_FILE = "root.pem"

FIELDS = ("cert_chain", "private_key", "trust_anchor")
_FALLBACK_FILES = {"cert_chain": CHAIN_FILE, "private_key": KEY_FILE, "trust_anchor": ROOT_FILE}

TEST_CHAIN_HINT = (
    "for a local TEST identity run `retouch provenance test-chain --out data/c2pa-test` and set "
    f"RETOUCH_C2PA_CERT=data/c2pa-test/{CHAIN_FILE} RETOUCH_C2PA_KEY=data/c2pa-test/{KEY_FILE} "
    "(`make demo` does this for you)"
)


class ProvenanceError(ConfigError):
    """A signing identity that cannot sign: not configured, unreadable, or inconsistent."""


@dataclass(frozen=True)
class IdentityPaths:
    """The identity's files and where each path came from (for messages)."""

    cert_chain: Path | None = None
    private_key: Path | None = None
    trust_anchor: Path | None = None
    algorithm: str = "ES256"
    origin: dict[str, str] = field(default_factory=dict)

    def where(self, name: str) -> str:
        return f"{self.origin.get(name, name)} ({getattr(self, name)})"

    @property
    def configured(self) -> bool:
        return self.cert_chain is not None or self.private_key is not None


def resolve_paths(
    config: RetouchConfig,
    config_path: str | Path,
    env: dict[str, str],
    fallback_dir: str | Path | None = None,
) -> IdentityPaths:
    """Which files sign: the environment's, else the config's, else the fallback folder's."""
    paths: dict[str, Path | None] = dict.fromkeys(FIELDS)
    origin: dict[str, str] = {}
    base = Path(config_path).parent
    for name in FIELDS:
        configured = getattr(config.provenance, name)
        if env.get(name):
            paths[name], origin[name] = Path(env[name]), C2PA_ENV[name]
        elif configured:
            path = Path(configured)
            paths[name] = path if path.is_absolute() else base / path
            origin[name] = f"{config_path}: provenance.{name}"
    if fallback_dir and paths["cert_chain"] is None and paths["private_key"] is None:
        for name in FIELDS:
            if paths[name] is None:
                paths[name] = Path(fallback_dir) / _FALLBACK_FILES[name]
                origin[name] = f"--fallback-c2pa-identity {fallback_dir}"
    return IdentityPaths(**paths, algorithm=config.provenance.algorithm, origin=origin)


@dataclass(frozen=True)
class SigningIdentity:
    """A loaded, checked identity: what the C2PA signer takes, and what it says about itself."""

    cert_chain_pem: bytes
    private_key_pem: bytes = field(repr=False)
    algorithm: str
    trust_anchor_pem: bytes | None
    subject: str
    issuer: str
    not_after: datetime
    # sha256 of the end-entity certificate (DER): part of every publication's signing key, so
    # a new certificate signs every image again.
    fingerprint: str
    paths: IdentityPaths

    def describe(self) -> str:
        trust = (
            f"trust anchor {self.paths.trust_anchor}"
            if self.trust_anchor_pem
            else "no trust anchor (read-back: Valid, signer untrusted)"
        )
        return (
            f"{self.algorithm} as {self.subject!r} (issuer {self.issuer!r}, expires "
            f"{self.not_after:%Y-%m-%d}), {trust}"
        )


def _fail(paths: IdentityPaths, name: str, problem: str, fix: str) -> ProvenanceError:
    return ProvenanceError(f"{paths.where(name)}: {problem}. Fix: {fix}")


def not_configured(config_path: str | Path) -> ProvenanceError:
    return ProvenanceError(
        f"{config_path}: provenance.cert_chain: no C2PA signing identity is configured, and "
        "every published image must carry a signed C2PA manifest. Fix: set provenance."
        "cert_chain and provenance.private_key (PEM files; or RETOUCH_C2PA_CERT and "
        f"RETOUCH_C2PA_KEY) to your signing certificate chain and key; {TEST_CHAIN_HINT}"
    )


def _read(paths: IdentityPaths, name: str) -> bytes:
    path = getattr(paths, name)
    if path is None:
        other = "cert_chain" if name == "private_key" else "private_key"
        raise ProvenanceError(
            f"provenance.{name}: not set, while the {other.replace('_', ' ')} is "
            f"({paths.where(other)}). Fix: set provenance.{name} or {C2PA_ENV[name]} too"
        )
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise _fail(
            paths, name, "file not found", f"point it at an existing PEM file; {TEST_CHAIN_HINT}"
        ) from None
    except OSError as exc:
        raise _fail(
            paths, name, f"cannot be read ({exc.strerror})", "make the file readable"
        ) from None


def _certificates(paths: IdentityPaths, name: str, data: bytes) -> list:
    from cryptography import x509

    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        certificates = []
    if not certificates:
        raise _fail(
            paths,
            name,
            "holds no PEM certificate",
            "use a PEM file of '-----BEGIN CERTIFICATE-----' blocks",
        )
    return certificates


def _name(certificate) -> str:
    return certificate.subject.rfc4514_string()


def load_identity(paths: IdentityPaths, now: datetime | None = None) -> SigningIdentity:
    """Read and check the identity: a PEM chain whose first certificate is a P-256 end-entity
    certificate valid now, each certificate issued by the next, and the unencrypted P-256 key
    of that first certificate. The trust anchor, when given, must be PEM certificates."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    now = now or datetime.now(UTC)
    if not paths.configured:
        raise ProvenanceError("provenance: no signing identity configured")
    chain_pem, key_pem = _read(paths, "cert_chain"), _read(paths, "private_key")
    chain = _certificates(paths, "cert_chain", chain_pem)
    leaf = chain[0]
    leaf_key = leaf.public_key()
    if not isinstance(leaf_key, ec.EllipticCurvePublicKey) or leaf_key.curve.name != "secp256r1":
        kind = getattr(getattr(leaf_key, "curve", None), "name", type(leaf_key).__name__)
        raise _fail(
            paths,
            "cert_chain",
            f"the first (end-entity) certificate's key is {kind}, and ES256 needs P-256",
            "issue the signing certificate for a P-256 (secp256r1) key",
        )
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise _fail(
            paths,
            "cert_chain",
            f"the signing certificate is valid from {leaf.not_valid_before_utc:%Y-%m-%d} to "
            f"{leaf.not_valid_after_utc:%Y-%m-%d}, not now",
            "renew the signing certificate",
        )
    for child, parent in zip(chain, chain[1:], strict=False):
        if child.issuer != parent.subject:
            raise _fail(
                paths,
                "cert_chain",
                f"the chain is out of order: {_name(child)!r} is not issued by {_name(parent)!r}",
                "list the end-entity certificate first, then each issuer up to the root",
            )
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise _fail(
            paths,
            "private_key",
            "the key is encrypted",
            "give the signer an unencrypted PEM key (protect the file with its permissions)",
        ) from None
    except ValueError:
        raise _fail(
            paths, "private_key", "not a PEM private key", "use a PEM (PKCS#8 or SEC1) EC key"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        kind = getattr(getattr(key, "curve", None), "name", type(key).__name__)
        raise _fail(
            paths,
            "private_key",
            f"wrong curve: the key is {kind}, and ES256 signs with P-256 (secp256r1)",
            "use the P-256 key of the signing certificate",
        )
    if key.public_key().public_numbers() != leaf_key.public_numbers():
        raise _fail(
            paths,
            "private_key",
            f"the key does not match the signing certificate {_name(leaf)!r}",
            "give the key of the chain's first certificate (or the chain of this key)",
        )
    anchor = None
    if paths.trust_anchor is not None:
        anchor = _read(paths, "trust_anchor")
        _certificates(paths, "trust_anchor", anchor)
    return SigningIdentity(
        cert_chain_pem=chain_pem,
        private_key_pem=key_pem,
        algorithm=paths.algorithm,
        trust_anchor_pem=anchor,
        subject=_name(leaf),
        issuer=leaf.issuer.rfc4514_string(),
        not_after=leaf.not_valid_after_utc,
        fingerprint=hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
        paths=paths,
    )


def trust_anchor(paths: IdentityPaths) -> bytes | None:
    """The trust anchor's PEM for reading manifests back (no key needed); None when unset."""
    if paths.trust_anchor is None:
        return None
    anchor = _read(paths, "trust_anchor")
    _certificates(paths, "trust_anchor", anchor)
    return anchor
