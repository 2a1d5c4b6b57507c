"""Front-end pay-sign parameter sets (JSAPI / mini-program / APP) and response-field decryption.

APIv3 sets are signed SHA256withRSA with the merchant private key (PHP README "签名"); APIv2 sets
with the APIv2 key, MD5 or HMAC-SHA256 over the ksorted query string (PHP README_APIv2 "数据签名").
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Optional, Union

from wechatpay_chain import atlas
from wechatpay_chain.crypto._rsa import Rsa
from wechatpay_chain.crypto._symmetric import Hash
from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.protocol._formatter import Formatter
from wechatpay_chain.protocol._sensitive import encrypt_fields
from wechatpay_chain.protocol.v2 import sign_v2

__all__ = [
    "sign_jsapi",
    "sign_app",
    "sign_jsapi_v2",
    "sign_app_v2",
    "decrypt_field",
    "decrypt_fields",
    "decrypt_response",
    "PRIVATE_KEY_HELP",
    "Signer",
]

#: message -> base64 signature, e.g. a remote signing service (PHP README "定制")
Signer = Callable[[str], str]
PRIVATE_KEY_HELP = "private_key: anything Rsa.from_ accepts, or a callable signer (message -> base64 signature)"


def _signer(private_key: Any) -> Signer:
    if callable(private_key):
        given: Signer = private_key

        def checked(message: str) -> str:
            signature = given(message)
            if not isinstance(signature, str) or not signature:
                raise InvalidArgumentError(
                    f"the signer returned {type(signature).__name__}, not the base64 signature as a str"
                )
            return signature

        return checked
    key = Rsa.from_(private_key, Rsa.KEY_TYPE_PRIVATE)

    def sign(message: str) -> str:
        return Rsa.sign(message, key)

    return sign


def _text(value: Any, name: str) -> str:
    """A non-empty one-line str: these go into a line-feed-joined signed message, and to a client SDK as is."""
    if not isinstance(value, str) or not value or "\n" in value or "\r" in value:
        raise InvalidArgumentError(f"{name} must be a non-empty str on one line, got {type(value).__name__}")
    return value


def _stamp(timestamp: Optional[Union[int, str]], nonce: Optional[str]) -> tuple[str, str]:
    ts = str(Formatter.timestamp() if timestamp is None else timestamp)
    if not (ts.isascii() and ts.isdigit() and len(ts) <= 10):
        raise InvalidArgumentError(f"timestamp must be unix seconds (at most 10 digits), got {ts[:16]!r}")
    return ts, Formatter.nonce() if nonce is None else _text(nonce, "nonce")


def _prepay_id(prepay_id: Any) -> str:
    """The bare id: given bare or as ``prepay_id=...`` (what the JSAPI ``package`` carries)."""
    prefix = "prepay_id="
    bare = prepay_id[len(prefix):] if isinstance(prepay_id, str) and prepay_id.startswith(prefix) else prepay_id
    return _text(bare, "prepay_id")


def _package(prepay_id: str) -> str:
    return f"prepay_id={_prepay_id(prepay_id)}"


def _partner(partnerid: Any) -> str:
    if isinstance(partnerid, int) and not isinstance(partnerid, bool):
        return str(partnerid)
    return _text(partnerid, "partnerid")


def _v2_type(sign_type: str) -> str:
    if sign_type not in (Hash.ALGO_MD5, Hash.ALGO_HMAC_SHA256):
        raise InvalidArgumentError(f"sign_type must be {Hash.ALGO_MD5!r} or {Hash.ALGO_HMAC_SHA256!r}")
    return sign_type


def _v2_sign(params: Dict[str, str], secret: str, sign_type: str) -> str:
    if not isinstance(secret, str) or not secret:
        raise InvalidArgumentError("secret must be the APIv2 key (a non-empty str)")
    return sign_v2(params, secret, sign_type)


def sign_jsapi(
    appid: str,
    prepay_id: str,
    *,
    private_key: Any,
    timestamp: Optional[Union[int, str]] = None,
    nonce: Optional[str] = None,
) -> Dict[str, str]:
    """The ``wx.requestPayment`` / ``WeixinJSBridge`` parameters for an APIv3 JSAPI or mini-program order.

    PHP README "签名": ``paySign = Rsa::sign(Formatter::joinedByLineFeed(appId, timeStamp, nonceStr, package))``.
    ``prepay_id`` may be given bare or as ``prepay_id=...``.
    """
    ts, nonce_str = _stamp(timestamp, nonce)
    params = {"appId": _text(appid, "appid"), "timeStamp": ts, "nonceStr": nonce_str, "package": _package(prepay_id)}
    signature = _signer(private_key)(Formatter.joined_by_line_feed(*params.values()))
    return {**params, "signType": "RSA", "paySign": signature}


def sign_app(
    appid: str,
    partnerid: Union[str, int],
    prepay_id: str,
    *,
    private_key: Any,
    timestamp: Optional[Union[int, str]] = None,
    nonce: Optional[str] = None,
) -> Dict[str, str]:
    """The APP SDK ``PayReq`` fields for an APIv3 APP order (``partnerid`` is the merchant id).

    Signed like PHP README "签名", over ``appid\\ntimestamp\\nnoncestr\\nprepayid\\n``. ``prepay_id`` may be given
    bare or as ``prepay_id=...``; the APP SDK takes the bare id.
    """
    ts, nonce_str = _stamp(timestamp, nonce)
    appid, partner, prepay_id = _text(appid, "appid"), _partner(partnerid), _prepay_id(prepay_id)
    signature = _signer(private_key)(Formatter.joined_by_line_feed(appid, ts, nonce_str, prepay_id))
    return {
        "appid": appid,
        "partnerid": partner,
        "prepayid": prepay_id,
        "package": "Sign=WXPay",
        "noncestr": nonce_str,
        "timestamp": ts,
        "sign": signature,
    }


def sign_jsapi_v2(
    appid: str,
    prepay_id: str,
    *,
    secret: str,
    sign_type: str = Hash.ALGO_MD5,
    timestamp: Optional[Union[int, str]] = None,
    nonce: Optional[str] = None,
) -> Dict[str, str]:
    """APIv2 JSAPI parameters: ``paySign = Hash::sign(signType, queryStringLike(ksort(params)), secret)``.

    Mirrors PHP README_APIv2 "数据签名"; ``signType`` (MD5 or HMAC-SHA256) is itself signed.
    """
    ts, nonce_str = _stamp(timestamp, nonce)
    params = {
        "appId": _text(appid, "appid"),
        "timeStamp": ts,
        "nonceStr": nonce_str,
        "package": _package(prepay_id),
        "signType": _v2_type(sign_type),
    }
    return {**params, "paySign": _v2_sign(params, secret, sign_type)}


def sign_app_v2(
    appid: str,
    partnerid: Union[str, int],
    prepay_id: str,
    *,
    secret: str,
    sign_type: str = Hash.ALGO_MD5,
    timestamp: Optional[Union[int, str]] = None,
    nonce: Optional[str] = None,
) -> Dict[str, str]:
    """APIv2 APP ``PayReq`` fields, ``sign`` over the ksorted six fields (PHP README_APIv2 "数据签名").

    ``sign_type`` must match the one used at ``unifiedorder``; it is not a field of the set.
    """
    ts, nonce_str = _stamp(timestamp, nonce)
    params = {
        "appid": _text(appid, "appid"),
        "partnerid": _partner(partnerid),
        "prepayid": _prepay_id(prepay_id),
        "package": "Sign=WXPay",
        "noncestr": nonce_str,
        "timestamp": ts,
    }
    return {**params, "sign": _v2_sign(params, secret, _v2_type(sign_type))}


def decrypt_field(ciphertext: Union[str, bytes], private_key: Any) -> str:
    """One encrypted response field (RSA-OAEP, merchant private key) to text (PHP ``Rsa::decrypt``)."""
    return Rsa.decrypt(ciphertext, Rsa.from_(private_key, Rsa.KEY_TYPE_PRIVATE))


def decrypt_fields(doc: Any, paths: Iterable[str], private_key: Any) -> Any:
    """A copy of ``doc`` with the fields at ``paths`` decrypted; same path syntax as ``encrypt=``.

    ``'contact_info.contact_name'``, ``'ubo_info_list[].ubo_id_doc_name'``; absent fields are skipped,
    ``doc`` is never mutated. The key is parsed once for all fields.
    """
    key = Rsa.from_(private_key, Rsa.KEY_TYPE_PRIVATE)
    if isinstance(paths, str):
        paths = [paths]

    def decrypt(ciphertext: str) -> str:
        return Rsa.decrypt(ciphertext, key)

    out, _ = encrypt_fields(doc, list(paths), decrypt, strict=False)  # a response leaves optional fields out
    return out


def decrypt_response(response: Any, private_key: Any, *, method: Optional[str] = None) -> Any:
    """``response.json()`` with the fields the atlas marks encrypted in that operation's answer decrypted with
    the merchant private key (the ``decrypt_fields`` path syntax; ``response`` is never changed).

    The operation is found from ``response.url`` (a ``base_uri`` path prefix is allowed) and ``method``; without
    ``method``, the encrypted fields of every operation at that path. An answer of an operation the atlas does
    not know, or one without encrypted fields, comes back as its plain ``json()``.
    """
    from urllib.parse import urlsplit

    doc = response.json()
    segments = urlsplit(str(getattr(response, "url", "") or "")).path.strip("/").split("/")
    found: Dict[str, Any] = {}
    for start in range(len(segments)):  # '/wxpay/v3/...' under a gateway prefix: the shortest known suffix wins
        found = atlas.at_path("/".join(segments[start:]))
        if found:
            break
    ops = [op for name, op in found.items() if method is None or name == method.upper()]
    paths = [path for op in ops for path in op.decrypt]
    return decrypt_fields(doc, list(dict.fromkeys(paths)), private_key) if paths else doc
