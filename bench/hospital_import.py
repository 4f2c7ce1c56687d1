"""Hospital letter import benchmark (issue 16 rec5): imports per second of a 200-entry FHIR document Bundle (the
JP-CLINS fixture letter grown to 200 entries: its Composition, Patient, Practitioner, Organization and Encounter,
then MedicationRequests, AllergyIntolerances and Conditions) against the timeline page's requests per second, in
the same run, on the same app and database, so the ratio says what one import costs in pages.

An import is: the care team check, the body read (≤ 5 MB), JSON, fhir.resources' R4B validation of every entry,
the letter read, the Bundle kept as JSONB, a signed post of the letter's text (version, signature, outbox row),
195 offer rows, the audit entry, one commit. The page is timeline's 50-post page with authorization and audit
(``bench/timeline_page.py``'s ``yui``). Each import is a different Bundle (its identifier numbered) for a subject
chosen at random, as letters arrive. Alternating rounds, the same closed loop of concurrent clients, in-process
over ASGI (httpx.ASGITransport). Beside the rates, the CPU one validation of the Bundle takes on its own.

Uses its own database (yui_bench_import_timeline), recreated at start.
Run: ``.venv/bin/python bench/hospital_import.py [--seconds 8] [--rounds 2] [--concurrency 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import logging
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
from asgi_lifespan import LifespanManager
from identity import tokens
from timeline.imports.fhir import read_letter
from timeline.main import create_app
from yui_common.db import asyncpg_dsn

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from timeline_page import bench_settings, closed_loop, reset, seed, staff_token, summary  # noqa: E402

REPO = BENCH.parent
RESULTS = BENCH / "results"
FIXTURE = REPO / "services" / "timeline" / "tests" / "fixtures" / "jp_clins_discharge_summary.json"
ENTRIES = 200
SUBJECTS = 1_000
POSTS = 50_000  # 50 a subject: every page is a full one
OFFERED = ("MedicationRequest", "AllergyIntolerance", "Condition")


def bundle_of(entries: int = ENTRIES) -> dict[str, Any]:
    """The fixture letter grown to ``entries`` entries: the same five document resources, then its medication
    requests, allergy and conditions repeated in turn (each with its own id and fullUrl), as a long stay's
    discharge summary lists its prescriptions and diagnoses."""
    letter = json.loads(FIXTURE.read_text(encoding="utf-8"))
    head = [e for e in letter["entry"] if e["resource"]["resourceType"] not in OFFERED]
    clinical = [e for e in letter["entry"] if e["resource"]["resourceType"] in OFFERED]
    grown = list(head)
    n = 0
    while len(grown) < entries:
        entry = copy.deepcopy(clinical[n % len(clinical)])
        resource_id = str(uuid4())
        entry["fullUrl"] = f"urn:uuid:{resource_id}"
        entry["resource"]["id"] = resource_id
        grown.append(entry)
        n += 1
    letter["entry"] = grown
    return letter  # type: ignore[no-any-return]


def numbered(document: dict[str, Any]) -> tuple[bytes, bytes]:
    """The Bundle as bytes around its identifier's value, so each request is a different Bundle without
    serializing 200 entries in the client (it shares the process, and so the CPU, with the app)."""
    marked = copy.deepcopy(document)
    marked["identifier"]["value"] = "@@N@@"
    before, after = json.dumps(marked, ensure_ascii=False).encode().split(b"@@N@@")
    return before, after


async def import_loop(
    client: httpx.AsyncClient,
    parts: tuple[bytes, bytes],
    subjects: list[UUID],
    token: str,
    seconds: float,
    concurrency: int,
    counter: list[int],
) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            counter[0] += 1
            body = parts[0] + f"bench-{counter[0]}".encode() + parts[1]
            started = time.perf_counter()
            response = await client.post(
                f"/subjects/{random.choice(subjects)}/imports", content=body, headers=headers
            )
            if response.status_code != 201:
                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies


def validation_cpu_ms(document: dict[str, Any], repeat: int = 20) -> float:
    """CPU of reading one Bundle on its own (fhir.resources' validation and the letter's reading), per Bundle."""
    started = time.process_time()
    for _ in range(repeat):
        read_letter(document)
    return round((time.process_time() - started) * 1000 / repeat, 1)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--entries", type=int, default=ENTRIES)
    parser.add_argument("--pool", type=int, default=8, help="database connections of the app")
    args = parser.parse_args()

    settings = bench_settings("yui_bench_import_", args.pool)
    await reset(settings)
    dsn = asyncpg_dsn(settings.dsn)
    user = uuid4()
    subjects = [uuid4() for _ in range(SUBJECTS)]
    key = tokens.new_signing_key()
    token = staff_token(settings, key, user)
    document = bundle_of(args.entries)
    size = len(json.dumps(document, ensure_ascii=False).encode())
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.python_version()}",
        "concurrency": args.concurrency,
        "seconds_per_round": args.seconds,
        "rounds": args.rounds,
        "pool": args.pool,
        "bundle": {
            "entries": len(document["entry"]),
            "bytes": size,
            "offers": len(read_letter(document).offers),
        },
        "validation_cpu_ms_per_bundle": validation_cpu_ms(document),
    }
    result["seed_s"] = round(await seed(dsn, user, subjects, POSTS, 0), 1)
    print(
        json.dumps({k: result[k] for k in ("bundle", "validation_cpu_ms_per_bundle", "seed_s")}), flush=True
    )

    app = create_app(settings)
    logging.getLogger("yui.request").setLevel(logging.WARNING)  # a line a request would drown the table
    parts = numbered(document)
    counter = [0]
    imports: list[float] = []
    pages: list[float] = []
    cpu = {"imports": 0.0, "pages": 0.0}
    async with LifespanManager(app, startup_timeout=60):
        app.state.token_verifier.keys.load({"keys": [tokens.public_jwk(key)]})
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://yui", timeout=120
        ) as client:
            page_headers = {"Authorization": f"Bearer {token}"}
            # Warm both (connections, prepared statements, the token cache, the models) before measuring.
            await closed_loop(client, lambda: f"/subjects/{subjects[0]}/posts", page_headers, 1, 2)
            await import_loop(client, parts, subjects, token, 1, 2, counter)
            for _ in range(args.rounds):
                started = time.process_time()
                imports += await import_loop(
                    client, parts, subjects, token, args.seconds, args.concurrency, counter
                )
                cpu["imports"] += time.process_time() - started
                started = time.process_time()
                pages += await closed_loop(
                    client,
                    lambda: f"/subjects/{random.choice(subjects)}/posts",
                    page_headers,
                    args.seconds,
                    args.concurrency,
                )
                cpu["pages"] += time.process_time() - started
    measured = args.seconds * args.rounds
    result["imports"] = {
        **summary(imports, measured),
        "cpu_ms_per_request": round(cpu["imports"] * 1000 / len(imports), 1),
    }
    result["page"] = {
        **summary(pages, measured),
        "cpu_ms_per_request": round(cpu["pages"] * 1000 / len(pages), 2),
    }
    result["imports_per_page"] = round(result["imports"]["per_s"] / result["page"]["per_s"], 4)
    result["machine_note"] = "shared 2-core machine: other engineers' tests may run at the same time"
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"hospital-import-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(f"{'':34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'CPU ms/req':>12}")
    for name, label in (
        ("imports", f"import of a {len(document['entry'])}-entry Bundle"),
        ("page", "timeline page (50 posts)"),
    ):
        row = result[name]
        print(
            f"{label:34}{row['per_s']:>10}{row['p50_ms']:>10}{row['p99_ms']:>10}{row['cpu_ms_per_request']:>12}"
        )
    print(
        f"imports per page: {result['imports_per_page']} "
        f"(one import costs about {round(1 / result['imports_per_page'], 1)} pages); "
        f"validation alone {result['validation_cpu_ms_per_bundle']} ms CPU per Bundle"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
