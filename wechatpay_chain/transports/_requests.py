"""The sync transport: requests. It moves bytes; it never signs or verifies.

For the session the client owns, a lean `PreparedRequest` (no `Session.prepare_request` merging, no cookie
jar) goes through the mounted adapter's `send`, so the adapter's own TLS handling applies (certifi, the CA
environment variables, `verify=` file, directory or False, the mTLS client certificate). A caller's own
`session=` sends through its `send`, with the environment merged as `Session.request` merges it. Redirects
are never followed. The body is read here, a chunk at a time, so the call has a total deadline.
"""

from __future__ import annotations

import time
from contextlib import closing
from typing import Any, Generator, Iterator, Mapping, Optional

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from wechatpay_chain.models import Headers, Request, Response
from wechatpay_chain.transports._base import CHUNK, budget, failure, passthrough, split_timeout, timed_out
from wechatpay_chain.transports._network import Network, decode_content

__all__ = ["RequestsTransport"]


class RequestsTransport:
    """Sends a signed `Request` through one pooled `requests.Session` (thread-safe for concurrent sends).

    A caller-given `session` keeps its adapters, proxies, `verify`, `cert` and hooks, and is not closed by us.
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
        self._options = options
        self.network = Network(options, session.trust_env) if self._owned else None

    def send(self, request: Request) -> Response:
        connect, read = split_timeout(request.timeout)
        deadline = None if request.stream else time.monotonic() + budget(request.timeout)
        prepared = _prepare(request)
        try:
            if self.network is not None:
                if request.cert is not None:
                    self.network.tls_for(request)  # a client key that does not load: `connect`, as on aiohttp
                adapter = self.session.get_adapter(request.url)
                r = adapter.send(
                    prepared,
                    stream=True,
                    timeout=(connect, read),
                    verify=self.network.verify if request.url[:6].lower() == "https:" else True,
                    cert=request.cert,
                    proxies=self.network.proxies(request.url),
                )
            else:
                settings = self.session.merge_environment_settings(
                    request.url, dict(self._options.get("proxies") or {}), True,
                    self._options.get("verify"), request.cert,
                )
                r = self.session.send(prepared, timeout=(connect, read), allow_redirects=False, **settings)
        except Exception as exc:
            if passthrough(exc):
                raise
            raise failure(request, exc) from exc
        headers = r.headers
        coding = headers.get("Content-Encoding")
        if deadline is None and coding is None and 200 <= r.status_code < 300:
            return Response.build(r.status_code, headers, b"", request.url, r.reason or "", _Body(r, request))
        content = _read(r, request, deadline)
        if coding is not None:
            try:
                content = decode_content(content, coding, r.status_code)
            except Exception as exc:
                raise failure(request, exc, "failed mid-body") from exc
        return Response.build(r.status_code, headers, content, request.url, r.reason or "")

    def close(self) -> None:
        if self._owned:
            self.session.close()


def _prepare(request: Request) -> requests.PreparedRequest:
    """The request as requests would send it, built directly: the body framed by Content-Length (as
    `PreparedRequest.prepare_content_length` does), never chunk-encoded."""
    given = request.headers if isinstance(request.headers, Headers) else Headers(request.headers)
    headers = given.as_dict()
    body = request.body
    if "Content-Length" not in given and "Transfer-Encoding" not in given:
        if body is not None:
            headers["Content-Length"] = str(len(body))  # type: ignore[arg-type]
        elif request.method not in ("GET", "HEAD"):
            headers["Content-Length"] = "0"
    prepared = requests.PreparedRequest()
    prepared.method, prepared.url, prepared.body = request.method, request.url, body  # type: ignore[assignment]
    prepared.headers = CaseInsensitiveDict(headers)
    return prepared


def _chunks(r: requests.Response, request: Request) -> Generator[bytes, None, None]:
    """The body as sent (still content-coded), a read at a time: `read1` returns what one read of the socket
    gave, each waiting at most the read timeout. Read to the end, the connection goes back to the pool; left
    early (an error, the deadline, a download closed half-way), it is closed instead of being reused."""
    raw = r.raw
    done = False
    try:
        while True:
            chunk = raw.read1(CHUNK, decode_content=False)
            if not chunk:
                break
            yield chunk
        done = True
    except Exception as exc:
        raise failure(request, exc, "failed mid-body") from exc
    finally:
        if done:
            raw.release_conn()
        else:
            r.close()


def _read(r: requests.Response, request: Request, deadline: Optional[float]) -> bytes:
    """The whole body; a body still arriving past `deadline` ends the call (kind `timeout`) at its next read,
    and an answer already whole by then is kept."""
    parts = []
    with closing(_chunks(r, request)) as chunks:
        for chunk in chunks:
            parts.append(chunk)
            if deadline is not None and time.monotonic() > deadline and not r.raw.closed:
                raise timed_out(request, budget(request.timeout))
    return b"".join(parts)


class _Body:
    """A streamed download with no content coding: chunks as they arrive (`_chunks`)."""

    def __init__(self, response: requests.Response, request: Request) -> None:
        self._r, self._request = response, request

    def __iter__(self) -> Iterator[bytes]:
        return _chunks(self._r, self._request)

    def close(self) -> None:
        self._r.close()
