"""Consumers of the notify service: one subscription per producing service."""

from notify.consumers import consent, identity, timeline

subscriptions = [consent.subscription, timeline.subscription, identity.subscription]
