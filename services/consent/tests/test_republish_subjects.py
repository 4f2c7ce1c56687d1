"""``python -m consent republish-subjects``: a deployment whose subjects were registered before notify kept their
names (issue 10) announces every subject again, through the outbox, and notify learns the patients' names."""

from __future__ import annotations

import asyncio
import os
import sys
from uuid import UUID, uuid4

from sqlalchemy import delete, select, text

from services.consent.tests.consent_support import registered_subject
from tests.support.stack import Stack, eventually


async def subject_changes(stack: Stack, subject_id: UUID) -> list[dict[str, object]]:
    async with stack["consent"].sessionmaker() as session:
        rows = await session.execute(
            text(
                "SELECT envelope->'data' FROM outbox WHERE event_type = 'consent.subject-changed.v1'"
                " AND envelope->>'subject' = :s ORDER BY created_at, id"
            ),
            {"s": str(subject_id)},
        )
        return list(rows.scalars())


async def run_consent_cli(*arguments: str) -> tuple[int, str]:
    """The command as an operator runs it, in its own process, against the test stack's database."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "consent",
        *arguments,
        env=os.environ.copy(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_republish_subjects_announces_every_subject_again_and_notify_learns_their_names(
    stack: Stack,
) -> None:
    from notify.models import Subject as NotifiedSubject

    tenant = f"backfill-{uuid4().hex[:8]}"
    doctor = stack.staff(tenant=tenant)
    first = await registered_subject(stack, doctor, name="結 キヨ", name_kana="ユイ キヨ")
    second = await registered_subject(stack, doctor, name="青木 正男", name_kana="アオキ マサオ")

    async def notify_knows(*subject_ids: UUID) -> bool:
        async with stack["notify"].sessionmaker() as session:
            rows = await session.execute(
                select(NotifiedSubject.subject_id).where(NotifiedSubject.subject_id.in_(subject_ids))
            )
            return len(rows.all()) == len(subject_ids)

    await eventually(lambda: notify_knows(first, second), what="notify to hear of the registrations")
    # As in a deployment from before notify kept subjects: it knows none of them.
    async with stack["notify"].sessionmaker() as session, session.begin():
        await session.execute(delete(NotifiedSubject).where(NotifiedSubject.subject_id.in_([first, second])))

    code, output = await run_consent_cli("republish-subjects")
    assert code == 0, output
    assert "subjects published again" in output

    for subject_id, name in ((first, "結 キヨ"), (second, "青木 正男")):
        changes = await subject_changes(stack, subject_id)
        assert [(c["name"], c["status"], c["version"]) for c in changes] == [
            (name, "active", 1),
            (name, "active", 2),
        ]
        assert all("phone" not in c and "address" not in c for c in changes)

    async def names_in_notify() -> dict[UUID, tuple[str, int]] | None:
        async with stack["notify"].sessionmaker() as session:
            rows = await session.execute(
                select(NotifiedSubject.subject_id, NotifiedSubject.name, NotifiedSubject.version).where(
                    NotifiedSubject.subject_id.in_([first, second])
                )
            )
            found = {row.subject_id: (row.name, row.version) for row in rows}
        return found if len(found) == 2 else None

    known = await eventually(names_in_notify, what="notify to learn the subjects' names from the backfill")
    assert known == {first: ("結 キヨ", 2), second: ("青木 正男", 2)}
