"""HTTP models of the patient summary. Free text stays free (a doctor's name, a diagnosis as the team writes
it); what the ambulance crew and a new team member must find at a glance has its own field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator
from yui_common.people import PersonRef
from yui_common.text import free_text, named

Name100 = Annotated[str, named(100)]
Name200 = Annotated[str, named(200)]
Text32 = Annotated[str, free_text(32)]
Text50 = Annotated[str, free_text(50)]
Text200 = Annotated[str, free_text(200)]
Text500 = Annotated[str, free_text(500)]
Text1000 = Annotated[str, free_text(1000)]
Text2000 = Annotated[str, free_text(2000)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FamilyDoctor(_Part):
    name: Name100
    facility: Text200 = ""
    phone: Text32 = ""


class NurseStation(_Part):
    name: Name200
    phone: Text32 = ""


class EmergencyContact(_Part):
    name: Name100
    relation: Text50 = ""
    phone: Text32 = ""


class Problem(_Part):
    name: Name200
    since: Text50 = ""
    note: Text500 = ""


class Allergy(_Part):
    substance: Name200
    reaction: Text200 = ""


CareLevel = Literal[
    "none", "support_1", "support_2", "care_1", "care_2", "care_3", "care_4", "care_5", "applying"
]


class AdvanceCarePlan(_Part):
    """ACP: the person's wishes in their words, and whether they decline resuscitation (DNAR)."""

    wishes: Text2000 = ""
    dnar: Literal["yes", "no", "undecided"] | None = None


class SummaryContent(_Part):
    family_doctor: FamilyDoctor | None = None
    visiting_nurse_station: NurseStation | None = None
    emergency_contacts: list[EmergencyContact] = Field(default_factory=list, max_length=5)
    problems: list[Problem] = Field(default_factory=list, max_length=30)
    allergies: list[Allergy] = Field(default_factory=list, max_length=30)
    no_known_allergies: bool = False
    care_level: CareLevel | None = Field(
        default=None, description="要介護度: none = 非該当, applying = 申請中"
    )
    adl: Text1000 = ""
    acp: AdvanceCarePlan | None = None
    living_situation: Text1000 = ""

    @model_validator(mode="after")
    def _allergies_either_way(self) -> SummaryContent:
        if self.no_known_allergies and self.allergies:
            raise ValueError("No known allergies cannot be said beside listed allergies.")
        return self


class SummaryUpdate(_Part):
    expected_version: int = Field(ge=0, description="The version the editor started from (0: none yet)")
    content: SummaryContent


class SummaryRead(BaseModel):
    subject_id: UUID
    version: int = Field(description="0 while no summary was written")
    content: SummaryContent | None
    author: PersonRef | None
    created_at: datetime | None
    acp_recorded_by: PersonRef | None = Field(description="Who recorded the ACP part as it stands, and when")
    acp_recorded_at: datetime | None


class SummaryVersionRead(BaseModel):
    version: int
    content: SummaryContent
    author: PersonRef
    created_at: datetime
    content_sha256: str
    signature_valid: bool
    acp_recorded_by: PersonRef | None
    acp_recorded_at: datetime | None


class SummaryVersions(BaseModel):
    items: list[SummaryVersionRead] = Field(description="Newest first")
