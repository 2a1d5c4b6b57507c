"""Text and base64 as PHP's crypto functions take and give them: `str` in is UTF-8 (bytes carried by
'surrogateescape' come back exactly), signatures and ciphertexts out are base64 `str`."""

from __future__ import annotations

import base64
import re
from typing import Any, Union

from wechatpay_chain.errors import DecryptionError, InvalidArgumentError

__all__ = ["Text", "to_bytes", "b64decode", "b64encode", "utf8"]

Text = Union[str, bytes]

_B64_NOISE = re.compile(rb"[^A-Za-z0-9+/]")


def to_bytes(value: Any, what: str = "input") -> bytes:
    """str is UTF-8; bytes that are not (carried in a str by 'surrogateescape') come back exactly."""
    if isinstance(value, str):
        try:
            return value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            pass
        # outside the handler: see errors.py
        raise InvalidArgumentError(f"The {what} is not encodable text (a lone surrogate)")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise InvalidArgumentError(f"The {what} must be str or bytes, got {type(value).__name__}.")


def b64decode(value: Any) -> bytes:
    """Lenient base64 decoding, like PHP's non-strict ``base64_decode``: foreign characters are skipped."""
    raw = _B64_NOISE.sub(b"", to_bytes(value))
    if len(raw) % 4 == 1:
        raw = raw[:-1]
    return base64.b64decode(raw + b"=" * (-len(raw) % 4))


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # outside the handler: see errors.py
    raise DecryptionError("The decrypted plaintext is not UTF-8 text.")
