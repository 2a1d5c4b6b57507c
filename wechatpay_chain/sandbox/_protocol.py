"""The sandbox's side of the APIv3 protocol, free of I/O: request verification, response signing, routing.

Mirrors what the real service does to a merchant request: parse the `Authorization` header strictly,
rebuild `METHOD\\nTARGET\\nTIMESTAMP\\nNONCE\\nBODY\\n` from the bytes received, verify it with the
merchant key, refuse replays, decrypt the fields an endpoint declares sensitive; and it signs every answer.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import unquote

from wechatpay_chain.crypto._codec import to_bytes
from wechatpay_chain.crypto._rsa import Rsa, RsaKey
from wechatpay_chain.crypto._symmetric import AesGcm
from wechatpay_chain.errors import DecryptionError
from wechatpay_chain.protocol._formatter import Formatter
from wechatpay_chain.sandbox._identity import Identity

__all__ = [
    "SCHEME", "Call", "Reply", "Rejection", "Endpoint", "Router", "NonceBook", "json_reply", "error_reply",
    "verify_request", "sign_headers", "notification_body", "signing_body", "multipart_parts", "decrypt_fields",
    "request_id", "parse_authorization", "Handler", "WINDOW", "map_at",
]

SCHEME = "WECHATPAY2-SHA256-RSA2048"
WINDOW = 300
_AUTH_PARAMS = ("mchid", "serial_no", "timestamp", "nonce_str", "signature")
_PARAM = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*')
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass
class Call:
    """One parsed request as an endpoint sees it (percent-decoded path parameters, query, JSON body)."""

    method: str
    path: str
    target: str
    params: Dict[str, str]
    query: Dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    json: Any = None


@dataclass
class Reply:
    """What an endpoint answers; the server adds the signature headers unless `signed` is False."""

    status: int = 200
    body: bytes = b""
    content_type: Optional[str] = "application/json"
    headers: Dict[str, str] = field(default_factory=dict)
    signed: bool = True
    #: what the signature covers when it is not the body (an overseas statement: `{"sha1":"<digest>"}`)
    sign_over: Optional[bytes] = None


class Rejection(Exception):
    """An APIv3 error answer: `{"code":..,"message":..,"detail":..}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.detail = status, code, message, detail

    def reply(self) -> Reply:
        return error_reply(self.status, self.code, self.message, self.detail)


def json_reply(data: Any, status: int = 200) -> Reply:
    return Reply(status, _JSON.encode(data).encode("utf-8"))


def error_reply(status: int, code: str, message: str, detail: Any = None) -> Reply:
    payload: Dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        payload["detail"] = detail
    return json_reply(payload, status)


def request_id() -> str:
    """A Request-ID shaped like the real ones (upper hex)."""
    return secrets.token_hex(20).upper()


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Endpoint:
    """A route: `kind` 'v3' (signed JSON, Authorization checked), 'v2' (XML) ; `sensitive` fields to decrypt."""

    method: str
    template: str
    handler: Handler = field(repr=False)
    sensitive: Tuple[str, ...] = ()
    kind: str = "v3"
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        object.__setattr__(self, "pattern", re.compile(regex + r"\Z"))


class Router:
    """Matches the raw path (before percent-decoding) so that encoded `/` in a variable stays inside it."""

    def __init__(self, endpoints: Sequence[Endpoint] = ()) -> None:
        self.endpoints: List[Endpoint] = list(endpoints)

    def match(self, method: str, raw_path: str) -> Tuple[Endpoint, Dict[str, str]]:
        allowed = []
        for ep in self.endpoints:
            m = ep.pattern.match(raw_path)
            if m is None:
                continue
            if ep.method == method:
                return ep, {k: unquote(v) for k, v in m.groupdict().items()}
            allowed.append(ep.method)
        if allowed:
            raise Rejection(405, "METHOD_NOT_ALLOWED", f"不支持的请求方法 {method}，请使用 {', '.join(allowed)}")
        raise Rejection(404, "NOT_FOUND", "资源不存在", {"location": "uri", "path": raw_path[:256]})


class NonceBook:
    """Nonces seen within the time window; older ones are forgotten so memory stays bounded."""

    def __init__(self, window: int = WINDOW, limit: int = 100_000) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._window, self._limit = window, limit

    def replayed(self, nonce: str, now: float) -> bool:
        """True when `nonce` was already used; otherwise remember it."""
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at <= 2 * self._window and len(self._seen) < self._limit:
                break
            del self._seen[oldest]
        if nonce in self._seen:
            return True
        self._seen[nonce] = now
        return False

    def __len__(self) -> int:
        return len(self._seen)


def _unauthorized(message: str, field_: str, issue: str) -> Rejection:
    return Rejection(401, "SIGN_ERROR", message, {"field": field_, "location": "authorization", "issue": issue})


def parse_authorization(value: Optional[str]) -> Dict[str, str]:
    """`WECHATPAY2-SHA256-RSA2048 k="v",...` with exactly the five known parameters, each once."""
    if not value:
        raise _unauthorized("Http头Authorization值格式错误", "authorization", "missing Authorization header")
    scheme, _, rest = value.partition(" ")
    if scheme != SCHEME:
        raise _unauthorized(
            f"Http头Authorization认证类型不正确，目前仅支持{SCHEME}", "authorization",
            f"unsupported scheme {scheme[:40]!r}",
        )
    params: Dict[str, str] = {}
    for piece in rest.split(","):
        m = _PARAM.fullmatch(piece)
        if m is None or m.group(1) in params or m.group(1) not in _AUTH_PARAMS:
            raise _unauthorized("Http头Authorization值格式错误", "authorization", f"malformed parameter {piece[:40]!r}")
        params[m.group(1)] = m.group(2)
    missing = [p for p in _AUTH_PARAMS if not params.get(p)]
    if missing:
        raise _unauthorized("Http头Authorization值格式错误", "authorization", f"missing {', '.join(missing)}")
    return params


def _sign_error(method: str, target: str, message: bytes) -> Rejection:
    """The real SIGN_ERROR answer: the string the server verified, its body cut to 8 characters."""
    pieces = message.decode("utf-8", "replace").split("\n", 4)
    body = pieces[4][:-1] if len(pieces) == 5 else ""
    truncated = "\n".join(pieces[:4]) + "\n" + body[:8] + "\n"
    detail = {
        "detail": {"issue": "sign not match"},
        "field": "signature",
        "issue": "sign not match",
        "location": "authorization",
        "sign_information": {
            "method": method,
            "sign_message_length": len(message),
            "truncated_sign_message": truncated,
            "url": target,
        },
    }
    return Rejection(401, "SIGN_ERROR", "签名错误", detail)


def verify_request(
    identity: Identity, method: str, target: str, authorization: Optional[str], body: bytes, now: float,
    nonces: NonceBook,
) -> None:
    """Raise a 401 Rejection unless the request is signed by the sandbox merchant, in time, and fresh."""
    p = parse_authorization(authorization)
    if p["mchid"] != identity.mchid:
        raise _unauthorized(
            f"Http头Authorization中的商户号mchid({p['mchid'][:32]})与沙箱商户号({identity.mchid})不一致",
            "mchid", "mchid not match",
        )
    if p["serial_no"] != identity.merchant_serial:
        raise _unauthorized(
            f"商户证书序列号有误。serial_no({p['serial_no'][:64]})不是该商户的API证书序列号({identity.merchant_serial})",
            "serial_no", "serial_no not match",
        )
    ts = p["timestamp"]
    if not ts.isdigit() or abs(now - int(ts)) > WINDOW:
        expired = "Http头Authorization中的timestamp与发起请求的时间不得超过5分钟"
        raise _unauthorized(expired, "timestamp", "timestamp expired")
    message = to_bytes(Formatter.request(method, target, ts, p["nonce_str"], body))  # the bytes the client signed
    if not Rsa.verify(message, p["signature"], identity.merchant_key.public_key()):
        raise _sign_error(method, target, message)
    if nonces.replayed(p["nonce_str"], now):
        raise _unauthorized("Http头Authorization中的nonce_str已被使用，疑似重放请求", "nonce_str", "nonce replayed")


def notification_body(transaction: Dict[str, Any], apiv3_key: str, created: str) -> bytes:
    """A TRANSACTION.SUCCESS notification: the transaction AES-256-GCM encrypted with the APIv3 key."""
    nonce = Formatter.nonce(12)
    plain = _JSON.encode(transaction)
    doc = {
        "id": str(uuid.uuid4()), "create_time": created, "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
        "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                     "ciphertext": AesGcm.encrypt(plain, apiv3_key, nonce, "transaction"),
                     "associated_data": "transaction", "nonce": nonce},
    }
    return _JSON.encode(doc).encode("utf-8")


def sign_headers(key: RsaKey, serial: str, body: bytes, timestamp: int, nonce: Optional[str] = None) -> Dict[str, str]:
    """The Wechatpay-* headers over `TIMESTAMP\\nNONCE\\nBODY\\n`: the four the signature needs, plus
    `Wechatpay-Signature-Type` as the real service sends it (some SDKs, e.g. wechatpayv3, refuse an answer
    without it)."""
    nonce = nonce or Formatter.nonce(32)
    message = Formatter.response(timestamp, nonce, body)  # the bytes of `body`, as the client verifies them
    return {
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": Rsa.sign(message, key),
        "Wechatpay-Signature-Type": SCHEME,
        "Wechatpay-Timestamp": str(timestamp),
    }


def multipart_parts(content_type: str, body: bytes) -> List[Tuple[Dict[str, str], bytes]]:
    """Split a multipart/form-data body into (lower-cased headers + 'name'/'filename', content) pairs."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if m is None:
        raise Rejection(400, "PARAM_ERROR", "multipart/form-data 缺少 boundary")
    delimiter = b"--" + m.group(1).encode("latin-1")
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise Rejection(400, "PARAM_ERROR", "multipart/form-data 格式错误")
        headers: Dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        for key in ("name", "filename"):
            found = re.search(rf'\b{key}="([^"]*)"', headers.get("content-disposition", ""))
            if found:
                headers[key] = found.group(1)
        parts.append((headers, content[:-2] if content.endswith(b"\r\n") else content))
    return parts


def signing_body(content_type: str, body: bytes) -> bytes:
    """What the merchant signed: the body, or for a multipart upload its `meta` part (the real rule)."""
    if content_type.lower().startswith("multipart/form-data"):
        for headers, content in multipart_parts(content_type, body):
            if headers.get("name") == "meta":
                return content
        raise Rejection(400, "PARAM_ERROR", "multipart/form-data 缺少 meta 部分", {"field": "meta"})
    return body


def map_at(doc: Any, path: str, fn: Callable[[Any], Any]) -> Any:
    """`doc` with `fn` applied to the value at `path` ('a.b', 'list[].field'), copy-on-write; a path that
    reaches nothing leaves `doc` as it is. The one walker behind field decryption and answer encryption."""
    return _map_at(doc, path.split("."), fn)


def _map_at(doc: Any, parts: List[str], fn: Callable[[Any], Any]) -> Any:
    if not isinstance(doc, dict) or parts[0].rstrip("[]") not in doc:
        return doc
    name, rest = parts[0], parts[1:]
    out = dict(doc)
    if name.endswith("[]"):
        name = name[:-2]
        items = out[name] if isinstance(out[name], list) else []
        out[name] = [_map_at(item, rest, fn) if rest else fn(item) for item in items]
    else:
        out[name] = _map_at(out[name], rest, fn) if rest else fn(out[name])
    return out


def _decrypt_one(value: Any, key: RsaKey, path: str, location: str) -> str:
    if not isinstance(value, str):
        raise Rejection(400, "PARAM_ERROR", f"敏感字段 {path} 必须是字符串", {"field": path, "location": location})
    try:
        return Rsa.decrypt(value, key)
    except DecryptionError:
        raise Rejection(
            400, "PARAM_ERROR",
            f"敏感字段 {path} 解密失败，请使用 Wechatpay-Serial 所指的平台公钥以 RSAES-OAEP 加密后上送",
            {"field": path, "location": location, "issue": "decrypt failed"},
        ) from None


def _present(doc: Any, parts: List[str]) -> bool:
    if not isinstance(doc, dict):
        return False
    name = parts[0].rstrip("[]")
    if doc.get(name) in (None, "", []):
        return False
    if len(parts) == 1:
        return True
    value = doc[name]
    return any(_present(v, parts[1:]) for v in value) if isinstance(value, list) else _present(value, parts[1:])


def decrypt_fields(
    identity: Identity, doc: Any, fields: Sequence[str], serial: Optional[str], location: str = "body"
) -> Any:
    """Decrypt the declared sensitive fields (of the body, or the query's) with the platform key named by
    `Wechatpay-Serial`; a value that does not decrypt is a 400 PARAM_ERROR naming the field."""
    present = [f for f in fields if _present(doc, f.split("."))]
    if not present:
        return doc
    if not serial:
        raise Rejection(
            400, "PARAM_ERROR", f"请求包含敏感字段（{', '.join(present)}），Http头缺少 Wechatpay-Serial",
            {"field": "Wechatpay-Serial", "location": "header"},
        )
    key = identity.private_key_for(serial)
    if key is None:
        raise Rejection(
            400, "PARAM_ERROR", f"Wechatpay-Serial({serial[:64]}) 不是有效的微信支付公钥ID或平台证书序列号",
            {"field": "Wechatpay-Serial", "location": "header"},
        )
    for name in fields:
        doc = map_at(doc, name, functools.partial(_decrypt_one, key=key, path=name, location=location))
    return doc
