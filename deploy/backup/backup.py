"""`make backup`: a dated, checksummed set of every database, bucket, the broker's definitions and the CA.

Layout of ``<dir>/<UTC stamp>/``::

    manifest.json                     what is in the set, with a SHA-256 and size per file
    databases/<service>.dump          pg_dump -Fc of each service's own database
    objects/<bucket>/<key>            every object of every bucket of the deployment
    broker/definitions.json           the vhost's queues, exchanges, bindings, policies, permissions
    certificate-authority/            the CA certificate, its private key still encrypted, revocations, CRL

The set is written under ``<stamp>.partial`` and renamed when complete, so a directory with a manifest and
no ``.partial`` suffix is always a whole backup. Each database dump is consistent on its own (one snapshot
per pg_dump); across services the outbox and inbox make a few seconds' skew harmless: an event whose
producer is newer than its consumer is re-delivered from the restored outbox, a duplicate is refused by the
restored inbox. Messages waiting in queues are not backed up; the manifest records how many there were.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from deploy.backup.deployment import (
    SERVICES,
    BackupSettings,
    GatewayFiles,
    broker,
    bucket_prefix,
    executable,
    libpq_url,
    object_store,
    service_settings,
    sha256_of,
)

FORMAT_VERSION = 1


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def dump_database(url: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # -Fc: compressed, and pg_restore can restore it table by table or in parallel.
    command = [executable("pg_dump", "postgresql-client"), "--format=custom", "--no-owner", "--no-acl"]
    result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [*command, f"--file={target}", f"--dbname={url}"],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pg_dump into {target.name} failed: {result.stderr.strip()}")


def copy_buckets(settings: Any, target: Path) -> dict[str, list[dict[str, Any]]]:
    """Every object of every bucket whose name carries the deployment's prefix."""
    client = object_store(settings)
    prefix = bucket_prefix(settings)
    buckets: dict[str, list[dict[str, Any]]] = {}
    for bucket in sorted(b.name for b in client.list_buckets() if b.name.startswith(prefix)):
        objects: list[dict[str, Any]] = []
        for item in client.list_objects(bucket, recursive=True):
            key = item.object_name
            if not key or key.endswith("/"):
                continue
            path = target / bucket / key
            stat = client.fget_object(bucket, key, str(path))
            entry = {"key": key, "content_type": stat.content_type or "application/octet-stream"}
            # Object-locked objects (the audit seal heads) keep their lock: restore puts it back.
            if stat.metadata and stat.metadata.get("x-amz-object-lock-retain-until-date"):
                entry["retention_mode"] = stat.metadata.get("x-amz-object-lock-mode", "GOVERNANCE")
                entry["retain_until"] = stat.metadata["x-amz-object-lock-retain-until-date"]
            objects.append(entry)
        buckets[bucket] = objects
    return buckets


async def certificate_authority_state(url: str) -> dict[str, Any]:
    connection = await asyncpg.connect(url)
    try:
        authority = await connection.fetchrow(
            "SELECT certificate_pem, encrypted_private_key_pem FROM certificate_authorities "
            "ORDER BY created_at LIMIT 1"
        )
        revoked = await connection.fetch(
            "SELECT serial_number, revoked_at, revocation_reason FROM client_certificates "
            "WHERE revoked_at IS NOT NULL ORDER BY revoked_at"
        )
    finally:
        await connection.close()
    return {
        "certificate_pem": authority["certificate_pem"] if authority else None,
        "encrypted_private_key_pem": authority["encrypted_private_key_pem"] if authority else None,
        "revocations": [
            {
                "serial_number": r["serial_number"],
                "revoked_at": r["revoked_at"].isoformat(),
                "reason": r["revocation_reason"] or "other",
            }
            for r in revoked
        ],
    }


def save_certificate_authority(identity_url: str, target: Path) -> dict[str, Any]:
    """The CA as identity keeps it (key encrypted with YUI_IDENTITY_CA_KEY_PASSPHRASE, which is NOT backed up:
    it lives in the secret store) and its revocation state; the published CRL too where the worker writes one."""
    target.mkdir(parents=True, exist_ok=True)
    state = asyncio.run(certificate_authority_state(identity_url))
    saved: dict[str, Any] = {"revocations": len(state["revocations"]), "has_authority": False}
    if state["certificate_pem"]:
        (target / "certificate.pem").write_text(state["certificate_pem"])
        (target / "private-key.encrypted.pem").write_text(state["encrypted_private_key_pem"])
        saved["has_authority"] = True
    (target / "revocations.json").write_text(json.dumps(state["revocations"], indent=2) + "\n")
    crl_file = GatewayFiles().gateway_crl_file
    if crl_file is not None and crl_file.exists():
        (target / "crl.pem").write_bytes(crl_file.read_bytes())
    return saved


def write_metrics(path: Path, *, finished: float, duration: float, size: int) -> None:
    """The node_exporter textfile the BackupTooOld alert reads; replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "# HELP yui_backup_last_success_timestamp_seconds When the last complete backup finished.\n"
        "# TYPE yui_backup_last_success_timestamp_seconds gauge\n"
        f"yui_backup_last_success_timestamp_seconds {finished:.3f}\n"
        "# HELP yui_backup_last_duration_seconds How long the last complete backup took.\n"
        "# TYPE yui_backup_last_duration_seconds gauge\n"
        f"yui_backup_last_duration_seconds {duration:.3f}\n"
        "# HELP yui_backup_last_size_bytes Size of the last complete backup.\n"
        "# TYPE yui_backup_last_size_bytes gauge\n"
        f"yui_backup_last_size_bytes {size}\n"
    )
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def make_backup(backup_settings: BackupSettings | None = None, *, to: Path | None = None) -> Path:
    """Write a complete backup set and return its directory."""
    backup_settings = backup_settings or BackupSettings()
    started = time.time()
    moment = datetime.now(UTC)
    final = to or backup_settings.dir / stamp(moment)
    if final.exists():
        raise FileExistsError(f"{final} exists already")
    work = final.with_name(final.name + ".partial")
    work.mkdir(parents=True)
    settings = {service: service_settings(service) for service in SERVICES}
    bus = broker(settings["identity"], backup_settings)
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "created_at": moment.isoformat(),
        "database_prefix": settings["identity"].database_prefix,
        "bucket_prefix": bucket_prefix(settings["identity"]),
        "vhost": bus.vhost,
        "databases": {},
    }
    # The broker first: the definitions rarely change, and the queue depths say what was in flight.
    definitions = bus.export_definitions()
    (work / "broker").mkdir()
    (work / "broker" / "definitions.json").write_text(
        json.dumps(definitions, indent=2, sort_keys=True) + "\n"
    )
    manifest["broker"] = {"queues": len(definitions["queues"]), "messages_waiting": bus.queue_depths()}
    for service, service_config in settings.items():
        dump_database(libpq_url(service_config), work / "databases" / f"{service}.dump")
        manifest["databases"][service] = {"database": service_config.database_name}
    manifest["certificate_authority"] = save_certificate_authority(
        libpq_url(settings["identity"]), work / "certificate-authority"
    )
    # Objects last: an object referenced by a dumped row was uploaded before that row committed, so it is here.
    manifest["buckets"] = copy_buckets(settings["identity"], work / "objects")
    files = sorted(p for p in work.rglob("*") if p.is_file())
    manifest["files"] = {
        str(p.relative_to(work)): {"sha256": sha256_of(p), "size": p.stat().st_size} for p in files
    }
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    os.replace(work, final)
    finished = time.time()
    size = sum(entry["size"] for entry in manifest["files"].values())
    write_metrics(
        backup_settings.metrics_textfile or backup_settings.dir / "yui_backup.prom",
        finished=finished,
        duration=finished - started,
        size=size,
    )
    return final
