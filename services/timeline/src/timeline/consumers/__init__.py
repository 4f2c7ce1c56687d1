"""Consumers of the timeline service: consent's and identity's events, and timeline's own follow-up work."""

from timeline.consumers import identity
from timeline.consumers.consent import subscription, support_stops

subscriptions = [subscription, support_stops, identity.subscription]
