"""Consent use cases: domain rules, audit entries and events. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, BinaryIO
from uuid import UUID

import urllib3
from minio.error import S3Error
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import audit, outbox
from yui_common.auth import Principal
from yui_common.events.consent import (
    CareTeamMemberAddedV1,
    CareTeamMemberInvitedV1,
    CareTeamMemberRemovedV1,
    ConsentGivenV1,
    ConsentWithdrawnV1,
    ExceptionalAccessEndedV1,
    ExceptionalAccessGrantedV1,
    ExceptionalAccessRequestedV1,
)
from yui_common.problems import Problem, conflict, not_found
from yui_common.storage import ObjectStore

from consent import fhir, lifecycle, repository
from consent.kana import fold_kana
from consent.models import (
    CareTeamInvitation,
    CareTeamMember,
    CascadeStep,
    Consent,
    ExceptionalAccess,
    FamilyContact,
    ResidenceException,
    Subject,
    Withdrawal,
)
from consent.schemas import CascadeStepRead, DuplicateCandidate, WithdrawalRead


async def _audit(
    session: AsyncSession, principal: Principal, action: str, subject_id: UUID, **detail: object
) -> None:
    await audit.record_by(session, principal, action=action, subject_id=subject_id, detail=dict(detail))


def _require_operator(principal: Principal) -> None:
    if not (principal.has_role("operator") or principal.has_role("contractor")):
        raise Problem(403, "forbidden", "Operators only", "Only the network's operator may do this.")


async def visible_subject(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, exceptional_read: bool = False
) -> Subject:
    """The subject if the caller is on its care team (C6); else 404, never 403.

    ``exceptional_read``: a read may also go through an approved, unexpired exceptional grant (C5); each such
    use is audited with the grant it relied on.
    """
    subject = await repository.subject_visible_to(
        session, tenant=principal.tenant, subject_id=subject_id, user_id=principal.user_id
    )
    if subject is not None:
        return subject
    if exceptional_read:
        grant = await repository.active_grant(
            session,
            tenant=principal.tenant,
            subject_id=subject_id,
            user_id=principal.user_id,
            now=datetime.now(UTC),
        )
        if grant is not None:
            subject = await repository.subject_in_network(
                session, tenant=principal.tenant, subject_id=subject_id
            )
            if subject is not None:
                await _audit(session, principal, "exceptional_access.use", subject.id, grant=str(grant.id))
                return subject
    raise not_found("subject")


async def _check_residence(
    session: AsyncSession,
    *,
    principal: Principal,
    municipality_code: str,
    name_kana_folded: str,
    birth_date: date | None,
    residence_exception_id: UUID | None,
) -> UUID | None:
    """C1: residents of the network's municipalities unless the operator approved an exception."""
    codes = await repository.network_municipality_codes(session, tenant=principal.tenant)
    # A network whose municipalities consent was not told yet cannot be checked (identity owns networks).
    if not codes or municipality_code in codes:
        return None
    if residence_exception_id is not None:
        exception = await repository.residence_exception_for_update(
            session, tenant=principal.tenant, exception_id=residence_exception_id
        )
        if (
            exception is not None
            and exception.used_at is None
            and exception.municipality_code == municipality_code
            and exception.name_kana_folded == name_kana_folded
            and exception.birth_date == birth_date
        ):
            exception.used_at = datetime.now(UTC)
            return exception.id
    raise Problem(
        422,
        "outside-network",
        "Not a resident of this network",
        "The municipality is not one of this network's; the operator can approve an exception.",
        municipalities=sorted(codes),
    )


async def register_subject(
    session: AsyncSession,
    *,
    principal: Principal,
    name: str,
    name_kana: str,
    birth_date: date | None,
    municipality_code: str,
    sex: str | None = None,
    postal_code: str | None = None,
    address: str | None = None,
    phone: str | None = None,
    family_contacts: Sequence[dict[str, Any]] = (),
    residence_exception_id: UUID | None = None,
    refuse_likely_duplicates: bool = False,
) -> Subject:
    """Register a subject (C1, c9); whoever registers joins the care team.

    ``refuse_likely_duplicates``: answer 409 with the candidates when the network already has a subject
    with the same folded kana name and birth date (the API does, unless the user confirmed they saw them).
    """
    folded = fold_kana(name_kana)
    exception_id = await _check_residence(
        session,
        principal=principal,
        municipality_code=municipality_code,
        name_kana_folded=folded,
        birth_date=birth_date,
        residence_exception_id=residence_exception_id,
    )
    if refuse_likely_duplicates and birth_date is not None:
        candidates = await repository.likely_duplicates(
            session,
            tenant=principal.tenant,
            name_kana_folded=folded,
            birth_date=birth_date,
            user_id=principal.user_id,
        )
        if candidates:
            raise Problem(
                409,
                "likely-duplicate",
                "Likely duplicate",
                "This network already has a subject with the same kana name and birth date. Join that "
                "subject's care team instead, or confirm_not_duplicate if it is someone else.",
                candidates=[
                    DuplicateCandidate(
                        id=s.id,
                        name_kana=s.name_kana,
                        birth_date=s.birth_date,
                        registered_at=s.registered_at,
                        on_my_team=mine,
                    ).model_dump(mode="json")
                    for s, mine in candidates
                ],
            )
    subject = Subject(
        id=uuid7(),
        tenant=principal.tenant,
        name=name,
        name_kana=name_kana,
        name_kana_folded=folded,
        birth_date=birth_date,
        sex=sex,
        municipality_code=municipality_code,
        postal_code=postal_code,
        address=address,
        phone=phone,
        residence_network=principal.tenant,
        residence_exception_id=exception_id,
        registered_by=principal.user_id,
        registered_at=datetime.now(UTC),
    )
    session.add(subject)
    await session.flush()
    for contact in family_contacts:
        session.add(FamilyContact(id=uuid7(), subject_id=subject.id, **contact))
    await enroll_member(
        session,
        principal=principal,
        subject=subject,
        user_id=principal.user_id,
        facility_id=principal.facility_id,
    )
    await _audit(
        session,
        principal,
        "subject.register",
        subject.id,
        **({"residence_exception": str(exception_id)} if exception_id else {}),
    )
    return subject


async def register_subject_with_contacts(
    session: AsyncSession, *, principal: Principal, **fields: Any
) -> tuple[Subject, Sequence[FamilyContact]]:
    """``register_subject``, answered with the family contacts as stored (what the API returns)."""
    subject = await register_subject(session, principal=principal, **fields)
    return subject, await repository.family_contacts_of(session, subject_id=subject.id)


async def approve_residence_exception(
    session: AsyncSession,
    *,
    principal: Principal,
    municipality_code: str,
    name_kana: str,
    birth_date: date | None,
    reason: str,
) -> ResidenceException:
    """C1: the operator allows one person from outside the network's municipalities to be registered."""
    _require_operator(principal)
    exception = ResidenceException(
        id=uuid7(),
        tenant=principal.tenant,
        municipality_code=municipality_code,
        name_kana_folded=fold_kana(name_kana),
        birth_date=birth_date,
        reason=reason,
        approved_by=principal.user_id,
        approved_at=datetime.now(UTC),
    )
    session.add(exception)
    await session.flush()
    await audit.record_by(
        session,
        principal,
        action="residence_exception.approve",
        target=str(exception.id),
        detail={"municipality_code": municipality_code},
    )
    return exception


async def read_subject(
    session: AsyncSession, *, principal: Principal, subject_id: UUID
) -> tuple[Subject, str, Sequence[FamilyContact]]:
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    latest = await repository.latest_consent(session, subject_id=subject.id)
    contacts = await repository.family_contacts_of(session, subject_id=subject.id)
    await _audit(session, principal, "subject.read", subject.id)
    return subject, latest.status if latest else "none", contacts


async def search_subjects(
    session: AsyncSession, *, principal: Principal, kana: str | None, birth_date: date | None, limit: int
) -> Sequence[Subject]:
    """The caller's own subjects (care team only) by kana prefix, typed any way (c9 folding)."""
    found = await repository.search_visible_subjects(
        session,
        tenant=principal.tenant,
        user_id=principal.user_id,
        kana_prefix=fold_kana(kana) if kana else None,
        birth_date=birth_date,
        limit=limit,
    )
    await audit.record_by(
        session,
        principal,
        action="subject.search",
        detail={"results": [str(s.id) for s in found]},
    )
    return found


async def add_family_contact(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, contact: dict[str, Any]
) -> FamilyContact:
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    added = FamilyContact(id=uuid7(), subject_id=subject.id, **contact)
    session.add(added)
    await session.flush()
    await _audit(session, principal, "family_contact.add", subject.id, contact=str(added.id))
    return added


async def enroll_member(
    session: AsyncSession, *, principal: Principal, subject: Subject, user_id: UUID, facility_id: UUID | None
) -> CareTeamMember:
    member = CareTeamMember(
        subject_id=subject.id, user_id=user_id, facility_id=facility_id, added_by=principal.user_id
    )
    if await repository.add_care_team_member(session, member):
        await outbox.add_event(
            session,
            CareTeamMemberAddedV1(subject_id=subject.id, user_id=user_id, facility_id=facility_id),
            tenant=subject.tenant,
            subject=str(subject.id),
        )
    member.added_at = datetime.now(UTC)
    return member


async def invite_member(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, user_id: UUID, facility_id: UUID | None
) -> CareTeamInvitation:
    """C6: a member invites a user; nothing is shared with them until they accept."""
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    if await repository.care_team_member(session, subject_id=subject.id, user_id=user_id):
        raise conflict("The user is already on the care team.", "already-member")
    if await repository.pending_invitation(session, subject_id=subject.id, user_id=user_id):
        raise conflict("The user already has a pending invitation.", "already-invited")
    invitation = CareTeamInvitation(
        id=uuid7(),
        tenant=subject.tenant,
        subject_id=subject.id,
        user_id=user_id,
        facility_id=facility_id,
        invited_by=principal.user_id,
        status="pending",
        invited_at=datetime.now(UTC),
    )
    session.add(invitation)
    await session.flush()
    await outbox.add_event(
        session,
        CareTeamMemberInvitedV1(
            subject_id=subject.id,
            invitation_id=invitation.id,
            user_id=user_id,
            facility_id=facility_id,
            invited_by=principal.user_id,
        ),
        tenant=subject.tenant,
        subject=str(subject.id),
    )
    await _audit(session, principal, "care_team.invite", subject.id, invitee=str(user_id))
    return invitation


async def my_invitations(session: AsyncSession, *, principal: Principal) -> Sequence[CareTeamInvitation]:
    return await repository.invitations_for(session, tenant=principal.tenant, user_id=principal.user_id)


async def answer_invitation(
    session: AsyncSession, *, principal: Principal, invitation_id: UUID, accept: bool
) -> tuple[CareTeamInvitation, CareTeamMember | None, Consent | None]:
    """The invitee accepts (joins, reusing the consent on file: C3) or declines. Only the invitee sees it."""
    invitation = await repository.invitation_for_invitee(
        session, tenant=principal.tenant, invitation_id=invitation_id, user_id=principal.user_id
    )
    if invitation is None:
        raise not_found("invitation")
    if invitation.status != "pending":
        raise conflict(f"The invitation was already {invitation.status}.", "invitation-answered")
    invitation.status = "accepted" if accept else "declined"
    invitation.answered_at = datetime.now(UTC)
    subject = await repository.subject_in_network(
        session, tenant=principal.tenant, subject_id=invitation.subject_id
    )
    assert subject is not None  # an invitation is only ever made for an existing subject of its network
    if not accept:
        await _audit(session, principal, "care_team.decline", subject.id, invitation=str(invitation.id))
        return invitation, None, None
    # The facility is the one the invitee signed in with, not whatever the inviter guessed.
    member = await enroll_member(
        session,
        principal=principal,
        subject=subject,
        user_id=principal.user_id,
        facility_id=principal.facility_id,
    )
    consent_on_file = await repository.active_consent(session, subject_id=subject.id)
    await _audit(
        session,
        principal,
        "care_team.join",
        subject.id,
        invitation=str(invitation.id),
        consent_reused=str(consent_on_file.id) if consent_on_file else None,
    )
    return invitation, member, consent_on_file


async def care_team(
    session: AsyncSession, *, principal: Principal, subject_id: UUID
) -> Sequence[CareTeamMember]:
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    members = await repository.care_team_of(session, subject_id=subject.id)
    await _audit(session, principal, "care_team.read", subject.id)
    return members


async def remove_member(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, user_id: UUID
) -> str:
    """C6: a member leaves (their own id) or removes another; returns "left" or "removed"."""
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    members = await repository.care_team_of(session, subject_id=subject.id)
    if user_id not in {m.user_id for m in members}:
        raise not_found("care-team member")
    if len(members) == 1:
        raise conflict(
            "The last member cannot leave: nobody would be responsible for the subject.", "last-member"
        )
    reason = "left" if user_id == principal.user_id else "removed"
    await repository.remove_care_team_member(session, subject_id=subject.id, user_id=user_id)
    await outbox.add_event(
        session,
        CareTeamMemberRemovedV1(subject_id=subject.id, user_id=user_id, reason=reason),
        tenant=subject.tenant,
        subject=str(subject.id),
    )
    await _audit(session, principal, f"care_team.{reason}", subject.id, member=str(user_id))
    return reason


async def give_consent(
    session: AsyncSession,
    *,
    principal: Principal,
    subject_id: UUID,
    given_by: str,
    proxy_name: str | None,
    proxy_relation: str | None,
    given_on: date,
) -> Consent:
    """C2: record a new consent (never revives a withdrawn one); an active one is reused instead (C3)."""
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    if given_by == "proxy" and not (proxy_name and proxy_relation):
        raise Problem(
            422,
            "proxy-required",
            "Proxy details missing",
            "Consent given by a proxy needs the proxy's name and relation.",
        )
    active = await repository.active_consent(session, subject_id=subject.id, lock=True)
    if active is not None:
        raise Problem(
            409,
            "consent-already-active",
            "Conflict",
            "The subject already has an active consent; it is reused, not collected again.",
            consent_id=str(active.id),
        )
    consent = Consent(
        id=uuid7(),
        tenant=subject.tenant,
        subject_id=subject.id,
        status=lifecycle.ConsentStatus.ACTIVE,
        given_by=given_by,
        proxy_name=proxy_name if given_by == "proxy" else None,
        proxy_relation=proxy_relation if given_by == "proxy" else None,
        recorded_by=principal.user_id,
        recorded_facility_id=principal.facility_id,
        given_on=given_on,
    )
    session.add(consent)
    await session.flush()
    await session.refresh(consent)
    await outbox.add_event(
        session,
        ConsentGivenV1(subject_id=subject.id, consent_id=consent.id, given_at=consent.recorded_at),
        tenant=subject.tenant,
        subject=str(subject.id),
    )
    await _audit(session, principal, "consent.give", subject.id, consent=str(consent.id))
    return consent


async def consents_of(session: AsyncSession, *, principal: Principal, subject_id: UUID) -> Sequence[Consent]:
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    consents = await repository.consents_of(session, subject_id=subject.id)
    await _audit(session, principal, "consent.read", subject.id)
    return consents


async def store_consent_form(
    session: AsyncSession,
    *,
    principal: Principal,
    subject_id: UUID,
    consent_id: UUID,
    form: BinaryIO,
    size: int | None,
    max_bytes: int,
    store: ObjectStore,
) -> Consent:
    """C2: keep the scanned form (PDF, JPEG or PNG by its first bytes) under a key the server chooses."""
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    consent = await repository.consent_of_subject(
        session, subject_id=subject.id, consent_id=consent_id, lock=True
    )
    if consent is None:
        raise not_found("consent")
    if consent.form_object_key is not None:
        # A form on file is evidence: it is never replaced, so what was signed stays what is shown.
        raise conflict("This consent already has its form on file.", "form-already-on-file")
    if size is not None and size > max_bytes:
        raise Problem(
            413, "payload-too-large", "Form too large", f"A consent form may be at most {max_bytes} bytes."
        )
    content_type = sniff_form_type(form.read(16))
    form.seek(0)
    if content_type is None:
        raise Problem(
            415, "unsupported-media-type", "Not a PDF, JPEG or PNG", "Scan the form as PDF, JPEG or PNG."
        )
    key = f"{subject.tenant}/subjects/{subject.id}/consent-forms/{uuid7()}"
    await _put_form(store, key, form, content_type)
    consent.form_object_key = key
    consent.form_content_type = content_type
    consent.form_size = size
    consent.form_uploaded_at = datetime.now(UTC)
    await _audit(session, principal, "consent.form.store", subject.id, consent=str(consent.id))
    return consent


async def _put_form(store: ObjectStore, key: str, form: BinaryIO, content_type: str) -> None:
    try:
        try:
            await store.put_stream(key, form, content_type=content_type)
        except S3Error as error:
            if error.code != "NoSuchBucket":
                raise
            # The API started while the store was unreachable, so its bucket was not made then: make it now.
            await store.ensure_bucket()
            form.seek(0)
            await store.put_stream(key, form, content_type=content_type)
    except (S3Error, urllib3.exceptions.HTTPError) as error:
        raise Problem(
            503, "unavailable", "Storage unavailable", "The form could not be stored; try again."
        ) from error


_FORM_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def sniff_form_type(head: bytes) -> str | None:
    """The media type the file's own first bytes show, whatever the client claimed."""
    return next((kind for magic, kind in _FORM_SIGNATURES if head.startswith(magic)), None)


async def consent_form_key(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, consent_id: UUID
) -> str:
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    consent = await repository.consent_of_subject(session, subject_id=subject.id, consent_id=consent_id)
    if consent is None or consent.form_object_key is None:
        raise not_found("consent form")
    await _audit(session, principal, "consent.form.read", subject.id, consent=str(consent.id))
    return consent.form_object_key


async def withdrawal_mode(session: AsyncSession, *, tenant: str, default: str) -> str:
    """C4: the network decides whether withdrawal stops (支援中止) or deletes shared data."""
    network = await repository.network(session, tenant=tenant)
    return network.withdrawal_mode if network is not None else default


async def withdraw_consent(
    session: AsyncSession,
    *,
    principal: Principal,
    subject_id: UUID,
    requested_by: str,
    requester_name: str | None,
    requester_relation: str | None,
    participants: tuple[str, ...],
    mode: str,
) -> WithdrawalRead:
    """Withdraw the active consent and start the cascade; the event commits with the withdrawal."""
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    consent = await repository.active_consent(session, subject_id=subject.id, lock=True)
    if consent is None:
        raise conflict("The subject has no active consent to withdraw.", "no-active-consent")
    now = datetime.now(UTC)
    consent.status = lifecycle.next_consent_status(consent.status, lifecycle.ConsentAction.WITHDRAW)
    consent.withdrawn_at = now
    event = ConsentWithdrawnV1(
        subject_id=subject.id, consent_id=consent.id, withdrawal_id=uuid7(), withdrawn_at=now, mode=mode
    )
    withdrawal = Withdrawal(
        id=event.withdrawal_id,
        tenant=subject.tenant,
        subject_id=subject.id,
        consent_id=consent.id,
        requested_by=requested_by,
        requester_name=requester_name,
        requester_relation=requester_relation,
        taken_by=principal.user_id,
        mode=mode,
        requested_at=now,
        event_id=uuid7(),
    )
    session.add(withdrawal)
    await session.flush()
    steps = [
        CascadeStep(withdrawal_id=withdrawal.id, service=svc, status="pending", started_at=now)
        for svc in participants
    ]
    session.add_all(steps)
    envelope = await outbox.add_event(session, event, tenant=subject.tenant, subject=str(subject.id))
    withdrawal.event_id = envelope.id
    await _audit(session, principal, "consent.withdraw", subject.id, withdrawal=str(withdrawal.id), mode=mode)
    await session.flush()
    return _withdrawal_read(withdrawal, steps)


def _withdrawal_read(withdrawal: Withdrawal, steps: list[CascadeStep]) -> WithdrawalRead:
    return WithdrawalRead(
        id=withdrawal.id,
        subject_id=withdrawal.subject_id,
        consent_id=withdrawal.consent_id,
        mode=withdrawal.mode,
        requested_at=withdrawal.requested_at,
        complete=all(s.status == "done" for s in steps),
        steps=[CascadeStepRead.model_validate(s) for s in steps],
    )


async def subject_withdrawals(
    session: AsyncSession, *, principal: Principal, subject_id: UUID
) -> list[WithdrawalRead]:
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    withdrawals = await repository.withdrawals_of(session, subject_id=subject.id)
    steps = await repository.cascade_steps(session, withdrawal_ids=[w.id for w in withdrawals])
    await _audit(session, principal, "consent.cascade.read", subject.id)
    return [_withdrawal_read(w, [s for s in steps if s.withdrawal_id == w.id]) for w in withdrawals]


async def incomplete_cascades(session: AsyncSession, *, principal: Principal) -> list[WithdrawalRead]:
    _require_operator(principal)
    withdrawals = await repository.incomplete_withdrawals(session, tenant=principal.tenant)
    steps = await repository.cascade_steps(session, withdrawal_ids=[w.id for w in withdrawals])
    return [_withdrawal_read(w, [s for s in steps if s.withdrawal_id == w.id]) for w in withdrawals]


async def record_cascade_step_done(
    session: AsyncSession, *, withdrawal_id: UUID, service: str, completed_at: datetime, items_affected: int
) -> bool:
    return await repository.complete_step(
        session,
        withdrawal_id=withdrawal_id,
        service=service,
        completed_at=completed_at,
        items_affected=items_affected,
    )


async def request_exceptional_access(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, ground: str, reason: str
) -> ExceptionalAccess:
    """C5: ask for access without consent; accepted whether or not the subject exists, revealing nothing."""
    request = ExceptionalAccess(
        id=uuid7(),
        tenant=principal.tenant,
        subject_id=subject_id,
        user_id=principal.user_id,
        facility_id=principal.facility_id,
        ground=ground,
        reason=reason,
        status="requested",
        requested_at=datetime.now(UTC),
    )
    session.add(request)
    await session.flush()
    await outbox.add_event(
        session,
        ExceptionalAccessRequestedV1(
            grant_id=request.id,
            subject_id=subject_id,
            user_id=principal.user_id,
            facility_id=principal.facility_id,
            ground=ground,
        ),
        tenant=principal.tenant,
        subject=str(subject_id),
    )
    await _audit(
        session, principal, "exceptional_access.request", subject_id, grant=str(request.id), ground=ground
    )
    return request


async def exceptional_access_requests(
    session: AsyncSession, *, principal: Principal, status: str | None
) -> Sequence[ExceptionalAccess]:
    _require_operator(principal)
    return await repository.exceptional_access_requests(session, tenant=principal.tenant, status=status)


async def my_exceptional_access(
    session: AsyncSession, *, principal: Principal
) -> Sequence[ExceptionalAccess]:
    return await repository.grants_of_user(session, tenant=principal.tenant, user_id=principal.user_id)


async def decide_exceptional_access(
    session: AsyncSession,
    *,
    principal: Principal,
    grant_id: UUID,
    approve: bool,
    note: str | None,
    hours: int,
) -> ExceptionalAccess:
    """C5: the operator's prior permission. An approval lasts ``hours`` and then ends by itself."""
    _require_operator(principal)
    request = await repository.exceptional_access_for_update(
        session, tenant=principal.tenant, grant_id=grant_id
    )
    if request is None:
        raise not_found("exceptional access request")
    if request.status != "requested":
        raise conflict(f"The request was already {request.status}.", "already-decided")
    now = datetime.now(UTC)
    if (
        approve
        and await repository.subject_in_network(
            session, tenant=principal.tenant, subject_id=request.subject_id
        )
        is None
    ):
        raise conflict("No subject of this network has that id; reject the request.", "unknown-subject")
    request.status = "approved" if approve else "rejected"
    request.decided_by = principal.user_id
    request.decided_at = now
    request.decision_note = note
    if approve:
        request.expires_at = now + timedelta(hours=hours)
        await outbox.add_event(
            session,
            ExceptionalAccessGrantedV1(
                grant_id=request.id,
                subject_id=request.subject_id,
                user_id=request.user_id,
                facility_id=request.facility_id,
                ground=request.ground,
                approved_by=principal.user_id,
                expires_at=request.expires_at,
            ),
            tenant=principal.tenant,
            subject=str(request.subject_id),
        )
    await _audit(
        session,
        principal,
        "exceptional_access.approve" if approve else "exceptional_access.reject",
        request.subject_id,
        grant=str(request.id),
    )
    return request


async def expire_due_grants(session: AsyncSession, *, now: datetime | None = None) -> int:
    """C5: end every approved grant whose time is up, announce it and audit it; returns how many ended."""
    now = now or datetime.now(UTC)
    due = await repository.due_grants(session, now=now)
    for grant in due:
        grant.status = "expired"
        grant.ended_at = now
        await outbox.add_event(
            session,
            ExceptionalAccessEndedV1(
                grant_id=grant.id, subject_id=grant.subject_id, user_id=grant.user_id, ended_at=now
            ),
            tenant=grant.tenant,
            subject=str(grant.subject_id),
        )
        await audit.record(
            session,
            tenant=grant.tenant,
            actor_id="system",
            subject_id=str(grant.subject_id),
            action="exceptional_access.expire",
            target=str(grant.id),
            detail={"user": str(grant.user_id)},
        )
    return len(due)


async def fhir_export(session: AsyncSession, *, principal: Principal, subject_id: UUID) -> dict[str, Any]:
    """c8: the subject, family, consents and care team as one FHIR R4 Bundle."""
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    contacts = await repository.family_contacts_of(session, subject_id=subject.id)
    consents = await repository.consents_of(session, subject_id=subject.id)
    members = await repository.care_team_of(session, subject_id=subject.id)
    await _audit(session, principal, "subject.export.fhir", subject.id)
    return fhir.subject_bundle(subject, contacts, consents, members)
