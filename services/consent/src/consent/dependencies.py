"""What consent's routers share: the operator role, settings and object store from the application, and the
answer they document for a subject the caller may not reach."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from yui_common.auth import CurrentPrincipal, Principal
from yui_common.problems import Problem
from yui_common.storage import ObjectStore

from consent.settings import Settings

NETWORK_ROLES = ("operator", "contractor")
SUBJECT_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such subject, or not on its care team"}
}


async def _operator(principal: CurrentPrincipal) -> Principal:
    if not any(principal.has_role(role) for role in NETWORK_ROLES):
        raise Problem(403, "forbidden", "Operators only", "Only the network's operator may do this.")
    return principal


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _store(request: Request) -> ObjectStore:
    return request.app.state.object_store  # type: ignore[no-any-return]


async def _audit_operator(principal: CurrentPrincipal) -> Principal:
    # As the audit search itself (S2): the network's operator only, not the contractor.
    if not principal.has_role("operator"):
        raise Problem(403, "forbidden", "Operators only", "Only the network's operator may do this.")
    return principal


# The network's operator, or the contractor who runs the network for it.
OperatorPrincipal = Annotated[Principal, Depends(_operator)]
# The network's operator alone: what serves the audit search (patients' names for it).
AuditOperatorPrincipal = Annotated[Principal, Depends(_audit_operator)]
AppSettings = Annotated[Settings, Depends(_settings)]
Store = Annotated[ObjectStore, Depends(_store)]
