"""The benchmarks ``make bench`` runs, one after another: the bus, the withdrawal cascade, then identity's
logins, consent's subject search, the timeline page and upload, notify's fan-out, the portal's pages, the
audit seal, provisioning a network, many networks against one (tenancy) and the soak.

Each runs in its own process and writes its raw numbers to bench/results/. Options are passed on to the bus
and cascade: ``make bench ARGS="--events 5000 --seconds 5 --subjects 3"``; ``--only <name>`` runs one.
The exit status is non-zero only when a benchmark could not run; a missed target is reported, not fatal.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# Each service's own measurements (their figures are in bench/README.md), after the bus and the cascade.
ALSO = {
    "identity-login": "identity_login.py",
    "consent-subjects": "consent_subjects.py",
    "timeline-page": "timeline_page.py",
    "timeline-upload": "timeline_upload.py",
    "hospital-import": "hospital_import.py",  # issue 16 rec5: a 200-entry FHIR letter against the page
    "notify-fanout": "notify_fanout.py",
    "portal-pages": "portal_pages.py",
    "audit-seal": "audit_seal.py",
    "provision-network": "provision_network.py",  # issue 11: the CLI's network create until every service knows it
    # issue 11: 100 networks x 200 subjects x 200 posts against one network with the same (≈ 7 min)
    "tenancy": "tenancy.py",
    # issue 12: 1,000 messages queued while a peer deployment is down, catch-up against live (two deployments)
    "federation-catchup": "federation_catchup.py",
    # issue 12 fed3: a withdrawal at home until the peer deployment's fetch is refused, p50/p99 over 20 subjects
    "federation-withdrawal": "federation_withdrawal.py",
    # issue 12 fed2: the peer's staff reading a referred subject through federation against home's own staff
    "federation-read": "federation_read.py",
    "soak": "soak.py",  # rel1's long form: five minutes of mixed load through faults, then every invariant
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=(*ALSO, "bus", "cascade"), help="run one benchmark")
    parser.add_argument("--events", type=int, help="bus: events in the throughput phase (default 20000)")
    parser.add_argument("--seconds", type=float, help="bus: length of the paced latency phase (default 10)")
    parser.add_argument("--rate", type=float, help="bus: events/s in the latency phase (default 500)")
    parser.add_argument("--subjects", type=int, help="cascade: withdrawals to time (default 5)")
    parser.add_argument("--posts", type=int, help="cascade: posts per subject (default 10000)")
    args = parser.parse_args(argv)

    def passed(*names: str) -> list[str]:
        return [
            item
            for name in names
            if (value := getattr(args, name)) is not None
            for item in (f"--{name}", str(value))
        ]

    runs = {
        "bus": [sys.executable, str(BENCH / "bus.py"), *passed("events", "seconds", "rate")],
        "cascade": [sys.executable, str(BENCH / "cascade.py"), *passed("subjects", "posts")],
        **{name: [sys.executable, str(BENCH / script)] for name, script in ALSO.items()},
    }
    failed = []
    for name, command in runs.items():
        if args.only and name != args.only:
            continue
        print(f"\n== {name} ==", flush=True)
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed to run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
