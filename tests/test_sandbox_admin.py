"""The admin surface under `/_sandbox/` over plain HTTP (what a test in any language uses), checked against the
client's own calls through `post` and `post_async`; and the `wechatpay-chain sandbox` console: one line per
request, never a key or a body."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests

from tests.support import both_ways, seed_body, unique
from wechatpay_chain import Builder, Rsa
from wechatpay_chain.errors import ClientError, ServerError, VerificationError
from wechatpay_chain.sandbox import Sandbox

SEED = "v3/payroll-card/authentications/pre-order-with-auth"
ENTRY = {"method", "path", "status", "request_id", "time"}


seed = seed_body


def order(mchid: str, no: str, notify_url: str = "https://example.com/notify") -> Dict[str, Any]:
    return {"appid": "wxd678efh567hg6787", "mchid": mchid, "description": "admin", "out_trade_no": no,
            "notify_url": notify_url, "amount": {"total": 1, "currency": "CNY"}}


def admin(base_uri: str, method: str, path: str, body: Any = None, data: Optional[bytes] = None) -> requests.Response:
    """A plain, unsigned HTTP request to the admin surface."""
    if body is not None:
        data = json.dumps(body).encode()
    with requests.Session() as s:
        return s.request(method, base_uri.rstrip("/") + path, data=data, timeout=10,
                         headers={"Content-Type": "application/json"})


def raw_request(sb: Sandbox, method: str, path: str, body: bytes = b"") -> http.client.HTTPResponse:
    """The request target sent byte for byte (requests/urllib3 would normalise `..`)."""
    conn = http.client.HTTPConnection(sb.host, sb.port, timeout=10)
    conn.request(method, path, body=body or None, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox() as box:  # its own: faults and logs are global to a sandbox
        yield box


@pytest.fixture
def client(sb: Sandbox) -> Iterator[Any]:
    c = sb.client(timeout=5)
    try:
        yield c
    finally:
        c.get_driver().close()
        sb.clear_faults()


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Any:
    """call(node, 'post', **options) through `post` or `post_async`."""
    return both_ways(request.param)


class Receiver:
    def __init__(self) -> None:
        got: List[bytes] = []
        self.got = got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                got.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


# -- the request log ----------------------------------------------------------------------------------
def test_the_request_log_lists_api_requests(sb: Sandbox, client: Any, call: Any) -> None:
    assert admin(sb.base_uri, "DELETE", "/_sandbox/requests").status_code == 200
    ok = call(client[SEED], "post", json=seed(unique("log")))
    unsigned = requests.get(sb.base_uri + "v3/certificates", timeout=10)
    assert unsigned.status_code == 401
    got = admin(sb.base_uri, "GET", "/_sandbox/requests")
    assert got.status_code == 200 and got.headers["Content-Type"].startswith("application/json")
    assert "Wechatpay-Signature" not in got.headers  # the admin surface is not WeChat Pay's: unsigned
    entries = got.json()
    assert [set(e) for e in entries] == [ENTRY, ENTRY]  # admin requests are not in the log
    first, second = entries
    assert (first["method"], first["path"], first["status"]) == ("POST", "/" + SEED, 200)
    assert first["request_id"] == ok.headers["Request-ID"]
    assert (second["method"], second["path"], second["status"]) == ("GET", "/v3/certificates", 401)
    assert second["request_id"] == unsigned.headers["Request-ID"]
    assert abs(second["time"] - time.time()) < 30 and first["time"] <= second["time"]
    assert sb.requests[-1].request_id == unsigned.headers["Request-ID"] and sb.requests[-1].status == 401


# -- paying an order ----------------------------------------------------------------------------------
def test_pay_over_http_marks_paid_and_notifies(sb: Sandbox, client: Any, call: Any, receiver: Receiver) -> None:
    no = unique("adm")
    call(client.v3.pay.transactions.native, "post", json=order(sb.mchid, no, receiver.url))
    r = admin(sb.base_uri, "POST", f"/_sandbox/orders/{no}/pay")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["out_trade_no"], doc["trade_state"]) == (no, "SUCCESS") and doc["transaction_id"].startswith("42")
    note = doc["notification"]
    assert (note["outcome"], note["status"], note["attempts"], note["url"]) == ("sent", 200, 1, receiver.url)
    assert len(receiver.got) == 1 and json.loads(receiver.got[0])["event_type"] == "TRANSACTION.SUCCESS"
    queried = call(client.v3.pay.transactions.outTradeNo._out_trade_no_, "get", out_trade_no=no,
                   query={"mchid": sb.mchid}).json()
    assert (queried["trade_state"], queried["transaction_id"]) == ("SUCCESS", doc["transaction_id"])
    again = admin(sb.base_uri, "POST", f"/_sandbox/orders/{no}/pay")
    assert again.status_code == 409 and "NOTPAY" in again.json()["error"]  # as sb.pay: ValueError
    missing = admin(sb.base_uri, "POST", "/_sandbox/orders/no-such-order/pay")
    assert missing.status_code == 404 and "no-such-order" in missing.json()["error"]  # as sb.pay: KeyError


def test_pay_over_http_skips_a_non_loopback_host_and_can_stay_silent(sb: Sandbox, client: Any, call: Any) -> None:
    no, quiet = unique("skip"), unique("quiet")
    call(client.v3.pay.transactions.native, "post", json=order(sb.mchid, no))
    call(client.v3.pay.transactions.native, "post", json=order(sb.mchid, quiet))
    r = admin(sb.base_uri, "POST", f"/_sandbox/orders/{no}/pay", {})
    assert r.status_code == 200 and r.json()["trade_state"] == "SUCCESS"
    assert (r.json()["notification"]["outcome"], r.json()["notification"]["host"]) == ("skipped", "example.com")
    silent = admin(sb.base_uri, "POST", f"/_sandbox/orders/{quiet}/pay", {"notify": False})
    assert silent.status_code == 200 and silent.json()["notification"] is None
    log = admin(sb.base_uri, "GET", "/_sandbox/notifications").json()
    assert log[-1]["out_trade_no"] == no and log[-1]["outcome"] == "skipped" and log[-1]["attempts"] == 0


def test_pay_over_http_reports_an_unreachable_receiver(sb: Sandbox, client: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    no = unique("gone")
    client.v3.pay.transactions.native.post(json=order(sb.mchid, no, f"http://127.0.0.1:{port}/notify"))
    r = admin(sb.base_uri, "POST", f"/_sandbox/orders/{no}/pay")
    assert r.status_code == 502 and "did not answer" in r.json()["error"]  # sb.pay raises ConnectionError
    assert r.json()["trade_state"] == "SUCCESS" and r.json()["notification"]["outcome"] == "failed"


# -- faults -------------------------------------------------------------------------------------------
def test_a_fault_injected_over_http_breaks_the_next_api_call(sb: Sandbox, client: Any, call: Any) -> None:
    r = admin(sb.base_uri, "POST", "/_sandbox/faults", {"fault": "status", "code": 503})
    assert r.status_code == 201 and r.json() == {"fault": "status", "times": 1, "path": None, "code": 503}
    assert admin(sb.base_uri, "GET", "/_sandbox/requests").status_code == 200  # admin calls consume no fault
    assert admin(sb.base_uri, "GET", "/_sandbox/faults").json() == [r.json()]
    with pytest.raises(ServerError) as info:
        call(client[SEED], "post", json=seed(unique("f")))
    assert info.value.status_code == 503 and info.value.code == "SYSTEM_ERROR"
    assert call(client[SEED], "post", json=seed(unique("f"))).status_code == 200  # consumed by exactly one


def test_faults_over_http_take_times_and_path_and_are_cleared(sb: Sandbox, client: Any, call: Any) -> None:
    body = {"fault": "bad_signature", "times": None, "path": "/v3/payroll-card/tokens"}
    assert admin(sb.base_uri, "POST", "/_sandbox/faults", body).status_code == 201
    assert call(client[SEED], "post", json=seed(unique("p"))).status_code == 200  # another path: untouched
    tokens = {k: v for k, v in seed("t").items() if k in ("openid", "appid", "sub_mchid", "user_name",
                                                              "id_card_number", "employment_type")}
    for _ in range(2):  # times null: until cleared
        with pytest.raises(VerificationError):
            call(client.v3.payrollCard.tokens, "post", json=tokens)
    cleared = admin(sb.base_uri, "DELETE", "/_sandbox/faults")
    assert cleared.status_code == 200 and cleared.json() == {"cleared": 1}
    assert call(client.v3.payrollCard.tokens, "post", json=tokens).status_code == 200
    assert admin(sb.base_uri, "GET", "/_sandbox/faults").json() == []


def test_missing_header_over_http_removes_the_signature_type(sb: Sandbox, client: Any, call: Any) -> None:
    body = {"fault": "missing_header", "name": "Wechatpay-Signature-Type", "path": SEED}
    assert admin(sb.base_uri, "POST", "/_sandbox/faults", body).status_code == 201
    r = call(client[SEED], "post", json=seed(unique("m")))
    assert r.status_code == 200 and "Wechatpay-Signature-Type" not in r.headers
    assert call(client[SEED], "post", json=seed(unique("m"))).headers["Wechatpay-Signature-Type"] == \
        "WECHATPAY2-SHA256-RSA2048"


@pytest.mark.parametrize("data, says", [
    (b"{", "not JSON"),
    (b"", "not JSON"),
    (b"\xff", "not JSON"),
    (b'{"fault": "delay", "seconds": NaN}', "NaN is not JSON"),
    (b"[]", "JSON object, not list"),
    (b'{"fault": "nope"}', "unknown fault 'nope'"),
    (b'{"code": 500}', '"fault" must name a fault'),
    (b'{"fault": 5}', '"fault" must name a fault'),
    (b'{"fault": "status", "code": "500"}', "code='500' must be like 500"),
    (b'{"fault": "status", "code": 500.0}', "code=500.0 must be like 500"),
    (b'{"fault": "status", "times": "1"}', '"times" must be a positive integer'),
    (b'{"fault": "status", "times": true}', '"times" must be a positive integer'),
    (b'{"fault": "status", "times": 0}', "times must be a positive int"),
    (b'{"fault": "status", "path": 5}', '"path" must be a string or null'),
    (b'{"fault": "status", "colour": "red"}', "takes code, not colour"),
    (b'{"fault": "drop", "self": 1}', "self"),
])
def test_bad_fault_input_is_a_400_naming_the_problem(sb: Sandbox, data: bytes, says: str) -> None:
    r = admin(sb.base_uri, "POST", "/_sandbox/faults", data=data)
    assert r.status_code == 400, r.text
    assert says in r.json()["error"], r.json()
    assert len(sb.faults) == 0


def test_bad_pay_input_is_a_400(sb: Sandbox) -> None:
    for data, says in [(b"{", "not JSON"), (b'{"notify": "no"}', '"notify" must be true or false'),
                       (b'{"notify": true, "x": 1}', "unknown field(s) x")]:
        r = admin(sb.base_uri, "POST", "/_sandbox/orders/whatever/pay", data=data)
        assert r.status_code == 400 and says in r.json()["error"], r.text


# -- the admin prefix and the API stay apart --------------------------------------------------------------
def test_admin_paths_are_not_api_paths(sb: Sandbox) -> None:
    for method, path in [("GET", "/v3/_sandbox/requests"), ("POST", "/v3/_sandbox/faults"),
                         ("GET", "/v3/../_sandbox/requests"), ("GET", "/%5Fsandbox/requests"),
                         ("POST", "/pay/_sandbox/faults")]:
        resp = raw_request(sb, method, path, b'{"fault": "drop"}')
        assert resp.status in (401, 404) and resp.getheader("Wechatpay-Signature"), (path, resp.status)
    assert len(sb.faults) == 0
    no = unique("sneak")
    sneak = raw_request(sb, "POST", "/_sandbox/../v3/pay/transactions/native",
                        json.dumps(order(sb.mchid, no)).encode())
    assert sneak.status == 404 and sneak.getheader("Wechatpay-Signature") is None  # admin's 404, no API
    assert no not in sb.v3.orders
    unsigned = raw_request(sb, "POST", "/v3/pay/transactions/native", json.dumps(order(sb.mchid, no)).encode())
    assert unsigned.status == 401 and no not in sb.v3.orders  # the API still needs its signature


def test_unknown_admin_resource_and_method(sb: Sandbox) -> None:
    r = admin(sb.base_uri, "GET", "/_sandbox/nothing")
    assert r.status_code == 404 and "/_sandbox/requests" in r.json()["error"]
    r = admin(sb.base_uri, "PUT", "/_sandbox/faults", {})
    assert r.status_code == 405 and r.headers["Allow"] == "GET, POST, DELETE" and "PUT" in r.json()["error"]
    assert admin(sb.base_uri, "GET", "/_sandbox/orders/x/pay").status_code == 405


# -- the console of `wechatpay-chain sandbox` -------------------------------------------------------------
def test_console_logging_writes_a_line_per_request(client: Any, sb: Sandbox) -> None:
    from wechatpay_chain.sandbox._console import console_logging

    out = io.StringIO()
    with console_logging(out):
        r = client[SEED].post(json=seed(unique("c")))
        admin(sb.base_uri, "GET", "/_sandbox/faults")
    client[SEED].post(json=seed(unique("c")))  # after: nothing more
    lines = out.getvalue().splitlines()
    assert lines[0] == f"POST /{SEED} 200 {r.headers['Request-ID']}"
    assert re.fullmatch(r"GET /_sandbox/faults 200 [0-9A-F]{40}", lines[1]), lines
    assert len(lines) == 2


def _readline(stream: Any, timeout: float) -> str:
    got: List[str] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not got:
        raise AssertionError(f"no output within {timeout}s")
    if not got[0]:
        raise AssertionError("the sandbox command exited")
    return got[0]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX; 0.0.0.0 is not this machine on Windows")
def test_the_sandbox_command_logs_requests_and_takes_notify_hosts(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    with socket.socket() as s:  # a port that was free a moment ago and has no listener now
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "wechatpay_chain", "sandbox", "--credentials", str(creds),
         "--notify-host", "0.0.0.0", "--notify-host", "Receiver.Test"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        base_uri = _readline(proc.stdout, 30).strip()
        banner = [_readline(proc.stdout, 10)]
        while "serving until" not in banner[-1]:
            banner.append(_readline(proc.stdout, 10))
        assert any("0.0.0.0, receiver.test" in line for line in banner), banner
        info = json.loads((creds / "sandbox.json").read_text())
        config = {"mchid": info["mchid"], "serial": info["serial"], "base_uri": base_uri,
                  "privateKey": Rsa.from_(f"file://{creds / 'merchant_key.pem'}"),
                  "certs": {info["platform_serial"]: Rsa.from_(f"file://{creds / 'platform_public_key.pem'}",
                                                               "public")}}
        listed, other = unique("listed"), unique("other")
        with Builder.factory(config) as client:
            ok = client[SEED].post(json=seed(unique("cli")))
            client.v3.pay.transactions.native.post(json=order(info["mchid"], listed, f"http://0.0.0.0:{port}/n"))
            client.v3.pay.transactions.native.post(json=order(info["mchid"], other))
            with pytest.raises(ClientError):
                client.v3.pay.transactions.outTradeNo._out_trade_no_.get(out_trade_no="x", query={"mchid": "1"})
        attempted = admin(base_uri, "POST", f"/_sandbox/orders/{listed}/pay").json()["notification"]
        assert attempted["attempts"] == 1 and attempted["outcome"] == "failed"  # listed: tried (nothing listens)
        skipped = admin(base_uri, "POST", f"/_sandbox/orders/{other}/pay").json()["notification"]
        assert skipped["attempts"] == 0 and skipped["outcome"] == "skipped"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err = proc.stderr.read() if proc.stderr else ""
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
    assert rc == 0, err
    lines = err.splitlines()
    assert f"POST /{SEED} 200 {ok.headers['Request-ID']}" in lines
    assert any(re.fullmatch(r"GET /v3/pay/transactions/out-trade-no/x 400 [0-9A-F]{40}", ln) for ln in lines), lines
    assert any(re.fullmatch(rf"POST /_sandbox/orders/{listed}/pay 502 [0-9A-F]{{40}}", ln) for ln in lines), lines
    warning = [ln for ln in lines if "WARNING" in ln]
    assert len(warning) == 1 and "'example.com'" in warning[0] and other in warning[0]
    secrets = [info["apiv3_key"], info["secret"], "onqOjjmo8wmTOOtSKwXtGjg9Gb58", "mchid=", "Authorization",
               (creds / "merchant_key.pem").read_text().splitlines()[1]]
    assert not [s for s in secrets if s in err], "the console shows a key, a header or a body"
