"""Textfile metrics of the client-certificate CA and the CRL the gateway enforces, for node_exporter.

Run beside the gateway (a sidecar in Kubernetes, a cron job or systemd timer elsewhere), reading the very
files nginx reads: ``python -m deploy.monitoring.certificate_metrics --ca-file ... --crl-file ... --out
/var/lib/node_exporter/textfile/yui_certificates.prom``. The alerts in rules/certificates.yml read the result.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cryptography import x509


def certificate_metrics(ca_pem: bytes, crl_pem: bytes) -> str:
    authority = x509.load_pem_x509_certificate(ca_pem)
    crl = x509.load_pem_x509_crl(crl_pem)
    next_update = crl.next_update_utc
    lines = [
        "# HELP yui_certificate_authority_not_after_timestamp_seconds When the client-certificate CA expires.",
        "# TYPE yui_certificate_authority_not_after_timestamp_seconds gauge",
        f"yui_certificate_authority_not_after_timestamp_seconds {authority.not_valid_after_utc.timestamp():.0f}",
        "# HELP yui_crl_this_update_timestamp_seconds When the gateway's CRL was signed.",
        "# TYPE yui_crl_this_update_timestamp_seconds gauge",
        f"yui_crl_this_update_timestamp_seconds {crl.last_update_utc.timestamp():.0f}",
        "# HELP yui_crl_next_update_timestamp_seconds When the gateway's CRL expires (nginx then refuses all).",
        "# TYPE yui_crl_next_update_timestamp_seconds gauge",
        f"yui_crl_next_update_timestamp_seconds {next_update.timestamp() if next_update else 0:.0f}",
        "# HELP yui_crl_revoked_certificates Certificates the gateway's CRL lists.",
        "# TYPE yui_crl_revoked_certificates gauge",
        f"yui_crl_revoked_certificates {len(list(crl))}",
    ]
    return "\n".join(lines) + "\n"


def write_textfile(path: Path, text: str) -> None:
    """node_exporter may read at any moment: write aside, then rename."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ca-file", type=Path, required=True)
    parser.add_argument("--crl-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    write_textfile(args.out, certificate_metrics(args.ca_file.read_bytes(), args.crl_file.read_bytes()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
