"""The sync transport: requests, one pooled Session. It moves bytes; it never signs or verifies."""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from .errors import TransportError
from .models import Request, Response

__all__ = ["RequestsTransport"]


class RequestsTransport:
    """Sends a signed `Request` through one pooled `requests.Session` (thread-safe for concurrent sends).

    A caller-given `session` keeps its adapters (proxies, mTLS, retries) and is not closed by us.
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
        self._proxies = options.get("proxies")
        self._verify = options.get("verify", True)

    def send(self, request: Request) -> Response:
        prepared = requests.PreparedRequest()
        prepared.prepare(method=request.method, url=request.url, headers=dict(request.headers), data=request.body)
        try:
            r = self.session.send(
                prepared,
                timeout=request.timeout,
                verify=self._verify,
                proxies=self._proxies,
                cert=request.cert,
                allow_redirects=False,
                stream=request.stream,
            )
            if request.stream and 200 <= r.status_code < 300:
                return Response.build(r.status_code, r.headers, b"", request.url, r.reason or "", _Body(r, request))
            content = r.content
        except requests.RequestException as exc:
            what = f"{request.method} {request.url.split('?', 1)[0]}"
            raise TransportError(f"{what} failed: {type(exc).__name__}: {exc}", _kind(exc)) from exc
        return Response.build(r.status_code, r.headers, content, request.url, r.reason or "")

    def close(self) -> None:
        if self._owned:
            self.session.close()


def _kind(exc: requests.RequestException) -> str:
    """'connect' only when nothing can have reached the service."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connect"
    if isinstance(exc, requests.Timeout):
        return "timeout"
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
    if isinstance(exc, requests.exceptions.SSLError) or isinstance(reason, NewConnectionError):
        return "connect"
    return "read"


class _Body:
    """A streamed download: chunks straight from the socket; the connection returns to the pool at the end."""

    def __init__(self, response: requests.Response, request: Request) -> None:
        self._r, self._what = response, f"{request.method} {request.url.split('?', 1)[0]}"

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._r.iter_content(65536)
        except requests.RequestException as exc:
            raise TransportError(f"{self._what} failed mid-body: {type(exc).__name__}: {exc}") from exc
        finally:
            self._r.close()

    def close(self) -> None:
        self._r.close()
