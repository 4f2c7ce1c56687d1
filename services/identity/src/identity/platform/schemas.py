"""HTTP and command-line models of the contractor's platform: networks to create and what is shown of them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Slug = Annotated[
    str, StringConstraints(min_length=2, max_length=63, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
]
LoginId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")]
# Checked against the national table by identity.networks.municipalities (422 with the reason), not here:
# a pattern error would not say whether the check digit or the code is wrong.
MunicipalityCode = Annotated[str, StringConstraints(min_length=1, max_length=20, strip_whitespace=True)]
TwoFactorPolicy = Literal["totp_or_certificate", "certificate_only"]
DirectoryRule = Literal["all", "opt_in"]


class NetworkCreate(BaseModel):
    """What the contractor decides for a new network (ten1) and its first operator's account."""

    model_config = ConfigDict(extra="forbid")
    slug: Slug
    name: str = Field(min_length=1, max_length=200)
    municipality_codes: list[MunicipalityCode] = Field(min_length=1, max_length=200)
    operator_office: str = Field(min_length=1, max_length=200)
    support_hours: str = Field(default="平日 9:00-17:00", min_length=1, max_length=200)
    retention_years: int = Field(default=5, ge=1, le=30)  # T3
    discontinuation_notice_months: int = Field(default=3, ge=1, le=24)  # P4
    two_factor_policy: TwoFactorPolicy = "totp_or_certificate"
    directory_rule: DirectoryRule = "all"
    max_attachment_mb: int = Field(default=100, ge=1, le=2048)
    withdrawal_mode: Literal["stop", "delete"] = "stop"
    operator_login_id: LoginId
    operator_name: str = Field(min_length=1, max_length=200)
    operator_name_kana: str | None = Field(default=None, max_length=200)


class MunicipalityRead(BaseModel):
    code: str
    prefecture: str
    name: str
    kana: str
    label: str


class NetworkSummary(BaseModel):
    slug: str
    name: str
    status: str
    created_at: datetime
    suspended_at: datetime | None
    municipalities: list[MunicipalityRead]


class NetworkDetail(NetworkSummary):
    operator_office: str
    support_hours: str
    retention_years: int
    discontinuation_notice_months: int
    two_factor_policy: TwoFactorPolicy
    directory_rule: DirectoryRule
    max_attachment_mb: int
    withdrawal_mode: str
    suspension_reason: str | None
    facilities: int
    users: int


class ProvisionedNetwork(BaseModel):
    """The new network and its first operator's one-time password (shown once, never stored in clear)."""

    network: NetworkDetail
    operator_login_id: str
    operator_name: str
    operator_initial_password: str
    # certificate_only networks: the operator's first certificate comes with this access code and PIN.
    operator_access_code: str | None = None
    operator_access_code_pin: str | None = None


class NetworkSuspension(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class ContractorCreated(BaseModel):
    login_id: str
    display_name: str
    initial_password: str
