"""The contractor's end of a network (issue 11, ten4): export its data for the municipality, then delete it from
every service, each tracked per service like the withdrawal cascade. Never commits.

1. ``request_export``: only of a suspended network (nothing changes while it is written). Every service, identity's
   own worker included, writes its part as ``<prefix><service>.zip`` in the exports bucket and reports it; when the
   last part is in, identity writes ``<prefix>manifest.json`` (each part's key, size, SHA-256 and counts) and the
   export is complete.
2. ``end_network``: only after a complete export requested since the suspension. The network becomes ``ending``,
   ``identity.network-ending.v1`` asks every service to delete every row and object of it; when the last one
   reports, the network is ``ended``. Its slug stays taken for good (the ``networks`` row stays, and
   ``network_operations`` with it: the record of what was handed over and deleted).

Calling ``end_network`` again while the network is ending publishes the request again: a service that finished
deletes nothing more and reports again (ignored here), one that had not (its worker was down, its message dead-
lettered) does its part. The consumers are inbox-guarded, so a redelivered request does nothing at all.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import audit, outbox
from yui_common.events.network_end import PARTICIPANTS, NetworkEndingV1, NetworkExportRequestedV1
from yui_common.network_export import PLATFORM_SCOPE, exports_bucket
from yui_common.problems import conflict, not_found
from yui_common.settings import CommonSettings
from yui_common.storage import ObjectStore

from identity.models import Network, NetworkOperation, NetworkOperationStep
from identity.network_end import repository
from identity.network_end.schemas import NetworkEndRead, OperationRead, StepRead
from identity.networks.state import publish_network_state
from identity.platform import repository as platform_repository

NOT_SUSPENDED_DETAIL = (
    "ネットワークを終了するには、まず一時停止してください（停止中は何も変わらないため、書き出しと削除が食い違いません）。 / "
    "Suspend the network first: a network is exported and ended only while suspended, so nothing changes meanwhile."
)
EXPORT_REQUIRED_DETAIL = (
    "削除の前に、停止後のデータの書き出しを完了してください（python -m identity network export <slug>）。 / "
    "Export the network's data first, after its suspension, and wait until every service has written its part."
)


def _now() -> datetime:
    return datetime.now(UTC)


async def _network(session: AsyncSession, slug: str) -> Network:
    network = await platform_repository.network(session, slug, for_update=True)
    if network is None:
        raise not_found("network")
    return network


def _not_suspended(network: Network) -> Exception:
    if network.status == "ended":
        return conflict("The network has ended: its data is deleted.", slug="network-ended")
    return conflict(NOT_SUSPENDED_DETAIL, slug="network-not-suspended")


async def _read(session: AsyncSession, operations: Sequence[NetworkOperation]) -> list[OperationRead]:
    steps = await repository.steps_of(session, [o.id for o in operations])
    return [
        OperationRead(
            id=o.id,
            network=o.network_slug,
            kind=o.kind,
            bucket=o.bucket,
            prefix=o.prefix,
            export_id=o.export_id,
            requested_by=o.requested_by,
            requested_at=o.requested_at,
            completed_at=o.completed_at,
            steps=[
                StepRead(
                    service=s.service,
                    done=s.completed_at is not None,
                    completed_at=s.completed_at,
                    report=dict(s.report or {}),
                )
                for s in steps
                if s.operation_id == o.id
            ],
        )
        for o in operations
    ]


def _start(session: AsyncSession, operation: NetworkOperation) -> None:
    session.add(operation)
    session.add_all(
        NetworkOperationStep(operation_id=operation.id, service=service, report={})
        for service in PARTICIPANTS
    )


async def request_export(
    session: AsyncSession, *, settings: CommonSettings, actor: str, slug: str
) -> OperationRead:
    """Ask every service for its part of the suspended network's data (in the caller's transaction)."""
    network = await _network(session, slug)
    if network.status != "suspended":
        raise _not_suspended(network)
    now = _now()
    operation_id = uuid7()
    operation = NetworkOperation(
        id=operation_id,
        network_slug=slug,
        kind="export",
        bucket=exports_bucket(settings),
        prefix=f"exports/{slug}/{now.strftime('%Y%m%dT%H%M%SZ')}-{operation_id.hex[-6:]}/",
        requested_by=actor,
        requested_at=now,
    )
    _start(session, operation)
    await session.flush()
    assert operation.bucket is not None and operation.prefix is not None
    await outbox.add_event(
        session,
        NetworkExportRequestedV1(
            operation_id=operation.id,
            slug=slug,
            bucket=operation.bucket,
            prefix=operation.prefix,
            requested_at=now,
        ),
        tenant=slug,
    )
    await audit.record(
        session,
        tenant=PLATFORM_SCOPE,
        actor_id=actor,
        action="network.export-requested",
        target=f"network:{slug}",
        detail={"operation": str(operation.id), "bucket": operation.bucket, "prefix": operation.prefix},
    )
    return (await _read(session, [operation]))[0]


async def end_network(session: AsyncSession, *, actor: str, slug: str) -> OperationRead:
    """Ask every service to delete every row and object of the exported network (in the caller's transaction);
    while it is ending, ask again (a retry)."""
    network = await _network(session, slug)
    if network.status == "ending":
        operation = await repository.open_end(session, slug)
        assert operation is not None and operation.export_id is not None
        retried = True
    else:
        if network.status != "suspended":
            raise _not_suspended(network)
        export = await repository.completed_export_since(session, slug, network.suspended_at)
        if export is None:
            raise conflict(EXPORT_REQUIRED_DETAIL, slug="network-export-required")
        operation = NetworkOperation(
            id=uuid7(),
            network_slug=slug,
            kind="end",
            export_id=export.id,
            requested_by=actor,
            requested_at=_now(),
        )
        _start(session, operation)
        network.status = "ending"
        await session.flush()
        retried = False
    await publish_network_state(
        session, network, NetworkEndingV1, operation_id=operation.id, export_operation_id=operation.export_id
    )
    await audit.record(
        session,
        tenant=PLATFORM_SCOPE,
        actor_id=actor,
        action="network.end-retried" if retried else "network.end-requested",
        target=f"network:{slug}",
        detail={"operation": str(operation.id), "export": str(operation.export_id)},
    )
    return (await _read(session, [operation]))[0]


async def record_report(
    session: AsyncSession, *, operation_id: UUID, service: str, completed_at: datetime, report: dict[str, Any]
) -> OperationRead | None:
    """One service's part is done. Returns the operation when this report completed it, else None (a part still
    pending, or a repeated report)."""
    if not await repository.complete_step(
        session, operation_id=operation_id, service=service, completed_at=completed_at, report=report
    ):
        return None
    operation = await repository.operation(session, operation_id, for_update=True)
    if operation is None or operation.completed_at is not None:
        return None
    if await repository.pending_steps(session, operation_id):
        return None
    operation.completed_at = _now()
    if operation.kind == "end":
        network = await _network(session, operation.network_slug)
        network.status = "ended"
    await audit.record(
        session,
        tenant=PLATFORM_SCOPE,
        actor_id=f"network-{operation.kind}:{operation.id}",
        action="network.ended" if operation.kind == "end" else "network.exported",
        target=f"network:{operation.network_slug}",
        detail={"operation": str(operation.id)},
    )
    return (await _read(session, [operation]))[0]


async def network_end_state(session: AsyncSession, slug: str) -> NetworkEndRead:
    network = await platform_repository.network(session, slug)
    if network is None:
        raise not_found("network")
    return NetworkEndRead(
        slug=network.slug,
        name=network.name,
        status=network.status,
        suspended_at=network.suspended_at,
        operations=await _read(session, await repository.operations_of(session, slug)),
    )


async def operation_read(session: AsyncSession, operation_id: UUID) -> OperationRead:
    operation = await repository.operation(session, operation_id)
    if operation is None:
        raise not_found("network operation")
    return (await _read(session, [operation]))[0]


def manifest(operation: OperationRead, network_name: str) -> dict[str, Any]:
    """What the municipality receives beside the parts: where each is and how to check it."""
    return {
        "format": 1,
        "network": {"slug": operation.network, "name": network_name},
        "export_id": str(operation.id),
        "requested_at": operation.requested_at.isoformat(),
        "completed_at": operation.completed_at.isoformat() if operation.completed_at else None,
        "parts": [
            {
                "service": step.service,
                "key": step.report.get("key"),
                "size": step.report.get("size"),
                "sha256": step.report.get("sha256"),
                "counts": step.report.get("counts", {}),
            }
            for step in operation.steps
        ],
        "readme": (
            "各サービスの部分は <service>.zip: tables/<表>.json（1行1オブジェクト、時刻はUTC）、fhir/（FHIR R4 バンドル）、"
            "attachments/・consent-forms/（添付と同意書の原本）。監査ログは tables/audit_log.json（各行のハッシュ付き）。 / "
            "Each service's part is <service>.zip: tables/<table>.json (one object per row, times in UTC), fhir/ "
            "(FHIR R4 bundles), attachments/ and consent-forms/ (the original files). The audit log is "
            "tables/audit_log.json, each entry with its hash."
        ),
    }


async def write_manifest(settings: CommonSettings, operation: OperationRead, network_name: str) -> str:
    """``<prefix>manifest.json`` beside the parts (the key is the export's: writing it again changes nothing)."""
    assert operation.bucket is not None and operation.manifest_key is not None
    store = ObjectStore(settings, bucket=operation.bucket)
    body = json.dumps(manifest(operation, network_name), ensure_ascii=False, indent=1).encode()
    await store.put_stream(
        operation.manifest_key, io.BytesIO(body), length=len(body), content_type="application/json"
    )  # type: ignore[arg-type]
    return operation.manifest_key
