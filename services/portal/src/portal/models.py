"""Portal's tables: for now only the shared outbox, inbox and audit log (notices come with the portal issue)."""

from yui_common.db import ServiceBase, new_metadata
from yui_common.schema import infrastructure_tables


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


infrastructure_tables(Base.metadata)
