"""HTTP models of the identity API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from identity.directory import PublicationUpdate


class PasswordLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9-]+$")
    login_id: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme's name, not a secret
    expires_in: int


class Me(BaseModel):
    user_id: UUID
    tenant: str
    facility_id: UUID | None
    roles: list[str]
    name: str


TenantSlug = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9-]+$")]
LoginId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]
ROLES = ("operator", "contractor", "facility_admin", "staff")


class Login(BaseModel):
    """Password plus a second factor: a TOTP code, or the client certificate the gateway verified (S1)."""

    model_config = ConfigDict(extra="forbid")
    tenant: TenantSlug
    login_id: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")


class SessionTokens(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme's name, not a secret
    expires_in: int
    refresh_token: str
    session_id: UUID


class Refresh(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=10, max_length=200)


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


class SessionRead(BaseModel):
    id: UUID
    second_factor: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    user_agent: str | None
    current: bool = False


class NetworkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    municipality_codes: list[Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]] | None = None
    retention_years: int | None = Field(default=None, ge=1, le=30)
    support_hours: str | None = Field(default=None, min_length=1, max_length=200)
    withdrawal_mode: Literal["stop", "delete"] | None = None
    totp_allowed: bool | None = None
    password_only_allowed: bool | None = None
    operator_issues_users: bool | None = None
    password_history_count: int | None = Field(default=None, ge=0, le=24)
    session_idle_minutes: int | None = Field(default=None, ge=1, le=240)
    session_absolute_hours: int | None = Field(default=None, ge=1, le=72)
    lockout_threshold: int | None = Field(default=None, ge=1, le=20)


class NetworkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    slug: str
    name: str
    municipality_codes: list[str]
    retention_years: int
    support_hours: str
    withdrawal_mode: str
    totp_allowed: bool
    password_only_allowed: bool
    operator_issues_users: bool
    password_history_count: int
    session_idle_minutes: int
    session_absolute_hours: int
    lockout_threshold: int


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
    # that keeps the opt-in time and the operator's veto (identity.directory.change_publication).
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


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login_id: LoginId
    display_name: str = Field(min_length=1, max_length=200)
    roles: list[Literal["facility_admin", "staff"]] = Field(default=["staff"], min_length=1)
    occupation: str | None = Field(default=None, max_length=64)
    facility_id: UUID | None = None  # operators name the facility; an administrator's own is the default


class UserUpdate(BaseModel):
    """Personnel changes entered by the facility administrator (I5)."""

    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    roles: list[Literal["facility_admin", "staff"]] | None = Field(default=None, min_length=1)
    occupation: str | None = Field(default=None, max_length=64)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    tenant: str
    facility_id: UUID
    login_id: str
    display_name: str
    roles: list[str]
    status: str
    occupation: str | None
    must_change_password: bool
    locked: bool
    totp_enrolled: bool


class IssuedUser(BaseModel):
    """A created or reissued account: the initial password is shown once and never stored in clear."""

    user: UserRead
    initial_password: str


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


class SuspensionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_kind: Literal["user", "facility"]
    target_id: UUID
    reason: str = Field(min_length=1, max_length=2000)
    emergency: bool = False


class SuspensionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    target_kind: str
    target_id: UUID
    reason: str
    emergency: bool
    suspended_by: UUID
    suspended_by_role: str
    created_at: datetime
    needs_acknowledgement: bool
    acknowledged_at: datetime | None
    lifted_at: datetime | None


class IncidentReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Literal["security", "defect"]
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=10000)


class IncidentNote(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=4000)


class IncidentReportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    facility_id: UUID
    reporter_id: UUID
    category: str
    title: str
    body: str
    status: str
    created_at: datetime
    escalated_at: datetime | None
    forwarded_at: datetime | None
    resolved_at: datetime | None
    notes: list[dict[str, str]]
