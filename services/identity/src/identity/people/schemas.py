"""HTTP models of the staff directory."""

from __future__ import annotations

from pydantic import BaseModel
from yui_common.people import PersonRef


class PeoplePage(BaseModel):
    items: list[PersonRef]
