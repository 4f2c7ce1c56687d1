"""HTTP models of facilities: the application form, its decision, the profile."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from identity.accounts.schemas import LoginId
from identity.directory.schemas import PublicationUpdate
from identity.networks.schemas import TenantSlug
from identity.revocations.schemas import Propagation


class FacilityApplication(BaseModel):
    """The portal's online application form (I1): the facility, its administrator and the pledge."""

    model_config = ConfigDict(extra="forbid")
    tenant: TenantSlug
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    address: str = Field(min_length=1, max_length=300)
    phone: str = Field(min_length=1, max_length=40)
    administrator_name: str = Field(min_length=1, max_length=200)
    administrator_email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    administrator_login_id: LoginId
    pledge_accepted: Literal[True]


class FacilityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    tenant: str
    name: str
    kind: str
    status: str
    address: str | None
    phone: str | None
    administrator_name: str | None
    administrator_email: str | None
    administrator_login_id: str | None
    applied_at: datetime | None
    decided_at: datetime | None
    rejection_reason: str | None
    ended_at: datetime | None
    published: bool


class FacilityClosed(FacilityRead):
    """A withdrawn or abolished facility, and how far its closing has reached: 200 once every service refuses
    its users' tokens, else 202."""

    propagation: Propagation | None = None


class FacilityUpdate(BaseModel):
    """Profile changes (I5) and what of the entry the portal publishes (P1)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    address: str | None = Field(default=None, min_length=1, max_length=300)
    phone: str | None = Field(default=None, min_length=1, max_length=40)
    administrator_name: str | None = Field(default=None, min_length=1, max_length=200)
    administrator_email: str | None = Field(
        default=None, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$"
    )
    # What the public directory shows (P1): changed with the profile in one transaction, through the one rule
    # that keeps the opt-in time and the operator's veto (identity.directory.service.change_publication).
    publication: PublicationUpdate | None = None


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class Approval(BaseModel):
    facility: FacilityRead
    administrator_user_id: UUID
    administrator_login_id: str
    initial_password: str
    access_code: str | None = None
    access_code_pin: str | None = None
    access_code_expires_at: datetime | None = None
