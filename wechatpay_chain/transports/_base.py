"""The transport interface, and what both transports decide alike: error kinds, the total deadline, headers.

A transport moves a signed `Request`'s bytes and hands back a `Response`; it never signs or verifies
(httpx's `BaseTransport` / `AsyncBaseTransport`, PHP's Guzzle handler). The `handler` config key takes
anything that satisfies `SyncTransport` or `AsyncTransport` (a mock in unit tests).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Dict, List, Protocol, Tuple, runtime_checkable

from wechatpay_chain.errors import TransportError, WeChatPayError
from wechatpay_chain.models import Request, Response

__all__ = [
    "SyncTransport",
    "AsyncTransport",
    "CHUNK",
    "describe",
    "failure",
    "kind_of",
    "handshake_refused",
    "budget",
    "split_timeout",
    "passthrough",
    "timed_out",
]

#: bytes asked of the library per read of a body
CHUNK = 65536


@runtime_checkable
class SyncTransport(Protocol):
    """Sends one request and returns its whole answer (or a streamed one for `request.stream`)."""

    def send(self, request: Request) -> Response: ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncTransport(Protocol):
    """The asyncio twin of `SyncTransport`: `send` and `close` are coroutines."""

    async def send(self, request: Request) -> Response: ...

    async def close(self) -> None: ...


def describe(request: Request) -> str:
    """'POST https://host/path' for messages (never the query: it may carry identifiers)."""
    return f"{request.method} {request.url.split('?', 1)[0]}"


def split_timeout(timeout: Any) -> Tuple[float, float]:
    """(connect, read) seconds from a `Timeout` (one number is both)."""
    if isinstance(timeout, tuple):
        return timeout[0], timeout[1]
    return timeout, timeout


def budget(timeout: Any) -> float:
    """The whole call's deadline in seconds: connect + read. Both transports end a call whose answer is still
    arriving past it (the sync one at its next read, so at most one read timeout later)."""
    connect, read = split_timeout(timeout)
    return float(connect) + float(read)


#: what a TLS alert's reason names when the peer refuses the session itself (a certificate it does not accept,
#: or the handshake): TLS 1.3 lets the client send its request before such an alert arrives, but the service
#: never received it as a request
_REFUSALS = ("CERTIFICATE", "HANDSHAKE_FAILURE", "UNKNOWN_CA", "ACCESS_DENIED", "PROTOCOL_VERSION",
             "INSUFFICIENT_SECURITY", "NO_SHARED_CIPHER", "WRONG_VERSION_NUMBER")


def _chain(exc: BaseException) -> List[BaseException]:
    """`exc` and every exception it wraps (urllib3 and requests nest them in args and `reason`, aiohttp in
    `os_error`), each once."""
    seen: List[BaseException] = []
    todo: List[Any] = [exc]
    while todo and len(seen) < 30:
        item = todo.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend([*item.args, getattr(item, "reason", None), getattr(item, "os_error", None),
                     item.__cause__, item.__context__])
    return seen


def handshake_refused(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it wraps, shows that no TLS session was set up: a certificate that does not
    verify, or an alert refusing the handshake. A corrupt record or a reset in the middle of an answer is not
    one: the request may have been acted on."""
    for item in _chain(exc):
        if isinstance(item, (ssl.SSLCertVerificationError, ssl.CertificateError)):
            return True
        reason = getattr(item, "reason", None)
        if isinstance(item, ssl.SSLError) and isinstance(reason, str) and any(r in reason for r in _REFUSALS):
            return True
    return False


def _connect_failures() -> Tuple[type, ...]:
    """The library exceptions that mean the connection was never made: no byte of the request was sent."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProxyError

    found: List[type] = [requests.ConnectTimeout, requests.exceptions.ProxyError,
                         ConnectTimeoutError, NewConnectionError, ProxyError]
    aiohttp = _aiohttp_if_loaded()
    if aiohttp is not None:
        # DNS, refused, the proxy, the TLS handshake (its own certificate and SSL errors), the connect timeout
        found += [aiohttp.ClientConnectorError, aiohttp.ClientProxyConnectionError, aiohttp.ConnectionTimeoutError]
    return tuple(found)


def _timeouts() -> Tuple[type, ...]:
    import requests
    from urllib3.exceptions import ReadTimeoutError

    found: List[type] = [requests.Timeout, ReadTimeoutError, asyncio.TimeoutError, TimeoutError]
    aiohttp = _aiohttp_if_loaded()
    if aiohttp is not None:
        found.append(aiohttp.ServerTimeoutError)
    return tuple(found)


def _aiohttp_if_loaded() -> Any:
    """aiohttp's module if something imported it already (a sync-only user never pays its import)."""
    import sys

    return sys.modules.get("aiohttp")


_CACHE: Dict[bool, Tuple[Tuple[type, ...], Tuple[type, ...]]] = {}


def kind_of(exc: BaseException) -> str:
    """The `TransportError.kind` for a library's exception, by one rule for both transports:

    'connect' only when the request provably never reached the service (DNS, refused, a connect timeout, the
    proxy refusing, a TLS handshake refused by a certificate or an alert); 'timeout' when no answer came in
    time (the request may have been acted on); 'read' for everything else once bytes may have left."""
    key = _aiohttp_if_loaded() is not None
    classes = _CACHE.get(key)
    if classes is None:
        classes = _CACHE[key] = (_connect_failures(), _timeouts())
    connects, timeouts = classes
    for item in _chain(exc):
        if isinstance(item, connects):
            return "connect"
    if handshake_refused(exc):
        return "connect"
    if any(isinstance(item, timeouts) for item in _chain(exc)):
        return "timeout"
    return "read"


def failure(request: Request, exc: BaseException, stage: str = "failed") -> TransportError:
    """The TransportError for a library exception (chained by the caller with `from exc`)."""
    return TransportError(f"{describe(request)} {stage}: {type(exc).__name__}: {exc}", kind_of(exc))


def passthrough(exc: BaseException) -> bool:
    """Our own errors (raised inside a transport by our checks) are not the library's, and a warning the caller
    turned into an error (urllib3's InsecureRequestWarning under `-W error`) is theirs: both pass unchanged."""
    return isinstance(exc, (WeChatPayError, Warning))


def timed_out(request: Request, seconds: float) -> TransportError:
    return TransportError(f"{describe(request)} timed out: no whole answer within {seconds:g} s", "timeout")
