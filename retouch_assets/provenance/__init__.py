"""C2PA provenance: the signing identity (`identity`), a local test chain (`testchain`), the
manifest every published image carries (`manifest`), and signing and reading back with the
C2PA library (`c2pa_io`, the only module importing `c2pa`, lazily).

For another kind of file (a channel rendition), build a `Claim` (e.g. `rendition_claim`) and
call `C2paSigner.sign(data, mime, claim) -> bytes` with the run's signer.
"""
