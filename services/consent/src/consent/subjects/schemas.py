"""HTTP models of subjects, family contacts and residence exceptions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema
from yui_common.text import named

JAPAN = ZoneInfo("Asia/Tokyo")
# Nobody alive was born before this (the oldest person on record was born in 1875; the margin is generous).
EARLIEST_BIRTH_DATE = date(1880, 1, 1)


def _plausible_birth_date(value: date) -> date:
    # "Today" in Japan, where the people are registered: a baby born this morning in Tokyo is valid at once.
    today = datetime.now(JAPAN).date()
    if value > today:
        raise ValueError("A birth date cannot be in the future.")
    if value < EARLIEST_BIRTH_DATE:
        raise ValueError(f"A birth date before {EARLIEST_BIRTH_DATE.isoformat()} is not plausible.")
    return value


BirthDate = Annotated[date, AfterValidator(_plausible_birth_date)]


# Stored without surrounding spaces, and never spaces alone (yui_common.text).
Name = Annotated[str, named(200)]
Relation = Annotated[str, named(100)]


Sex = Literal["male", "female", "other", "unknown"]
Phone = Field(default=None, pattern=r"^[0-9+()\- ]{4,32}$")


class FamilyContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    name_kana: Name | None = None
    relation: Relation = Field(description="e.g. 長女, 配偶者")
    phone: str | None = Phone
    address: str | None = Field(default=None, min_length=1, max_length=400)
    key_person: bool = False


class FamilyContactRead(BaseModel):
    """As stored: a name of spaces from before the API refused one still reads (and exports) as it is."""

    model_config = ConfigDict(from_attributes=True)
    id: UUID
    name: str
    name_kana: str | None = None
    relation: str
    phone: str | None = None
    address: str | None = None
    key_person: bool = False


class SubjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name = Field(description="Name in kanji")
    name_kana: Name = Field(description="Name in kana")
    birth_date: BirthDate | None = None
    sex: Sex | None = None
    municipality_code: str = Field(pattern=r"^[0-9]{5,6}$", description="JIS municipality code")
    postal_code: str | None = Field(default=None, pattern=r"^[0-9]{3}-?[0-9]{4}$")
    address: str | None = Field(default=None, min_length=1, max_length=400)
    phone: str | None = Phone
    family_contacts: list[FamilyContactCreate] = Field(default_factory=list, max_length=20)
    residence_exception_id: UUID | None = Field(
        default=None, description="The operator's exception for a resident of another municipality (C1)"
    )
    confirm_not_duplicate: bool = Field(
        default=False, description="Register even though likely duplicates were shown (c9)"
    )


class SubjectUpdate(BaseModel):
    """A correction of the subject's name, kana or contact details; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")
    # A name and kana may be changed, never removed: left out they stay, an explicit null is a 422.
    name: Name | SkipJsonSchema[None] = None
    name_kana: Name | SkipJsonSchema[None] = None
    postal_code: str | None = Field(default=None, pattern=r"^[0-9]{3}-?[0-9]{4}$")
    address: str | None = Field(default=None, min_length=1, max_length=400)
    phone: str | None = Phone

    @field_validator("name", "name_kana")
    @classmethod
    def _not_removed(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("The name and its kana can be corrected, not removed.")
        return value


SubjectStatus = Literal["active", "support_stopped"]


class SubjectRead(BaseModel):
    """A subject as its care team reads it. Once support stopped, only the name, kana and status are given:
    every other field is null (contact details and family contacts are never shown again, issue 10)."""

    model_config = ConfigDict(from_attributes=True)
    id: UUID
    name: str
    name_kana: str
    status: SubjectStatus = "active"
    birth_date: date | None
    sex: str | None = None
    municipality_code: str | None
    postal_code: str | None = None
    address: str | None = None
    phone: str | None = None
    residence_network: str | None = None
    registered_at: datetime
    consent_status: Literal["none", "active", "withdrawn"] = "none"
    family_contacts: list[FamilyContactRead] = Field(default_factory=list)


class SubjectSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    name: str
    name_kana: str
    birth_date: date | None
    status: SubjectStatus = "active"


class DuplicateCandidate(BaseModel):
    """What a possible duplicate shows someone who may not be on its team: enough to recognise, no more."""

    id: UUID
    name_kana: str
    birth_date: date | None
    registered_at: datetime
    on_my_team: bool


class ResidenceExceptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality_code: str = Field(pattern=r"^[0-9]{5,6}$")
    name_kana: str = Field(min_length=1, max_length=200)
    birth_date: BirthDate | None = None
    reason: str = Field(min_length=1, max_length=1000)


class ResidenceExceptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    municipality_code: str
    birth_date: date | None
    reason: str
    approved_by: UUID
    approved_at: datetime
    used_at: datetime | None


class SubjectLookupItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    name: str
    name_kana: str


class SubjectLookupRead(BaseModel):
    """The operators' audit search: subjects by name or kana, names only."""

    items: list[SubjectLookupItem]


class SubjectNamesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[UUID] = Field(max_length=500)


class SubjectNameItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    name: str


class SubjectNamesRead(BaseModel):
    items: list[SubjectNameItem]


class MunicipalityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    municipality_code: str
    name: str
