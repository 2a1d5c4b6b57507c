"""The sandbox over real loopback HTTP: raw protocol checks with `requests`, then the client end to end
through both transports (`post` and `post_async`), fault injection, notifications and APIv2."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import requests

from tests.support import both_ways, seed_body, unique
from wechatpay_chain import AesGcm, Formatter, Hash, Rsa, Sensitive, Transformer
from wechatpay_chain.errors import ApiError, ClientError, ServerError, TransportError, VerificationError
from wechatpay_chain.notify import parse_notification, parse_notification_v2
from wechatpay_chain.sandbox import Sandbox

SEED = "v3/payroll-card/authentications/pre-order-with-auth"
TODAY = datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%d")


seed = seed_body


def order(sb: Sandbox, out_trade_no: str, notify_url: str = "https://x.test/", total: int = 100) -> Dict[str, Any]:
    return {"appid": "wxd678efh567hg6787", "mchid": sb.mchid, "description": "Image形象店-深圳腾大-QQ公仔",
            "out_trade_no": out_trade_no, "notify_url": notify_url, "amount": {"total": total, "currency": "CNY"},
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}


# -- raw protocol ---------------------------------------------------------------------------------------
def raw(sb: Sandbox, method: str, target: str, body: bytes = b"", *, ts: Optional[int] = None,
        nonce: Optional[str] = None, mchid: Optional[str] = None, serial: Optional[str] = None,
        key: Any = None, signed_body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None,
        auth: bool = True, signed_target: Optional[str] = None) -> requests.Response:
    """A request signed by hand, exactly as the protocol says (or deliberately not)."""
    ts = int(time.time()) if ts is None else ts
    nonce = nonce or Formatter.nonce()
    payload = body if signed_body is None else signed_body
    message = f"{method}\n{signed_target or target}\n{ts}\n{nonce}\n".encode() + payload + b"\n"
    signature = Rsa.sign(message, key or sb.identity.merchant_key)
    h = {"Accept": "application/json", "Content-Type": "application/json"}
    if auth:
        h["Authorization"] = Formatter.authorization(
            mchid or sb.mchid, nonce, signature, ts, serial or sb.merchant_serial
        )
    h.update(headers or {})
    with requests.Session() as s:
        return s.request(method, sb.base_uri.rstrip("/") + target, data=body or None, headers=h, timeout=10)


def assert_signed(sb: Sandbox, r: requests.Response) -> None:
    h = r.headers
    for name in ("Wechatpay-Nonce", "Wechatpay-Serial", "Wechatpay-Signature", "Wechatpay-Timestamp", "Request-ID"):
        assert h.get(name), name
    assert h.get("Wechatpay-Signature-Type") == "WECHATPAY2-SHA256-RSA2048"  # as the real service sends it
    assert h["Wechatpay-Serial"] == sb.platform_public_key_id
    assert abs(int(h["Wechatpay-Timestamp"]) - time.time()) < 5
    message = f"{h['Wechatpay-Timestamp']}\n{h['Wechatpay-Nonce']}\n".encode() + r.content + b"\n"
    assert Rsa.verify(message, h["Wechatpay-Signature"], Rsa.from_(sb.platform_public_key_pem, Rsa.KEY_TYPE_PUBLIC))


def test_unsigned_request_is_401_sign_error(sandbox: Sandbox) -> None:
    r = raw(sandbox, "GET", "/v3/certificates", auth=False)
    assert r.status_code == 401
    assert r.json()["code"] == "SIGN_ERROR" and "Authorization" in r.json()["message"]
    assert_signed(sandbox, r)


def test_bad_signature_answers_the_real_sign_information(sandbox: Sandbox) -> None:
    body = json.dumps({"appid": "wx1", "mchid": sandbox.mchid}).encode()
    ts, nonce = int(time.time()), Formatter.nonce()
    r = raw(sandbox, "POST", "/v3/pay/transactions/native", body, ts=ts, nonce=nonce, signed_body=b"{}")
    assert r.status_code == 401
    doc = r.json()
    assert doc["code"] == "SIGN_ERROR" and doc["message"] == "签名错误"
    detail = doc["detail"]
    assert (detail["field"], detail["location"], detail["issue"]) == ("signature", "authorization", "sign not match")
    info = detail["sign_information"]
    server_message = f"POST\n/v3/pay/transactions/native\n{ts}\n{nonce}\n".encode() + body + b"\n"
    assert info["method"] == "POST" and info["url"] == "/v3/pay/transactions/native"
    assert info["sign_message_length"] == len(server_message)
    assert info["truncated_sign_message"] == f"POST\n/v3/pay/transactions/native\n{ts}\n{nonce}\n{body[:8].decode()}\n"


def test_replayed_nonce_is_refused(sandbox: Sandbox) -> None:
    nonce, ts = Formatter.nonce(), int(time.time())
    assert raw(sandbox, "GET", "/v3/certificates", ts=ts, nonce=nonce).status_code == 200
    again = raw(sandbox, "GET", "/v3/certificates", ts=ts, nonce=nonce)
    assert again.status_code == 401 and "nonce" in again.json()["message"]


@pytest.mark.parametrize("skew", [-301, 400])
def test_stale_timestamp_is_refused(sandbox: Sandbox, skew: int) -> None:
    r = raw(sandbox, "GET", "/v3/certificates", ts=int(time.time()) + skew)
    assert r.status_code == 401 and "timestamp" in r.json()["message"]


def test_wrong_mchid_serial_key_or_scheme_is_refused(sandbox: Sandbox) -> None:
    r = raw(sandbox, "GET", "/v3/certificates", mchid="1900000001")
    assert r.status_code == 401 and "mchid" in r.json()["message"]
    r = raw(sandbox, "GET", "/v3/certificates", serial="0" * 40)
    assert r.status_code == 401 and "序列号" in r.json()["message"]
    r = raw(sandbox, "GET", "/v3/certificates", key=sandbox.identity.platform_key)
    assert r.status_code == 401 and "sign_information" in r.json()["detail"]
    r = raw(sandbox, "GET", "/v3/certificates", auth=False, headers={"Authorization": 'Basic mchid="1"'})
    assert r.status_code == 401 and "认证类型" in r.json()["message"]


def test_request_target_is_verified_as_received(sandbox: Sandbox) -> None:
    target = f"/v3/pay/transactions/out-trade-no/a%2Fb%20c?mchid={sandbox.mchid}"
    r = raw(sandbox, "GET", target)
    assert r.status_code == 404 and r.json()["code"] == "ORDER_NOT_EXIST"
    decoded = raw(sandbox, "GET", target, signed_target=target.replace("%2F", "/").replace("%20", " "))
    assert decoded.status_code == 401  # what counts is the target as it went on the wire
    assert decoded.json()["detail"]["sign_information"]["url"] == target


def test_plaintext_sensitive_field_is_400_param_error(sandbox: Sandbox) -> None:
    body = {k: (v.reveal() if isinstance(v, Sensitive) else v) for k, v in seed(unique("plain")).items()}
    data = json.dumps(body, ensure_ascii=False).encode()
    r = raw(sandbox, "POST", "/" + SEED, data, headers={"Wechatpay-Serial": sandbox.platform_public_key_id})
    assert r.status_code == 400 and r.json()["code"] == "PARAM_ERROR"
    assert r.json()["detail"]["field"] == "user_name"
    assert_signed(sandbox, r)
    r = raw(sandbox, "POST", "/" + SEED, data)
    assert r.status_code == 400 and "Wechatpay-Serial" in r.json()["message"]
    r = raw(sandbox, "POST", "/" + SEED, data, headers={"Wechatpay-Serial": "PUB_KEY_ID_0199"})
    assert r.status_code == 400 and r.json()["detail"]["field"] == "Wechatpay-Serial"


def test_unknown_path_is_a_signed_404(sandbox: Sandbox) -> None:
    r = raw(sandbox, "GET", "/v3/no/such/thing", auth=False)
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    assert_signed(sandbox, r)


def test_media_upload_is_verified_over_meta(sandbox: Sandbox) -> None:
    image = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    for sha, status in ((hashlib.sha256(image).hexdigest(), 200), ("0" * 64, 400)):
        meta = json.dumps({"filename": "a.png", "sha256": sha}).encode()
        boundary = "----sandbox" + Formatter.nonce(8)
        disposition = f"--{boundary}\r\nContent-Disposition: form-data; "
        body = b"".join([
            f'{disposition}name="meta"\r\nContent-Type: application/json\r\n\r\n'.encode(), meta,
            f'\r\n{disposition}name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'.encode(), image,
            f"\r\n--{boundary}--\r\n".encode(),
        ])
        ctype = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        r = raw(sandbox, "POST", "/v3/merchant/media/upload", body, signed_body=meta, headers=ctype)
        assert r.status_code == status, r.text
        assert_signed(sandbox, r)
    assert r.json()["detail"]["field"] == "sha256"


def test_certificate_mode_and_public_key_only() -> None:
    with Sandbox(mode="certificate") as sb:
        r = raw(sb, "GET", "/v3/no/such/thing")
        assert r.headers["Wechatpay-Serial"] == sb.platform_certificate_serial == sb.platform_serial
        c = sb.client(certs={sb.platform_certificate_serial: sb.platform_certificate_pem})
        with c:
            assert c.v3.certificates.get().json()["data"][0]["serial_no"] == sb.platform_certificate_serial
    with Sandbox(certificates=False) as sb, sb.client() as c:
        with pytest.raises(ClientError) as info:
            c.v3.certificates.get()
        assert (info.value.status_code, info.value.code) == (404, "RESOURCE_NOT_EXISTS")
    with pytest.raises(ValueError):
        Sandbox(mode="certificate", certificates=False)


def test_stop_leaves_no_thread_and_async_with_runs_on_the_loop() -> None:
    before = set(threading.enumerate())
    with Sandbox() as sb:
        assert any(t.name.startswith("wechatpay-sandbox") for t in threading.enumerate())
    assert set(threading.enumerate()) <= before

    async def main() -> int:
        async with Sandbox() as sb:
            async with sb.client() as c:
                r = await c[SEED].post_async(json=seed(unique("aw")))
                return int(r.status_code)

    assert asyncio.run(main()) == 200
    with pytest.raises(RuntimeError):
        sb.base_uri  # noqa: B018 - a stopped sandbox has no address


# -- end to end through the client, sync and async ------------------------------------------------------
@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Any:
    """call(node, 'post', **options) through `post` or `post_async`."""
    return both_ways(request.param)


@pytest.mark.parametrize("form", ["attribute", "item", "chain"])
def test_seed_call(sandbox: Sandbox, client: Any, call: Any, form: str) -> None:
    node = {"attribute": lambda: client.v3.payrollCard.authentications.preOrderWithAuth,
            "item": lambda: client[SEED], "chain": lambda: client.chain(SEED)}[form]()
    number = unique("seed")
    r = call(node, "post", json=seed(number))
    assert r.status_code == 200 and r.json()["expires_in"] == 1800 and len(r.json()["token"]) >= 32
    recorded = sandbox.requests[-1]
    assert recorded.headers["Wechatpay-Serial"] == sandbox.platform_public_key_id
    assert recorded.decrypted == {"user_name": "张三", "id_card_number": "110101199003071234"}
    assert "张三" not in recorded.body.decode()
    got = call(client.v3.payrollCard.authentications._authenticate_number_, "get",
               authenticate_number=number, query={"sub_mchid": "1900000109"})
    assert got.json()["authenticate_state"] == "AUTHENTICATE_PROCESSING"


def test_pre_order_with_auth_answers_the_documented_fields(sandbox: Sandbox, client: Any, call: Any) -> None:
    """It answered only token and expires_in; the documented answer has six fields (as pre-order has)."""
    number = unique("six")
    sent = seed(number, openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", sub_mchid="1900000222")
    got = call(client.v3.payrollCard.authentications.preOrderWithAuth, "post", json=sent).json()
    assert list(got) == ["authenticate_number", "openid", "mchid", "sub_mchid", "token", "expires_in"]
    assert (got["authenticate_number"], got["openid"], got["sub_mchid"]) == (
        number, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "1900000222")
    assert got["mchid"] == sandbox.mchid and got["expires_in"] == 1800 and len(got["token"]) >= 32


def test_signed_answers_carry_the_signature_type(sandbox: Sandbox, client: Any, call: Any) -> None:
    """Answers had no Wechatpay-Signature-Type (only notifications did); wechatpayv3 refuses such answers.
    Every answer that carries Wechatpay-Signature carries it; an unsigned one carries neither."""
    r = call(client[SEED], "post", json=seed(unique("type")))
    assert r.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    for answer in (raw(sandbox, "GET", "/v3/certificates", auth=False),  # 401 SIGN_ERROR, signed
                   raw(sandbox, "GET", "/v3/no/such/thing"),  # 404, signed
                   raw(sandbox, "GET", "/v3/certificates")):  # 200
        assert answer.headers["Wechatpay-Signature"]
        assert answer.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    sandbox.inject("non_json", path="/v3/certificates")  # an unsigned gateway page
    page = raw(sandbox, "GET", "/v3/certificates")
    assert "Wechatpay-Signature" not in page.headers and "Wechatpay-Signature-Type" not in page.headers
    text, _ = v2(sandbox, "pay/orderquery", {"appid": "wx1", "out_trade_no": "none"})  # APIv2: signed in the XML
    assert text.startswith("<xml>")
    v2_answer = requests.post(sandbox.base_uri + "pay/orderquery", data=b"<xml></xml>", timeout=10)
    assert "Wechatpay-Signature-Type" not in v2_answer.headers


def test_tokens_and_pre_order(client: Any, call: Any) -> None:
    body = {k: v for k, v in seed("x").items() if k in ("openid", "appid", "sub_mchid", "sub_appid", "user_name",
                                                          "id_card_number", "employment_type")}
    assert call(client.v3.payrollCard.tokens, "post", json=body).json()["auth_state"] == "UNAUTHORIZED"
    pre = {k: v for k, v in seed(unique("pre")).items() if k not in ("user_name", "id_card_number",
                                                                     "employment_type", "authenticate_type")}
    assert call(client.v3.payrollCard.authentications.preOrder, "post", json=pre).json()["token"]


class Receiver:
    """A tiny notify_url server (http.server in a thread) that records what it got."""

    def __init__(self, status: int = 200) -> None:
        got: List[Tuple[Dict[str, str], bytes]] = []
        self.got = got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.append((dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_order_lifecycle(sandbox: Sandbox, client: Any, call: Any, receiver: Receiver) -> None:
    no = unique("order")
    prepay = call(client.v3.pay.transactions.jsapi, "post", json=order(sandbox, no, receiver.url))
    assert prepay.json()["prepay_id"].startswith("wx")
    again = call(client.v3.pay.transactions.jsapi, "post", json=order(sandbox, no, receiver.url))
    assert again.json() == prepay.json()  # idempotent for identical parameters
    with pytest.raises(ClientError) as info:
        call(client.v3.pay.transactions.jsapi, "post", json=order(sandbox, no, receiver.url, total=1))
    assert (info.value.status_code, info.value.code) == (403, "OUT_TRADE_NO_USED")
    by_no = client.v3.pay.transactions.outTradeNo._out_trade_no_
    assert call(by_no, "get", out_trade_no=no, query={"mchid": sandbox.mchid}).json()["trade_state"] == "NOTPAY"

    assert sandbox.pay(no) == 200
    headers, body = receiver.got[-1]
    message = f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode() + body + b"\n"
    platform = Rsa.from_(sandbox.platform_public_key_pem, Rsa.KEY_TYPE_PUBLIC)
    assert Rsa.verify(message, headers["Wechatpay-Signature"], platform)
    note = json.loads(body)
    assert (note["event_type"], note["resource_type"]) == ("TRANSACTION.SUCCESS", "encrypt-resource")
    res = note["resource"]
    assert res["algorithm"] == "AEAD_AES_256_GCM"
    assert res["associated_data"] == res["original_type"] == "transaction"
    paid = json.loads(AesGcm.decrypt(res["ciphertext"], sandbox.apiv3_key, res["nonce"], res["associated_data"]))
    assert paid["trade_state"] == "SUCCESS" and paid["out_trade_no"] == no
    parsed = parse_notification(headers, body, certs={sandbox.platform_serial: sandbox.platform_public_key_pem},
                                apiv3_key=sandbox.apiv3_key)
    assert parsed["resource"] == paid

    by_id = client.v3.pay.transactions.id._transaction_id_
    queried = call(by_id, "get", transaction_id=paid["transaction_id"], query={"mchid": sandbox.mchid}).json()
    assert queried == paid
    with pytest.raises(ClientError) as info:
        call(by_no.close, "post", out_trade_no=no, json={"mchid": sandbox.mchid})
    assert info.value.code == "ORDERPAID"

    refund_no = unique("refund")
    refund = {"out_trade_no": no, "out_refund_no": refund_no, "amount": {"refund": 40, "total": 100, "currency": "CNY"}}
    assert call(client.v3.refund.domestic.refunds, "post", json=refund).json()["status"] == "PROCESSING"
    r = call(client.v3.refund.domestic.refunds._out_refund_no_, "get", out_refund_no=refund_no).json()
    assert (r["status"], r["amount"]["refund"], r["transaction_id"]) == ("SUCCESS", 40, paid["transaction_id"])
    too_much = dict(refund, out_refund_no=unique("refund"), amount={"refund": 61, "total": 100, "currency": "CNY"})
    with pytest.raises(ClientError):
        call(client.v3.refund.domestic.refunds, "post", json=too_much)

    other = unique("close")
    call(client.v3.pay.transactions.native, "post", json=order(sandbox, other))
    closed = call(by_no.close, "post", out_trade_no=other, json={"mchid": sandbox.mchid})
    assert closed.status_code == 204 and closed.content == b""
    assert call(by_no, "get", out_trade_no=other, query={"mchid": sandbox.mchid}).json()["trade_state"] == "CLOSED"
    with pytest.raises(ClientError) as info:
        call(by_no, "get", out_trade_no="nope", query={"mchid": sandbox.mchid})
    assert (info.value.status_code, info.value.code) == (404, "ORDER_NOT_EXIST")


def test_pay_async_and_unknown_order(sandbox: Sandbox, client: Any) -> None:
    no = unique("h5")
    with Receiver(status=500) as rcv:
        scene = {"payer_client_ip": "127.0.0.1", "h5_info": {"type": "Wap"}}
        body = dict(order(sandbox, no, rcv.url), scene_info=scene)
        h5_url = client.v3.pay.transactions.h5.post(json=body).json()["h5_url"]  # the sandbox's cashier
        assert h5_url.startswith(f"{sandbox.base_uri}_sandbox/cashier/{no}?prepay_id=wx")
        assert asyncio.run(sandbox.pay_async(no)) == 500
        assert json.loads(rcv.got[0][1])["summary"] == "支付成功"
    with pytest.raises(KeyError):
        sandbox.pay("no-such-order")


def test_media_upload_through_the_client(sandbox: Sandbox, client: Any, call: Any) -> None:
    from wechatpay_chain.files._media import MediaUtil

    media = MediaUtil("logo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    r = call(client.v3.merchant.media.upload, "post", body=media.get_stream(),
             headers={"Content-Type": media.get_content_type()})
    assert len(r.json()["media_id"]) > 16
    assert sandbox.requests[-1].headers["Content-Type"].startswith("multipart/form-data")


def test_certificates_decrypt_to_the_platform_certificate(sandbox: Sandbox, client: Any, call: Any) -> None:
    item = call(client.v3.certificates, "get").json()["data"][0]
    enc = item["encrypt_certificate"]
    pem = AesGcm.decrypt(enc["ciphertext"], sandbox.apiv3_key, enc["nonce"], enc["associated_data"])
    assert pem == sandbox.platform_certificate_pem and item["serial_no"] == sandbox.platform_certificate_serial
    assert enc["algorithm"] == "AEAD_AES_256_GCM" and enc["associated_data"] == "certificate"


@pytest.mark.parametrize("tar_type", [None, "GZIP"])
def test_trade_bill_download(sandbox: Sandbox, client: Any, call: Any, tar_type: Optional[str]) -> None:
    no = unique("bill")
    client.v3.pay.transactions.native.post(json=order(sandbox, no))
    assert sandbox.pay(no, notify=False) is None
    query = {"bill_date": TODAY, **({"tar_type": tar_type} if tar_type else {})}
    bill = call(client.v3.bill.tradebill, "get", query=query).json()
    assert bill["hash_type"] == "SHA1" and bill["download_url"].startswith(sandbox.base_uri)
    target = bill["download_url"][len(sandbox.base_uri):]
    path, _, qs = target.partition("?")
    file = call(client[path], "get", query=qs)
    assert "Wechatpay-Signature" not in file.headers
    plain = gzip.decompress(file.content) if tar_type else file.content
    assert hashlib.sha1(plain).hexdigest() == bill["hash_value"]  # the digest of the original, unzipped bill
    text = plain.decode()
    assert text.startswith("交易时间,") and f"`{no}" in text


FAULTS = [
    ("bad_signature", {}, VerificationError),
    ("tampered_body", {}, VerificationError),
    ("unknown_serial", {}, VerificationError),
    ("missing_header", {"name": "Wechatpay-Timestamp"}, VerificationError),
    ("clock_skew", {"seconds": -900}, VerificationError),
    ("non_json", {}, VerificationError),
    ("status", {"code": 503}, ServerError),
    ("delay", {"seconds": 1.0}, TransportError),
    ("drop", {}, TransportError),
    ("truncate", {}, TransportError),
]


@pytest.mark.parametrize("fault,params,error", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_gives_a_typed_error_then_recovers(sandbox: Sandbox, call: Any, fault: str, params: Dict[str, Any],
                                                 error: type) -> None:
    with sandbox.client(timeout=0.4) as client:
        sandbox.inject(fault, path="/v3/payroll-card", **params)
        with pytest.raises(error):
            call(client[SEED], "post", json=seed(unique("fault")))
        assert call(client[SEED], "post", json=seed(unique("ok"))).status_code == 200
    if fault == "status":
        assert len(sandbox.faults) == 0


def test_fault_scoping_and_huge_body(sandbox: Sandbox, client: Any) -> None:
    sandbox.inject("status", path="/v3/pay", times=2)
    assert client.v3.certificates.get().status_code == 200  # another path: untouched
    for _ in range(2):
        with pytest.raises(ServerError) as info:
            client.v3.pay.transactions.native.post(json=order(sandbox, unique("f")))
        assert info.value.code == "SYSTEM_ERROR"
    sandbox.inject("huge", size=3_000_000)
    assert len(client.v3.certificates.get().content) == 3_000_000
    with pytest.raises(ValueError):
        sandbox.inject("melt")
    with pytest.raises(ValueError):
        sandbox.inject("delay", minutes=1)


# -- APIv2 ------------------------------------------------------------------------------------------------
def v2(sb: Sandbox, path: str, params: Dict[str, Any], sign_type: str = "MD5", key: Optional[str] = None,
       mch_key: str = "mch_id") -> Tuple[str, Any]:
    doc = {mch_key: sb.mchid, "nonce_str": Formatter.nonce(), **params}
    if sign_type != "MD5":
        doc["sign_type"] = sign_type
    doc["sign"] = Hash.sign(sign_type, Formatter.query_string_like(Formatter.ksort(doc)), key or sb.secret)
    r = requests.post(sb.base_uri + path, data=Transformer.to_xml(doc).encode(), timeout=10)
    if r.text.startswith("<xml>"):
        return r.text, Transformer.to_array(r.text)
    return r.text, None


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_apiv2_unifiedorder_orderquery(sandbox: Sandbox, sign_type: str) -> None:
    no = unique("v2")
    params = {"appid": "wx2421b1c4370ec43b", "body": "JSAPI支付测试", "out_trade_no": no, "total_fee": "1",
              "spbill_create_ip": "14.23.150.211", "notify_url": "http://example.com/notify", "trade_type": "NATIVE"}
    _, got = v2(sandbox, "pay/unifiedorder", params, sign_type)
    assert (got["return_code"], got["result_code"]) == ("SUCCESS", "SUCCESS")
    assert got["code_url"] == sandbox.cashier_url(no)  # the sandbox's cashier
    assert got["sign"] == Hash.sign(sign_type, Formatter.query_string_like(Formatter.ksort(got)), sandbox.secret)
    _, got = v2(sandbox, "pay/orderquery", {"appid": "wx2421b1c4370ec43b", "out_trade_no": no}, sign_type)
    assert got["trade_state"] == "NOTPAY"
    _, bad = v2(sandbox, "pay/orderquery", {"appid": "wx2421b1c4370ec43b", "out_trade_no": no}, sign_type, key="x" * 32)
    assert (bad["return_code"], bad["return_msg"]) == ("FAIL", "签名错误")
    _, missing = v2(sandbox, "pay/orderquery", {"appid": "wx2421b1c4370ec43b", "out_trade_no": "none"})
    assert (missing["result_code"], missing["err_code"]) == ("FAIL", "ORDERNOTEXIST")


def test_apiv2_micropay_transfers_downloadbill(sandbox: Sandbox) -> None:
    no = unique("mp")
    _, paid = v2(sandbox, "pay/micropay", {"appid": "wx1", "body": "刷卡", "out_trade_no": no, "total_fee": "5",
                                            "spbill_create_ip": "1.2.3.4", "auth_code": "120061098828009406"})
    assert paid["result_code"] == "SUCCESS" and paid["transaction_id"].startswith("4200")
    _, t = v2(sandbox, "mmpaymkttransfers/promotion/transfers",
              {"mch_appid": "wx1", "partner_trade_no": no, "openid": "o1", "check_name": "NO_CHECK", "amount": "100",
               "desc": "理赔", "spbill_create_ip": "1.2.3.4"}, mch_key="mchid")
    assert t["result_code"] == "SUCCESS" and "sign" not in t and t["payment_no"]
    text, _ = v2(sandbox, "pay/downloadbill", {"appid": "wx1", "bill_date": TODAY.replace("-", ""), "bill_type": "ALL"})
    assert text.startswith("交易时间,") and f"`{no}" in text


def test_apiv2_through_the_client(sandbox: Sandbox, client: Any, call: Any, receiver: Receiver) -> None:
    no = unique("v2c")
    xml = {"appid": "wx2421b1c4370ec43b", "mch_id": sandbox.mchid, "body": "APP支付测试", "out_trade_no": no,
           "total_fee": "1", "spbill_create_ip": "14.23.150.211", "notify_url": receiver.url, "trade_type": "APP",
           "sign_type": "HMAC-SHA256"}
    r = call(client.v2.pay.unifiedorder, "post", xml=xml)
    assert Transformer.to_array(r.content)["prepay_id"].startswith("wx")
    query = {"appid": "wx2421b1c4370ec43b", "mch_id": sandbox.mchid, "out_trade_no": no}
    assert Transformer.to_array(call(client.v2.pay.orderquery, "post", xml=query).content)["trade_state"] == "NOTPAY"
    assert sandbox.pay(no) == 200
    paid = parse_notification_v2(receiver.got[-1][1], secret=sandbox.secret)
    assert (paid["out_trade_no"], paid["result_code"]) == (no, "SUCCESS")
    assert Transformer.to_array(call(client.v2.pay.orderquery, "post", xml=query).content)["trade_state"] == "SUCCESS"
    transfer = {"mch_appid": "wx1", "mchid": sandbox.mchid, "partner_trade_no": no, "openid": "o1",
                "check_name": "NO_CHECK", "amount": "100", "desc": "理赔"}
    # an mTLS operation: the sandbox is plain HTTP, so no certificate is presented (security=False)
    got = call(client.v2.mmpaymkttransfers.promotion.transfers, "post", xml=transfer, security=False)
    assert Transformer.to_array(got.content)["payment_no"]
    bill = call(client.v2.pay.downloadbill, "post",
                xml={"appid": "wx1", "mch_id": sandbox.mchid, "bill_date": TODAY.replace("-", ""), "bill_type": "ALL"})
    assert f"`{no}" in bill.text
    with sandbox.client(secret="y" * 32) as wrong, pytest.raises(ApiError) as info:
        call(wrong.v2.pay.orderquery, "post", xml=query)
    assert info.value.message == "签名错误"


def test_nonce_memory_is_bounded() -> None:
    from wechatpay_chain.sandbox._protocol import NonceBook

    book = NonceBook(window=300, limit=3)
    assert not book.replayed("a", 1000.0) and book.replayed("a", 1100.0)
    assert not book.replayed("b", 1700.0) and len(book) == 1  # 'a' is older than the window: forgotten
    for nonce in "cdef":
        book.replayed(nonce, 1701.0)
    assert len(book) <= 3
