"""The sync transport: requests' pooled adapter. It moves bytes; it never signs or verifies.

The cheapest path through requests: for a session we own and no proxy, the request goes straight
to the mounted adapter's urllib3 connection pool (no Session.send merging, hooks or cookie jar). A
whole-body request there is driven on the pool's own connection at the `http.client` level (see
`pooled.send_on_pool`): the pool still makes the connection (requests' TLS settings, CA bundle, client certificate,
pool size), but urllib3's per-request wrapper (Retry, Timeout objects, header dicts, response object)
is skipped. Streamed downloads and uploads go through the pool's `urlopen`; a caller's own Session,
or a proxy, goes through the mounted adapter's `send`, so custom adapters, proxies, CA bundles and
client certificates keep working.
"""

from __future__ import annotations

import http.client
import os
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
from .models import Headers, Request, Response
from .pooled import HandshakeError, drivable, handshake_refused, send_on_pool

__all__ = ["RequestsTransport"]

_CHUNK = 65536


class RequestsTransport:
    """Sends a signed `Request` through one pooled `requests.Session` (thread-safe for concurrent sends).

    A caller-given `session` keeps its adapters, proxies, `verify` and `cert`, and is not closed by us. As
    in requests, `REQUESTS_CA_BUNDLE` (or `CURL_CA_BUNDLE`) replaces the default CA bundle when `verify` is
    True and the session trusts the environment.
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
        verify: Any = options.get("verify", True if self._owned else session.verify)
        if verify is True and session.trust_env:  # as `Session.request` merges the environment's CA bundle
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._verify = verify
        # Only origins that take the direct path get a pool here: a hit means "owned session, no proxy".
        self._pools: Dict[Tuple[str, Any], Any] = {}
        self._routes: Dict[str, Mapping[str, str]] = {}
        self._timeouts: Dict[Any, urllib3.Timeout] = {}
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
        slash = url.find("/", url.find("//") + 2)
        origin = url[:slash] if slash >= 0 else url
        cert = request.cert or (None if self._owned else self.session.cert)
        try:
            if self._owned:
                pool = self._pools.get((origin, cert))
                if pool is not None:
                    return self._direct(request, origin, cert, pool)
                proxies = self._proxies_for(url, origin)
                if not any(proxies.values()):
                    return self._direct(request, origin, cert, None)
            else:
                proxies = self._proxies_for(url, origin)
            return self._adapter(request, proxies, cert)
        except (requests.RequestException, HTTPError, http.client.HTTPException, OSError) as exc:
            raise TransportError(f"{_what(request)} failed: {type(exc).__name__}: {exc}", _kind(exc)) from exc

    def _direct(self, request: Request, origin: str, cert: Any, pool: Any) -> Response:
        """Straight to the adapter's urllib3 pool for this origin (fetched once per origin and cert)."""
        fresh = pool is None
        if fresh:
            pool = self._pool(request, (origin, cert))
        body = request.body
        try:
            whole = body is None or isinstance(body, (bytes, bytearray))
            if whole and not request.stream and drivable(pool.ConnectionCls):
                headers = request.headers if isinstance(request.headers, Headers) else Headers(request.headers)
                if "Transfer-Encoding" not in headers:  # urllib3 would chunk-encode the body: left to it
                    return send_on_pool(pool, request, request.url[len(origin) :] or "/", headers)
            return self._urlopen(pool, request)
        except ClosedPoolError:  # the pool manager evicted it (only `_get_conn` says so: nothing was sent)
            if fresh:
                raise
            self._pools.pop((origin, cert), None)
            return self._direct(request, origin, cert, None)

    def _urlopen(self, pool: Any, request: Request) -> Response:
        """Streamed downloads and streamed uploads: urllib3's own `urlopen` (its response streams the body)."""
        headers = _plain(request.headers)
        body = request.body
        if body is not None and not isinstance(body, (bytes, bytearray)):
            headers.setdefault("Content-Length", str(len(body)))  # type: ignore[arg-type]
        r = pool.urlopen(
            request.method,
            request.target,
            body=body,
            headers=headers,
            retries=False,
            redirect=False,
            assert_same_host=False,
            preload_content=not request.stream,
            decode_content=True,
            timeout=self._timeout(request.timeout),
        )
        if request.stream and 200 <= r.status < 300:
            return Response.build(
                r.status, r.headers.items(), b"", request.url, r.reason or "", _Raw(r, _what(request))
            )
        return Response.build(r.status, r.headers.items(), r.data, request.url, r.reason or "")

    def _timeout(self, timeout: Any) -> urllib3.Timeout:
        """One urllib3 Timeout per distinct value (urlopen clones it per call, so sharing is safe)."""
        found = self._timeouts.get(timeout)
        if found is None:
            connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
            found = self._timeouts[timeout] = urllib3.Timeout(connect=connect, read=read)
        return found

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

    def _adapter(self, request: Request, proxies: Mapping[str, str], cert: Any) -> Response:
        """Through the mounted adapter: the caller's own adapters, proxies and TLS settings apply."""
        headers = _plain(request.headers)
        given = request.headers if isinstance(request.headers, Headers) else Headers(request.headers)
        if "Content-Length" not in given and "Transfer-Encoding" not in given:
            # As `Session.post` frames it (PreparedRequest.prepare_content_length): without the header, the
            # adapter would send even a whole body chunk-encoded
            body = request.body
            if body is not None:
                headers["Content-Length"] = str(len(body))  # type: ignore[arg-type]
            elif request.method not in ("GET", "HEAD"):
                headers["Content-Length"] = "0"
        prepared = requests.PreparedRequest()
        prepared.method, prepared.url, prepared.body = request.method, request.url, request.body  # type: ignore[assignment]
        prepared.headers = requests.structures.CaseInsensitiveDict(headers)
        adapter = self.session.get_adapter(request.url)
        r = adapter.send(
            prepared, stream=request.stream, timeout=request.timeout, verify=self._verify, cert=cert, proxies=proxies
        )
        if request.stream and 200 <= r.status_code < 300:
            return Response.build(r.status_code, r.headers, b"", request.url, r.reason or "", _Body(r, _what(request)))
        return Response.build(r.status_code, r.headers, r.content, request.url, r.reason or "")

    def close(self) -> None:
        if self._owned:
            self.session.close()
        self._pools.clear()


def _what(request: Request) -> str:
    """'POST https://host/path' for messages (without the query)."""
    return f"{request.method} {request.url.split('?', 1)[0]}"


def _plain(headers: Mapping[str, str]) -> Dict[str, str]:
    """A fresh plain dict of the request headers, in order (`Headers.as_dict` is the fast copy)."""
    return headers.as_dict() if isinstance(headers, Headers) else dict(headers)


def _kind(exc: BaseException) -> str:
    """'connect' only when nothing can have reached the service.

    urllib3 (`urlopen`, a caller's Session) raises the same SSLError for a failed handshake and for a TLS
    failure while the answer is read, after the request went out. Only a certificate check or a TLS alert
    refusing the session proves the service never took the request (`handshake_refused`); any other TLS
    failure is 'read', which retries never resend. Our own path raises `HandshakeError` only then."""
    if isinstance(exc, (requests.ConnectTimeout, ConnectTimeoutError, NewConnectionError, ProxyError, HandshakeError)):
        return "connect"
    if isinstance(exc, (requests.Timeout, ReadTimeoutError, TimeoutError)):
        return "timeout"
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
    if isinstance(reason, (NewConnectionError, ConnectTimeoutError, HandshakeError)):
        return "connect"
    if isinstance(exc, (SSLError, requests.exceptions.SSLError)) and handshake_refused(exc):
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
