"""Login benchmark: logins per second at our argon2id parameters; what token verification adds to a request.

Measures, in this process, against a real PostgreSQL database (``yui_bench_identity``, recreated at start):
  (a) argon2id alone (m=19 MiB, t=2, p=1, OWASP's parameters): verifications per second on one thread and on
      as many threads as the machine has cores (argon2-cffi releases the GIL);
  (b) the whole login through identity's ASGI app (``POST /auth/token``: password + TOTP, session row, audit
      entry, token signed with Ed25519, one commit), one after another and with ``--concurrency`` in flight;
  (c) one endpoint (``GET /me``) with a valid token (EdDSA signature check + the deny-list query) beside the
      same endpoint without a token (answered 401 before any verification), p50/p99 per request; and the two
      parts on their own: the signature check, and the deny-list query.

Run: ``uv run python bench/identity_login.py [--logins 40] [--requests 400] [--concurrency 4]``.
Writes the figures to bench/results/identity-login-<time>.json as well as printing them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import asyncpg
import httpx
import pyotp
from asgi_lifespan import LifespanManager
from identity.main import create_app
from identity.models import Facility, Network, User
from identity.passwords import hash_password, verify_password
from identity.settings import Settings
from sqlalchemy import update
from yui_common.db import asyncpg_dsn
from yui_common.migrations import migrate
from yui_common.revocations import revoked_kind

RESULTS = Path(__file__).with_name("results")
SERVICE_ROOT = Path(__file__).resolve().parents[1] / "services" / "identity"
PASSWORD = "Bench#password-2026"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def argon2_rate(threads: int, seconds: float = 3.0) -> float:
    hashed = hash_password(PASSWORD)

    def work() -> int:
        done, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            verify_password(hashed, PASSWORD)
            done += 1
        return done

    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: work(), range(threads)))
    return total / seconds


async def reset_database(settings: Settings) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings.postgres_url.rstrip("/") + "/postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed(app: object, users: int) -> list[User]:
    sessionmaker = app.state.sessionmaker  # type: ignore[attr-defined]
    password_hash = hash_password(PASSWORD)
    async with sessionmaker() as session, session.begin():
        session.add(Network(slug="bench", name="bench", lockout_threshold=1000))
        await session.flush()
        facility = Facility(id=uuid4(), tenant="bench", name="結クリニック", kind="clinic")
        session.add(facility)
        await session.flush()
        people = [
            User(
                id=uuid4(),
                tenant="bench",
                facility_id=facility.id,
                login_id=f"user-{n}",
                display_name=f"職員 {n}",
                password_hash=password_hash,
                roles=["staff"],
                totp_secret=pyotp.random_base32(),
                totp_confirmed=True,
            )
            for n in range(users)
        ]
        session.add_all(people)
    return people


async def forget_used_codes(app: object) -> None:
    async with app.state.sessionmaker() as session, session.begin():  # type: ignore[attr-defined]
        await session.execute(update(User).values(totp_last_step=None))


async def login(client: httpx.AsyncClient, person: User) -> tuple[float, str]:
    body = {
        "tenant": "bench",
        "login_id": person.login_id,
        "password": PASSWORD,
        "totp_code": pyotp.TOTP(person.totp_secret or "").now(),
    }
    started = time.perf_counter()
    response = await client.post("/auth/token", json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()["access_token"]


async def timed_gets(
    client: httpx.AsyncClient, headers: dict[str, str], requests: int, expect: int
) -> list[float]:
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.get("/me", headers=headers)
        samples.append(time.perf_counter() - started)
        assert response.status_code == expect, response.text
    return samples


def summary_ms(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 0.5) * 1000, 3),
        "p99_ms": round(percentile(samples, 0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(samples) * 1000, 3),
    }


async def run(logins: int, requests: int, concurrency: int) -> dict[str, object]:
    settings = Settings(database_prefix="yui_bench_")
    await reset_database(settings)
    await asyncio.to_thread(migrate, SERVICE_ROOT, settings)
    app = create_app(settings)
    results: dict[str, object] = {}
    async with LifespanManager(app, startup_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity.bench") as client:
            people = await seed(app, max(logins, concurrency))
            app.state.token_verifier.keys.load((await client.get("/.well-known/jwks.json")).json())
            await login(client, people[0])  # warm-up: first signing key, connection pool

            await forget_used_codes(app)
            sequential = []
            for person in people[:logins]:
                elapsed, token = await login(client, person)
                sequential.append(elapsed)
            await forget_used_codes(app)
            started = time.perf_counter()
            semaphore = asyncio.Semaphore(concurrency)

            async def limited(person: User) -> None:
                async with semaphore:
                    await login(client, person)

            await asyncio.gather(*(limited(p) for p in people[:logins]))
            concurrent_rate = logins / (time.perf_counter() - started)
            results["login_http"] = {
                "sequential": {
                    **summary_ms(sequential),
                    "logins_per_s": round(1 / statistics.fmean(sequential), 1),
                },
                f"concurrency_{concurrency}_logins_per_s": round(concurrent_rate, 1),
            }

            authenticated = await timed_gets(client, {"Authorization": f"Bearer {token}"}, requests, 200)
            anonymous = await timed_gets(client, {}, requests, 401)
            results["request_cost"] = {
                "GET /me with a valid token": summary_ms(authenticated),
                "GET /me without a token (401)": summary_ms(anonymous),
                "added_by_verification_p50_ms": round(
                    (percentile(authenticated, 0.5) - percentile(anonymous, 0.5)) * 1000, 3
                ),
            }

            verifier = app.state.token_verifier
            signature = []
            for _ in range(requests):
                started = time.perf_counter()
                claims = await verifier.verify(token)
                signature.append(time.perf_counter() - started)
            deny_list = []
            for _ in range(requests):
                started = time.perf_counter()
                async with app.state.sessionmaker() as session:
                    await revoked_kind(
                        session,
                        user_id=claims["sub"],
                        facility_id=claims["facility"],
                        session_id=claims.get("sid"),
                        cert_fingerprint=None,
                        issued_at=int(claims["iat"]),
                    )
                deny_list.append(time.perf_counter() - started)
            results["parts"] = {
                "EdDSA signature check": summary_ms(signature),
                "deny-list query": summary_ms(deny_list),
            }
    await reset_database(settings)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    figures: dict[str, object] = {
        "argon2id": {
            "parameters": "m=19456 KiB, t=2, p=1",
            "verifications_per_s_1_thread": round(argon2_rate(1), 1),
            f"verifications_per_s_{cores}_threads": round(argon2_rate(cores), 1),
        }
    }
    figures.update(asyncio.run(run(args.logins, args.requests, args.concurrency)))
    figures["machine"] = {
        "cores": cores,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"identity-login-{stamp}.json").write_text(
        json.dumps(figures, ensure_ascii=False, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
