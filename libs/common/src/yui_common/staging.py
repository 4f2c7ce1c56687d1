"""Rows a transaction writes when it commits, all of a kind in one statement: the audit entries (``audit``) and
the outbox events (``outbox``) a business transaction stages.

A staged row belongs to the transaction level it was staged at:
- in the outermost transaction it waits on the session (``session.info``) and is written just before that
  transaction commits; a rollback or a close drops it;
- inside a savepoint it is written at once, so that rolling the savepoint back drops it and releasing it keeps
  it; a savepoint's release writes nothing of the enclosing transaction's (the release flushes after
  ``before_commit``, and a flush that fails rolls the savepoint back: what it held would be gone).

Staging before the session has begun a transaction begins one (no statement is sent), so a later ``commit()``
or ``close()`` ends it and the rows go with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

# kind → how its rows are written, in the sync session (the async session's greenlet runs it)
Writer = Callable[[Session, list[Any]], None]
_WRITERS: dict[str, Writer] = {}


def kind(name: str, write: Writer) -> str:
    """Register a kind of staged row and how its rows are written; returns the kind's key."""
    key = f"yui_staged_{name}"
    if key in _WRITERS:
        raise ValueError(f"staged kind {name} registered twice")
    _WRITERS[key] = write
    return key


async def stage(session: AsyncSession, key: str, row: Any) -> None:
    """Stage ``row`` of kind ``key`` in the session's current transaction (see the module's text)."""
    if session.in_nested_transaction():
        await session.run_sync(_WRITERS[key], [row])
        return
    if not session.in_transaction():
        await session.connection()  # begins the transaction the row belongs to
    session.info.setdefault(key, []).append(row)


def staged(session: AsyncSession, key: str) -> int:
    """How many rows of kind ``key`` the transaction will write when it commits."""
    return len(session.info.get(key, ()))


async def write_now(session: AsyncSession, key: str) -> None:
    """Write the staged rows of kind ``key`` now, for a statement of the same transaction that must see them.
    Inside a savepoint they are then written in it, and go if it rolls back: call it outside one."""
    if rows := session.info.pop(key, None):
        await session.run_sync(_WRITERS[key], rows)


@event.listens_for(Session, "before_commit")
def _write_at_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint's release: these belong to the enclosing transaction
        return
    for key, write in _WRITERS.items():
        if rows := session.info.pop(key, None):
            write(session, rows)


@event.listens_for(Session, "after_transaction_end")
def _drop_on_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended without its commit writing them
        for key in _WRITERS:
            session.info.pop(key, None)
