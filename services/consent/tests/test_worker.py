"""Consent's worker: the withdrawal cascade's gauges that the operators' C4 alert reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consent.withdrawals import service as withdrawals
from consent.worker import measure_withdrawal_cascades
from prometheus_client import REGISTRY, generate_latest
from sqlalchemy import text

from services.consent.tests.consent_support import (
    give_consent,
    register_subject,
    staff_principal,
    withdraw_consent,
)
from tests.support.stack import Stack


def scraped(name: str) -> float:
    """The value /metrics shows for an unlabelled metric."""
    for line in generate_latest(REGISTRY).decode().splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not exposed")


class TestCascadeGauges:
    async def test_c4_an_unfinished_withdrawal_shows_in_the_count_and_the_oldest_age_until_it_is_done(
        self, stack: Stack
    ) -> None:
        worker = stack["consent"].worker
        assert worker is not None and "withdrawal-cascade-gauges" in {job.name for job in worker.jobs}
        # The gauges count every network's cascades in this database: other tests' cascades (a federated peer's
        # acknowledgement, say) may finish meanwhile, so this one is told apart by its age (an hour; theirs are
        # seconds old), not by the count moving by exactly one.

        who = staff_principal()
        async with stack["consent"].sessionmaker() as session, session.begin():
            subject = await register_subject(session, who)
            await give_consent(session, who, subject.id)
            # A participant that never answers (an offline peer), asked an hour ago.
            withdrawal = await withdraw_consent(session, who, subject.id, participants=("offline-peer",))
            await session.execute(
                text("UPDATE withdrawals SET requested_at = :t WHERE id = :w"),
                {"t": datetime.now(UTC) - timedelta(hours=1), "w": withdrawal.id},
            )
        await measure_withdrawal_cascades(worker)
        assert scraped("yui_withdrawal_cascades_incomplete") >= 1
        assert scraped("yui_withdrawal_cascade_oldest_incomplete_age_seconds") >= 3600

        async with stack["consent"].sessionmaker() as session, session.begin():
            assert await withdrawals.record_cascade_step_done(
                session,
                withdrawal_id=withdrawal.id,
                service="offline-peer",
                completed_at=datetime.now(UTC),
                items_affected=0,
            )
        await measure_withdrawal_cascades(worker)
        assert scraped("yui_withdrawal_cascade_oldest_incomplete_age_seconds") < 3600
