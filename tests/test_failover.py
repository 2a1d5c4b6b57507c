"""The backup domain (issue 18): a call whose primary cannot be reached (`TransportError(kind='connect')`) is sent
once to `backup_base_uri`, freshly signed for its own target; never after a timeout or a read error (the primary
may have acted), never with a body that cannot be sent twice. Through `post` and `post_async`, against the
sandbox (a closed port plays the primary that is down), and with a `handler` for what a loopback cannot show."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, Iterator, List

import pytest

from tests.support import Recorder, seed_body, unique
from tests.test_core import GOOD, MERCHANT, MODES, make, signed
from wechatpay_chain import Builder, InvalidArgumentError, MediaUtil, Rsa, Transformer, TransportError
from wechatpay_chain.client._config import DEFAULT_BACKUP_URI, DEFAULT_BASE_URI, build_config
from wechatpay_chain.models import Request
from wechatpay_chain.protocol._v3 import backup_request
from wechatpay_chain.sandbox import Sandbox
from wechatpay_chain.sandbox._protocol import parse_authorization

SEED = "v3/payroll-card/authentications/pre-order-with-auth"
API2 = "https://api2.mch.weixin.qq.com"
TIMEOUT = 0.5


@pytest.fixture(scope="module")
def backup() -> Iterator[Sandbox]:
    """The sandbox a failed-over call reaches (a primary that is down is a closed port)."""
    with Sandbox() as box:
        yield box


@pytest.fixture(scope="module")
def primary() -> Iterator[Sandbox]:
    """A sandbox of our own as the primary that is up but faulty (faults are global to a sandbox)."""
    with Sandbox() as box:
        yield box


def dead(count: int = 1) -> List[str]:
    """Base URIs of `count` different ports that were free a moment ago and have no listener now: connecting is
    refused."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [f"http://127.0.0.1:{s.getsockname()[1]}/" for s in sockets]
    finally:
        for s in sockets:
            s.close()


def origin(base_uri: str) -> str:
    return base_uri.rstrip("/")


def call(mode: str, client: Any, uri: str, **options: Any) -> Any:
    """One POST through `post` or `post_async`, the client closed after it (its pool, its aiohttp session)."""
    node = client.chain(uri)
    if mode == "sync":
        try:
            return node.post(**options)
        finally:
            client.get_driver().close()

    async def go() -> Any:
        try:
            return await node.post_async(**options)
        finally:
            await client.get_driver().close_async()

    return asyncio.run(go())


def failovers(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "wechatpay_chain" and r.levelno == logging.WARNING and "failing over" in r.getMessage()]


# -- configuration: no network ------------------------------------------------------------------------------------
def conf(**extra: Any) -> Any:
    return build_config({"mchid": "1900000001", "serial": "MERCHANTSERIAL", "privateKey": MERCHANT,
                         "certs": {"PUB_KEY_ID_0000000000000000000000000001": MERCHANT.public_key()}, **extra})


def test_the_default_backup_is_api2_for_the_default_base_uri_only() -> None:
    assert (conf().backup_base_uri, conf().backup_base_path) == (DEFAULT_BACKUP_URI, "/") == (API2 + "/", "/")
    assert conf(base_uri=DEFAULT_BASE_URI.rstrip("/")).backup_base_uri == DEFAULT_BACKUP_URI
    assert conf(base_uri="https://gateway.example.com/wxpay/").backup_base_uri is None
    assert conf(base_uri="http://127.0.0.1:8080/").backup_base_uri is None


@pytest.mark.parametrize("off", [None, False])
def test_an_explicit_none_or_false_turns_the_backup_off(off: Any) -> None:
    assert conf(backup_base_uri=off).backup_base_uri is None
    assert conf(base_uri="https://gateway.example.com/", backup_base_uri=off).backup_base_uri is None


def test_a_given_backup_is_validated_like_base_uri_and_keeps_its_path() -> None:
    config = conf(base_uri="https://gw1.example.com/wxpay/", backup_base_uri="https://gw2.example.com/pay")
    assert (config.backup_base_uri, config.backup_base_path) == ("https://gw2.example.com/pay/", "/pay/")
    for bad in ("ftp://api2.mch.weixin.qq.com/", 123, True, "https://h.example.com/?q=1", "https:///nohost",
                "https://h.example.com:99999/"):
        with pytest.raises(InvalidArgumentError, match="backup_base_uri"):
            conf(backup_base_uri=bad)
    with pytest.raises(InvalidArgumentError, match="`base_uri` itself"):
        conf(backup_base_uri=DEFAULT_BASE_URI)
    with pytest.raises(InvalidArgumentError, match="unknown config key"):
        conf(backup_uri=API2)


# -- a primary that refuses: one failover, to a sandbox that verifies the signature --------------------------------
@MODES
def test_a_refused_primary_fails_over_to_the_backup_exactly_once(
    mode: str, backup: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    down = dead()[0]
    client = backup.client(base_uri=down, backup_base_uri=backup.base_uri, timeout=5)
    backup.requests.clear()
    with caplog.at_level(logging.WARNING, logger="wechatpay_chain"):
        response = call(mode, client, SEED, json=seed_body(unique("failover")))
    assert response.status_code == 200 and response.json()["authenticate_number"].startswith("failover")
    (seen,) = backup.requests  # the sandbox verified its signature (else 401) and decrypted the body
    assert seen.status == 200 and seen.decrypted == {"user_name": "张三", "id_card_number": "110101199003071234"}
    (line,) = failovers(caplog)
    assert origin(down) in line and origin(backup.base_uri) in line
    assert "Authorization" not in line and backup.secret not in line and backup.apiv3_key not in line


@MODES
def test_a_sandbox_taken_down_fails_over_and_comes_back(mode: str, backup: Sandbox) -> None:
    """The sandbox takes the primary down (`sb.down()`: connections refused, state kept) and back up."""
    main = Sandbox()
    main.identity = backup.identity  # one merchant, two domains
    with main:
        client = main.client(backup_base_uri=backup.base_uri, timeout=5)
        main.down()
        backup.requests.clear()
        number = unique("down")
        assert call(mode, client, SEED, json=seed_body(number)).json()["authenticate_number"] == number
        assert len(backup.requests) == 1 and all(r.path != "/" + SEED for r in main.requests)
        main.up()
        main.requests.clear()
        call(mode, client, SEED, json=seed_body(unique("up")))
        assert len(main.requests) == 1 and len(backup.requests) == 1


def test_down_and_up_need_a_running_sandbox_and_another_thread() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        Sandbox().down()

    async def on_its_loop() -> None:
        async with Sandbox() as sb:
            with pytest.raises(RuntimeError, match="await the"):
                sb.down()
            await sb.down_async()
            await sb.up_async()

    asyncio.run(on_its_loop())


@MODES
def test_failover_then_retries_go_to_the_backup(mode: str, backup: Sandbox) -> None:
    client = backup.client(base_uri=dead()[0], backup_base_uri=backup.base_uri, retries={"total": 2, "backoff": 0})
    backup.requests.clear()
    assert call(mode, client, SEED, json=seed_body(unique("retried"))).status_code == 200
    assert len(backup.requests) == 1  # the failover is not a retry: one request, no backoff, retries left


@MODES
def test_apiv2_fails_over_too(mode: str, backup: Sandbox) -> None:
    client = backup.client(base_uri=dead()[0], backup_base_uri=backup.base_uri, timeout=5)
    backup.requests.clear()
    xml = {"appid": "wx8888888888888888", "mch_id": backup.mchid, "out_trade_no": unique("v2"), "body": "测试",
           "total_fee": "1", "spbill_create_ip": "127.0.0.1", "notify_url": "https://example.com/notify",
           "trade_type": "NATIVE"}
    data = Transformer.to_array(call(mode, client, "v2/pay/unifiedorder", xml=xml).text)
    assert data["return_code"] == data["result_code"] == "SUCCESS"
    assert [r.path for r in backup.requests] == ["/pay/unifiedorder"]


@MODES
def test_a_media_upload_fails_over_with_its_stream(mode: str, backup: Sandbox) -> None:
    media = MediaUtil("logo.png", b"\x89PNG real bytes")
    client = backup.client(base_uri=dead()[0], backup_base_uri=backup.base_uri, timeout=5)
    backup.requests.clear()
    response = call(mode, client, "v3/merchant/media/upload", body=media.get_stream(),
                    headers={"Content-Type": media.get_content_type()})
    assert response.status_code == 200 and response.json()["media_id"]
    assert len(backup.requests) == 1


@MODES
def test_a_backup_that_also_refuses_names_both_attempts(
    mode: str, backup: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = dead(2)
    client = backup.client(base_uri=first, backup_base_uri=second, timeout=2)
    with caplog.at_level(logging.WARNING, logger="wechatpay_chain"), pytest.raises(TransportError) as info:
        call(mode, client, "v3/x", json={"a": 1})
    assert info.value.kind == "connect" and info.value.__cause__ is not None
    assert origin(first) in str(info.value) and origin(second) in str(info.value)
    assert len(failovers(caplog)) == 1


@MODES
def test_backup_none_gives_the_primary_connect_error(
    mode: str, backup: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    down = dead()[0]
    client = Builder.factory({**backup.client_config(base_uri=down, timeout=2), "backup_base_uri": None})
    with caplog.at_level(logging.WARNING, logger="wechatpay_chain"), pytest.raises(TransportError) as info:
        call(mode, client, "v3/x", json={"a": 1})
    assert info.value.kind == "connect" and "backup" not in str(info.value)
    assert failovers(caplog) == []


# -- a primary that was reached: a timeout or a broken answer never fails over ------------------------------------
@MODES
@pytest.mark.parametrize("fault, params, kind", [
    ("delay", {"seconds": 1.5}, "timeout"),
    ("drop", {}, "read"),
    ("truncate", {}, "read"),
])
def test_a_timeout_or_read_error_does_not_fail_over(
    mode: str, fault: str, params: Any, kind: str, primary: Sandbox, backup: Sandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = primary.client(backup_base_uri=backup.base_uri, timeout=TIMEOUT)
    primary.inject(fault, path="/" + SEED, **params)
    backup.requests.clear()
    try:
        with caplog.at_level(logging.WARNING, logger="wechatpay_chain"), pytest.raises(TransportError) as info:
            call(mode, client, SEED, json=seed_body(unique("nofailover")))
    finally:
        primary.clear_faults()
    assert info.value.kind == kind and "backup" not in str(info.value)
    assert list(backup.requests) == [] and failovers(caplog) == []


# -- with a handler: the default backup, another base path, bodies that cannot be sent twice ----------------------
def auth_of(request: Request) -> Any:
    return parse_authorization(request.headers["Authorization"])


@MODES
def test_the_default_backup_is_api2_and_the_request_is_signed_again(mode: str) -> None:
    script = Recorder(queue=[TransportError("refused", "connect"), signed(GOOD)])
    counter = iter(range(10))
    client = make(script, nonce=lambda: f"NONCE{next(counter):027d}")
    assert call(mode, client, "v3/x?a=1", json={"a": 1}).status_code == 200
    first, second = script.requests
    assert first.url == DEFAULT_BASE_URI + "v3/x?a=1" and second.url == API2 + "/v3/x?a=1"
    assert first.body == second.body and auth_of(first)["nonce_str"] != auth_of(second)["nonce_str"]


@MODES
@pytest.mark.parametrize("base, standby, target", [
    (DEFAULT_BASE_URI, "https://gw.example.com/pay/", "/pay/v3/x?a=1"),
    ("https://gw.example.com/pay/", API2 + "/", "/v3/x?a=1"),
])
def test_a_backup_under_another_path_gets_a_request_signed_for_it(
    mode: str, base: str, standby: str, target: str
) -> None:
    script = Recorder(queue=[TransportError("refused", "connect"), signed(GOOD)])
    client = make(script, base_uri=base, backup_base_uri=standby)
    assert call(mode, client, "v3/x", query={"a": 1}).status_code == 200
    second = script.requests[1]
    assert second.url == standby.rstrip("/").rsplit("/pay", 1)[0] + target
    assert second.signed.split("\n")[1] == target
    assert Rsa.verify(second.signed, auth_of(second)["signature"], MERCHANT.public_key())


class OnePass:
    """A MediaUtil-like body that can be read once only (an iterator): never sent twice."""

    def __init__(self) -> None:
        self.chunks = iter([b"part"])

    def signing_text(self) -> str:
        return "{}"

    def __iter__(self) -> OnePass:
        return self

    def __next__(self) -> bytes:
        return next(self.chunks)


@MODES
def test_a_one_pass_body_is_not_sent_to_the_backup(mode: str) -> None:
    script = Recorder(queue=[TransportError("refused", "connect"), signed(GOOD)])
    with pytest.raises(TransportError):
        call(mode, make(script), "v3/x", body=OnePass())
    assert len(script.requests) == 1


@MODES
def test_a_backup_connect_failure_is_retried_there(mode: str) -> None:
    refused = TransportError("refused", "connect")
    script = Recorder(queue=[refused, refused, refused, signed(GOOD)])
    client = make(script, retries={"total": 2, "backoff": 0})
    assert call(mode, client, "v3/x").status_code == 200
    assert [r.url for r in script.requests] == [DEFAULT_BASE_URI + "v3/x"] + [API2 + "/v3/x"] * 3


def test_the_backup_request_keeps_the_mtls_certificate_and_everything_but_the_url() -> None:
    config = conf(base_uri="https://gw.example.com/a/", backup_base_uri="https://gw2.example.com/b/")
    request = Request("POST", "https://gw.example.com/a/secapi/pay/refund?x=1", {"Accept": "text/xml"}, b"<xml/>",
                      5, ("cert.pem", "key.pem"))
    moved = backup_request(config, request)
    assert moved is not None and moved.url == "https://gw2.example.com/b/secapi/pay/refund?x=1"
    assert (moved.cert, moved.body, moved.headers, moved.timeout) == (request.cert, b"<xml/>", request.headers, 5)
    assert backup_request(conf(backup_base_uri=None), request) is None
