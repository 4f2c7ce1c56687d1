"""Alembic environment of the portal service."""

from yui_common.migrations import run_env

from portal.models import Base
from portal.settings import Settings

run_env(Base.metadata, Settings)
