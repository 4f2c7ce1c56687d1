"""The demo's hospital letter: the JP-CLINS discharge summary the tests and the benchmark import, made out to the
demo patient 結 キヨ (``demo_letter.json``, shipped in the package), imported as a member of the care team would,
so ``make run`` shows the letter on the timeline and its six offers waiting on 「病院からの文書」."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal

from timeline.access.service import Board
from timeline.imports import repository, service
from timeline.integrity.signing import ContentSigner, canonical_sha256

# The tests' fixture (services/timeline/tests/fixtures) with the demo patient's name and birth date.
LETTER = Path(__file__).resolve().parent / "demo_letter.json"


def demo_letter() -> dict[str, Any]:
    return json.loads(LETTER.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


async def import_demo_letter(
    session: AsyncSession,
    *,
    tenant: str,
    subject_id: UUID,
    uploader_id: UUID,
    signer: ContentSigner,
    facility_id: UUID | None = None,
) -> UUID:
    """The fixture letter imported for ``subject_id`` by ``uploader_id`` (on the care team, consent active),
    in the caller's transaction; its id. Seeding again finds the letter already there and returns its id."""
    document = demo_letter()
    already = await repository.imported(
        session, subject_id=subject_id, bundle_sha256=canonical_sha256(document)
    )
    if already is not None:
        return already
    uploader = Principal(
        user_id=uploader_id, tenant=tenant, facility_id=facility_id, roles=frozenset({"staff"})
    )
    imported = await service.import_letter(
        session,
        principal=uploader,
        signer=signer,
        board=Board(tenant=tenant, subject_id=subject_id),
        document=document,
    )
    return imported.id
