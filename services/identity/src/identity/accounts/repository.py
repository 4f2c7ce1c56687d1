"""Every query about staff accounts. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Facility, SignInBackoff, SignInFailuresByAddress, User


async def user_for_update(session: AsyncSession, *, tenant: str, login_id: str) -> User | None:
    """Locked so that concurrent attempts on one account are checked and counted one by one."""
    stmt = select(User).where(User.tenant == tenant, User.login_id == login_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def login_id_of_a_user(session: AsyncSession, *, tenant: str, login_id: str) -> bool:
    """Whether a user (of any status) has this login ID."""
    stmt = select(User.id).where(User.tenant == tenant, User.login_id == login_id).limit(1)
    return (await session.execute(stmt)).first() is not None


async def login_id_taken(session: AsyncSession, *, tenant: str, login_id: str) -> bool:
    """Taken by a user, or promised to the administrator of a facility whose application is pending."""
    user = select(User.id).where(User.tenant == tenant, User.login_id == login_id)
    pending = select(Facility.id).where(
        Facility.tenant == tenant, Facility.administrator_login_id == login_id, Facility.status == "applied"
    )
    return (await session.execute(user.union_all(pending).limit(1))).first() is not None


async def users(session: AsyncSession, *, tenant: str, facility_id: UUID | None = None) -> Sequence[User]:
    stmt = select(User).where(User.tenant == tenant)
    if facility_id:
        stmt = stmt.where(User.facility_id == facility_id)
    return (await session.execute(stmt.order_by(User.login_id))).scalars().all()


async def active_users_of_facility(session: AsyncSession, *, facility_id: UUID) -> Sequence[User]:
    stmt = select(User).where(User.facility_id == facility_id, User.status != "disabled").with_for_update()
    return (await session.execute(stmt)).scalars().all()


# --- sign-in throttling: backoff per login ID, failures per client address -----------------------------------


async def backoff_for_update(session: AsyncSession, *, tenant: str, login_id: str) -> SignInBackoff | None:
    """Locked, so concurrent attempts on one login ID (known or not) meet its backoff one by one."""
    stmt = (
        select(SignInBackoff)
        .where(SignInBackoff.tenant == tenant, SignInBackoff.login_id == login_id)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def count_backoff_failure(
    session: AsyncSession, *, tenant: str, login_id: str, at: datetime
) -> SignInBackoff:
    """One more consecutive failure of a login ID, counted atomically (a row appears on the first)."""
    stmt = (
        insert(SignInBackoff)
        .values(tenant=tenant, login_id=login_id, consecutive_failures=1, last_failed_at=at)
        .on_conflict_do_update(
            index_elements=[SignInBackoff.tenant, SignInBackoff.login_id],
            set_={"consecutive_failures": SignInBackoff.consecutive_failures + 1, "last_failed_at": at},
        )
        .returning(SignInBackoff)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one()


async def clear_backoff(session: AsyncSession, *, tenant: str, login_id: str) -> None:
    await session.execute(
        delete(SignInBackoff).where(SignInBackoff.tenant == tenant, SignInBackoff.login_id == login_id)
    )


async def forget_old_backoffs(session: AsyncSession, *, before: datetime) -> None:
    """Rows of login IDs nobody has tried since ``before`` and whose wait is over (a bounded batch)."""
    stale = (
        select(SignInBackoff.tenant, SignInBackoff.login_id)
        .where(SignInBackoff.last_failed_at < before)
        .where(func.coalesce(SignInBackoff.blocked_until, SignInBackoff.last_failed_at) < before)
        .limit(100)
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        delete(SignInBackoff).where(tuple_(SignInBackoff.tenant, SignInBackoff.login_id).in_(stale))
    )


async def address_failures(
    session: AsyncSession, *, address: str, window_start: datetime, window: timedelta
) -> int:
    """Failures from this address in this window and the one before: a limit over 15 to 30 minutes, so a
    burst across a window's edge counts in full."""
    stmt = select(func.coalesce(func.sum(SignInFailuresByAddress.failures), 0)).where(
        SignInFailuresByAddress.address == address,
        SignInFailuresByAddress.window_start >= window_start - window,
    )
    return int((await session.execute(stmt)).scalar_one())


async def count_address_failure(
    session: AsyncSession, *, address: str, window_start: datetime, window: timedelta
) -> int:
    """One more failure from this address in this window; the first of a window also drops old windows."""
    stmt = (
        insert(SignInFailuresByAddress)
        .values(address=address, window_start=window_start, failures=1)
        .on_conflict_do_update(
            index_elements=[SignInFailuresByAddress.address, SignInFailuresByAddress.window_start],
            set_={"failures": SignInFailuresByAddress.failures + 1},
        )
        .returning(SignInFailuresByAddress.failures)
    )
    failures = (await session.execute(stmt)).scalar_one()
    if failures == 1:
        await session.execute(
            delete(SignInFailuresByAddress).where(
                SignInFailuresByAddress.window_start < window_start - window
            )
        )
    return failures
