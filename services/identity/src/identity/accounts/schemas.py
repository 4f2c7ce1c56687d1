"""HTTP models of staff accounts, first-login enrolment and password changes."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from yui_common.vocabulary import Profession

from identity.networks.schemas import TenantSlug

LoginId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]


class TotpEnrolmentStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: TenantSlug
    login_id: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TotpEnrolment(BaseModel):
    secret: str
    provisioning_uri: str


class PasswordChange(BaseModel):
    """Choose one's own password: at first login (with the initial password) or at any time later."""

    model_config = ConfigDict(extra="forbid")
    tenant: TenantSlug
    login_id: str = Field(min_length=1, max_length=64)
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)
    totp_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")


NameKana = Annotated[str, Field(min_length=1, max_length=200)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login_id: LoginId
    display_name: str = Field(min_length=1, max_length=200)
    name_kana: NameKana | None = None
    roles: list[Literal["facility_admin", "staff"]] = Field(default=["staff"], min_length=1)
    profession: Profession | None = None
    # Before issue 10: free text, still accepted and mapped to a profession when ``profession`` is not given.
    occupation: str | None = Field(default=None, max_length=64, description="Deprecated: use profession")
    facility_id: UUID | None = None  # operators name the facility; an administrator's own is the default


class UserUpdate(BaseModel):
    """Personnel changes entered by the facility administrator (I5)."""

    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    name_kana: NameKana | None = None
    roles: list[Literal["facility_admin", "staff"]] | None = Field(default=None, min_length=1)
    profession: Profession | None = None
    occupation: str | None = Field(default=None, max_length=64, description="Deprecated: use profession")


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    tenant: str
    facility_id: UUID
    login_id: str
    display_name: str
    name_kana: str | None
    roles: list[str]
    status: str
    profession: str
    must_change_password: bool
    locked: bool
    totp_enrolled: bool


class IssuedUser(BaseModel):
    """A created or reissued account: the initial password is shown once and never stored in clear."""

    user: UserRead
    initial_password: str


class Replacement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_login_id: LoginId
    reason: str = Field(min_length=1, max_length=2000)


class ImportRow(BaseModel):
    line: int
    login_id: str | None
    outcome: Literal["created", "rejected"]
    user_id: UUID | None = None
    initial_password: str | None = None
    errors: list[str] = Field(default_factory=list)


class ImportReport(BaseModel):
    created: int
    rejected: int
    rows: list[ImportRow]
