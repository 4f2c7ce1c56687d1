"""What must hold once the soak's load and faults are over, each check read from the databases, broker and store.

Each check returns a :class:`Check` (a name, whether it held, the figures behind it and, when it did not hold,
examples of what broke). None of them trusts the load's own view alone: the ledger only says which writes were
acknowledged, the rest is what the services actually hold.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from minio import Minio

from tests.reliability.soak.deployment import SERVICES, SoakDeployment
from tests.reliability.soak.load import Ledger, People
from tests.reliability.soak.servers import topic_matches

EXAMPLES = 12


@dataclass
class Check:
    name: str
    held: bool
    figures: dict[str, Any] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)

    def line(self) -> str:
        verdict = "held" if self.held else "BROKEN"
        figures = ", ".join(f"{k} {v}" for k, v in self.figures.items())
        text = f"{self.name:28} {verdict:7} {figures}"
        if self.broken:
            text += "\n" + "\n".join(f"{'':37}{item}" for item in self.broken[:EXAMPLES])
        return text


def _dsn(deployment: SoakDeployment, service: str) -> str:
    return deployment.database_url(service).replace("postgresql+asyncpg://", "postgresql://")


async def fetch(deployment: SoakDeployment, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(_dsn(deployment, service), timeout=30)
    try:
        return list(await connection.fetch(sql, *args, timeout=120))
    finally:
        await connection.close()


# ------------------------------------------------------------------ quiet: what the checks wait for


async def unpublished(deployment: SoakDeployment) -> dict[str, int]:
    counts = {}
    for service in SERVICES:
        rows = await fetch(deployment, service, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        counts[service] = int(rows[0][0])
    return counts


async def pending_cascades(deployment: SoakDeployment) -> int:
    rows = await fetch(deployment, "consent", "SELECT count(*) FROM cascade_steps WHERE completed_at IS NULL")
    return int(rows[0][0])


async def quiet(deployment: SoakDeployment) -> dict[str, Any] | None:
    """None once every outbox is published, every queue is empty and every cascade is complete; else what is not."""
    waiting: dict[str, Any] = {}
    outboxes = {s: n for s, n in (await unpublished(deployment)).items() if n}
    if outboxes:
        waiting["unpublished"] = outboxes
    depths = await asyncio.to_thread(deployment.rabbitmq.queue_depths)
    busy = {queue: n for queue, n in depths.items() if n}
    if busy:
        waiting["queued"] = busy
    cascades = await pending_cascades(deployment)
    if cascades:
        waiting["pending cascade steps"] = cascades
    return waiting or None


# ------------------------------------------------------------------ the invariants


async def acknowledged_writes_kept(deployment: SoakDeployment, ledger: Ledger) -> Check:
    """Every write a service answered 2xx for is there: posts, files, withdrawals, suspensions."""
    wanted = {
        ("timeline", "posts"): set(ledger.posts),
        ("timeline", "attachments"): set(ledger.attachments),
        ("consent", "withdrawals"): set(ledger.withdrawals),
        ("identity", "suspensions"): set(ledger.suspensions),
    }
    figures, broken = {}, []
    for (service, table), ids in wanted.items():
        rows = await fetch(
            deployment, service, f"SELECT id FROM {table} WHERE id = ANY($1::uuid[])", list(ids)
        )
        found = {row["id"] for row in rows}
        figures[table] = f"{len(found)}/{len(ids)}"
        broken += [f"{table}: acknowledged {missing} is missing" for missing in sorted(ids - found, key=str)]
    return Check("acknowledged writes kept", not broken, figures, broken)


async def cascades_complete(deployment: SoakDeployment, ledger: Ledger, client: httpx.AsyncClient) -> Check:
    """Each withdrawal: every step done, timeline stopped every post (and said how many), notify told each
    member once, and timeline refuses the subject's posts."""
    withdrawals = await fetch(
        deployment,
        "consent",
        "SELECT w.id, w.subject_id, w.mode, s.service, s.status, s.completed_at, s.items_affected "
        "FROM withdrawals w JOIN cascade_steps s ON s.withdrawal_id = w.id ORDER BY w.id",
    )
    steps: dict[UUID, dict[str, Any]] = defaultdict(dict)
    subjects: dict[UUID, tuple[UUID, str]] = {}
    for row in withdrawals:
        steps[row["id"]][row["service"]] = row
        subjects[row["id"]] = (row["subject_id"], row["mode"])
    subject_ids = [subject for subject, _ in subjects.values()]
    posts = {
        row["subject_id"]: (int(row["total"]), int(row["running"]))
        for row in await fetch(
            deployment,
            "timeline",
            "SELECT subject_id, count(*) AS total, count(*) FILTER (WHERE support_stopped_at IS NULL) AS running "
            "FROM posts WHERE subject_id = ANY($1::uuid[]) GROUP BY subject_id",
            subject_ids,
        )
    }
    told = {
        row["subject_id"]: (int(row["notices"]), int(row["people"]))
        for row in await fetch(
            deployment,
            "notify",
            "SELECT subject_id, count(*) AS notices, count(DISTINCT user_id) AS people FROM notifications "
            "WHERE kind = 'subject.support_stopped' AND subject_id = ANY($1::uuid[]) GROUP BY subject_id",
            subject_ids,
        )
    }
    broken = []
    for withdrawal_id, by_service in steps.items():
        subject_id, mode = subjects[withdrawal_id]
        for service, step in by_service.items():
            if step["status"] != "done" or step["completed_at"] is None:
                broken.append(f"withdrawal {withdrawal_id}: {service} step {step['status']}")
        total, running = posts.get(subject_id, (0, 0))
        if running:
            broken.append(f"withdrawal {withdrawal_id}: {running} of {total} posts still running in timeline")
        timeline = by_service.get("timeline")
        if mode == "stop" and timeline is not None and timeline["items_affected"] != total:
            broken.append(
                f"withdrawal {withdrawal_id}: timeline reported {timeline['items_affected']} posts, holds {total}"
            )
        notices, people = told.get(subject_id, (0, 0))
        if notices != people:
            broken.append(f"withdrawal {withdrawal_id}: {notices} stop notices for {people} people")
        notify = by_service.get("notify")
        if notify is not None and notify["items_affected"] != notices:
            broken.append(
                f"withdrawal {withdrawal_id}: notify reported {notify['items_affected']} notices, holds {notices}"
            )
    refused = 0
    for withdrawal_id, subject_id in ledger.withdrawals.items():
        subject = ledger.subjects[subject_id]
        response = await client.get(
            f"{deployment.url('timeline')}/subjects/{subject_id}/posts", headers=subject.doctor.headers
        )
        if response.status_code == 410:
            refused += 1
        else:
            broken.append(
                f"withdrawal {withdrawal_id}: timeline answers {response.status_code} for the posts"
            )
    figures = {
        "withdrawals": len(steps),
        "posts stopped": sum(posts.get(s, (0, 0))[0] for s in subject_ids),
        "stop notices": sum(told.get(s, (0, 0))[0] for s in subject_ids),
        "refused (410)": f"{refused}/{len(ledger.withdrawals)}",
    }
    return Check("withdrawal cascades complete", not broken, figures, broken)


async def events_applied_once(deployment: SoakDeployment) -> Check:
    """Every published event has exactly one inbox claim in every queue bound to its type, and no claim is
    for an event nobody published (the inbox's primary key makes a second claim impossible; the counts show
    that nothing was skipped and nothing invented)."""
    published: dict[UUID, str] = {}
    for service in SERVICES:
        for row in await fetch(
            deployment, service, "SELECT id, event_type FROM outbox WHERE published_at IS NOT NULL"
        ):
            published[row["id"]] = row["event_type"]
    bindings = await asyncio.to_thread(deployment.rabbitmq.bindings, "yui.events")
    expected: dict[str, set[UUID]] = defaultdict(set)
    for event_id, event_type in published.items():
        for queue, pattern in bindings:
            if topic_matches(pattern, event_type):
                expected[queue].add(event_id)
    claimed: dict[str, set[UUID]] = defaultdict(set)
    duplicates = 0
    for service in SERVICES:
        for row in await fetch(deployment, service, "SELECT consumer, message_id FROM inbox"):
            if row["message_id"] in claimed[row["consumer"]]:
                duplicates += 1
            claimed[row["consumer"]].add(row["message_id"])
    broken = []
    for queue in sorted(set(expected) | set(claimed)):
        missing = expected[queue] - claimed[queue]
        extra = claimed[queue] - expected[queue]
        broken += [
            f"{queue}: {published[m]} {m} published but never applied" for m in sorted(missing, key=str)
        ]
        broken += [f"{queue}: claimed {e}, which no outbox published" for e in sorted(extra, key=str)]
    if duplicates:
        broken.append(f"{duplicates} inbox rows claim a message twice")
    figures = {
        "events published": len(published),
        "deliveries due": sum(len(ids) for ids in expected.values()),
        "applied": sum(len(ids) for ids in claimed.values()),
        "consumers": len(expected),
    }
    return Check("each event applied once", not broken, figures, broken)


async def outboxes_and_queues_empty(deployment: SoakDeployment) -> Check:
    counts = await unpublished(deployment)
    depths = await asyncio.to_thread(deployment.rabbitmq.queue_depths)
    broken = [f"{service}: {n} outbox rows unpublished" for service, n in counts.items() if n]
    broken += [f"queue {queue}: {n} messages" for queue, n in sorted(depths.items()) if n]
    dead_letter_queues = [q for q in depths if q.endswith(".dlq")]
    figures = {
        "unpublished": sum(counts.values()),
        "queues": len(depths),
        "DLQs": len(dead_letter_queues),
        "messages left": sum(depths.values()),
        "in DLQs": sum(depths[q] for q in dead_letter_queues),
    }
    return Check("outbox and DLQs empty", not broken, figures, broken)


async def deny_lists_agree(deployment: SoakDeployment, people: People) -> Check:
    """Every service refuses exactly the users identity holds suspended: a suspension and its lifting, applied
    in whatever order the broker delivered them after the faults, end in identity's state everywhere."""
    soak_users = [str(p.user_id) for p in people.everyone]
    in_force = await suspended_in_identity(deployment, people)
    broken, figures = [], {"suspended now": len(in_force)}
    wrong: dict[str, set[str]] = defaultdict(set)
    for service in SERVICES:
        denied = {
            row["value"]
            for row in await fetch(
                deployment,
                service,
                "SELECT value FROM revoked_principals WHERE kind = 'user' AND value = ANY($1::text[]) "
                # In force: revoked and not lifted after (a reinstatement leaves a tombstone, not nothing).
                "AND expires_at > now() AND revoked_at IS NOT NULL "
                "AND (lifted_at IS NULL OR revoked_at >= lifted_at)",
                soak_users,
            )
        }
        broken += [f"{service}: refuses {u}, whom identity reinstated" for u in sorted(denied - in_force)]
        broken += [f"{service}: serves {u}, whom identity holds suspended" for u in sorted(in_force - denied)]
        for user in denied ^ in_force:
            wrong[user].add(service)
    figures["services"] = len(SERVICES)
    for user, services in sorted(wrong.items()):
        broken += await revocation_history(deployment, user, sorted(services))
    return Check("deny lists agree", not broken, figures, broken)


async def suspended_in_identity(deployment: SoakDeployment, people: People) -> set[str]:
    rows = await fetch(
        deployment,
        "identity",
        "SELECT target_id FROM suspensions WHERE target_kind = 'user' AND lifted_at IS NULL "
        "AND target_id = ANY($1::uuid[])",
        [str(p.user_id) for p in people.everyone],
    )
    return {str(row["target_id"]) for row in rows}


async def revocation_history(deployment: SoakDeployment, user: str, services: list[str]) -> list[str]:
    """For a disagreement: identity's suspensions of the user, and in which order each service applied the
    suspension and reinstatement events (their inbox claims' times), which is what decides its deny list."""
    lines = []
    for row in await fetch(
        deployment,
        "identity",
        "SELECT id, created_at, lifted_at FROM suspensions WHERE target_id = $1::uuid ORDER BY created_at",
        user,
    ):
        lines.append(
            f"  identity: suspension {row['id']} at {row['created_at']:%H:%M:%S.%f}, lifted {row['lifted_at']}"
        )
    events = await fetch(
        deployment,
        "identity",
        "SELECT id, event_type, created_at FROM outbox WHERE envelope->'data'->>'user_id' = $1 "
        "AND event_type IN ('identity.user-suspended.v1', 'identity.user-reinstated.v1') ORDER BY created_at",
        user,
    )
    names = {
        row["id"]: f"{row['event_type'].split('.')[1]}@{row['created_at']:%H:%M:%S.%f}" for row in events
    }
    for service in services:
        applied = await fetch(
            deployment,
            service,
            "SELECT message_id, received_at FROM inbox WHERE message_id = ANY($1::uuid[]) ORDER BY received_at",
            list(names),
        )
        order = ", ".join(f"{names[r['message_id']]} applied {r['received_at']:%H:%M:%S.%f}" for r in applied)
        lines.append(f"  {service} ({user[:8]}): {order}")
    return lines


async def audit_verifies(deployment: SoakDeployment) -> Check:
    """``python -m <svc> audit-verify`` passes for every service, with the signatures of the seal heads checked."""
    results = await asyncio.gather(*(asyncio.to_thread(deployment.audit_verify, s) for s in SERVICES))
    broken, figures = [], {}
    for service, (code, output) in zip(SERVICES, results, strict=True):
        if code != 0:
            broken.append(f"{service}: {output[-600:]}")
        elif "signatures were not checked" in output:
            broken.append(f"{service}: verified without its audit key: {output[-300:]}")
        verdicts = [line for line in output.splitlines() if "audit log" in line or "audit chain" in line]
        figures[service] = verdicts[-1].split("(", 1)[-1].rstrip(")") if verdicts else output[-120:]
    return Check("audit verifies", not broken, figures, broken)


async def objects_match_rows(deployment: SoakDeployment) -> Check:
    """timeline's bucket holds exactly the objects its attachment rows name (file and thumbnail)."""
    rows = await fetch(deployment, "timeline", "SELECT object_key, thumbnail_key FROM attachments")
    named = {row["object_key"] for row in rows} | {
        row["thumbnail_key"] for row in rows if row["thumbnail_key"]
    }
    store = Minio(
        deployment.s3.endpoint,
        access_key=deployment.s3.access_key,
        secret_key=deployment.s3.secret_key,
        secure=False,
    )

    def listing() -> tuple[set[str], dict[str, int]]:
        prefix = deployment.database_prefix.replace("_", "-")
        others = {}
        stored: set[str] = set()
        for bucket in store.list_buckets():
            if not bucket.name.startswith(prefix):
                continue
            names = {o.object_name for o in store.list_objects(bucket.name, recursive=True) if o.object_name}
            if bucket.name == deployment.bucket("timeline"):
                stored = names
            else:
                others[bucket.name] = len(names)
        return stored, others

    stored, others = await asyncio.to_thread(listing)
    broken = [f"object {key} has no row" for key in sorted(stored - named)]
    broken += [f"row names {key}, which is not stored" for key in sorted(named - stored)]
    figures: dict[str, Any] = {"attachment rows": len(rows), "objects (files, thumbnails)": len(stored)}
    figures.update({f"{bucket} objects": n for bucket, n in others.items()})
    return Check("objects match rows", not broken, figures, broken)


# One ordinary read per service that any signed-in staff member may make (tests/e2e/test_revocation.py's).
PROBES = {"consent": "/subjects", "timeline": "/groups", "notify": "/notifications"}


async def answers_after_faults(
    deployment: SoakDeployment, people: People, client: httpx.AsyncClient
) -> Check:
    """After the faults every service serves each signed-in person, and refuses (401) the ones suspended."""
    # Whom identity holds suspended decides, not the load's view: a suspension answered 500 may have committed.
    held = await suspended_in_identity(deployment, people)
    broken, served, refused = [], 0, 0
    for person in [*people.doctors, *people.nurses]:
        if not person.token:
            broken.append(f"{person.login_id} could not sign in again")
            continue
        for service, path in PROBES.items():
            try:
                status = (
                    await client.get(f"{deployment.url(service)}{path}", headers=person.headers)
                ).status_code
            except httpx.HTTPError as error:
                broken.append(f"{service}{path} for {person.login_id}: {error!r}")
                continue
            # A token from before a suspension stays refused after the reinstatement, until the next sign-in.
            wanted = 401 if person.suspended or str(person.user_id) in held else 200
            if status != wanted:
                broken.append(f"{service}{path} for {person.login_id}: {status}, expected {wanted}")
            elif status == 200:
                served += 1
            else:
                refused += 1
    return Check("services answer after faults", not broken, {"served": served, "refused": refused}, broken)


def processes_alive(deployment: SoakDeployment) -> Check:
    exited = deployment.exited()
    broken = [f"{role} {status}: {deployment.log_tail(role, 5)}" for role, status in exited.items()]
    restarts = {role: p.starts - 1 for role, p in deployment.processes.items() if p.starts > 1}
    return Check("every process still up", not broken, {"restarted": restarts or "none"}, broken)


async def check_everything(
    deployment: SoakDeployment, ledger: Ledger, people: People, client: httpx.AsyncClient
) -> list[Check]:
    return [
        processes_alive(deployment),
        await answers_after_faults(deployment, people, client),
        await acknowledged_writes_kept(deployment, ledger),
        await cascades_complete(deployment, ledger, client),
        await events_applied_once(deployment),
        await outboxes_and_queues_empty(deployment),
        await deny_lists_agree(deployment, people),
        await audit_verifies(deployment),
        await objects_match_rows(deployment),
    ]
