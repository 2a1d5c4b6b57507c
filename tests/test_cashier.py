"""The sandbox's dashboard and cashier (`sandbox/_cashier.py`, `_pages.py`): a developer plays the payer.

Fast tests over plain HTTP first (escaping, no key material, same-origin form posts, the API untouched, why an
order cannot be paid, the CLI printing the dashboard URL); then the browser tests, which drive Debian's
`chromium` headless through `chromium-driver` and selenium: skipped when those are missing, failed under CI=true
(.ci/run installs them). The cashier's screenshot is a test artifact: in the test's tmp dir, and in
$WECHATPAY_CHAIN_ARTIFACTS when set (.ci/run sets build/artifacts).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Tuple

import pytest
import requests

from tests.support import unique
from wechatpay_chain.notify import parse_notification
from wechatpay_chain.sandbox import Sandbox
from wechatpay_chain.sandbox._pages import amount_text

CST = timezone(timedelta(hours=8))
EVIL = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"


class Receiver:
    """A loopback notify_url that verifies each notification as a merchant's handler must."""

    def __init__(self, sb: Sandbox) -> None:
        self.verified: List[Dict[str, Any]] = []
        self.refused: List[str] = []
        certs, key, verified, refused = sb.client_config()["certs"], sb.apiv3_key, self.verified, self.refused

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    verified.append(parse_notification(dict(self.headers.items()), body, certs=certs, apiv3_key=key))
                    status = 200
                except Exception as exc:
                    refused.append(repr(exc))
                    status = 400
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(sandbox: Sandbox) -> Iterator[Receiver]:
    r = Receiver(sandbox)
    yield r
    r.close()


def prepay(client: Any, sb: Sandbox, kind: str, no: str, notify_url: str = "https://x.test/",
           description: str = "Image形象店-深圳腾大-QQ公仔", total: int = 1, **extra: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = {"appid": "wxd678efh567hg6787", "mchid": sb.mchid, "description": description,
                            "out_trade_no": no, "notify_url": notify_url, "amount": {"total": total}, **extra}
    if kind == "jsapi":
        body["payer"] = {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
    if kind == "h5":
        body["scene_info"] = {"payer_client_ip": "127.0.0.1", "h5_info": {"type": "Wap"}}
    return client.v3.pay.transactions[kind].post(json=body).json()  # type: ignore[no-any-return]


def state_of(client: Any, sb: Sandbox, no: str) -> str:
    got = client.v3.pay.transactions.outTradeNo._out_trade_no_.get(out_trade_no=no, query={"mchid": sb.mchid})
    return got.json()["trade_state"]  # type: ignore[no-any-return]


def origin(sb: Sandbox) -> Dict[str, str]:
    return {"Origin": sb.base_uri.rstrip("/")}


# -- fast: over plain HTTP --------------------------------------------------------------------------------------
def test_amounts_are_formatted_from_fen() -> None:
    assert amount_text(1) == "¥0.01" and amount_text(100) == "¥1.00" and amount_text(123456) == "¥1,234.56"
    assert amount_text(100_000_000) == "¥1,000,000.00" and amount_text(250, "USD") == "USD 2.50"


def test_code_url_and_h5_url_open_the_cashier(sandbox: Sandbox, client: Any) -> None:
    no = unique("cashier-native")
    code_url = prepay(client, sandbox, "native", no, total=123456)["code_url"]
    assert code_url == f"{sandbox.base_uri}_sandbox/cashier/{no}" == sandbox.cashier_url(no)
    page = requests.get(code_url, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "¥1,234.56" in page.text and 'id="pay"' in page.text and 'id="cancel"' in page.text
    assert sandbox.mchid in page.text and "unsafe-inline" not in page.headers["Content-Security-Policy"]
    svg = requests.get(f"{code_url}/qr.svg", timeout=10)
    assert svg.status_code == 200 and svg.headers["Content-Type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg") and "xmlns" in svg.text

    h5 = unique("cashier-h5")
    h5_url = prepay(client, sandbox, "h5", h5)["h5_url"] + "&redirect_url=https%3A%2F%2Fshop.test%2Fback%3Fa%3D1"
    page = requests.get(h5_url, timeout=10)
    assert page.status_code == 200 and 'name="redirect_url" value="https://shop.test/back?a=1"' in page.text

    js = unique("cashier-jsapi")
    assert "prepay_id" in prepay(client, sandbox, "jsapi", js)
    state = requests.get(f"{sandbox.base_uri}_sandbox/state", timeout=10).json()
    orders = {o["out_trade_no"]: o for o in state["orders"]}
    assert orders[js]["cashier"] == f"/_sandbox/cashier/{js}" and orders[js]["qr"] is None
    assert orders[no]["qr"] == f"/_sandbox/cashier/{no}/qr.svg" and orders[no]["code_url"] == code_url
    assert orders[no]["amount"] == "¥1,234.56" and orders[no]["state"] == "NOTPAY" and orders[no]["created"]


def test_a_description_is_text_on_every_page(sandbox: Sandbox, client: Any) -> None:
    no = unique("cashier-xss")
    code_url = prepay(client, sandbox, "native", no, description=EVIL)["code_url"]
    escaped = "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;&lt;img src=x onerror="
    for page in (requests.get(code_url, timeout=10),
                 requests.post(f"{code_url}/cancel", headers=origin(sandbox), timeout=10)):
        assert page.status_code == 200 and escaped in page.text and "<script>document" not in page.text
        assert "<img src=x" not in page.text
    state = requests.get(f"{sandbox.base_uri}_sandbox/state", timeout=10)
    assert state.headers["Content-Type"].startswith("application/json")  # data, rendered with textContent
    assert EVIL in [o["description"] for o in state.json()["orders"]]
    script = requests.get(f"{sandbox.base_uri}_sandbox/assets/app.js", timeout=10).text
    assert "textContent" in script and "innerHTML" not in script


def test_the_pages_are_never_reachable_under_v3_or_pay(sandbox: Sandbox, client: Any) -> None:
    no = unique("cashier-api")
    prepay(client, sandbox, "native", no)
    for prefix in ("/v3", "/pay", "/v3/pay", "/v2"):
        for method, path in (("GET", "/_sandbox/"), ("GET", "/_sandbox/state"), ("GET", f"/_sandbox/cashier/{no}"),
                             ("POST", f"/_sandbox/cashier/{no}/pay"), ("POST", f"/_sandbox/orders/{no}/pay")):
            got = requests.request(method, f"{sandbox.base_uri.rstrip('/')}{prefix}{path}", headers=origin(sandbox),
                                   timeout=10)
            assert got.status_code in (401, 404, 405), (prefix, path, got.status_code)
            assert not got.headers.get("Content-Type", "").startswith("text/html") and "形象店" not in got.text
    assert state_of(client, sandbox, no) == "NOTPAY"


def _pem_lines(pem: str) -> List[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def test_no_page_shows_key_material(sandbox: Sandbox, client: Any, receiver: Receiver) -> None:
    ident = sandbox.identity
    secrets = [sandbox.apiv3_key, sandbox.secret]
    for pem in (sandbox.merchant_private_key_pem, ident.platform_key.export_pem(),
                ident.certificate_key.export_pem(), sandbox.platform_public_key_pem):
        secrets += _pem_lines(pem)
    base = sandbox.base_uri.rstrip("/")
    paid, kept, h5 = unique("cashier-keys-paid"), unique("cashier-keys-kept"), unique("cashier-keys-h5")
    prepay(client, sandbox, "native", paid, receiver.url, attach=sandbox.apiv3_key[:8])
    prepay(client, sandbox, "jsapi", kept, receiver.url)
    prepay(client, sandbox, "h5", h5, receiver.url)
    pages = [requests.post(f"{base}/_sandbox/cashier/{paid}/pay", headers=origin(sandbox), timeout=10)]
    client.v3.refund.domestic.refunds.post(json={"out_trade_no": paid, "out_refund_no": unique("refund"),
                                                 "amount": {"refund": 1, "total": 1, "currency": "CNY"}})
    pages.append(requests.post(f"{base}/_sandbox/cashier/{kept}/cancel", headers=origin(sandbox), timeout=10))
    for path in ("/_sandbox/", "/_sandbox/state", "/_sandbox/assets/app.js", "/_sandbox/assets/style.css",
                 f"/_sandbox/cashier/{paid}", f"/_sandbox/cashier/{kept}", f"/_sandbox/cashier/{h5}",
                 f"/_sandbox/cashier/{paid}/qr.svg", "/_sandbox/cashier/nope", "/_sandbox/notifications",
                 "/_sandbox/requests"):
        pages.append(requests.get(base + path, timeout=10))
    assert len(receiver.verified) == 1 and json.loads(pages[3].text)["refunds"]  # the state had it all
    for page in pages:
        assert not [s for s in secrets if s in page.text], page.url


def test_a_form_post_from_another_origin_is_refused(sandbox: Sandbox, client: Any) -> None:
    no = unique("cashier-csrf")
    prepay(client, sandbox, "native", no)
    pay = f"{sandbox.base_uri}_sandbox/cashier/{no}/pay"
    own = sandbox.base_uri.rstrip("/")
    for headers in ({}, {"Origin": "http://evil.test"}, {"Origin": "null"}, {"Referer": "http://evil.test/x"},
                    {"Referer": f"{own}.evil.test/"}, {"Origin": own, "Sec-Fetch-Site": "cross-site"}):
        got = requests.post(pay, headers=headers, timeout=10)
        assert got.status_code == 403 and "refused" in got.text, headers
        got = requests.post(f"{sandbox.base_uri}_sandbox/cashier/{no}/cancel", headers=headers, timeout=10)
        assert got.status_code == 403, headers
    admin = requests.post(f"{sandbox.base_uri}_sandbox/orders/{no}/pay", headers={"Origin": "http://evil.test"},
                          timeout=10)
    assert admin.status_code == 403 and state_of(client, sandbox, no) == "NOTPAY"
    ok = requests.post(pay, headers={"Referer": f"{own}/_sandbox/cashier/{no}"}, timeout=10)
    assert ok.status_code == 200 and "Payment succeeded" in ok.text and state_of(client, sandbox, no) == "SUCCESS"


def test_a_closed_paid_or_expired_order_says_why_it_cannot_be_paid(sandbox: Sandbox, client: Any) -> None:
    closed, paid, expired = unique("cashier-closed"), unique("cashier-paid"), unique("cashier-expired")
    past = (datetime.now(CST) - timedelta(minutes=5)).isoformat(timespec="seconds")
    for no in (closed, paid):
        prepay(client, sandbox, "native", no)
    prepay(client, sandbox, "native", expired, time_expire=past)
    client.v3.pay.transactions.outTradeNo._out_trade_no_.close.post(out_trade_no=closed, json={"mchid": sandbox.mchid})
    assert sandbox.pay(paid) is None  # https://x.test/ is not loopback: skipped
    for no, why in ((closed, "is closed"), (paid, "already paid"), (expired, f"expired at {past}")):
        page = requests.get(sandbox.cashier_url(no), timeout=10)
        assert page.status_code == 200 and "This order cannot be paid" in page.text and why in page.text
        assert 'id="pay"' not in page.text
        posted = requests.post(f"{sandbox.cashier_url(no)}/pay", headers=origin(sandbox), timeout=10)
        assert posted.status_code == 409 and why in posted.text
    assert state_of(client, sandbox, expired) == "NOTPAY" and state_of(client, sandbox, closed) == "CLOSED"
    unknown = requests.get(sandbox.cashier_url("no-such-order"), timeout=10)
    assert unknown.status_code == 404 and "no order" in unknown.text


def test_time_expire_must_be_rfc3339(sandbox: Sandbox, client: Any) -> None:
    from wechatpay_chain.errors import ClientError

    with pytest.raises(ClientError) as caught:
        prepay(client, sandbox, "native", unique("cashier-badtime"), time_expire="2018-06-08 10:34:56")
    assert caught.value.response.json()["code"] == "PARAM_ERROR"


def test_cancel_leaves_it_unpaid_and_h5_returns_to_the_merchant(sandbox: Sandbox, client: Any) -> None:
    no, h5 = unique("cashier-cancel"), unique("cashier-h5-cancel")
    prepay(client, sandbox, "native", no)
    got = requests.post(f"{sandbox.cashier_url(no)}/cancel", headers=origin(sandbox), timeout=10)
    assert got.status_code == 200 and "Payment cancelled" in got.text and state_of(client, sandbox, no) == "NOTPAY"
    prepay(client, sandbox, "h5", h5)
    cancel = f"{sandbox.cashier_url(h5)}/cancel"
    back = requests.post(cancel, data={"redirect_url": "https://shop.test/back?a=1"}, headers=origin(sandbox),
                         allow_redirects=False, timeout=10)
    assert back.status_code == 303 and back.headers["Location"] == "https://shop.test/back?a=1"
    bad = requests.post(cancel, data={"redirect_url": "javascript:alert(1)"}, headers=origin(sandbox),
                        allow_redirects=False, timeout=10)
    assert bad.status_code == 200 and "javascript:" not in bad.text and state_of(client, sandbox, h5) == "NOTPAY"


def test_dashboard_routes_methods_and_headers(sandbox: Sandbox) -> None:
    base = sandbox.base_uri
    moved = requests.get(f"{base}_sandbox", allow_redirects=False, timeout=10)
    assert moved.status_code == 308 and moved.headers["Location"] == "/_sandbox/"
    page = requests.get(sandbox.dashboard_url, timeout=10)
    csp = page.headers["Content-Security-Policy"]
    assert page.status_code == 200 and "script-src 'self'" in csp and "unsafe" not in csp
    assert page.headers["X-Frame-Options"] == "DENY" and '<script src="/_sandbox/assets/app.js"' in page.text
    assert requests.post(sandbox.dashboard_url, headers=origin(sandbox), timeout=10).status_code == 405
    assert requests.get(f"{base}_sandbox/cashier/x/pay", timeout=10).status_code == 405
    assert requests.get(f"{base}_sandbox/cashier/nope/qr.svg", timeout=10).status_code == 404
    assert requests.get(f"{base}_sandbox/requests", timeout=10).status_code == 200  # the JSON surface is as it was


def test_state_is_newest_first_with_the_decrypted_resource(sandbox: Sandbox, client: Any, receiver: Receiver) -> None:
    first, second = unique("cashier-first"), unique("cashier-second")
    prepay(client, sandbox, "native", first, receiver.url)
    prepay(client, sandbox, "native", second, receiver.url)
    assert sandbox.pay(first) == 200
    state = requests.get(f"{sandbox.base_uri}_sandbox/state", timeout=10).json()
    assert [o["out_trade_no"] for o in state["orders"][:2]] == [second, first]
    assert state["requests"][0]["time"] >= state["requests"][-1]["time"]
    note = state["notifications"][0]
    assert note["out_trade_no"] == first and note["status"] == 200 and note["attempts"] == 1
    assert note["resource"]["trade_state"] == "SUCCESS" and note["resource"]["out_trade_no"] == first
    assert note["resource"] == receiver.verified[0]["resource"]  # what the receiver decrypted


def _readline(stream: IO[str], timeout: float) -> str:
    got: List[str] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not got or not got[0]:
        raise AssertionError(f"no output within {timeout}s")
    return got[0]


def _run_until(args: List[str], marker: str) -> Tuple[subprocess.Popen[str], List[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "wechatpay_chain", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.stdout is not None
    lines: List[str] = []
    while not lines or marker not in lines[-1]:
        lines.append(_readline(proc.stdout, 60))
    return proc, lines


def _interrupt(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    return out


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_the_sandbox_command_prints_the_dashboard_url() -> None:
    proc, lines = _run_until(["sandbox", "--port", "0"], "dashboard:")
    try:
        url = lines[-1].split()[1]
        assert url == lines[0].strip() + "_sandbox/"
        assert requests.get(url, timeout=10).headers["Content-Type"].startswith("text/html")
    finally:
        _interrupt(proc)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_demo_keep_prints_the_dashboard_and_a_payable_order() -> None:
    proc, lines = _run_until(["demo", "--keep"], "dashboard:")
    try:
        assert "All 7 steps passed" in "".join(lines)
        url = lines[-1].split()[1]
        code_url = next(line.strip() for line in lines if "/_sandbox/cashier/" in line)
        assert requests.get(url, timeout=10).status_code == 200
        paid = requests.post(f"{code_url}/pay", headers={"Origin": url[: -len("/_sandbox/")]}, timeout=10)
        assert paid.status_code == 200 and "the receiver answered HTTP 204" in paid.text
    finally:
        out = _interrupt(proc)
    assert "notification verified" in out and "SUCCESS" in out and out.rstrip().endswith("stopped")


# -- in a real browser ------------------------------------------------------------------------------------------
def _browser_or_skip() -> Any:
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver")
                                              else None)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None  # type: ignore[assignment]
    missing = [name for name, found in (("selenium", webdriver), ("chromium", chromium), ("chromedriver", driver))
               if found is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (apt-get install chromium chromium-driver; pip install selenium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI installs them (.ci/run)")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1100,900", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.binary_location = chromium  # type: ignore[assignment]
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = _browser_or_skip()
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, find: Any, timeout: float = 10.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(find)


def _by_id(ident: str) -> Any:
    from selenium.webdriver.common.by import By

    return lambda d: (d.find_elements(By.ID, ident) or [None])[0]


def _artifact(driver: Any, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 1000
    where = os.environ.get("WECHATPAY_CHAIN_ARTIFACTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(where) / name)
    return shot


def _csp_errors(driver: Any) -> List[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_browser_pay_from_the_dashboard(browser: Any, sandbox: Sandbox, client: Any, receiver: Receiver,
                                        tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    no = unique("browser-pay")
    prepay(client, sandbox, "native", no, receiver.url, description="QQ公仔 x1")
    browser.get(sandbox.dashboard_url)
    row = _wait(browser, _by_id(f"order-{no}"))
    assert "QQ公仔 x1" in row.text and "¥0.01" in row.text and "NOTPAY" in row.text
    qr = row.find_element(By.TAG_NAME, "img")
    assert _wait(browser, lambda d: d.execute_script("return arguments[0].naturalWidth", qr) > 0)
    row.find_element(By.PARTIAL_LINK_TEXT, "open the cashier").click()
    pay = _wait(browser, _by_id("pay"))
    assert browser.find_element(By.ID, "amount").text == "¥0.01"
    assert sandbox.mchid in browser.find_element(By.ID, "merchant").text
    _artifact(browser, tmp_path, "cashier.png")
    pay.click()
    outcome = _wait(browser, _by_id("outcome"))
    assert "Payment succeeded" in outcome.text and "the receiver answered HTTP 200" in outcome.text
    assert [n["resource"]["out_trade_no"] for n in receiver.verified] == [no] and not receiver.refused
    assert receiver.verified[0]["resource"]["trade_state"] == "SUCCESS" and state_of(client, sandbox, no) == "SUCCESS"
    _artifact(browser, tmp_path, "cashier-paid.png")

    browser.get(sandbox.dashboard_url)  # then it updates without a reload: a new order appears, its state changes
    _wait(browser, lambda d: "SUCCESS" in d.find_element(By.ID, f"order-{no}").text)
    later = unique("browser-later")
    prepay(client, sandbox, "native", later, receiver.url)
    _wait(browser, _by_id(f"order-{later}"), timeout=5)
    rows = f"//tbody[@id='notifications']/tr[td[2][text()='{no}']]"
    _wait(browser, lambda d: (d.find_elements(By.XPATH, rows) or [None])[0]).click()
    resource = _wait(browser, lambda d: d.find_element(By.ID, "resource").text or None)
    assert json.loads(resource)["transaction_id"] == receiver.verified[0]["resource"]["transaction_id"]
    _artifact(browser, tmp_path, "dashboard.png")
    assert not _csp_errors(browser)


def test_browser_cancel(browser: Any, sandbox: Sandbox, client: Any, receiver: Receiver) -> None:
    no = unique("browser-cancel")
    code_url = prepay(client, sandbox, "native", no, receiver.url)["code_url"]
    browser.get(code_url)  # what a phone opens from the QR code
    _wait(browser, _by_id("cancel")).click()
    outcome = _wait(browser, _by_id("outcome"))
    assert "Payment cancelled" in outcome.text and "NOTPAY" in outcome.text
    assert state_of(client, sandbox, no) == "NOTPAY" and not receiver.verified


def test_browser_a_script_in_the_description_does_not_run(browser: Any, sandbox: Sandbox, client: Any) -> None:
    from selenium.webdriver.common.by import By

    no = unique("browser-xss")
    code_url = prepay(client, sandbox, "native", no, description=EVIL)["code_url"]
    browser.get(sandbox.dashboard_url)
    row = _wait(browser, _by_id(f"order-{no}"))
    assert EVIL in row.text and browser.title == "WeChat Pay sandbox"
    browser.get(code_url)
    assert browser.find_element(By.ID, "description").text == EVIL and "pwned" not in browser.title
    assert not browser.find_elements(By.CSS_SELECTOR, "#description img, #description script")
    time.sleep(0.2)
    assert "pwned" not in browser.title and browser.execute_script("return document.title") != "pwned"
