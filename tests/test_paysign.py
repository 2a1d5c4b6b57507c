"""Pay-sign helpers (JSAPI / APP, v3 RSA and v2 MD5/HMAC-SHA256) and response-field decryption."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Dict, List

import pytest

from tests.keys import merchant_private_key, merchant_private_pem, merchant_public_key, platform_key
from wechatpay_chain import Rsa
from wechatpay_chain.errors import DecryptionError, InvalidArgumentError
from wechatpay_chain.paysign import (
    decrypt_field,
    decrypt_fields,
    sign_app,
    sign_app_v2,
    sign_jsapi,
    sign_jsapi_v2,
)

APPID = "wx8888888888888888"
PREPAY = "wx201410272009395522657a690389285100"
TS = 1414561699
NONCE = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
SECRET = "exposed_your_key_here_have_risks"


def test_sign_jsapi_known_answer() -> None:
    params = sign_jsapi(APPID, PREPAY, private_key=merchant_private_key(), timestamp=TS, nonce=NONCE)
    assert list(params) == ["appId", "timeStamp", "nonceStr", "package", "signType", "paySign"]
    assert params["appId"] == APPID
    assert params["timeStamp"] == "1414561699"
    assert params["nonceStr"] == NONCE
    assert params["package"] == "prepay_id=" + PREPAY
    assert params["signType"] == "RSA"
    # the official example's string to sign (JSAPI调起支付): four lines, each ending in \n
    message = f"{APPID}\n1414561699\n{NONCE}\nprepay_id={PREPAY}\n"
    assert Rsa.verify(message, params["paySign"], merchant_public_key())
    assert params["paySign"] == Rsa.sign(message, merchant_private_key())  # PKCS#1 v1.5 is deterministic


def test_sign_jsapi_accepts_package_form_and_pem_key() -> None:
    a = sign_jsapi(APPID, "prepay_id=" + PREPAY, private_key=merchant_private_pem(), timestamp=str(TS), nonce=NONCE)
    b = sign_jsapi(APPID, PREPAY, private_key=merchant_private_key(), timestamp=TS, nonce=NONCE)
    assert a == b


def test_sign_jsapi_defaults_are_fresh() -> None:
    a = sign_jsapi(APPID, PREPAY, private_key=merchant_private_key())
    b = sign_jsapi(APPID, PREPAY, private_key=merchant_private_key())
    assert a["nonceStr"] != b["nonceStr"] and len(a["nonceStr"]) == 32
    assert a["timeStamp"].isdigit() and len(a["timeStamp"]) == 10
    message = "".join(f"{a[k]}\n" for k in ("appId", "timeStamp", "nonceStr", "package"))
    assert Rsa.verify(message, a["paySign"], merchant_public_key())


def test_sign_jsapi_custom_signer() -> None:
    seen: List[str] = []

    def remote(message: str) -> str:
        seen.append(message)
        return "REMOTE"

    params = sign_jsapi(APPID, PREPAY, private_key=remote, timestamp=TS, nonce=NONCE)
    assert params["paySign"] == "REMOTE"
    assert seen == [f"{APPID}\n{TS}\n{NONCE}\nprepay_id={PREPAY}\n"]


def test_sign_app_known_answer() -> None:
    params = sign_app(APPID, "1900000109", "1101000000140415649af9fc314aa427",
                      private_key=merchant_private_key(), timestamp=TS, nonce=NONCE)
    assert params == {
        "appid": APPID,
        "partnerid": "1900000109",
        "prepayid": "1101000000140415649af9fc314aa427",
        "package": "Sign=WXPay",
        "noncestr": NONCE,
        "timestamp": "1414561699",
        "sign": params["sign"],
    }
    message = f"{APPID}\n1414561699\n{NONCE}\n1101000000140415649af9fc314aa427\n"
    assert Rsa.verify(message, params["sign"], merchant_public_key())


def test_sign_with_wrong_key_does_not_verify() -> None:
    params = sign_jsapi(APPID, PREPAY, private_key=platform_key(), timestamp=TS, nonce=NONCE)
    message = f"{APPID}\n{TS}\n{NONCE}\nprepay_id={PREPAY}\n"
    assert not Rsa.verify(message, params["paySign"], merchant_public_key())


def _v2(fields: Dict[str, str], sign_type: str) -> str:
    """The APIv2 signature computed independently: ksort, k=v&..., &key=secret, MD5 or HMAC-SHA256, upper."""
    query = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if fields[k] != "") + "&key=" + SECRET
    if sign_type == "MD5":
        return hashlib.md5(query.encode()).hexdigest().upper()
    return hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest().upper()


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_sign_jsapi_v2(sign_type: str) -> None:
    params = sign_jsapi_v2(APPID, PREPAY, secret=SECRET, sign_type=sign_type, timestamp=TS, nonce=NONCE)
    assert list(params) == ["appId", "timeStamp", "nonceStr", "package", "signType", "paySign"]
    fields = {k: v for k, v in params.items() if k != "paySign"}
    assert fields["signType"] == sign_type
    assert params["paySign"] == _v2(fields, sign_type)


def test_sign_jsapi_v2_md5_known_answer() -> None:
    params = sign_jsapi_v2(APPID, PREPAY, secret=SECRET, timestamp=TS, nonce=NONCE)
    query = (f"appId={APPID}&nonceStr={NONCE}&package=prepay_id={PREPAY}&signType=MD5"
             f"&timeStamp={TS}&key={SECRET}")
    assert params["paySign"] == hashlib.md5(query.encode()).hexdigest().upper()


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_sign_app_v2(sign_type: str) -> None:
    params = sign_app_v2(APPID, 1900000109, "WX1217752501201407033233368018",
                         secret=SECRET, sign_type=sign_type, timestamp=TS, nonce=NONCE)
    assert list(params) == ["appid", "partnerid", "prepayid", "package", "noncestr", "timestamp", "sign"]
    assert params["partnerid"] == "1900000109" and params["package"] == "Sign=WXPay"
    fields = {k: v for k, v in params.items() if k != "sign"}
    assert params["sign"] == _v2(fields, sign_type)


@pytest.mark.parametrize(
    "call",
    [
        lambda: sign_jsapi_v2(APPID, PREPAY, secret=SECRET, sign_type="SHA1"),
        lambda: sign_app_v2(APPID, "1", PREPAY, secret=SECRET, sign_type="md5"),
        lambda: sign_jsapi_v2(APPID, PREPAY, secret=""),
        lambda: sign_jsapi(APPID, "", private_key=merchant_private_key()),
        lambda: sign_app(APPID, "1", "", private_key=merchant_private_key()),
        lambda: sign_app_v2(APPID, "1", "", secret=SECRET),
        lambda: sign_jsapi(APPID, PREPAY, private_key=merchant_private_key(), timestamp="now"),
        lambda: sign_jsapi(APPID, PREPAY, private_key=merchant_public_key()),
        lambda: sign_jsapi(APPID, PREPAY, private_key="not a key"),
        lambda: sign_jsapi(APPID, "prepay_id=", private_key=merchant_private_key()),  # an empty id after the prefix
        lambda: sign_jsapi(123, PREPAY, private_key=merchant_private_key()),  # type: ignore[arg-type]
        lambda: sign_jsapi(None, PREPAY, private_key=merchant_private_key()),  # type: ignore[arg-type]
        lambda: sign_app_v2(APPID, None, PREPAY, secret=SECRET),  # type: ignore[arg-type]
        lambda: sign_jsapi(APPID, PREPAY, private_key=merchant_private_key(), nonce="a\nb"),
        lambda: sign_jsapi(APPID, PREPAY, private_key=merchant_private_key(), timestamp=1414561699000),  # ms
        lambda: sign_jsapi(APPID, PREPAY, private_key=lambda message: b"bytes"),
        lambda: sign_app(APPID, "1", PREPAY, private_key=lambda message: None),
    ],
)
def test_invalid_arguments(call: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        call()
    assert SECRET not in str(info.value)


# --- response-field decryption ------------------------------------------------------------------------


def test_decrypt_field() -> None:
    ciphertext = Rsa.encrypt("张三", merchant_public_key())
    assert decrypt_field(ciphertext, merchant_private_key()) == "张三"
    assert decrypt_field(ciphertext, merchant_private_pem()) == "张三"
    with pytest.raises(DecryptionError) as info:
        decrypt_field(ciphertext, platform_key())
    assert "张三" not in str(info.value)


def test_decrypt_fields_paths() -> None:
    def enc(plaintext: str) -> str:
        return Rsa.encrypt(plaintext, merchant_public_key())

    doc = {
        "account_name": enc("张三"),
        "contact_info": {"contact_name": enc("李四"), "mobile": "13800000000"},
        "ubo_info_list": [{"ubo_id_doc_name": enc("王五")}, {"ubo_id_doc_name": enc("赵六")}, {}],
        "untouched": "x",
    }
    out = decrypt_fields(
        doc,
        ["account_name", "contact_info.contact_name", "ubo_info_list[].ubo_id_doc_name", "absent.field"],
        merchant_private_key(),
    )
    assert out["account_name"] == "张三"
    assert out["contact_info"] == {"contact_name": "李四", "mobile": "13800000000"}
    assert [u.get("ubo_id_doc_name") for u in out["ubo_info_list"]] == ["王五", "赵六", None]
    assert out["untouched"] == "x"
    assert doc["account_name"] != "张三"  # the input is never mutated
    assert decrypt_fields(doc, "account_name", merchant_private_pem())["account_name"] == "张三"


def test_decrypt_fields_errors() -> None:
    with pytest.raises(DecryptionError):
        decrypt_fields({"a": "bm90IGEgY2lwaGVydGV4dA=="}, ["a"], merchant_private_key())
    with pytest.raises(InvalidArgumentError):
        decrypt_fields({"a": {"b": 1}}, ["a"], merchant_private_key())
    with pytest.raises(InvalidArgumentError):
        decrypt_fields({"a": "x"}, ["a..b"], merchant_private_key())


def test_the_app_sdk_gets_the_bare_prepay_id_whichever_form_is_given() -> None:
    """`sign_jsapi` takes `prepay_id=...` too; `sign_app` returned (and signed) that form as `prepayid`."""
    key = merchant_private_key()
    bare = sign_app(APPID, "1900000109", PREPAY, private_key=key, timestamp=TS, nonce=NONCE)
    prefixed = sign_app(APPID, "1900000109", "prepay_id=" + PREPAY, private_key=key, timestamp=TS, nonce=NONCE)
    assert prefixed == bare and bare["prepayid"] == PREPAY
    assert sign_app_v2(APPID, 1900000109, "prepay_id=" + PREPAY, secret=SECRET, timestamp=TS, nonce=NONCE) == \
        sign_app_v2(APPID, "1900000109", PREPAY, secret=SECRET, timestamp=TS, nonce=NONCE)
