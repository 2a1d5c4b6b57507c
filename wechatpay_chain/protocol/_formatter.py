"""Signing-string helpers, the Python twin of PHP's ``WeChatPay\\Formatter`` (wechatpay-php v1.4.x)."""

from __future__ import annotations

import math
import secrets
import time
from typing import Any, Dict, Mapping, TypeVar, Union

from wechatpay_chain.errors import InvalidArgumentError

__all__ = ["Formatter", "php_string"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# 248 == 62 * 4: bytes >= 248 are rejected so that ``byte % 62`` is unbiased.
# byte b < 248 -> _BASE62[b % 62] (248 = 4 x 62, so every character is equally likely); 248..255 dropped
_NONCE_TABLE = bytes(ord(_BASE62[b % 62]) for b in range(248)) + bytes(8)
_NONCE_DROP = bytes(range(248, 256))

_V = TypeVar("_V")


def _php_float(value: float) -> str:
    """``(string) $float`` as PHP does it (``precision`` ini = 14, ``%.14G`` with PHP's exponent style)."""
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = f"{abs(value):.13e}".partition("e")
    digits = mantissa.replace(".", "").rstrip("0")
    decpt = int(exponent) + 1  # digits before the decimal point
    if decpt < -3 or decpt > 14:
        exp = decpt - 1
        body = f"{digits[0]}.{digits[1:] or '0'}E{'-' if exp < 0 else '+'}{abs(exp)}"
    elif decpt <= 0:
        body = "0." + "0" * -decpt + digits
    elif len(digits) <= decpt:
        body = digits + "0" * (decpt - len(digits))
    else:
        body = digits[:decpt] + "." + digits[decpt:]
    return sign + body


def _body_text(body: Any) -> str:
    if type(body) is str:
        return body
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body).decode("utf-8", "surrogateescape")  # exact bytes, as the core signs them
    if isinstance(body, str):
        return str(body)
    raise InvalidArgumentError(f"the body must be str or bytes, not {type(body).__name__} (PHP: string $body)")


def php_string(value: Any) -> str:
    """Render a scalar as PHP's string conversion does (``true`` -> ``'1'``, ``false``/``null`` -> ``''``)."""
    if type(value) is str:
        return value
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _php_float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8")
    return str(value)


class Formatter:
    """Mirrors PHP ``WeChatPay\\Formatter``; every method is static."""

    @staticmethod
    def nonce(size: int = 32) -> str:
        """PHP ``Formatter::nonce``: a base62 ``[0-9A-Za-z]`` random string from the ``secrets`` CSPRNG."""
        if size < 1:
            raise InvalidArgumentError("Size must be a positive integer.")
        out = b""
        while len(out) < size:  # bytes >= 248 are dropped, so each character is uniform over 62
            out += secrets.token_bytes(size - len(out) + (size >> 2) + 2).translate(_NONCE_TABLE, _NONCE_DROP)
        return out[:size].decode("ascii")

    @staticmethod
    def timestamp() -> int:
        """PHP ``Formatter::timestamp``: the current Unix time in whole seconds."""
        return int(time.time())

    @staticmethod
    def authorization(
        mchid: Union[str, int],
        nonce: str,
        signature: str,
        timestamp: Union[str, int],
        serial: str,
    ) -> str:
        """PHP ``Formatter::authorization`` (same argument order): the APIv3 ``Authorization`` value."""
        return (
            f'WECHATPAY2-SHA256-RSA2048 mchid="{mchid}",serial_no="{serial}",'
            f'timestamp="{timestamp}",nonce_str="{nonce}",signature="{signature}"'
        )

    @staticmethod
    def request(method: str, uri: str, timestamp: Union[str, int], nonce: str, body: Union[str, bytes] = "") -> str:
        """PHP ``Formatter::request``: ``METHOD\\nURI\\nTIMESTAMP\\nNONCE\\nBODY\\n``, the string to sign.

        ``body`` is the text (bytes are taken as UTF-8, byte for byte); PHP's ``string $body`` refuses others."""
        return f"{method}\n{uri}\n{timestamp}\n{nonce}\n{_body_text(body)}\n"

    @staticmethod
    def response(timestamp: Union[str, int], nonce: str, body: Union[str, bytes] = "") -> str:
        """PHP ``Formatter::response``: ``TIMESTAMP\\nNONCE\\nBODY\\n``, the APIv3 string to verify (``body`` as in
        `request`: a raw ``request.body`` in bytes gives its text, not ``b'...'``)."""
        return f"{timestamp}\n{nonce}\n{_body_text(body)}\n"

    @staticmethod
    def joined_by_line_feed(*pieces: Any) -> str:
        """PHP ``Formatter::joinedByLineFeed``: pieces PHP-stringified, each followed by ``\\n``.

        No piece at all gives ``''``.
        """
        if not pieces:
            return ""
        return "\n".join([php_string(piece) for piece in pieces]) + "\n"

    @staticmethod
    def ksort(thing: Mapping[Any, _V]) -> Dict[Any, _V]:
        """PHP ``Formatter::ksort`` (``ksort($thing, SORT_STRING)``): a new dict, keys in byte order."""
        return dict(sorted(thing.items(), key=lambda kv: kv[0] if type(kv[0]) is str else str(kv[0])))

    @staticmethod
    def query_string_like(thing: Mapping[Any, Any]) -> str:
        """PHP ``Formatter::queryStringLike``: ``k=v&k2=v2`` without the ``sign`` key, ``None`` and ``''``.

        Nothing is URL-encoded and the input order is kept (``ksort`` first for APIv2 signing).
        """
        return "&".join(
            f"{key}={php_string(value)}"
            for key, value in thing.items()
            if not (key == "sign" or value is None or (type(value) is str and value == ""))
        )
