"""The sync transport's lean path (a whole-body request driven on urllib3's pooled connection with `http.client`),
over real loopback HTTP: keep-alive reuse, closed and half-read connections, decoding, timeouts, error kinds,
pool slot accounting, and the bytes on the wire compared with what urllib3's own `urlopen` sends."""

from __future__ import annotations

import gzip
import shutil
import socket
import threading
import time
import zlib
from typing import Any, Callable, Iterator, List, NamedTuple, Optional

import pytest
import urllib3.connection
import urllib3.util.url
from requests.adapters import HTTPAdapter

from wechatpay_chain import TransportError
from wechatpay_chain.core import BAD_ESCAPE, TARGET_CHARS
from wechatpay_chain.models import Headers, Request
from wechatpay_chain.sandbox import Sandbox
from wechatpay_chain.transport import RequestsTransport

from .test_v2_mtls import Pki, Server, pki, server  # noqa: F401 - the mTLS server and its certificates

SEED = "v3/payroll-card/authentications/pre-order-with-auth"
TIMEOUT = (2.0, 2.0)
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


class Reply(NamedTuple):
    data: bytes
    close: bool = False  # close the connection after writing `data`
    delay: float = 0.0  # seconds before writing


class RawServer:
    """A loopback server thread reading HTTP/1.1 requests (Content-Length bodies) and writing crafted replies.

    `answer(i)` gives the reply to the i-th request (0-based, across connections). It counts accepted
    connections and keeps every request as raw bytes (head and body), to check what went on the wire.
    """

    def __init__(self, answer: Callable[[int], Reply]) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.requests: List[bytes] = []
        self.closed = threading.Event()  # set whenever the server closed a connection after a reply
        self._lock = threading.Lock()
        self._conns: List[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, target: str = "/v3/lean") -> str:
        return f"http://127.0.0.1:{self.port}{target}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        try:
            with conn:
                while True:
                    while b"\r\n\r\n" not in buf:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    while len(buf) < length:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                    body, buf = buf[:length], buf[length:]
                    with self._lock:
                        index = len(self.requests)
                        self.requests.append(head + b"\r\n\r\n" + body)
                    reply = self.answer(index)
                    if reply.delay:
                        time.sleep(reply.delay)
                    conn.sendall(reply.data)
                    if reply.close:
                        conn.shutdown(socket.SHUT_RDWR)
                        self.closed.set()
                        return
        except OSError:  # the client gave up (a timeout test): nothing to do
            pass

    def close(self) -> None:
        """Stop accepting and end every connection, so that no server thread outlives the test."""
        for sock in [self.listener, *self._conns]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[int], Reply]], RawServer]]:
    servers: List[RawServer] = []

    def start(answer: Callable[[int], Reply]) -> RawServer:
        servers.append(RawServer(answer))
        return servers[-1]

    yield start
    for srv in servers:
        srv.close()


@pytest.fixture
def transport() -> Iterator[RequestsTransport]:
    t = RequestsTransport({})
    yield t
    t.close()


def post(
    url: str, body: Optional[bytes] = b'{"a":1}', timeout: Any = TIMEOUT, cert: Any = None, **headers: str
) -> Request:
    h = Headers({"Accept": "application/json", "User-Agent": "wechatpay-chain-test", **headers})
    return Request("POST", url, h, body, timeout, cert)


def pool_of(t: RequestsTransport) -> Any:
    (pool,) = t._pools.values()
    return pool


def test_keep_alive_reuses_one_connection(serve: Any, transport: RequestsTransport) -> None:
    srv = serve(lambda i: Reply(OK))
    for _ in range(5):
        r = transport.send(post(srv.url()))
        assert r.status_code == 200 and r.json() == {"ok": True} and r.reason == "OK"
        assert r.headers["content-type"] == "application/json"
    assert srv.accepted == 1 and len(srv.requests) == 5
    pool = pool_of(transport)
    assert pool.num_connections == 1 and pool.num_requests == 5


def test_the_lean_path_is_taken(serve: Any, transport: RequestsTransport) -> None:
    """Whole-body requests never go through urllib3's `urlopen` (that is the cost this path removes)."""
    srv = serve(lambda i: Reply(OK))
    transport.send(post(srv.url()))
    pool = pool_of(transport)

    def urlopen(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("urlopen was called")

    pool.urlopen = urlopen
    try:
        assert transport.send(post(srv.url())).status_code == 200
        assert transport.send(Request("GET", srv.url("/v3/x?y=1"), Headers(), None, TIMEOUT)).status_code == 200
    finally:
        del pool.urlopen


def test_a_connection_class_of_its_own_keeps_urlopen(serve: Any, transport: RequestsTransport) -> None:
    """A pool whose connections write requests their own way (e.g. urllib3's HTTP/2 one) is left to urlopen."""
    srv = serve(lambda i: Reply(OK))
    transport.send(post(srv.url()))
    pool = pool_of(transport)
    calls: List[str] = []
    urlopen = pool.urlopen

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return urlopen(*args, **kwargs)

    class Custom(urllib3.connection.HTTPConnection):
        def request(self, *args: Any, **kwargs: Any) -> None:
            super().request(*args, **kwargs)

    pool.urlopen, pool.ConnectionCls = counting, Custom
    assert transport.send(post(srv.url())).json() == {"ok": True}
    assert calls == ["/v3/lean"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl CLI is not installed")
def test_tls_on_the_lean_path(server: Server, pki: Pki) -> None:  # noqa: F811
    """HTTPS through the lean path: urllib3's `connect` verifies the server and presents the client certificate."""
    url = server.base_uri + "secapi/pay/refund"
    cert = (str(pki.client_cert), str(pki.client_key))
    body = b"<xml><mch_id>1230000109</mch_id></xml>"
    t = RequestsTransport({"verify": str(pki.ca)})
    try:
        assert t.send(post(url, body, cert=cert)).status_code == 200
        pool = t._pools[(server.base_uri.rstrip("/"), cert)]

        def urlopen(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("urlopen was called")

        pool.urlopen = urlopen
        for _ in range(3):
            assert t.send(post(url, body, cert=cert)).status_code == 200
        assert server.seen[-1]["peer"] == "1230000109" and pool.num_connections == 1
        # No client certificate: the server refuses the handshake. TLS 1.3 has let the client send its request
        # by then; when the refusing alert is read that proves nothing was taken (`connect`), and when only
        # the connection's end is seen (an EOF without close_notify) it proves nothing (`read`, not resent).
        kinds = set()
        for _ in range(3):
            with pytest.raises(TransportError) as info:
                t.send(post(url, body))
            kinds.add(info.value.kind)
            assert info.value.kind == "connect" or "Connection aborted" in str(info.value), str(info.value)
        assert kinds <= {"connect", "read"}
    finally:
        t.close()
    untrusting = RequestsTransport({})
    try:
        with pytest.raises(TransportError) as info:  # the test CA is not in the default bundle
            untrusting.send(post(url, body, cert=cert))
        assert info.value.kind == "connect" and "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    finally:
        untrusting.close()


def test_connection_close_answer_then_the_next_call_reconnects(serve: Any, transport: RequestsTransport) -> None:
    close = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    srv = serve(lambda i: Reply(close, close=True) if i == 0 else Reply(OK))
    assert transport.send(post(srv.url())).content == b"ok"
    assert transport.send(post(srv.url())).status_code == 200
    assert transport.send(post(srv.url())).status_code == 200
    assert srv.accepted == 2


def test_server_closing_an_idle_kept_alive_connection(serve: Any, transport: RequestsTransport) -> None:
    """The server closes after answering, without saying so: the pool drops the dead connection, no error."""
    srv = serve(lambda i: Reply(OK, close=i == 0))
    assert transport.send(post(srv.url())).status_code == 200
    assert srv.closed.wait(5)
    time.sleep(0.05)  # let the FIN arrive
    assert transport.send(post(srv.url())).status_code == 200
    assert srv.accepted == 2


def test_http10_answer_read_to_eof(serve: Any, transport: RequestsTransport) -> None:
    srv = serve(lambda i: Reply(b"HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nuntil the end", close=True))
    for _ in range(2):
        r = transport.send(post(srv.url()))
        assert r.content == b"until the end" and r.headers["X-A"] == "1"
    assert srv.accepted == 2


def test_chunked_answer(serve: Any, transport: RequestsTransport) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    srv = serve(lambda i: Reply(chunked))
    for _ in range(3):
        assert transport.send(post(srv.url())).content == b"hello world"
    assert srv.accepted == 1


@pytest.mark.parametrize("encoding, compress", [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_content_encoding_is_decoded(
    serve: Any, transport: RequestsTransport, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    packed = compress(b'{"compressed":true}')
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nContent-Length: {len(packed)}\r\n\r\n"
    srv = serve(lambda i: Reply(head.encode() + packed))
    r = transport.send(post(srv.url()))
    assert r.json() == {"compressed": True} and r.headers["Content-Encoding"] == encoding
    assert b"accept-encoding: identity\r\n" in srv.requests[0].lower()  # asked for nothing else


def test_undecodable_body_is_a_read_error(serve: Any, transport: RequestsTransport) -> None:
    srv = serve(lambda i: Reply(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope"))
    with pytest.raises(TransportError) as info:
        transport.send(post(srv.url()))
    assert info.value.kind == "read" and "DecodeError" in str(info.value)


def test_duplicate_headers_last_value_wins_under_the_first_spelling(serve: Any, transport: RequestsTransport) -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Dup: first\r\nSet-Cookie: a=1\r\nx-dup: second\r\nSet-Cookie: b=2\r\n"
    folded = b"X-Folded: one\r\n  two\r\n"
    srv = serve(lambda i: Reply(head + folded + b"Content-Length: 0\r\n\r\n"))
    r = transport.send(post(srv.url()))
    assert list(r.headers) == ["X-Dup", "Set-Cookie", "X-Folded", "Content-Length"]
    assert r.headers["x-dup"] == "second" and r.headers["set-cookie"] == "b=2"
    assert r.headers["X-Folded"] == "one two"  # obsolete line folding is one space (urllib3 2.8, RFC 9112)


def test_read_timeout_then_the_pool_still_works(serve: Any, transport: RequestsTransport) -> None:
    srv = serve(lambda i: Reply(OK, delay=1.0) if i == 0 else Reply(OK))
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        transport.send(post(srv.url(), timeout=(2.0, 0.3)))
    assert info.value.kind == "timeout" and time.monotonic() - started < 0.9
    assert "Read timed out" in str(info.value)
    assert transport.send(post(srv.url())).status_code == 200
    assert pool_of(transport).pool.qsize() == pool_of(transport).pool.maxsize


def test_connection_refused_is_a_connect_error(transport: RequestsTransport) -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(TransportError) as info:
        transport.send(post(f"http://127.0.0.1:{port}/v3/lean"))
    assert info.value.kind == "connect" and info.value.__cause__ is not None
    pool = pool_of(transport)
    assert pool.pool.qsize() == pool.pool.maxsize


@pytest.mark.parametrize(
    "broken",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nabc",
        b"HTTP/1.1 2",
        b"",
        b"not http at all\r\n\r\n",
    ],
    ids=["mid-body", "mid-chunk", "mid-status", "no-answer", "garbage"],
)
def test_server_closing_mid_answer_is_a_read_error(serve: Any, transport: RequestsTransport, broken: bytes) -> None:
    srv = serve(lambda i: Reply(broken, close=True) if i == 0 else Reply(OK))
    with pytest.raises(TransportError) as info:
        transport.send(post(srv.url()))
    assert info.value.kind == "read" and info.value.__cause__ is not None
    assert transport.send(post(srv.url())).status_code == 200
    pool = pool_of(transport)
    assert pool.pool.qsize() == pool.pool.maxsize and srv.accepted == 2


class _Interrupting(str):
    """A header value whose encoding is interrupted (as by Ctrl-C) while the request is being written."""

    def encode(self, *args: Any, **kwargs: Any) -> bytes:
        raise KeyboardInterrupt


def test_pool_slots_are_returned_on_every_failure(serve: Any) -> None:
    """50 failing calls of every kind on a blocking pool of 2: had one slot leaked twice, the calls would hang."""
    dead = socket.create_server(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    broken = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart"
    srv = serve(lambda i: Reply(broken, close=True) if i % 2 else Reply(b"HTTP/1.1 1000 Bad status\r\n\r\n"))
    slow = serve(lambda i: Reply(OK, delay=0.3))
    t = RequestsTransport({})
    t.session.mount("http://", HTTPAdapter(pool_maxsize=2, pool_block=True))
    kinds: List[str] = []
    done = threading.Event()

    def failing_calls() -> None:
        for i in range(50):
            if i % 10 == 9:
                request = post(slow.url(), timeout=(2.0, 0.05))
            elif i % 10 == 8:
                request = post(srv.url(), Authorization=_Interrupting("x"))
            else:
                request = post(srv.url())
            try:
                t.send(request)
            except TransportError as exc:
                kinds.append(exc.kind)
            except KeyboardInterrupt:
                kinds.append("interrupt")
        with pytest.raises(TransportError):
            t.send(post(f"http://127.0.0.1:{dead_port}/v3/lean"))
        done.set()

    worker = threading.Thread(target=failing_calls, daemon=True)
    worker.start()
    try:
        assert done.wait(60), "a pool slot leaked: the blocking pool ran dry"
        assert kinds.count("timeout") == 5 and kinds.count("interrupt") == 5 and kinds.count("read") == 40
        for url in (srv.url(), slow.url(), f"http://127.0.0.1:{dead_port}/v3/lean"):
            pool = t._pools[(url.rsplit("/v3", 1)[0], None)]
            assert pool.block and pool.pool.qsize() == 2
        fine = serve(lambda i: Reply(OK))
        assert all(t.send(post(fine.url())).status_code == 200 for _ in range(3))
    finally:
        t.close()


def test_concurrent_calls_share_a_small_blocking_pool(serve: Any) -> None:
    srv = serve(lambda i: Reply(OK))
    t = RequestsTransport({})
    t.session.mount("http://", HTTPAdapter(pool_maxsize=2, pool_block=True))
    errors: List[BaseException] = []

    def calls() -> None:
        try:
            for _ in range(25):
                assert t.send(post(srv.url())).status_code == 200
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=calls) for _ in range(8)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert not errors and len(srv.requests) == 200
        pool = pool_of(t)
        assert srv.accepted <= 2 and pool.num_connections <= 2 and pool.pool.qsize() == 2
    finally:
        t.close()


def test_a_closed_pool_is_fetched_again(serve: Any, transport: RequestsTransport) -> None:
    srv = serve(lambda i: Reply(OK))
    assert transport.send(post(srv.url())).status_code == 200
    old = pool_of(transport)
    # what urllib3 1.26's pool manager does to a pool it evicts (2.x only forgets it)
    transport.session.get_adapter(srv.url()).poolmanager.clear()
    old.close()
    assert transport.send(post(srv.url())).status_code == 200
    assert pool_of(transport) is not old


def _urlopen_bytes(srv: RawServer, request: Request) -> bytes:
    """What urllib3's own `urlopen` (the path this replaces) puts on the wire for `request`."""
    t = RequestsTransport({})
    try:
        t.send(request)  # fetches the pool
        before = len(srv.requests)
        pool_of(t).urlopen(
            request.method,
            request.target,
            body=request.body,
            headers=dict(request.headers),
            retries=False,
            redirect=False,
            assert_same_host=False,
            timeout=2.0,
        )
        return srv.requests[before]
    finally:
        t.close()


@pytest.mark.parametrize(
    "request_",
    [
        post("{url}/v3/pay/transactions/jsapi", Authorization='WECHATPAY2-SHA256-RSA2048 mchid="1",signature="x=="'),
        post("{url}/v3/a?b=1&c=%E4%B8%AD", body=None),
        Request("GET", "{url}/v3/certificates?x=1", Headers({"Accept": "*/*", "User-Agent": "ua"}), None, TIMEOUT),
        Request("DELETE", "{url}/v3/x", Headers({"User-Agent": "ua"}), None, TIMEOUT),
        Request("POST", "{url}/v3/no-user-agent", Headers({"Accept": "a"}), b"x", TIMEOUT),
        Request("POST", "{url}/v3/a b|c?q=%e4%zz#frag", Headers({"User-Agent": "ua"}), b"", TIMEOUT),
        Request("PUT", "{url}/v3/raw", {"user-agent": "ua", "X-Empty": ""}, bytearray(b"[1]"), TIMEOUT),
        Request("OPTIONS", "{url}/v3/x", Headers({"User-Agent": "ua"}), None, TIMEOUT),
        Request("REPORT", "{url}/v3/x", Headers({"User-Agent": "ua"}), None, TIMEOUT),
        Request("PATCH", "{url}/v3/x", Headers({"User-Agent": "ua", "content-length": "3"}), b"abc", TIMEOUT),
        Request("POST", "{url}/v3/x", Headers({"Host": "example.com", "Accept-Encoding": "gzip"}), b"{}", TIMEOUT),
    ],
    ids=[
        "signed-post",
        "post-no-body",
        "get",
        "delete",
        "no-user-agent",
        "target-encoding",
        "dict-headers",
        "options",
        "other-method",
        "given-length",
        "given-host-and-encoding",
    ],
)
def test_the_bytes_on_the_wire_are_urllib3s(serve: Any, transport: RequestsTransport, request_: Request) -> None:
    srv = serve(lambda i: Reply(OK))
    url = request_.url.replace("{url}", f"http://127.0.0.1:{srv.port}")
    request = Request(request_.method, url, request_.headers, request_.body, request_.timeout)
    expected = _urlopen_bytes(srv, request)
    transport.send(request)
    assert srv.requests[-1] == expected


@pytest.mark.parametrize(
    "target",
    [
        "/v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1230000109",
        "/v3/a%2Fb/%E4%B8%AD?q=a%20b&r=!$&'()*+,;=:@/?x",
        "/v3/a%2fb",
        "/v3/a%",
        "/v3/a%4",
        "/v3/%ZZ",
        "/v3/a b",
        "/v3/中文",
        "/v3/a?b=中",
        "/v3/a#frag",
        "/v3/a?b#c",
        "/v3/[x]",
        "/v3/a?b=%E4%zz",
        '/v3/a{b}|c^d`e\\f"g<h>',
        "/",
        "/?",
    ],
)
def test_a_target_passed_as_is_is_one_urllib3_leaves_alone(target: str) -> None:
    encode = getattr(urllib3.util.url, "_encode_target", None)
    if encode is None:  # pragma: no cover - urllib3 < 1.25 sends the target as given
        pytest.skip("this urllib3 does not encode targets")
    as_is = bool(TARGET_CHARS(target)) and not ("%" in target and BAD_ESCAPE(target))
    assert not as_is or encode(target) == target


def test_sandbox_calls_reuse_one_connection(sandbox: Sandbox, client: Any) -> None:
    body = {
        "openid": "onqOjjmo8wmTOOtSKwXtGjg9Gb58",
        "appid": "wxa1111111",
        "sub_mchid": "1900000109",
        "sub_appid": "wxa1111111",
        "project_name": "某项目",
        "employer_name": "某用工企业",
        "user_name": "张三",
        "id_card_number": "110101199003071234",
        "employment_type": "LONG_TERM_EMPLOYMENT",
        "authenticate_type": "SIGN_IN",
    }
    for i in range(5):
        number = f"lean{time.time_ns()}{i}"
        r = client[SEED].post(json={**body, "authenticate_number": number}, encrypt=["user_name", "id_card_number"])
        assert r.status_code == 200 and r.json()["expires_in"] == 1800
    pool = pool_of(client.get_driver().transport)
    assert pool.num_connections == 1 and pool.num_requests == 5


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl CLI is not installed")
def test_a_tls_failure_after_the_request_went_out_is_not_connect(pki: Pki) -> None:  # noqa: F811
    """`connect` means nothing reached the service, and retries resend only that. A TLS record that does not
    decrypt, arriving after the server has read the whole POST, must be `read` on every sync path (urllib3
    raises the same SSLError for it as for a failed handshake)."""
    import os
    import ssl

    import requests

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    listener = socket.create_server(("127.0.0.1", 0))
    received: List[bytes] = []

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            conn: Any = raw
            try:
                conn = ctx.wrap_socket(raw, server_side=True)  # takes over raw's file descriptor
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += conn.recv(65536)
                received.append(head.split(b"\r\n")[0])
                os.write(conn.fileno(), b"\x17\x03\x03\x00\x20" + os.urandom(32))  # a record that does not decrypt
                time.sleep(0.1)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"https://localhost:{listener.getsockname()[1]}/v3/pay/transactions/jsapi"
    session = requests.Session()
    session.verify = str(pki.ca)
    try:
        for transport in (RequestsTransport({"verify": str(pki.ca)}), RequestsTransport({"session": session})):
            with pytest.raises(TransportError) as info:
                transport.send(post(url))
            assert info.value.kind == "read", str(info.value)
            transport.close()
        assert len(received) == 2
    finally:
        listener.close()
        session.close()


def test_which_tls_failures_prove_nothing_was_taken() -> None:
    import ssl

    from urllib3.exceptions import MaxRetryError, SSLError

    from wechatpay_chain.pooled import handshake_refused

    def alert(reason: str) -> ssl.SSLError:
        error = ssl.SSLError(1, f"[SSL: {reason}] ...")
        error.reason = reason
        return error

    refused = [ssl.SSLCertVerificationError(1, "certificate verify failed"), alert("TLSV13_ALERT_CERTIFICATE_REQUIRED"),
               alert("SSLV3_ALERT_HANDSHAKE_FAILURE"), alert("TLSV1_ALERT_UNKNOWN_CA"), alert("WRONG_VERSION_NUMBER")]
    taken = [alert("DECRYPTION_FAILED_OR_BAD_RECORD_MAC"), alert("UNEXPECTED_EOF_WHILE_READING"),
             ssl.SSLError(1, "no reason")]
    for error in refused:
        assert handshake_refused(error)
        assert handshake_refused(MaxRetryError(None, "/", SSLError(error)))  # type: ignore[arg-type]
    for error in taken:
        assert not handshake_refused(error)
        assert not handshake_refused(MaxRetryError(None, "/", SSLError(error)))  # type: ignore[arg-type]


def test_through_a_callers_session_a_whole_body_is_framed_as_session_post_frames_it(
    serve: Callable[[Callable[[int], Reply]], RawServer]
) -> None:
    """The adapter path (a caller's Session, or proxies) once sent whole bodies chunk-encoded: requests'
    adapter chunks any body whose request has no Content-Length, which `Session.post` always sets."""
    import requests

    srv = serve(lambda i: Reply(OK))
    session = requests.Session()
    transport = RequestsTransport({"session": session})
    try:
        transport.send(post(srv.url()))
        transport.send(post(srv.url(), body=None))
        transport.send(Request("GET", srv.url(), Headers({"Accept": "application/json"}), None, TIMEOUT))
        with_post = session.post(srv.url(), data=b'{"a":1}', headers={"Accept": "application/json"})
        assert with_post.status_code == 200
    finally:
        transport.close()
        session.close()
    heads = [r.split(b"\r\n\r\n", 1)[0].lower() for r in srv.requests]
    assert b"content-length: 7" in heads[0] and b"transfer-encoding" not in heads[0]
    assert b"content-length: 0" in heads[1] and b"transfer-encoding" not in heads[1]
    assert b"content-length" not in heads[2] and b"transfer-encoding" not in heads[2]
    assert b"content-length: 7" in heads[3]  # what requests itself sends


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl CLI is not installed")
def test_requests_ca_bundle_is_honoured_as_by_requests(
    server: Server, pki: Pki, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """`Session.post` takes REQUESTS_CA_BUNDLE when verify is True; so do the direct path and a caller's Session."""
    import requests

    url = server.base_uri + "secapi/pay/refund"
    cert = (str(pki.client_cert), str(pki.client_key))
    body = b"<xml><mch_id>1230000109</mch_id></xml>"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
    session = requests.Session()
    for transport in (RequestsTransport({}), RequestsTransport({"session": session})):
        try:
            assert transport.send(post(url, body, cert=cert)).status_code == 200
        finally:
            transport.close()
    untrusting = requests.Session()
    untrusting.trust_env = False  # the environment ignored: the test CA is unknown again
    transport = RequestsTransport({"session": untrusting})
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        transport.send(post(url, body, cert=cert))
    transport.close()
    session.close()
    untrusting.close()
