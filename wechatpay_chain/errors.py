"""Typed errors. None of them ever carries a private key, APIv3 key, APIv2 secret or Sensitive plaintext.

Raised outside the handler: where the package catches an exception and reports it as one of these, it raises
after the ``except`` block, never inside it. A ``raise`` inside a handler sets ``__context__`` to the caught
exception (``from None`` only hides it from the traceback; the object still travels with the error), and the
caught one often holds what must not: a UnicodeEncodeError/UnicodeDecodeError holds the whole value (a body,
a document, a key, a passphrase), an OSError names the path, a parser error quotes the document. So the
handler only records what went wrong (``pass``, or a short reason) and the raise follows it. Comments reading
"outside the handler: see errors.py" point here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from wechatpay_chain.models import Response

__all__ = [
    "WeChatPayError",
    "InvalidArgumentError",
    "DecryptionError",
    "TransportError",
    "VerificationError",
    "ApiError",
    "ClientError",
    "ServerError",
]


class WeChatPayError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidArgumentError(WeChatPayError, ValueError):
    """Bad config, options or key material, raised before any I/O (PHP: InvalidArgumentException)."""


class DecryptionError(WeChatPayError, ValueError):
    """A ciphertext did not decrypt or authenticate (wrong key, tampered data)."""


class TransportError(WeChatPayError):
    """Connect/read failure or timeout; the underlying exception is chained as ``__cause__``.

    ``kind`` says how far the request got: 'connect' (nothing was sent), 'timeout' (no answer in
    time: the service may have acted), 'read' (the answer broke off).
    """

    def __init__(self, message: str, kind: str = "read") -> None:
        super().__init__(message)
        self.kind = kind


class VerificationError(WeChatPayError):
    """A response (or notification) whose signature, timestamp or serial cannot be trusted.

    ``probe``: True when the signature is WeChat Pay's own ``WECHATPAY/SIGNTEST/`` probe, sent on purpose to
    check that the merchant verifies; refusing it is correct (a notification handler answers it with a
    failure). False for every other failure: a forgery, a tampered body, or a setup problem.
    """

    def __init__(self, message: str, response: Optional[Response] = None, *, probe: bool = False) -> None:
        super().__init__(message)
        self.response = response
        self.probe = probe


class ApiError(WeChatPayError):
    """The service answered with an error (HTTP 4xx/5xx, or an APIv2 FAIL)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: Optional[str] = None,
        detail: Any = None,
        request_id: Optional[str] = None,
        response: Optional[Response] = None,
        data: Any = None,
        diagnosis: Optional[str] = None,
    ) -> None:
        text = f"{status_code} {code}: {message}" if code else f"{status_code}: {message}"
        super().__init__(f"{text} ({diagnosis})" if diagnosis else text)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.detail = detail
        self.request_id = request_id
        self.response = response
        self.data = data
        #: for a 401 SIGN_ERROR: which part of our signing string differs from what the service verified
        self.diagnosis = diagnosis


class ClientError(ApiError):
    """HTTP 4xx."""


class ServerError(ApiError):
    """HTTP 5xx."""
