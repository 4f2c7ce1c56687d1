"""HTTP models of imported hospital letters: the list, one letter as sections of text with its offers, and an
offer's decision. The Bundle itself is the request body (application/fhir+json), kept as received."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field
from yui_common.people import PersonRef

ImportKind = Literal["discharge_summary", "referral"]
OfferKind = Literal["medication", "allergy", "problem"]
OfferStatus = Literal["offered", "accepted", "declined"]


class OfferCounts(BaseModel):
    offered: int = 0
    accepted: int = 0
    declined: int = 0


class ImportSummary(BaseModel):
    """A letter as the list shows it."""

    id: UUID
    subject_id: UUID
    kind: ImportKind = Field(description="discharge_summary = 退院時サマリー, referral = 診療情報提供書")
    title: str
    author_org: str = Field(description="The hospital (the Composition's custodian or author organization)")
    document_date: date | None
    post_id: UUID | None
    uploaded_by: PersonRef
    created_at: datetime
    offers: OfferCounts


class SectionRead(BaseModel):
    title: str
    text: str = Field(description="The section's narrative as plain text")


class OfferRead(BaseModel):
    index: int
    kind: OfferKind
    label: str = Field(description="How the item reads, e.g. 「アムロジピン錠5mg 1回1錠 1日1回朝食後」")
    data: dict[str, Any] = Field(
        description="What accepting adds: a MedicationCreate, a summary Allergy or a summary Problem"
    )
    status: OfferStatus
    decided_by: PersonRef | None
    decided_at: datetime | None


class ImportRead(ImportSummary):
    """One letter: who wrote it, its sections as text, and its offers with who decided each."""

    author_name: str
    sections: list[SectionRead]
    items: list[OfferRead] = Field(description="The offers, in the letter's order")


class ImportList(BaseModel):
    subject_id: UUID
    items: list[ImportSummary] = Field(description="Newest first")
