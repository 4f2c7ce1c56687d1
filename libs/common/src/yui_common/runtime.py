"""The event loop every Yui process runs on: uvloop where it is installed, asyncio's own otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop: the API servers (uvicorn picks it itself) and the workers share one loop kind.

    uvloop roughly halves the per-message CPU of aio-pika and asyncpg, which is most of a worker's work.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop (Windows, PyPy)
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
