"""HTTP models of a network's own settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

TenantSlug = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9-]+$")]


class NetworkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    # Checked against the national table (identity.networks.municipalities): a 422 says malformed, wrong
    # check digit or unknown code.
    municipality_codes: list[Annotated[str, StringConstraints(min_length=1, max_length=20)]] | None = None
    retention_years: int | None = Field(default=None, ge=1, le=30)
    support_hours: str | None = Field(default=None, min_length=1, max_length=200)
    withdrawal_mode: Literal["stop", "delete"] | None = None
    totp_allowed: bool | None = None
    # Only a network created as a demo may switch this on (409 elsewhere).
    password_only_allowed: bool | None = None
    operator_issues_users: bool | None = None
    password_history_count: int | None = Field(default=None, ge=0, le=24)
    session_idle_minutes: int | None = Field(default=None, ge=1, le=240)
    session_absolute_hours: int | None = Field(default=None, ge=1, le=72)
    # Consecutive failed sign-ins of one login ID after which each attempt waits 2, 4, 8 … s (capped).
    lockout_threshold: int | None = Field(default=None, ge=1, le=20)
    # I4: days after which a password must be changed at sign-in; an explicit null switches it off.
    password_max_age_days: int | None = Field(default=None, ge=30, le=365)
    # Issue 11: each taking effect in every service by identity.network-settings-changed.v1.
    operator_office: str | None = Field(default=None, min_length=1, max_length=200)
    discontinuation_notice_months: int | None = Field(default=None, ge=1, le=24)  # P4, the portal's
    max_attachment_bytes: int | None = Field(default=None, ge=1024 * 1024, le=2 * 1024**3)  # the timeline's


class NetworkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    slug: str
    name: str
    municipality_codes: list[str]
    retention_years: int
    support_hours: str
    withdrawal_mode: str
    totp_allowed: bool
    created_as_demo: bool
    password_only_allowed: bool
    operator_issues_users: bool
    password_history_count: int
    session_idle_minutes: int
    session_absolute_hours: int
    lockout_threshold: int
    password_max_age_days: int | None = None
    operator_office: str = ""
    discontinuation_notice_months: int = 3
    max_attachment_bytes: int = 100 * 1024 * 1024
    status: str = "active"
