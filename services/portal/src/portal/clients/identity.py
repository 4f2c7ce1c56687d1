"""The portal's client of identity: signing in, sessions, a facility's users, certificates and profile,
the public directory and facility applications."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import httpx
from pydantic import BaseModel, ConfigDict
from yui_common.people import PersonRef

from portal.clients.base import Answer, ServiceClient, ServiceProblem


class SessionTokens(Answer):
    access_token: str
    refresh_token: str
    session_id: UUID


class TotpEnrolment(Answer):
    secret: str
    provisioning_uri: str


class SignInSession(Answer):
    """One of the staff member's sessions (the devices they are signed in on)."""

    id: UUID
    second_factor: str
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None = None
    user_agent: str | None = None
    current: bool = False


class User(Answer):
    id: UUID
    login_id: str
    display_name: str
    name_kana: str | None = None
    profession: str = "other"
    roles: tuple[str, ...] = ()
    status: str
    locked: bool = False


class PeoplePage(Answer):
    """The staff directory's answer (identity's GET /people)."""

    items: list[PersonRef]


class Profile(Answer):
    """The signed-in user's own account (identity's GET /me/profile)."""

    id: UUID
    login_id: str
    name: str
    name_kana: str | None = None
    profession: str = "other"
    facility_id: UUID
    facility_name: str
    roles: tuple[str, ...] = ()
    totp_enrolled: bool = False
    totp_allowed: bool = True
    password_changed_at: datetime | None = None
    password_expires_at: datetime | None = None


class IssuedUser(Answer):
    """A new user with the initial password, shown once."""

    user: User
    initial_password: str


class Certificate(Answer):
    user_id: UUID
    terminal_label: str
    status: str
    not_after: datetime


class Facility(Answer):
    id: UUID
    name: str
    address: str | None = None
    phone: str | None = None
    administrator_name: str | None = None
    administrator_email: str | None = None


class Publication(Answer):
    """What of a facility's entry the public directory shows."""

    listed: bool = False
    publish_name: bool = False
    publish_address: bool = False
    publish_contact: bool = False
    publish_status: bool = False
    withheld_by_operator: bool = False


class DirectoryEntry(Answer):
    kind: str
    name: str | None = None
    address: str | None = None
    phone: str | None = None
    status: str | None = None


class DirectoryPage(Answer):
    entries: list[DirectoryEntry]


# --- what the portal writes (identity checks every field again; these keep today's JSON on the wire) ------


class Credentials(BaseModel):
    """Signing in (identity's Login): the TOTP code is sent only when one was typed."""

    model_config = ConfigDict(frozen=True)
    tenant: str
    login_id: str
    password: str
    totp_code: str | None = None


class PasswordChange(BaseModel):
    """Choosing one's own password (identity's PasswordChange): the TOTP code is sent only when typed."""

    model_config = ConfigDict(frozen=True)
    tenant: str
    login_id: str
    current_password: str
    new_password: str
    totp_code: str | None = None


class NewUser(BaseModel):
    """A user of the administrator's facility (identity's UserCreate): kana and profession only when given."""

    model_config = ConfigDict(frozen=True)
    login_id: str
    display_name: str
    name_kana: str | None = None
    roles: tuple[str, ...] = ("staff",)
    profession: str | None = None


class UserChange(BaseModel):
    """The facility administrator corrects a user's name, kana or profession (identity's UserUpdate)."""

    model_config = ConfigDict(frozen=True)
    display_name: str | None = None
    name_kana: str | None = None
    profession: str | None = None


class ProfileChange(BaseModel):
    """One's own name and kana (identity's ProfileUpdate); a kana of None clears it."""

    model_config = ConfigDict(frozen=True)
    name: str
    name_kana: str | None = None


class OwnPasswordChange(BaseModel):
    """A signed-in user changes their password (identity's OwnPasswordChange)."""

    model_config = ConfigDict(frozen=True)
    current_password: str
    new_password: str


class AccessCodeRedemption(BaseModel):
    """The approval letter's access code and PIN, and the terminal's name (identity's AccessCodeRedemption)."""

    model_config = ConfigDict(frozen=True)
    tenant: str
    access_code: str
    pin: str
    terminal_label: str


class PublicationChange(BaseModel):
    """What of the facility's entry the public directory shows (identity's PublicationUpdate)."""

    model_config = ConfigDict(frozen=True)
    listed: bool = False
    publish_name: bool = False
    publish_address: bool = False
    publish_contact: bool = False
    publish_status: bool = False


class FacilityChange(BaseModel):
    """The facility's profile and its publication, changed together (identity's FacilityUpdate)."""

    model_config = ConfigDict(frozen=True)
    name: str
    address: str
    phone: str
    administrator_name: str
    administrator_email: str
    publication: PublicationChange


class FacilityApplicationRequest(BaseModel):
    """The online application form (identity's FacilityApplication)."""

    model_config = ConfigDict(frozen=True)
    tenant: str
    name: str
    kind: str
    address: str
    phone: str
    administrator_name: str
    administrator_email: str
    administrator_login_id: str
    pledge_accepted: bool


class IdentityClient(ServiceClient):
    service = "identity"

    # --- signing in ---------------------------------------------------------------------------------------

    async def sign_in(self, credentials: Credentials) -> SessionTokens:
        """Password (and TOTP code): a 403 ``password-change-required`` asks for the first-login page."""
        body = credentials.model_dump(mode="json", exclude_none=True)
        return await self.read(SessionTokens, "POST", "/auth/token", json=body)

    async def refresh(self, refresh_token: str) -> SessionTokens:
        # The refresh token alone speaks for the session: nothing of the browser's request is forwarded.
        response = await self.http.post("/auth/refresh", json={"refresh_token": refresh_token})
        if response.status_code != 200:
            raise ServiceProblem.of(response)
        return SessionTokens.model_validate_json(response.content)

    async def enrol_totp(self, *, tenant: str, login_id: str, password: str) -> TotpEnrolment:
        body = {"tenant": tenant, "login_id": login_id, "password": password}
        return await self.read(TotpEnrolment, "POST", "/auth/totp-enrolment", json=body)

    async def change_password(self, change: PasswordChange) -> None:
        await self.call("POST", "/auth/password", json=change.model_dump(mode="json", exclude_none=True))

    async def sign_out(self) -> None:
        """Ends the session at identity; the browser's cookie goes whatever identity answers."""
        await self.send("POST", "/auth/logout")

    async def sessions(self) -> list[SignInSession]:
        return await self.read(list[SignInSession], "GET", "/sessions")

    async def end_session(self, session_id: UUID) -> None:
        await self.call("DELETE", f"/sessions/{session_id}")

    # --- the staff directory ------------------------------------------------------------------------------

    async def search_people(
        self,
        q: str = "",
        *,
        facility_id: UUID | None = None,
        profession: str | None = None,
        limit: int = 20,
    ) -> list[PersonRef]:
        """Active colleagues of the signed-in user's network whose name or kana contains ``q`` (in kana order)."""
        params: dict[str, str] = {"q": q, "limit": str(limit)}
        if facility_id is not None:
            params["facility_id"] = str(facility_id)
        if profession:
            params["profession"] = profession
        return (await self.read(PeoplePage, "GET", "/people", params=params)).items

    async def person(self, user_id: UUID) -> PersonRef:
        """One person of the network (any status); ServiceProblem 404 outside it."""
        return await self.read(PersonRef, "GET", f"/people/{user_id}")

    # --- one's own account ----------------------------------------------------------------------------------

    async def profile(self) -> Profile:
        return await self.read(Profile, "GET", "/me/profile")

    async def change_profile(self, change: ProfileChange) -> Profile:
        return await self.read(Profile, "PATCH", "/me/profile", json=change.model_dump(mode="json"))

    async def change_own_password(self, change: OwnPasswordChange) -> None:
        """422 ``password-rules`` / ``password-reused``, 401 when the current password is wrong."""
        await self.call("POST", "/me/password", json=change.model_dump(mode="json"))

    async def start_authenticator_enrolment(self, *, current_password: str) -> TotpEnrolment:
        body = {"current_password": current_password}
        return await self.read(TotpEnrolment, "POST", "/me/totp-enrolment", json=body)

    async def confirm_authenticator(self, *, code: str) -> None:
        """The new authenticator's first code: it replaces the old one from now on (422 when wrong)."""
        await self.call("POST", "/me/totp-enrolment/confirmation", json={"code": code})

    # --- a facility's users and certificates --------------------------------------------------------------

    async def users(self) -> list[User]:
        return await self.read(list[User], "GET", "/users")

    async def create_user(self, user: NewUser) -> IssuedUser:
        return await self.read(
            IssuedUser, "POST", "/users", json=user.model_dump(mode="json", exclude_none=True)
        )

    async def change_user(self, user_id: UUID, change: UserChange) -> User:
        body = change.model_dump(mode="json", exclude_none=True)
        return await self.read(User, "PATCH", f"/users/{user_id}", json=body)

    async def certificates(self, facility_id: UUID) -> list[Certificate]:
        params = {"facility_id": str(facility_id)}
        return await self.read(list[Certificate], "GET", "/certificates", params=params)

    async def issue_certificate(self, *, user_id: UUID, terminal_label: str, pin: str) -> httpx.Response:
        """The PKCS#12 answer as it is (201), for the browser to download."""
        body = {"user_id": str(user_id), "terminal_label": terminal_label, "pin": pin}
        return await self.call("POST", "/certificates", json=body)

    async def redeem_access_code(self, redemption: AccessCodeRedemption) -> httpx.Response:
        """An administrator's first certificate for the access code and PIN of the approval letter."""
        body = redemption.model_dump(mode="json", exclude_none=True)
        return await self.call("POST", "/certificates/redeem", json=body)

    # --- the facility's profile, its directory entry, applying and withdrawing ----------------------------

    async def facility(self, facility_id: UUID) -> Facility:
        return await self.read(Facility, "GET", f"/facilities/{facility_id}")

    async def publication(self, facility_id: UUID) -> Publication:
        return await self.read(Publication, "GET", f"/facilities/{facility_id}/publication")

    async def change_facility(self, facility_id: UUID, changes: FacilityChange) -> Facility:
        body = changes.model_dump(mode="json", exclude_none=True)
        return await self.read(Facility, "PATCH", f"/facilities/{facility_id}", json=body)

    async def withdraw_facility(self, facility_id: UUID) -> Facility:
        return await self.read(Facility, "POST", f"/facilities/{facility_id}/withdrawal")

    async def directory(self, *, tenant: str, search: dict[str, str]) -> DirectoryPage:
        return await self.read(DirectoryPage, "GET", "/directory", params={"tenant": tenant, **search})

    async def apply_for_facility(self, application: FacilityApplicationRequest) -> UUID | None:
        """The application's id (its reference number is derived from it), None if identity did not say."""
        body = application.model_dump(mode="json", exclude_none=True)
        answer = await self.call("POST", "/facility-applications", json=body)
        try:
            return UUID(str(answer.json()["id"]))
        except (ValueError, KeyError, TypeError):
            return None
