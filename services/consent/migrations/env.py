"""Alembic environment of the consent service."""

from consent.models import Base
from consent.settings import Settings
from yui_common.migrations import run_env

run_env(Base.metadata, Settings)
