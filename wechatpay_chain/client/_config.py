"""`Builder.factory` configuration, validated once, before any I/O (PHP's `jsonBased`/`xmlBased` checks)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generic, Mapping, Optional, Tuple, TypeVar

from wechatpay_chain import __version__
from wechatpay_chain.crypto._rsa import Rsa, RsaKey
from wechatpay_chain.crypto._symmetric import check_apiv3_key
from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.keys._keyring import PUBLIC_KEY_ID_PREFIX, Keyring
from wechatpay_chain.models import TOKEN, Timeout
from wechatpay_chain.protocol._formatter import Formatter
from wechatpay_chain.protocol._retry import Retry, retry_policy
from wechatpay_chain.protocol._signature import Verifier, keyring_verifier

__all__ = [
    "Config",
    "build_config",
    "Signer",
    "Verifier",
    "Secret",
    "DEFAULT_BASE_URI",
    "DEFAULT_BACKUP_URI",
    "DEFAULT_TIMEOUT",
    "MAX_TIMEOUT",
    "V3_ACCEPT",
    "V3_CONTENT_TYPE",
    "FRAMING_HEADERS",
    "check_header",
    "check_timeout",
    "user_agent",
]

#: message -> base64 signature (PHP README "定制": a remote signing service fits here)
Signer = Callable[[str], str]
# `Verifier`, (message, base64 signature, serial) -> valid?, is protocol.signature's, the one every check uses

DEFAULT_BASE_URI = "https://api.mch.weixin.qq.com/"
#: the official high-availability guide's backup domain: the default `backup_base_uri` for the default `base_uri`
DEFAULT_BACKUP_URI = "https://api2.mch.weixin.qq.com/"
DEFAULT_TIMEOUT: Tuple[float, float] = (10.0, 30.0)
V3_ACCEPT = "application/json, text/plain, application/x-gzip, application/pdf, image/png, image/*;q=0.5"
V3_CONTENT_TYPE = "application/json; charset=utf-8"

_KNOWN = {
    "mchid",
    "serial",
    "privateKey",
    "private_key",
    "certs",
    "base_uri",
    "backup_base_uri",
    "timeout",
    "headers",
    "secret",
    "merchant",
    "apiv3_key",
    "proxies",
    "verify",
    "pool_connections",
    "pool_maxsize",
    "retries",
    "handler",
    "signer",
    "verifier",
    "clock",
    "nonce",
    "session",
    "max_clock_offset",
    "crypto_threads",
    "wechatpay_serial",
}


_APIV3_ITEMS = ("serial", "privateKey", "private_key", "certs", "signer", "verifier")
_TRANSPORT_ITEMS = ("proxies", "verify", "pool_connections", "pool_maxsize", "session")


def user_agent(http: str) -> str:
    import platform

    return (
        f"wechatpay-chain/{__version__} {http} ({platform.system()}/{platform.release()}) "
        f"Python/{platform.python_version()}"
    )


_T = TypeVar("_T")


class Secret(Generic[_T]):
    """A key the config holds (APIv2 secret, APIv3 key, the mTLS key and its passphrase): redacted in repr,
    str and vars() dumps, and never pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: _T) -> None:
        self._value = value

    def reveal(self) -> _T:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("secrets cannot be pickled")

    # immutable: a copy is itself (so dataclasses.asdict and copy.deepcopy show Secret('***'), not the value)
    def __copy__(self) -> Secret[_T]:
        return self

    def __deepcopy__(self, memo: Any) -> Secret[_T]:
        return self


@dataclass(frozen=True)
class Config:
    """What every request needs, parsed once. Never printed with its secrets (repr is redacted)."""

    mchid: str
    serial: str
    private_key: Optional[RsaKey] = field(repr=False)
    certs: Keyring
    signer: Signer = field(repr=False)
    verifier: Verifier = field(repr=False)
    base_uri: str = DEFAULT_BASE_URI
    base_path: str = "/"
    #: where a call goes once when `base_uri` cannot be reached (a `connect` failure), and its path; None: nowhere
    backup_base_uri: Optional[str] = None
    backup_base_path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: Timeout = DEFAULT_TIMEOUT
    clock: Callable[[], int] = Formatter.timestamp
    nonce: Callable[[], str] = Formatter.nonce
    max_clock_offset: int = 300
    secret: Optional[Secret[str]] = field(default=None, repr=False)
    apiv3_key: Optional[Secret[str]] = field(default=None, repr=False)
    #: as given, but `key`, `passphrase` and a (cert, passphrase) pair or PKCS#12 bytes held in a Secret
    merchant: Mapping[str, Any] = field(default_factory=dict, repr=False)
    transport_options: Mapping[str, Any] = field(default_factory=dict)
    handler: Any = None
    custom_verifier: bool = False
    retry: Optional[Retry] = None
    apiv3: bool = True
    crypto_threads: int = 0
    #: the `PUB_KEY_ID_...` every APIv3 request names in `Wechatpay-Serial` (the public-key migration), or ""
    wechatpay_serial: str = ""


def _default_signer(key: Optional[RsaKey]) -> Signer:
    def sign(message: str) -> str:
        if key is None:
            raise InvalidArgumentError("this client has no APIv3 private key")
        return Rsa.sign(message, key)

    return sign


#: a check reads its items from the config and records what they become, as `Config` fields, in the draft
_Draft = Dict[str, Any]
_Check = Callable[[Mapping[str, Any], _Draft], None]

_MISSING_MCHID = "`mchid` (the merchant ID, a numeric string)"
_MISSING_SERIAL = "`serial` (the merchant certificate serial number)"
_MISSING_KEY = "`privateKey` (the merchant private key, e.g. Rsa.from_('file:///path/apiclient_key.pem'))"
_MISSING_CERTS = "`certs` (a non-empty {platform serial or PUB_KEY_ID_: public key/certificate} dict)"


def _raw_key(config: Mapping[str, Any]) -> Any:
    return config.get("privateKey", config.get("private_key"))


def _given_mchid(config: Mapping[str, Any]) -> Any:
    """`mchid` as a str when given as an int (PHP configs often do)."""
    mchid = config.get("mchid")
    return str(mchid) if isinstance(mchid, int) and not isinstance(mchid, bool) else mchid


def _certs_given(config: Mapping[str, Any]) -> bool:
    """A Keyring (which may be empty: the certificate download verifies with what it downloads) or a non-empty dict."""
    certs = config.get("certs")
    return isinstance(certs, Keyring) or bool(isinstance(certs, Mapping) and len(certs))


def _php_placeholders(config: Mapping[str, Any]) -> bool:
    """wechatpay-php's APIv2 set-up: `'certs' => ['any' => null]` (every value None) beside placeholder
    `serial`/`privateKey` ('nop', 'any'), which PHP never uses for APIv2 calls."""
    certs = config.get("certs")
    return isinstance(certs, Mapping) and len(certs) > 0 and all(value is None for value in certs.values())


def _check_secret(config: Mapping[str, Any]) -> Any:
    secret = config.get("secret")
    if isinstance(secret, str) and not secret.strip():
        raise InvalidArgumentError(
            "`secret` (the APIv2 key) is empty: give the 32-character key set in the merchant platform"
        )
    if _php_placeholders(config) and not secret:
        raise InvalidArgumentError(
            f"`certs` ({', '.join(map(str, config['certs']))}) holds no key, only None: that is wechatpay-php's "
            "APIv2 placeholder, which needs a `secret`; for APIv3 give {platform serial or PUB_KEY_ID_: public key}"
        )
    return secret


def _check_required(config: Mapping[str, Any], draft: _Draft) -> None:
    """The items every client needs, reported together; an APIv2-only merchant (`secret` and none of the APIv3
    items, or PHP's placeholders for them) needs only `mchid`, and its APIv3 calls then fail before any I/O."""
    secret = _check_secret(config)
    mchid, serial = _given_mchid(config), config.get("serial")
    missing = [
        item
        for item, absent in (
            (_MISSING_MCHID, not (isinstance(mchid, str) and mchid)),
            (_MISSING_SERIAL, not (isinstance(serial, str) and serial)),
            (_MISSING_KEY, _raw_key(config) is None and config.get("signer") is None),
            (_MISSING_CERTS, not _certs_given(config) and config.get("verifier") is None),
        )
        if absent
    ]
    apiv3 = not (secret and (_php_placeholders(config) or all(config.get(k) is None for k in _APIV3_ITEMS)))
    if not apiv3:
        missing, serial = [item for item in missing[:1] if item == _MISSING_MCHID], ""
    if missing:
        raise InvalidArgumentError("Builder.factory config is missing " + "; ".join(missing))
    draft.update(mchid=mchid, serial=serial, apiv3=apiv3)


def _check_certs(config: Mapping[str, Any], draft: _Draft) -> None:
    """The platform keys, which must not hold the merchant's own serial (a sign of swapped items)."""
    certs, serial = config.get("certs"), draft["serial"]
    if not draft["apiv3"]:  # APIv2 only: PHP's placeholders (or nothing) stand where the APIv3 items go
        certs = None
    if isinstance(certs, Keyring):
        keyring = certs
    elif isinstance(certs, Mapping) and len(certs):
        if serial in certs:
            raise InvalidArgumentError(
                f"certs ({', '.join(certs)}) must not contain the merchant serial {serial}: "
                "`certs` holds the WeChat Pay platform keys, not the merchant's"
            )
        keyring = Keyring(certs)
    else:
        keyring = Keyring()
    if serial in keyring:
        raise InvalidArgumentError(f"certs must not contain the merchant serial {serial}")
    draft["certs"] = keyring


def _check_private_key(config: Mapping[str, Any], draft: _Draft) -> None:
    raw_key, private_key = _raw_key(config), None
    if raw_key is not None and draft["apiv3"]:
        try:
            private_key = Rsa.from_(raw_key, Rsa.KEY_TYPE_PRIVATE)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"privateKey: {exc}") from None
    draft["private_key"] = private_key


def _check_signing(config: Mapping[str, Any], draft: _Draft) -> None:
    """`signer` and `verifier`, each defaulting to the RSA work with the private key and the platform keys."""
    signer, verifier = config.get("signer"), config.get("verifier")
    if signer is not None and not callable(signer):
        raise InvalidArgumentError("`signer` must be a callable(message: str) -> base64 signature")
    if verifier is not None and not callable(verifier):
        raise InvalidArgumentError("`verifier` must be a callable(message, signature, serial) -> bool")
    draft.update(
        signer=signer if signer is not None else _default_signer(draft["private_key"]),
        verifier=verifier if verifier is not None else keyring_verifier(draft["certs"]),
        custom_verifier=verifier is not None,
    )


def _base(base_uri: Any, name: str) -> Tuple[str, str]:
    """(the URL with a trailing slash, its path) of an http(s) URL, which every request path goes under."""
    if not (isinstance(base_uri, str) and base_uri.startswith(("https://", "http://"))):
        raise InvalidArgumentError(f"`{name}` must be an http(s) URL such as https://api.mch.weixin.qq.com/")
    _check_url_parts(base_uri, name)
    if not base_uri.endswith("/"):
        base_uri += "/"
    rest = base_uri.split("://", 1)[1]
    return base_uri, rest[rest.find("/") :] if "/" in rest else "/"


def _check_base_uri(config: Mapping[str, Any], draft: _Draft) -> None:
    """`base_uri`, and `backup_base_uri`: given (None or False: none), else api2 for the default `base_uri` only."""
    base_uri, base_path = _base(config.get("base_uri", DEFAULT_BASE_URI), "base_uri")
    backup: Any = config.get("backup_base_uri") if "backup_base_uri" in config else None
    if "backup_base_uri" not in config and base_uri == DEFAULT_BASE_URI:
        backup = DEFAULT_BACKUP_URI
    backup_path = "/"
    if backup is False or backup is None:
        backup = None
    else:
        backup, backup_path = _base(backup, "backup_base_uri")
        if backup == base_uri:
            raise InvalidArgumentError("`backup_base_uri` is `base_uri` itself: give another host, or None for none")
    draft.update(base_uri=base_uri, base_path=base_path, backup_base_uri=backup, backup_base_path=backup_path)


def _check_timeout(config: Mapping[str, Any], draft: _Draft) -> None:
    timeout = config.get("timeout", DEFAULT_TIMEOUT)
    check_timeout(timeout, "timeout")
    draft["timeout"] = timeout


def _check_headers(config: Mapping[str, Any], draft: _Draft) -> None:
    headers = config.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise InvalidArgumentError("`headers` must be a dict of str to str")
    for name, value in headers.items():
        check_header(name, value)
    draft["headers"] = dict(headers)


def _check_callables(config: Mapping[str, Any], draft: _Draft) -> None:
    """The `clock` and `nonce` hooks (defaulting to the real ones) and the test `handler` that replaces the network."""
    for name in ("clock", "nonce"):
        if config.get(name) is not None and not callable(config[name]):
            raise InvalidArgumentError(f"`{name}` must be a callable taking no arguments")
    handler = config.get("handler")
    if handler is not None and not callable(handler) and not callable(getattr(handler, "send", None)):
        raise InvalidArgumentError("`handler` must be a callable(request) -> Response, or have send(request)")
    draft.update(
        clock=config.get("clock") or Formatter.timestamp, nonce=config.get("nonce") or Formatter.nonce, handler=handler
    )


def _check_proxies(config: Mapping[str, Any], draft: _Draft) -> None:
    proxies = config.get("proxies")
    if proxies is not None and not (
        isinstance(proxies, Mapping)
        and all(isinstance(k, str) and isinstance(v, (str, type(None))) for k, v in proxies.items())
    ):
        raise InvalidArgumentError("`proxies` must be a dict like {'https': 'http://proxy:3128'}")


def _check_session(config: Mapping[str, Any], draft: _Draft) -> None:
    """A requests.Session to send through; it and the other transport items reach the transport as given."""
    session = config.get("session")
    if session is not None and not callable(getattr(session, "get_adapter", None)):
        raise InvalidArgumentError("`session` must be a requests.Session")
    draft["transport_options"] = {k: config[k] for k in _TRANSPORT_ITEMS if k in config}


def _check_merchant(config: Mapping[str, Any], draft: _Draft) -> None:
    merchant = config.get("merchant") or {}
    if not isinstance(merchant, Mapping):
        raise InvalidArgumentError("`merchant` must be a dict like {'cert': ..., 'key': ...}")
    draft["merchant"] = _hide_merchant(merchant)


def _check_keys(config: Mapping[str, Any], draft: _Draft) -> None:
    """The APIv2 `secret` and the APIv3 key, both held in a Secret; an empty one counts as not given."""
    for name in ("secret", "apiv3_key"):
        value = config.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidArgumentError(f"`{name}` must be a str")
    if config.get("apiv3_key") is not None:
        check_apiv3_key(config["apiv3_key"])
    draft.update({name: Secret(config[name]) if config.get(name) else None for name in ("secret", "apiv3_key")})


def _check_mchid(config: Mapping[str, Any], draft: _Draft) -> None:
    """Digits only: the mchid goes into the Authorization header (an APIv2-only merchant's is not checked)."""
    if draft["apiv3"] and not _MCHID.fullmatch(draft["mchid"]):
        raise InvalidArgumentError("`mchid` must be the merchant ID, a numeric string")


def _check_serial(config: Mapping[str, Any], draft: _Draft) -> None:
    serial = draft["serial"]
    if serial and not _SERIAL.fullmatch(serial):
        raise InvalidArgumentError("`serial` must be the merchant certificate serial number (hex digits)")


def _check_crypto_threads(config: Mapping[str, Any], draft: _Draft) -> None:
    threads = config.get("crypto_threads", 0)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
        raise InvalidArgumentError("`crypto_threads` must be an int >= 0 (0 runs the RSA work on the event loop)")
    draft["crypto_threads"] = threads


def _check_clock_offset(config: Mapping[str, Any], draft: _Draft) -> None:
    offset = config.get("max_clock_offset", 300)
    if not isinstance(offset, int) or offset < 0:
        raise InvalidArgumentError("`max_clock_offset` must be a non-negative int (seconds)")
    draft["max_clock_offset"] = offset


def _check_wechatpay_serial(config: Mapping[str, Any], draft: _Draft) -> None:
    """The WeChat Pay public key every APIv3 request names in `Wechatpay-Serial`, so that the service signs its
    answers with it: the one `PUB_KEY_ID_...` in `certs`, or, with several, the one `wechatpay_serial` names."""
    given = config.get("wechatpay_serial")
    ids = [serial for serial in draft["certs"] if serial.startswith(PUBLIC_KEY_ID_PREFIX)] if draft["apiv3"] else []
    if given is None:
        if len(ids) > 1:
            raise InvalidArgumentError(
                f"certs hold several WeChat Pay public keys ({', '.join(ids)}): name the one every request sends "
                "in Wechatpay-Serial with `wechatpay_serial`"
            )
        draft["wechatpay_serial"] = ids[0] if ids else ""
        return
    if not (isinstance(given, str) and given in ids):
        raise InvalidArgumentError(
            f"`wechatpay_serial` must be the id of a WeChat Pay public key in `certs` ({', '.join(ids) or 'none'})"
        )
    draft["wechatpay_serial"] = given


def _check_retries(config: Mapping[str, Any], draft: _Draft) -> None:
    draft["retry"] = retry_policy(config.get("retries"))


#: run in this order, so that of several problems the first one here is the one reported
_CHECKS: Tuple[_Check, ...] = (
    _check_required,
    _check_certs,
    _check_private_key,
    _check_signing,
    _check_base_uri,
    _check_timeout,
    _check_headers,
    _check_callables,
    _check_proxies,
    _check_session,
    _check_merchant,
    _check_keys,
    _check_mchid,
    _check_serial,
    _check_crypto_threads,
    _check_clock_offset,
    _check_retries,
    _check_wechatpay_serial,
)


def build_config(config: Mapping[str, Any]) -> Config:
    """Validate a PHP-style config dict; every problem is an InvalidArgumentError naming the item."""
    if not isinstance(config, Mapping):
        raise InvalidArgumentError("Builder.factory takes a config dict")
    unknown = sorted(set(config) - _KNOWN)
    if unknown:
        raise InvalidArgumentError(f"unknown config key(s): {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN))}")
    draft: _Draft = {}
    for check in _CHECKS:
        check(config, draft)
    return Config(**draft)


def _hide_merchant(merchant: Mapping[str, Any]) -> Dict[str, Any]:
    """The mTLS material with its secrets wrapped (unwrapped only where the key files are made,
    `keys._mtls.merchant_cert`):
    the key and the passphrase; `cert` too when it is a (cert, passphrase) pair or PKCS#12 bytes (they hold the key)."""
    out: Dict[str, Any] = {}
    for name, value in merchant.items():
        secret = name in ("key", "passphrase") or (
            name == "cert"
            and (
                isinstance(value, (list, tuple))
                or (isinstance(value, (bytes, bytearray, memoryview)) and b"-----BEGIN" not in bytes(value))
            )
        )
        out[name] = Secret(value) if secret and value is not None and not isinstance(value, Secret) else value
    return out


#: headers the transport sets from the body it sends; given by a caller they would contradict it (a
#: Content-Length shorter than the body truncates what the service receives, and what it verifies)
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})


_MCHID = re.compile(r"[0-9]{1,32}")
_SERIAL = re.compile(r"[0-9A-Za-z_\-]{1,128}")


def check_header(name: Any, value: Any) -> None:
    """A header a caller may give, which both transports send alike: not one that frames the body (the
    transport's), a token name, and a one-line ASCII value (requests writes a value as Latin-1 and aiohttp as
    UTF-8, so any other character would reach the service as different bytes from `post` and `post_async`)."""
    if isinstance(name, str) and name.lower() in FRAMING_HEADERS:
        raise InvalidArgumentError(
            f"header {name!r} is the transport's to set: it frames the body it sends (give the body only)"
        )
    text = str(value)
    if not (isinstance(name, str) and TOKEN.fullmatch(name)) or "\r" in text or "\n" in text or "\0" in text:
        raise InvalidArgumentError(f"header {str(name)[:40]!r}: a name must be a token and a value one line")
    if not text.isascii():
        raise InvalidArgumentError(
            f"header {name[:40]!r}: the value is not ASCII text (requests would send it as Latin-1, aiohttp as "
            "UTF-8); percent-encode it"
        )


def _check_url_parts(base_uri: str, name: str = "base_uri") -> None:
    """A scheme, a host and an optional port and path: a query or fragment would go in front of every path."""
    from urllib.parse import urlsplit

    problem = ""
    try:
        parts = urlsplit(base_uri)
        if not parts.hostname:
            problem = "it has no host"
        elif parts.query or parts.fragment or "?" in base_uri or "#" in base_uri:
            problem = "it has a query or fragment (paths are appended to it)"
        else:
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError:
        problem = "its host or port does not parse"
    if problem:
        raise InvalidArgumentError(f"`{name}` {base_uri[:80]!r}: {problem}")


#: a day: more is a mistake (and sockets refuse timeouts beyond a few hundred million seconds)
MAX_TIMEOUT = 86_400.0


def _seconds(t: Any) -> bool:
    return isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t <= MAX_TIMEOUT


def check_timeout(timeout: Any, name: str) -> None:
    ok = _seconds(timeout) or (isinstance(timeout, tuple) and len(timeout) == 2 and all(map(_seconds, timeout)))
    if not ok:
        raise InvalidArgumentError(
            f"`{name}` must be seconds (0 < s <= {MAX_TIMEOUT:g}) or a (connect, read) pair; None would hang forever"
        )
