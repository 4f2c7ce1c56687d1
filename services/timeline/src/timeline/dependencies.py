"""What the timeline's routers take from the application and the path: settings, the signer, the object
store, and the board (a subject's timeline or a group) a route names."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from yui_common.auth import CurrentPrincipal
from yui_common.storage import ObjectStore

from timeline.access.service import Board
from timeline.integrity.signing import ContentSigner
from timeline.settings import Settings


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _signer(request: Request) -> ContentSigner:
    return request.app.state.signer  # type: ignore[no-any-return]


def _store(request: Request) -> ObjectStore:
    return request.app.state.object_store  # type: ignore[no-any-return]


AppSettings = Annotated[Settings, Depends(_settings)]
Signer = Annotated[ContentSigner, Depends(_signer)]
Store = Annotated[ObjectStore, Depends(_store)]


def subject_board(subject_id: UUID, principal: CurrentPrincipal) -> Board:
    """The subject's timeline named in the path (whether the caller may reach it is the service's check)."""
    return Board(principal.tenant, subject_id=subject_id)


def group_board(group_id: UUID, principal: CurrentPrincipal) -> Board:
    """The group named in the path (whether the caller may reach it is the service's check)."""
    return Board(principal.tenant, group_id=group_id)
