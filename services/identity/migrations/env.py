"""Alembic environment of the identity service."""

from identity.models import Base
from identity.settings import Settings
from yui_common.migrations import run_env

run_env(Base.metadata, Settings)
