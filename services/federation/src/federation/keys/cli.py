"""`python -m federation rotate-key`: the contractor's rotation from the command line (audited as the CLI)."""

from __future__ import annotations

from yui_common import audit
from yui_common.db import create_engine, create_sessionmaker
from yui_common.settings import CommonSettings

from federation.keys import service
from federation.settings import Settings


async def rotate_key_command(settings: CommonSettings) -> int:
    """Publish a new federation key; it signs after key_publish_ahead_s (YUI_FEDERATION_KEY_PUBLISH_AHEAD_S=0
    makes it sign at once, for a key believed leaked; the old one still verifies for the retry window)."""
    assert isinstance(settings, Settings)
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            key = await service.rotate(session, settings, publish_ahead_s=None)
            await audit.record(
                session,
                tenant="-",
                actor_id="cli",
                action="federation.key.rotated",
                target=f"kid:{key.kid}",
                detail={"activate_at": key.activate_at.isoformat() if key.activate_at else None},
            )
    finally:
        await engine.dispose()
    when = f"{key.activate_at:%Y-%m-%d %H:%M:%S %Z}" if key.activate_at else "now"
    print(f"federation: key {key.kid} is published ({key.state}); it signs from {when}")
    return 0
