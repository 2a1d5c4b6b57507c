"""APIv2 `security=True` over real TLS on loopback: a server that requires a client certificate from a test CA.

The CA, server and merchant (client) certificates are made with the openssl CLI; both transports
(`post` on requests, `post_async` on aiohttp) must present the merchant certificate, whether the config
gives it as paths, PEM text, or an encrypted key with its passphrase.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import shutil
import ssl
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple

import pytest

from tests.pki import Authority, openssl
from wechatpay_chain import Builder, InvalidArgumentError, Transformer, TransportError
from wechatpay_chain.protocol.v2 import parse

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl CLI is not installed")

MCHID = "1230000109"
SECRET = "exposed_your_key_here_have_risks"
PASSPHRASE = "merchant-key-passphrase"

class Pki(NamedTuple):
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_key_pkcs8_encrypted: Path
    client_key_legacy_encrypted: Path
    client_p12: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    authority = Authority(d, "wechatpay-chain test CA", "IP:127.0.0.1, DNS:localhost")
    ca = authority.ca
    server_cert = authority.issue("server", "/CN=localhost", "server_ext")
    client_cert = authority.issue("client", f"/O=WeChatPay Sandbox/CN={MCHID}", "client_ext")
    client_key = d / "client.key"
    pkcs8 = d / "client.pkcs8.enc.key"
    openssl("pkcs8", "-topk8", "-in", str(client_key), "-v2", "aes-256-cbc", "-passout", f"pass:{PASSPHRASE}",
             "-out", str(pkcs8))
    legacy = d / "client.legacy.enc.key"
    openssl("rsa", "-in", str(client_key), "-aes256", "-traditional", "-passout", f"pass:{PASSPHRASE}",
             "-out", str(legacy))
    p12 = d / "client.p12"
    openssl("pkcs12", "-export", "-in", str(client_cert), "-inkey", str(client_key), "-passout", f"pass:{MCHID}",
             "-out", str(p12))
    return Pki(ca, server_cert, d / "server.key", client_cert, client_key, pkcs8, legacy, p12)


def md5_sign(data: Dict[str, str]) -> str:
    message = "&".join(f"{k}={v}" for k, v in sorted(data.items()) if k != "sign" and v != "")
    return hashlib.md5(f"{message}&key={SECRET}".encode()).hexdigest().upper()


class Server(NamedTuple):
    base_uri: str
    seen: List[Dict[str, Any]]


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: List[Dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sock: Any = self.connection
        peer = sock.getpeercert()
        subject = dict(item[0] for item in peer["subject"]) if peer else {}
        request = Transformer.to_array(body)
        self.seen.append({"path": self.path, "request": request, "peer": subject.get("commonName")})
        answer = {"return_code": "SUCCESS", "result_code": "SUCCESS", "mch_id": MCHID,
                  "nonce_str": "SERVERNONCE", "peer_cn": str(subject.get("commonName", ""))}
        answer["sign"] = md5_sign(answer)
        out = Transformer.to_xml(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


class _TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # handshakes refused on purpose (no client certificate)


@pytest.fixture(scope="module")
def server(pki: Pki) -> Iterator[Server]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    seen: List[Dict[str, Any]] = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    httpd = _TLSServer(("127.0.0.1", 0), handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(f"https://127.0.0.1:{httpd.server_address[1]}/", seen)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def make(server: Server, pki: Pki, merchant: Any) -> Any:
    return Builder.factory({
        "mchid": MCHID, "serial": "nop", "signer": lambda m: "any", "verifier": lambda *a: False,
        "secret": SECRET, "base_uri": server.base_uri, "verify": str(pki.ca), "merchant": merchant,
        "timeout": (5.0, 5.0),
    })


MERCHANTS: Dict[str, Callable[[Pki], Dict[str, Any]]] = {
    "paths": lambda p: {"cert": str(p.client_cert), "key": str(p.client_key)},
    "file-urls": lambda p: {"cert": "file://" + str(p.client_cert), "key": "file://" + str(p.client_key)},
    "pem-text": lambda p: {"cert": p.client_cert.read_text(), "key": p.client_key.read_text()},
    "pkcs8-encrypted": lambda p: {"cert": str(p.client_cert), "key": str(p.client_key_pkcs8_encrypted),
                                  "passphrase": PASSPHRASE},
    "legacy-encrypted-php-tuple": lambda p: {"cert": str(p.client_cert),
                                             "key": (str(p.client_key_legacy_encrypted), PASSPHRASE)},
}


@pytest.fixture(params=sorted(MERCHANTS))
def merchant(request: pytest.FixtureRequest, pki: Pki) -> Dict[str, Any]:
    return MERCHANTS[str(request.param)](pki)


XML = {"mch_id": MCHID, "out_trade_no": "1217752501201407033233368018", "out_refund_no": "R1",
       "total_fee": "100", "refund_fee": "100"}


def _check(res: Any, server: Server) -> None:
    data = parse(res)
    assert data["peer_cn"] == MCHID and data["result_code"] == "SUCCESS"
    last = server.seen[-1]
    assert last["path"] == "/secapi/pay/refund" and last["peer"] == MCHID
    assert last["request"]["sign"] == md5_sign(last["request"])


def test_security_post(server: Server, pki: Pki, merchant: Dict[str, Any]) -> None:
    with make(server, pki, merchant) as client:
        _check(client.v2.secapi.pay.refund.post(xml=XML, security=True), server)
        _check(client.v2.secapi.pay.refund.post({"xml": XML, "security": True}), server)


def test_security_post_async(server: Server, pki: Pki, merchant: Dict[str, Any]) -> None:
    async def go() -> None:
        async with make(server, pki, merchant) as client:
            _check(await client.v2.secapi.pay.refund.post_async(xml=XML, security=True), server)
            _check(await client.v2.secapi.pay.refund.post_async({"xml": XML, "security": True}), server)

    asyncio.run(go())


def test_security_false_sends_no_certificate_and_the_handshake_fails(server: Server, pki: Pki) -> None:
    merchant = MERCHANTS["paths"](pki)
    with make(server, pki, merchant) as client:
        with pytest.raises(TransportError):
            client.v2.secapi.pay.refund.post(xml=XML, security=False)

    async def go() -> None:
        async with make(server, pki, merchant) as client:
            with pytest.raises(TransportError):
                await client.v2.secapi.pay.refund.post_async(xml=XML, security=False)

    asyncio.run(go())


def test_an_operation_the_atlas_marks_mtls_presents_the_certificate_unasked(server: Server, pki: Pki) -> None:
    """Issue 17: `secapi/pay/refund` needs the merchant certificate; with `merchant` configured it is sent without
    `security=True` (PHP leaves that flag to the caller, and the handshake fails without it)."""
    merchant = MERCHANTS["paths"](pki)
    with make(server, pki, merchant) as client:
        _check(client.v2.secapi.pay.refund.post(xml=XML), server)

    async def go() -> None:
        async with make(server, pki, merchant) as client:
            _check(await client.v2.secapi.pay.refund.post_async(xml=XML), server)

    asyncio.run(go())


def test_an_mtls_operation_without_merchant_says_what_to_configure(server: Server, pki: Pki) -> None:
    with make(server, pki, None) as client:
        for call in (lambda: client.v2.secapi.pay.refund.post(xml=XML),
                     lambda: asyncio.run(client.v2.secapi.pay.refund.post_async(xml=XML))):
            with pytest.raises(InvalidArgumentError, match=r"v2/secapi/pay/refund needs the merchant certificate "
                               r"\(mTLS\): configure `merchant=\{'cert'"):
                call()


def test_wrong_passphrase_is_invalid_argument(server: Server, pki: Pki) -> None:
    merchant = {"cert": str(pki.client_cert), "key": str(pki.client_key_pkcs8_encrypted), "passphrase": "nope"}
    with make(server, pki, merchant) as client:
        with pytest.raises(InvalidArgumentError) as info:
            client.v2.secapi.pay.refund.post(xml=XML, security=True)
    assert "nope" not in str(info.value)


def test_pkcs12(server: Server, pki: Pki) -> None:
    merchant = {"cert": str(pki.client_p12), "passphrase": MCHID}
    try:
        import cryptography  # noqa: F401
    except ImportError:
        with make(server, pki, merchant) as client:
            with pytest.raises(InvalidArgumentError, match="cryptography"):
                client.v2.secapi.pay.refund.post(xml=XML, security=True)
        return
    with make(server, pki, merchant) as client:  # pragma: no cover - needs the optional package
        _check(client.v2.secapi.pay.refund.post(xml=XML, security=True), server)


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
@pytest.mark.parametrize("verify", ["default", False])
def test_server_certificate_is_checked_unless_verify_is_false(server: Server, pki: Pki, verify: Any) -> None:
    """Our test CA is not a system CA: by default both transports refuse the server; `verify=False` does not."""
    config = {
        "mchid": MCHID, "serial": "nop", "signer": lambda m: "any", "verifier": lambda *a: False, "secret": SECRET,
        "base_uri": server.base_uri, "merchant": MERCHANTS["paths"](pki), "timeout": (5.0, 5.0),
        **({} if verify == "default" else {"verify": False}),
    }

    def sync_call(client: Any) -> Any:
        return client.v2.secapi.pay.refund.post(xml=XML, security=True)

    async def async_call() -> Any:
        async with Builder.factory(config) as client:
            return await client.v2.secapi.pay.refund.post_async(xml=XML, security=True)

    with Builder.factory(config) as client:
        if verify == "default":
            with pytest.raises(TransportError) as info:
                sync_call(client)
            assert info.value.kind == "connect" and "CERTIFICATE_VERIFY_FAILED" in str(info.value)
            with pytest.raises(TransportError) as info:
                asyncio.run(async_call())
            assert info.value.kind == "connect" and "CERTIFICATE_VERIFY_FAILED" in str(info.value)
        else:
            _check(sync_call(client), server)
            _check(asyncio.run(async_call()), server)


def test_a_key_that_does_not_match_the_certificate_is_a_connect_error_on_both_paths(server: Server, pki: Pki) -> None:
    """Nothing is sent either way; the async path raised a bare ssl.SSLError from building its TLS context."""
    merchant = {"cert": str(pki.client_cert), "key": str(pki.server_key)}  # a key, but not the certificate's
    with make(server, pki, merchant) as client:
        with pytest.raises(TransportError) as sync_info:
            client.v2.secapi.pay.refund.post(xml=XML, security=True)

        async def go() -> TransportError:
            with pytest.raises(TransportError) as info:
                await client.v2.secapi.pay.refund.post_async(xml=XML, security=True)
            await client.get_driver().close_async()
            return info.value

        async_error = asyncio.run(go())
    assert sync_info.value.kind == async_error.kind == "connect"
    assert "KEY_VALUES_MISMATCH" in str(async_error)


KEY_LINE = "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCPhenagL4oTc+D"


@pytest.mark.parametrize("key", [KEY_LINE, "/tmp/x\0MIIEvgIBA"])
def test_a_key_line_or_a_nul_where_a_key_path_goes_is_refused_unshown(server: Server, pki: Pki, key: str) -> None:
    with make(server, pki, {"cert": str(pki.client_cert), "key": key}) as client:
        with pytest.raises(InvalidArgumentError) as info:
            client.v2.secapi.pay.refund.post(xml=XML, security=True)
    assert "MIIEvgIBA" not in str(info.value) and "not shown" in str(info.value)


@pytest.mark.parametrize("passphrase", ["wrong", 1230000109, "\ud800"])
def test_a_pkcs12_passphrase_that_does_not_open_it_is_refused(server: Server, pki: Pki, passphrase: Any) -> None:
    pytest.importorskip("cryptography")
    with make(server, pki, {"cert": str(pki.client_p12), "passphrase": passphrase}) as client:
        with pytest.raises(InvalidArgumentError, match="passphrase"):  # an int was a bare TypeError
            client.v2.secapi.pay.refund.post(xml=XML, security=True)
