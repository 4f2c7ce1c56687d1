"""ten4: ending a network. Two full networks (tests/support/networks.py); one is suspended, exported (every service
writes its part; the export holds every subject, consent, post, version, attachment and audit entry, counted against
the databases) and ended from the console (identity.network-ending.v1, each service deletes its part and reports,
tracked like the withdrawal cascade, while one service's worker is down and after it comes back). Afterwards no row
of it is in any table with a tenant column of any service, no object under its prefix, the audit chains still
verify, and the other network's counts are what they were; a redelivered request changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pyotp
import sqlalchemy as sa
from identity.models import PlatformAccount
from identity.network_end import cli as network_end_cli
from identity.network_end import service as network_end
from identity.passwords import hash_password
from identity.platform import service as platform
from identity.platform.schemas import NetworkCreate
from yui_common.audit_seal import verify_log
from yui_common.events import Envelope
from yui_common.events.network_end import PARTICIPANTS
from yui_common.network_export import TenantScope
from yui_common.problems import Problem
from yui_common.storage import ObjectStore
from yui_common.worker import Worker

from tests.support.bus import publish_direct
from tests.support.networks import NetworkWorld, build_networks
from tests.support.security import PDF
from tests.support.stack import Stack, eventually, service_module

REPO = Path(__file__).resolve().parents[2]
SCOPES: dict[str, TenantScope] = {
    "identity": importlib.import_module("identity.consumers.network_end").SCOPE,
    "consent": importlib.import_module("consent.consumers.network_end").SCOPE,
    "timeline": importlib.import_module("timeline.consumers.network_end").SCOPE,
    "notify": importlib.import_module("notify.consumers.network_end").SCOPE,
    "portal": importlib.import_module("portal.network_end").SCOPE,
    "federation": importlib.import_module("federation.network_end").SCOPE,
}


def tables_with_a_tenant_column(service: str) -> list[sa.Table]:
    """Every table of the service's models that names a network, from its metadata alone (not from the code
    under test): a ``tenant`` column, or the portal's maintenance switches' ``scope``."""
    metadata = service_module(service, "models").Base.metadata
    found = [t for t in metadata.sorted_tables if "tenant" in t.c]
    if service == "portal":
        found.append(metadata.tables["maintenance_switches"])
    return found


def _network_column(table: sa.Table) -> Any:
    return table.c.tenant if "tenant" in table.c else table.c.scope


async def tenant_counts(stack: Stack, tenant: str) -> dict[str, dict[str, int]]:
    """Rows of the network per table, per service: tables with a tenant column and their children."""
    counts: dict[str, dict[str, int]] = {}
    for service in PARTICIPANTS:
        scope = SCOPES[service]
        async with stack[service].sessionmaker() as session:
            found = {}
            for table in tables_with_a_tenant_column(service):
                found[table.name] = int(
                    await session.scalar(
                        sa.select(sa.func.count()).select_from(table).where(_network_column(table) == tenant)
                    )
                    or 0
                )
            for table, _ in scope.child_tables():
                found[table.name] = int(
                    await session.scalar(
                        sa.select(sa.func.count()).select_from(table).where(scope.rows_of(table, tenant))
                    )
                    or 0
                )
        counts[service] = found
    return counts


async def enrich(stack: Stack, world: NetworkWorld) -> None:
    """More of what a network holds: a post's second version, a reply, read marks and a scanned consent form."""
    timeline, consent = stack["timeline"].client, stack["consent"].client
    doctor, nurse = world.headers("doctor"), world.headers("nurse")
    post, subject = world.ids["post"], world.ids["subject"]
    edited = await timeline.post(
        f"/posts/{post}/versions", json={"body": f"{world.word} 訪問しました（訂正）"}, headers=doctor
    )
    assert edited.status_code == 201, edited.text
    reply = await timeline.post(
        f"/posts/{post}/replies", json={"body": f"{world.word} 了解です"}, headers=nurse
    )
    assert reply.status_code == 201, reply.text
    marked = await timeline.post(
        f"/subjects/{subject}/read-marks",
        json={"post_ids": [post, world.ids["support_request"]]},
        headers=nurse,
    )
    assert marked.status_code == 200, marked.text
    form = await consent.put(
        f"/subjects/{subject}/consents/{world.ids['consent']}/form",
        files={"form": ("同意書.pdf", PDF, "application/pdf")},
        headers=doctor,
    )
    assert form.status_code == 200, form.text


async def settled(stack: Stack, tenant: str) -> dict[str, dict[str, int]]:
    """The network's counts once the events its last changes started have all been handled (two equal reads
    with every outbox published in between)."""
    previous: dict[str, Any] = {}

    async def same_twice() -> dict[str, dict[str, int]] | None:
        nonlocal previous
        for service in PARTICIPANTS:
            async with stack[service].sessionmaker() as session:
                if await session.scalar(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL")):
                    return None
        now = await tenant_counts(stack, tenant)
        same = now == previous
        previous = now
        return now if same else None

    return await eventually(same_twice, timeout=60, interval=0.5, what=f"{tenant}'s data to settle")


async def states_everywhere(stack: Stack, tenant: str, status: str) -> None:
    async def check() -> bool:
        for service in PARTICIPANTS:
            async with stack[service].sessionmaker() as session:
                found = await session.scalar(
                    sa.text("SELECT status FROM network_states WHERE tenant = :t"), {"t": tenant}
                )
            if found != status:
                return False
        return True

    await eventually(check, timeout=60, what=f"every service to know {tenant} as {status}")


async def all_sealed(stack: Stack, tenant: str) -> None:
    """Every audit entry of the network is inside a seal (so its erasure must keep the seal verifying)."""

    async def check() -> bool:
        for service in PARTICIPANTS:
            async with stack[service].sessionmaker() as session:
                unsealed = await session.scalar(
                    sa.text(
                        "SELECT count(*) FROM audit_log WHERE tenant = :t AND xact_id >= "
                        "CAST(CAST((SELECT coalesce(max(xid_upper), 0) FROM audit_seals) AS text) AS xid8)"
                    ),
                    {"t": tenant},
                )
            if unsealed:
                return False
        return True

    await eventually(check, timeout=60, what=f"{tenant}'s audit entries to be sealed")


@contextlib.asynccontextmanager
async def notify_worker_down(stack: Stack) -> AsyncIterator[None]:
    """Notify's worker is down inside the block (a crash); a new one starts when it ends, however it ends, so a
    failing assertion here leaves no later test of this pytest worker's shared stack without notify."""
    worker = stack["notify"].worker
    assert worker is not None
    await worker.stop()
    try:
        yield
    finally:
        restarted: Worker = service_module("notify", "worker").build_worker(stack["notify"].settings)
        await restarted.start()
        stack["notify"].worker = restarted
        stack._exit.push_async_callback(restarted.stop)


async def contractor_cookie(stack: Stack) -> dict[str, str]:
    async with stack["identity"].sessionmaker() as session, session.begin():
        account = PlatformAccount(
            login_id=f"contractor-{uuid4().hex[:6]}",
            display_name="結 契約事業者",
            password_hash=hash_password("Keiyaku-2026!end"),
            must_change_password=False,
            totp_secret=pyotp.random_base32(),
            totp_confirmed=True,
        )
        session.add(account)
        await session.flush()
        token = await platform.platform_token(session, settings=stack["identity"].settings, account=account)
    return {"Cookie": f"yui_platform={token}"}


async def identity_command(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m identity …`` as an operator runs it (the environment names the test stack's databases)."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "identity", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )


def rows_in(archive: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(archive.read(name))
    return rows


async def objects_under(stack: Stack, service: str, prefix: str) -> list[str]:
    store = ObjectStore(stack[service].settings)

    def listed() -> list[str]:
        return [o.object_name for o in store.client.list_objects(store.bucket, prefix=prefix, recursive=True)]

    return await asyncio.to_thread(listed)


class TestEndingANetwork:
    async def test_ten4_export_holds_everything_then_every_row_and_object_of_the_network_goes_and_the_other_stays(
        self, stack: Stack, tmp_path: Path
    ) -> None:
        ended, other = await build_networks(stack, 2)
        for world in (ended, other):
            await enrich(stack, world)
        identity = stack["identity"].client

        # Only a suspended network is exported or ended; ending needs a complete export first.
        refused = await network_end_cli.run(stack["identity"].settings, ["export", ended.tenant])
        assert refused == 1
        async with stack["identity"].sessionmaker() as session, session.begin():
            await platform.suspend_network(
                session, actor="test-contractor", slug=ended.tenant, reason="契約終了"
            )
        await states_everywhere(stack, ended.tenant, "suspended")
        try:
            async with stack["identity"].sessionmaker() as session, session.begin():
                await network_end.end_network(session, actor="test-contractor", slug=ended.tenant)
            raise AssertionError("ending before an export was accepted")
        except Problem as problem:
            assert problem.status == 409 and problem.slug == "network-export-required"

        before = await settled(stack, ended.tenant)
        other_before = await settled(stack, other.tenant)
        for service, table in [
            ("consent", "subjects"),
            ("consent", "consents"),
            ("consent", "care_team_members"),
            ("timeline", "posts"),
            ("timeline", "post_versions"),
            ("timeline", "attachments"),
            ("timeline", "read_marks"),
            ("timeline", "groups"),
            ("notify", "notifications"),
            ("identity", "users"),
            ("identity", "facilities"),
            ("portal", "notices"),
        ]:
            assert before[service][table] > 0, (service, table)
        for service in PARTICIPANTS:
            assert before[service]["audit_log"] > 0, service

        # The export, from the command line, as one zip for the municipality.
        output = tmp_path / "export.zip"
        assert (
            await network_end_cli.run(
                stack["identity"].settings,
                ["export", ended.tenant, "--output", str(output), "--timeout", "120"],
            )
            == 0
        )
        with zipfile.ZipFile(output) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            assert {p["service"] for p in manifest["parts"]} == set(PARTICIPANTS)
            for service in PARTICIPANTS:
                exported_tables = {t.name for t in SCOPES[service].exported_tables()}
                for table, count in before[service].items():
                    if table in exported_tables:
                        assert len(rows_in(archive, f"{service}/tables/{table}.json")) == count, (
                            service,
                            table,
                        )
                assert (
                    len(rows_in(archive, f"{service}/tables/audit_log.json")) == before[service]["audit_log"]
                )
            subjects = rows_in(archive, "consent/tables/subjects.json")
            assert [s["id"] for s in subjects] == [ended.ids["subject"]]
            assert ended.ids["consent"] in {c["id"] for c in rows_in(archive, "consent/tables/consents.json")}
            assert archive.read(f"consent/consent-forms/{ended.ids['consent']}") == PDF
            patient = json.loads(archive.read(f"consent/fhir/subjects/{ended.ids['subject']}.json"))
            assert {e["resource"]["resourceType"] for e in patient["entry"]} >= {
                "Patient",
                "Consent",
                "CareTeam",
            }
            versions = rows_in(archive, "timeline/tables/post_versions.json")
            assert {v["version"] for v in versions if v["post_id"] == ended.ids["post"]} == {1, 2}
            assert archive.read(f"timeline/attachments/{ended.ids['attachment']}") == PDF
            posts_bundle = json.loads(archive.read(f"timeline/fhir/subjects/{ended.ids['subject']}.json"))
            assert ended.ids["post"] in {e["resource"]["id"] for e in posts_bundle["entry"]}
            users = rows_in(archive, "identity/tables/users.json")
            assert len(users) == len(ended.people)
            assert not {
                "password_hash",
                "totp_secret",
                "totp_pending_secret",
                "previous_password_hashes",
            } & set(users[0])
            every_text = "".join(
                archive.read(n).decode(errors="ignore") for n in archive.namelist() if n.endswith(".json")
            )
            assert other.word not in every_text and other.ids["subject"] not in every_text

        # The other network's data is in no part of it; each part is where the manifest says.
        async with stack["identity"].sessionmaker() as session:
            state = await network_end.network_end_state(session, ended.tenant)
        export = state.operations[0]
        assert export.kind == "export" and export.completed_at is not None
        store = ObjectStore(stack["identity"].settings, bucket=str(export.bucket))
        manifest_object = b"".join([c async for c in store.stream(f"{export.prefix}manifest.json")])
        assert json.loads(manifest_object)["export_id"] == str(export.id)

        # A part changed in the bucket after its service wrote it is refused, not handed over as whole.
        cookie = await contractor_cookie(stack)
        archive_url = f"/admin/platform/networks/{ended.tenant}/exports/{export.id}/archive"
        whole = await identity.get(archive_url, headers=cookie)
        assert whole.status_code == 200 and whole.content[:2] == b"PK"
        part_key = str(next(step for step in export.steps if step.service == "timeline").report["key"])
        original = b"".join([chunk async for chunk in store.stream(part_key)])
        for changed in (original[:-1], original[:-8] + b"tampered"):
            await store.put_stream(
                part_key, io.BytesIO(changed), length=len(changed), content_type="application/zip"
            )
            refused = await identity.get(archive_url, headers=cookie)
            assert refused.status_code == 409, refused.text[:300]
            assert refused.json()["type"] == "urn:yui:problem:network-export-damaged"
        await store.put_stream(
            part_key, io.BytesIO(original), length=len(original), content_type="application/zip"
        )
        assert (await identity.get(archive_url, headers=cookie)).status_code == 200

        await all_sealed(stack, ended.tenant)
        objects_before = {
            s: await objects_under(stack, s, f"{ended.tenant}/") for s in ("timeline", "consent")
        }
        assert objects_before["timeline"] and objects_before["consent"]

        # Notify's worker is down when the end is asked: the others finish, notify's part waits (a crash
        # mid-cascade), and the console says so in words and Japan time.
        async with notify_worker_down(stack):
            confirm = await identity.post(
                f"/admin/platform/networks/{ended.tenant}/end/confirmation", headers=cookie
            )
            assert confirm.status_code == 200 and "元には戻せません" in confirm.text
            mistyped = await identity.post(
                f"/admin/platform/networks/{ended.tenant}/end",
                data={"confirmed": "yes", "typed_slug": other.tenant},
                headers=cookie,
            )
            assert mistyped.status_code == 422 and "一致しません" in mistyped.text
            asked = await identity.post(
                f"/admin/platform/networks/{ended.tenant}/end",
                data={"confirmed": "yes", "typed_slug": ended.tenant},
                headers=cookie,
            )
            assert asked.status_code == 303, asked.text

            async def only_notify_pending() -> bool:
                async with stack["identity"].sessionmaker() as session:
                    found = await network_end.network_end_state(session, ended.tenant)
                end = next(o for o in found.operations if o.kind == "end")
                return found.status == "ending" and {s.service for s in end.steps if not s.done} == {"notify"}

            await eventually(
                only_notify_pending, timeout=60, what="every service but notify to delete its part"
            )
            page = await identity.get(f"/admin/platform/networks/{ended.tenant}/ending", headers=cookie)
            assert page.status_code == 200
            assert "削除中" in page.text and "待機中" in page.text and "通知" in page.text
            assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} 完了", page.text)
            assert (await tenant_counts(stack, ended.tenant))["notify"]["notifications"] > 0

        async def network_ended() -> bool:
            async with stack["identity"].sessionmaker() as session:
                return (await network_end.network_end_state(session, ended.tenant)).status == "ended"

        await eventually(network_ended, timeout=60, what="the network to end once notify is back")

        # No row of it in any table with a tenant column (or its children), no object under its prefix.
        after = await tenant_counts(stack, ended.tenant)
        left = {s: {t: n for t, n in tables.items() if n} for s, tables in after.items()}
        assert left == {s: {} for s in PARTICIPANTS}, left
        for service in ("timeline", "consent"):
            assert await objects_under(stack, service, f"{ended.tenant}/") == []
        # The other network is untouched.
        assert await settled(stack, other.tenant) == other_before
        assert await objects_under(stack, "timeline", f"{other.tenant}/")

        # Each service's audit chain still verifies: the erased entries' hashes stand in for them.
        for service in PARTICIPANTS:
            async with stack[service].sessionmaker() as session:
                verification = await verify_log(session)
            assert verification.verified, (service, verification.breaks[:3])
            assert verification.entries_erased >= before[service]["audit_log"], service

        # A token of the ended network is refused everywhere, its public site is gone, the other one works; its
        # slug is never taken again.
        for service, path in (("consent", "/subjects"), ("timeline", "/feed"), ("notify", "/notifications")):
            answer = await stack[service].client.get(path, headers=ended.headers("doctor"))
            assert answer.status_code in (401, 403), (service, answer.status_code)
            assert (await stack[service].client.get(path, headers=other.headers("doctor"))).status_code == 200
        public = await stack["portal"].client.get(f"/?tenant={ended.tenant}", headers={"Accept": "text/html"})
        assert public.status_code in (403, 404) and ended.name not in public.text
        progress = await identity_command("network", "progress", ended.tenant)
        assert progress.returncode == 0, progress.stderr
        assert "ended" in progress.stdout and "投稿・添付 (timeline)" in progress.stdout
        again = await identity_command("network", "end", ended.tenant)
        assert again.returncode == 1 and "network-ended" in again.stderr
        try:
            async with stack["identity"].sessionmaker() as session, session.begin():
                await platform.create_network(
                    session,
                    actor="test-contractor",
                    data=NetworkCreate(
                        slug=ended.tenant,
                        name="再利用",
                        municipality_codes=["082171"],
                        operator_office="取手市",
                        operator_login_id="operator",
                        operator_name="取手 一郎",
                    ),
                )
            raise AssertionError("an ended network's slug was taken again")
        except Problem as problem:
            assert problem.status == 409

        # A redelivery duplicates nothing: timeline gets the very same request twice (the inbox drops it),
        # then identity's retry (a new request): it deletes nothing more and reports once more.
        async with stack["identity"].sessionmaker() as session:
            envelope_json = await session.scalar(
                sa.text(
                    "SELECT envelope::text FROM outbox WHERE event_type = 'identity.network-ending.v1' "
                    "AND envelope ->> 'tenant' = :t"
                ),
                {"t": ended.tenant},
            )
        ending = Envelope.model_validate_json(envelope_json)
        amqp = stack["timeline"].settings.amqp_url
        await publish_direct(amqp, ending, queue="timeline.network-end")
        await publish_direct(amqp, ending, queue="timeline.network-end")
        await publish_direct(amqp, ending.model_copy(update={"id": uuid4()}), queue="timeline.network-end")

        async def timeline_reports() -> int:
            async with stack["timeline"].sessionmaker() as session:
                return int(
                    await session.scalar(
                        sa.text(
                            "SELECT count(*) FROM outbox WHERE event_type = 'timeline.network-ended.v1' "
                            "AND envelope ->> 'tenant' = :t"
                        ),
                        {"t": ended.tenant},
                    )
                    or 0
                )

        await eventually(
            _equals(timeline_reports, 2), what="one report per distinct request, none for the copies"
        )
        assert await tenant_counts(stack, ended.tenant) == after
        async with stack["identity"].sessionmaker() as session:
            final = await network_end.network_end_state(session, ended.tenant)
        end = next(o for o in final.operations if o.kind == "end")
        timeline_step = next(s for s in end.steps if s.service == "timeline")
        assert timeline_step.report["rows_deleted"].get("posts", 0) == before["timeline"]["posts"]
        assert final.status == "ended"

    async def test_ten4_a_network_in_use_is_neither_exported_nor_ended(self, stack: Stack) -> None:
        slug = f"ten4-{uuid4().hex[:8]}"
        async with stack["identity"].sessionmaker() as session, session.begin():
            await platform.create_network(
                session,
                actor="test-contractor",
                data=NetworkCreate(
                    slug=slug,
                    name="取手市 在宅ネット",
                    municipality_codes=["082171"],
                    operator_office="取手市 高齢福祉課",
                    operator_login_id="operator",
                    operator_name="取手 一郎",
                ),
            )
        for call in (
            lambda s: network_end.request_export(
                s, settings=stack["identity"].settings, actor="test-contractor", slug=slug
            ),
            lambda s: network_end.end_network(s, actor="test-contractor", slug=slug),
        ):
            try:
                async with stack["identity"].sessionmaker() as session, session.begin():
                    await call(session)
                raise AssertionError("a network in use was exported or ended")
            except Problem as problem:
                assert problem.status == 409 and problem.slug == "network-not-suspended"
                assert "一時停止" in str(problem.detail)
        cookie = await contractor_cookie(stack)
        page = await stack["identity"].client.get(f"/admin/platform/networks/{slug}/ending", headers=cookie)
        assert page.status_code == 200 and "一時停止してから" in page.text
        refused = await stack["identity"].client.post(
            f"/admin/platform/networks/{slug}/exports", headers=cookie
        )
        assert refused.status_code == 409 and "一時停止" in refused.text
        missing = await stack["identity"].client.get(
            "/admin/platform/networks/no-such-net/ending", headers=cookie
        )
        assert missing.status_code == 404


def _equals(read: Any, expected: int) -> Any:
    async def check() -> bool:
        return bool(await read() == expected)

    return check
