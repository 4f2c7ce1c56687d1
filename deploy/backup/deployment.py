"""What a deployment is made of, as the backup sees it: each service's database and bucket, the broker's vhost."""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
import urllib3
from minio import Minio
from pydantic_settings import BaseSettings, SettingsConfigDict
from yui_common.db import asyncpg_dsn
from yui_common.settings import CommonSettings

SERVICES = ("identity", "consent", "timeline", "portal", "notify", "federation")


class BackupSettings(BaseSettings):
    """Where backups go and how the broker is reached (env prefix YUI_BACKUP_)."""

    model_config = SettingsConfigDict(env_prefix="YUI_BACKUP_", extra="ignore")

    # Each backup is a directory named by its UTC time under this one.
    dir: Path = Path(".run/backups")
    # The management API (compose, the RabbitMQ operator); when it does not answer, `rabbitmqctl` on this machine.
    rabbitmq_management_url: str = "http://127.0.0.1:15672"
    # node_exporter's textfile collector reads this file: the BackupTooOld alert watches it. Unset: <dir>/yui_backup.prom.
    metrics_textfile: Path | None = None


class GatewayFiles(BaseSettings):
    """Where identity's worker publishes the CRL for the gateway (identity's own setting, read by name here so
    the backup does not depend on how identity's modules are laid out)."""

    model_config = SettingsConfigDict(env_prefix="YUI_IDENTITY_", extra="ignore")

    gateway_crl_file: Path | None = None


def service_settings(service: str) -> CommonSettings:
    settings: CommonSettings = importlib.import_module(f"{service}.settings").Settings()
    return settings


def libpq_url(settings: CommonSettings) -> str:
    """The service database's URL as pg_dump, pg_restore and asyncpg read it."""
    return asyncpg_dsn(settings.dsn)


def server_url(settings: CommonSettings) -> str:
    """The maintenance database of the service's PostgreSQL server, for CREATE and DROP DATABASE."""
    return asyncpg_dsn(settings.postgres_url.rstrip("/") + "/postgres")


def bucket_prefix(settings: CommonSettings) -> str:
    """Every bucket of a deployment starts with this (the services' own and any added later)."""
    return settings.database_prefix.replace("_", "-")


def object_store(settings: CommonSettings) -> Minio:
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5.0, read=120.0), retries=urllib3.Retry(total=3, backoff_factor=0.5)
    )
    return Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=settings.s3_secure,
        region=settings.s3_region,
        http_client=http,
    )


def executable(name: str, package: str) -> str:
    """The full path of a command this machine must have, or one sentence saying what to install."""
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: apt-get install {package}")
    return found


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Broker:
    """One RabbitMQ virtual host, reached through the management API or, failing that, local rabbitmqctl."""

    amqp_url: str
    management_url: str

    @property
    def vhost(self) -> str:
        path = urlsplit(self.amqp_url).path
        return unquote(path[1:]) if len(path) > 1 else "/"

    @property
    def user(self) -> str:
        return unquote(urlsplit(self.amqp_url).username or "guest")

    @property
    def _auth(self) -> tuple[str, str]:
        parts = urlsplit(self.amqp_url)
        return unquote(parts.username or "guest"), unquote(parts.password or "guest")

    def _management(self) -> httpx.Client | None:
        client = httpx.Client(base_url=self.management_url.rstrip("/"), auth=self._auth, timeout=30)
        try:
            client.get("/api/overview").raise_for_status()
        except httpx.HTTPError:
            client.close()
            if shutil.which("rabbitmqctl") is None:
                raise RuntimeError(
                    f"RabbitMQ's management API does not answer at {self.management_url} and rabbitmqctl is "
                    "not installed here: set YUI_BACKUP_RABBITMQ_MANAGEMENT_URL"
                ) from None
            return None
        return client

    def export_definitions(self) -> dict[str, Any]:
        """The vhost's queues, exchanges, bindings, policies, parameters and permissions (no messages)."""
        client = self._management()
        if client is not None:
            with client:
                vhost = quote(self.vhost, safe="")
                exported = client.get(f"/api/definitions/{vhost}").raise_for_status().json()
                permissions = client.get(f"/api/vhosts/{vhost}/permissions").raise_for_status().json()
        else:
            everything = json.loads(_rabbitmqctl("export_definitions", "-"))
            exported = {
                key: [item for item in everything.get(key, []) if item.get("vhost") == self.vhost]
                for key in ("queues", "exchanges", "bindings", "policies", "parameters")
            }
            permissions = [p for p in everything.get("permissions", []) if p["vhost"] == self.vhost]
        definitions = {
            key: [{k: v for k, v in item.items() if k != "vhost"} for item in exported.get(key, [])]
            for key in ("queues", "exchanges", "bindings", "policies", "parameters")
        }
        definitions["permissions"] = [{k: v for k, v in item.items() if k != "vhost"} for item in permissions]
        return definitions

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting per queue: they are not part of a backup, so the manifest records them."""
        client = self._management()
        if client is not None:
            with client:
                queues = client.get(f"/api/queues/{quote(self.vhost, safe='')}").raise_for_status().json()
            return {q["name"]: int(q.get("messages", 0)) for q in queues}
        listed = _rabbitmqctl("list_queues", "-q", "--no-table-headers", "-p", self.vhost, "name", "messages")
        depths = {}
        for line in listed.splitlines():
            name, _, count = line.rpartition("\t")
            if name:
                depths[name] = int(count)
        return depths

    def import_definitions(self, definitions: dict[str, Any]) -> None:
        """Create the vhost, grant the backed-up permissions (and our user's) and declare everything in it."""
        permissions = list(definitions.get("permissions", []))
        if not any(p["user"] == self.user for p in permissions):
            permissions.append({"user": self.user, "configure": ".*", "write": ".*", "read": ".*"})
        objects = {key: definitions.get(key, []) for key in ("queues", "exchanges", "bindings", "policies")}
        client = self._management()
        if client is not None:
            with client:
                vhost = quote(self.vhost, safe="")
                client.put(f"/api/vhosts/{vhost}", json={}).raise_for_status()
                for permission in permissions:
                    body = {k: permission[k] for k in ("configure", "write", "read")}
                    user = quote(permission["user"], safe="")
                    client.put(f"/api/permissions/{vhost}/{user}", json=body).raise_for_status()
                client.post(f"/api/definitions/{vhost}", json=objects).raise_for_status()
            return
        full: dict[str, Any] = {
            "vhosts": [{"name": self.vhost}],
            "permissions": [{**p, "vhost": self.vhost} for p in permissions],
            "parameters": [{**p, "vhost": self.vhost} for p in definitions.get("parameters", [])],
        }
        for key, items in objects.items():
            full[key] = [{**item, "vhost": self.vhost} for item in items]
        # Standard input: the CLI hands a file path to the node, which may run as another user.
        _rabbitmqctl("import_definitions", stdin=json.dumps(full))
        # rabbitmqctl's import returns before it is done; the restore is complete when the queues are there.
        wanted = {queue["name"] for queue in objects["queues"]}
        deadline = time.monotonic() + 120
        while not wanted <= set(self.queue_depths()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the broker did not declare {len(wanted)} queues from the definitions")
            time.sleep(0.5)

    def delete_vhost(self) -> None:
        client = self._management()
        if client is not None:
            with client:
                client.delete(f"/api/vhosts/{quote(self.vhost, safe='')}")
            return
        _rabbitmqctl("delete_vhost", self.vhost, check=False)


def _rabbitmqctl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [executable("rabbitmqctl", "rabbitmq-server"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def broker(settings: CommonSettings, backup_settings: BackupSettings) -> Broker:
    return Broker(settings.amqp_url, backup_settings.rabbitmq_management_url)
