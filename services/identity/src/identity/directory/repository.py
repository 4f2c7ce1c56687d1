"""Every query of the public directory. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, and_, case, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Facility, Network

# Member facilities only: applicants and rejected, withdrawn or abolished facilities are not listed.
LISTED_STATUSES = ("active", "suspended")


def _visible_clause(network: Network) -> list[object]:
    clauses: list[object] = [
        Facility.tenant == network.slug,
        Facility.status.in_(LISTED_STATUSES),
        Facility.published.is_(true()),
        Facility.directory_withheld.is_(false()),
    ]
    if network.directory_opt_in_only:
        clauses.append(Facility.directory_opted_in_at.is_not(None))
    return clauses


async def visible_facilities(
    session: AsyncSession, *, network: Network, name: str = "", kind: str = "", address: str = ""
) -> Sequence[Facility]:
    """A search matches only published fields, so it never reveals the rest."""
    stmt: Select[tuple[Facility]] = select(Facility).where(*_visible_clause(network))  # type: ignore[arg-type]
    if name:
        stmt = stmt.where(
            and_(Facility.publish_name.is_(true()), Facility.name.icontains(name, autoescape=True))
        )
    if kind:
        stmt = stmt.where(Facility.kind == kind)
    if address:
        stmt = stmt.where(
            and_(Facility.publish_address.is_(true()), Facility.address.icontains(address, autoescape=True))
        )
    # Facilities that hide their name sort after the named ones, by kind, never by the hidden name.
    shown_name = case((Facility.publish_name.is_(true()), Facility.name), else_=None)
    stmt = stmt.order_by(Facility.publish_name.desc(), shown_name, Facility.kind, Facility.id).limit(500)
    return (await session.execute(stmt)).scalars().all()
