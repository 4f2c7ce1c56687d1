"""Identity's events: who the operators are, whose account may hear anything, and changes to my account."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope
from yui_common.events.identity import (
    CertificateIssuedV1,
    CertificateRevokedV1,
    FacilityApplicationDecidedV1,
    FacilityAppliedV1,
    FacilityDisabledV1,
    FacilityReinstatedV1,
    PersonChangedV1,
    SignInBackoffStartedV1,
    UserCreatedV1,
    UserDisabledV1,
    UserReinstatedV1,
    UserSuspendedV1,
)

from notify import kinds, projections, service


async def on_user_created(session: AsyncSession, envelope: Envelope, data: UserCreatedV1) -> None:
    await projections.record_account(
        session, tenant=envelope.tenant, user_id=data.user_id, facility_id=data.facility_id, roles=data.roles
    )


async def on_person_changed(session: AsyncSession, envelope: Envelope, data: PersonChangedV1) -> None:
    await projections.record_person(session, tenant=envelope.tenant, data=data)


async def on_user_suspended(session: AsyncSession, envelope: Envelope, data: UserSuspendedV1) -> None:
    await _account_status_changed(session, envelope, data, status="suspended")


async def on_user_reinstated(session: AsyncSession, envelope: Envelope, data: UserReinstatedV1) -> None:
    await _account_status_changed(session, envelope, data, status="active")


async def on_user_disabled(session: AsyncSession, envelope: Envelope, data: UserDisabledV1) -> None:
    await _account_status_changed(session, envelope, data, status="disabled")


async def _account_status_changed(
    session: AsyncSession,
    envelope: Envelope,
    data: UserSuspendedV1 | UserReinstatedV1 | UserDisabledV1,
    *,
    status: str,
) -> None:
    await projections.change_account_status(
        session,
        tenant=envelope.tenant,
        user_id=data.user_id,
        facility_id=data.facility_id,
        status=status,
        source_event_id=envelope.id,
    )


async def on_facility_disabled(session: AsyncSession, envelope: Envelope, data: FacilityDisabledV1) -> None:
    await projections.hold_facility(session, facility_id=data.facility_id, reason=data.reason)


async def on_facility_reinstated(
    session: AsyncSession, envelope: Envelope, data: FacilityReinstatedV1
) -> None:
    await projections.release_facility(session, facility_id=data.facility_id)


async def on_certificate_issued(session: AsyncSession, envelope: Envelope, data: CertificateIssuedV1) -> None:
    await service.tell(
        session,
        tenant=envelope.tenant,
        user_ids=[data.user_id],
        kind=kinds.CERTIFICATE_ISSUED,
        source_event_id=envelope.id,
        params={"certificate_id": str(data.certificate_id), "terminal_label": data.terminal_label},
    )


async def on_certificate_revoked(
    session: AsyncSession, envelope: Envelope, data: CertificateRevokedV1
) -> None:
    await service.tell(
        session,
        tenant=envelope.tenant,
        user_ids=[data.user_id],
        kind=kinds.CERTIFICATE_REVOKED,
        source_event_id=envelope.id,
        params={"certificate_id": str(data.certificate_id), "reason": data.reason},
    )


async def on_sign_in_backoff_started(
    session: AsyncSession, envelope: Envelope, data: SignInBackoffStartedV1
) -> None:
    await service.warn_of_failed_sign_ins(
        session,
        tenant=envelope.tenant,
        user_id=data.user_id,
        blocked_until=data.blocked_until,
        source_event_id=envelope.id,
    )


async def on_facility_applied(session: AsyncSession, envelope: Envelope, data: FacilityAppliedV1) -> None:
    await service.tell_operators(
        session,
        tenant=envelope.tenant,
        kind=kinds.FACILITY_APPLICATION_WAITING,
        source_event_id=envelope.id,
        params={"facility_id": str(data.facility_id), "facility_name": data.name, "facility_kind": data.kind},
    )


async def on_application_decided(
    session: AsyncSession, envelope: Envelope, data: FacilityApplicationDecidedV1
) -> None:
    await service.queue_applicant_email(
        session,
        source_event_id=envelope.id,
        tenant=envelope.tenant,
        address=data.administrator_email,
        decision=data.decision,
    )


subscription = Subscription(
    queue="notify.identity-events",
    handlers={
        UserCreatedV1.event_type: on_user_created,
        PersonChangedV1.event_type: on_person_changed,
        UserSuspendedV1.event_type: on_user_suspended,
        UserReinstatedV1.event_type: on_user_reinstated,
        UserDisabledV1.event_type: on_user_disabled,
        FacilityDisabledV1.event_type: on_facility_disabled,
        FacilityReinstatedV1.event_type: on_facility_reinstated,
        CertificateIssuedV1.event_type: on_certificate_issued,
        CertificateRevokedV1.event_type: on_certificate_revoked,
        SignInBackoffStartedV1.event_type: on_sign_in_backoff_started,
        FacilityAppliedV1.event_type: on_facility_applied,
        FacilityApplicationDecidedV1.event_type: on_application_decided,
    },
)
