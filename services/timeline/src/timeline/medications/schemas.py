"""HTTP models of medications and the drug master. A medication names what one facility prescribed (a product of
the drug master by its YJ code, or a name and ingredient typed in), its dose (用法・用量) and its period; the
list answers with the duplicate warnings the whole team sees."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from yui_common.people import PersonRef
from yui_common.text import free_text, named

Name200 = Annotated[str, named(200)]
Text100 = Annotated[str, free_text(100)]

# 薬価基準収載医薬品コード (YJ code): 12 characters, digits with upper-case letters for the dosage form.
YjCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{12}$")]


class MedicationCreate(BaseModel):
    """One prescription as the list keeps it. With ``drug_code`` the name and ingredient come from the drug
    master (``name`` may override how it reads); without it ``name`` and ``ingredient`` are required."""

    model_config = ConfigDict(extra="forbid")

    drug_code: YjCode | None = None
    name: Name200 | None = None
    ingredient: Name200 | None = None
    dose: Annotated[Name200, Field(description="用法・用量, e.g. 1回1錠 1日1回 朝食後")]
    start_date: date
    end_date: date | None = None
    prescriber: Text100 = ""
    facility: Annotated[Name200, Field(description="The prescribing facility")]


class MedicationEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end_date: date


MedicationState = Literal["active", "ended", "planned"]


class MedicationRead(BaseModel):
    id: UUID
    subject_id: UUID
    drug_code: str | None
    name: str
    ingredient: str
    dose: str
    start_date: date
    end_date: date | None
    prescriber: str
    facility: str
    state: MedicationState = Field(
        description="active today, ended (end date passed), or planned (starts later)"
    )
    source: Literal["manual", "import"]
    recorded_by: PersonRef
    created_at: datetime
    updated_at: datetime


class DuplicateWarning(BaseModel):
    """Active medications of different facilities with the same ingredient, or of one known duplicate class."""

    kind: Literal["ingredient", "class"]
    label: str = Field(description="The ingredient, or the class's Japanese name (e.g. 抗凝固薬)")
    label_en: str | None = Field(
        None, description="A class's English name (None for an ingredient: a drug name)"
    )
    medication_ids: list[UUID]
    facilities: list[str]


class MedicationList(BaseModel):
    subject_id: UUID
    items: list[MedicationRead] = Field(description="Active and planned first (by start), then ended")
    warnings: list[DuplicateWarning]


class Drug(BaseModel):
    code: str
    name: str
    ingredient: str
    standard: str
    maker: str
    kind: str = Field(description="区分: 内用薬, 外用薬, 注射薬 or 歯科用薬剤, as the list says")


class DrugSearch(BaseModel):
    items: list[Drug]


class DrugMasterStatus(BaseModel):
    count: int
    imported_at: datetime | None


class DrugMasterRowError(BaseModel):
    row: int
    reason: str
