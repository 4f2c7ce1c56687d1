"""HTTP models of signing in and of sessions."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from identity.networks.schemas import TenantSlug


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


class Me(BaseModel):
    user_id: UUID
    tenant: str
    facility_id: UUID | None
    roles: list[str]
    name: str


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
