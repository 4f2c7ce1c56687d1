"""What notify tells people: each kind, whether it is addressed to the person, and the default channel."""

from __future__ import annotations

POST_CREATED = "post.created"
POST_REPLY = "post.reply"
POST_MENTION = "post.mention"
SUPPORT_REQUESTED = "support.requested"
SUPPORT_ANSWERED = "support.answered"
SUPPORT_DECIDED = "support.decided"
SUPPORT_STOPPED = "subject.support_stopped"
EXCEPTIONAL_ACCESS_GRANTED = "subject.exceptional_access_granted"
CARE_TEAM_INVITED = "care_team.invited"  # someone invited me to a patient's care team (issue 10)
ACCOUNT_SUSPENDED = "account.suspended"
ACCOUNT_REINSTATED = "account.reinstated"
SIGN_IN_BACKOFF_STARTED = "account.sign_in_backoff_started"  # failed sign-ins as them: each retry waits
CERTIFICATE_ISSUED = "certificate.issued"
CERTIFICATE_REVOKED = "certificate.revoked"
FACILITY_APPLICATION_WAITING = "facility.application_waiting"
NOTICE_PUBLISHED = "notice.published"  # the operator's notices, maintenance and stop announcements
MAINTENANCE_STARTED = "maintenance.started"
MAINTENANCE_ENDED = "maintenance.ended"
# A new post on a subject another network shared with my facility (a referral, issue 12).
SHARED_POST = "federation.shared_post"

ALL_KINDS = (
    POST_CREATED,
    POST_REPLY,
    POST_MENTION,
    SUPPORT_REQUESTED,
    SUPPORT_ANSWERED,
    SUPPORT_DECIDED,
    SUPPORT_STOPPED,
    EXCEPTIONAL_ACCESS_GRANTED,
    CARE_TEAM_INVITED,
    ACCOUNT_SUSPENDED,
    ACCOUNT_REINSTATED,
    SIGN_IN_BACKOFF_STARTED,
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    FACILITY_APPLICATION_WAITING,
    NOTICE_PUBLISHED,
    MAINTENANCE_STARTED,
    MAINTENANCE_ENDED,
    SHARED_POST,
)

# Addressed to the person themselves: e-mailed at once when they chose e-mail; every other kind waits for
# the daily digest.
IMMEDIATE_KINDS = frozenset(
    {
        POST_MENTION,
        POST_REPLY,
        SUPPORT_REQUESTED,
        SUPPORT_ANSWERED,
        SUPPORT_DECIDED,
        SIGN_IN_BACKOFF_STARTED,
        CARE_TEAM_INVITED,
    }
)

# Support requests reach their addressee even outside the care team (timeline lets the addressee read the
# thread, T2), and an invitation reaches the invitee, who joins the team only by accepting it; every other
# kind about a subject needs current care-team membership. Support stopped silences these too.
ADDRESSEE_KINDS = frozenset({SUPPORT_REQUESTED, SUPPORT_ANSWERED, SUPPORT_DECIDED, CARE_TEAM_INVITED})

OFF, IN_APP, EMAIL = "off", "in_app", "email"
CHANNELS = (OFF, IN_APP, EMAIL)
DEFAULT_CHANNEL = IN_APP
DEFAULT_DIGEST_HOUR = 8
DEFAULT_RETENTION_DAYS = 365
