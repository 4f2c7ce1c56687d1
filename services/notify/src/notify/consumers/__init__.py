"""Consumers of the notify service: one subscription per producing service."""

from notify.consumers import consent, federation, identity, portal, timeline

subscriptions = [
    consent.subscription,
    timeline.subscription,
    identity.subscription,
    portal.subscription,
    federation.subscription,
]
