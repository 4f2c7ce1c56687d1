"""Home side of a withdrawal (C4 across networks, fed3): from the commit that records it here, every peer fetch
of the subject is refused (the subject's row, read by each fetch); each referral of the subject is withdrawn and a
signed order to purge is staged for its peer; consent's cascade gets federation's step done and a pending row
per peer, which the peer's signed acknowledgement completes (effects.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit, outbox
from yui_common.events.consent import ConsentWithdrawnV1
from yui_common.events.federation import FederationPeerWithdrawalV1, FederationSupportStoppedV1

from federation.agreements.schemas import HOME
from federation.messages import envelope, sending
from federation.models import Agreement, Referral
from federation.referrals.effects import ENDED, WITHDRAWN
from federation.settings import Settings, current_settings


async def withdraw_referrals(
    session: AsyncSession,
    *,
    tenant: str,
    withdrawal: ConsentWithdrawnV1,
    settings: Settings | None = None,
) -> int:
    settings = settings or current_settings()
    now = datetime.now(UTC)
    referrals = list(
        await session.scalars(
            sa.select(Referral)
            .where(
                Referral.tenant == tenant,
                Referral.side == HOME,
                Referral.subject_id == withdrawal.subject_id,
                Referral.withdrawal_id.is_(None),
            )
            .with_for_update()
        )
    )
    told: set[str] = set()
    for referral in referrals:
        was_active = referral.state != ENDED
        referral.state, referral.withdrawal_id, referral.withdrawn_at = (
            WITHDRAWN,
            withdrawal.withdrawal_id,
            now,
        )
        referral.ended_at = referral.ended_at or now
        agreement = await session.get(Agreement, (tenant, referral.agreement_id))
        if agreement is None:
            continue
        # An ended referral was purged at the peer already, but its cache limit may not have run out everywhere:
        # every referral the peer ever held is told.
        await sending.stage(
            session,
            settings,
            agreement=agreement,
            event_type=envelope.CONSENT_WITHDRAWN,
            data={"referral_id": str(referral.id), "withdrawal_id": str(withdrawal.withdrawal_id)},
            subject_id=withdrawal.subject_id,
        )
        await audit.record(
            session,
            tenant=tenant,
            actor_id="federation",
            action="federation.referral.withdrawn",
            subject_id=str(withdrawal.subject_id),
            target=f"referral:{referral.id}",
            detail={
                "peer": referral.peer_source,
                "was_active": was_active,
                "withdrawal": str(withdrawal.withdrawal_id),
            },
        )
        if referral.peer_network_name not in told:
            told.add(referral.peer_network_name)
            await outbox.add_event(
                session,
                FederationPeerWithdrawalV1(
                    subject_id=withdrawal.subject_id,
                    withdrawal_id=withdrawal.withdrawal_id,
                    peer=referral.peer_network_name,
                    done=False,
                    at=now,
                ),
                tenant=tenant,
                subject=str(withdrawal.subject_id),
            )
    await outbox.add_event(
        session,
        FederationSupportStoppedV1(
            subject_id=withdrawal.subject_id,
            withdrawal_id=withdrawal.withdrawal_id,
            items_affected=len(referrals),
            completed_at=now,
        ),
        tenant=tenant,
        subject=str(withdrawal.subject_id),
    )
    return len(referrals)
