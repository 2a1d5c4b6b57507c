"""The sync transport: requests' pooled adapter. It moves bytes; it never signs or verifies.

The cheapest path through requests: for a session we own and no proxy, the request goes straight
to the mounted adapter's urllib3 connection pool (no Session.send merging, hooks or cookie jar);
a caller's own Session, or a proxy, goes through the mounted adapter's `send`, so custom adapters,
proxies, CA bundles and client certificates keep working.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

from .errors import TransportError
from .models import Request, Response

__all__ = ["RequestsTransport"]

_CHUNK = 65536


class RequestsTransport:
    """Sends a signed `Request` through one pooled `requests.Session` (thread-safe for concurrent sends).

    A caller-given `session` keeps its adapters, proxies, `verify` and `cert`, and is not closed by us.
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.user_agent = f"requests/{requests.__version__}"
        session: Optional[requests.Session] = options.get("session")
        self._owned = session is None
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(
                pool_connections=int(options.get("pool_connections", 10)),
                pool_maxsize=int(options.get("pool_maxsize", 32)),
            )
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        self._proxies: Optional[Mapping[str, str]] = options.get("proxies")
        self._verify: Any = options.get("verify", True if self._owned else session.verify)
        self._pools: Dict[Tuple[str, Any], Any] = {}
        self._routes: Dict[str, Mapping[str, str]] = {}
        self._lock = threading.Lock()

    def _proxies_for(self, url: str, origin: str) -> Mapping[str, str]:
        """Configured proxies, else the session's, else the environment's (resolved once per origin)."""
        if self._proxies is not None:
            return self._proxies
        route = self._routes.get(origin)
        if route is None:
            route = dict(self.session.proxies)
            if self.session.trust_env:
                route = {**requests.utils.get_environ_proxies(url), **route}
            self._routes[origin] = route
        return route

    def send(self, request: Request) -> Response:
        url = request.url
        origin = url[: url.find("/", url.find("//") + 2)]
        headers = dict(request.headers)
        if request.body is not None and not isinstance(request.body, (bytes, bytearray)):
            headers.setdefault("Content-Length", str(len(request.body)))  # type: ignore[arg-type]
        proxies = self._proxies_for(url, origin)
        cert = request.cert or (None if self._owned else self.session.cert)
        what = f"{request.method} {url.split('?', 1)[0]}"
        try:
            if self._owned and not any(proxies.values()):
                return self._direct(request, origin, headers, cert, what)
            return self._adapter(request, headers, proxies, cert, what)
        except (requests.RequestException, HTTPError, OSError) as exc:
            raise TransportError(f"{what} failed: {type(exc).__name__}: {exc}", _kind(exc)) from exc

    def _direct(self, request: Request, origin: str, headers: Dict[str, str], cert: Any, what: str) -> Response:
        """Straight to the adapter's urllib3 pool for this origin (fetched once per origin and cert)."""
        key = (origin, cert)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pool(request, key)
        timeout = request.timeout
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        try:
            r = pool.urlopen(
                request.method,
                request.target,
                body=request.body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=not request.stream,
                decode_content=True,
                timeout=urllib3.Timeout(connect=connect, read=read),
            )
        except ClosedPoolError:  # the pool manager evicted it: fetch a fresh one once
            self._pools.pop(key, None)
            return self._direct(request, origin, headers, cert, what)
        if request.stream and 200 <= r.status < 300:
            return Response.build(r.status, r.headers.items(), b"", request.url, r.reason or "", _Raw(r, what))
        return Response.build(r.status, r.headers.items(), r.data, request.url, r.reason or "")

    def _pool(self, request: Request, key: Tuple[str, Any]) -> Any:
        """The adapter's pool for this (origin, cert), fetched once and kept."""
        cert = key[1]
        adapter: Any = self.session.get_adapter(request.url)
        probe = requests.PreparedRequest()
        probe.url, probe.method, probe.headers = request.url, request.method, requests.structures.CaseInsensitiveDict()
        get = getattr(adapter, "get_connection_with_tls_context", None)
        if get is not None:
            pool = get(probe, self._verify, proxies={}, cert=cert)
        else:  # requests < 2.32.2
            pool = adapter.get_connection(request.url, {})
            adapter.cert_verify(pool, request.url, self._verify, cert)
        with self._lock:
            self._pools[key] = pool
        return pool

    def _adapter(
        self, request: Request, headers: Dict[str, str], proxies: Mapping[str, str], cert: Any, what: str
    ) -> Response:
        """Through the mounted adapter: the caller's own adapters, proxies and TLS settings apply."""
        prepared = requests.PreparedRequest()
        prepared.method, prepared.url, prepared.body = request.method, request.url, request.body  # type: ignore[assignment]
        prepared.headers = requests.structures.CaseInsensitiveDict(headers)
        adapter = self.session.get_adapter(request.url)
        r = adapter.send(
            prepared, stream=request.stream, timeout=request.timeout, verify=self._verify, cert=cert, proxies=proxies
        )
        if request.stream and 200 <= r.status_code < 300:
            return Response.build(r.status_code, r.headers, b"", request.url, r.reason or "", _Body(r, what))
        return Response.build(r.status_code, r.headers, r.content, request.url, r.reason or "")

    def close(self) -> None:
        if self._owned:
            self.session.close()
        self._pools.clear()


def _kind(exc: BaseException) -> str:
    """'connect' only when nothing can have reached the service."""
    if isinstance(exc, (requests.ConnectTimeout, ConnectTimeoutError, NewConnectionError, SSLError, ProxyError)):
        return "connect"
    if isinstance(exc, (requests.Timeout, ReadTimeoutError, TimeoutError)):
        return "timeout"
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
    if isinstance(exc, requests.exceptions.SSLError) or isinstance(reason, (NewConnectionError, ConnectTimeoutError)):
        return "connect"
    return "read"


class _Raw:
    """A streamed download from urllib3: chunks straight from the socket; the connection is released at the end."""

    def __init__(self, response: Any, what: str) -> None:
        self._r, self._what = response, what

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._r.stream(_CHUNK, decode_content=True)
        except (HTTPError, OSError) as exc:
            raise TransportError(f"{self._what} failed mid-body: {type(exc).__name__}: {exc}", "read") from exc
        finally:
            self._r.release_conn()

    def close(self) -> None:
        self._r.release_conn()


class _Body:
    """A streamed download through an adapter (requests.Response)."""

    def __init__(self, response: requests.Response, what: str) -> None:
        self._r, self._what = response, what

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._r.iter_content(_CHUNK)
        except requests.RequestException as exc:
            raise TransportError(f"{self._what} failed mid-body: {type(exc).__name__}: {exc}", "read") from exc
        finally:
            self._r.close()

    def close(self) -> None:
        self._r.close()
