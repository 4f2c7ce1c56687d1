"""Typed clients of the services the portal fronts (identity, consent, timeline, notify, federation), one per service."""

from portal.clients.base import ServiceProblem, close_service_clients, forwarded_headers

__all__ = ["ServiceProblem", "close_service_clients", "forwarded_headers"]
