"""Where `sb.pay()` sends notifications: loopback hosts (localhost, 127.0.0.0/8, ::1) and the hosts listed in
`Sandbox(notify_hosts=[...])`, nothing else. A non-loopback notify_url gets no connection at all: it is
skipped with a WARNING naming the host, recorded in `sb.notifications`, and the order is paid all the same.

The proof that nothing connects: a receiver listening on 0.0.0.0, which on Linux and macOS a connection to
`http://0.0.0.0:PORT/` reaches, but which is not a loopback host by the sandbox's rule (judged from the URL,
never resolved): it hears nothing until 0.0.0.0 is listed."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from tests.support import unique
from wechatpay_chain.sandbox import Sandbox

LOGGER = "wechatpay_chain.sandbox"
SLOW = 30.0  # notify_timeout: an attempt at a host that does not answer would take this long


def order(sb: Sandbox, no: str, notify_url: str) -> Dict[str, Any]:
    return {"appid": "wxd678efh567hg6787", "mchid": sb.mchid, "description": "notify hosts",
            "out_trade_no": no, "notify_url": notify_url, "amount": {"total": 1, "currency": "CNY"}}


class Receiver:
    """A notify_url server on `host` (http.server in a thread) recording every request it gets."""

    def __init__(self, host: str, status: int = 200, location: str = "") -> None:
        got: List[Tuple[str, bytes]] = []
        self.got = got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                got.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        self.server = Server((host, 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}/notify"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def receiver_on(host: str, **kw: Any) -> Receiver:
    try:
        return Receiver(host, **kw)
    except OSError as exc:  # no IPv6, or 127.0.0.2 not routed to lo (macOS)
        pytest.skip(f"cannot listen on {host}: {exc}")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(notify_timeout=SLOW) as box:
        yield box


@pytest.fixture(params=["sync", "async"])
def create(request: pytest.FixtureRequest, sb: Sandbox) -> Iterator[Any]:
    """create(notify_url) -> out_trade_no: a native order placed through the client, `post` or `post_async`."""
    clients: Dict[int, Any] = {}

    def make(notify_url: str, box: Sandbox = sb) -> str:
        no = unique("nh")
        client = clients.setdefault(id(box), box.client())
        node = client.v3.pay.transactions.native
        if request.param == "sync":
            assert node.post(json=order(box, no, notify_url)).status_code == 200
        else:
            assert asyncio.run(node.post_async(json=order(box, no, notify_url))).status_code == 200
        return no

    try:
        yield make
    finally:
        for client in clients.values():
            client.get_driver().close()


def trade_state(box: Sandbox, no: str) -> str:
    client = box.client()
    try:
        node = client.v3.pay.transactions.outTradeNo._out_trade_no_
        return str(node.get(out_trade_no=no, query={"mchid": box.mchid}).json()["trade_state"])
    finally:
        client.get_driver().close()


@pytest.fixture(scope="module")
def anywhere() -> Iterator[Receiver]:
    """A receiver on 0.0.0.0: reachable as http://0.0.0.0:PORT/ from this machine, yet not a loopback host."""
    if sys.platform == "win32":
        pytest.skip("a connection to 0.0.0.0 does not reach this machine on Windows")
    with receiver_on("0.0.0.0") as r:
        yield r


# -- skipped: no connection, a warning, a record, the order paid ------------------------------------
@pytest.mark.parametrize("notify_url", [
    "https://example.com/notify",
    "http://10.1.2.3/notify",
    "http://127.0.0.1@example.com/notify",  # userinfo: the host is example.com
    "http://127.0.0.1.example.com/notify",
    "http://2130706433/notify",  # 127.0.0.1 once resolved; the rule resolves nothing
    "http://[::ffff:10.1.2.3]/notify",
    "http://localhost.example/notify",
])
def test_non_loopback_notify_url_is_skipped_not_connected(
    sb: Sandbox, create: Any, caplog: pytest.LogCaptureFixture, notify_url: str
) -> None:
    from wechatpay_chain.sandbox import Delivery

    no = create(notify_url)
    caplog.set_level(logging.WARNING, LOGGER)
    started = time.monotonic()
    assert sb.pay(no) is None  # no raise: nothing was sent, so there is no receiver status
    assert time.monotonic() - started < SLOW / 3  # no attempt waited on the host
    assert trade_state(sb, no) == "SUCCESS"  # paid all the same
    record = sb.notifications[-1]
    assert isinstance(record, Delivery)
    assert (record.out_trade_no, record.url, record.outcome, record.attempts, record.status) == (
        no, notify_url, "skipped", 0, None)
    warned = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warned) == 1 and record.host and record.host in warned[0].getMessage()
    assert no in warned[0].getMessage() and "notify_hosts" in warned[0].getMessage()


def test_an_unlisted_host_hears_nothing(sb: Sandbox, create: Any, anywhere: Receiver,
                                        caplog: pytest.LogCaptureFixture) -> None:
    """The receiver IS reachable at 0.0.0.0 (see the next test); the sandbox does not connect to it."""
    no = create(anywhere.url("0.0.0.0"))
    caplog.set_level(logging.WARNING, LOGGER)
    assert sb.pay(no) is None
    time.sleep(0.2)
    assert anywhere.got == []
    assert sb.notifications[-1].outcome == "skipped"
    assert "'0.0.0.0'" in caplog.text


def test_a_listed_host_is_attempted(create: Any, anywhere: Receiver) -> None:
    with Sandbox(notify_hosts=["0.0.0.0"]) as box:
        assert box.notify_hosts == frozenset({"0.0.0.0"})
        no = create(anywhere.url("0.0.0.0"), box)
        assert box.pay(no) == 200
        path, body = anywhere.got[-1]
        assert path == "/notify" and json.loads(body)["event_type"] == "TRANSACTION.SUCCESS"
        record = box.notifications[-1]
        assert (record.outcome, record.attempts, record.status, record.host) == ("sent", 1, 200, "0.0.0.0")
        anywhere.got.clear()


@pytest.mark.parametrize("bind, host", [
    ("127.0.0.1", "127.0.0.1"), ("127.0.0.2", "127.0.0.2"), ("127.0.0.1", "localhost"), ("127.0.0.1", "LocalHost"),
    ("::1", "[::1]"),
])
def test_loopback_hosts_are_attempted(sb: Sandbox, create: Any, bind: str, host: str) -> None:
    with receiver_on(bind) as rcv:
        no = create(rcv.url(host))
        assert sb.pay(no) == 200
        assert len(rcv.got) == 1
    record = sb.notifications[-1]
    assert (record.outcome, record.attempts, record.status) == ("sent", 1, 200)


def test_pay_async_skips_and_records_too(sb: Sandbox, create: Any, anywhere: Receiver) -> None:
    no = create(anywhere.url("0.0.0.0"))
    assert asyncio.run(sb.pay_async(no)) is None
    assert anywhere.got == [] and sb.notifications[-1].outcome == "skipped"
    assert trade_state(sb, no) == "SUCCESS"


def test_a_redirect_is_not_followed_off_loopback(sb: Sandbox, create: Any, anywhere: Receiver) -> None:
    """A loopback receiver answering 302 cannot send the notification to another host."""
    with receiver_on("127.0.0.1", status=302, location=anywhere.url("0.0.0.0")) as rcv:
        no = create(rcv.url("127.0.0.1"))
        assert sb.pay(no) == 302
        assert len(rcv.got) == 1
    time.sleep(0.2)
    assert anywhere.got == []


def test_an_unreachable_loopback_receiver_is_recorded_as_failed(sb: Sandbox, create: Any) -> None:
    with socket.socket() as s:  # a port that was free a moment ago and has no listener now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    no = create(f"http://127.0.0.1:{port}/notify")
    with pytest.raises(ConnectionError, match="did not answer"):
        sb.pay(no)
    record = sb.notifications[-1]
    assert (record.outcome, record.attempts, record.status) == ("failed", 1, None) and record.error
    assert trade_state(sb, no) == "SUCCESS"


def test_notify_hosts_are_normalised_and_checked() -> None:
    box = Sandbox(notify_hosts=["Receiver.Test", "[::FFFF:7F00:2]", " 10.1.2.3 "])
    assert box.notify_hosts == frozenset({"receiver.test", "127.0.0.2", "10.1.2.3"})
    with pytest.raises(TypeError, match="list of hosts"):
        Sandbox(notify_hosts="example.com")  # not ['e', 'x', 'a', ...]
    for bad in ("https://example.com", "example.com:8080", "", "example.com/notify"):
        with pytest.raises(ValueError, match="notify_hosts"):
            Sandbox(notify_hosts=[bad])


def test_the_notification_log_is_bounded(create: Any) -> None:
    with Sandbox(log_size=2) as box:
        numbers = [create("https://example.com/notify", box) for _ in range(3)]
        for no in numbers:
            box.pay(no)
        assert [d.out_trade_no for d in box.notifications] == numbers[1:]
        assert box.pay(create("https://example.com/notify", box), notify=False) is None
        assert len(box.notifications) == 2  # notify=False sends nothing and records nothing
