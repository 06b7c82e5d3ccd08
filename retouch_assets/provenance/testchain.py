"""A local TEST certificate chain for C2PA signing: a self-signed P-256 root CA and a P-256
end-entity certificate it issued, made with `cryptography`. FOR TESTING ONLY: its root is
trusted by nobody but the runs told to (a trust anchor), and its key sits unencrypted on disk.

The end-entity certificate has what the C2PA library accepts of a signer without a trust
configuration of its own: keyUsage digitalSignature and the extended key usage
emailProtection (documentSigning and the C2PA claim-signing OID are refused unless a trust
configuration lists them). The chain PEM holds the end-entity certificate, then the root.
"""

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from retouch_assets.provenance.identity import CHAIN_FILE, KEY_FILE, ROOT_FILE
from retouch_assets.safe_paths import write_atomic

ORGANISATION = "retouch_assets TEST ONLY"
README_FILE = "README.txt"
_README = """\
FOR TESTING ONLY: a local C2PA test certificate chain written by
`retouch provenance test-chain`. Nobody trusts its root, and its private key is not
encrypted. Sign production images with a certificate from a C2PA-trusted issuer
(provenance.cert_chain / provenance.private_key in retouch-slo.yaml).

  chain.pem   the end-entity certificate, then the root (provenance.cert_chain)
  signer.key  the end-entity's P-256 private key, PKCS#8 PEM (provenance.private_key)
  root.pem    the root CA (provenance.trust_anchor: read-back then says Trusted)
"""
FILES = (ROOT_FILE, KEY_FILE, CHAIN_FILE, README_FILE)


@dataclass(frozen=True)
class TestChain:
    folder: Path
    created: bool  # False: every file was already there and was kept

    __test__ = False  # not a pytest test class

    @property
    def chain(self) -> Path:
        return self.folder / CHAIN_FILE

    @property
    def key(self) -> Path:
        return self.folder / KEY_FILE

    @property
    def root(self) -> Path:
        return self.folder / ROOT_FILE


class TestChainError(RuntimeError):
    __test__ = False


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        ]
    )


def _key_usage(signing: bool):
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=not signing,
        encipher_only=False,
        decipher_only=False,
    )


def make_test_chain(now: datetime | None = None) -> tuple[bytes, bytes, bytes]:
    """(chain PEM, key PEM, root PEM) of a fresh test chain: root valid 10 years, the
    end-entity certificate 2 years, both from a day before `now` (clock skew)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    start = (now or datetime.now(UTC)) - timedelta(days=1)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("retouch_assets test root CA")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(_name("retouch_assets test signer"))
        .issuer_name(root_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signing=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = signer_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return signer.public_bytes(pem) + root.public_bytes(pem), key_pem, root.public_bytes(pem)


def write_test_chain(folder: str | Path, now: datetime | None = None) -> TestChain:
    """Write a test chain into `folder` once: a folder already holding it is kept as it is
    (same certificates, so published files stay signed by the same identity); a folder with
    only part of it is refused rather than overwritten."""
    folder = Path(folder)
    present = [name for name in FILES if (folder / name).is_file()]
    if len(present) == len(FILES):
        return TestChain(folder, created=False)
    if present:
        raise TestChainError(
            f"{folder}: holds {', '.join(present)} but not "
            f"{', '.join(sorted(set(FILES) - set(present)))}: not a complete test chain. "
            "Fix: remove the folder (or give another --out) and run the command again"
        )
    chain, key, root = make_test_chain(now)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder, ROOT_FILE, root)
    key_path = write_atomic(folder, KEY_FILE, key)
    os.chmod(key_path, 0o600)
    write_atomic(folder, CHAIN_FILE, chain)
    write_atomic(folder, README_FILE, _README.encode())  # last: the chain is complete
    return TestChain(folder, created=True)
