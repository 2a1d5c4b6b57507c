"""The pure APIv2 (XML) flow: pinned nonce, a handler transport, signatures recomputed with hashlib/hmac."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Mapping

import pytest

from tests.support import V2_SECRET, Recorder, hmac_sign, md5_sign, sign_string, xml_reply
from tests.support import v2_signed as signed
from wechatpay_chain import (
    ApiError,
    Builder,
    ClientError,
    InvalidArgumentError,
    ServerError,
    Transformer,
    VerificationError,
)
from wechatpay_chain.models import Response
from wechatpay_chain.protocol.v2 import NONE_SIGNATURE_RESPOND, merchant_cert, parse

MCHID = "1230000109"
SECRET = V2_SECRET
NONCE = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
XML_FIXTURES = Path(__file__).parent / "fixtures" / "xml"

#: the default answer: a signed SUCCESS
OK = xml_reply(signed({"return_code": "SUCCESS", "result_code": "SUCCESS", "mch_id": MCHID}))


def make(handler: Any = None, **config: Any) -> Any:
    base: Dict[str, Any] = {
        "mchid": MCHID, "serial": "nop", "signer": lambda message: "any", "verifier": lambda *a: False,
        "secret": SECRET, "nonce": lambda: NONCE, "handler": handler if handler is not None else Recorder(OK),
    }
    base.update(config)
    return Builder.factory(base)


UNIFIEDORDER = {
    "appid": "wx8888888888888888",
    "mch_id": MCHID,
    "device_info": "",
    "body": "腾讯充值中心-QQ会员充值",
    "detail": '{"goods_detail":[{"goods_id":"1001","quantity":1}]}',
    "out_trade_no": "1415659990",
    "total_fee": 888,
    "spbill_create_ip": "123.12.12.123",
    "notify_url": "https://www.weixin.qq.com/wxpay/pay.php",
    "trade_type": "NATIVE",
}


# --- request bytes ---------------------------------------------------------------------------------


def test_md5_request_bytes_match_php() -> None:
    rec = Recorder(OK)
    make(rec).v2.pay.unifiedorder.post({"xml": UNIFIEDORDER})
    (req,) = rec.requests
    expected = dict(UNIFIEDORDER, nonce_str=NONCE)  # PHP appends nonce_str, then sign
    sign = md5_sign(expected)
    assert req.method == "POST"
    assert req.url == "https://api.mch.weixin.qq.com/pay/unifiedorder"
    assert req.body == (
        "<xml><appid>wx8888888888888888</appid><mch_id>1230000109</mch_id><device_info></device_info>"
        "<body>腾讯充值中心-QQ会员充值</body>"
        '<detail><![CDATA[{"goods_detail":[{"goods_id":"1001","quantity":1}]}]]></detail>'
        "<out_trade_no>1415659990</out_trade_no><total_fee>888</total_fee>"
        "<spbill_create_ip>123.12.12.123</spbill_create_ip>"
        "<notify_url>https://www.weixin.qq.com/wxpay/pay.php</notify_url><trade_type>NATIVE</trade_type>"
        f"<nonce_str>{NONCE}</nonce_str><sign>{sign}</sign></xml>"
    ).encode()
    assert sign_string(expected).startswith("appid=wx8888888888888888&body=腾讯充值中心-QQ会员充值&detail=")
    assert "device_info" not in sign_string(expected)
    assert req.headers["Accept"] == "text/xml, text/plain, application/x-gzip"
    assert req.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert req.headers["User-Agent"].startswith("wechatpay-chain/")
    assert req.cert is None


def test_hmac_sha256_by_sign_type() -> None:
    rec = Recorder(OK)
    payload = {"appid": "wx8888888888888888", "mch_id": MCHID, "sign_type": "HMAC-SHA256", "out_trade_no": "T1"}
    make(rec).v2.pay.orderquery.post(xml=payload)
    sent = Transformer.to_array(rec.requests[0].body)  # type: ignore[arg-type]
    assert list(sent) == ["appid", "mch_id", "sign_type", "out_trade_no", "nonce_str", "sign"]
    assert sent["sign"] == hmac_sign(dict(payload, nonce_str=NONCE)) and len(sent["sign"]) == 64


def test_unknown_sign_type_refused_before_io() -> None:
    rec = Recorder(OK)
    with pytest.raises(InvalidArgumentError, match="sign_type"):
        make(rec).v2.pay.orderquery.post(xml={"mch_id": MCHID, "sign_type": "HMAC-SHA1"})
    assert rec.requests == []


def test_nonce_str_given_keeps_its_place_and_sign_is_replaced_in_place() -> None:
    rec = Recorder(OK)
    payload = {"sign": "stale", "nonce_str": "mine", "mch_id": MCHID, "appid": "wx1"}
    make(rec).v2.pay.orderquery.post(xml=payload)
    body = rec.requests[0].body
    expected = md5_sign({"nonce_str": "mine", "mch_id": MCHID, "appid": "wx1"})
    assert body == (f"<xml><sign>{expected}</sign><nonce_str>mine</nonce_str>"
                    f"<mch_id>{MCHID}</mch_id><appid>wx1</appid></xml>").encode()
    assert payload["sign"] == "stale"  # the caller's dict is not mutated


@pytest.mark.parametrize("nonceless, has_nonce",
                         [(True, False), (1, False), ("yes", False), (False, True), (None, True)])
def test_nonceless(nonceless: Any, has_nonce: bool) -> None:
    rec = Recorder(OK)
    make(rec).v2.pay.orderquery.post(xml={"mch_id": MCHID}, nonceless=nonceless)
    sent = Transformer.to_array(rec.requests[0].body)  # type: ignore[arg-type]
    assert ("nonce_str" in sent) is has_nonce
    assert sent["sign"] == md5_sign(sent)


@pytest.mark.parametrize("payload", [
    {"mch_id": "1900000001"},
    {"mchid": "1900000001"},
    {"combine_mch_id": "1900000001"},
    {"mch_id": "1900000001", "mchid": MCHID},  # PHP: `mch_id ?? mchid ?? combine_mch_id`, first one wins
    {"mch_id": int(MCHID)},  # PHP compares strictly (`!==`)
    {"appid": "wx1"},  # none given: PHP refuses too
    {},
])
def test_mchid_mismatch_refused_before_io(payload: Dict[str, Any]) -> None:
    rec = Recorder(OK)
    with pytest.raises(InvalidArgumentError, match="mchid"):
        make(rec).v2.pay.orderquery.post(xml=payload)
    assert rec.requests == []


@pytest.mark.parametrize("key", ["mch_id", "mchid", "combine_mch_id"])
def test_mchid_keys_accepted(key: str) -> None:
    rec = Recorder(OK)
    make(rec).v2.pay.orderquery.post(xml={key: MCHID, "mch_id": None} if key != "mch_id" else {key: MCHID})
    assert len(rec.requests) == 1


def test_get_query_is_signed_like_php_h5entrustweb() -> None:
    query = {
        "appid": "wxcbda96de0b165486", "mch_id": MCHID, "plan_id": "12535", "contract_code": "100000",
        "request_serial": 1000, "contract_display_account": "微信代扣", "notify_url": "https://weixin.qq.com",
        "version": "1.0", "sign_type": "HMAC-SHA256", "timestamp": 1700000000, "return_appid": "wxcbda96de0b165486",
    }
    answer = {"return_code": "SUCCESS", "return_msg": "", "result_code": "SUCCESS", "result_msg": "",
              "redirect_url": "https://payapp.weixin.qq.com"}
    rec = Recorder(xml_reply(answer))
    res = make(rec).v2.papay.h5entrustweb.get({"nonceless": True, "query": query})
    req = rec.requests[0]
    assert req.method == "GET" and req.body is None
    sign = hmac_sign({k: str(v) for k, v in query.items()})
    assert req.url.endswith(
        "/papay/h5entrustweb?appid=wxcbda96de0b165486&mch_id=1230000109&plan_id=12535&contract_code=100000"
        "&request_serial=1000&contract_display_account=%E5%BE%AE%E4%BF%A1%E4%BB%A3%E6%89%A3"
        "&notify_url=https%3A%2F%2Fweixin.qq.com&version=1.0&sign_type=HMAC-SHA256&timestamp=1700000000"
        f"&return_appid=wxcbda96de0b165486&sign={sign}"
    )
    assert {"redirect_url", "return_code", "result_code"} <= set(parse(res))


def test_secret_required_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(InvalidArgumentError, match="secret"):
        make(secret=None).v2.pay.orderquery.post(xml={"mch_id": MCHID})
    rec = Recorder(xml_reply({"return_code": "SUCCESS", "sign": "BAD"}))
    caplog.set_level(logging.DEBUG, logger="wechatpay_chain")
    with pytest.raises(VerificationError) as info:
        make(rec).v2.pay.orderquery.post(xml={"mch_id": MCHID})
    assert f"mch_id={MCHID}&nonce_str={NONCE}" in caplog.text
    assert SECRET not in caplog.text and "&key=" not in caplog.text and SECRET not in str(info.value)


@pytest.mark.parametrize("options", [{"json": {"a": 1}}, {"encrypt": ["a"]}, {"xml": "<xml/>"},
                                     {"xml": {"mch_id": MCHID, "nested": {"a": "b"}}}])
def test_bad_options(options: Dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        make().v2.pay.orderquery.post(options)


def test_prebuilt_body_passes_untouched_like_php_uploadmedia() -> None:
    media = {"media_id": "M" * 107, "return_code": "SUCCESS", "return_msg": "OK", "result_code": "SUCCESS"}
    rec = Recorder(xml_reply(signed(media)))
    body = b"--B\r\nContent-Disposition: form-data; name=\"mch_id\"\r\n\r\n1230000109\r\n--B--\r\n"
    headers = {"Content-Type": "multipart/form-data; boundary=B"}
    # PHP's security is opt-in; the atlas marks this endpoint mTLS, so a client without `merchant` says so first
    res = make(rec).v2.secapi.mch.uploadmedia.post(body=body, headers=headers, security=False)
    assert rec.requests[0].body == body
    assert rec.requests[0].headers["Content-Type"] == "multipart/form-data; boundary=B"
    assert {"sign", "media_id", "return_code", "result_code"} <= set(parse(res))


# --- response verification (PHP's AuthcodetoopenidTest cases and more) -------------------------------


def authcode(handler: Recorder) -> Response:
    return make(handler).v2.tools.authcodetoopenid.post(  # type: ignore[no-any-return]
        {"xml": {"appid": "123", "mch_id": MCHID, "auth_code": "123"}}
    )


def test_success_signed_md5_and_hmac() -> None:
    truthy = {"return_code": "SUCCESS", "return_msg": "", "appid": "123", "mch_id": MCHID, "nonce_str": "n",
              "result_code": "SUCCESS", "err_code": "", "openid": "123"}
    for sign_type in ("MD5", "HMAC-SHA256"):
        data = signed(truthy, sign_type)
        res = authcode(Recorder(xml_reply(data)))
        assert parse(res) == data == Transformer.to_array(res.text)
        assert res.request_id == "REQ-V2"


def test_success_without_result_code() -> None:
    falsy = signed({"return_code": "SUCCESS", "return_msg": "", "appid": "123", "mch_id": MCHID, "nonce_str": "n"})
    assert parse(authcode(Recorder(xml_reply(falsy)))) == falsy


def test_return_code_fail_is_api_error_with_data() -> None:
    data = {"return_code": "FAIL", "return_msg": "invalid reason"}
    with pytest.raises(ApiError) as info:
        authcode(Recorder(xml_reply(data)))
    err = info.value
    assert (err.status_code, err.code, err.message, err.data) == (200, "FAIL", "invalid reason", data)
    assert err.response is not None and err.request_id == "REQ-V2"
    assert not isinstance(err, (ClientError, ServerError))


def test_result_code_fail_signed_is_api_error() -> None:
    data = signed({"return_code": "SUCCESS", "return_msg": "", "appid": "123", "mch_id": MCHID, "nonce_str": "n",
                   "result_code": "FAIL", "err_code": "AUTH_CODE_INVALID", "err_code_des": "授权码无效"})
    with pytest.raises(ApiError) as info:
        authcode(Recorder(xml_reply(data)))
    assert (info.value.code, info.value.message, info.value.data) == ("AUTH_CODE_INVALID", "授权码无效", data)


def test_result_code_fail_with_fake_sign_is_not_trusted() -> None:
    data = {"return_code": "SUCCESS", "appid": "123", "mch_id": MCHID, "nonce_str": "n", "sign": "fake",
            "result_code": "FAIL", "err_code": "AUTH_CODE_INVALID"}
    with pytest.raises(VerificationError):
        authcode(Recorder(xml_reply(data)))


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(openid="attacker"),  # tampered field
    lambda d: d.pop("sign"),  # unsigned
    lambda d: d.update(sign=d["sign"].lower()),  # PHP compares exactly
    lambda d: d.update(sign=md5_sign(d, "another_secret_another_secret_12")),  # wrong key
    lambda d: d.update(sign=hmac_sign(d)[:63]),  # 63 chars: treated as MD5, fails
    lambda d: d.update(sign=""),
])
def test_forged_or_unsigned_reply_is_refused(mutate: Callable[[Dict[str, Any]], Any]) -> None:
    data = signed({"return_code": "SUCCESS", "result_code": "SUCCESS", "mch_id": MCHID, "openid": "o"})
    mutate(data)
    with pytest.raises(VerificationError) as info:
        authcode(Recorder(xml_reply(data)))
    assert info.value.response is not None


def test_duplicated_sign_elements_refused() -> None:
    data = signed({"return_code": "SUCCESS", "result_code": "SUCCESS", "mch_id": MCHID})
    body = Transformer.to_xml(data).replace("</xml>", f"<sign>{data['sign']}</sign></xml>").encode()
    with pytest.raises(VerificationError):
        authcode(Recorder(Response.build(200, {}, body)))


@pytest.mark.parametrize("name", ["invalid.xxe_injection.sample.xml", "invalid.bad_entity.sample.xml"])
def test_hostile_xml_refused(name: str) -> None:
    body = (XML_FIXTURES / name).read_bytes()
    with pytest.raises(VerificationError, match="refused"):
        authcode(Recorder(Response.build(200, {}, body)))
    with pytest.raises(VerificationError, match="refused"):  # unsigned endpoints parse safely too
        make(Recorder(Response.build(200, {}, body))).v2.mmpaymkttransfers.promotion.transfers.post(
            xml={"mchid": MCHID}, security=False)


def test_entity_bomb_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>' \
           b"<xml><return_code>&b;</return_code></xml>"
    with pytest.raises(VerificationError):
        authcode(Recorder(Response.build(200, {}, bomb)))


def test_not_xml_and_http_errors() -> None:
    html = (XML_FIXTURES / "invalid.normal_404.sample.html").read_bytes()
    with pytest.raises(ClientError) as info4:
        authcode(Recorder(Response.build(404, {}, html, reason="Not Found")))
    assert info4.value.status_code == 404
    fail = {"return_code": "FAIL", "return_msg": "system busy"}
    with pytest.raises(ServerError) as info5:
        authcode(Recorder(xml_reply(fail, 503)))
    assert info5.value.data == fail
    with pytest.raises(VerificationError):
        authcode(Recorder(Response.build(200, {}, b"OK")))
    with pytest.raises(VerificationError, match="302"):
        authcode(Recorder(Response.build(302, {"Location": "https://example.com/"}, b"")))


# --- PHP's $noneSignatureRespond and bill downloads ---------------------------------------------------


def test_none_signature_list_is_phps() -> None:
    assert len(NONE_SIGNATURE_RESPOND) == 26
    assert {"/mmpaymkttransfers/promotion/transfers", "/pay/downloadbill", "/risk/getpublickey",
            "/sandboxnew/pay/getsignkey", "/xdc/apiv2getsignkey/sign/getsignkey"} <= NONE_SIGNATURE_RESPOND


def test_transfers_unsigned_success_like_php() -> None:
    answer = {"mchid": MCHID, "return_code": "SUCCESS", "result_code": "SUCCESS"}
    rec = Recorder(xml_reply(answer))
    res = make(rec).v2.mmpaymkttransfers.promotion.transfers.post({"xml": {"mchid": MCHID}, "security": False})
    assert parse(res) == answer


def test_unsigned_endpoint_still_reports_fail() -> None:
    answer = {"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "NOTENOUGH", "err_code_des": "余额不足"}
    with pytest.raises(ApiError) as info:
        make(Recorder(xml_reply(answer))).v2.mmpaymkttransfers.sendredpack.post(xml={"mch_id": MCHID},
                                                                                 security=False)
    assert info.value.code == "NOTENOUGH" and info.value.data == answer


def test_unsigned_endpoint_under_a_base_path() -> None:
    rec = Recorder(xml_reply({"return_code": "SUCCESS", "return_msg": "ok", "sandbox_signkey": "K"}))
    client = make(rec, base_uri="https://api.mch.weixin.qq.com/sandboxnew/")
    assert parse(client.v2.pay.getsignkey.post(xml={"mch_id": MCHID}))["sandbox_signkey"] == "K"
    assert rec.requests[0].url == "https://api.mch.weixin.qq.com/sandboxnew/pay/getsignkey"


CSV = ("交易时间,公众账号ID,商户号,总金额\r\n`2014-06-03 10:00:00,`wx8888888888888888,`1230000109,`0.01\r\n"
       "总交易单数,总交易额\r\n`1,`0.01\r\n").encode()


@pytest.mark.parametrize("endpoint", ["pay/downloadbill", "pay/downloadfundflow"])
@pytest.mark.parametrize("body", [CSV, gzip.compress(CSV, mtime=0)])
def test_bill_download_raw_body(endpoint: str, body: bytes) -> None:
    rec = Recorder(Response.build(200, {"Content-Type": "text/plain"}, body))
    res = make(rec)["v2/" + endpoint].post(xml={"appid": "wx8888888888888888", "mch_id": MCHID,
                                                 "bill_type": "ALL", "bill_date": "20140603"}, security=False)
    assert res.content == body


def test_bill_download_xml_error_like_php() -> None:
    data = {"return_code": "FAIL", "return_msg": "invalid reason", "error_code": "20001"}
    with pytest.raises(ApiError) as info:
        make(Recorder(xml_reply(data))).v2.pay.downloadbill.post(xml={"mch_id": MCHID})
    assert (info.value.code, info.value.message, info.value.data) == ("20001", "invalid reason", data)


# --- mTLS material (no network: the TLS handshake itself is in test_v2_mtls.py) -------------------------


def test_security_without_merchant_cert_refused_before_io() -> None:
    rec = Recorder(OK)
    for merchant in (None, {}, {"key": "/nonexistent/key.pem"}):
        with pytest.raises(InvalidArgumentError, match="certificate"):
            make(rec, merchant=merchant).v2.pay.refund.post(xml={"mch_id": MCHID}, security=True)
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        make(rec, merchant={"cert": "/nonexistent/cert.pem", "key": "k"}).v2.pay.refund.post(
            xml={"mch_id": MCHID}, security=True)
    assert rec.requests == []


PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


def test_pem_text_materialised_once_per_config(tmp_path: Path) -> None:
    rec = Recorder(OK)
    client = make(rec, merchant={"cert": PEM_CERT, "key": PEM_KEY})
    for _ in range(3):
        client.v2.pay.refund.post(xml={"mch_id": MCHID}, security=True)
    client.v2.pay.orderquery.post(xml={"mch_id": MCHID})
    certs = [r.cert for r in rec.requests]
    assert certs[0] == certs[1] == certs[2] and certs[3] is None
    cert_file, key_file = certs[0]  # type: ignore[misc]
    assert Path(cert_file).read_text() == PEM_CERT and Path(key_file).read_text() == PEM_KEY
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(key_file)).st_mode) == 0o700
    # paths that OpenSSL can load as they are are used as they are: no copies
    (tmp_path / "c.pem").write_text(PEM_CERT)
    (tmp_path / "k.pem").write_text(PEM_KEY)
    client2 = make(rec, merchant={"cert": str(tmp_path / "c.pem"), "key": "file://" + str(tmp_path / "k.pem")})
    assert merchant_cert(client2.get_driver().config) == (str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))


def test_materialised_files_removed_with_config() -> None:
    import gc

    client = make(merchant={"cert": PEM_CERT, "key": PEM_KEY})
    cert_file, _ = merchant_cert(client.get_driver().config)
    assert os.path.exists(cert_file)
    del client
    gc.collect()
    assert not os.path.exists(os.path.dirname(cert_file))


def test_encrypted_key_needs_passphrase() -> None:
    encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIE\n-----END ENCRYPTED PRIVATE KEY-----\n"
    with pytest.raises(InvalidArgumentError, match="passphrase"):
        merchant_cert(make(merchant={"cert": PEM_CERT, "key": encrypted}).get_driver().config)
    with pytest.raises(InvalidArgumentError, match="does not load") as info:
        merchant_cert(make(merchant={"cert": PEM_CERT, "key": encrypted, "passphrase": "s3cret"}).get_driver().config)
    assert "s3cret" not in str(info.value)


def test_pkcs12_needs_cryptography(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("cryptography.hazmat.primitives.serialization", "cryptography.hazmat.primitives.serialization.pkcs12"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    p12 = tmp_path / "apiclient_cert.p12"
    p12.write_bytes(b"\x30\x82\x0a\x00 not really pkcs12")
    with pytest.raises(InvalidArgumentError, match="cryptography"):
        merchant_cert(make(merchant={"cert": str(p12), "passphrase": MCHID}).get_driver().config)


# --- async: the same flow through post_async ---------------------------------------------------------


def test_post_async_same_bytes_and_checks() -> None:
    sync_rec, async_rec = Recorder(OK), Recorder(OK)
    make(sync_rec).v2.pay.unifiedorder.post(xml=UNIFIEDORDER)

    async def go() -> None:
        client = make(async_rec)
        await client.v2.pay.unifiedorder.post_async(xml=UNIFIEDORDER)
        with pytest.raises(InvalidArgumentError):
            await client.v2.pay.unifiedorder.post_async(xml={"mch_id": "1"})
        async_rec.reply = xml_reply({"return_code": "SUCCESS", "result_code": "SUCCESS", "sign": "X" * 32})
        with pytest.raises(VerificationError):
            await client.v2.pay.unifiedorder.post_async(xml=UNIFIEDORDER)

    asyncio.run(go())
    assert sync_rec.requests[0].body == async_rec.requests[0].body
    assert len(async_rec.requests) == 2


def _server_sign(fields: Mapping[str, str]) -> str:
    """What the service computes: MD5 over the non-empty fields it received, sorted, `sign` left out."""
    message = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "sign" and v != "")
    return hashlib.md5(f"{message}&key={SECRET}".encode()).hexdigest().upper()


def test_a_get_query_sends_the_text_it_signed() -> None:
    """True was signed as '1' and sent as 'true'; 0.1 + 0.2 signed as '0.3', sent as its repr."""
    from urllib.parse import parse_qsl, urlsplit

    rec = Recorder(OK)
    make(rec).v2.mchrisk.querymchrisk.get(query={"mch_id": MCHID, "on": True, "off": False, "sum": 0.1 + 0.2})
    sent = dict(parse_qsl(urlsplit(rec.requests[0].url).query, keep_blank_values=True))
    assert sent["on"] == "1" and sent["sum"] == "0.3" and sent["off"] == ""
    assert sent["sign"] == _server_sign(sent)


def test_an_xml_body_parses_back_to_the_fields_signed() -> None:
    """A CR inside CDATA became LF in the service's parser, and False was signed as 'f=' but sent empty."""
    rec = Recorder(OK)
    fields = {"mch_id": MCHID, "body": "a<b\r\nc", "plain": "x\ry", "off": False, "on": True}
    make(rec).v2.pay.micropay.post(xml=fields)
    received = Transformer.to_array(rec.requests[0].body.decode())
    assert received["body"] == "a<b\r\nc" and received["plain"] == "x\ry"
    assert received["sign"] == _server_sign(received)


@pytest.mark.parametrize("fields", [{"body": "a\x01b"}, {"1bad": "x"}, {"a b": "x"}])
def test_xml_fields_that_cannot_be_sent_as_signed_are_refused(fields: Dict[str, Any]) -> None:
    rec = Recorder(OK)
    with pytest.raises(InvalidArgumentError, match="control character|element name"):
        make(rec).v2.pay.micropay.post(xml={"mch_id": MCHID, **fields})
    assert rec.requests == []


def test_one_sign_type_rule_for_replies_and_notifications() -> None:
    """`sign_type_of` (used by `verify_v2` and `parse_notification_v2`): the declared type, else by length."""
    from wechatpay_chain.errors import VerificationError
    from wechatpay_chain.protocol.v2 import sign_type_of

    assert sign_type_of({}, "A" * 64) == "HMAC-SHA256"
    assert sign_type_of({}, "A" * 32) == "MD5"
    assert sign_type_of({"sign_type": "MD5"}, "A" * 64) == "MD5"
    assert sign_type_of({"sign_type": "HMAC-SHA256"}, "A" * 32) == "HMAC-SHA256"
    with pytest.raises(VerificationError, match="not MD5 or HMAC-SHA256"):
        sign_type_of({"sign_type": "SHA1"}, "A" * 40)
