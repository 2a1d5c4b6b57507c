"""Both transports on the wire: crafted answers from a raw-socket server on 127.0.0.1, sent once through the
requests (sync) path and once through the aiohttp (async) path, and the two outcomes compared.

Every scenario runs on both paths and asserts they decide alike: the same status, headers and content bytes, or
the same `TransportError.kind` (and never a library exception escaping raw).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import pytest

from wechatpay_chain import Builder
from wechatpay_chain.errors import ApiError, TransportError, VerificationError
from wechatpay_chain.models import Request, Response
from wechatpay_chain.sandbox import Identity
from wechatpay_chain.transports._aiohttp import AiohttpTransport
from wechatpay_chain.transports._requests import RequestsTransport

#: how the test server answers one request: (server, connection, the request's bytes) -> True to close the connection
Behave = Callable[["Wire", socket.socket, bytes], bool]
Runner = Callable[[Request], "Outcome"]

#: no proxy from the environment may sit between the transports and the loopback server
OPTIONS: Dict[str, Any] = {"proxies": {}}
TIMEOUT = (2.0, 2.0)
PATHS = ("sync", "async")
KINDS = ("connect", "timeout", "read")
JSON_404 = b'{"code":"NOT_FOUND","message":"x"}'


# -- the crafted-response server ---------------------------------------------------------------------------------
class Wire:
    """A raw TCP server on 127.0.0.1: reads each request (head, then Content-Length bytes), records its bytes and
    lets `behave` answer it. Every loop is bounded by `lifetime`; `stop()` ends it sooner."""

    def __init__(self, behave: Behave, lifetime: float = 15.0) -> None:
        self.behave = behave
        self.requests: List[bytes] = []
        self._stop = threading.Event()
        self._deadline = time.monotonic() + lifetime
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._threads: List[threading.Thread] = []
        self._lock = threading.Lock()
        self._accepting = threading.Thread(target=self._serve, daemon=True)
        self._accepting.start()

    def _alive(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def _serve(self) -> None:
        try:
            while self._alive():
                try:
                    conn, _ = self._sock.accept()
                except (socket.timeout, BlockingIOError):
                    continue
                except OSError:
                    break
                worker = threading.Thread(target=self._handle, args=(conn,), daemon=True)
                with self._lock:
                    self._threads.append(worker)
                worker.start()
        finally:
            self._sock.close()

    def _recv(self, conn: socket.socket) -> Optional[bytes]:
        """Some bytes, or None at EOF / error / stop."""
        while self._alive():
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return None
            return data or None
        return None

    def _read_request(self, conn: socket.socket, buf: bytes) -> Tuple[Optional[bytes], bytes]:
        while b"\r\n\r\n" not in buf:
            data = self._recv(conn)
            if data is None:
                return None, buf
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            data = self._recv(conn)
            if data is None:
                return None, buf
            rest += data
        return head + b"\r\n\r\n" + rest[:length], rest[length:]

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.05)
            buf = b""
            while self._alive():
                request, buf = self._read_request(conn, buf)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                try:
                    if self.behave(self, conn, request):
                        return
                except OSError:
                    return

    @property
    def connections(self) -> int:
        """How many connections the server has accepted."""
        with self._lock:
            return len(self._threads)

    def sleep(self, seconds: float) -> bool:
        """Pause a behaviour; False once the server is stopping."""
        return not self._stop.wait(seconds) and self._alive()

    def stop(self) -> None:
        self._stop.set()
        self._accepting.join(2)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(2)


@pytest.fixture
def serve() -> Iterator[Callable[..., Wire]]:
    """serve(behave) -> a running Wire; every one made is stopped after the test."""
    made: List[Wire] = []

    def make(behave: Behave, lifetime: float = 15.0) -> Wire:
        wire = Wire(behave, lifetime)
        made.append(wire)
        return wire

    try:
        yield make
    finally:
        for wire in made:
            wire.stop()


def answer(raw: bytes, close: bool = False) -> Behave:
    """Send `raw` as the answer to every request (then close the connection if `close`)."""

    def behave(wire: Wire, conn: socket.socket, request: bytes) -> bool:
        conn.sendall(raw)
        return close

    return behave


def silent(wire: Wire, conn: socket.socket, request: bytes) -> bool:
    """Accept, read the request, never answer (the connection stays open until the client leaves)."""
    return False


def drip(raw: bytes, at_once: int, dripped: int, every: float = 0.2) -> Behave:
    """Send raw[:at_once], then the next `dripped` bytes one every `every` seconds, then the rest at once."""

    def behave(wire: Wire, conn: socket.socket, request: bytes) -> bool:
        conn.sendall(raw[:at_once])
        for i in range(at_once, min(at_once + dripped, len(raw))):
            if not wire.sleep(every):
                return True
            conn.sendall(raw[i : i + 1])
        conn.sendall(raw[at_once + dripped :])
        return False

    return behave


def http(status: str, headers: List[Tuple[str, str]], body: bytes = b"") -> bytes:
    """A well-formed answer, framed by Content-Length."""
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def header_of(request: bytes, name: str) -> Optional[str]:
    """The value of field `name` (lower case) in a recorded request, repeated ones joined; None if absent."""
    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    found = [line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:] if line.lower().startswith(name + ":")]
    return ", ".join(found) if found else None


# -- the two paths -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What one call decided. `==` compares decisions only (not the time taken nor the message)."""

    status: Optional[int] = None
    headers: Tuple[Tuple[str, str], ...] = ()
    content: bytes = b""
    error: Optional[str] = None  # the exception's type name
    kind: Optional[str] = None  # TransportError.kind
    elapsed: float = field(default=0.0, compare=False)
    detail: str = field(default="", compare=False)

    def __repr__(self) -> str:
        content = self.content if len(self.content) <= 60 else self.content[:60] + b"..."
        if self.error is not None and self.status is None:
            return f"<{self.error} kind={self.kind!r} after {self.elapsed:.2f} s: {self.detail[:300]}>"
        return (
            f"<{self.error or 'answer'} {self.status} headers={dict(self.headers)!r} content={content!r} "
            f"after {self.elapsed:.2f} s>"
        )


def _headers(headers: Mapping[str, str]) -> Tuple[Tuple[str, str], ...]:
    return tuple(sorted((k.lower(), v) for k, v in headers.items()))


def _answered(r: Response, start: float, content: Optional[bytes] = None) -> Outcome:
    body = r.content if content is None else content
    return Outcome(r.status_code, _headers(r.headers), body, elapsed=time.monotonic() - start)


def _failed(exc: BaseException, start: float) -> Outcome:
    elapsed = time.monotonic() - start
    name = type(exc).__name__
    detail = f"{name}: {exc}"
    if isinstance(exc, TransportError):
        return Outcome(error=name, kind=exc.kind, elapsed=elapsed, detail=detail)
    r: Optional[Response] = getattr(exc, "response", None)
    if isinstance(exc, (ApiError, VerificationError)) and r is not None:
        return Outcome(r.status_code, _headers(r.headers), r.content, name, elapsed=elapsed, detail=detail)
    return Outcome(error=name, elapsed=elapsed, detail=detail)


def run_sync(request: Request) -> Outcome:
    transport = RequestsTransport(OPTIONS)
    start = time.monotonic()
    try:
        r = transport.send(request)
        return _answered(r, start, b"".join(r.iter_bytes()) if r.stream is not None else None)
    except Exception as exc:
        return _failed(exc, start)
    finally:
        transport.close()


def run_async(request: Request) -> Outcome:
    async def go() -> Outcome:
        transport = AiohttpTransport(OPTIONS)
        start = time.monotonic()
        try:
            r = await transport.send(request)
            return _answered(r, start, b"".join([c async for c in r.aiter_bytes()]) if r.stream is not None else None)
        except Exception as exc:
            return _failed(exc, start)
        finally:
            await transport.close()

    return asyncio.run(go())


RUNNERS: Dict[str, Runner] = {"sync": run_sync, "async": run_async}


def make_request(
    url: str,
    method: str = "GET",
    body: Optional[bytes] = None,
    timeout: Tuple[float, float] = TIMEOUT,
    stream: bool = False,
    **headers: str,
) -> Request:
    """A request carrying the headers the client sends (so neither library adds its own defaults)."""
    sent = {"Accept": "application/json", "User-Agent": "wire-test/1"}
    if body is not None:
        sent["Content-Type"] = "application/json"
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    return Request(method, url, sent, body, timeout, stream=stream)


@pytest.fixture(scope="module")
def identity() -> Identity:
    return Identity.create()


def client_for(identity: Identity, url: str) -> Any:
    return Builder.factory(
        {
            "mchid": identity.mchid,
            "serial": identity.merchant_serial,
            "privateKey": identity.merchant_key,
            "certs": {
                identity.platform_public_key_id: identity.platform_key.public_key(),
                identity.certificate.serial_no: identity.certificate,
            },
            "base_uri": url,
            "secret": identity.secret,
            "apiv3_key": identity.apiv3_key,
            "proxies": {},
        }
    )


def call_client(path: str, identity: Identity, url: str, timeout: Tuple[float, float] = TIMEOUT) -> Outcome:
    """GET v3/wire through a fresh client, on the sync or the async path."""
    client = client_for(identity, url)
    node = client["v3/wire"]
    if path == "sync":
        start = time.monotonic()
        try:
            return _answered(node.get(timeout=timeout), start)
        except Exception as exc:
            return _failed(exc, start)
        finally:
            client.get_driver().close()

    async def go() -> Outcome:
        start = time.monotonic()
        try:
            return _answered(await node.get_async(timeout=timeout), start)
        except Exception as exc:
            return _failed(exc, start)
        finally:
            await client.get_driver().close_async()

    return asyncio.run(go())


def both(request: Request) -> Dict[str, Outcome]:
    return {path: RUNNERS[path](request) for path in PATHS}


def both_clients(identity: Identity, url: str, timeout: Tuple[float, float] = TIMEOUT) -> Dict[str, Outcome]:
    return {path: call_client(path, identity, url, timeout) for path in PATHS}


def assert_same(out: Dict[str, Outcome]) -> Outcome:
    """The two paths decided alike (and no library exception escaped raw); returns the common outcome."""
    for path, o in out.items():
        assert o.error is None or o.error in ("TransportError", "ClientError", "ServerError", "VerificationError"), (
            f"{path}: a raw library exception escaped: {o.detail}"
        )
        if o.error == "TransportError":
            assert o.kind in KINDS, f"{path}: unknown kind {o.kind!r}"
    assert out["sync"] == out["async"], f"the paths differ\n  sync:  {out['sync']!r}\n  async: {out['async']!r}"
    return out["sync"]


class Drive:
    """Straight through the transports, or through a client's `get` / `get_async` (GET v3/wire)."""

    def __init__(self, how: str, identity: Identity) -> None:
        self.how, self.identity = how, identity

    def one(self, wire: Wire, path: str) -> Outcome:
        if self.how == "transport":
            return RUNNERS[path](make_request(wire.url + "v3/wire"))
        return call_client(path, self.identity, wire.url)

    def __call__(self, wire: Wire) -> Dict[str, Outcome]:
        return {path: self.one(wire, path) for path in PATHS}


@pytest.fixture(params=["transport", "client"])
def drive(request: pytest.FixtureRequest, identity: Identity) -> Drive:
    return Drive(request.param, identity)


# -- 1. bare-LF line endings -------------------------------------------------------------------------------------
def test_bare_lf_line_endings_answered_promptly(serve: Callable[..., Wire], drive: Drive) -> None:
    raw = (
        b"HTTP/1.1 404 Not Found\nContent-Type: application/json\n"
        + f"Content-Length: {len(JSON_404)}\n\n".encode()
        + JSON_404
    )
    out = drive(serve(answer(raw)))
    for path, o in out.items():
        assert o.kind != "timeout", f"{path} waited out the read timeout: {o!r}"
        assert o.elapsed < 2.0, f"{path} took {o.elapsed:.2f} s"
    common = assert_same(out)
    assert (common.status, common.content) == (404, JSON_404), common
    assert common.error == ("ClientError" if drive.how == "client" else None), common


# -- 2. bare CR / bare LF inside the head ------------------------------------------------------------------------
@pytest.mark.parametrize("close", [False, True], ids=["kept-open", "closed"])
def test_bare_cr_in_header_value(serve: Callable[..., Wire], close: bool) -> None:
    """The one head the two libraries read differently, and the package cannot align through public APIs:
    aiohttp refuses a bare CR in a field value (`read`); http.client ends the head there, so the fields after
    it are lost (urllib3 only logs that, and keeps the parsed message to itself). Neither lets a raw exception
    out, and neither returns a field the server did not send; a 2xx missing its signature headers this way
    fails verification."""
    raw = b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nX-After: z\r\nContent-Length: 2\r\n\r\nok"
    out = both(make_request(serve(answer(raw, close)).url, timeout=(1.0, 1.0)))
    assert (out["async"].error, out["async"].kind) == ("TransportError", "read"), out["async"]
    sync = out["sync"]
    if sync.error is None:
        headers = dict(sync.headers)
        assert "x-after" not in headers and headers.get("x-a") == "a", sync
    else:
        assert (sync.error, sync.kind) == ("TransportError", "timeout" if not close else "read"), sync


@pytest.mark.parametrize("close", [False, True], ids=["kept-open", "closed"])
def test_bare_lf_hiding_a_field(serve: Callable[..., Wire], close: bool) -> None:
    raw = b"HTTP/1.1 200 OK\r\nX-A: a\nX-Hidden: h\r\nContent-Length: 2\r\n\r\nok"
    assert_same(both(make_request(serve(answer(raw, close)).url, timeout=(1.0, 1.0))))


# -- 3. content coding -------------------------------------------------------------------------------------------
PAYLOAD = b'{"data":"' + b"wire " * 200 + b'"}'
CODINGS: Dict[str, Tuple[str, bytes]] = {
    "gzip": ("gzip", gzip.compress(PAYLOAD)),
    "deflate": ("deflate", zlib.compress(PAYLOAD)),
    "gzip-gzip": ("gzip, gzip", gzip.compress(gzip.compress(PAYLOAD))),
    "truncated-gzip": ("gzip", gzip.compress(PAYLOAD)[:25]),  # cut inside the deflate stream
    "unknown": ("compress", b"\x1f\x9d not really compressed"),
}


@pytest.mark.parametrize("coding", list(CODINGS))
def test_content_coding(serve: Callable[..., Wire], coding: str) -> None:
    name, body = CODINGS[coding]
    wire = serve(answer(http("200 OK", [("Content-Type", "application/json"), ("Content-Encoding", name)], body)))
    assert_same(both(make_request(wire.url)))


def test_content_coding_streamed(serve: Callable[..., Wire]) -> None:
    """A streamed download (`stream=True`, a 2xx) of a gzip-coded answer: the same bytes on both paths."""
    name, body = CODINGS["gzip"]
    wire = serve(answer(http("200 OK", [("Content-Type", "application/json"), ("Content-Encoding", name)], body)))
    assert_same(both(make_request(wire.url, stream=True)))


def test_accept_encoding_sent(serve: Callable[..., Wire]) -> None:
    wire = serve(answer(http("200 OK", [], b"ok")))
    sent: Dict[str, Optional[str]] = {}
    for path in PATHS:
        before = len(wire.requests)
        RUNNERS[path](make_request(wire.url))
        assert len(wire.requests) == before + 1
        sent[path] = header_of(wire.requests[-1], "accept-encoding")
    assert sent["sync"] == sent["async"], sent
    assert sent["sync"] == "identity", sent


# -- 4. the total deadline ---------------------------------------------------------------------------------------
def test_deadline_dripping_body(serve: Callable[..., Wire]) -> None:
    """A valid head, then one body byte every 0.2 s: each path ends by its budget (connect + read = 2 s), the sync
    one at its next read after it, so at most one read timeout later."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    out = both(make_request(serve(drip(head + b"x" * 100, len(head), 100)).url, timeout=(1.0, 1.0)))
    for path, o in out.items():
        assert o.kind == "timeout", f"{path}: {o!r}"
        assert o.elapsed < 3.5, f"{path} took {o.elapsed:.2f} s (budget 2 s + one read timeout)"
    assert_same(out)


def test_deadline_dripping_head(serve: Callable[..., Wire]) -> None:
    """The head's first 20 bytes one every 0.2 s (about 4 s), then the rest: aiohttp's total bounds the head, so
    the async path ends at its 2 s budget. requests cannot bound a head whose every byte comes within its read
    timeout: the sync call lasts as long as the drip (about 4 s, printed with -s), and an answer that is whole
    by the time the deadline is checked is kept, not thrown away."""
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\nok"
    out = both(make_request(serve(drip(raw, 0, 20)).url, timeout=(1.0, 1.0)))
    for path, o in out.items():
        print(f"\ndripping head, {path}: {o!r}")
    assert out["async"].kind == "timeout", out["async"]
    assert out["async"].elapsed < 2.75, f"async took {out['async'].elapsed:.2f} s"
    assert (out["sync"].error, out["sync"].status, out["sync"].content) == (None, 200, b"ok"), out["sync"]


# -- 5. redirects are never followed -----------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "307 Temporary Redirect"])
def test_redirect_not_followed(serve: Callable[..., Wire], drive: Drive, status: str) -> None:
    def behave(wire: Wire, conn: socket.socket, request: bytes) -> bool:
        if request.startswith(b"GET /second"):
            conn.sendall(http("200 OK", [("Content-Type", "application/json")], b"{}"))
        else:
            conn.sendall(http(status, [("Location", wire.url + "second")]))
        return False

    wire = serve(behave)
    out: Dict[str, Outcome] = {}
    for path in PATHS:
        before = len(wire.requests)
        out[path] = drive.one(wire, path)
        seen = wire.requests[before:]
        assert len(seen) == 1, f"{path}: the server saw {[r.split(b' HTTP/')[0] for r in seen]}"
    common = assert_same(out)
    assert common.status == int(status[:3]), common
    assert common.error == ("VerificationError" if drive.how == "client" else None), common


# -- 6. error kinds ----------------------------------------------------------------------------------------------
def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
    return port


def test_kind_connection_refused() -> None:
    common = assert_same(both(make_request(f"http://127.0.0.1:{closed_port()}/")))
    assert (common.error, common.kind) == ("TransportError", "connect"), common


def test_kind_unresolvable_host() -> None:
    common = assert_same(both(make_request("http://nonexistent.invalid/")))
    assert (common.error, common.kind) == ("TransportError", "connect"), common


def test_kind_never_answers(serve: Callable[..., Wire]) -> None:
    out = both(make_request(serve(silent).url, timeout=(0.5, 0.5)))
    common = assert_same(out)
    assert (common.error, common.kind) == ("TransportError", "timeout"), common
    for path, o in out.items():
        assert o.elapsed < 1.5, f"{path} took {o.elapsed:.2f} s"


def test_kind_closed_mid_body(serve: Callable[..., Wire]) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n" + b"x" * 10
    common = assert_same(both(make_request(serve(answer(raw, close=True)).url)))
    assert (common.error, common.kind) == ("TransportError", "read"), common


@pytest.mark.parametrize("close", [False, True], ids=["kept-open", "closed"])
def test_kind_malformed_chunk_size(serve: Callable[..., Wire], close: bool) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    common = assert_same(both(make_request(serve(answer(raw, close)).url)))
    assert (common.error, common.kind) == ("TransportError", "read"), common


@pytest.mark.parametrize("close", [False, True], ids=["kept-open", "closed"])
def test_kind_garbage_instead_of_http(serve: Callable[..., Wire], close: bool) -> None:
    common = assert_same(both(make_request(serve(answer(b"hello\r\n\r\n", close)).url)))
    assert common.error == "TransportError", common


# -- 7. header values --------------------------------------------------------------------------------------------
def test_repeated_header_joined(serve: Callable[..., Wire]) -> None:
    raw = http("200 OK", [("X-A", "v1"), ("Content-Type", "application/json"), ("X-A", "v2")], b"{}")
    common = assert_same(both(make_request(serve(answer(raw)).url)))
    assert ("x-a", "v1, v2") in common.headers, common


def test_non_ascii_header_value(serve: Callable[..., Wire]) -> None:
    raw = b"HTTP/1.1 200 OK\r\nX-Name: " + "中".encode() + b"\r\nContent-Length: 2\r\n\r\nok"
    common = assert_same(both(make_request(serve(answer(raw)).url)))
    assert ("x-name", "中".encode().decode("latin-1")) in common.headers, common


# -- 8. the request on the wire ----------------------------------------------------------------------------------
BODY = json.dumps({"out_trade_no": "wire-1", "description": "线缆"}, ensure_ascii=False).encode()


def sent_requests(wire: Wire) -> Dict[str, bytes]:
    sent: Dict[str, bytes] = {}
    for path in PATHS:
        before = len(wire.requests)
        o = RUNNERS[path](make_request(wire.url + "v3/wire?a=1", "POST", BODY))
        assert o.status == 200, f"{path}: {o!r}"
        assert len(wire.requests) == before + 1, f"{path}: {wire.requests[before:]!r}"
        sent[path] = wire.requests[-1]
    return sent


def test_post_json_bytes_on_the_wire(serve: Callable[..., Wire]) -> None:
    sent = sent_requests(serve(answer(http("200 OK", [("Content-Type", "application/json")], b"{}"))))
    lines = {path: raw.split(b"\r\n", 1)[0] for path, raw in sent.items()}
    assert lines["sync"] == lines["async"] == b"POST /v3/wire?a=1 HTTP/1.1", lines
    for path, raw in sent.items():
        assert header_of(raw, "content-length") == str(len(BODY)), f"{path}: {raw!r}"
        assert header_of(raw, "transfer-encoding") is None, f"{path}: {raw!r}"
        assert raw.split(b"\r\n\r\n", 1)[1] == BODY, f"{path}: {raw!r}"


def test_post_same_header_fields(serve: Callable[..., Wire]) -> None:
    """The request carries Accept, User-Agent and Content-Type (as the client's do): neither library adds or
    drops a field the other does not."""
    sent = sent_requests(serve(answer(http("200 OK", [("Content-Type", "application/json")], b"{}"))))
    fields: Dict[str, List[Tuple[str, str]]] = {}
    for path, raw in sent.items():
        head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
        fields[path] = sorted((k.lower(), v.strip()) for k, _, v in (line.partition(":") for line in head))
    assert fields["sync"] == fields["async"], fields


# -- 9. connections: kept alive after a whole answer, dropped after a broken one ------------------------------------
def _three_calls(path: str, requests_: List[Request]) -> List[Outcome]:
    """The requests in order on ONE transport of `path` (its pool carries over from call to call)."""
    if path == "sync":
        transport = RequestsTransport(OPTIONS)
        try:
            out = []
            for request in requests_:
                start = time.monotonic()
                try:
                    out.append(_answered(transport.send(request), start))
                except Exception as exc:
                    out.append(_failed(exc, start))
            return out
        finally:
            transport.close()

    async def go() -> List[Outcome]:
        transport = AiohttpTransport(OPTIONS)
        try:
            out = []
            for request in requests_:
                start = time.monotonic()
                try:
                    out.append(_answered(await transport.send(request), start))
                except Exception as exc:
                    out.append(_failed(exc, start))
            return out
        finally:
            await transport.close()

    return asyncio.run(go())


@pytest.mark.parametrize("path", PATHS)
def test_a_whole_answer_leaves_the_connection_for_the_next_call(serve: Callable[..., Wire], path: str) -> None:
    wire = serve(answer(http("404 Not Found", [("Content-Type", "application/json")], JSON_404)))
    out = _three_calls(path, [make_request(wire.url)] * 3)
    assert [(o.status, o.content) for o in out] == [(404, JSON_404)] * 3, out
    assert wire.connections == 1


@pytest.mark.parametrize("path", PATHS)
def test_a_body_cut_short_is_not_reused_and_the_next_call_works(serve: Callable[..., Wire], path: str) -> None:
    """The first answer promises 100 bytes and the server stops after 10 (the connection stays open): the call
    ends at its deadline, its connection is dropped, and the next call gets a fresh one and a whole answer."""
    head = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    whole = http("404 Not Found", [("Content-Type", "application/json")], JSON_404)
    answers = iter([head + b"x" * 10, whole])

    def behave(wire: Wire, conn: socket.socket, request: bytes) -> bool:
        conn.sendall(next(answers, whole))
        return False

    wire = serve(behave)
    out = _three_calls(path, [make_request(wire.url, timeout=(0.5, 0.5)), make_request(wire.url)])
    assert (out[0].error, out[0].kind) == ("TransportError", "timeout"), out[0]
    assert (out[1].status, out[1].content) == (404, JSON_404), out[1]
    assert wire.connections == 2
