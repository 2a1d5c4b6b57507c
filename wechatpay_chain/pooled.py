"""The sync fast path: one whole-body request on a connection of requests' urllib3 pool, via `http.client`.

The pool (requests' adapter's: its TLS settings, CA bundle, client certificate and size) still makes,
hands out and takes back the connection; only urllib3's per-request wrapper (Retry and Timeout objects,
header dicts, its response object) is skipped, and what it does that matters is done here: the same
request bytes on the wire, the same timeouts, error types and response decoding. Where http.client would
write the Host header plainly (no tunnel, an ASCII non-IPv6 host), the request bytes are built here and sent
in one `sendall`, and the answer is read by `h1.ResponseParser`; otherwise http.client's own methods drive
the connection. Measured on loopback: ~0.8x a bare `http.client` POST, against 1.6-1.8x via `pool.urlopen`.
"""

from __future__ import annotations

import errno
import http.client
import io
import operator
import re
import ssl
from socket import timeout as SocketTimeout
from typing import Any, Callable, Container, Dict, Iterator, List, Optional, Tuple

import urllib3
import urllib3.connection
import urllib3.util.request
import urllib3.util.url
from urllib3.exceptions import ProtocolError, ReadTimeoutError, SSLError

from .core import BAD_ESCAPE, TARGET_CHARS
from .h1 import ProtocolError as H1ProtocolError
from .h1 import ResponseParser
from .models import Headers, Request, Response

__all__ = ["drivable", "send_on_pool", "HandshakeError", "handshake_refused"]


class HandshakeError(SSLError):
    """A TLS failure that set up no session (handshake, certificate checks): the service took no request."""


#: what a TLS alert's reason names when the peer refuses the session itself (a certificate it does not accept,
#: or the handshake): TLS 1.3 lets the client send its request before such an alert arrives, but the service
#: never received it as a request
_REFUSALS = ("CERTIFICATE", "HANDSHAKE_FAILURE", "UNKNOWN_CA", "ACCESS_DENIED", "PROTOCOL_VERSION",
             "INSUFFICIENT_SECURITY", "NO_SHARED_CIPHER", "WRONG_VERSION_NUMBER")


def handshake_refused(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it wraps (urllib3 nests them in args and `reason`), shows that no TLS
    session was set up: a certificate that does not verify, or an alert refusing the handshake. A corrupt
    record or a reset in the middle of an answer is not one: the request may have been acted on."""
    seen: List[BaseException] = []
    todo: List[Any] = [exc]
    while todo and len(seen) < 20:
        item = todo.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        if isinstance(item, (ssl.SSLCertVerificationError, _CertificateError)):
            return True
        reason = getattr(item, "reason", None)
        if isinstance(item, ssl.SSLError) and isinstance(reason, str) and any(r in reason for r in _REFUSALS):
            return True
        todo.extend([*item.args, reason, item.__cause__, item.__context__])
    return False


#: `http.client`'s own methods, called on urllib3's connection (see `_exchange`)
_H1 = http.client.HTTPConnection
#: the request and response methods of urllib3's HTTP/1.1 connection: a connection class that overrides any
#: (urllib3's HTTP/2 connection, a caller's own) writes or reads differently, so its pool keeps `urlopen`
_H1_METHODS = ("putrequest", "putheader", "endheaders", "send", "request", "getresponse", "close", "response_class")
#: connection class -> whether `_exchange` may drive it (a handful of classes: written without a lock)
_DRIVABLE: Dict[Any, bool] = {}
#: the User-Agent urllib3's `HTTPConnection.request` adds when a request has none: 2.x writes it before the
#: request's own headers, 1.26 after them
_URLLIB3_UA: str = f"python-urllib3/{urllib3.__version__}"  # type: ignore[attr-defined]
_UA_FIRST = not _URLLIB3_UA.startswith("python-urllib3/1.")
#: methods that urllib3 2.x sends without `Content-Length: 0` when they have no body (1.26 leaves it to
#: http.client, which sends it for PATCH, POST and PUT only)
_NO_BODY_METHODS: Optional[Container[str]] = getattr(urllib3.util.request, "_METHODS_NOT_EXPECTING_BODY", None)
#: a certificate that does not match the host, from urllib3's own hostname check (ssl's is an SSLError)
_CertificateError: Any = getattr(urllib3.connection, "CertificateError", ssl.CertificateError)
#: urllib3 >= 1.25 percent-encodes the request target (`urlopen`); older releases sent it as given
_encode_target: Callable[[str], str] = getattr(urllib3.util.url, "_encode_target", lambda target: target)
#: obsolete line folding in a response header value; urllib3 2.8 replaces it with one space (RFC 9112 5.2)
_OBS_FOLD = re.compile(r"(?:(?<![ \t])[ \t]+)?\r\n[ \t]+")
_VALUE = operator.itemgetter(1)
#: http.client's own header checks (module-private there; the same patterns if a release drops them)
_LEGAL_NAME: Callable[[bytes], Any] = getattr(
    http.client, "_is_legal_header_name", re.compile(rb"[^:\s][^:\r\n]*").fullmatch
)
_ILLEGAL_VALUE: Callable[[bytes], Any] = getattr(
    http.client, "_is_illegal_header_value", re.compile(rb"\n(?![ \t])|\r(?![ \t\n])").search
)
_IDLE = getattr(http.client, "_CS_IDLE", "Idle")
_READ = 65536


def send_on_pool(pool: Any, request: Request, target: str, headers: Headers) -> Response:
    """One whole-body request on a connection of `pool`, without urllib3's per-request wrapper (see `_exchange`).

    What urllib3's `urlopen`/`_make_request` do that matters is done here too: the connection comes
    from and goes back to the pool (a failed or unfinished one closed and returned as `None`, so its
    slot is kept and a fresh connection is made next time), the target is encoded as urllib3 encodes
    it, and the request bytes on the wire are the ones urllib3 sends (`_header_lines`).
    """
    timeout = request.timeout
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if not TARGET_CHARS(target) or ("%" in target and BAD_ESCAPE(target)):  # not one the core built
        target = _encode_target(target)
    conn = pool._get_conn()  # ClosedPoolError / EmptyPoolError: no slot was taken
    reusable = False
    try:
        pool.num_requests += 1
        status, reason, items, content, keep = _exchange(
            pool, conn, request.method, target, request.body, headers, connect, read
        )
        if not keep:  # `Connection: close`, HTTP/1.0 or a close-delimited body: as http.client does, the socket
            conn.close()  # is closed and the connection object goes back (it reconnects when next used)
        reusable = True
    finally:
        try:
            if not reusable:
                conn.close()
        finally:
            pool._put_conn(conn if reusable else None)
    return _response(status, reason, items, content, request.url)


def drivable(connection_class: Any) -> bool:
    """Whether a pool's connections are urllib3's own HTTP/1.1 ones (HTTPS only adds its `connect`)."""
    found = _DRIVABLE.get(connection_class)
    if found is None:
        stock = urllib3.connection.HTTPConnection
        found = all(getattr(connection_class, m, None) is getattr(stock, m) for m in _H1_METHODS)
        _DRIVABLE[connection_class] = found
    return found


def _write_request(conn: Any, method: str, target: str, body: Any, headers: Headers) -> None:
    """Write the request as urllib3's `HTTPConnection.request` does, with `http.client`'s own methods.

    The same header lines in the same order: the request line, Host and `Accept-Encoding: identity` (unless
    given), Content-Length (unless given: the body's length, or 0 for a method that is expected to have a
    body), urllib3's User-Agent if there is none, then the request's headers; then the body. urllib3's
    `putrequest`/`putheader` overrides only add checks for its own `SKIP_HEADER` marker and method tokens,
    which a signed request never needs; http.client still validates every name and value.
    """
    _H1.putrequest(conn, method, target, skip_host="Host" in headers, skip_accept_encoding=True)
    for name, value in _header_lines(method, body, headers):
        _H1.putheader(conn, name, value)
    _H1.endheaders(conn, body)


def _header_lines(method: str, body: Any, headers: Headers) -> Iterator[Tuple[str, str]]:
    """The header lines after Host, in urllib3's order: `Accept-Encoding: identity` (unless given; http.client's
    `putrequest` would add it right after Host), Content-Length (unless given: the body's length, or 0 for a
    method that is expected to have a body), urllib3's User-Agent if there is none (2.x first, 1.26 last),
    and the request's own headers."""
    if "Accept-Encoding" not in headers:
        yield "Accept-Encoding", "identity"
    if "Content-Length" not in headers:
        if body is not None:
            yield "Content-Length", str(len(body))
        elif _expects_body(method.upper()):
            yield "Content-Length", "0"
    agent = "User-Agent" not in headers
    if agent and _UA_FIRST:
        yield "User-Agent", _URLLIB3_UA
    yield from headers.as_dict().items()
    if agent and not _UA_FIRST:
        yield "User-Agent", _URLLIB3_UA


def _expects_body(method: str) -> bool:
    """Whether urllib3 sends `Content-Length: 0` for this method when it has no body."""
    if _NO_BODY_METHODS is None:
        return method in ("PATCH", "POST", "PUT")
    return method not in _NO_BODY_METHODS


def _exchange(
    pool: Any, conn: Any, method: str, target: str, body: Any, headers: Headers, connect: Any, read: Any
) -> Tuple[int, str, List[Tuple[str, str]], bytes, bool]:
    """Send one request on `conn` and read the whole answer, with urllib3's timeouts and error types.

    Returns (status, reason, header pairs, body still content-encoded, whether the connection stays open).
    What makes the connection is still urllib3's: `_validate_conn` and `connect` (socket options, TLS
    handshake, certificate verification, client certificate), and its `close`. Where `_raw_capable`, our own
    bytes go out in one `sendall` and the answer is read straight off the socket by the HTTP/1.1 parser the
    async transport uses (http.client's state is never touched); otherwise http.client's own methods write
    and read (`_write_request`, `getresponse`; it closes the socket itself when the answer says so).
    As `urlopen`/`_make_request`: connect and send under the connect timeout, the answer under the read
    timeout; a reset while sending is ignored so that an answer already sent (e.g. 413) can still be read;
    a socket timeout is a ReadTimeoutError, a TLS failure before anything was sent a `HandshakeError` (an
    SSLError), anything else a ProtocolError ("Connection aborted." before the answer, "Connection broken" in
    it): a TLS failure while sending or reading is one too, since the service may have the request.
    """
    raw = _raw_capable(conn)
    data = _request_bytes(conn, method, target, body, headers) if raw else b""
    conn.timeout = connect  # what urllib3's `connect` (socket and TLS handshake) waits
    reading = sending = False
    try:
        pool._validate_conn(conn)  # HTTPS: the connection is made here; warns when unverified, as urlopen
        sock = conn.sock
        if sock is None:
            conn.connect()
            sock = conn.sock
        elif sock.gettimeout() != connect:  # a kept-alive socket has the last request's read timeout
            sock.settimeout(connect)
        sending = True  # from here on, some of the request may have reached the service
        try:
            if raw:
                sock.sendall(data)
            else:
                _write_request(conn, method, target, body, headers)
        except BrokenPipeError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.EPROTOTYPE, errno.ECONNRESET):
                raise
        sock = conn.sock
        if sock is not None:
            conn.timeout = read
            if read != connect:
                sock.settimeout(read)
        if not raw:
            r = _H1.getresponse(conn)
            reading = True
            return r.status, r.reason, list(r.msg.raw_items()), r.read(), True
        parser = ResponseParser(method.upper() == "HEAD", text="latin-1")
        while not parser.done:
            chunk = sock.recv(_READ)
            reading = reading or bool(chunk)
            if not chunk:
                parser.eof()
                break
            parser.feed(chunk)
        return parser.status, parser.reason, parser.headers, parser.raw_body, parser.keep_alive
    except SocketTimeout as exc:
        raise ReadTimeoutError(pool, target, f"Read timed out. (read timeout={conn.timeout})") from exc
    except (ssl.SSLError, _CertificateError) as exc:
        if not sending or handshake_refused(exc):  # the TLS session was never set up: nothing was taken
            raise HandshakeError(exc) from exc
        message = f"Connection broken: {exc!r}" if reading else "Connection aborted."
        raise ProtocolError(message, exc) from exc  # a TLS failure once the request went out: outcome unknown
    except (OSError, http.client.HTTPException, H1ProtocolError) as exc:
        message = f"Connection broken: {exc!r}" if reading else "Connection aborted."
        raise ProtocolError(message, exc) from exc


def _raw_capable(conn: Any) -> bool:
    """Whether the request can be written from our own bytes: http.client would write the Host header plainly
    (no proxy tunnel, an ASCII host that is not an IPv6 literal) and the connection is idle."""
    host = conn.host
    return (
        getattr(conn, "_tunnel_host", None) is None
        and host.isascii()
        and ":" not in host
        and getattr(conn, "_HTTPConnection__state", _IDLE) == _IDLE
    )


def _request_bytes(conn: Any, method: str, target: str, body: Any, headers: Headers) -> bytes:
    """The bytes `_write_request` makes http.client send, built at once: Host, then `_header_lines`,
    the same checks (`ValueError` for a bad header name or value) and encodings (ASCII names, latin-1 values)."""
    lines = [f"{method} {target} HTTP/1.1".encode("ascii")]

    def put(name: str, value: str) -> None:
        raw_name, raw_value = name.encode("ascii"), value.encode("latin-1")
        if not _LEGAL_NAME(raw_name):
            raise ValueError(f"Invalid header name {raw_name!r}")
        if _ILLEGAL_VALUE(raw_value):
            raise ValueError(f"Invalid header value {raw_value!r}")
        lines.append(raw_name + b": " + raw_value)

    if "Host" not in headers:
        port = conn.port
        put("Host", conn.host if port == conn.default_port else f"{conn.host}:{port}")
    for name, value in _header_lines(method, body, headers):
        put(name, value)
    lines.append(b"\r\n")
    head = b"\r\n".join(lines)
    return head + bytes(body) if body else head


def _response(status: int, reason: str, items: List[Tuple[str, str]], content: bytes, url: str) -> Response:
    """The `Response` urllib3 would have given: its header normalisation, duplicates and body decoding."""
    # As parsed, in order (http.client's `raw_items()`: `items()` would only re-check each value for
    # surrogates, which latin-1 never has; our parser has joined folded lines already).
    if "\r\n" in "".join(map(_VALUE, items)):  # one C-level scan: folding is rare
        items = [(k, _OBS_FOLD.sub(" ", v)) for k, v in items]
    headers = Headers(items)
    if len(headers) < len(items):  # a repeated header: its last value under its first spelling, as urllib3 2.x
        first: Dict[str, str] = {}
        for k, _ in items:
            first.setdefault(k.lower(), k)
        headers = Headers((first[k.lower()], v) for k, v in items)
    if "Content-Encoding" in headers:
        # urllib3 reads every Content-Encoding header, joined with ", " (its HTTPHeaderDict's get)
        encoding = ", ".join(v for k, v in items if k.lower() == "content-encoding")
        content = _decode(content, encoding, status)
    return Response(status, headers, content, url, reason or "")


def _decode(content: bytes, encoding: str, status: int) -> bytes:
    """Undo a `Content-Encoding` exactly as urllib3's `decode_content=True` does (rare: we ask for identity).

    urllib3's own response decodes it, so the same encodings (gzip, deflate, and br/zstd when their
    packages are installed), the same handling of unknown ones (left as they are) and the same
    `DecodeError` apply.
    """
    r = urllib3.HTTPResponse(
        body=io.BytesIO(content),
        headers={"Content-Encoding": encoding},
        status=status,
        preload_content=True,
        decode_content=True,
    )
    return bytes(r.data)
