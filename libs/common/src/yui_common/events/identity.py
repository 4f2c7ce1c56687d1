"""Events published by the identity service."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from yui_common.events import EventData, event


@event("identity.user-suspended.v1")
class UserSuspendedV1(EventData):
    """Services refuse the user's tokens from now on (deny list) until a reinstatement."""

    user_id: UUID
    reason: str
    facility_id: UUID | None = None
    suspended_at: datetime | None = None
    # Added within v1: set when identity awaits each deny list's acknowledgement (events.revocations).
    revocation_id: UUID | None = None


@event("identity.user-created.v1")
class UserCreatedV1(EventData):
    user_id: UUID
    facility_id: UUID
    roles: list[str]


@event("identity.user-reinstated.v1")
class UserReinstatedV1(EventData):
    user_id: UUID
    facility_id: UUID | None = None


@event("identity.user-disabled.v1")
class UserDisabledV1(EventData):
    """The account ended for good (the person left, or the facility withdrew or was abolished)."""

    user_id: UUID
    facility_id: UUID
    reason: str
    disabled_at: datetime
    # Added within v1: set when identity awaits each deny list's acknowledgement (events.revocations).
    revocation_id: UUID | None = None


@event("identity.facility-applied.v1")
class FacilityAppliedV1(EventData):
    facility_id: UUID
    name: str
    kind: str


@event("identity.facility-approved.v1")
class FacilityApprovedV1(EventData):
    facility_id: UUID
    name: str
    kind: str
    administrator_user_id: UUID


@event("identity.facility-rejected.v1")
class FacilityRejectedV1(EventData):
    facility_id: UUID
    reason: str


@event("identity.facility-application-decided.v1")
class FacilityApplicationDecidedV1(EventData):
    """Tell the applicant the result of their application (Ko9); notify delivers it."""

    facility_id: UUID
    facility_name: str
    decision: str  # "approved" | "rejected"
    administrator_name: str
    administrator_email: str
    administrator_login_id: str | None = None
    reason: str | None = None


@event("identity.facility-withdrawn.v1")
class FacilityWithdrawnV1(EventData):
    """The facility left the network at its own request (I6); its users are disabled."""

    facility_id: UUID
    withdrawn_at: datetime


@event("identity.facility-disabled.v1")
class FacilityDisabledV1(EventData):
    """Every token of the facility's users is refused from now on (withdrawn, abolished or suspended)."""

    facility_id: UUID
    reason: str  # "withdrawn" | "abolished" | "suspended"
    disabled_at: datetime
    # Added within v1: set when identity awaits each deny list's acknowledgement (events.revocations).
    revocation_id: UUID | None = None


@event("identity.facility-reinstated.v1")
class FacilityReinstatedV1(EventData):
    facility_id: UUID


@event("identity.session-revoked.v1")
class SessionRevokedV1(EventData):
    """A login session ended (logout, ended by its user, idle or too old): its tokens are refused."""

    session_id: UUID
    user_id: UUID
    reason: str
    revoked_at: datetime
    # Added within v1: set when identity awaits each deny list's acknowledgement (events.revocations).
    revocation_id: UUID | None = None


@event("identity.signing-key-rotated.v1")
class SigningKeyRotatedV1(EventData):
    """A new key signs tokens from now on; services refresh their JWKS (older keys verify until retired)."""

    kid: str
    retired_kids: tuple[str, ...] = ()


@event("identity.certificate-issued.v1")
class CertificateIssuedV1(EventData):
    """A client certificate was issued to a user for one terminal of their facility."""

    certificate_id: UUID
    user_id: UUID
    facility_id: UUID
    terminal_label: str
    serial_number: str
    fingerprint_sha256: str
    not_after: datetime


@event("identity.certificate-revoked.v1")
class CertificateRevokedV1(EventData):
    """A client certificate was revoked: services refuse tokens bound to its fingerprint from now on."""

    certificate_id: UUID
    user_id: UUID
    facility_id: UUID
    serial_number: str
    fingerprint_sha256: str
    reason: str
    revoked_at: datetime
    # Added within v1: set when identity awaits each deny list's acknowledgement (events.revocations).
    revocation_id: UUID | None = None


@event("identity.sign-in-backoff-started.v1")
class SignInBackoffStartedV1(EventData):
    """Failed sign-ins of a user's login ID reached the network's threshold: each further attempt now waits
    (2 s, doubling, capped), ending by itself. Notify tells the user that someone tried to sign in as them."""

    user_id: UUID
    facility_id: UUID
    consecutive_failures: int
    blocked_until: datetime


@event("identity.person-changed.v1")
class PersonChangedV1(EventData):
    """Who a user is, as every service shows them: "name (profession, facility)" (issue 10).

    Published when a user is created, when their name, kana, profession or status changes, and for every user of
    a facility whose name changes. Each service keeps a projection (``yui_common.people``); ``version`` grows with
    every change of this person, so a late or repeated event never overwrites a newer one.
    """

    user_id: UUID
    name: str
    name_kana: str | None = None
    profession: str = "other"  # yui_common.vocabulary.PROFESSIONS
    facility_id: UUID
    facility_name: str
    status: str = "active"  # active | suspended | disabled
    version: int


# --- networks (issue 11): the contractor provisions, suspends and resumes networks; the operator sets rules ----


class NetworkStateV1(EventData):
    """What every service knows of a network, carried whole by each of the network events below.

    Each service keeps it in its ``network_states`` projection (``yui_common.networks``); ``version`` grows
    with every change of the network, so a late or repeated event never overwrites a newer state (a
    suspension overtaking a settings change loses nothing: both carry everything)."""

    slug: str
    name: str
    status: str = "active"  # active | suspended
    municipality_codes: list[str] = Field(default_factory=list)
    # The same municipalities by name (愛知県みよし市), in the same order: pages show names, not codes.
    municipality_names: list[str] = Field(default_factory=list)
    retention_years: int = 5  # T3
    withdrawal_mode: str = "stop"  # C4: stop | delete
    max_attachment_bytes: int = 100 * 1024 * 1024
    discontinuation_notice_months: int = 3  # P4
    support_hours: str = ""
    operator_office: str = ""
    version: int


@event("identity.network-created.v1")
class NetworkCreatedV1(NetworkStateV1):
    """The contractor created a network; the portal makes its first terms version from the template."""


@event("identity.network-settings-changed.v1")
class NetworkSettingsChangedV1(NetworkStateV1):
    """The network's operator (or the contractor) changed its rules; every service applies the new state."""


@event("identity.network-suspended.v1")
class NetworkSuspendedV1(NetworkStateV1):
    """Every service refuses the network's staff requests and public pages until it is resumed; nothing is
    deleted."""

    reason: str = ""
    suspended_at: datetime | None = None


@event("identity.network-resumed.v1")
class NetworkResumedV1(NetworkStateV1):
    """The network works again, with everything it had."""
