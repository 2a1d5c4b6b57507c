"""One trust answer on both transports: requests (sync) and aiohttp with `Network`'s SSLContext (async).

A loopback TLS server with its own CA (made with the openssl CLI) answers every request with HTTP 404 and
`{"code":"NOT_FOUND","message":"x"}`: a connection the client ACCEPTED ends in `ClientError`, one it REFUSED in
`TransportError` (whose `kind` says how far it got), a trust setting that cannot load in `InvalidArgumentError`
before any I/O. Each case runs the same config through `get()` and `get_async()` and asserts the same outcome,
and the outcome requests itself gives (certifi by default, `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE`, `verify=`
a file, a hashed directory or False, host name checking, the mTLS client certificate).
"""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, NamedTuple, Optional, Tuple

import pytest

from tests.pki import EC, Authority, openssl
from wechatpay_chain import Builder
from wechatpay_chain.errors import ClientError, InvalidArgumentError, TransportError

MCHID = "1230000109"
SECRET = "exposed_your_key_here_have_risks"
XML = {"mch_id": MCHID, "out_trade_no": "1217752501201407033233368018", "out_refund_no": "R1",
       "total_fee": "100", "refund_fee": "100"}
BODY = b'{"code":"NOT_FOUND","message":"x"}'

#: what the environment may carry that changes trust or routing; every test starts without any of it
TRUST_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
             "no_proxy")

# -- PKI -----------------------------------------------------------------------------------------------------------
class Pki(NamedTuple):
    ca: Path
    ca_dir: Path  # the CA alone, hashed (`openssl rehash`)
    server_cert: Path  # SAN IP:127.0.0.1 only: no DNS name, so `localhost` does not match
    server_key: Path
    client_cert: Path
    client_key: Path
    garbage: Path  # a file that is not a CA bundle


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the openssl CLI is not installed, and CI=true: the trust tests must run in CI")
        pytest.skip("the openssl CLI is not installed: no test PKI for the trust tests")
    d = tmp_path_factory.mktemp("trust-pki")
    authority = Authority(d, "wechatpay-chain trust test CA", "IP:127.0.0.1", EC)
    ca = authority.ca
    server_cert = authority.issue("server", "/CN=wechatpay-chain trust test server", "server_ext", "0x1001")
    client_cert = authority.issue("client", f"/O=WeChatPay Sandbox/CN={MCHID}", "client_ext", "0x1002")

    ca_dir = d / "cadir"
    ca_dir.mkdir()
    shutil.copy(ca, ca_dir / "ca.pem")
    hashed = ca_dir / f"{openssl('x509', '-hash', '-noout', '-in', str(ca)).strip()}.0"
    try:
        openssl("rehash", str(ca_dir))
    except subprocess.CalledProcessError:  # an openssl without `rehash` (LibreSSL): name the link as it would
        shutil.copy(ca, hashed)
    assert hashed.exists(), f"no {hashed.name} in {sorted(os.listdir(ca_dir))}"

    garbage = d / "garbage.pem"
    garbage.write_text("this is not a CA bundle\n-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n")
    return Pki(ca, ca_dir, server_cert, d / "server.key", client_cert, d / "client.key", garbage)


# -- the server ----------------------------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        peer: Any = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        names: Dict[str, str] = {k: v for rdn in (peer or {}).get("subject", ()) for k, v in rdn}
        server: Any = self.server
        server.record("request", names.get("commonName"))
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


class _TLSServer(http.server.ThreadingHTTPServer):
    """The TLS handshake runs in the connection's own thread (not in `accept`), and every step is counted."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, linger: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.linger = linger
        self.events: Dict[str, int] = {"connection": 0, "handshake": 0, "refused": 0, "request": 0}
        self.peers: list[Optional[str]] = []
        self._lock = threading.Lock()

    def record(self, event: str, peer: Optional[str] = None) -> None:
        with self._lock:
            self.events[event] += 1
            if event == "request":
                self.peers.append(peer)

    def get_request(self) -> Tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        self.record("connection")
        return sock, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(5.0)
        tls = self.context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError):
            self.record("refused")
            if self.linger:
                _lingering_close(socket.socket(fileno=tls.detach()))
            else:
                tls.close()  # at once, as `wrap_socket` does when its handshake fails
            return
        self.record("handshake")
        try:
            _Handler(tls, client_address, self)
        except OSError:
            pass  # the client went away (an mTLS refusal seen late, say)
        finally:
            try:
                tls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def _lingering_close(raw: socket.socket) -> None:
    """Close as nginx's `lingering_close` does: FIN first, then read what the client still sends, so the kernel
    answers it with no RST (which may discard the alert before the client reads it)."""
    raw.settimeout(0.5)
    try:
        raw.shutdown(socket.SHUT_WR)
        while raw.recv(65536):
            pass
    except OSError:
        pass
    finally:
        raw.close()


class Server(NamedTuple):
    port: int
    httpd: _TLSServer

    def url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}/"

    def snapshot(self) -> Dict[str, int]:
        with self.httpd._lock:
            return dict(self.httpd.events)


def _serve(pki: Pki, client_auth: bool, linger: bool = False, tls12: bool = False) -> Iterator[Server]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    if client_auth:
        ctx.load_verify_locations(cafile=str(pki.ca))
        ctx.verify_mode = ssl.CERT_REQUIRED
    httpd = _TLSServer(ctx, linger)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(httpd.server_address[1], httpd)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def server(pki: Pki) -> Iterator[Server]:
    """Server authentication only."""
    yield from _serve(pki, client_auth=False)


@pytest.fixture(scope="module")
def mtls_server(pki: Pki) -> Iterator[Server]:
    """Requires a client certificate signed by the test CA (TLS 1.3); a refused client gets the alert, then a
    lingering close (as nginx closes), so the alert is what the client reads."""
    yield from _serve(pki, client_auth=True, linger=True)


@pytest.fixture(scope="module")
def mtls_abrupt_server(pki: Pki) -> Iterator[Server]:
    """As `mtls_server`, but a refused connection is closed at once (Python's `wrap_socket`, test_v2_mtls.py's
    server): the client's request then meets a closed socket, and the alert may be lost to the reset/EOF."""
    yield from _serve(pki, client_auth=True)


@pytest.fixture(scope="module")
def mtls12_server(pki: Pki) -> Iterator[Server]:
    """As `mtls_server` with TLS 1.2 at most: the client certificate is refused inside the handshake itself."""
    yield from _serve(pki, client_auth=True, tls12=True)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CA bundle or proxy from the machine running the tests (CI images often set REQUESTS_CA_BUNDLE)."""
    for name in (*TRUST_ENV, *PROXY_ENV):
        monkeypatch.delenv(name, raising=False)


# -- one call on each path -----------------------------------------------------------------------------------------
class Outcome(NamedTuple):
    result: str  # 'accepted' | 'refused' | 'invalid'
    kind: Optional[str]  # TransportError.kind when refused
    detail: str  # the error's text, for the report (not compared)

    @property
    def answer(self) -> Tuple[str, Optional[str]]:
        return self.result, self.kind


def _classify(exc: BaseException) -> Outcome:
    if isinstance(exc, ClientError):
        assert exc.status_code == 404 and exc.code == "NOT_FOUND", f"an unexpected answer: {exc!r}"
        return Outcome("accepted", None, str(exc))
    if isinstance(exc, TransportError):
        return Outcome("refused", exc.kind, str(exc))
    if isinstance(exc, InvalidArgumentError):
        return Outcome("invalid", None, str(exc))
    raise exc


CALLS: Dict[str, Tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "v3": (lambda c: c.v3.x.get(), lambda c: c.v3.x.get_async()),
    # no client certificate: `security=False` (the atlas would present it unasked for this mTLS operation)
    "v2": (lambda c: c.v2.secapi.pay.refund.post(xml=XML, security=False),
           lambda c: c.v2.secapi.pay.refund.post_async(xml=XML, security=False)),
    "v2-security": (lambda c: c.v2.secapi.pay.refund.post(xml=XML, security=True),
                    lambda c: c.v2.secapi.pay.refund.post_async(xml=XML, security=True)),
}


def config(base_uri: str, **extra: Any) -> Dict[str, Any]:
    return {"mchid": MCHID, "serial": "nop", "signer": lambda m: "any", "verifier": lambda *a: False,
            "secret": SECRET, "base_uri": base_uri, "timeout": (5.0, 5.0), **extra}


def sync_outcome(conf: Dict[str, Any], call: str = "v3") -> Outcome:
    client = Builder.factory(conf)
    try:
        CALLS[call][0](client)
    except Exception as exc:
        return _classify(exc)
    finally:
        client.get_driver().close()
    raise AssertionError("the 404 answer raised no error")


def async_outcome(conf: Dict[str, Any], call: str = "v3") -> Outcome:
    async def go() -> Outcome:
        client = Builder.factory(conf)
        try:
            await CALLS[call][1](client)
        except Exception as exc:
            return _classify(exc)
        finally:
            await client.get_driver().close_async()
        raise AssertionError("the 404 answer raised no error")

    return asyncio.run(go())


def both(conf: Dict[str, Any], call: str = "v3") -> Tuple[Outcome, Outcome]:
    """The outcome on each path, asserted equal (accepted/refused/invalid, and the TransportError kind)."""
    sync, asynchronous = sync_outcome(conf, call), async_outcome(conf, call)
    assert sync.answer == asynchronous.answer, f"sync: {sync}\nasync: {asynchronous}"
    return sync, asynchronous


def merchant_of(pki: Pki) -> Dict[str, str]:
    return {"cert": str(pki.client_cert), "key": str(pki.client_key)}


def refused_by_verification(outcome: Outcome) -> bool:
    return "CERTIFICATE_VERIFY_FAILED" in outcome.detail


# -- the cases -----------------------------------------------------------------------------------------------------
def test_default_trust_refuses_a_private_ca(server: Server) -> None:
    """1. certifi only: the test CA is in no public bundle."""
    before = server.snapshot()
    sync, asynchronous = both(config(server.url()))
    assert sync.answer == ("refused", "connect")
    assert refused_by_verification(sync) and refused_by_verification(asynchronous), (sync, asynchronous)
    after = server.snapshot()
    assert after["request"] == before["request"], "a refused server got a request"


ENV_BUNDLES: Dict[str, Callable[[Pki], Dict[str, str]]] = {
    "REQUESTS_CA_BUNDLE": lambda p: {"REQUESTS_CA_BUNDLE": str(p.ca)},
    "CURL_CA_BUNDLE": lambda p: {"CURL_CA_BUNDLE": str(p.ca)},
    "REQUESTS_CA_BUNDLE-dir": lambda p: {"REQUESTS_CA_BUNDLE": str(p.ca_dir)},
    "REQUESTS_CA_BUNDLE-first": lambda p: {"REQUESTS_CA_BUNDLE": str(p.ca), "CURL_CA_BUNDLE": str(p.garbage)},
    "REQUESTS_CA_BUNDLE-empty": lambda p: {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": str(p.ca)},
}


@pytest.mark.parametrize("case", sorted(ENV_BUNDLES))
def test_ca_bundle_from_the_environment_is_trusted(
    server: Server, pki: Pki, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """2. requests' own CA variables, set before the client is made (REQUESTS_CA_BUNDLE first; an empty one is
    unset, as `os.environ.get(...) or ...` reads it in requests)."""
    for name, value in ENV_BUNDLES[case](pki).items():
        monkeypatch.setenv(name, value)
    sync, _ = both(config(server.url()))
    assert sync.answer == ("accepted", None)


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_openssl_variables_are_ignored(
    server: Server, pki: Pki, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """3. requests passes certifi's bundle explicitly, so OpenSSL's default-path variables change nothing."""
    monkeypatch.setenv(variable, str(pki.ca if variable == "SSL_CERT_FILE" else pki.ca_dir))
    sync, asynchronous = both(config(server.url()))
    assert sync.answer == ("refused", "connect")
    assert refused_by_verification(sync) and refused_by_verification(asynchronous), (sync, asynchronous)


def test_verify_a_ca_file(server: Server, pki: Pki) -> None:
    """4. `verify=` a CA bundle file (a str, and a Path)."""
    assert both(config(server.url(), verify=str(pki.ca)))[0].answer == ("accepted", None)
    assert both(config(server.url(), verify=pki.ca))[0].answer == ("accepted", None)


@pytest.mark.parametrize("which", ["server_cert", "client_cert"])
def test_verify_a_bundle_without_the_ca(server: Server, pki: Pki, which: str) -> None:
    """4b. A bundle that loads but does not hold the issuing CA: another leaf is refused; the server's own leaf is
    trusted only where urllib3's context sets VERIFY_X509_PARTIAL_CHAIN (Python 3.13+), on both paths alike."""
    from urllib3.util import create_urllib3_context

    partial = bool(create_urllib3_context().verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN)
    sync, _ = both(config(server.url(), verify=str(getattr(pki, which))))
    expected = ("accepted", None) if which == "server_cert" and partial else ("refused", "connect")
    assert sync.answer == expected


def test_verify_a_hashed_ca_directory(server: Server, pki: Pki) -> None:
    """5. `verify=` a directory of CAs named by subject hash (`openssl rehash`)."""
    assert both(config(server.url(), verify=str(pki.ca_dir)))[0].answer == ("accepted", None)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("verify", ["ca", False])
def test_an_explicit_verify_overrides_the_environment(
    server: Server, pki: Pki, monkeypatch: pytest.MonkeyPatch, verify: Any
) -> None:
    """An explicit `verify=` wins over REQUESTS_CA_BUNDLE (requests reads the variable only for verify=True)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.garbage))
    conf = config(server.url(), verify=str(pki.ca) if verify == "ca" else verify)
    assert both(conf)[0].answer == ("accepted", None)


def test_verify_true_is_the_default(server: Server, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """`verify=True` given explicitly: certifi, or the CA variables when set (as requests' Session.request)."""
    assert both(config(server.url(), verify=True))[0].answer == ("refused", "connect")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
    assert both(config(server.url(), verify=True))[0].answer == ("accepted", None)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_accepts_anything(server: Server) -> None:
    """6. `verify=False`: no verification on either path (urllib3 warns on the sync path)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sync, _ = both(config(server.url(), verify=False))
    assert sync.answer == ("accepted", None)
    import urllib3

    kinds = {type(w.message) for w in caught}
    assert kinds <= {urllib3.exceptions.InsecureRequestWarning}, [str(w.message) for w in caught]


@pytest.mark.filterwarnings("error::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_with_warnings_as_errors(server: Server) -> None:
    """6b. `verify=False` gives urllib3's InsecureRequestWarning on both paths (the async one raises the same
    warning itself); with pytest's `filterwarnings=error` it is raised as it is on both, never wrapped into a
    TransportError (a warning the caller made an error is not a transport failure)."""
    from urllib3.exceptions import InsecureRequestWarning

    with pytest.raises(InsecureRequestWarning):
        sync_outcome(config(server.url(), verify=False))
    with pytest.raises(InsecureRequestWarning):
        async_outcome(config(server.url(), verify=False))


def test_wrong_host_name_is_refused(server: Server, pki: Pki) -> None:
    """7. The certificate names IP 127.0.0.1 only: `localhost` does not match it, on either path."""
    before = server.snapshot()
    sync, asynchronous = both(config(server.url("localhost"), verify=str(pki.ca)))
    assert sync.answer == ("refused", "connect")
    for outcome in (sync, asynchronous):
        assert "CERTIFICATE_VERIFY_FAILED" in outcome.detail and "match" in outcome.detail.lower(), outcome
    after = server.snapshot()
    assert after["connection"] > before["connection"], "localhost did not reach the server (no host check made)"
    assert after["request"] == before["request"], "a refused server got a request"


@pytest.mark.parametrize("fixture", ["mtls_server", "mtls12_server"])
def test_mtls_with_the_client_certificate_is_accepted(request: pytest.FixtureRequest, pki: Pki, fixture: str) -> None:
    """8a. APIv2 `security=True` presents the merchant certificate on both paths."""
    srv: Server = request.getfixturevalue(fixture)
    before = len(srv.httpd.peers)
    sync, _ = both(config(srv.url(), verify=str(pki.ca), merchant=merchant_of(pki)), "v2-security")
    assert sync.answer == ("accepted", None)
    assert srv.httpd.peers[before:] == [MCHID, MCHID]


@pytest.mark.parametrize("call", ["v2", "v3"])
@pytest.mark.parametrize("fixture", ["mtls_server", "mtls12_server"])
def test_mtls_without_a_client_certificate_is_refused(
    request: pytest.FixtureRequest, pki: Pki, fixture: str, call: str
) -> None:
    """8b. No client certificate: the server refuses the session. Under TLS 1.3 the client has finished its side
    of the handshake (and may have written the request) before the alert arrives; the server never took it as a
    request, so both paths say 'connect' (under TLS 1.2 the handshake itself fails)."""
    srv: Server = request.getfixturevalue(fixture)
    before = srv.snapshot()
    sync, asynchronous = both(config(srv.url(), verify=str(pki.ca), merchant=merchant_of(pki)), call)
    assert sync.answer == ("refused", "connect"), (sync, asynchronous)
    after = srv.snapshot()
    assert after["request"] == before["request"] and after["handshake"] == before["handshake"], (before, after)


@pytest.mark.parametrize("call", ["v2", "v3"])
def test_mtls_refusal_closed_at_once_is_never_mistaken_for_an_answer(mtls_abrupt_server: Server, pki: Pki,
                                                                      call: str) -> None:
    """8c. The same refusal from a server that closes at once (no lingering close), tried 12 times per path.
    Whether the alert or the reset/EOF reaches the client first is a race on both paths: with the alert it is
    `connect` (nothing was taken), with only a reset it is `read` (a reset alone proves nothing, so retries
    stay off). Either way it is a TransportError of one of those two kinds, on both paths."""
    conf = config(mtls_abrupt_server.url(), verify=str(pki.ca), merchant=merchant_of(pki))
    for run in (sync_outcome, async_outcome):
        answers = {run(conf, call).answer for _ in range(12)}
        assert answers <= {("refused", "connect"), ("refused", "read")}, (run.__name__, answers)


@pytest.mark.parametrize("call", ["v2", "v3"])
def test_a_refused_session_is_tried_once_on_both_paths(mtls_server: Server, pki: Pki, call: str) -> None:
    """8d. Retries are opt-in (config `retries`): a POST opens one connection on each path. aiohttp (>= 3.11)
    resends an idempotent method (GET, PUT, DELETE) once by itself after a broken connection (RFC 9112 9.3.1),
    with no public switch to turn that off: a GET may open a second connection on the async path."""
    conf = config(mtls_server.url(), verify=str(pki.ca), merchant=merchant_of(pki))
    counts = {}
    for name, run in (("sync", sync_outcome), ("async", async_outcome)):
        before = mtls_server.snapshot()["connection"]
        assert run(conf, call).answer == ("refused", "connect")
        counts[name] = mtls_server.snapshot()["connection"] - before
    if call == "v2":  # POST
        assert counts == {"sync": 1, "async": 1}
    else:
        assert counts["sync"] == 1 and counts["async"] in (1, 2), counts


@pytest.mark.parametrize("path", ["/no/such/file", "/no/such/dir/", ""])
def test_verify_a_missing_path_is_invalid_before_any_io(server: Server, path: str) -> None:
    """9. A CA path that does not exist: InvalidArgumentError on both, and the server sees no connection. ('' too,
    which requests itself would read as falsy, i.e. no verification: refusing it is the safe reading.)"""
    before = server.snapshot()
    sync, asynchronous = both(config(server.url(), verify=path))
    assert sync.answer == ("invalid", None)
    assert path in sync.detail and path in asynchronous.detail, (sync, asynchronous)
    assert server.snapshot() == before, "a connection was made"


@pytest.mark.parametrize("where", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "verify"])
def test_a_file_that_is_not_a_ca_bundle_is_invalid(
    server: Server, pki: Pki, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """10. A CA bundle that holds no certificate: InvalidArgumentError on both, before any I/O."""
    before = server.snapshot()
    if where == "verify":
        conf = config(server.url(), verify=str(pki.garbage))
    else:
        monkeypatch.setenv(where, str(pki.garbage))
        conf = config(server.url())
    sync, _ = both(conf)
    assert sync.answer == ("invalid", None)
    assert server.snapshot() == before, "a connection was made"


# -- a caller's own requests.Session -------------------------------------------------------------------------------
SESSIONS: Dict[str, Tuple[Dict[str, Any], str]] = {
    # session attributes, and the environment's REQUESTS_CA_BUNDLE ('ca' or '')
    "session.verify=ca": ({"verify": "ca"}, ""),
    "session.verify=False": ({"verify": False}, ""),
    "session.trust_env=False": ({"trust_env": False}, "ca"),
}


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("case", sorted(SESSIONS))
def test_a_callers_session_gives_one_trust_answer(
    server: Server, pki: Pki, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """Extra: config `session=`. requests honours the session's `verify` and `trust_env` on the sync path, and
    the async path resolves them the same way (`Network`), so one client trusts one set of servers."""
    import requests

    attributes, env = SESSIONS[case]
    if env:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
    with requests.Session() as session:
        for name, value in attributes.items():
            setattr(session, name, str(pki.ca) if value == "ca" else value)
        both(config(server.url(), session=session))
