"""ops1, the restore drill: data made through the APIs survives `make backup`, the loss of every database,
bucket and broker vhost, and `make restore`; the audit chains verify and the services work on the result.

The drill runs a deployment of its own (its own database prefix, buckets and vhost) rather than the session's
``stack``: wiping the shared stack's databases under it would break every later test of the session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from cryptography import x509
from identity import ca
from identity.models import ClientCertificate
from minio.deleteobjects import DeleteObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from yui_common.audit import verify_chain
from yui_common.db import asyncpg_dsn

from deploy.backup.deployment import object_store
from tests.e2e.test_revocation import make_network
from tests.support import infrastructure
from tests.support import stack as stack_module
from tests.support.stack import SERVICES, Stack, Staff, eventually, settings_for

REPO = Path(__file__).resolve().parents[2]
# The smallest PDF timeline accepts; each attachment appends a comment line so every file differs.
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
pytestmark = [pytest.mark.timeout(900)]


# ------------------------------------------------------------------ the drill's own deployment


@pytest.fixture
def drill_environment(
    infra: infrastructure.Infrastructure, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """Point every Settings() at a second deployment: databases, buckets and vhost the drill may destroy."""
    if not infra.uses_local_rabbitmq:
        pytest.fail(
            "the drill needs this machine's rabbitmqctl or a management API (YUI_BACKUP_RABBITMQ_...)"
        )
    vhost = f"{infra.amqp_vhost}-drill"
    infrastructure.rabbitmqctl("delete_vhost", vhost)
    infrastructure.ensure_vhost(vhost)
    environment = {
        "YUI_DATABASE_PREFIX": f"{infra.database_prefix}drill_",
        "YUI_AMQP_URL": infra.amqp_url.rsplit("/", 1)[0] + "/" + vhost,
        "YUI_BACKUP_DIR": str(tmp_path / "backups"),
        # The management plugin is off on our machines: the backup then uses rabbitmqctl.
        "YUI_BACKUP_RABBITMQ_MANAGEMENT_URL": "http://127.0.0.1:1",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    yield environment
    infrastructure.rabbitmqctl("delete_vhost", vhost)


async def drop_drill_databases(prefix: str) -> None:
    settings = settings_for("identity")
    connection = await asyncpg.connect(asyncpg_dsn(settings.postgres_url.rstrip("/") + "/postgres"))
    try:
        for service in SERVICES:
            await connection.execute(f'DROP DATABASE IF EXISTS "{prefix}{service}" WITH (FORCE)')
    finally:
        await connection.close()


def drill_buckets() -> list[str]:
    settings = settings_for("identity")
    client = object_store(settings)
    prefix = settings.database_prefix.replace("_", "-")
    return [b.name for b in client.list_buckets() if b.name.startswith(prefix)]


def remove_buckets() -> None:
    """Every drill bucket with every object version. The seal heads are locked in GOVERNANCE mode
    (yui_common.audit_seal.heads), which an administrator may bypass, as a real disaster (or a wiped store)
    would; a COMPLIANCE lock could not be removed at all."""
    client = object_store(settings_for("identity"))
    for bucket in drill_buckets():
        versions = [
            DeleteObject(o.object_name, o.version_id)
            for o in client.list_objects(bucket, recursive=True, include_version=True)
            if o.object_name
        ]
        assert not list(client.remove_objects(bucket, versions, bypass_governance_mode=True))
        client.remove_bucket(bucket)


def audit_verify(service: str) -> subprocess.CompletedProcess[str]:
    """`python -m <service> audit-verify`: entries against seals, seals against the signed heads in S3."""
    return subprocess.run(
        [sys.executable, "-m", service, "audit-verify"],
        cwd=REPO,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def sealed_and_exported() -> bool:
    """Every service's audit log sealed and its heads in the object store: the backup then holds both."""
    for service in SERVICES:
        verified = audit_verify(service)
        assert verified.returncode == 0, (service, verified.stdout, verified.stderr)
        if "not sealed yet" in verified.stdout or "not exported yet" in verified.stdout:
            return False
    return True


def seal_heads_locked(bucket: str) -> int:
    """How many objects of the bucket carry a retention lock (after a restore: every seal head)."""
    client = object_store(settings_for("identity"))
    assert client.get_object_lock_config(bucket) is not None, f"{bucket} was not made with object lock"
    names = [o.object_name for o in client.list_objects(bucket, recursive=True) if o.object_name]
    assert names, f"{bucket} holds no seal heads"
    return sum(1 for name in names if client.get_object_retention(bucket, name) is not None)


@pytest.fixture
async def drill(drill_environment: dict[str, str]) -> AsyncIterator[dict[str, str]]:
    yield drill_environment
    await drop_drill_databases(drill_environment["YUI_DATABASE_PREFIX"])
    remove_buckets()


# ------------------------------------------------------------------ what the drill compares


async def table_counts(service: str) -> dict[str, int]:
    """Rows of every table of the service's database (the alembic version included)."""
    connection = await asyncpg.connect(asyncpg_dsn(settings_for(service).dsn))
    try:
        tables = await connection.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
        return {
            t["table_name"]: await connection.fetchval(f'SELECT count(*) FROM "{t["table_name"]}"')
            for t in tables
        }
    finally:
        await connection.close()


async def audit_ids(service: str) -> set[str]:
    connection = await asyncpg.connect(asyncpg_dsn(settings_for(service).dsn))
    try:
        return {str(row["id"]) for row in await connection.fetch("SELECT id FROM audit_log")}
    finally:
        await connection.close()


async def chain_of(service: str) -> tuple[int, list[Any]]:
    engine = create_async_engine(settings_for(service).dsn)
    try:
        async with async_sessionmaker(engine)() as session:
            return await verify_chain(session)
    finally:
        await engine.dispose()


def queues_in(vhost: str) -> dict[str, str]:
    listed = infrastructure.rabbitmqctl(
        "list_queues", "-q", "--no-table-headers", "-p", vhost, "name", "type"
    )
    return dict(line.split("\t") for line in listed.stdout.splitlines() if "\t" in line)


def run_backup_module(*args: str) -> subprocess.CompletedProcess[str]:
    """What `make backup` and `make restore FROM=...` run, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "deploy.backup", *args],
        cwd=REPO,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def the_one_backup_set(directory: Path) -> tuple[Path, dict[str, Any]]:
    sets = [p for p in directory.iterdir() if p.is_dir()]
    assert len(sets) == 1 and not sets[0].name.endswith(".partial"), sets
    return sets[0], json.loads((sets[0] / "manifest.json").read_text())


def damaged_copy(backup: Path) -> Path:
    """The set with one database dump cut short, as a failing disk or an interrupted copy leaves it."""
    damaged = backup.with_name("damaged")
    shutil.copytree(backup, damaged)
    dump = damaged / "databases" / "timeline.dump"
    dump.write_bytes(dump.read_bytes()[:-10])
    return damaged


# ------------------------------------------------------------------ making data through the APIs


async def load_care_network(yui: Stack, doctor: Staff) -> dict[str, Any]:
    """Subjects with consent, posts with attachments, a CA with one revoked certificate."""
    _, people, _ = await make_network(yui)
    ca_pem = (await yui["identity"].client.get("/ca.pem")).text
    async with yui["identity"].sessionmaker() as session, session.begin():
        await revoked_certificate(session, people["nurse"])
    consent, timeline = yui["consent"].client, yui["timeline"].client
    made: dict[str, Any] = {"subjects": [], "posts": {}, "attachments": {}, "ca_pem": ca_pem}
    for number in range(3):
        created = await consent.post(
            "/subjects",
            json={"name": f"結 花子{number}", "name_kana": "ユイ ハナコ", "municipality_code": "232360"},
            headers=doctor.headers,
        )
        assert created.status_code == 201, created.text
        subject_id = created.json()["id"]
        given = await consent.post(
            f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=doctor.headers
        )
        assert given.status_code == 201, given.text
        made["subjects"].append(subject_id)
        content = PDF + f"% drill {number}\n".encode()

        async def uploaded(
            subject_id: str = subject_id, content: bytes = content, filename: str = f"紹介状{number}.pdf"
        ) -> dict[str, Any] | None:
            response = await timeline.post(
                f"/subjects/{subject_id}/attachments",
                params={"filename": filename},
                content=content,
                headers=doctor.headers,
            )
            return response.json() if response.status_code == 201 else None

        attachment = await eventually(uploaded, what="timeline to learn of the consent")
        made["attachments"][attachment["id"]] = content
        for text in ("訪問看護指示書を添付", "バイタル安定"):
            body: dict[str, Any] = {"category": "instruction", "body": text}
            if text.startswith("訪問"):
                body["attachment_ids"] = [attachment["id"]]
            post = await timeline.post(f"/subjects/{subject_id}/posts", json=body, headers=doctor.headers)
            assert post.status_code == 201, post.text
            made["posts"][post.json()["id"]] = text
    return made


async def revoked_certificate(session: AsyncSession, person: Any) -> None:
    """A certificate revoked before the backup: the restored CRL must still list it."""
    certificate = ca.create_root("drill terminal").certificate
    now = datetime.now(UTC)
    session.add(
        ClientCertificate(
            tenant=person.tenant,
            facility_id=person.facility_id,
            user_id=person.id,
            terminal_label="訪問用タブレット",
            serial_number=format(certificate.serial_number, "x"),
            fingerprint_sha256=ca.fingerprint_sha256(certificate),
            certificate_pem=ca.certificate_pem(certificate),
            not_before=now - timedelta(minutes=1),
            not_after=now + timedelta(days=1),
            issued_by="drill",
            revoked_at=now,
            revocation_reason="terminal_lost",
            revoked_by="drill",
        )
    )


async def quiet(yui: Stack) -> bool:
    """Every outbox sent and every queue empty: what a backup taken in a calm moment sees."""
    for service in SERVICES:
        connection = await asyncpg.connect(asyncpg_dsn(yui[service].settings.dsn))
        try:
            if await connection.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                return False
        finally:
            await connection.close()
    vhost = yui["identity"].settings.amqp_url.rsplit("/", 1)[1]
    listed = infrastructure.rabbitmqctl("list_queues", "-q", "--no-table-headers", "-p", vhost, "messages")
    return all(line.strip() == "0" for line in listed.stdout.splitlines() if line.strip())


# ------------------------------------------------------------------ the drill


async def test_ops1_restore_drill_brings_back_every_subject_post_attachment_and_audit_entry(
    drill: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    doctor_id, facility_id = uuid4(), uuid4()
    before = Stack()
    await before.start()
    try:
        doctor = before.staff(user_id=doctor_id, facility_id=facility_id)
        made = await load_care_network(before, doctor)
        await eventually(lambda: quiet(before), what="outboxes sent and queues drained before the backup")
        # A seal covers only rows below the oldest transaction still running in the service's database, which the
        # parallel tests do not touch; a generous bound all the same, for a machine that is slow to seal.
        await eventually(
            sealed_and_exported, timeout=240.0, what="every audit log sealed and its heads exported"
        )
        backed_up = run_backup_module("backup")
        assert backed_up.returncode == 0, backed_up.stderr
    finally:
        await before.close()

    counts = {service: await table_counts(service) for service in SERVICES}
    audits = {service: await audit_ids(service) for service in SERVICES}
    queues = queues_in(drill["YUI_AMQP_URL"].rsplit("/", 1)[1])
    assert sum(len(ids) for ids in audits.values()) >= len(made["posts"]) + len(made["subjects"])
    assert "quorum" in queues.values()
    backup, manifest = the_one_backup_set(Path(drill["YUI_BACKUP_DIR"]))
    assert set(manifest["databases"]) == set(SERVICES)
    assert sum(len(objects) for objects in manifest["buckets"].values()) >= len(made["attachments"])
    assert manifest["certificate_authority"] == {"revocations": 1, "has_authority": True}
    metrics = (Path(drill["YUI_BACKUP_DIR"]) / "yui_backup.prom").read_text()
    assert "yui_backup_last_success_timestamp_seconds " in metrics

    # The disaster: every database, bucket and the broker's vhost are gone.
    await drop_drill_databases(drill["YUI_DATABASE_PREFIX"])
    remove_buckets()
    infrastructure.rabbitmqctl("delete_vhost", drill["YUI_AMQP_URL"].rsplit("/", 1)[1])
    assert drill_buckets() == []

    # A damaged set is refused before anything is written.
    damaged = damaged_copy(backup)
    refused = run_backup_module("restore", str(damaged))
    assert refused.returncode == 2 and "damaged" in refused.stderr

    restored = run_backup_module("restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    # Restoring again over the rebuilt deployment is refused: restore rebuilds, it never merges.
    again = run_backup_module("restore", str(backup))
    assert again.returncode == 2 and "not empty" in again.stderr

    for service in SERVICES:
        assert await table_counts(service) == counts[service], service
        assert await audit_ids(service) == audits[service], service
        checked, breaks = await chain_of(service)
        assert checked == len(audits[service]) and breaks == [], service
    # The seal heads came back write-once, and each service's log verifies against its signed heads.
    seals_bucket = settings_for("identity").audit_seal_bucket
    heads = manifest["buckets"][seals_bucket]
    assert seal_heads_locked(seals_bucket) == len(heads) > 0
    for service in SERVICES:
        verified = audit_verify(service)
        assert verified.returncode == 0, (service, verified.stdout, verified.stderr)
        if audits[service]:
            assert "signed heads match through seal" in verified.stdout, (service, verified.stdout)
    # The broker's queues came back from the definitions, quorum queues as quorum queues.
    assert queues_in(drill["YUI_AMQP_URL"].rsplit("/", 1)[1]) == queues

    # The services start on the restored data (migrations find them current) and answer as before.
    async def restored_database_is_kept(settings: Any) -> None:
        return None

    monkeypatch.setattr(stack_module, "reset_database", restored_database_is_kept)
    after = Stack()
    await after.start()
    try:
        doctor = after.staff(user_id=doctor_id, facility_id=facility_id)
        for service in SERVICES:
            ready = await after[service].client.get("/readyz")
            assert ready.status_code == 200, (service, ready.text)
        listed = (await after["consent"].client.get("/subjects", headers=doctor.headers)).json()
        assert set(made["subjects"]) <= {s["id"] for s in listed}
        timeline = after["timeline"].client
        for subject_id in made["subjects"]:
            page = (await timeline.get(f"/subjects/{subject_id}/posts", headers=doctor.headers)).json()
            assert {p["id"]: p["body"] for p in page["items"]}.items() <= made["posts"].items()
        seen = {
            p["id"]
            for subject_id in made["subjects"]
            for p in (await timeline.get(f"/subjects/{subject_id}/posts", headers=doctor.headers)).json()[
                "items"
            ]
        }
        assert seen == set(made["posts"])
        for attachment_id, content in made["attachments"].items():
            response = await timeline.get(f"/attachments/{attachment_id}/content", headers=doctor.headers)
            assert response.status_code == 200 and response.content == content
        # The same CA: its certificate, and a CRL it signs that still lists the revoked terminal.
        assert (await after["identity"].client.get("/ca.pem")).text == made["ca_pem"]
        crl = x509.load_pem_x509_crl((await after["identity"].client.get("/crl.pem")).content)
        authority = x509.load_pem_x509_certificate(made["ca_pem"].encode())
        assert crl.is_signature_valid(authority.public_key()) and len(list(crl)) == 1
        # Events flow through the restored broker: a new subject's consent reaches timeline.
        created = await after["consent"].client.post(
            "/subjects",
            json={"name": "結 次郎", "name_kana": "ユイ ジロウ", "municipality_code": "232360"},
            headers=doctor.headers,
        )
        subject_id = UUID(created.json()["id"])
        await after["consent"].client.post(
            f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=doctor.headers
        )

        async def accepted() -> bool:
            response = await timeline.post(
                f"/subjects/{subject_id}/posts",
                json={"category": "instruction", "body": "復旧後の最初の記録"},
                headers=doctor.headers,
            )
            return response.status_code == 201

        await eventually(accepted, what="the restored broker to carry consent's events to timeline")
    finally:
        await after.close()
