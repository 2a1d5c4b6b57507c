"""parse_notification / ReplayGuard / parse_notification_v2: pure, no I/O; notifications built here."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytest

from tests.keys import (
    merchant_private_key,
    platform_certificate,
    platform_certificate_pem,
    platform_key,
    platform_public_key,
    platform_serial,
)
from wechatpay_chain import AesEcb, AesGcm, Formatter, Hash, Keyring, Rsa, Transformer
from wechatpay_chain.errors import DecryptionError, InvalidArgumentError, VerificationError, WeChatPayError
from wechatpay_chain.notify import ReplayGuard, collect_headers, parse_notification, parse_notification_v2

XML = Path(__file__).resolve().parent / "fixtures" / "xml"
APIV3_KEY = "0123456789abcdefghijklmnopqrstuv"
SECRET = "exposed_your_key_here_have_risks"
NOW = 1_700_000_000
TRANSACTION = {
    "mchid": "1230000109",
    "appid": "wxd678efh567hg6787",
    "out_trade_no": "1217752501201407033233368018",
    "transaction_id": "4200000000202401010000000001",
    "trade_state": "SUCCESS",
    "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
    "amount": {"total": 100, "payer_total": 100, "currency": "CNY"},
    "attach": "自定义数据",
}


def encrypt_resource(
    plain: Any, *, key: str = APIV3_KEY, aad: str = "transaction", nonce: str = "fdasflkja484w"
) -> Dict[str, str]:
    text = plain if isinstance(plain, str) else json.dumps(plain, ensure_ascii=False)
    return {
        "original_type": "transaction",
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": AesGcm.encrypt(text, key, nonce, aad),
        "associated_data": aad,
        "nonce": nonce,
    }


def make(
    body: Optional[Any] = None,
    *,
    ts: int = NOW,
    nonce: str = "593BEC0C930BF1AFEB40B4A08C8FB242",
    serial: Optional[str] = None,
    signing_key: Any = None,
    ident: str = "EV-2018022511223320873",
) -> Tuple[Dict[str, str], bytes]:
    """A notification as WeChat Pay sends it: (headers, raw body)."""
    if body is None:
        body = {
            "id": ident,
            "create_time": "2015-05-20T13:29:35+08:00",
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
            "resource": encrypt_resource(TRANSACTION),
        }
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
    message = Formatter.response(ts, nonce, raw.decode("utf-8", "surrogateescape"))
    signature = Rsa.sign(message.encode("utf-8", "surrogateescape"), signing_key or platform_key())
    headers = {
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": serial or platform_serial(),
        "Wechatpay-Signature": signature,
        "Wechatpay-Timestamp": str(ts),
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        "Request-ID": "08F78BB5AF0610B0021F8A9E02",
    }
    return headers, raw


def certs() -> Dict[str, Any]:
    return {platform_serial(): platform_public_key()}


def parse(headers: Any, raw: Any, **kw: Any) -> Dict[str, Any]:
    kw.setdefault("certs", certs())
    kw.setdefault("apiv3_key", APIV3_KEY)
    kw.setdefault("now", NOW)
    return parse_notification(headers, raw, **kw)


# --- success -----------------------------------------------------------------------------------------


def test_returns_notification_with_decrypted_resource() -> None:
    headers, raw = make()
    result = parse(headers, raw)
    assert result["resource"] == TRANSACTION
    assert result["id"] == "EV-2018022511223320873"
    assert result["event_type"] == "TRANSACTION.SUCCESS"
    assert result["summary"] == "支付成功"
    assert result["resource_type"] == "encrypt-resource"


def test_str_body_and_exact_bytes() -> None:
    headers, raw = make()
    assert parse(headers, raw.decode("utf-8"))["resource"] == TRANSACTION
    assert parse(headers, bytearray(raw))["resource"] == TRANSACTION
    assert parse(headers, memoryview(raw))["resource"] == TRANSACTION


def test_whitespace_in_body_is_signed_as_sent() -> None:
    body = b'{\n  "id": "x",  "resource": ' + json.dumps(encrypt_resource(TRANSACTION)).encode() + b"}  "
    headers, raw = make(body)
    assert parse(headers, raw)["resource"] == TRANSACTION
    with pytest.raises(VerificationError, match="does not verify"):
        parse(headers, raw.strip())  # one byte less: the framework re-serialised the body


def test_resource_without_associated_data() -> None:
    res = encrypt_resource({"a": 1}, aad="")
    del res["associated_data"]
    headers, raw = make({"id": "1", "resource": res})
    assert parse(headers, raw)["resource"] == {"a": 1}


@pytest.mark.parametrize(
    "form",
    ["rsakey", "certificate", "certificate_pem", "public_pem", "keyring"],
)
def test_certs_forms(form: str) -> None:
    serial = platform_serial()
    thing: Any = {
        "rsakey": platform_public_key(),
        "certificate": platform_certificate(),
        "certificate_pem": platform_certificate_pem(),
        "public_pem": platform_public_key().export_pem(),
        "keyring": None,
    }[form]
    given: Any = Keyring({serial: platform_certificate()}) if form == "keyring" else {serial: thing}
    headers, raw = make()
    assert parse(headers, raw, certs=given)["resource"] == TRANSACTION


def test_private_key_text_is_not_a_platform_key() -> None:
    headers, raw = make()
    with pytest.raises(InvalidArgumentError) as info:
        parse(headers, raw, certs={platform_serial(): platform_key().export_pem()})
    assert "BEGIN" not in str(info.value)


def test_public_key_id_serial() -> None:
    serial = "PUB_KEY_ID_0114232134912410000000000000"
    headers, raw = make(serial=serial)
    result = parse(headers, raw, certs={serial: platform_public_key(), platform_serial(): merchant_private_key()})
    assert result["resource"] == TRANSACTION


def test_bytes_apiv3_key() -> None:
    headers, raw = make()
    assert parse(headers, raw, apiv3_key=APIV3_KEY.encode())["resource"] == TRANSACTION


# --- header forms ------------------------------------------------------------------------------------


def _environ(headers: Dict[str, str], raw: bytes) -> Dict[str, Any]:
    environ: Dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/notify",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": io.StringIO(),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
    }
    for k, v in headers.items():
        environ["HTTP_" + k.upper().replace("-", "_")] = v
    return environ


def test_header_forms_plain() -> None:
    headers, raw = make()
    assert parse({k.lower(): v for k, v in headers.items()}, raw)["resource"] == TRANSACTION
    assert parse({k.upper(): v for k, v in headers.items()}, raw)["resource"] == TRANSACTION
    assert parse(list(headers.items()), raw)["resource"] == TRANSACTION
    raw_pairs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]  # ASGI scope["headers"]
    assert parse(raw_pairs, raw)["resource"] == TRANSACTION
    assert parse(_environ(headers, raw), raw)["resource"] == TRANSACTION


def test_header_form_werkzeug() -> None:
    datastructures = pytest.importorskip("werkzeug.datastructures")
    headers, raw = make()
    environ = _environ(headers, raw)
    assert parse(datastructures.EnvironHeaders(environ), raw)["resource"] == TRANSACTION
    assert parse(datastructures.Headers(list(headers.items())), raw)["resource"] == TRANSACTION


def test_header_form_django() -> None:
    request_mod = pytest.importorskip("django.http.request")
    headers, raw = make()
    meta = _environ(headers, raw)
    assert parse(request_mod.HttpHeaders(meta), raw)["resource"] == TRANSACTION  # request.headers
    assert parse(meta, raw)["resource"] == TRANSACTION  # request.META


def test_header_form_aiohttp() -> None:
    multidict = pytest.importorskip("multidict")
    headers, raw = make()
    md = multidict.CIMultiDict(headers)
    assert parse(multidict.CIMultiDictProxy(md), raw)["resource"] == TRANSACTION
    md.add("Wechatpay-Nonce", headers["Wechatpay-Nonce"])  # a repeated identical value is harmless
    assert parse(md, raw)["resource"] == TRANSACTION


def test_header_form_starlette() -> None:
    datastructures = pytest.importorskip("starlette.datastructures")
    headers, raw = make()
    raw_pairs = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    assert parse(datastructures.Headers(raw=raw_pairs), raw)["resource"] == TRANSACTION


def test_collect_headers_ignores_unrelated_and_non_text() -> None:
    got = collect_headers({"wsgi.input": io.BytesIO(), "HTTP_WECHATPAY_NONCE": "n", "X-Other": "1", 3: "x"})
    assert got == {"Wechatpay-Nonce": "n"}


def test_conflicting_duplicate_headers_refused() -> None:
    headers, raw = make()
    pairs = list(headers.items()) + [("wechatpay-serial", "OTHER")]
    with pytest.raises(VerificationError, match="twice"):
        parse(pairs, raw)


def test_bad_header_container_type() -> None:
    _, raw = make()
    with pytest.raises(InvalidArgumentError):
        parse("Wechatpay-Nonce: x", raw)


# --- failures ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "missing", ["Wechatpay-Nonce", "Wechatpay-Serial", "Wechatpay-Signature", "Wechatpay-Timestamp"]
)
def test_missing_header(missing: str) -> None:
    headers, raw = make()
    del headers[missing]
    with pytest.raises(VerificationError, match=missing):
        parse(headers, raw)


def test_empty_header_is_missing() -> None:
    headers, raw = make()
    headers["Wechatpay-Signature"] = ""
    with pytest.raises(VerificationError, match="missing"):
        parse(headers, raw)


@pytest.mark.parametrize("offset", [301, -301, 10_000])
def test_clock_skew(offset: int) -> None:
    headers, raw = make(ts=NOW + offset)
    with pytest.raises(VerificationError, match="beyond"):
        parse(headers, raw)


def test_skew_boundary_and_custom_window() -> None:
    headers, raw = make(ts=NOW - 300)
    assert parse(headers, raw)["resource"] == TRANSACTION
    headers, raw = make(ts=NOW - 100)
    with pytest.raises(VerificationError):
        parse(headers, raw, max_skew=60)


def test_default_now_is_the_clock() -> None:
    headers, raw = make(ts=Formatter.timestamp())
    assert parse_notification(headers, raw, certs=certs(), apiv3_key=APIV3_KEY)["resource"] == TRANSACTION
    headers, raw = make()  # 2023: far outside the window today
    with pytest.raises(VerificationError, match="beyond"):
        parse_notification(headers, raw, certs=certs(), apiv3_key=APIV3_KEY)


@pytest.mark.parametrize("value", ["abc", "1.5e9", "-1700000000", " ", "１７００００００００", "1" * 5000])
def test_bad_timestamp(value: str) -> None:
    headers, raw = make()
    headers["Wechatpay-Timestamp"] = value
    with pytest.raises(VerificationError):
        parse(headers, raw)


def test_unknown_serial() -> None:
    headers, raw = make(serial="5157F09EFDC096DE15EBE81A47057A72********")
    with pytest.raises(VerificationError, match="not a known platform serial"):
        parse(headers, raw)
    with pytest.raises(VerificationError, match="not a known platform serial"):
        parse(headers, raw, certs=Keyring(certs()))


def test_signed_by_another_key() -> None:
    headers, raw = make(signing_key=merchant_private_key())
    with pytest.raises(VerificationError, match="does not verify"):
        parse(headers, raw)


def test_signtest_probe_fails() -> None:
    headers, raw = make()
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    with pytest.raises(VerificationError, match="signature probe") as info:
        parse(headers, raw)
    assert info.value.probe is True
    assert "refusing it is correct" in str(info.value)


def test_signtest_probe_with_unknown_serial_is_still_a_probe() -> None:
    headers, raw = make(serial="5157F09EFDC096DE15EBE81A47057A72********")
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + "QUJD" * 8
    with pytest.raises(VerificationError) as info:
        parse(headers, raw)
    assert info.value.probe is True


def test_forged_signature_is_not_a_probe() -> None:
    headers, raw = make(signing_key=merchant_private_key())
    with pytest.raises(VerificationError) as info:
        parse(headers, raw)
    assert info.value.probe is False


@pytest.mark.parametrize("field", ["Wechatpay-Nonce", "Wechatpay-Timestamp"])
def test_signed_header_tampered(field: str) -> None:
    headers, raw = make()
    headers[field] = headers[field][:-1] + ("1" if headers[field][-1] != "1" else "2")
    with pytest.raises(VerificationError):
        parse(headers, raw)


def test_body_tampered() -> None:
    headers, raw = make()
    with pytest.raises(VerificationError, match="does not verify"):
        parse(headers, raw.replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.SUCCEED"))


def test_unsupported_signature_type() -> None:
    headers, raw = make()
    headers["Wechatpay-Signature-Type"] = "WECHATPAY2-SM2-WITH-SM3"
    with pytest.raises(VerificationError, match="not supported"):
        parse(headers, raw)


@pytest.mark.parametrize(
    "body, match",
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"id": "x"}', "no `resource`"),
        (b'{"id": "x", "resource": "abc"}', "no `resource`"),
        (b'{"id": "x", "resource": {"nonce": "abc"}}', "lacks ciphertext"),
        (b'{"id": "x", "resource": {"ciphertext": "abc", "nonce": ""}}', "lacks ciphertext"),
    ],
)
def test_malformed_but_signed_body(body: bytes, match: str) -> None:
    headers, raw = make(body)
    with pytest.raises(VerificationError, match=match):
        parse(headers, raw)


def test_wrong_apiv3_key() -> None:
    headers, raw = make()
    wrong = "v" * 32
    with pytest.raises(DecryptionError) as info:
        parse(headers, raw, apiv3_key=wrong)
    assert wrong not in str(info.value) and APIV3_KEY not in str(info.value)
    # issue 16: it said "please check your key, iv and aad"; it names the APIv3 key and where it is set
    said = str(info.value)
    assert "the apiv3_key is wrong" in said and "APIv3密钥" in said and "parse_notification's `apiv3_key`" in said
    assert "iv and aad" not in said


def test_a_re_serialised_body_is_told_to_pass_the_raw_bytes() -> None:
    """Issue 16: a dict parsed from the body and dumped again is not what was signed; the error says so."""
    headers, raw = make()
    redumped = json.dumps(json.loads(raw))  # ASCII escapes, other separators: other bytes
    with pytest.raises(VerificationError, match="pass the raw request body exactly as received") as info:
        parse(headers, redumped)
    assert "does not verify with platform key" in str(info.value)


@pytest.mark.parametrize("key", ["short", "", "x" * 33, None, 42])
def test_invalid_apiv3_key(key: Any) -> None:
    headers, raw = make()
    with pytest.raises(InvalidArgumentError) as info:
        parse(headers, raw, apiv3_key=key)
    assert isinstance(info.value, WeChatPayError)
    if isinstance(key, str) and key:
        assert key not in str(info.value)


def test_tampered_ciphertext_signed_anyway() -> None:
    res = encrypt_resource(TRANSACTION)
    ct = bytearray(base64.b64decode(res["ciphertext"]))
    ct[3] ^= 1
    res["ciphertext"] = base64.b64encode(bytes(ct)).decode()
    headers, raw = make({"id": "x", "resource": res})
    with pytest.raises(DecryptionError):
        parse(headers, raw)


def test_wrong_associated_data() -> None:
    res = encrypt_resource(TRANSACTION)
    res["associated_data"] = "refund"
    headers, raw = make({"id": "x", "resource": res})
    with pytest.raises(DecryptionError):
        parse(headers, raw)


def test_unsupported_algorithm() -> None:
    res = encrypt_resource(TRANSACTION)
    res["algorithm"] = "AEAD_SM4_GCM"
    headers, raw = make({"id": "x", "resource": res})
    with pytest.raises(DecryptionError, match="not supported"):
        parse(headers, raw)


def test_plaintext_not_json_and_not_leaked() -> None:
    headers, raw = make({"id": "x", "resource": encrypt_resource("secret-plaintext-not-json")})
    with pytest.raises(DecryptionError) as info:
        parse(headers, raw)
    assert "secret-plaintext" not in str(info.value)


def test_bad_certs_and_body_types() -> None:
    headers, raw = make()
    with pytest.raises(InvalidArgumentError):
        parse(headers, raw, certs=[platform_public_key()])
    with pytest.raises(InvalidArgumentError):
        parse(headers, {"id": 1})


def test_every_failure_is_typed_never_none() -> None:
    headers, raw = make()
    for h, b in [({}, raw), (headers, b""), (headers, raw + b" ")]:
        with pytest.raises(WeChatPayError):
            parse(h, b)


# --- replay guard ------------------------------------------------------------------------------------


def test_replay_guard_refuses_a_second_delivery() -> None:
    guard = ReplayGuard()
    headers, raw = make()
    assert parse(headers, raw, replay_guard=guard)["resource"] == TRANSACTION
    with pytest.raises(VerificationError, match="replay"):
        parse(headers, raw, replay_guard=guard, now=NOW + 10)
    # WeChat Pay's retry of the same event is re-signed with a fresh nonce: accepted
    headers2, raw2 = make(nonce="ANOTHERNONCE0000000000000000000")
    assert parse(headers2, raw2, replay_guard=guard, now=NOW + 20)["id"] == "EV-2018022511223320873"
    assert len(guard) == 2


def test_replay_guard_window_expires() -> None:
    guard = ReplayGuard(window=60)
    assert guard.check_and_remember("k", 1000.0)
    assert not guard.check_and_remember("k", 1060.0)
    assert guard.check_and_remember("k", 1061.0)


def test_a_replay_is_refused_while_its_timestamp_still_passes_the_clock_check() -> None:
    """A receiver clock 250 s behind WeChat Pay's: the notification first arrives at NOW - 250 on that clock,
    and a replay 310 s later (NOW + 60) still passes the ±300 s check. The guard's window (300 s from the first
    delivery) has passed by then, so it must remember the key until the timestamp stops passing (NOW + 300)."""
    guard = ReplayGuard(window=300)
    headers, raw = make()
    parse(headers, raw, replay_guard=guard, now=NOW - 250)
    with pytest.raises(VerificationError, match="replay"):
        parse(headers, raw, replay_guard=guard, now=NOW + 60)
    with pytest.raises(VerificationError, match="beyond"):  # past NOW + 300 the clock check refuses it anyway
        parse(headers, raw, replay_guard=guard, now=NOW + 301)


def test_replay_guard_failed_decryption_does_not_burn_the_key() -> None:
    guard = ReplayGuard()
    headers, raw = make()
    with pytest.raises(DecryptionError):
        parse(headers, raw, replay_guard=guard, apiv3_key="w" * 32)
    assert parse(headers, raw, replay_guard=guard)["resource"] == TRANSACTION


def test_replay_guard_custom_store() -> None:
    store: Dict[str, float] = {}
    guard = ReplayGuard(store, window=300)
    headers, raw = make()
    parse(headers, raw, replay_guard=guard)
    assert store == {f"EV-2018022511223320873|{headers['Wechatpay-Nonce']}": NOW + 300}
    with pytest.raises(VerificationError):
        parse(headers, raw, replay_guard=guard)


def test_replay_guard_without_id_uses_body_hash() -> None:
    guard = ReplayGuard()
    headers, raw = make({"resource": encrypt_resource({"a": 1})})
    parse(headers, raw, replay_guard=guard)
    assert next(iter(guard._store)).startswith("sha256:" + hashlib.sha256(raw).hexdigest())
    with pytest.raises(VerificationError):
        parse(headers, raw, replay_guard=guard)


def test_replay_guard_bounded_memory() -> None:
    guard = ReplayGuard(window=300, max_entries=100)
    for i in range(1000):
        assert guard.check_and_remember(f"k{i}", NOW + i / 100)
    assert len(guard) == 100
    assert not guard.check_and_remember("k999", NOW + 10)
    assert guard.check_and_remember("k0", NOW + 10)  # evicted as the oldest


def test_replay_guard_purges_expired() -> None:
    guard = ReplayGuard(window=10)
    for i in range(50):
        guard.check_and_remember(f"k{i}", NOW)
    guard.check_and_remember("late", NOW + 11)
    assert len(guard) == 1
    assert isinstance(guard._store, OrderedDict)
    assert "window=10s" in repr(guard)


def test_replay_guard_reinsert_keeps_order() -> None:
    guard = ReplayGuard(window=10)
    guard.check_and_remember("a", NOW)
    guard.check_and_remember("b", NOW + 5)
    assert guard.check_and_remember("a", NOW + 11)  # expired: a is seen anew and moves to the end
    assert list(guard._store) == ["b", "a"]


def test_replay_guard_arguments() -> None:
    with pytest.raises(InvalidArgumentError):
        ReplayGuard(window=0)
    with pytest.raises(InvalidArgumentError):
        ReplayGuard(max_entries=0)


def test_replay_guard_is_any_object_with_check_and_remember() -> None:
    class Refuse:
        def check_and_remember(self, key: str, now: float) -> bool:
            return False

    headers, raw = make()
    with pytest.raises(VerificationError, match="replay"):
        parse(headers, raw, replay_guard=Refuse())


# --- APIv2 -------------------------------------------------------------------------------------------


def _signed_v2(data: Dict[str, Any], sign_type: str, *, declare: bool = True, secret: str = SECRET) -> str:
    """Re-sign the PHP fixture independently of the library (hashlib/hmac)."""
    import hmac

    fields = {k: v for k, v in data.items() if k != "sign"}
    if declare and sign_type != "MD5":
        fields["sign_type"] = sign_type
    query = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if v != "") + f"&key={secret}"
    if sign_type == "MD5":
        sign = hashlib.md5(query.encode()).hexdigest().upper()
    else:
        sign = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest().upper()
    fields["sign"] = sign
    return Transformer.to_xml(fields)


def _paysuccess() -> Dict[str, Any]:
    return Transformer.to_array((XML / "paysuccess.notification.sample.xml").read_text("utf-8"))


@pytest.mark.parametrize(
    "sign_type, declare", [("MD5", False), ("MD5", True), ("HMAC-SHA256", True), ("HMAC-SHA256", False)]
)
def test_v2_paysuccess_signed(sign_type: str, declare: bool) -> None:
    fields = _paysuccess()
    xml = _signed_v2(fields, sign_type, declare=declare)
    result = parse_notification_v2(xml, secret=SECRET)
    assert result["out_trade_no"] == "1409811653"
    assert result["attach"] == "支付测试"
    assert parse_notification_v2(xml.encode("utf-8"), secret=SECRET) == result


def test_v2_php_fixture_with_unknown_key_fails() -> None:
    xml = (XML / "paysuccess.notification.sample.xml").read_bytes()
    with pytest.raises(VerificationError, match="does not verify"):
        parse_notification_v2(xml, secret=SECRET)


def test_v2_wrong_secret_or_tampered() -> None:
    xml = _signed_v2(_paysuccess(), "MD5")
    with pytest.raises(VerificationError):
        parse_notification_v2(xml, secret="another_secret_of_32_bytes______")
    with pytest.raises(VerificationError):
        parse_notification_v2(xml.replace("<total_fee>1</total_fee>", "<total_fee>100</total_fee>"), secret=SECRET)


def test_v2_lowercase_sign_is_refused_like_php() -> None:
    fields = Transformer.to_array(_signed_v2(_paysuccess(), "MD5"))
    fields["sign"] = fields["sign"].lower()
    with pytest.raises(VerificationError):
        parse_notification_v2(Transformer.to_xml(fields), secret=SECRET)


def test_v2_unknown_sign_type() -> None:
    fields = _paysuccess()
    fields["sign_type"] = "SHA1"
    with pytest.raises(VerificationError, match="sign_type"):
        parse_notification_v2(Transformer.to_xml(fields), secret=SECRET)


def _refund(secret: str = SECRET) -> Tuple[str, Dict[str, Any]]:
    plain = (XML / "refund.notification.req_info.sample.xml").read_text("utf-8")
    key = hashlib.md5(secret.encode()).hexdigest()
    xml = Transformer.to_xml({
        "return_code": "SUCCESS",
        "appid": "wx2421b1c4370ec43b",
        "mch_id": "10000100",
        "nonce_str": "TeqClE3i0mvn3DrK",
        "req_info": AesEcb.encrypt(plain, key),
    })
    return xml, Transformer.to_array(plain)


def test_v2_refund_req_info_decrypted() -> None:
    xml, expected = _refund()
    result = parse_notification_v2(xml, secret=SECRET)
    assert result["req_info"] == expected
    assert result["req_info"]["refund_status"] == "SUCCESS"
    assert result["req_info"]["refund_recv_accout"] == "支付用户零钱"
    assert result["mch_id"] == "10000100"


def test_v2_unsigned_fields_around_a_genuine_req_info_are_refused() -> None:
    """Without a `sign`, only req_info is authenticated: a captured refund req_info must not vouch for a
    forged payment result around it."""
    xml, _ = _refund()
    fields = Transformer.to_array(xml)
    forged = {**fields, "result_code": "SUCCESS", "out_trade_no": "ORDER-42", "total_fee": "100000"}
    with pytest.raises(VerificationError, match="no `sign`.*out_trade_no, result_code, total_fee"):
        parse_notification_v2(Transformer.to_xml(forged), secret=SECRET)
    with_msg = {**fields, "return_msg": "OK"}  # the whole refund envelope is fine
    assert parse_notification_v2(Transformer.to_xml(with_msg), secret=SECRET)["return_msg"] == "OK"


def test_v2_refund_wrong_secret() -> None:
    xml, _ = _refund("a_different_apiv2_secret_value___")
    with pytest.raises(DecryptionError) as info:
        parse_notification_v2(xml, secret=SECRET)
    assert SECRET not in str(info.value)


def test_v2_refund_req_info_not_xml() -> None:
    xml = Transformer.to_xml({"return_code": "SUCCESS", "req_info": AesEcb.encrypt("plain text", Hash.md5(SECRET))})
    with pytest.raises(DecryptionError, match="req_info"):
        parse_notification_v2(xml, secret=SECRET)


def test_v2_signed_and_req_info() -> None:
    xml, expected = _refund()
    signed = _signed_v2(Transformer.to_array(xml), "HMAC-SHA256")
    assert parse_notification_v2(signed, secret=SECRET)["req_info"] == expected


def test_v2_unsigned_refused() -> None:
    xml = Transformer.to_xml({"return_code": "SUCCESS", "out_trade_no": "1"})
    with pytest.raises(VerificationError, match="not signed"):
        parse_notification_v2(xml, secret=SECRET)


@pytest.mark.parametrize(
    "name", ["invalid.xxe_injection.sample.xml", "invalid.bad_entity.sample.xml", "invalid.normal_404.sample.html"]
)
def test_v2_hostile_or_not_xml(name: str) -> None:
    with pytest.raises(VerificationError):
        parse_notification_v2((XML / name).read_bytes(), secret=SECRET)


def test_v2_arguments() -> None:
    xml = _signed_v2(_paysuccess(), "MD5")
    with pytest.raises(InvalidArgumentError):
        parse_notification_v2(xml, secret="")
    with pytest.raises(InvalidArgumentError):
        parse_notification_v2(123, secret=SECRET)  # type: ignore[arg-type]
    with pytest.raises(VerificationError):
        parse_notification_v2("<xml></xml>", secret=SECRET)
    assert parse_notification_v2(bytearray(xml.encode()), secret=SECRET)["out_trade_no"] == "1409811653"
