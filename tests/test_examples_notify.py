"""The four notification examples, each served on loopback and called back by the sandbox after `pay`.

Flow per framework: start the example app; create a JSAPI order through the client with its
notify_url; build the front-end pay-sign set; `sb.pay()` makes the sandbox POST a signed, encrypted
TRANSACTION.SUCCESS notification; the app verifies, decrypts and hands it to the callback. An untrusted
callback, WeChat Pay's signature probe among them, gets a failure answer.
"""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
import socket
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List

import pytest

from wechatpay_chain import Rsa
from wechatpay_chain.paysign import sign_jsapi

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
APPID = "wxd678efh567hg6787"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def load_example(name: str) -> ModuleType:
    """Import examples/<name>.py as module <name> (Django resolves its URLconf by that name)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@pytest.fixture(scope="module")
def sb() -> Iterator[Any]:
    sandbox_mod = pytest.importorskip("wechatpay_chain.sandbox")
    with sandbox_mod.Sandbox() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def client(sb: Any) -> Iterator[Any]:
    c = sb.client()
    yield c
    c.get_driver().close()


# --- servers -------------------------------------------------------------------------------------------


@contextmanager
def serve_wsgi_werkzeug(app: Any) -> Iterator[str]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="notify-flask", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/notify"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def serve_wsgi_ref(app: Any) -> Iterator[str]:
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, server_class=WSGIServer, handler_class=Quiet)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="notify-django", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/notify"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def serve_uvicorn(app: Any) -> Iterator[str]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="notify-fastapi", daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}/notify"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@contextmanager
def serve_aiohttp(app: Any) -> Iterator[str]:
    from aiohttp import web

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    port = loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, name="notify-aiohttp", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/notify"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


# --- one builder per example: (framework module to require, make-app, server) ---------------------------


def _sync_handler(received: List[Dict[str, Any]], done: threading.Event) -> Callable[[Dict[str, Any]], None]:
    def handle(notification: Dict[str, Any]) -> None:
        received.append(notification)
        done.set()

    return handle


def _async_handler(received: List[Dict[str, Any]], done: threading.Event) -> Callable[[Dict[str, Any]], Any]:
    async def handle(notification: Dict[str, Any]) -> None:
        received.append(notification)
        done.set()

    return handle


def _flask(config: Dict[str, Any], handler: Any) -> Any:
    return load_example("notify_flask").create_app(**config, on_notification=handler)


def _django(config: Dict[str, Any], handler: Any) -> Any:
    return load_example("notify_django").get_application(**config, on_notification=handler)


def _fastapi(config: Dict[str, Any], handler: Any) -> Any:
    return load_example("notify_fastapi").create_app(**config, on_notification=handler)


def _aiohttp(config: Dict[str, Any], handler: Any) -> Any:
    return load_example("notify_aiohttp").create_app(**config, on_notification=handler)


FRAMEWORKS = {
    "flask": ("flask", _flask, serve_wsgi_werkzeug, _sync_handler),
    "django": ("django", _django, serve_wsgi_ref, _sync_handler),
    "fastapi": ("fastapi", _fastapi, serve_uvicorn, _async_handler),
    "aiohttp": ("aiohttp.web", _aiohttp, serve_aiohttp, _async_handler),
}


def _requirements(name: str) -> None:
    pytest.importorskip(FRAMEWORKS[name][0], reason=f"the {name} example needs {name} (test extra)")
    if name == "fastapi":
        pytest.importorskip("uvicorn", reason="the fastapi example is served with uvicorn (test extra)")


def _order(client: Any, sb: Any, notify_url: str) -> Dict[str, Any]:
    out_trade_no = "NOTIFY" + secrets.token_hex(8).upper()
    resp = client.v3.pay.transactions.jsapi.post(json={
        "appid": APPID,
        "mchid": sb.mchid,
        "description": "Image形象店-深圳腾大-QQ公仔",
        "out_trade_no": out_trade_no,
        "notify_url": notify_url,
        "amount": {"total": 1, "currency": "CNY"},
        "payer": {"openid": OPENID},
    })
    return {"out_trade_no": out_trade_no, "prepay_id": resp.json()["prepay_id"]}


@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_example_receives_the_sandbox_callback(name: str, sb: Any, client: Any) -> None:
    _requirements(name)
    _, make_app, serve, make_handler = FRAMEWORKS[name]
    received: List[Dict[str, Any]] = []
    done = threading.Event()
    config = {"certs": {sb.platform_public_key_id: sb.platform_public_key_pem}, "apiv3_key": sb.apiv3_key}
    app = make_app(config, make_handler(received, done))
    with serve(app) as url:
        order = _order(client, sb, url)
        # what the back end hands the front end for wx.requestPayment
        params = sign_jsapi(APPID, order["prepay_id"], private_key=sb.merchant_private_key_pem)
        message = f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\nprepay_id={order['prepay_id']}\n"
        assert Rsa.verify(message, params["paySign"], Rsa.from_(sb.merchant_private_key_pem).public_key())

        assert sb.pay(order["out_trade_no"]) == 200
        assert done.wait(10), "the app never handed on the notification"
    [notification] = received
    assert notification["event_type"] == "TRANSACTION.SUCCESS"
    tx = notification["resource"]
    assert tx["out_trade_no"] == order["out_trade_no"]
    assert tx["trade_state"] == "SUCCESS"
    assert tx["amount"]["total"] == 1
    assert tx["payer"]["openid"] == OPENID
    assert tx["mchid"] == sb.mchid
    # the order the callback announced is what the API reports
    queried = client.v3.pay.transactions.outTradeNo._out_trade_no_.get(
        query={"mchid": sb.mchid}, out_trade_no=order["out_trade_no"]
    ).json()
    assert queried["transaction_id"] == tx["transaction_id"]


@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_example_refuses_an_untrusted_callback(name: str, sb: Any, client: Any) -> None:
    """Wrong APIv3 key (DecryptionError) or a platform key the app does not know: 400 FAIL, no hand-off."""
    _requirements(name)
    _, make_app, serve, make_handler = FRAMEWORKS[name]
    received: List[Dict[str, Any]] = []
    done = threading.Event()
    handler = make_handler(received, done)
    wrong_key = {"certs": {sb.platform_public_key_id: sb.platform_public_key_pem}, "apiv3_key": "k" * 32}
    other_serial = {"certs": {"PUB_KEY_ID_0000000000000000000000000000": sb.platform_public_key_pem},
                    "apiv3_key": sb.apiv3_key}
    for config in (wrong_key, other_serial):
        if name == "django":  # one Django per process: reconfigure the view, keep the WSGI app
            load_example("notify_django").configure_notify(**config, on_notification=handler)
        app = make_app(config, handler)
        with serve(app) as url:
            order = _order(client, sb, url)
            assert sb.pay(order["out_trade_no"]) == 400
    assert received == [] and not done.is_set()


@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_example_answers_a_signature_probe_with_a_failure(name: str, sb: Any, client: Any) -> None:
    """WeChat Pay's WECHATPAY/SIGNTEST/ probe (`sb.pay(no, probe=True)`): a 4xx failure answer, no hand-off."""
    _requirements(name)
    _, make_app, serve, make_handler = FRAMEWORKS[name]
    received: List[Dict[str, Any]] = []
    done = threading.Event()
    handler = make_handler(received, done)
    config = {"certs": {sb.platform_public_key_id: sb.platform_public_key_pem}, "apiv3_key": sb.apiv3_key}
    if name == "django":  # one Django per process: reconfigure the view, keep the WSGI app
        load_example("notify_django").configure_notify(**config, on_notification=handler)
    with serve(make_app(config, handler)) as url:
        order = _order(client, sb, url)
        status = sb.pay(order["out_trade_no"], probe=True)
    assert status is not None and 400 <= status < 600
    assert received == [] and not done.is_set()


def test_example_handler_failure_answers_500(sb: Any, client: Any) -> None:
    _requirements("flask")

    def broken(notification: Dict[str, Any]) -> None:
        raise RuntimeError("database is down")

    config = {"certs": {sb.platform_public_key_id: sb.platform_public_key_pem}, "apiv3_key": sb.apiv3_key}
    with serve_wsgi_werkzeug(_flask(config, broken)) as url:
        order = _order(client, sb, url)
        assert sb.pay(order["out_trade_no"]) == 500


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_v2_callback_from_the_sandbox(sign_type: str, sb: Any, client: Any) -> None:
    """An APIv2 order: the sandbox's XML notification passes parse_notification_v2 (aiohttp receiver)."""
    from aiohttp import web

    from wechatpay_chain import Transformer
    from wechatpay_chain.notify import parse_notification_v2
    from wechatpay_chain.paysign import sign_jsapi_v2

    received: List[Dict[str, Any]] = []

    async def notify(request: web.Request) -> web.Response:
        try:
            received.append(parse_notification_v2(await request.read(), secret=sb.secret))
        except Exception:
            return web.Response(status=400, text=Transformer.to_xml({"return_code": "FAIL"}))
        return web.Response(text=Transformer.to_xml({"return_code": "SUCCESS", "return_msg": "OK"}))

    app = web.Application()
    app.router.add_post("/notify", notify)
    with serve_aiohttp(app) as url:
        out_trade_no = "V2NOTIFY" + secrets.token_hex(6).upper()
        resp = client.v2.pay.unifiedorder.post(xml={
            "appid": APPID, "mch_id": sb.mchid, "body": "QQ公仔", "out_trade_no": out_trade_no, "total_fee": "1",
            "spbill_create_ip": "127.0.0.1", "notify_url": url, "trade_type": "JSAPI", "openid": OPENID,
            "sign_type": sign_type,
        })
        prepay_id = Transformer.to_array(resp.text)["prepay_id"]
        params = sign_jsapi_v2(APPID, prepay_id, secret=sb.secret, sign_type=sign_type)
        assert params["signType"] == sign_type and len(params["paySign"]) in (32, 64)
        assert sb.pay(out_trade_no) == 200
    [doc] = received
    assert doc["out_trade_no"] == out_trade_no and doc["result_code"] == "SUCCESS"
    assert doc.get("sign_type", "MD5") == sign_type
