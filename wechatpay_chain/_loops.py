"""What both async transports (h1, aiohttp) share: per-loop resources closed when their loop ends, and the
TLS contexts for `verify` and client certificates."""

from __future__ import annotations

import ssl
from typing import Any, AsyncGenerator, Awaitable, Callable, Dict, Optional, Tuple

from .errors import TransportError

__all__ = ["until_loop_ends", "TlsContexts"]


class TlsContexts:
    """One TLS context per client certificate (None: none), for `verify` (bool or a CA bundle path), built once."""

    def __init__(self, verify: Any) -> None:
        self.verify = verify
        self._made: Dict[Optional[Tuple[str, str]], ssl.SSLContext] = {}

    def for_request(self, request: Any) -> ssl.SSLContext:
        """`get` for a request's client certificate; one that does not load (a key that is not the certificate's,
        say) is a TransportError of kind `connect`, as the sync transport reports it: nothing was sent."""
        try:
            return self.get(request.cert)
        except (ssl.SSLError, OSError) as exc:
            problem = f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc.strerror or 'does not load'}"
        what = f"{request.method} {request.url.split('?', 1)[0]}"
        raise TransportError(f"{what} failed: the client certificate and key do not load ({problem})", "connect")

    def get(self, cert: Optional[Tuple[str, str]]) -> ssl.SSLContext:
        ctx = self._made.get(cert)
        if ctx is None:
            verify = self.verify
            ctx = ssl.create_default_context(cafile=None if isinstance(verify, bool) else verify)
            if verify is False:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if cert is not None:
                ctx.load_cert_chain(*cert)
            self._made[cert] = ctx
        return ctx


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
