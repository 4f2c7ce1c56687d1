"""Alembic environment of the timeline service."""

from timeline.models import Base
from timeline.settings import Settings
from yui_common.migrations import run_env

run_env(Base.metadata, Settings)
