"""Alembic environment of the federation service."""

from federation.models import Base
from federation.settings import Settings
from yui_common.migrations import run_env

run_env(Base.metadata, Settings)
