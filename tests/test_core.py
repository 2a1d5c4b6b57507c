"""The pure APIv3 core: pinned clock and nonce, known-answer vectors made by the openssl CLI, no network."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.support import Recorder, signed_response
from wechatpay_chain import (
    Builder,
    ClientError,
    Formatter,
    InvalidArgumentError,
    Rsa,
    Sensitive,
    ServerError,
    VerificationError,
)
from wechatpay_chain.models import Response

VEC = Path(__file__).parent / "fixtures" / "core"
MERCHANT = Rsa.from_("file://" + str(VEC / "merchant_key.pem"))
PLATFORM = Rsa.from_("file://" + str(VEC / "platform_key.pem"))
PLATFORM_PUB = Rsa.from_("file://" + str(VEC / "platform_pub.pem"), Rsa.KEY_TYPE_PUBLIC)
NOW = 1700000000
NONCE = "NONCENONCENONCENONCENONCENONCE12"
PUB_ID = "PUB_KEY_ID_0114232134912410000000000000"


def signed(
    body: bytes = b"",
    status: int = 200,
    *,
    ts: int | str = NOW,
    serial: str = PUB_ID,
    key: Any = PLATFORM,
    extra: Dict[str, str] | None = None,
    drop: str = "",
) -> Response:
    """`signed_response` with this module's pinned vectors: the fixture platform key, NOW and RESPNONCE."""
    headers: Dict[str, str | None] = {"Request-ID": "REQ-1", **(extra or {})}
    if drop:
        headers[drop] = None
    return signed_response(body, key=key, serial=serial, timestamp=ts, nonce="RESPNONCE", status=status,
                           headers=headers)


#: the default answer (the one the openssl vector response.sig signs)
TOKEN = signed(b'{"token":"T","expires_in":1800}')


def make(handler: Any = None, **config: Any) -> Any:
    base = {
        "mchid": "1900000001",
        "serial": "MERCHANTSERIAL",
        "privateKey": MERCHANT,
        "certs": {PUB_ID: PLATFORM_PUB},
        "clock": lambda: NOW,
        "nonce": lambda: NONCE,
        "handler": handler or Recorder(TOKEN),
    }
    base.update(config)
    return Builder.factory(base)


def call(node: Any, verb: str, mode: str, *args: Any, **kwargs: Any) -> Response:
    if mode == "sync":
        return getattr(node, verb)(*args, **kwargs)  # type: ignore[no-any-return]
    return asyncio.run(getattr(node, verb + "_async")(*args, **kwargs))  # type: ignore[no-any-return]


MODES = pytest.mark.parametrize("mode", ["sync", "async"])


@MODES
def test_request_signature_matches_openssl_vector(mode: str) -> None:
    rec = Recorder(TOKEN)
    client = make(rec)
    body = {"description": "中文😀", "amount": {"total": 1}}
    call(
        client.v3.pay.transactions.id._transaction_id_,
        "post",
        mode,
        json=body,
        transaction_id="42 00",
        query={"mchid": "1900000001", "q": "中 😀"},
    )
    req = rec.requests[0]
    expected_msg = (VEC / "request.msg").read_bytes()
    assert req.body == expected_msg.split(b"\n")[4]  # the bytes sent are the bytes signed
    assert req.target.encode() == expected_msg.split(b"\n")[1]
    sig = (VEC / "request.sig").read_text()
    assert req.headers["Authorization"] == (
        f'WECHATPAY2-SHA256-RSA2048 mchid="1900000001",serial_no="MERCHANTSERIAL",timestamp="{NOW}",'
        f'nonce_str="{NONCE}",signature="{sig}"'
    )


def test_get_without_body_signs_empty_line() -> None:
    rec = Recorder(TOKEN)
    make(rec).v3.certificates.get()
    assert rec.requests[0].body is None
    assert f'signature="{(VEC / "get.sig").read_text()}"' in rec.requests[0].headers["Authorization"]


def test_default_headers() -> None:
    rec = Recorder(TOKEN)
    make(rec, headers={"X-Extra": "1"}).v3.certificates.get(headers={"Accept-Language": "zh-CN"})
    h = rec.requests[0].headers
    assert h["Accept"] == "application/json, text/plain, application/x-gzip, application/pdf, image/png, image/*;q=0.5"
    assert h["Content-Type"] == "application/json; charset=utf-8"
    assert h["User-Agent"].startswith("wechatpay-chain/") and "Python/" in h["User-Agent"]
    assert h["X-Extra"] == "1" and h["accept-language"] == "zh-CN"


@MODES
def test_sensitive_and_paths_encrypted_with_platform_key(mode: str) -> None:
    rec = Recorder(TOKEN)
    client = make(rec)
    doc = {
        "user_name": Sensitive("张三"),
        "contact_info": {"contact_name": "李四", "mobile": "13800000000"},
        "ubo_info_list": [{"ubo_id_doc_name": "王五"}, {"ubo_id_doc_name": "赵六"}],
        "already": "CIPHERTEXT-FROM-PHP",
    }
    call(
        client["v3/applyment4sub/applyment/"],
        "post",
        mode,
        json=doc,
        encrypt=["contact_info.contact_name", "ubo_info_list[].ubo_id_doc_name"],
    )
    req = rec.requests[0]
    sent = json.loads(req.body)  # type: ignore[arg-type]
    assert req.headers["Wechatpay-Serial"] == PUB_ID
    assert Rsa.decrypt(sent["user_name"], PLATFORM) == "张三"
    assert Rsa.decrypt(sent["contact_info"]["contact_name"], PLATFORM) == "李四"
    assert sent["contact_info"]["mobile"] == "13800000000"
    assert [Rsa.decrypt(u["ubo_id_doc_name"], PLATFORM) for u in sent["ubo_info_list"]] == ["王五", "赵六"]
    assert sent["already"] == "CIPHERTEXT-FROM-PHP"
    assert doc["contact_info"]["contact_name"] == "李四"  # the caller's dict is not mutated
    assert "张三" not in req.body.decode()  # type: ignore[union-attr]


@MODES
def test_an_encrypt_path_that_matches_nothing_is_refused_before_any_io(mode: str) -> None:
    """Issue 16: `encrypt=['user_nme']` was ignored, and `user_name` went out in plaintext."""
    rec = Recorder(TOKEN)
    client = make(rec)
    with pytest.raises(InvalidArgumentError, match="encrypt path 'user_nme' matches no field"):
        call(client.v3.x, "post", mode, json={"user_name": "张三"}, encrypt=["user_nme"])
    assert rec.requests == []


@MODES
def test_sensitive_also_named_by_its_path_is_encrypted_once(mode: str) -> None:
    """Issue 16: a `Sensitive` named in `encrypt=` (twice, even) is one ciphertext of the plaintext."""
    rec = Recorder(TOKEN)
    client = make(rec)
    call(client.v3.x, "post", mode, json={"user_name": Sensitive("张三")}, encrypt=["user_name", "user_name"])
    assert Rsa.decrypt(json.loads(rec.requests[0].body)["user_name"], PLATFORM) == "张三"  # type: ignore[arg-type]


def test_key_choice_caller_serial_then_pub_key_id_then_newest_certificate() -> None:
    other = Rsa.from_("file://" + str(VEC / "merchant_pub.pem"), Rsa.KEY_TYPE_PUBLIC)
    rec = Recorder(TOKEN)
    client = make(rec, certs={"CERTSERIAL": other, PUB_ID: PLATFORM_PUB})
    client.v3.x.post(json={"a": Sensitive("x")})
    assert rec.requests[-1].headers["Wechatpay-Serial"] == PUB_ID
    client.v3.x.post(json={"a": Sensitive("x")}, headers={"Wechatpay-Serial": "CERTSERIAL"})
    assert rec.requests[-1].headers["Wechatpay-Serial"] == "CERTSERIAL"
    with pytest.raises(InvalidArgumentError, match="NOPE"):
        client.v3.x.post(json={"a": Sensitive("x")}, headers={"Wechatpay-Serial": "NOPE"})
    rec2 = Recorder(signed(b"{}", serial="CERTSERIAL"))
    make(rec2, certs={"CERTSERIAL": PLATFORM_PUB}).v3.x.post(json={"a": Sensitive("x")})
    assert rec2.requests[-1].headers["Wechatpay-Serial"] == "CERTSERIAL"


def test_a_certificate_only_config_sends_no_serial_header_without_encryption() -> None:
    rec = Recorder(signed(b'{"token":"T","expires_in":1800}', serial="CERTSERIAL"))
    make(rec, certs={"CERTSERIAL": PLATFORM_PUB}).v3.x.post(json={"a": "plain"})
    assert "Wechatpay-Serial" not in rec.requests[0].headers


@MODES
def test_with_a_public_key_every_request_names_it(mode: str) -> None:
    """Issue 18: the service signs with the public key only answers to requests that name it; while migrating,
    every request must, not only those that encrypt a field."""
    rec = Recorder(TOKEN)
    client = make(rec, certs={PUB_ID: PLATFORM_PUB, "CERTSERIAL": PLATFORM_PUB})
    call(client.v3.x, "post", mode, json={"a": "plain"})
    call(client.v3.pay.transactions.id._transaction_id_, "get", mode, transaction_id="42", query={"mchid": "1"})
    assert [r.headers["Wechatpay-Serial"] for r in rec.requests] == [PUB_ID, PUB_ID]
    call(client.v3.x, "post", mode, json={"a": "plain"}, headers={"Wechatpay-Serial": "CERTSERIAL"})
    assert rec.requests[-1].headers["Wechatpay-Serial"] == "CERTSERIAL"  # the call's own wins
    assert client.get_driver().key_usage() == {PUB_ID: 3}


def test_several_public_keys_need_wechatpay_serial() -> None:
    other = "PUB_KEY_ID_0114232134912410000000000001"
    with pytest.raises(InvalidArgumentError, match="several WeChat Pay public keys .* `wechatpay_serial`"):
        make(certs={PUB_ID: PLATFORM_PUB, other: PLATFORM_PUB})
    rec = Recorder(TOKEN)
    make(rec, certs={PUB_ID: PLATFORM_PUB, other: PLATFORM_PUB}, wechatpay_serial=other).v3.x.get()
    assert rec.requests[-1].headers["Wechatpay-Serial"] == other
    with pytest.raises(InvalidArgumentError, match="`wechatpay_serial` must be the id of a WeChat Pay public key"):
        make(certs={PUB_ID: PLATFORM_PUB}, wechatpay_serial="CERTSERIAL")


def test_sensitive_is_redacted_and_not_serialisable() -> None:
    s = Sensitive("110101199003070000")
    assert "1101" not in repr(s) and "1101" not in str(s) and s.reveal() == "110101199003070000"
    with pytest.raises(TypeError):
        json.dumps({"x": s})


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"encrypt": ["a..b"]}, "invalid encrypt path"),
        ({"encrypt": ["n"], "json": {"n": 5}}, "expected str"),
        ({"json": {"a": {1, 2}}}, "JSON-serialisable"),
        ({"json": {"a": 1}, "body": "x"}, "either `json` or `body`"),
        ({"query": {"a": [1]}}, "query"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": None}, "timeout"),
        ({"transactionid": "1"}, "unknown option"),
        ({"headers": "x"}, "headers"),
        ({"headers": {"X-A": "v\r\nX-Injected: 1"}}, "one line"),
        ({"headers": {"X A": "v"}}, "token"),
        ({"query": "a=1 HTTP/1.1\r\nX: y"}, "percent-encoded"),
        ({"query": "a=b c"}, "percent-encoded"),
    ],
)
def test_bad_options_raise_before_io(bad: Dict[str, Any], match: str) -> None:
    rec = Recorder(TOKEN)
    opts = {"json": {"a": 1}, **bad}
    with pytest.raises(InvalidArgumentError, match=match):
        make(rec).v3.x.post(opts)
    with pytest.raises(InvalidArgumentError, match=match):
        asyncio.run(make(rec).v3.x.post_async(opts))
    assert rec.requests == []


def test_missing_template_variable_raises_before_io() -> None:
    rec = Recorder(TOKEN)
    with pytest.raises(InvalidArgumentError, match="transaction_id"):
        make(rec).v3.pay.transactions.id._transaction_id_.get()
    assert rec.requests == []


def test_php_style_dict_and_keywords_merge_keywords_win() -> None:
    rec = Recorder(TOKEN)
    make(rec).v3.pay.transactions.outTradeNo._out_trade_no_.get(
        {"query": {"mchid": "1"}, "out_trade_no": "A"}, out_trade_no="B/1"
    )
    assert rec.requests[0].target == "/v3/pay/transactions/out-trade-no/B%2F1?mchid=1"


# ---- response verification -------------------------------------------------------------------


@MODES
def test_verified_response(mode: str) -> None:
    resp = call(make().v3.x, "post", mode, json={})
    assert resp.status_code == 200 and resp.json()["token"] == "T" and resp.request_id == "REQ-1"
    assert resp.headers["wechatpay-nonce"] == "RESPNONCE"


def test_response_vector_from_openssl() -> None:
    body = b'{"token":"T","expires_in":1800}'
    assert Formatter.response(str(NOW), "RESPNONCE", body.decode()).encode() == (VEC / "response.msg").read_bytes()
    assert signed(body).headers["Wechatpay-Signature"] == (VEC / "response.sig").read_text()


GOOD = b'{"ok":true}'
FORGED = [
    ("missing nonce", signed(GOOD, drop="Wechatpay-Nonce"), "Wechatpay-Nonce"),
    ("missing serial", signed(GOOD, drop="Wechatpay-Serial"), "Wechatpay-Serial"),
    ("missing signature", signed(GOOD, drop="Wechatpay-Signature"), "Wechatpay-Signature"),
    ("missing timestamp", signed(GOOD, drop="Wechatpay-Timestamp"), "Wechatpay-Timestamp"),
    ("too old", signed(GOOD, ts=NOW - 301), "beyond"),
    ("too new", signed(GOOD, ts=NOW + 301), "beyond"),
    ("bad timestamp", signed(GOOD, extra={"Wechatpay-Timestamp": "soon"}), "unix timestamp"),
    ("unknown serial", signed(GOOD, serial="PUB_KEY_ID_OTHER"), "not a known platform serial"),
    ("wrong key", signed(GOOD, key=MERCHANT), "does not verify"),
    ("tampered", Response.build(200, signed(GOOD).headers, b'{"ok":false}'), "does not verify"),
    (
        "forged signature",
        signed(GOOD, extra={"Wechatpay-Signature": base64.b64encode(b"x" * 256).decode()}),
        "verify",
    ),
    ("garbage signature", signed(GOOD, extra={"Wechatpay-Signature": "%%%"}), "verify"),
]


@MODES
@pytest.mark.parametrize("name, reply, match", FORGED, ids=[f[0] for f in FORGED])
def test_unverifiable_response_is_never_returned(mode: str, name: str, reply: Response, match: str) -> None:
    with pytest.raises(VerificationError, match=match) as info:
        call(make(Recorder(reply)).v3.x, "post", mode, json={})
    assert info.value.response is reply


def test_window_edges_accepted() -> None:
    for ts in (NOW - 300, NOW + 300):
        assert make(Recorder(signed(GOOD, ts=ts))).v3.x.get().status_code == 200


def test_204_with_empty_body_is_verified() -> None:
    assert make(Recorder(signed(b"", 204))).v3.pay.transactions.outTradeNo._o_.close.post(o="1").status_code == 204
    with pytest.raises(VerificationError):
        make(Recorder(Response.build(204, {}, b""))).v3.pay.transactions.outTradeNo._o_.close.post(o="1")


@pytest.mark.parametrize(
    "path, exempt",
    [
        ("v3/billdownload/file", True),
        ("v3/merchant-service/images/abc%3D%3D", True),
        ("v3/merchant-service/images/upload", False),
        ("v3/bill/tradebill", False),
        ("v3/billdownload/file/extra", False),
    ],
)
def test_php_exempt_endpoints(path: str, exempt: bool) -> None:
    unsigned = Response.build(200, {}, b"csv,data")
    node = make(Recorder(unsigned))[path]
    if exempt:
        assert node.get().content == b"csv,data"
    else:
        with pytest.raises(VerificationError):
            node.get()


def statement(body: bytes, sha1: str) -> Response:
    resp = signed(f'{{"sha1":"{sha1}"}}'.encode())
    return Response.build(200, {**resp.headers, "Wechatpay-Statement-Sha1": sha1}, body)


def test_overseas_statement_sha1_rule() -> None:
    body = b"%PDF-1.7 binary"
    sha1 = hashlib.sha1(body).hexdigest()
    assert make(Recorder(statement(body, sha1))).v3.global_.statements.get().content == body
    forged_header = statement(body, sha1)
    forged_header.headers["Wechatpay-Statement-Sha1"] = "b" * 40  # signature no longer covers it
    with pytest.raises(VerificationError, match="does not verify"):
        make(Recorder(forged_header)).v3.global_.statements.get()


def test_a_gzip_statement_is_checked_over_every_member_and_nothing_more() -> None:
    """zlib stops after the first gzip member; `gunzip` and gzip.decompress do not. A member or garbage
    appended to a signed statement would reach the caller unchecked if only the first were hashed."""
    import gzip

    plain = b"date,amount\n2024-01-01,100.00\n"
    sha1 = hashlib.sha1(plain).hexdigest()
    body = gzip.compress(plain)
    assert make(Recorder(statement(body, sha1))).v3.global_.statements.get().content == body
    two = gzip.compress(plain[:11]) + gzip.compress(plain[11:])  # a genuine two-member stream of the same file
    assert make(Recorder(statement(two, sha1))).v3.global_.statements.get().content == two
    for tampered in (
        body + gzip.compress(b"2024-01-02,999999.00\n"),  # an appended member
        body + b"trailing bytes",
        body + b"\0\0\0\0",
        body[:-3],  # truncated
    ):
        with pytest.raises(VerificationError, match="does not match"):
            make(Recorder(statement(tampered, sha1))).v3.global_.statements.get()


FULL_WIDTH = "".join(chr(0xFF10 + int(d)) for d in "1700000000")


@pytest.mark.parametrize("stamp", ["+1700000000", " 1700000000", "1_700_000_000", "1700000000 ", FULL_WIDTH])
def test_a_timestamp_is_ascii_digits_only_even_when_signed(stamp: str) -> None:
    """int() takes these; the signature covers the exact string, but only digits are a unix timestamp."""
    body = b'{"ok":1}'
    reply = signed(body, ts=stamp)
    with pytest.raises(VerificationError, match="not a unix timestamp"):
        make(Recorder(reply)).v3.certificates.get()


def test_a_base_uri_with_a_path_keeps_the_unsigned_and_statement_rules() -> None:
    """Behind a gateway ('https://gw.example/wxpay/') the service's path rules apply below the base path."""
    rec = Recorder(Response.build(200, {}, b"csv,data"))
    node = make(rec, base_uri="https://gw.example/wxpay/")
    assert node.v3.billdownload.file.get(query={"token": "T"}).content == b"csv,data"
    assert rec.requests[0].target == "/wxpay/v3/billdownload/file?token=T"
    assert node.v3.billdownload.file.get(query={"token": "T"}, stream=True).content == b"csv,data"
    assert rec.requests[1].stream  # the unsigned download may stream below a base path too
    with pytest.raises(VerificationError, match="not signed"):
        node.v3.certificates.get()  # signed endpoints are still verified
    body = b"%PDF-1.7 binary"
    sha1 = hashlib.sha1(body).hexdigest()
    gateway = make(Recorder(statement(body, sha1)), base_uri="https://gw.example/wxpay/")
    assert gateway.v3.global_.statements.get().content == body


def test_overseas_statement_body_must_match_the_signed_sha1() -> None:
    """The signature covers only the header's digest: a swapped body must be refused too."""
    sha1 = hashlib.sha1(b"the real statement").hexdigest()
    with pytest.raises(VerificationError, match="does not match"):
        make(Recorder(statement(b"a forged statement", sha1))).v3.global_.statements.get()


@MODES
@pytest.mark.parametrize(
    "status, cls",
    [(400, ClientError), (401, ClientError), (404, ClientError), (500, ServerError), (502, ServerError)],
)
def test_http_errors_carry_the_evidence(mode: str, status: int, cls: type) -> None:
    body = json.dumps({"code": "PARAM_ERROR", "message": "参数错误", "detail": {"field": "/amount"}}).encode()
    reply = signed(body, status)
    with pytest.raises(cls) as info:
        call(make(Recorder(reply)).v3.x, "post", mode, json={})
    err = info.value
    assert (err.status_code, err.code, err.message, err.detail, err.request_id) == (
        status,
        "PARAM_ERROR",
        "参数错误",
        {"field": "/amount"},
        "REQ-1",
    )
    assert err.response is reply


def test_non_json_error_body() -> None:
    with pytest.raises(ServerError) as info:
        make(Recorder(Response.build(503, {}, b"<html>busy</html>", reason="Service Unavailable"))).v3.x.get()
    assert info.value.code is None and info.value.status_code == 503


# ---- customisation (PHP README "定制") -------------------------------------------------------


def test_custom_signer_and_verifier_replace_builtins() -> None:
    signed_messages: List[str] = []
    verified: List[tuple] = []

    def remote_signer(message: str) -> str:
        signed_messages.append(message)
        return "REMOTE-SIGNATURE"

    def verifier(message: str, signature: str, serial: str) -> bool:
        verified.append((serial, signature))
        return True

    rec = Recorder(signed(GOOD, serial="ANY"))
    client = Builder.factory(
        {
            "mchid": "1",
            "serial": "S",
            "signer": remote_signer,
            "verifier": verifier,
            "handler": rec,
            "clock": lambda: NOW,
        }
    )
    client.v3.x.get()
    assert 'signature="REMOTE-SIGNATURE"' in rec.requests[0].headers["Authorization"]
    assert signed_messages[0].startswith("GET\n/v3/x\n")
    assert verified[0][0] == "ANY"


def test_base_uri_with_path_prefix_is_signed_in_full() -> None:
    rec = Recorder(TOKEN)
    make(rec, base_uri="https://proxy.example/wxpay").v3.certificates.get()
    assert rec.requests[0].url == "https://proxy.example/wxpay/v3/certificates"
    assert (
        "GET\n/wxpay/v3/certificates\n" in str(rec.requests[0].headers)
        or rec.requests[0].target == "/wxpay/v3/certificates"
    )


# ---- SIGN_ERROR diagnosis -------------------------------------------------------------------------

def sign_error(truncated: str, length: int) -> Response:
    detail = {"field": "signature", "location": "authorization", "sign_information": {
        "method": "POST", "sign_message_length": length, "truncated_sign_message": truncated, "url": "/v3/x"}}
    return signed(json.dumps({"code": "SIGN_ERROR", "message": "签名错误", "detail": detail}).encode(), 401)


def ours() -> str:
    return f'POST\n/v3/x?a=1\n{NOW}\n{NONCE}\n{{"amount":1}}\n'


@pytest.mark.parametrize("truncated, length, expect", [
    (f'GET\n/v3/x?a=1\n{NOW}\n{NONCE}\n{{"amount\n', 50, "method differs"),
    (f'POST\n/v3/x?a=%31\n{NOW}\n{NONCE}\n{{"amount\n', 50, "request target differs"),
    (f'POST\n/v3/x?a=1\n{NOW - 1}\n{NONCE}\n{{"amount\n', 50, "timestamp differs"),
    (f'POST\n/v3/x?a=1\n{NOW}\nOTHER\n{{"amount\n', 50, "nonce differs"),
    (f'POST\n/v3/x?a=1\n{NOW}\n{NONCE}\n{{ "amoun\n', 50, "body differs at its start"),
    (f'POST\n/v3/x?a=1\n{NOW}\n{NONCE}\n{{"amount\n', 999, "999 bytes"),
    (f'POST\n/v3/x?a=1\n{NOW}\n{NONCE}\n{{"amount\n', len(ours().encode()), "the signature is wrong"),
])
@MODES
def test_sign_error_says_which_part_differs(mode: str, truncated: str, length: int, expect: str) -> None:
    with pytest.raises(ClientError) as info:
        call(make(Recorder(sign_error(truncated, length))).v3.x, "post", mode, json={"amount": 1}, query={"a": "1"})
    err = info.value
    assert err.code == "SIGN_ERROR" and err.message == "签名错误"
    assert err.diagnosis is not None and expect in err.diagnosis and expect in str(err)


def test_no_diagnosis_without_sign_information() -> None:
    body = json.dumps({"code": "SIGN_ERROR", "message": "签名错误"}).encode()
    with pytest.raises(ClientError) as info:
        make(Recorder(signed(body, 401))).v3.x.get()
    assert info.value.diagnosis is None


@MODES
def test_non_utf8_body_is_verified_byte_for_byte(mode: str) -> None:
    """A body that is not UTF-8 is verified over its exact bytes: a good signature passes, a forged one is refused."""
    body = b"\xff\xfe\x00binary\x80"
    assert call(make(Recorder(signed(body))).v3.x, "get", mode).content == body
    forged = Response.build(200, signed(body).headers, body + b"!")
    with pytest.raises(VerificationError):
        call(make(Recorder(forged)).v3.x, "get", mode)


def test_str_body_is_sent_as_the_bytes_it_was_signed_as() -> None:
    """A str body carrying non-UTF-8 bytes (surrogateescape) is sent and signed as those exact bytes."""
    rec = Recorder(TOKEN)
    raw = b"\xff\xferaw"
    make(rec).v3.x.post(body=raw.decode("utf-8", "surrogateescape"))
    assert rec.requests[0].body == raw
    assert Rsa.verify(rec.requests[0].signed, rec.requests[0].headers["Authorization"].split('signature="')[1][:-1],
                      Rsa.from_("file://" + str(VEC / "merchant_pub.pem"), Rsa.KEY_TYPE_PUBLIC))
    with pytest.raises(InvalidArgumentError, match="lone surrogate"):
        make(rec).v3.x.post(body="\ud800")


def test_xml_on_an_apiv3_call_is_refused_not_dropped() -> None:
    """It was silently ignored: an empty signed POST went out."""
    rec = Recorder(TOKEN)
    with pytest.raises(InvalidArgumentError, match="APIv2 option"):
        make(rec).v3.pay.transactions.native.post(xml={"a": "1"})
    assert rec.requests == []


def test_a_per_call_header_is_held_to_the_same_rules() -> None:
    rec = Recorder(TOKEN)
    for headers in ({"X-Name": "张三"}, {"X A": "1"}, {"X-A": "1\n2"}):
        with pytest.raises(InvalidArgumentError):
            make(rec).v3.certificates.get(headers=headers)
    assert rec.requests == []


def test_threads_walking_a_new_path_at_once_get_one_node() -> None:
    import threading

    client = make()
    found: List[Any] = []
    barrier = threading.Barrier(16)

    def walk() -> None:
        barrier.wait()
        node = client.v3
        for i in range(40):
            node = node[f"s{i}"]
        found.append(node)

    threads = [threading.Thread(target=walk) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(node is found[0] for node in found)
