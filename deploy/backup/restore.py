"""`make restore FROM=<dir>`: rebuild an empty deployment (databases, buckets, broker, CA) from a backup set.

The target is the deployment the environment describes (the same YUI_* settings the services read), so a
set taken from one deployment can be restored into another with a different prefix or vhost. Restore
refuses a database that already holds tables and a bucket that already holds objects unless told to
replace them: it rebuilds, it never merges. Every file's checksum is verified before anything is written.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from minio.commonconfig import GOVERNANCE
from minio.error import S3Error
from minio.retention import Retention

from deploy.backup.deployment import (
    SERVICES,
    BackupSettings,
    broker,
    bucket_prefix,
    executable,
    libpq_url,
    object_store,
    server_url,
    service_settings,
    sha256_of,
)


class RestoreRefused(Exception):
    """The backup set is incomplete or damaged, or the target is not empty."""


def read_manifest(source: Path) -> dict[str, Any]:
    path = source / "manifest.json"
    if not path.exists():
        raise RestoreRefused(f"{source} has no manifest.json: not a complete backup set")
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def verify_checksums(source: Path, manifest: dict[str, Any]) -> None:
    damaged = [
        name
        for name, expected in manifest["files"].items()
        if not (source / name).is_file() or sha256_of(source / name) != expected["sha256"]
    ]
    if damaged:
        raise RestoreRefused(f"{len(damaged)} files of the set are missing or damaged, first: {damaged[0]}")


async def prepare_database(server: str, database: str, *, replace: bool) -> None:
    connection = await asyncpg.connect(server)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if exists and replace:
            await connection.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
            exists = False
        if not exists:
            await connection.execute(f'CREATE DATABASE "{database}"')
            return
    finally:
        await connection.close()
    target = await asyncpg.connect(server.rsplit("/", 1)[0] + f"/{database}")
    try:
        tables = await target.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN "
            "('pg_catalog', 'information_schema')"
        )
    finally:
        await target.close()
    if tables:
        raise RestoreRefused(f"database {database} is not empty ({tables} tables); pass --replace to drop it")


def restore_database(url: str, dump: Path) -> None:
    # One transaction: a failed restore leaves an empty database, never half of one.
    result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [
            executable("pg_restore", "postgresql-client"),
            "--no-owner",
            "--no-acl",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={url}",
            str(dump),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pg_restore of {dump.name} failed: {result.stderr.strip()}")


def head_retention(settings: Any, item: dict[str, Any]) -> Retention | None:
    """The lock a seal head had (its mode and date), or a fresh one of the configured length if the set
    predates recording it: a restored head is as write-once as the original."""
    if "retain_until" in item:
        until = datetime.fromisoformat(item["retain_until"].replace("Z", "+00:00"))
        # A lock that had already run out is not made longer than it was.
        return Retention(item.get("retention_mode", GOVERNANCE), until) if until > datetime.now(UTC) else None
    return Retention(GOVERNANCE, datetime.now(UTC) + timedelta(days=settings.audit_seal_retention_days))


def restore_buckets(settings: Any, source: Path, manifest: dict[str, Any], *, replace: bool) -> int:
    """Each backed-up bucket under the target's prefix (same name when the prefixes are the same).

    The audit-seal bucket is made again with S3 object lock and every head gets its retention back
    (yui_common.audit_seal.heads): without that the restored heads could be rewritten to match a forged log.
    """
    client = object_store(settings)
    restored = 0
    for bucket, objects in manifest["buckets"].items():
        target = bucket_prefix(settings) + bucket.removeprefix(manifest["bucket_prefix"])
        locked = target == settings.audit_seal_bucket
        if client.bucket_exists(target):
            if any(True for _ in client.list_objects(target, recursive=True)) and not replace:
                raise RestoreRefused(f"bucket {target} is not empty; pass --replace to restore over it")
        else:
            client.make_bucket(target, object_lock=locked)
        if locked:
            try:
                locked = client.get_object_lock_config(target) is not None
            except S3Error:
                locked = False  # a store without object lock (SeaweedFS): heads are still written once
        for item in objects:
            path = source / "objects" / bucket / item["key"]
            retention = head_retention(settings, item) if locked else None
            client.fput_object(
                target, item["key"], str(path), content_type=item["content_type"], retention=retention
            )
            restored += 1
    return restored


async def check_certificate_authority(url: str, source: Path) -> None:
    """The restored identity database must hold the very CA (and revocations) the set recorded separately."""
    saved = source / "certificate-authority"
    if not (saved / "certificate.pem").exists():
        return
    connection = await asyncpg.connect(url)
    try:
        certificate = await connection.fetchval(
            "SELECT certificate_pem FROM certificate_authorities ORDER BY created_at LIMIT 1"
        )
        revoked = await connection.fetchval(
            "SELECT count(*) FROM client_certificates WHERE revoked_at IS NOT NULL"
        )
    finally:
        await connection.close()
    if certificate != (saved / "certificate.pem").read_text():
        raise RuntimeError("the restored identity database holds another CA than the backup recorded")
    if revoked != len(json.loads((saved / "revocations.json").read_text())):
        raise RuntimeError("the restored identity database has another number of revocations than the backup")


def restore(
    source: Path, *, replace: bool = False, backup_settings: BackupSettings | None = None
) -> dict[str, int]:
    """Restore everything; returns counts of what was restored."""
    backup_settings = backup_settings or BackupSettings()
    manifest = read_manifest(source)
    verify_checksums(source, manifest)
    settings = {service: service_settings(service) for service in SERVICES}
    for service in SERVICES:
        config = settings[service]
        asyncio.run(prepare_database(server_url(config), config.database_name, replace=replace))
        restore_database(libpq_url(config), source / "databases" / f"{service}.dump")
    asyncio.run(check_certificate_authority(libpq_url(settings["identity"]), source))
    objects = restore_buckets(settings["identity"], source, manifest, replace=replace)
    definitions = json.loads((source / "broker" / "definitions.json").read_text())
    broker(settings["identity"], backup_settings).import_definitions(definitions)
    return {"databases": len(SERVICES), "objects": objects, "queues": len(definitions["queues"])}
