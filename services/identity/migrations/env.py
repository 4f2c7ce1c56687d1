"""Alembic environment of the identity service."""

from yui_common.migrations import run_env

from identity.models import Base
from identity.settings import Settings

run_env(Base.metadata, Settings)
