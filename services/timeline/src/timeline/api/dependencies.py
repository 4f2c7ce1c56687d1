"""What the timeline's routers take from the application: settings, the signer, the object store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from yui_common.storage import ObjectStore

from timeline.settings import Settings
from timeline.signing import ContentSigner


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _signer(request: Request) -> ContentSigner:
    return request.app.state.signer  # type: ignore[no-any-return]


def _store(request: Request) -> ObjectStore:
    return request.app.state.object_store  # type: ignore[no-any-return]


AppSettings = Annotated[Settings, Depends(_settings)]
Signer = Annotated[ContentSigner, Depends(_signer)]
Store = Annotated[ObjectStore, Depends(_store)]
