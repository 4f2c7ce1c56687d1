"""HTTP models of notices, terms of use, acceptances and the network's portal settings."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

Audience = Literal["public", "users"]
# notice: a plain notice; service_change / terms_change: P3; maintenance, emergency_stop, discontinuation:
# P4 (announced with a banner); maintenance_report: posted by the maintenance switch itself (O2).
NoticeKind = Literal[
    "notice", "service_change", "terms_change", "maintenance", "emergency_stop", "discontinuation"
]
BANNER_KINDS = ("maintenance", "emergency_stop", "discontinuation")
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)]


class NoticeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    audience: Audience = "public"
    kind: NoticeKind = "notice"
    title: Title
    body: Body
    # maintenance and emergency stops: the window; discontinuation: starts_at is the date the service ends.
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None


class NoticeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    audience: str
    kind: str
    title: str
    body: str
    starts_at: datetime | None
    ends_at: datetime | None
    published_at: datetime


class TermsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z._-]{1,32}$")]
    title: Title
    body: Body
    summary_of_changes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)] = ""
    effective_at: AwareDatetime


class TermsRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    version: str
    title: str
    body: str
    summary_of_changes: str
    effective_at: datetime
    published_at: datetime


class AcceptanceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    user_id: UUID
    facility_id: UUID | None
    terms_version_id: UUID
    accepted_at: datetime


HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
CLOSED_PERIOD = re.compile(
    r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])\.\.(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
)


class PortalSettingsUpdate(BaseModel):
    """The operator's portal settings; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")
    notice_period_months: Literal[1, 3, 6] | None = None
    operator_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    operator_phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    operator_email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None = None
    support_weekdays: list[Annotated[int, Field(ge=0, le=6)]] | None = None
    support_opens: HHMM | None = None
    support_closes: HHMM | None = None
    support_closed_periods: list[str] | None = Field(default=None, max_length=20)
    support_holidays: list[date] | None = Field(default=None, max_length=100)

    @field_validator("support_closed_periods")
    @classmethod
    def _periods(cls, value: list[str] | None) -> list[str] | None:
        for period in value or ():
            if not CLOSED_PERIOD.match(period):
                raise ValueError("a closed period is written MM-DD..MM-DD, e.g. 12-29..01-03")
        return value


class PortalSettingsRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    tenant: str
    notice_period_months: int
    operator_name: str
    operator_phone: str
    operator_email: str
    support_weekdays: list[int]
    support_opens: str
    support_closes: str
    support_closed_periods: list[str]
    support_holidays: list[str]
