"""rel1 from start to finish: private servers, the services as processes, load with faults, then every check.

Shared by the suite's shortened soak (tests/reliability/test_soak.py) and the long form (bench/soak.py). The
faults come in cycles of about 100 s of load (at least one): a worker SIGKILLed and started again 3 s later,
the RabbitMQ node restarted (stop_app, start_app), the PostgreSQL cluster restarted (pg_ctlcluster restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.reliability.soak import invariants
from tests.reliability.soak.deployment import S3Store, SoakDeployment
from tests.reliability.soak.invariants import Check
from tests.reliability.soak.load import MixedLoad, People
from tests.reliability.soak.servers import PrivatePostgres, PrivateRabbitMQ

FAULT_CYCLE_S = 100.0
# The worker killed in each cycle, in turn: the busiest consumers first.
KILLED_WORKERS = ("timeline-worker", "notify-worker", "consent-worker", "identity-worker", "portal-worker")
WORKER_DOWN_S = 3.0
# The longest production retry delay is 30 s: a message that failed during a restart may wait that long.
DRAIN_TIMEOUT_S = 300.0


@dataclass
class SoakResult:
    seconds: float
    actors: int
    timings: dict[str, float] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    acknowledged: dict[str, int] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    logs: str = ""

    @property
    def held(self) -> bool:
        return bool(self.checks) and all(check.held for check in self.checks)

    def report(self) -> str:
        lines = [
            f"soak: {self.seconds:.0f} s of load by {self.actors} clients; "
            + ", ".join(f"{k} {v:.0f} s" for k, v in self.timings.items()),
            "faults: "
            + "; ".join(f"{f['fault']} at {f['at_s']:.0f} s ({f['took_s']:.1f} s)" for f in self.faults),
            "acknowledged: " + ", ".join(f"{k} {v}" for k, v in self.acknowledged.items()),
            "requests: "
            + "; ".join(
                f"{action} " + " ".join(f"{outcome}:{n}" for outcome, n in counts.items())
                for action, counts in self.outcomes.items()
            ),
            *(check.line() for check in self.checks),
            f"logs: {self.logs}",
        ]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["held"] = self.held
        return body


async def _sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def inject_faults(
    deployment: SoakDeployment, seconds: float, started: float, progress: Callable[[str], None]
) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = []

    async def timed(name: str, action: Callable[[], Any]) -> None:
        began = time.monotonic()
        await asyncio.to_thread(action)
        faults.append({"fault": name, "at_s": began - started, "took_s": time.monotonic() - began})
        progress(f"soak: {name} at {began - started:.0f} s took {time.monotonic() - began:.1f} s")

    cycles = max(1, round(seconds / FAULT_CYCLE_S))
    span = seconds / cycles
    for cycle in range(cycles):
        base = started + cycle * span
        role = KILLED_WORKERS[cycle % len(KILLED_WORKERS)]
        await _sleep_until(base + 0.15 * span)

        def kill_and_restart(role: str = role) -> None:
            deployment.kill(role)
            time.sleep(WORKER_DOWN_S)
            deployment.restart(role)

        await timed(f"SIGKILL {role}", kill_and_restart)
        await _sleep_until(base + 0.4 * span)
        await timed("RabbitMQ restart", deployment.rabbitmq.restart)
        await _sleep_until(base + 0.7 * span)
        await timed("PostgreSQL restart", deployment.postgres.restart)
    return faults


def remove_buckets(deployment: SoakDeployment) -> None:
    from minio import Minio
    from minio.deleteobjects import DeleteObject

    store = Minio(
        deployment.s3.endpoint,
        access_key=deployment.s3.access_key,
        secret_key=deployment.s3.secret_key,
        secure=False,
    )
    prefix = deployment.database_prefix.replace("_", "-")
    for bucket in store.list_buckets():
        if bucket.name.startswith(prefix):
            names = [o.object_name for o in store.list_objects(bucket.name, recursive=True) if o.object_name]
            list(store.remove_objects(bucket.name, (DeleteObject(n) for n in names)))
            store.remove_bucket(bucket.name)


async def _quiet_or_why(deployment: SoakDeployment) -> dict[str, Any] | None:
    try:
        return await invariants.quiet(deployment)
    except Exception as error:  # a server still coming back is a reason to wait, not to stop
        return {"error": repr(error)}


async def drain(deployment: SoakDeployment, timeout: float) -> dict[str, Any] | None:
    """Wait until everything is delivered and applied; None when it is, else what was still waiting."""
    deadline = time.monotonic() + timeout
    waiting: dict[str, Any] | None = {"not yet looked": True}
    while time.monotonic() < deadline:
        waiting = await _quiet_or_why(deployment)
        if waiting is None:
            # Twice in a row: an outbox row may be mid-publish while every queue looks empty.
            await asyncio.sleep(2.0)
            waiting = await _quiet_or_why(deployment)
            if waiting is None:
                return None
        await asyncio.sleep(1.0)
    return waiting


async def run_soak(
    *,
    seconds: float,
    workdir: Path,
    name: str,
    s3: S3Store | None = None,
    actors: int = 4,
    drain_timeout: float = DRAIN_TIMEOUT_S,
    progress: Callable[[str], None] = print,
) -> SoakResult:
    """Run the whole soak; every server and process it started is gone when it returns or raises."""
    result = SoakResult(seconds=seconds, actors=actors, logs=str(workdir / "logs"))
    slug = "".join(c if c.isalnum() else "_" for c in name.lower())
    postgres = PrivatePostgres(f"yui_soak_{slug}")
    rabbitmq = PrivateRabbitMQ(f"yui-soak-{slug.replace('_', '-')}", workdir / "rabbitmq")
    seaweed = None
    deployment: SoakDeployment | None = None
    people: People | None = None
    load: MixedLoad | None = None
    began = time.monotonic()
    try:
        await asyncio.gather(asyncio.to_thread(postgres.create), asyncio.to_thread(rabbitmq.start))
        if s3 is None:
            from deploy.local.seaweed import start_seaweedfs

            seaweed = await asyncio.to_thread(start_seaweedfs, workdir / "seaweedfs", s3_port=0)
            s3 = S3Store(seaweed.endpoint, seaweed.access_key, seaweed.secret_key)
        deployment = SoakDeployment(postgres, rabbitmq, s3, workdir, database_prefix=f"yui_soak_{slug}_")
        progress(f"soak: PostgreSQL on {postgres.port}, RabbitMQ on {rabbitmq.port}; migrating")
        await asyncio.to_thread(deployment.prepare)
        await asyncio.to_thread(deployment.start)
        people = People(deployment)
        await people.enrol(doctors=2, nurses=6)
        load = MixedLoad(deployment, people, actors=actors)
        signed_in = await asyncio.gather(*(people.sign_in(load.client, p) for p in people.everyone))
        if not all(signed_in):
            raise RuntimeError("the soak's people could not sign in: " + deployment.log_tail("identity-api"))
        result.timings["setup"] = time.monotonic() - began
        progress(f"soak: services up after {result.timings['setup']:.0f} s; {seconds:.0f} s of load begins")

        started = time.monotonic()
        fault_task = asyncio.create_task(inject_faults(deployment, seconds, started, progress))
        try:
            await load.run(seconds)
        finally:
            # The faults end within the load's time; should one hang, the load's end still ends it.
            done, _ = await asyncio.wait(
                {fault_task}, timeout=max(0.0, started + seconds + 120 - time.monotonic())
            )
            if not done:
                fault_task.cancel()
        result.faults = fault_task.result() if fault_task.done() and not fault_task.cancelled() else []
        await load.settle()
        result.timings["load"] = time.monotonic() - started

        drained_at = time.monotonic()
        still = await drain(deployment, drain_timeout)
        result.timings["drain"] = time.monotonic() - drained_at
        if still is not None:
            progress(f"soak: not quiet after {drain_timeout:.0f} s: {json.dumps(still, default=str)[:2000]}")
        checked_at = time.monotonic()
        result.checks = await invariants.check_everything(deployment, load.ledger, people, load.client)
        if still is not None:
            result.checks.insert(
                0, Check("quiet after the load", False, {}, [json.dumps(still, default=str)])
            )
        # A response the load itself could not make sense of is the soak's own bug: shown, and it fails the run.
        errors = load.ledger.driver_errors
        result.checks.append(
            Check("load made no mistake", not errors, {"driver errors": len(errors)}, errors)
        )
        result.timings["checks"] = time.monotonic() - checked_at
        result.outcomes = load.ledger.summary()
        result.acknowledged = {
            "subjects": len(load.ledger.subjects),
            "posts": len(load.ledger.posts),
            "files": len(load.ledger.attachments),
            "withdrawals": len(load.ledger.withdrawals),
            "suspensions": len(load.ledger.suspensions),
            "liftings": len(load.ledger.lifted),
        }
        return result
    finally:
        stopped_at = time.monotonic()
        # Each step on its own: one that fails must not leave the servers after it running.
        if load is not None:
            with contextlib.suppress(Exception):
                await load.close()
        if people is not None:
            with contextlib.suppress(Exception):
                await people.close()
        if deployment is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(deployment.stop)
        if seaweed is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(seaweed.stop)
        elif deployment is not None:
            # A store shared with others (the suite's): its buckets go, the store stays.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(remove_buckets, deployment)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(rabbitmq.stop)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(postgres.drop)
        result.timings["teardown"] = time.monotonic() - stopped_at
