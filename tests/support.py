"""Shared test doubles: one fake transport (`Recorder`) and the signed replies WeChat Pay would send.

Keys live in `tests.keys` (generated per session) or in a module's own fixtures; everything here takes the key
and serial it signs with, so both kinds of test use the same builders::

    from tests.support import Recorder, signed_response, platform_signed, xml_reply, v2_signed
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Union

from tests.keys import platform_key, platform_serial
from wechatpay_chain import Formatter, Rsa, Sensitive, Transformer
from wechatpay_chain.models import Request, Response

__all__ = [
    "unique",
    "seed_body",
    "both_ways",
    "Reply",
    "Recorder",
    "signed_response",
    "platform_signed",
    "V2_SECRET",
    "sign_string",
    "md5_sign",
    "hmac_sign",
    "v2_signed",
    "xml_reply",
]

def unique(prefix: str) -> str:
    """A business key no other test uses (`out_trade_no`, `authenticate_number`, ...)."""
    return f"{prefix}{time.time_ns()}"


def seed_body(number: str, name: Any = None, idno: Any = None, **extra: Any) -> Dict[str, Any]:
    """The seed call's body (`v3/payroll-card/authentications/pre-order-with-auth`), its two sensitive fields
    `Sensitive` unless given (a plain str is encrypted by the atlas all the same)."""
    doc: Dict[str, Any] = {
        "openid": "onqOjjmo8wmTOOtSKwXtGjg9Gb58", "appid": "wxa1111111", "sub_mchid": "1900000109",
        "sub_appid": "wxa1111111", "authenticate_number": number, "project_name": "某项目",
        "employer_name": "某用工企业", "user_name": Sensitive("张三") if name is None else name,
        "id_card_number": Sensitive("110101199003071234") if idno is None else idno,
        "employment_type": "LONG_TERM_EMPLOYMENT", "authenticate_type": "SIGN_IN",
    }
    doc.update(extra)
    return doc


def both_ways(mode: str) -> Callable[..., Any]:
    """call(node, 'post', **options) through `post` (mode 'sync') or `post_async` (run to its end here)."""

    def sync(node: Any, verb: str, **kw: Any) -> Any:
        return getattr(node, verb)(**kw)

    def via_async(node: Any, verb: str, **kw: Any) -> Any:
        async def go() -> Any:
            return await getattr(node, f"{verb}_async")(**kw)

        return asyncio.run(go())

    return sync if mode == "sync" else via_async


#: what a `Recorder` answers a request with: a response, a function of the request, or an exception to raise
Reply = Union[Response, BaseException, Callable[[Request], Response]]


class Recorder:
    """A `handler` transport: records each `Request` it is given (in `requests`) and answers it.

    Each request takes the next reply from `queue` (one per request, in order); once the queue is empty,
    `reply` answers every further request (with neither left, the test fails: an unexpected request).
    A reply is a `Response`, a function of the request, or an exception, which is raised (a `TransportError`
    plays a failed connection). A plain callable, so the same instance is the `handler` for `.post()` and
    `.post_async()` alike.
    """

    def __init__(self, reply: Optional[Reply] = None, *, queue: Iterable[Reply] = ()) -> None:
        self.requests: List[Request] = []
        self.reply = reply
        self.queue: List[Reply] = list(queue)

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        reply = self.queue.pop(0) if self.queue else self.reply
        if reply is None:
            raise AssertionError(f"unexpected request {request.method} {request.target}: no reply left")
        if isinstance(reply, BaseException):
            raise reply
        return reply(request) if callable(reply) else reply


# --- APIv3: a response signed with a platform key -------------------------------------------------------


def signed_response(
    body: Union[bytes, str],
    *,
    key: Any,
    serial: str,
    timestamp: Union[int, str, None] = None,
    nonce: Optional[str] = None,
    status: int = 200,
    headers: Optional[Mapping[str, Optional[str]]] = None,
    signed_text: Optional[str] = None,
) -> Response:
    """An APIv3 answer signed as WeChat Pay signs it: RSA-SHA256 with the platform `key` over
    ``TIMESTAMP\\nNONCE\\nBODY\\n``, in the Wechatpay-Nonce/-Serial/-Signature/-Timestamp headers.

    `timestamp` and `nonce` default to now and a fresh nonce; `body` bytes are signed byte for byte (not UTF-8
    too). `headers` are set after signing, so they may add a header, override a signed one (a forgery), or
    remove one (a value of None). `signed_text` is signed instead of the body (a statement signs
    ``{"sha1":"..."}``).
    """
    content = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else bytes(body)
    stamp = str(Formatter.timestamp() if timestamp is None else timestamp)
    nonce = Formatter.nonce() if nonce is None else nonce
    message = Formatter.response(stamp, nonce, content if signed_text is None else signed_text)
    fields: Dict[str, Optional[str]] = {
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": Rsa.sign(message, key),
        "Wechatpay-Timestamp": stamp,
        **(headers or {}),
    }
    return Response.build(status, {k: v for k, v in fields.items() if v is not None}, content)


def platform_signed(body: Union[bytes, str], **kwargs: Any) -> Response:
    """`signed_response` with the session's platform key and certificate serial (`tests.keys`)."""
    return signed_response(body, key=platform_key(), serial=platform_serial(), **kwargs)


# --- APIv2: XML replies signed with the APIv2 secret ----------------------------------------------------

#: the APIv2 key of PHP's tests (and WeChat Pay's documentation samples)
V2_SECRET = "exposed_your_key_here_have_risks"


def sign_string(data: Mapping[str, Any]) -> str:
    """APIv2 rule, written independently: sort keys byte-wise, drop `sign` and empty values, k=v joined by &."""
    return "&".join(f"{k}={v}" for k, v in sorted(data.items(), key=lambda kv: kv[0].encode())
                    if k != "sign" and v not in (None, ""))


def md5_sign(data: Mapping[str, Any], secret: str = V2_SECRET) -> str:
    return hashlib.md5(f"{sign_string(data)}&key={secret}".encode()).hexdigest().upper()


def hmac_sign(data: Mapping[str, Any], secret: str = V2_SECRET) -> str:
    message = f"{sign_string(data)}&key={secret}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().upper()


def v2_signed(data: Mapping[str, Any], sign_type: str = "MD5", secret: str = V2_SECRET) -> Dict[str, Any]:
    """A copy of `data` with its APIv2 `sign` (MD5 or HMAC-SHA256) appended."""
    signed = dict(data)
    signed["sign"] = md5_sign(signed, secret) if sign_type == "MD5" else hmac_sign(signed, secret)
    return signed


def xml_reply(data: Mapping[str, Any], status: int = 200, headers: Optional[Mapping[str, str]] = None) -> Response:
    """An APIv2 answer: `data` as the XML document, as given (sign it first with `v2_signed`)."""
    fields = {"Content-Type": "text/xml", "Request-ID": "REQ-V2", **(headers or {})}
    return Response.build(status, fields, Transformer.to_xml(data).encode())
