"""Alembic environment of the portal service."""

from portal.models import Base
from portal.settings import Settings
from yui_common.migrations import run_env

run_env(Base.metadata, Settings)
