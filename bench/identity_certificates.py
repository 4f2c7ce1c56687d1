"""Certificate benchmark: PKCS#12 issuance per second and CRL signing time at 10,000 revoked certificates.

Measures identity's CA code (``identity.ca``) in this process, without the database or HTTP around it:
  (a) issuance: a new P-256 key, a client certificate signed by the CA, and the PKCS#12 file encrypted with
      the PIN (AES-256, PBKDF2-SHA256 at ``PKCS12_KDF_ROUNDS``), one after another; also the certificate
      alone, to show what the PIN's key derivation costs;
  (b) the CRL: signing a CRL that lists N revoked serials (default 10,000), as the identity worker does on
      every revocation, with its PEM size, and loading it back (what nginx does on reload, roughly).

Run: ``uv run python bench/identity_certificates.py [--certificates 50] [--revoked 10000] [--rounds 3]``.
Writes the figures to bench/results/identity-certificates-<time>.json as well as printing them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from identity import ca

RESULTS = Path(__file__).with_name("results")


def issue_one(authority: ca.CertificateAuthorityKeys, *, with_pkcs12: bool) -> None:
    certificate, key = ca.issue_client_certificate(
        authority,
        network="bench",
        facility_name="結クリニック",
        terminal_label="訪問用タブレット",
        user_id=str(uuid4()),
        valid_for=timedelta(days=730),
    )
    if with_pkcs12:
        ca.pkcs12_bundle(authority, certificate, key, friendly_name="bench", pin="48291357")


def issuance_rate(authority: ca.CertificateAuthorityKeys, count: int, *, with_pkcs12: bool) -> float:
    started = time.perf_counter()
    for _ in range(count):
        issue_one(authority, with_pkcs12=with_pkcs12)
    return count / (time.perf_counter() - started)


def crl_timings(authority: ca.CertificateAuthorityKeys, revoked: int, rounds: int) -> dict[str, float]:
    now = datetime.now(UTC)
    reasons = list(ca.REVOCATION_REASONS)
    entries = [
        ca.RevokedSerial(ca.random_serial_number(), now - timedelta(minutes=i), reasons[i % len(reasons)])
        for i in range(revoked)
    ]
    sign_s, load_s, size = [], [], 0
    for round_number in range(rounds):
        started = time.perf_counter()
        crl = ca.build_crl(authority, entries, crl_number=round_number + 1, valid_for=timedelta(days=7))
        pem = crl.public_bytes(serialization.Encoding.PEM)
        sign_s.append(time.perf_counter() - started)
        size = len(pem)
        started = time.perf_counter()
        loaded = x509.load_pem_x509_crl(pem)
        assert loaded.is_signature_valid(authority.certificate.public_key())  # type: ignore[arg-type]
        assert len(loaded) == revoked
        load_s.append(time.perf_counter() - started)
    return {
        "revoked": revoked,
        "sign_seconds_median": statistics.median(sign_s),
        "sign_seconds_max": max(sign_s),
        "load_and_verify_seconds_median": statistics.median(load_s),
        "pem_bytes": size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=50)
    parser.add_argument("--revoked", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    authority = ca.create_root("Yui bench CA")
    issue_one(authority, with_pkcs12=True)  # warm up
    pkcs12_rate = issuance_rate(authority, args.certificates, with_pkcs12=True)
    certificate_rate = issuance_rate(authority, args.certificates, with_pkcs12=False)
    crl = crl_timings(authority, args.revoked, args.rounds)
    figures = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "pkcs12_kdf_rounds": ca.PKCS12_KDF_ROUNDS,
        "issuance": {
            "certificates": args.certificates,
            "pkcs12_per_second": pkcs12_rate,
            "certificate_only_per_second": certificate_rate,
        },
        "crl": crl,
    }
    print(f"PKCS#12 issuance (key + certificate + PIN-encrypted file): {pkcs12_rate:8.1f} /s")
    print(f"certificate alone (key + certificate, no PKCS#12):         {certificate_rate:8.1f} /s")
    print(
        f"CRL with {crl['revoked']:,} revoked: signed in {crl['sign_seconds_median'] * 1000:.0f} ms "
        f"(median of {args.rounds}, max {crl['sign_seconds_max'] * 1000:.0f} ms), "
        f"{crl['pem_bytes'] / 1024:.0f} KiB PEM, loaded and verified in "
        f"{crl['load_and_verify_seconds_median'] * 1000:.0f} ms"
    )
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"identity-certificates-{stamp}.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
