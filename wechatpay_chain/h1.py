"""The lean async transport: one request at a time over pooled keep-alive HTTP/1.1 connections.

Per call, aiohttp's request machinery (ClientRequest, ClientResponse, tracing, cookie jar, timers) costs
about 300 µs of event-loop CPU here, against about 60 µs for writing one prepared request and parsing
its answer. In an asyncio service that loop time is the ceiling on throughput, so the common case (a
whole request body, a whole response, no proxy) goes through this module. Streamed bodies (MediaUtil
uploads, `stream=True` downloads) and proxies go through aiohttp, as does everything when the config
says `'async_transport': 'aiohttp'`.

Two parts, h11-style: `ResponseParser` is pure (fed bytes, it says when one response is complete and
whether the connection may be reused) and `_Connection` is the asyncio Protocol that feeds it.
Framing follows RFC 9112: Content-Length, chunked, or delimited by the server closing.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import zlib
from collections import deque
from typing import Any, Deque, Dict, List, Mapping, Optional, Tuple

from ._loops import TlsContexts, until_loop_ends
from .errors import TransportError
from .models import TOKEN, Request, Response

__all__ = ["H1Transport", "ResponseParser", "ProtocolError", "encode_request"]

MAX_HEAD = 65536  # bytes of status line + headers (aiohttp and h11 use 8-64 KiB)
IDLE_SECONDS = 15.0  # a kept-alive connection idle longer is not reused (aiohttp's keepalive_timeout)

_STATUS = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n]*))?")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DIGITS = re.compile(r"[0-9]{1,19}")
_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f]")
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})

# parser states
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_EOF, _DONE = range(8)


class ProtocolError(Exception):
    """The peer broke HTTP/1.1 framing; the connection cannot be used any more."""


class ResponseParser:
    """Incremental parser for one HTTP/1.1 response (sans-I/O). `feed()` bytes, then `eof()` when the peer closes.

    When `done`: `status`, `reason`, `headers` (name, value pairs as sent), `body` (content-decoded) and
    `keep_alive` (the connection may carry the next request).
    """

    __slots__ = (
        "status",
        "reason",
        "headers",
        "keep_alive",
        "done",
        "_head_only",
        "_buf",
        "_state",
        "_left",
        "_parts",
        "_encoding",
        "_trailer",
        "_text",
    )

    def __init__(self, head_only: bool = False, text: str = "utf-8") -> None:
        self._text = text  # how header values are decoded (http.client, hence the sync path: latin-1)
        self.status = 0
        self.reason = ""
        self.headers: List[Tuple[str, str]] = []
        self.keep_alive = True
        self.done = False
        self._head_only = head_only
        self._buf = bytearray()
        self._state = _HEAD
        self._left = 0
        self._parts: List[bytes] = []
        self._encoding = ""
        self._trailer = 0

    @property
    def raw_body(self) -> bytes:
        """The body as it came, still content-encoded."""
        return b"".join(self._parts)

    @property
    def body(self) -> bytes:
        data = b"".join(self._parts)
        coding = self._encoding
        if not coding or coding == "identity" or not data:
            return data
        try:
            if coding in ("gzip", "x-gzip"):
                return zlib.decompress(data, 16 + zlib.MAX_WBITS)
            if coding == "deflate":  # zlib-wrapped as the RFC says, or raw as some servers send
                try:
                    return zlib.decompress(data)
                except zlib.error:
                    return zlib.decompress(data, -zlib.MAX_WBITS)
        except zlib.error as exc:
            raise ProtocolError(f"the {coding} body does not decompress: {exc}") from None
        raise ProtocolError(f"unsupported Content-Encoding {coding[:32]!r} (we asked for none)")

    def feed(self, data: bytes) -> None:
        if self.done:
            if data:  # a late or unsolicited byte: the response stands, the connection is not reused
                self.keep_alive = False
            return
        buf = self._buf
        buf += data
        while True:
            state = self._state
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0 or end > MAX_HEAD:
                    if len(buf) > MAX_HEAD:
                        raise ProtocolError(f"response head larger than {MAX_HEAD} bytes")
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                self._start(head)
            elif state == _LENGTH or state == _CHUNK_DATA:
                if not buf:
                    return
                take = min(self._left, len(buf))
                self._parts.append(bytes(buf[:take]))
                del buf[:take]
                self._left -= take
                if self._left:
                    return
                if state == _LENGTH:
                    self._finish()
                else:
                    self._state = _CHUNK_END
            elif state == _CHUNK_SIZE:
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > 1024:
                        raise ProtocolError("chunk size line too long")
                    return
                size = bytes(buf[:end]).split(b";", 1)[0].strip(b" \t")
                del buf[: end + 2]
                if not _HEX.fullmatch(size):
                    raise ProtocolError(f"bad chunk size {size[:20]!r}")
                self._left = int(size, 16)
                self._state = _CHUNK_DATA if self._left else _TRAILERS
            elif state == _CHUNK_END:
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise ProtocolError("chunk not followed by CRLF")
                del buf[:2]
                self._state = _CHUNK_SIZE
            elif state == _TRAILERS:  # trailer fields are read and dropped (none are signed)
                end = buf.find(b"\r\n")
                if end < 0:
                    if self._trailer + len(buf) > MAX_HEAD:
                        raise ProtocolError("trailer section too large")
                    return
                self._trailer += end + 2
                del buf[: end + 2]
                if end == 0:
                    self._finish()
            elif state == _UNTIL_EOF:
                if buf:
                    self._parts.append(bytes(buf))
                    buf.clear()
                return
            else:  # _DONE: bytes past the end are not ours to read; the connection is not reused
                if buf:
                    self.keep_alive = False
                    buf.clear()
                return

    def eof(self) -> None:
        """The peer closed: that ends a close-delimited body; anything else is a truncated response."""
        if self.done:
            return
        if self._state == _UNTIL_EOF:
            self._finish()
            return
        raise ProtocolError("connection closed before the response was complete")

    def _start(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        match = _STATUS.fullmatch(lines[0])
        if match is None:
            raise ProtocolError(f"bad status line {lines[0][:64]!r}")
        status = int(match.group(2))
        if 100 <= status < 200:  # interim (100 Continue, 103 Early Hints): no body, the real answer follows
            if status == 101:
                raise ProtocolError("unexpected 101 Switching Protocols")
            return
        headers: List[Tuple[str, str]] = []
        for raw in lines[1:]:
            if raw[:1] in (b" ", b"\t"):  # obsolete line folding: join to the previous value (RFC 9112 5.2)
                if not headers:
                    raise ProtocolError("folded line before the first header")
                name, value = headers[-1]
                headers[-1] = (name, value + " " + raw.strip(b" \t").decode(self._text, "surrogateescape"))
                continue
            name_b, sep, value_b = raw.partition(b":")
            name = name_b.decode("latin-1")
            if not sep or not TOKEN.fullmatch(name):
                raise ProtocolError(f"bad header line {raw[:64]!r}")
            headers.append((name, value_b.strip(b" \t").decode(self._text, "surrogateescape")))
        self.status, self.headers = status, headers
        self.reason = (match.group(3) or b"").decode("latin-1")
        self._framing(match.group(1) == b"1")

    def _framing(self, http11: bool) -> None:
        lengths: List[str] = []
        chunked = False
        connection = ""
        for name, value in self.headers:
            low = name.lower()
            if low == "content-length":
                lengths.extend(v.strip() for v in value.split(","))
            elif low == "transfer-encoding":
                codings = [c.strip().lower() for c in value.split(",") if c.strip()]
                if not codings or codings[-1] != "chunked":
                    raise ProtocolError(f"unsupported Transfer-Encoding {value[:32]!r}")
                chunked = True
            elif low == "connection":
                connection += "," + value.lower()
            elif low == "content-encoding":
                self._encoding = value.strip().lower()
        tokens = {t.strip() for t in connection.split(",")}
        self.keep_alive = "close" not in tokens if http11 else "keep-alive" in tokens
        if self._head_only or self.status in (204, 304):
            self._finish()
        elif chunked:
            if lengths:  # both: chunked wins, and the connection is not trusted afterwards (RFC 9112 6.3)
                self.keep_alive = False
            self._state = _CHUNK_SIZE
        elif lengths:
            if len(set(lengths)) != 1 or not _DIGITS.fullmatch(lengths[0]):
                raise ProtocolError(f"bad Content-Length {','.join(lengths)[:40]!r}")
            self._left = int(lengths[0])
            if self._left:
                self._state = _LENGTH
            else:
                self._finish()
        else:
            self.keep_alive = False
            self._state = _UNTIL_EOF

    def _finish(self) -> None:
        self._state = _DONE
        self.done = True


def encode_request(request: Request, host: str) -> bytes:
    """The request head and body, as one bytes object. Framing headers are ours: the body is whole bytes."""
    body = request.body if isinstance(request.body, bytes) else b""
    target = request.target
    if _UNSAFE_TARGET.search(target):
        raise TransportError(f"request target {target[:60]!r} has a space or control character", "connect")
    lines = [f"{request.method} {target} HTTP/1.1"]
    given_host = False
    for name, value in request.headers.items():
        low = name.lower()
        if low in _FRAMING:
            if low != "host":
                continue
            given_host = True
        if not TOKEN.fullmatch(name) or "\r" in value or "\n" in value or "\0" in value:
            raise TransportError(f"header {name[:40]!r} has a name or value that cannot be sent", "connect")
        lines.append(f"{name}: {value}")
    if not given_host:
        lines.insert(1, f"Host: {host}")
    if body or request.method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8") + body


class _Unsent(ConnectionError):
    """The connection was gone before any byte of the request was written: nothing reached the service."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection carrying one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: Optional[asyncio.Transport] = None
        self.parser: Optional[ResponseParser] = None
        self.waiter: Optional[asyncio.Future[ResponseParser]] = None
        self.closed = False
        self.idle_since = 0.0
        self._timer: Optional[asyncio.TimerHandle] = None
        self._read_timeout = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    async def exchange(self, data: bytes, parser: ResponseParser, read_timeout: float) -> ResponseParser:
        assert self.transport is not None
        if self.closed or self.transport.is_closing():  # asyncio would drop the write without a word
            raise _Unsent("the connection closed before the request was written")
        self.parser, self.waiter, self._read_timeout = parser, self.loop.create_future(), read_timeout
        self.transport.write(data)
        self._timer = self.loop.call_later(read_timeout, self._timed_out)
        try:
            return await self.waiter
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self.parser = self.waiter = None

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:  # bytes nobody asked for: this connection cannot be trusted
            self.abort()
            return
        try:
            parser.feed(data)
        except ProtocolError as exc:
            self._fail(exc)
            return
        if parser.done:
            self._resolve(parser)
        elif self._timer is not None:  # the read timeout is per read, as in requests and aiohttp
            self._timer.cancel()
            self._timer = self.loop.call_later(self._read_timeout, self._timed_out)

    def eof_received(self) -> Optional[bool]:
        self._ended(None)
        return None

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closed = True
        self._ended(exc)

    def _ended(self, exc: Optional[Exception]) -> None:
        self.closed = True
        parser = self.parser
        if parser is None or self.waiter is None or self.waiter.done():
            return
        try:
            if exc is not None:  # a reset is not the end of a body: only a clean close delimits one
                raise ProtocolError(f"connection lost before the response was complete: {exc!r}")
            parser.eof()
        except ProtocolError as error:
            if exc is not None:
                error.__cause__ = exc
            self._fail(error)
            return
        self._resolve(parser)

    def _resolve(self, parser: ResponseParser) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(parser)

    def _fail(self, exc: BaseException) -> None:
        self.abort()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(asyncio.TimeoutError(f"no data for {self._read_timeout:g}s"))

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class _Pool:
    """Idle connections to one origin, and a cap on how many are open at once (config `pool_maxsize`)."""

    def __init__(self, limit: int) -> None:
        self.idle: Deque[_Connection] = deque()
        self.slots = asyncio.Semaphore(limit)

    def take(self, now: float) -> Optional[_Connection]:
        while self.idle:
            conn = self.idle.pop()  # the most recently used is the least likely to have been closed
            if not conn.closed and now - conn.idle_since < IDLE_SECONDS and not conn.transport.is_closing():  # type: ignore[union-attr]
                return conn
            conn.abort()
        return None

    def close(self) -> None:
        while self.idle:
            self.idle.pop().abort()


class H1Transport:
    """Sends a signed `Request` over pooled HTTP/1.1 connections of the running loop (one pool set per loop)."""

    user_agent = "asyncio"

    def __init__(self, options: Mapping[str, Any]) -> None:
        self._options = options
        self._limit = int(options.get("pool_maxsize", 100))
        self._tls = TlsContexts(options.get("verify", True))
        self._states: Dict[asyncio.AbstractEventLoop, Tuple[Dict[Any, _Pool], Any]] = {}
        self._origins: Dict[str, Tuple[str, str, int, str]] = {}
        self._fallback: Any = None

    def _origin(self, url: str) -> Tuple[str, str, int, str]:
        """(scheme, host, port, Host header) of a URL, parsed once per origin."""
        cut = url.find("/", url.find("//") + 2)
        origin = url if cut < 0 else url[:cut]
        found = self._origins.get(origin)
        if found is None:
            from urllib.parse import urlsplit

            parts = urlsplit(origin)
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https") or not parts.hostname:
                raise TransportError(f"cannot send to {origin[:80]!r}: only http(s) URLs", "connect")
            port = parts.port or (443 if scheme == "https" else 80)
            host = parts.hostname
            header = parts.netloc.rsplit("@", 1)[-1]
            found = self._origins[origin] = (scheme, host, port, header)
        return found

    async def send(self, request: Request) -> Response:
        if request.stream or (request.body is not None and not isinstance(request.body, bytes)):
            streamed: Response = await self._aiohttp().send(request)
            return streamed
        loop = asyncio.get_running_loop()
        entry = self._states.get(loop)
        if entry is None:
            entry = await self._new_state(loop)
        pools = entry[0]
        scheme, host, port, header = self._origin(request.url)
        ctx = self._tls.for_request(request) if scheme == "https" else None
        key = (host, port, ctx)
        pool = pools.get(key)
        if pool is None:
            pool = pools[key] = _Pool(self._limit)
        timeout = request.timeout
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        what = f"{request.method} {request.url.split('?', 1)[0]}"
        data = encode_request(request, header)
        connect_s = float(connect or 0) or None
        slots = pool.slots
        if not slots.locked():
            await slots.acquire()  # a free slot: taken at once
        else:  # waiting for one (`pool_maxsize` calls in flight) counts against the connect timeout, as in aiohttp
            try:
                await asyncio.wait_for(slots.acquire(), connect_s)
            except asyncio.TimeoutError as exc:
                raise TransportError(
                    f"{what} failed: no connection free within the connect timeout ({connect_s:g}s; "
                    f"pool_maxsize {self._limit})", "connect"
                ) from exc
        try:
            conn = pool.take(loop.time())
            if conn is None:
                conn = await self._connect(loop, host, port, ctx, connect_s, what)
            reusable = False
            try:
                parser = await conn.exchange(data, ResponseParser(request.method == "HEAD"), float(read or 0) or 1e9)
                content = parser.body
                # reused only when the answer was whole and all of our request went out (a server may answer,
                # say 413, before reading a large body: what is left unsent would precede the next request)
                reusable = parser.keep_alive and not conn.closed and not conn.transport.get_write_buffer_size()  # type: ignore[union-attr]
            except _Unsent as exc:
                raise TransportError(f"{what} failed: {exc}", "connect") from exc
            except asyncio.TimeoutError as exc:
                raise TransportError(f"{what} failed: read timeout: {exc}", "timeout") from exc
            except (ProtocolError, OSError) as exc:
                raise TransportError(f"{what} failed: {type(exc).__name__}: {exc}", "read") from exc
            finally:
                if reusable:
                    conn.idle_since = loop.time()
                    pool.idle.append(conn)
                else:
                    conn.abort()
        finally:
            slots.release()
        return Response.build(parser.status, parser.headers, content, request.url, parser.reason)

    async def _new_state(self, loop: asyncio.AbstractEventLoop) -> Tuple[Dict[Any, _Pool], Any]:
        for other in [lp for lp in list(self._states) if lp.is_closed()]:  # closed without asyncio.run's cleanup
            self._states.pop(other, None)
        pools: Dict[Any, _Pool] = {}
        async def close() -> None:
            for pool in pools.values():
                pool.close()
            await asyncio.sleep(0)  # let the aborted transports run connection_lost and close their sockets

        keeper = until_loop_ends(self._states, loop, pools, close)
        await keeper.__anext__()
        entry = self._states[loop] = (pools, keeper)
        return entry

    async def _connect(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        ctx: Optional[ssl.SSLContext],
        timeout: Optional[float],
        what: str,
    ) -> _Connection:
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(loop), host, port, ssl=ctx), timeout
            )
        except asyncio.TimeoutError as exc:
            raise TransportError(f"{what} failed: connect timeout after {timeout:g}s", "connect") from exc
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake and certificate errors
            raise TransportError(f"{what} failed: {type(exc).__name__}: {exc}", "connect") from exc
        return conn

    def _aiohttp(self) -> Any:
        if self._fallback is None:
            from .aio import AiohttpTransport

            self._fallback = AiohttpTransport(self._options)
        return self._fallback

    async def close(self) -> None:
        """Close the running loop's connections (other loops' close when those loops shut down)."""
        loop = asyncio.get_running_loop()
        entry = self._states.pop(loop, None)
        if entry is not None:
            for pool in entry[0].values():
                pool.close()
            await entry[1].aclose()
        if self._fallback is not None:
            await self._fallback.close()
