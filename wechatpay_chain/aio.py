"""The async transport: aiohttp (imported only when first used), one ClientSession per running event loop."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, AsyncIterator, Dict, Mapping, Optional, Tuple

import aiohttp
from yarl import URL

from ._loops import TlsContexts, until_loop_ends
from .errors import TransportError
from .models import Request, Response

__all__ = ["AiohttpTransport"]


class AiohttpTransport:
    """Sends a signed `Request` with aiohttp; sessions are per event loop, so successive asyncio.run calls work."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.user_agent = f"aiohttp/{aiohttp.__version__}"
        self._limit = int(options.get("pool_maxsize", 100))
        proxies = options.get("proxies") or {}
        self._proxies: Mapping[str, str] = proxies
        verify = options.get("verify", True)
        self._ssl: Any = verify if isinstance(verify, bool) else ssl.create_default_context(cafile=verify)
        self._tls = TlsContexts(verify)  # with a client certificate (APIv2 mTLS)
        self._timeouts: Dict[Any, aiohttp.ClientTimeout] = {}
        self._sessions: Dict[asyncio.AbstractEventLoop, Tuple[aiohttp.ClientSession, Any]] = {}

    async def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        entry = self._sessions.get(loop)
        if entry is not None and not entry[0].closed:
            return entry[0]
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._limit, ssl=self._ssl),
            skip_auto_headers=("User-Agent",),
        )
        keeper = until_loop_ends(self._sessions, loop, session, session.close)
        await keeper.__anext__()
        self._sessions[loop] = (session, keeper)
        return session

    def _ssl_for(self, request: Request) -> Any:
        return self._ssl if request.cert is None else self._tls.for_request(request)

    def _timeout(self, timeout: Any) -> aiohttp.ClientTimeout:
        """A ClientTimeout per distinct value, built once."""
        found = self._timeouts.get(timeout)
        if found is None:
            connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
            found = self._timeouts[timeout] = aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read)
        return found

    async def send(self, request: Request) -> Response:
        session = await self._session()
        proxy: Optional[str] = self._proxies.get(request.url.split(":", 1)[0]) if self._proxies else None
        headers, data = dict(request.headers), request.body
        if data is not None and not isinstance(data, bytes):  # a streamed body (MediaUtil): async chunks
            stream: Any = data
            headers.setdefault("Content-Length", str(len(stream)))
            data = stream.__aiter__()
        what = f"{request.method} {request.url.split('?', 1)[0]}"
        ssl_context = self._ssl_for(request)  # outside the try: a client key that does not load is `connect`
        try:
            r = await session.request(
                request.method,
                URL(request.url, encoded=True),
                headers=headers,
                data=data,
                timeout=self._timeout(request.timeout),
                ssl=ssl_context,
                proxy=proxy,
                allow_redirects=False,
            )
            if request.stream and 200 <= r.status < 300:
                return Response.build(r.status, r.headers.items(), b"", request.url, r.reason or "", _Body(r, what))
            try:
                content = await r.read()
            finally:
                r.release()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise TransportError(f"{what} failed: {type(exc).__name__}: {exc}", _kind(exc)) from exc
        return Response.build(r.status, r.headers.items(), content, request.url, r.reason or "")

    async def close(self) -> None:
        """Close the session of the running loop (others close when their loop shuts down)."""
        loop = asyncio.get_running_loop()
        entry = self._sessions.pop(loop, None)
        if entry is not None:
            await entry[0].close()
            await entry[1].aclose()


def _kind(exc: BaseException) -> str:
    """'connect' only when nothing can have reached the service."""
    if isinstance(exc, (aiohttp.ClientConnectorError, getattr(aiohttp, "ConnectionTimeoutError", ()))):
        return "connect"
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    return "read"


class _Body:
    """A streamed download: chunks straight from the socket; the connection is released at the end."""

    def __init__(self, response: aiohttp.ClientResponse, what: str) -> None:
        self._r, self._what = response, what

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._r.content.iter_chunked(65536):
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise TransportError(f"{self._what} failed mid-body: {type(exc).__name__}: {exc}") from exc
        finally:
            self._r.release()

    def close(self) -> None:
        self._r.release()
