"""The async transport: aiohttp (imported only when first used), one ClientSession per running event loop.

The session is made on the first async call in a loop and closed when that loop shuts down (or by
`close_async()` / `async with client`). Trust and proxies come from `network.Network`, the same resolution
the sync transport applies; redirects are never followed; the whole call has a total deadline
(`ClientTimeout.total`), head included. aiohttp's own content decoding is off: a coded body is decoded as
the sync transport decodes it (`network.decode_content`), so both give the same bytes.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncGenerator, AsyncIterator, Awaitable, Callable, Dict, Mapping, Tuple

import aiohttp
from yarl import URL

from wechatpay_chain.models import Headers, Request, Response
from wechatpay_chain.transports._base import CHUNK, budget, failure, passthrough, split_timeout
from wechatpay_chain.transports._network import Network, decode_content, unverified

__all__ = ["AiohttpTransport"]

#: headers aiohttp would add on its own; the request carries the ones it needs (the sync transport adds none)
_SKIP = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")


class AiohttpTransport:
    """Sends a signed `Request` with aiohttp; sessions are per event loop, so successive asyncio.run calls work."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.user_agent = f"aiohttp/{aiohttp.__version__}"
        self._limit = int(options.get("pool_maxsize", 100))  # aiohttp's own default when not configured
        self.network = Network(options)
        self._timeouts: Dict[Tuple[Any, bool], aiohttp.ClientTimeout] = {}
        self._sessions: Dict[asyncio.AbstractEventLoop, Tuple[aiohttp.ClientSession, Any]] = {}

    async def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        entry = self._sessions.get(loop)
        if entry is not None and not entry[0].closed:
            return entry[0]
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._limit),
            skip_auto_headers=_SKIP,
            auto_decompress=False,
            trust_env=False,  # proxies come from `Network` (as the sync path); no netrc credentials
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        keeper = _until_loop_ends(self._sessions, loop, session, session.close)
        await keeper.__anext__()
        self._sessions[loop] = (session, keeper)
        return session

    def _timeout(self, timeout: Any, stream: bool) -> aiohttp.ClientTimeout:
        """A ClientTimeout per distinct value, built once: `connect` bounds the wait for a pooled connection and
        the connection itself, `sock_read` each read, `total` the whole call (not a streamed download's body,
        whose length is the caller's: there each read is bounded, as on the sync transport)."""
        found = self._timeouts.get((timeout, stream))
        if found is None:
            connect, read = split_timeout(timeout)
            found = aiohttp.ClientTimeout(
                total=None if stream else budget(timeout), connect=connect, sock_connect=connect, sock_read=read
            )
            self._timeouts[(timeout, stream)] = found
        return found

    async def send(self, request: Request) -> Response:
        ssl_context = self.network.tls_for(request)
        if self.network.verify is False and request.url[:6].lower() == "https:":
            unverified(request.url)  # as urllib3 warns on the sync transport
        proxy = self.network.proxy(request.url)
        session = await self._session()
        given = request.headers
        headers = given.as_dict() if isinstance(given, Headers) else dict(given)
        if "Accept-Encoding" not in given and "accept-encoding" not in given:
            headers["Accept-Encoding"] = "identity"  # what urllib3 sends on the sync transport
        data: Any = request.body
        if data is not None and not isinstance(data, (bytes, bytearray)):  # a streamed upload (MediaUtil)
            headers.setdefault("Content-Length", str(len(data)))
            data = data.__aiter__()
        try:
            r = await session.request(
                request.method,
                URL(request.url, encoded=True),
                headers=headers,
                data=data,
                timeout=self._timeout(request.timeout, request.stream),
                ssl=ssl_context,
                proxy=proxy,
                allow_redirects=False,
            )
        except Exception as exc:
            if passthrough(exc):
                raise
            raise failure(request, exc) from exc
        found = Headers.joined([(k.decode("latin-1"), v.decode("latin-1")) for k, v in r.raw_headers])
        coding = found.get("Content-Encoding")
        if request.stream and coding is None and 200 <= r.status < 300:
            return Response(r.status, found, b"", request.url, r.reason or "", _Body(r, request))
        try:
            content = await r.read()
            if coding is not None:
                content = decode_content(content, coding, r.status)
        except Exception as exc:
            raise failure(request, exc, "failed mid-body") from exc
        finally:
            r.release()
        return Response(r.status, found, content, request.url, r.reason or "")

    async def close(self) -> None:
        """Close the session of the running loop (others close when their loop shuts down)."""
        loop = asyncio.get_running_loop()
        entry = self._sessions.pop(loop, None)
        if entry is not None:
            await entry[0].close()
            await entry[1].aclose()


async def _until_loop_ends(
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


class _Body:
    """A streamed download: chunks as they arrive; the connection is released at the end."""

    def __init__(self, response: aiohttp.ClientResponse, request: Request) -> None:
        self._r, self._request = response, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._r.content.iter_chunked(CHUNK):
                yield chunk
        except Exception as exc:
            raise failure(self._request, exc, "failed mid-body") from exc
        finally:
            self._r.release()

    def close(self) -> None:
        self._r.release()
