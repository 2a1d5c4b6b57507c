"""The transport interface, the one error classifier, and the rule that the package speaks HTTP only
through requests and aiohttp (no http.client, no socket, no private attribute of either library)."""

from __future__ import annotations

import asyncio
import re
import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any, List

import aiohttp
import pytest
import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from wechatpay_chain import Builder, Headers, InvalidArgumentError, Request, Response, TransportError
from wechatpay_chain.sandbox import Sandbox
from wechatpay_chain.transports import AsyncTransport, SyncTransport
from wechatpay_chain.transports._aiohttp import AiohttpTransport
from wechatpay_chain.transports._base import budget, kind_of
from wechatpay_chain.transports._network import Network
from wechatpay_chain.transports._requests import RequestsTransport

PACKAGE = Path(__file__).resolve().parent.parent / "wechatpay_chain"


def test_both_transports_satisfy_the_interface() -> None:
    sync = RequestsTransport({})
    try:
        assert isinstance(sync, SyncTransport)
    finally:
        sync.close()
    assert isinstance(AiohttpTransport({}), AsyncTransport)


class _Recorder:
    """A handler satisfying SyncTransport: answers 404 and records what it was sent."""

    def __init__(self) -> None:
        self.sent: List[Request] = []
        self.closed = False

    def send(self, request: Request) -> Response:
        self.sent.append(request)
        return Response.build(404, {"Content-Type": "application/json"}, b'{"code":"NOT_FOUND","message":"x"}')

    def close(self) -> None:
        self.closed = True


class _AsyncRecorder(_Recorder):
    """The same as an AsyncTransport."""

    async def send(self, request: Request) -> Response:  # type: ignore[override]
        return _Recorder.send(self, request)

    async def close(self) -> None:  # type: ignore[override]
        self.closed = True


def test_a_sync_transport_is_a_handler_for_both_verbs(sandbox: Sandbox) -> None:
    handler = _Recorder()
    client = Builder.factory(sandbox.client_config(handler=handler))
    with pytest.raises(Exception) as sync_error:
        client.v3.x.get()
    with pytest.raises(Exception) as async_error:
        asyncio.run(client.v3.x.get_async())
    assert type(sync_error.value).__name__ == type(async_error.value).__name__ == "ClientError"
    assert [r.method for r in handler.sent] == ["GET", "GET"]


def test_an_async_transport_is_a_handler_for_the_async_verbs_and_refused_by_the_sync_ones(sandbox: Sandbox) -> None:
    handler = _AsyncRecorder()
    assert isinstance(handler, AsyncTransport)
    client = Builder.factory(sandbox.client_config(handler=handler))
    with pytest.raises(Exception) as async_error:
        asyncio.run(client.v3.x.get_async())
    assert type(async_error.value).__name__ == "ClientError"
    with pytest.raises(InvalidArgumentError, match="asynchronously"):
        client.v3.x.get()


def _requests_wrapped(reason: BaseException) -> requests.ConnectionError:
    return requests.ConnectionError(MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


def _alert(reason: str) -> ssl.SSLError:
    exc = ssl.SSLError(1, f"[SSL: {reason}] alert")
    exc.reason = reason  # type: ignore[misc]
    return exc


KINDS = [
    # nothing reached the service
    (_requests_wrapped(NewConnectionError(None, "refused")), "connect"),  # type: ignore[arg-type]
    (_requests_wrapped(NameResolutionError("h", None, OSError("no such host"))), "connect"),  # type: ignore[arg-type]
    (requests.ConnectTimeout(_requests_wrapped(ConnectTimeoutError("slow"))), "connect"),
    (requests.exceptions.ProxyError("proxy refused"), "connect"),
    (requests.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed")), "connect"),
    (requests.exceptions.SSLError(_alert("TLSV13_ALERT_CERTIFICATE_REQUIRED")), "connect"),
    (aiohttp.ClientConnectorError(SimpleNamespace(host="h", port=1, ssl=True),  # type: ignore[arg-type]
                                  OSError(111, "refused")), "connect"),
    (aiohttp.ConnectionTimeoutError("connect timed out"), "connect"),
    # no answer in time
    (requests.ReadTimeout("read timed out"), "timeout"),
    (ReadTimeoutError(None, "/", "read timed out"), "timeout"),  # type: ignore[arg-type]
    (asyncio.TimeoutError(), "timeout"),
    (aiohttp.ServerTimeoutError("read timed out"), "timeout"),
    # the request may have been acted on
    (requests.exceptions.SSLError(_alert("DECRYPTION_FAILED_OR_BAD_RECORD_MAC")), "read"),
    (requests.exceptions.ChunkedEncodingError(ProtocolError("broken", ValueError("bad chunk"))), "read"),
    (ProtocolError("Connection broken", ConnectionResetError()), "read"),
    (aiohttp.ServerDisconnectedError(), "read"),
    (aiohttp.ClientPayloadError("truncated"), "read"),
    (ValueError("anything else"), "read"),
]


@pytest.mark.parametrize("exc, kind", KINDS, ids=[f"{type(e).__name__}-{k}-{i}" for i, (e, k) in enumerate(KINDS)])
def test_one_classifier_for_both_libraries(exc: BaseException, kind: str) -> None:
    assert kind_of(exc) == kind


def test_a_tls_refusal_after_the_handshake_is_connect_on_aiohttp_too() -> None:
    wrapped = aiohttp.ClientOSError(1, "alert")
    wrapped.__cause__ = _alert("TLSV13_ALERT_CERTIFICATE_REQUIRED")
    assert kind_of(wrapped) == "connect"


def test_the_deadline_is_connect_plus_read() -> None:
    assert budget((3, 7)) == 10.0
    assert budget(5) == 10.0


def test_repeated_headers_are_joined_under_the_first_spelling() -> None:
    assert Headers.joined([("X-A", "1"), ("x-a", "2"), ("B", "3")]).as_dict() == {"X-A": "1, 2", "B": "3"}


def test_a_ca_path_that_does_not_load_is_refused_before_any_io(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidArgumentError, match="no CA bundle"):
        Network({"verify": str(tmp_path / "missing.pem")})
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(InvalidArgumentError, match="holds no CA certificate"):
        Network({"verify": str(junk)})
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(junk))
    with pytest.raises(InvalidArgumentError, match="REQUESTS_CA_BUNDLE"):
        Network({})
    assert Network({}, trust_env=False).verify is True  # a caller's session that does not trust the environment


def test_a_proxy_neither_transport_can_carry_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    network = Network({"proxies": {"https": "socks5://127.0.0.1:1080"}})
    with pytest.raises(InvalidArgumentError, match="only http:// and https:// proxies"):
        network.proxy("https://api.mch.weixin.qq.com/v3/x")


def test_the_environment_proxy_is_chosen_as_requests_chooses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "bypass.example")
    network = Network({})
    assert network.proxy("https://api.mch.weixin.qq.com/v3/x") == "http://proxy.example:3128"
    assert network.proxy("https://bypass.example/v3/x") is None
    assert Network({"proxies": {}}).proxy("https://api.mch.weixin.qq.com/v3/x") is None


def test_a_transport_error_is_what_escapes_a_refused_connection() -> None:
    transport = RequestsTransport({})
    request = Request("GET", "http://127.0.0.1:1/v3/x", {"Accept": "*/*"}, timeout=(1, 1))
    try:
        with pytest.raises(TransportError) as sync_error:
            transport.send(request)
    finally:
        transport.close()

    async def go() -> TransportError:
        aio = AiohttpTransport({})
        try:
            with pytest.raises(TransportError) as error:
                await aio.send(request)
            return error.value
        finally:
            await aio.close()

    assert sync_error.value.kind == asyncio.run(go()).kind == "connect"


# -- the package speaks HTTP only through requests and aiohttp ------------------------------------------------------

_FORBIDDEN = [
    (re.compile(r"^\s*(import|from)\s+(http\.client|socket)\b", re.M), "imports http.client or socket"),
    (re.compile(r"\b(open_connection|create_connection|start_tls|asyncio\.Protocol|BufferedProtocol)\b"),
     "opens connections with asyncio streams or protocols"),
    (re.compile(r"(?<!self)\._(get_conn|put_conn|validate_conn|make_request|encode_target|is_legal_header_name|"
                r"is_illegal_header_value|HTTPConnection__state|tunnel_host|connector|session|request_class)\b"),
     "touches a private attribute of requests, urllib3, http.client or aiohttp"),
]


def _sources() -> List[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("pattern, what", _FORBIDDEN, ids=[w for _, w in _FORBIDDEN])
def test_no_module_writes_or_reads_http_itself(pattern: Any, what: str) -> None:
    offenders = [f"{p.relative_to(PACKAGE)}:{m.group(0).strip()}" for p in _sources()
                 for m in pattern.finditer(p.read_text(encoding="utf-8"))]
    assert not offenders, f"{what}: {offenders}"


def test_the_removed_transport_switch_is_an_unknown_key(sandbox: Sandbox) -> None:
    with pytest.raises(InvalidArgumentError, match="unknown config key"):
        Builder.factory(sandbox.client_config(async_transport="aiohttp"))
