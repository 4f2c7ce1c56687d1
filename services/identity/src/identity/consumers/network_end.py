"""Ending a network in identity (issue 11, ten4): identity's own part of an export and of the deletion (queue
identity.network-end, like every service's), and every service's reports of its parts (queue
identity.network-end-reports), which complete the export (with its manifest) and the end."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Handler, Subscription
from yui_common.events import Envelope, EventData
from yui_common.events.network_end import (
    NETWORK_ENDED,
    NETWORK_EXPORTED,
    NetworkEndedBase,
    NetworkExportedBase,
)
from yui_common.network_export import Child, TenantScope
from yui_common.network_export import subscription as network_end_subscription
from yui_common.settings import CommonSettings

from identity.models import Base
from identity.network_end import service
from identity.platform import repository as platform_repository

SCOPE = TenantScope(
    service="identity",
    metadata=Base.metadata,
    children={"revocation_steps": Child("revocation_id", "revocations")},
    # The deployment's own: its CA and signing keys, the contractor's accounts, the per-address sign-in counts,
    # and the networks with their exports and ends (an ended network's row stays: its slug is never reused).
    shared=frozenset(
        {
            "certificate_authorities",
            "signing_keys",
            "platform_accounts",
            "sign_in_failures_by_address",
            "networks",
            "network_operations",
            "network_operation_steps",
        }
    ),
    secret_columns={
        "users": frozenset(
            {"password_hash", "previous_password_hashes", "totp_secret", "totp_pending_secret"}
        ),
        "login_sessions": frozenset({"refresh_token_hash"}),
        "certificate_access_codes": frozenset({"code_digest", "pin_hash"}),
    },
)


def subscription(settings: CommonSettings) -> Subscription:
    """Identity's own part, as every service's."""
    return network_end_subscription(SCOPE, settings)


def reports_subscription(settings: CommonSettings) -> Subscription:
    async def on_exported(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, NetworkExportedBase)
        completed = await service.record_report(
            session,
            operation_id=data.operation_id,
            service=envelope.source,
            completed_at=data.completed_at,
            report={"key": data.key, "size": data.size, "sha256": data.sha256, "counts": data.counts},
        )
        if completed is not None:
            network = await platform_repository.network(session, completed.network)
            # Written before the commit; a failure rolls the completion back and the report is retried.
            await service.write_manifest(settings, completed, network.name if network else completed.network)

    async def on_ended(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, NetworkEndedBase)
        await service.record_report(
            session,
            operation_id=data.operation_id,
            service=envelope.source,
            completed_at=data.completed_at,
            report={
                "rows_deleted": data.rows_deleted,
                "objects_deleted": data.objects_deleted,
                "audit_entries_erased": data.audit_entries_erased,
            },
        )

    handlers: dict[str, Handler] = {event.event_type: on_exported for event in NETWORK_EXPORTED.values()}
    handlers.update({event.event_type: on_ended for event in NETWORK_ENDED.values()})
    return Subscription(queue="identity.network-end-reports", handlers=handlers)
