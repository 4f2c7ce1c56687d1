"""HTTP models of one's own account."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Profile(BaseModel):
    """Who the signed-in user is, and the state of their password and authenticator."""

    id: UUID
    login_id: str
    name: str
    name_kana: str | None
    profession: str
    facility_id: UUID
    facility_name: str
    roles: list[str]
    totp_enrolled: bool
    totp_allowed: bool
    password_changed_at: datetime | None
    # When the network's periodic change (I4) will ask for a new password at sign-in; None without one.
    password_expires_at: datetime | None


class ProfileUpdate(BaseModel):
    """One's own name and kana. The profession is the facility administrator's to set (PATCH /users/{id})."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    # An explicit null clears the kana.
    name_kana: str | None = Field(default=None, max_length=200)


class OwnPasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class AuthenticatorEnrolmentStart(BaseModel):
    """The current password again: a session left open on a shared terminal must not swap the authenticator."""

    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=256)


class AuthenticatorConfirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[0-9]{6}$")
