"""Alembic environment of the notify service."""

from notify.models import Base
from notify.settings import Settings
from yui_common.migrations import run_env

run_env(Base.metadata, Settings)
