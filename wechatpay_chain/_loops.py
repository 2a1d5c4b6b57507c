"""Per-event-loop resources (the async transports' pools and sessions), closed when their loop ends."""

from __future__ import annotations

from typing import Any, AsyncGenerator, Awaitable, Callable, Dict

__all__ = ["until_loop_ends"]


async def until_loop_ends(
    table: Dict[Any, Any], loop: Any, entry: Any, close: Callable[[], Awaitable[None]]
) -> AsyncGenerator[None, None]:
    """A parked async generator (advance it once after creating it): `asyncio.run` finalises it at loop
    shutdown, and it then forgets `loop` in `table` (if `entry` is still what the loop maps to) and awaits
    `close()`, so a finished loop is neither kept alive by the table nor left with open connections."""
    try:
        yield
        yield  # pragma: no cover - never resumed
    finally:
        if table.get(loop, (None,))[0] is entry:
            del table[loop]
        await close()
