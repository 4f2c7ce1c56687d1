"""Federation's part of ending a network (issue 11's ten4, yui_common.network_export): its agreements, the
messages it sent and received, referrals both ways and its projections as JSON, then the deletion of every row of
it. The deployment's federation keys are shared by every network and stay."""

from __future__ import annotations

from yui_common.bus.consumer import Subscription
from yui_common.network_export import Child, TenantScope
from yui_common.network_export import subscription as network_end_subscription
from yui_common.settings import CommonSettings

from federation.models import Base

SCOPE = TenantScope(
    service="federation",
    metadata=Base.metadata,
    children={"care_team_members": Child("subject_id", "subjects", "subject_id")},
    shared=frozenset({"federation_keys"}),
    # An agreement's HMAC key of subject links never leaves the database, not even in the export.
    # Nor what a peer side cached of another network's subject (that network's data, not this one's).
    secret_columns={"agreements": frozenset({"link_secret"}), "referrals": frozenset({"cached"})},
)


def subscription(settings: CommonSettings) -> Subscription:
    return network_end_subscription(SCOPE, settings)
