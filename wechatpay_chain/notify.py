"""Payment callbacks: verify and decrypt APIv3 notifications, verify APIv2 ones (PHP README "回调通知").

PHP leaves the steps to the merchant (README.md "回调通知", README_APIv2.md "v2回调通知"); here each is
one pure call that either returns the trusted, decrypted notification or raises a typed error.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import threading
import time
from collections import OrderedDict
from typing import (
    Any,
    Awaitable,
    Callable,
    ClassVar,
    Dict,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Optional,
    Protocol,
    Tuple,
    Union,
)

from wechatpay_chain.crypto._rsa import RsaKey
from wechatpay_chain.crypto._symmetric import WRONG_APIV3_KEY, AesEcb, AesGcm, Hash, check_apiv3_key
from wechatpay_chain.errors import DecryptionError, InvalidArgumentError, VerificationError
from wechatpay_chain.keys._keyring import Keyring
from wechatpay_chain.models import KeyUsage
from wechatpay_chain.protocol._signature import NONCE, SERIAL, SIGNATURE, TIMESTAMP, verify_signature
from wechatpay_chain.protocol._transformer import Transformer
from wechatpay_chain.protocol.v2 import sign_type_of, sign_v2

__all__ = [
    "parse_notification",
    "parse_notification_async",
    "parse_notification_v2",
    "verify_notification",
    "collect_headers",
    "ReplayGuard",
    "ReplayCheck",
    "AsyncReplayCheck",
    "Headers",
    "Body",
    "SIGNATURE_TYPE",
    "SIGNATURE_TYPE_RSA",
    "AEAD_AES_256_GCM",
]

SIGNATURE_TYPE = "Wechatpay-Signature-Type"
SIGNATURE_TYPE_RSA = "WECHATPAY2-SHA256-RSA2048"
AEAD_AES_256_GCM = "AEAD_AES_256_GCM"
_WANTED = (NONCE, SERIAL, SIGNATURE, TIMESTAMP, SIGNATURE_TYPE)
_NORMALISED = {name.lower(): name for name in _WANTED}

Headers = Any  # any mapping-like header object, WSGI environ, or iterable of (name, value) pairs
Body = Union[bytes, bytearray, memoryview, str]


class ReplayCheck(Protocol):
    """The replay-guard protocol: anything with ``check_and_remember(key, now) -> bool`` fits."""

    def check_and_remember(self, key: str, now: float) -> bool: ...


class AsyncReplayCheck(Protocol):
    """The asynchronous replay-guard protocol (`parse_notification_async` awaits it)."""

    def check_and_remember(self, key: str, now: float) -> Awaitable[bool]: ...


class ReplayGuard:
    """Remembers verified notifications (id + nonce) for ``window`` seconds and refuses them a second time.

    Python addition (PHP has none). The default store is an in-process, insertion-ordered dict bounded
    by ``max_entries``; pass any ``MutableMapping[str, float]`` (key -> expiry time), e.g. one backed by
    Redis or a database, to share the memory between processes; such a store must drop expired keys itself
    (a Redis TTL, say), as only the default one is purged here. A retry by WeChat Pay carries a fresh nonce and
    is not a replay. `parse_notification` keeps each key at least until its timestamp stops passing the clock
    check (timestamp + ``max_skew``), whatever ``window`` is; a store of your own that implements
    `check_and_remember(key, now)` itself needs ``window >= 2 * max_skew`` for the same guarantee.
    """

    __slots__ = ("_store", "_own", "window", "max_entries", "_lock")
    #: `parse_notification` passes `until`: a guard of your own whose `check_and_remember` takes it may say so too
    takes_until: ClassVar[bool] = True

    def __init__(
        self, store: Optional[MutableMapping[str, float]] = None, window: int = 300, *, max_entries: int = 100_000
    ) -> None:
        if window <= 0 or max_entries <= 0:
            raise InvalidArgumentError("ReplayGuard: window and max_entries must be positive")
        self._own = store is None
        self._store: MutableMapping[str, float] = OrderedDict() if store is None else store
        self.window = window
        self.max_entries = max_entries
        self._lock = threading.Lock()

    def check_and_remember(self, key: str, now: float, until: Optional[float] = None) -> bool:
        """True the first time ``key`` is seen within the window (and remember it); False for a replay.

        ``until``: remember it at least that long (`parse_notification` passes the time its timestamp stops
        passing the clock check: a shorter memory would let a replay through while the check still accepts).
        """
        with self._lock:
            store = self._store
            if self._own:
                self._purge(now)
            expiry = store.get(key)
            if expiry is not None and expiry >= now:
                return False
            if expiry is not None:
                del store[key]  # re-inserted at the end, keeping the default store (mostly) ordered by expiry
            store[key] = now + self.window if until is None else max(now + self.window, until)
            return True

    def _purge(self, now: float) -> None:
        store = self._store
        assert isinstance(store, OrderedDict)
        while store:
            key, expiry = next(iter(store.items()))
            if expiry >= now and len(store) < self.max_entries:
                break
            store.popitem(last=False)

    def __len__(self) -> int:
        return len(self._store)

    def __repr__(self) -> str:
        return f"<ReplayGuard window={self.window}s entries={len(self._store)}>"


def _pairs(headers: Headers) -> Iterable[Tuple[Any, Any]]:
    items = getattr(headers, "items", None)
    if callable(items):
        # Werkzeug/Starlette/aiohttp/Django objects and dicts; multi-dicts list repeated names.
        return items()  # type: ignore[no-any-return]
    if isinstance(headers, (list, tuple)):
        return headers
    raise InvalidArgumentError(
        f"headers must be a mapping, a WSGI environ or (name, value) pairs, not {type(headers).__name__}"
    )


def _text(value: Any) -> Optional[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return None


def collect_headers(headers: Headers) -> Dict[str, str]:
    """The ``Wechatpay-*`` headers, case-insensitively, from any header container or a WSGI environ.

    ``HTTP_WECHATPAY_NONCE`` (WSGI, Django ``request.META``) and ``wechatpay-nonce`` both map to
    ``Wechatpay-Nonce``. One name given twice with different values is refused as ambiguous.
    """
    found: Dict[str, str] = {}
    for raw_name, raw_value in _pairs(headers):
        name, value = _text(raw_name), _text(raw_value)
        if name is None or value is None:
            continue  # WSGI environ also holds wsgi.input, wsgi.errors, ...
        if name[:5] == "HTTP_":
            name = name[5:]
        canonical = _NORMALISED.get(name.replace("_", "-").lower())
        if canonical is None:
            continue
        value = value.strip()
        if canonical in found and found[canonical] != value:
            raise VerificationError(f"notification header {canonical} is given twice with different values")
        found[canonical] = value
    return found


@functools.lru_cache(maxsize=64)
def _public_key(serial: str, thing: Union[str, bytes]) -> Optional[RsaKey]:
    return Keyring({serial: thing}).get(serial)


class _PlatformKeys:
    """`certs` (a Keyring, or a dict {serial: key, certificate or PEM}) as the signature check looks keys up:
    only the serial asked for is loaded, and public PEM text is parsed once, not per callback."""

    __slots__ = ("_certs",)

    def __init__(self, certs: Any) -> None:
        if not isinstance(certs, (Keyring, Mapping)):
            raise InvalidArgumentError("certs must be a dict {serial: key, certificate or PEM} or a Keyring")
        self._certs = certs

    def get(self, serial: str) -> Optional[RsaKey]:
        certs = self._certs
        if isinstance(certs, Keyring):
            return certs.get(serial)
        thing = certs.get(serial)
        if thing is None:
            return None
        if isinstance(thing, (str, bytes)):
            return _public_key(serial, thing)
        return Keyring({serial: thing}).get(serial)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._certs))


def _to_body(body: Body) -> bytes:
    if isinstance(body, str):
        try:
            return body.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            pass  # raised below, outside the handler: the UnicodeEncodeError holds the whole body
        raise VerificationError("the notification body is not text that can be verified")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise InvalidArgumentError(f"body must be the raw request body as bytes or str, not {type(body).__name__}")


def verify_notification(
    headers: Headers, body: Body, *, certs: Any, max_skew: int = 300, now: Optional[float] = None
) -> Tuple[Dict[str, str], bytes]:
    """Step 1-4 of PHP's README "回调通知": headers present, timestamp in window, known serial, RSA valid."""
    raw = _to_body(body)
    h = collect_headers(headers)
    sig_type = h.get(SIGNATURE_TYPE)
    if sig_type and sig_type != SIGNATURE_TYPE_RSA:
        raise VerificationError(f"{SIGNATURE_TYPE} {sig_type[:40]!r} is not supported (only {SIGNATURE_TYPE_RSA})")
    verify_signature(
        h,
        raw,
        now=time.time() if now is None else now,
        max_skew=max_skew,
        keys=_PlatformKeys(certs),
        subject="notification",
        advice=(
            ": pass the raw request body exactly as received (bytes, or the str of them), not a dict parsed from it "
            "and dumped again, nor text a framework re-encoded"
        ),
    )
    return h, raw


def _decrypt_resource(resource: Any, apiv3_key: Union[str, bytes]) -> Any:
    if not isinstance(resource, Mapping):
        raise VerificationError("notification has no `resource` object to decrypt")
    algorithm = resource.get("algorithm", AEAD_AES_256_GCM)
    if algorithm != AEAD_AES_256_GCM:
        raise DecryptionError(f"resource algorithm {str(algorithm)[:32]!r} is not supported ({AEAD_AES_256_GCM})")
    ciphertext, nonce = resource.get("ciphertext"), resource.get("nonce")
    aad = resource.get("associated_data") or ""
    if not isinstance(ciphertext, str) or not isinstance(nonce, str) or not nonce or not isinstance(aad, str):
        raise VerificationError("notification `resource` lacks ciphertext/nonce strings")
    try:
        plaintext = AesGcm.decrypt(ciphertext, apiv3_key, nonce, aad)
    except DecryptionError:
        raise DecryptionError(
            f"the notification's resource does not decrypt with the APIv3 key: {WRONG_APIV3_KEY}; it is "
            "parse_notification's `apiv3_key` (the config's `apiv3_key`, WECHATPAY_APIV3_KEY for the CLI)"
        ) from None
    try:
        return json.loads(plaintext)
    except ValueError:
        raise DecryptionError("the decrypted resource is not JSON") from None


def _verified(
    headers: Headers, body: Body, certs: Any, apiv3_key: Union[str, bytes], max_skew: int, now: float
) -> Tuple[Dict[str, str], bytes, Dict[str, Any], Any]:
    """Steps 1-5: (headers, raw body, the notification, its decrypted resource)."""
    check_apiv3_key(apiv3_key, "apiv3_key")
    h, raw = verify_notification(headers, body, certs=certs, max_skew=max_skew, now=now)
    try:
        notification = json.loads(raw)
    except ValueError:
        raise VerificationError("notification body is not JSON") from None
    if not isinstance(notification, dict):
        raise VerificationError("notification body is not a JSON object")
    return h, raw, notification, _decrypt_resource(notification.get("resource"), apiv3_key)


def _replay_key(notification: Dict[str, Any], raw: bytes, h: Dict[str, str]) -> Tuple[str, str]:
    """(the notification's id, the key a replay guard remembers: `id|nonce`)."""
    ident = notification.get("id")
    if not isinstance(ident, str) or not ident:
        ident = "sha256:" + hashlib.sha256(raw).hexdigest()
    return ident, f"{ident}|{h[NONCE]}"


def _ask(guard: Any, key: str, now: float, h: Dict[str, str], max_skew: int) -> Any:
    """The guard's answer (a bool, or an awaitable one); remembered while its timestamp still passes the clock
    check, for a guard that takes `until` (ReplayGuard and the Redis guards)."""
    if getattr(guard, "takes_until", False) is True:  # ReplayGuard and the Redis guards say so
        return guard.check_and_remember(key, now, until=int(h[TIMESTAMP]) + max_skew)
    return guard.check_and_remember(key, now)


def _finish(
    notification: Dict[str, Any], resource: Any, h: Dict[str, str], ident: str, fresh: Any, key_usage: Any
) -> Dict[str, Any]:
    if not fresh:
        raise VerificationError(f"notification {ident[:72]!r} was already received (replay)")
    if key_usage is not None:  # e.g. client.get_driver().usage: notifications counted beside answers
        key_usage.record(h[SERIAL])
    out = dict(notification)
    out["resource"] = resource
    return out


def parse_notification(
    headers: Headers,
    body: Body,
    *,
    certs: Any,
    apiv3_key: Union[str, bytes],
    max_skew: int = 300,
    now: Optional[float] = None,
    replay_guard: Optional[ReplayCheck] = None,
    key_usage: Optional[KeyUsage] = None,
) -> Dict[str, Any]:
    """Verify an APIv3 notification and return it with ``resource`` decrypted to a dict (PHP README "回调通知").

    ``headers``: any header object or a WSGI environ; ``body``: the exact raw request body.
    ``certs``: ``{serial: key, certificate or PEM}`` or a ``Keyring``. Raises ``VerificationError``
    (missing headers, skew, unknown serial, bad signature, replay, malformed body) or
    ``DecryptionError`` (wrong APIv3 key, tampered ciphertext); never returns a partial result.
    ``key_usage``: a ``KeyUsage`` (``client.get_driver().usage``) that counts the key id that signed it.
    ``replay_guard``: a ``ReplayGuard``, a ``wechatpay_chain.redis.RedisReplayGuard`` or any ``ReplayCheck``; an
    asynchronous one (``AsyncRedisReplayGuard``) is refused here: use `parse_notification_async`.
    """
    current = time.time() if now is None else now
    h, raw, notification, resource = _verified(headers, body, certs, apiv3_key, max_skew, current)
    ident, fresh = "", True
    if replay_guard is not None:
        ident, key = _replay_key(notification, raw, h)
        fresh = _ask(replay_guard, key, current, h, max_skew)
        if inspect.isawaitable(fresh):
            if inspect.iscoroutine(fresh):
                fresh.close()  # never awaited: no "coroutine was never awaited" warning
            raise InvalidArgumentError(
                f"replay_guard {type(replay_guard).__name__} is asynchronous: call parse_notification_async"
            )
    return _finish(notification, resource, h, ident, fresh, key_usage)


async def parse_notification_async(
    headers: Headers,
    body: Body,
    *,
    certs: Any,
    apiv3_key: Union[str, bytes],
    max_skew: int = 300,
    now: Optional[float] = None,
    replay_guard: Optional[Union[ReplayCheck, AsyncReplayCheck]] = None,
    key_usage: Optional[KeyUsage] = None,
) -> Dict[str, Any]:
    """`parse_notification` for asyncio services: the same checks and result; the replay guard is awaited when it is
    asynchronous (``wechatpay_chain.redis.AsyncRedisReplayGuard``), so the event loop never blocks on it.
    A synchronous guard (``ReplayGuard``) works too."""
    current = time.time() if now is None else now
    h, raw, notification, resource = _verified(headers, body, certs, apiv3_key, max_skew, current)
    ident, fresh = "", True
    if replay_guard is not None:
        ident, key = _replay_key(notification, raw, h)
        fresh = _ask(replay_guard, key, current, h, max_skew)
        if inspect.isawaitable(fresh):
            fresh = await fresh
    return _finish(notification, resource, h, ident, fresh, key_usage)


def _v2_fields(xml: Union[str, bytes], what: str, error: Callable[[str], Exception]) -> Dict[str, Any]:
    try:
        data = Transformer.to_array(xml)
    except InvalidArgumentError:
        raise error(f"{what} is not valid XML") from None
    if not isinstance(data, dict) or not data:
        raise error(f"{what} holds no fields")
    return data


#: The fields of an APIv2 refund notification, which has no `sign` (its `req_info` is the proof).
_V2_REFUND_ENVELOPE = frozenset({"return_code", "return_msg", "appid", "mch_id", "nonce_str", "req_info"})


def parse_notification_v2(xml: Union[str, bytes, bytearray], *, secret: str) -> Dict[str, Any]:
    """Verify an APIv2 XML notification (PHP README_APIv2 "v2回调通知"); decrypt a refund ``req_info``.

    ``sign`` is checked in constant time (MD5, or HMAC-SHA256 per ``sign_type`` or a 64-digit sign).
    Refund notifications carry no ``sign``: their ``req_info`` (AES-256-ECB, key md5(secret)) is what
    proves them, and it is returned parsed in place of the ciphertext. Without a ``sign`` only the refund
    envelope (``return_code``, ``return_msg``, ``appid``, ``mch_id``, ``nonce_str``) may surround it: a
    document with any other field is refused, since nothing would vouch for it. Trust the decrypted
    ``req_info``, not the envelope. A document with neither ``sign`` nor ``req_info`` is refused.
    """
    if not isinstance(secret, str) or not secret:
        raise InvalidArgumentError("secret must be the APIv2 key (a non-empty str)")
    if isinstance(xml, bytearray):
        xml = bytes(xml)
    if not isinstance(xml, (str, bytes)):
        raise InvalidArgumentError(f"xml must be the raw request body as bytes or str, not {type(xml).__name__}")
    data = _v2_fields(xml, "notification body", VerificationError)
    sign, req_info = data.get("sign"), data.get("req_info")
    if sign is None and req_info is None:
        raise VerificationError("APIv2 notification is not signed: neither `sign` nor `req_info` is present")
    if sign is None:
        # Only req_info is authenticated (by decrypting under md5(secret)); nothing vouches for the fields
        # around it. A refund notification carries only its envelope there, so anything more (a
        # `result_code`, `total_fee`, `out_trade_no`...) is refused, not returned as if it were verified.
        extra = sorted(set(data) - _V2_REFUND_ENVELOPE)
        if extra:
            raise VerificationError(
                "APIv2 notification has no `sign`, and outside `req_info` only the refund envelope "
                f"({', '.join(sorted(_V2_REFUND_ENVELOPE))}) may be unsigned; it also has: "
                + ", ".join(name[:32] for name in extra[:8])
            )
    if sign is not None:
        if not isinstance(sign, str):
            raise VerificationError("APIv2 notification `sign` is not a string")
        algorithm = sign_type_of(data, sign)
        if not Hash.equals(sign_v2(data, secret, algorithm), sign):
            raise VerificationError(f"APIv2 notification `sign` does not verify ({algorithm})")
    if req_info is not None:
        if not isinstance(req_info, str) or not req_info:
            raise VerificationError("APIv2 notification `req_info` is not a ciphertext string")
        plaintext = AesEcb.decrypt(req_info, Hash.md5(secret))
        data = dict(data)
        data["req_info"] = _v2_fields(plaintext, "decrypted req_info (wrong secret?)", DecryptionError)
    return data
