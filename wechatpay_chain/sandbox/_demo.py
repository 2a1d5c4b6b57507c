"""`wechatpay-chain demo`: the seed call through the three chain forms, sync and async, against a sandbox.

Prints, for each call, the request line, how the sensitive fields went out (RSA-OAEP ciphertext and the
`Wechatpay-Serial` of the key used) and the verified JSON; then shows a forged answer being refused.
The output is ASCII only, so it reads the same on any console.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Awaitable, Callable, Dict, List, TextIO, Tuple

from wechatpay_chain import Sensitive
from wechatpay_chain.errors import VerificationError
from wechatpay_chain.models import Response
from wechatpay_chain.notify import parse_notification
from wechatpay_chain.sandbox._server import Recorded, Sandbox

__all__ = ["run_demo", "SEED_URI", "seed_payload", "serve_until_interrupted", "notification_receiver"]

SEED_URI = "v3/payroll-card/authentications/pre-order-with-auth"
_SENSITIVE = ("user_name", "id_card_number")
_USER, _ID_CARD = "\u5f20\u4e09", "110101199003071234"  # 张三, a well-formed (fictional) id card number


def seed_payload(authenticate_number: str, sub_mchid: str = "1900000109") -> Dict[str, Any]:
    """The wechatpay.im example body, with the two sensitive fields marked `Sensitive`."""
    return {
        "openid": "onqOjjmo8wmTOOtSKwXtGjg9Gb58",
        "appid": "wxa1111111",
        "sub_mchid": sub_mchid,
        "sub_appid": "wxa1111111",
        "authenticate_number": authenticate_number,
        "project_name": "\u67d0\u9879\u76ee",  # 某项目
        "employer_name": "\u67d0\u7528\u5de5\u4f01\u4e1a",  # 某用工企业
        "user_name": Sensitive(_USER),
        "id_card_number": Sensitive(_ID_CARD),
        "employment_type": "LONG_TERM_EMPLOYMENT",
        "authenticate_type": "SIGN_IN",
    }


def _short(text: str, size: int = 24) -> str:
    return text if len(text) <= size else f"{text[:size]}..."


class _Printer:
    def __init__(self, out: TextIO, total: int) -> None:
        self.out, self.total, self.step = out, total, 0

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def header(self, title: str, code: str) -> None:
        self.step += 1
        self.line()
        self.line(f"[{self.step}/{self.total}] {title}")
        self.line(f"  {code}")

    def exchange(self, sb: Sandbox, recorded: Recorded, response: Response) -> None:
        self.line(f"  -> {recorded.method} {recorded.target}")
        auth = recorded.headers.get("Authorization", "")
        self.line(f"     Authorization: {_short(auth, 60)}")
        sent = json.loads(recorded.body)
        serial = recorded.headers.get("Wechatpay-Serial", "(none)")
        self.line(f"     Wechatpay-Serial: {serial}")
        for name in _SENSITIVE:
            ciphertext = str(sent.get(name, ""))
            decrypted = recorded.decrypted.get(name)
            ok = "the sandbox decrypted it back" if decrypted in (_USER, _ID_CARD) else "NOT DECRYPTED"
            self.line(f"     {name}: {_short(ciphertext, 16)!r} ({len(ciphertext)} chars of RSA-OAEP, {ok})")
        signer = response.headers.get("Wechatpay-Serial", "")
        self.line(f"  <- HTTP {response.status_code}, signature verified ({signer})")
        pairs = [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=True)}" for k, v in response.json().items()]
        self.line("     {" + ",\n      ".join(pairs) + "}")  # a pair a line: the console stays 100 wide


def _check(sb: Sandbox, response: Response) -> Recorded:
    recorded = sb.requests[-1]
    data = response.json()
    if not (isinstance(data, dict) and data.get("token") and data.get("expires_in")):
        raise RuntimeError(f"unexpected answer {response.text[:80]!r}")
    if recorded.decrypted.get("user_name") != _USER or recorded.decrypted.get("id_card_number") != _ID_CARD:
        raise RuntimeError("the sensitive fields did not arrive encrypted with the platform key")
    return recorded


def run_demo(out: TextIO, keep: bool = False) -> None:
    """Run every step, printing as it goes; raises on the first failure. `keep`: then serve the sandbox with a
    Native order to pay on its dashboard, and a notification receiver, until Ctrl-C (`serve_until_interrupted`)."""
    started = time.perf_counter()
    forms: List[Tuple[str, Callable[[Any], Any]]] = [
        ("attribute chain", lambda c: c.v3.payrollCard.authentications.preOrderWithAuth),
        ("item key", lambda c: c[SEED_URI]),
        ("chain()", lambda c: c.chain(SEED_URI)),
    ]
    code = {
        "attribute chain": "client.v3.payrollCard.authentications.preOrderWithAuth",
        "item key": f"client['{SEED_URI}']",
        "chain()": f"client.chain('{SEED_URI}')",
    }
    p = _Printer(out, 2 * len(forms) + 1)
    p.line("wechatpay-chain demo: the payroll-card seed call against a local WeChat Pay sandbox")
    with Sandbox() as sb:
        p.line(f"  sandbox at {sb.base_uri}  mchid {sb.mchid}")
        p.line(f"  merchant serial {sb.merchant_serial}")
        p.line(f"  platform public key {sb.platform_public_key_id} (signs every answer)")
        client = sb.client(timeout=10.0)
        try:
            for n, (label, node) in enumerate(forms, 1):
                p.header(f"sync, {label}", f"{code[label]}.post(json=...)")
                response = node(client).post(json=seed_payload(f"demo-sync-{n}-{int(time.time())}"))
                p.exchange(sb, _check(sb, response), response)

            async def run_async() -> None:
                for n, (label, node) in enumerate(forms, 1):
                    p.header(f"async, {label}", f"await {code[label]}.post_async(json=...)")
                    call: Awaitable[Response] = node(client).post_async(
                        json=seed_payload(f"demo-async-{n}-{int(time.time())}")
                    )
                    response = await call
                    p.exchange(sb, _check(sb, response), response)

            asyncio.run(run_async())

            p.header("a forged answer is refused", "sb.inject('bad_signature'); then the same call")
            sb.inject("bad_signature", path=SEED_URI)
            try:
                forms[0][1](client).post(json=seed_payload(f"demo-forged-{int(time.time())}"))
            except VerificationError as exc:
                p.line("  <- refused, as it must be:")
                p.line(f"     VerificationError: {_short(str(exc), 60)}")
            else:
                raise RuntimeError("a forged response was accepted")
        finally:
            client.get_driver().close()
        p.line()
        p.line(f"All {p.total} steps passed in {time.perf_counter() - started:.1f}s.")
        if keep:
            serve_until_interrupted(sb, p.line)


def notification_receiver(sb: Sandbox, say: Callable[[str], None]) -> ThreadingHTTPServer:
    """A loopback notify_url in a thread: verifies each notification as a merchant's handler must, and says so."""
    certs, apiv3_key = sb.client_config()["certs"], sb.apiv3_key

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                doc = parse_notification(dict(self.headers.items()), body, certs=certs, apiv3_key=apiv3_key)
            except Exception as exc:  # a forged or stale notification: refused, as a handler must
                say(f"  <- notification REFUSED: {type(exc).__name__}: {_short(str(exc), 60)}")
                status = 400
            else:
                res = doc["resource"]
                say(f"  <- notification verified: {res['out_trade_no']} {res['trade_state']} "
                    f"transaction_id {res.get('transaction_id', '')}")
                status = 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, name="wechatpay-demo-receiver", daemon=True).start()
    return server


def serve_until_interrupted(sb: Sandbox, say: Callable[[str], None]) -> None:
    """`demo --keep`: a Native order to pay in the browser, its notification verified here; until Ctrl-C."""
    receiver = notification_receiver(sb, say)
    client = sb.client(timeout=10.0)
    try:
        order = {"appid": "wxd678efh567hg6787", "mchid": sb.mchid, "description": "wechatpay-chain demo order",
                 "out_trade_no": f"demo-{int(time.time() * 1000)}", "amount": {"total": 1, "currency": "CNY"},
                 "notify_url": f"http://127.0.0.1:{receiver.server_address[1]}/notify"}
        code_url = client.v3.pay.transactions.native.post(json=order).json()["code_url"]
    finally:
        client.get_driver().close()
    say("")
    say(f"A Native order to pay as the payer: {order['out_trade_no']} (CNY 0.01); its code_url (the cashier):")
    say(f"  {code_url}")
    say(f"  notifications go to {order['notify_url']}, verified here as your handler would")
    say(f"dashboard: {sb.dashboard_url}")
    say("  the sandbox stays up until Ctrl-C (SIGINT) or SIGTERM")
    try:
        _wait_for_signal()
        say("  stopped")
    finally:
        receiver.shutdown()
        receiver.server_close()


def _wait_for_signal() -> None:
    """Until SIGINT or SIGTERM (also when the shell started us with SIGINT ignored, as `cmd &` does)."""
    stop = threading.Event()
    saved: Dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            saved[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:  # not the main thread: Ctrl-C still ends the wait
        pass
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
