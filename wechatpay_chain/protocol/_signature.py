"""The one check of a WeChat Pay signature, on an APIv3 response or a notification. Pure: no I/O, no clock.

WeChat Pay signs `TIMESTAMP\\nNONCE\\nBODY\\n` (`Formatter.response`) with RSA-SHA256 under the platform key
its `Wechatpay-Serial` names. `verify_signature` checks the four `Wechatpay-*` values are there, the signature
is not a `WECHATPAY/SIGNTEST/` probe (`VerificationError.probe`), the timestamp is a unix timestamp within
`max_skew` of `now`, the serial is a trusted one, and the signature; it raises `VerificationError` for the first
that fails.
PHP's `ClientJsonTrait::verifier` and README "回调通知" steps 1-4; every verifying caller here goes through it
(`protocol._v3.verify_v3`, `notify.verify_notification`, `keys._certificates.verify_download`, the doctor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional, Protocol, Union

from wechatpay_chain.crypto._rsa import Rsa
from wechatpay_chain.errors import InvalidArgumentError, VerificationError
from wechatpay_chain.protocol._formatter import Formatter

if TYPE_CHECKING:  # pragma: no cover - only a type here
    from wechatpay_chain.models import Response

__all__ = [
    "NONCE",
    "SERIAL",
    "SIGNATURE",
    "TIMESTAMP",
    "SIGNED_HEADERS",
    "PROBE_PREFIX",
    "MAX_TIMESTAMP_DIGITS",
    "KeyLookup",
    "Signed",
    "UnknownSerialError",
    "Verifier",
    "keyring_verifier",
    "probe_message",
    "verify_signature",
]

NONCE, SERIAL, SIGNATURE, TIMESTAMP = (
    "Wechatpay-Nonce",
    "Wechatpay-Serial",
    "Wechatpay-Signature",
    "Wechatpay-Timestamp",
)
SIGNED_HEADERS = (NONCE, SERIAL, SIGNATURE, TIMESTAMP)
#: WeChat Pay's probe: a response or notification whose signature starts so is forged on purpose, and must be
#: refused (`VerificationError.probe`); checked before the serial, so a probe never triggers a certificate refresh
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
#: a unix timestamp in seconds has 10 digits; more would only be a way to make `int()` slow or fail
MAX_TIMESTAMP_DIGITS = 12
#: what an answer signed by a WeChat Pay public key nobody configured needs (or it is not your merchant's)
_PUBLIC_KEY_HINT = (
    "; if it is your merchant's WeChat Pay public key (merchant platform: API security), configure it: "
    "certs={'PUB_KEY_ID_...': Rsa.from_('file:///path/pub_key.pem', Rsa.KEY_TYPE_PUBLIC)}"
)
#: how many trusted serials a "not a known platform serial" message lists
_LISTED = 8

#: (message, base64 signature, serial) -> valid?
Verifier = Callable[[str, str, str], bool]


class KeyLookup(Protocol):
    """The trusted platform keys by serial: a `Keyring` fits (`get(serial)` is None for an unknown one)."""

    def get(self, serial: str) -> Optional[Any]: ...

    def __iter__(self) -> Iterator[str]: ...


class UnknownSerialError(VerificationError):
    """The signature names a serial that is not a trusted platform key (``serial``: the one named, cut to 64)."""

    def __init__(self, message: str, serial: str, response: Optional[Response] = None) -> None:
        super().__init__(message, response)
        self.serial = serial


@dataclass(frozen=True)
class Signed:
    """What `verify_signature` checked: the four values and the signing string they were verified over."""

    nonce: str
    serial: str
    signature: str
    timestamp: str
    message: str


def keyring_verifier(keys: KeyLookup) -> Verifier:
    """The default verifier: RSA-SHA256 under `keys.get(serial)`; False for an unknown serial or any bad input."""

    def verify(message: str, signature: str, serial: str) -> bool:
        key = keys.get(serial)
        if key is None:
            return False
        try:
            return Rsa.verify(message, signature, key)
        except InvalidArgumentError:  # a message that is not encodable text (a lone surrogate) verifies nothing
            return False

    return verify


def probe_message(subject: str = "response") -> str:
    """What a `VerificationError` with ``probe=True`` says: not a forgery nor a setup bug, and refusing it is right."""
    return (
        f"{subject} refused: its {SIGNATURE} is a WeChat Pay signature probe ({PROBE_PREFIX}...), sent on purpose "
        "to check that signatures are verified; refusing it is correct (answer a notification probe with a failure)"
    )


def _known(keys: KeyLookup) -> str:
    serials = list(keys)
    shown = ", ".join(s[:64] for s in serials[:_LISTED])
    return shown + (f", ... ({len(serials)} in all)" if len(serials) > _LISTED else "")


def _check_timestamp(timestamp: str, now: float, max_skew: int, response: Optional[Response]) -> None:
    # int() would also take '+1', ' 1', '1_0', '١' and, for thousands of digits, be slow or raise ValueError
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > MAX_TIMESTAMP_DIGITS:
        raise VerificationError(f"{TIMESTAMP} {timestamp[:32]!r} is not a unix timestamp", response)
    ts = int(timestamp)
    offset = ts - now
    if abs(offset) > max_skew:
        raise VerificationError(
            f"{TIMESTAMP} {ts} is {offset:+.0f}s from local time, beyond ±{max_skew}s "
            "(check the clock, or this is a replay)",
            response,
        )


def verify_signature(
    headers: Mapping[str, Any],
    body: Union[str, bytes],
    *,
    now: float,
    max_skew: int = 300,
    keys: Optional[KeyLookup] = None,
    verifier: Optional[Verifier] = None,
    subject: str = "response",
    response: Optional[Response] = None,
    advice: str = "",
) -> Signed:
    """Verify a WeChat Pay signature over `Formatter.response(timestamp, nonce, body)`; raise VerificationError.

    ``headers``: a mapping holding ``Wechatpay-Nonce``, ``-Serial``, ``-Signature`` and ``-Timestamp`` (as named
    here: a case-insensitive one, or canonical names); ``body``: the exact text (or bytes) that was signed.
    ``now``: the current unix time; the timestamp must be within ``max_skew`` seconds of it, either way.
    ``keys``: the trusted keys; the serial must be one of them. ``verifier``: checks (message, signature,
    serial); without it, RSA-SHA256 under ``keys``. A custom verifier alone (``keys=None``) is trusted to know
    its serials. ``subject`` names what is verified in the messages; ``response`` rides on the errors;
    ``advice`` ends the message of a signature that does not verify (what the caller most likely did wrong).
    """
    if verifier is None:
        if keys is None:
            raise InvalidArgumentError("verify_signature needs the trusted `keys`, a `verifier`, or both")
        verifier = keyring_verifier(keys)
    absent = [name for name in SIGNED_HEADERS if not headers.get(name)]
    if absent:
        raise VerificationError(f"{subject} is not signed: missing header(s) {', '.join(absent)}", response)
    nonce, serial, signature, timestamp = (str(headers[name]) for name in SIGNED_HEADERS)
    if signature.startswith(PROBE_PREFIX):  # first: a probe is a probe whatever its serial or timestamp
        raise VerificationError(probe_message(subject), response, probe=True)
    _check_timestamp(timestamp, now, max_skew, response)
    if keys is not None and keys.get(serial) is None:
        raise UnknownSerialError(
            f"{SERIAL} {serial[:64]!r} is not a known platform serial ({_known(keys) or 'none held'})"
            + (_PUBLIC_KEY_HINT if serial.startswith("PUB_KEY_ID_") else ""),
            serial[:64],
            response,
        )
    message = Formatter.response(timestamp, nonce, body)
    if not verifier(message, signature, serial):
        raise VerificationError(f"{SIGNATURE} does not verify with platform key {serial[:64]}{advice}", response)
    return Signed(nonce, serial, signature, timestamp, message)
