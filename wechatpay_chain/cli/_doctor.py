"""`wechatpay-chain doctor`: a checklist of the merchant's keys, key mode, clock and APIv3 key.

Local checks first (files, key pairs, validity), then one signed GET v3/certificates that measures the
rest: is our signature accepted, how far is our clock, do answers verify, does the APIv3 key decrypt.
"""

from __future__ import annotations

import argparse
import codecs
import sys
import time
from email.utils import parsedate_to_datetime
from typing import Any, Dict, List, Optional, TextIO, Tuple

from wechatpay_chain.cli._tools import ENV_HELP, fetch, load_settings, one_line, say
from wechatpay_chain.client._config import DEFAULT_BASE_URI, Config, build_config
from wechatpay_chain.crypto._pem import Certificate, PemUtil
from wechatpay_chain.crypto._rsa import Rsa
from wechatpay_chain.errors import (
    DecryptionError,
    InvalidArgumentError,
    TransportError,
    VerificationError,
    WeChatPayError,
)
from wechatpay_chain.keys._certificates import decrypt_certificates
from wechatpay_chain.keys._keyring import PUBLIC_KEY_ID_PREFIX, Keyring
from wechatpay_chain.protocol._signature import UnknownSerialError, verify_signature
from wechatpay_chain.protocol._v3 import prepare_v3

__all__ = ["add_doctor", "cmd_doctor", "Checklist", "DOCTOR_EXIT"]

DOCTOR_EXIT = "exit codes: 0 every check passed (warnings, skips allowed); 1 a check failed; 2 no usable config"
#: the settings that say which merchant this is: with none of them there is nothing to check (exit 2)
_IDENTITY = ("mchid", "serial", "private_key")


def add_doctor(parser: argparse.ArgumentParser) -> None:
    parser.epilog = f"{DOCTOR_EXIT}. {ENV_HELP}."
    parser.add_argument("--config", metavar="FILE", help="credentials file (TOML or INI); default: environment")
    parser.add_argument("--offline", action="store_true", help="skip the checks that call the service")


class Checklist:
    """Prints ✓ / ✗ / ! / – lines as checks finish; counts the failures."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.failed = self.passed = self.warned = self.skipped = 0
        self.encoding: Optional[str] = None  # set when the stream cannot take every character (an ASCII console)
        try:
            "✓✗–".encode(out.encoding or "ascii")
            self.marks = {"ok": "✓", "fail": "✗", "warn": "!", "skip": "–"}
        except (UnicodeEncodeError, LookupError):
            self.marks = {"ok": "OK", "fail": "FAIL", "warn": "WARN", "skip": "SKIP"}
            self.encoding = out.encoding if out.encoding and _known(out.encoding) else "ascii"

    def _line(self, kind: str, title: str, detail: str) -> None:
        text = f"{self.marks[kind]} {title}" + (f": {detail}" if detail else "")
        if self.encoding is not None:  # e.g. the merchant platform's menu names: '?' rather than a traceback
            text = text.encode(self.encoding, "replace").decode(self.encoding)
        print(text, file=self.out, flush=True)

    def ok(self, title: str, detail: str = "") -> None:
        self.passed += 1
        self._line("ok", title, detail)

    def fail(self, title: str, detail: str = "") -> None:
        self.failed += 1
        self._line("fail", title, detail)

    def warn(self, title: str, detail: str = "") -> None:
        self.warned += 1
        self._line("warn", title, detail)

    def skip(self, title: str, detail: str = "") -> None:
        self.skipped += 1
        self._line("skip", title, detail)


def _known(encoding: str) -> bool:
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


def _days_left(cert: Certificate) -> float:
    return (cert.not_after.timestamp() - time.time()) / 86400


def _validity(check: Checklist, title: str, cert: Certificate) -> None:
    days = _days_left(cert)
    if not cert.is_valid_at():
        check.fail(title, f"not valid now ({cert.not_before:%Y-%m-%d} .. {cert.not_after:%Y-%m-%d})")
    elif days < 30:
        check.warn(title, f"expires in {days:.0f} days ({cert.not_after:%Y-%m-%d}): renew it")
    else:
        check.ok(title, f"valid for {days:.0f} more days (until {cert.not_after:%Y-%m-%d})")


_WHERE_PUBLIC_KEY = "商户平台 > 账户中心 > API安全 > 微信支付公钥"


def _certs_name(settings: Any) -> str:
    """Where platform keys are configured, as this user configures them."""
    return "WECHATPAY_CERTS" if settings.source == "environment" else "[certs]"


def _public_key_advice(settings: Any, key_id: str = "PUB_KEY_ID_...") -> str:
    """How a public-key-mode merchant configures its key (never a certificate download: that only 404s)."""
    entry = (f"WECHATPAY_CERTS='{key_id}=/path/pub_key.pem'" if settings.source == "environment"
             else f"`{key_id} = pub_key.pem` under [certs]")
    what = "the public key id and pub_key.pem" if key_id == "PUB_KEY_ID_..." else "its pub_key.pem"
    return f"add the WeChat Pay public key, {entry}, with {what} from the merchant platform ({_WHERE_PUBLIC_KEY})"


def _local_checks(check: Checklist, settings: Any, offline: bool) -> Tuple[Any, Dict[str, Any]]:
    """Key material: (private key or None, {serial: loaded platform key or certificate})."""
    for name, what in (("mchid", "merchant id"), ("serial", "merchant certificate serial")):
        if getattr(settings, name):
            check.ok(f"{what} is set", getattr(settings, name))
        else:
            check.fail(f"{what} is set", f"`{name}` is missing")
    key = _check_private_key(check, settings)
    _check_merchant_certificate(check, settings, key)
    return key, _check_platform_keys(check, settings, offline)


def _check_private_key(check: Checklist, settings: Any) -> Any:
    """The merchant private key loads from its file (the key or None)."""
    if settings.private_key is None:
        check.fail("private key loads", "`private_key` (the apiclient_key.pem path) is missing")
        return None
    try:
        key = Rsa.from_("file://" + str(settings.private_key), Rsa.KEY_TYPE_PRIVATE)
    except InvalidArgumentError as exc:
        check.fail("private key loads", one_line(exc))
        return None
    check.ok("private key loads", f"{key.size_in_bits}-bit RSA from {settings.private_key}")
    return key


def _check_merchant_certificate(check: Checklist, settings: Any, key: Any) -> None:
    """The merchant certificate loads, holds the private key's public key, has the configured serial, and is valid."""
    if settings.merchant_certificate is None:
        check.skip("private key matches the merchant certificate",
                   "`merchant_certificate` (apiclient_cert.pem) is not configured")
        return
    try:
        mine = PemUtil.load_certificate(str(settings.merchant_certificate))
    except InvalidArgumentError as exc:
        check.fail("merchant certificate loads", one_line(exc))
        return
    if key is not None:
        if mine.public_key == key.public_key():
            check.ok("private key matches the merchant certificate", mine.serial_no)
        else:
            check.fail("private key matches the merchant certificate",
                       "the certificate's public key is not the private key's: wrong key or certificate file")
    if settings.serial:
        if mine.serial_no.upper() == settings.serial.upper():
            check.ok("`serial` is the merchant certificate's serial")
        else:
            check.fail("`serial` is the merchant certificate's serial",
                       f"`serial` is {settings.serial}, the certificate's is {mine.serial_no}")
    _validity(check, "merchant certificate validity", mine)


def _check_platform_keys(check: Checklist, settings: Any, offline: bool) -> Dict[str, Any]:
    """Each `[certs]` entry loads (a certificate under its own serial, and valid), and which key mode they make."""
    loaded: Dict[str, Any] = {}
    for serial, path in settings.certs.items():
        try:
            text = path.read_text(encoding="utf-8")
            thing: Any = (PemUtil.load_certificate_from_string(text) if "CERTIFICATE" in text
                          else Rsa.from_(text, Rsa.KEY_TYPE_PUBLIC))
        except (OSError, UnicodeDecodeError, InvalidArgumentError) as exc:
            check.fail(f"platform key {serial} loads", one_line(exc))
            continue
        if isinstance(thing, Certificate):
            if thing.serial_no.upper() != serial.upper():
                check.fail(f"platform certificate {serial}", f"{path} holds certificate {thing.serial_no}")
                continue
            _validity(check, f"platform certificate {serial}", thing)
        loaded[serial] = thing
    public = [s for s in loaded if s.startswith(PUBLIC_KEY_ID_PREFIX)]
    certs = [s for s in loaded if not s.startswith(PUBLIC_KEY_ID_PREFIX)]
    if public and certs:
        check.ok("key mode", f"both: public key {', '.join(public)} and {len(certs)} platform certificate(s)")
    elif public:
        check.ok("key mode", f"WeChat Pay public key ({', '.join(public)})")
    elif certs:
        check.ok("key mode", f"platform certificates ({', '.join(certs)})")
    elif not settings.certs:
        _no_platform_key(check, settings, offline)
    return loaded


def _no_platform_key(check: Checklist, settings: Any, offline: bool) -> None:
    """Fails `key mode` with no key configured. Which key is needed depends on the merchant's mode, which only the
    service tells: online, the checks below say (a public-key merchant is never sent to `certificates download`,
    which can only 404 for it); offline, both are named with when each applies."""
    missing = f"no platform key in {_certs_name(settings)}"
    if not offline:
        check.fail("key mode", f"{missing}: the checks against the service below tell which key this merchant needs")
        return
    check.fail("key mode", f"{missing}: in public-key mode {_public_key_advice(settings)}; a merchant with platform "
               "certificates (v3/certificates answers 200) runs `wechatpay-chain certificates download` instead; "
               "run doctor without --offline to tell which applies")


def _skew(response: Any) -> Optional[float]:
    stamp = response.headers.get("Wechatpay-Timestamp")
    if stamp and stamp.isdigit():
        return float(stamp) - time.time()
    date = response.headers.get("Date")
    try:
        return float(parsedate_to_datetime(date).timestamp()) - time.time() if date else None
    except (TypeError, ValueError):
        return None


_SIGNATURE_ACCEPTED = "the service accepts our signature"
_ANSWERS_VERIFY = "answers verify with a configured platform key"
_APIV3 = "APIv3 key (AEAD decryption)"
_CERTS_CURRENT = "configured certificates are current"
_MAX_SKEW = 300  # the client's default `max_clock_offset`: what its answers are verified with


def _remote_checks(check: Checklist, settings: Any, key: Any, loaded: Dict[str, Any]) -> None:
    """One signed GET v3/certificates, then each thing its answer tells (see the module docstring)."""
    config = _client_config(check, settings, key, loaded)
    if config is None:
        return
    response = _fetch_certificates(check, config)
    if response is None:
        return
    code = _error_code(response)
    _check_signature_accepted(check, settings, response, code)
    _check_clock(check, response)
    _check_answer_verifies(check, settings, response, loaded)
    _check_migration(check, response, loaded)
    if response.status_code == 404 and code == "RESOURCE_NOT_EXISTS":
        _check_public_key_mode(check, settings, loaded)
        return
    usable = _check_apiv3_key(check, settings, response)
    if usable is not None:
        _check_certificates_current(check, usable, loaded)


def _client_config(check: Checklist, settings: Any, key: Any, loaded: Dict[str, Any]) -> Optional[Config]:
    """Builds the client config: the remote checks need mchid, serial and a private key to sign with."""
    if key is None or not settings.mchid or not settings.serial:
        check.skip(_SIGNATURE_ACCEPTED, "needs mchid, serial and a private key")
        return None
    base = settings.base_uri or DEFAULT_BASE_URI
    try:
        timeout = {"timeout": settings.timeout} if settings.timeout is not None else {}
        return build_config({"mchid": settings.mchid, "serial": settings.serial, "privateKey": key,
                             "certs": Keyring(loaded), "base_uri": base, **timeout})
    except InvalidArgumentError as exc:
        check.fail("client config", one_line(exc))
        return None


def _fetch_certificates(check: Checklist, config: Config) -> Any:
    """Checks the service answers a signed GET v3/certificates: every later check reads that answer."""

    def probe(ua: str) -> Any:
        response = yield prepare_v3(config, "GET", "v3/certificates", {}, {}, ua)
        return response

    say(f"contacting {config.base_uri}v3/certificates ...")
    try:
        return fetch(config, probe)
    except TransportError as exc:
        check.fail("the service answers", one_line(exc))
        return None


def _error_code(response: Any) -> Any:
    """The answer's JSON `code` (None if absent): it tells why the service refused the request."""
    data: Any = None
    try:
        data = response.json()
    except ValueError:
        pass
    return data.get("code") if isinstance(data, dict) else None


def _check_signature_accepted(check: Checklist, settings: Any, response: Any, code: Any) -> None:
    """Checks the service accepts our signature: a 401 means a wrong private key, serial or merchant id."""
    if response.status_code == 401:
        check.fail(_SIGNATURE_ACCEPTED, f"401 {code}: the private key does not match `serial` {settings.serial}, "
                   "or the merchant id is wrong")
    elif response.status_code >= 400 and response.status_code != 404:
        check.fail(_SIGNATURE_ACCEPTED, f"HTTP {response.status_code} {code or ''}".rstrip())
    else:
        check.ok(_SIGNATURE_ACCEPTED, f"mchid {settings.mchid}, serial {settings.serial}")


def _check_clock(check: Checklist, response: Any) -> None:
    """Checks our clock against the service's: beyond 300s of skew every signed answer is refused."""
    skew = _skew(response)
    if skew is None:
        check.skip("clock", "the answer carries neither Wechatpay-Timestamp nor Date")
    elif abs(skew) <= 30:
        check.ok("clock", f"{round(skew):+d}s from the service")
    elif abs(skew) <= 300:
        check.warn("clock", f"{round(skew):+d}s from the service: sync the clock (beyond 300s answers are refused)")
    else:
        check.fail("clock", f"{round(skew):+d}s from the service: every answer is refused beyond 300s; sync the clock")


def _check_answer_verifies(check: Checklist, settings: Any, response: Any, loaded: Dict[str, Any]) -> None:
    """Checks the answer verifies as the client verifies every answer (`verify_signature`: the four headers,
    the clock window, a configured platform key, the signature), or every answer will fail. An answer signed by
    an unconfigured PUB_KEY_ID_ key means public-key mode (its key comes from the merchant platform); one signed
    by a platform certificate means the service serves that certificate, so downloading it works."""
    try:
        signed = verify_signature(response.headers, response.content, now=time.time(), max_skew=_MAX_SKEW,
                                  keys=Keyring(loaded), subject="the answer")
    except UnknownSerialError as exc:
        hint = (_public_key_advice(settings, exc.serial) if exc.serial.startswith(PUBLIC_KEY_ID_PREFIX)
                else f"run `wechatpay-chain certificates download` and add it to {_certs_name(settings)}")
        check.fail(_ANSWERS_VERIFY, f"signed by {exc.serial}, not configured: {hint}")
    except VerificationError as exc:
        check.fail(_ANSWERS_VERIFY, one_line(exc))
    else:
        check.ok(_ANSWERS_VERIFY, signed.serial)


_MIGRATION = "public-key migration"


def _check_migration(check: Checklist, response: Any, loaded: Dict[str, Any]) -> None:
    """Where the switch from platform certificates to the WeChat Pay public key stands: the probe named the
    configured PUB_KEY_ID_ in Wechatpay-Serial (as every request of the client does), so the key that signed its
    answer says whether the service answers this merchant with the public key yet."""
    public = [s for s in loaded if s.startswith(PUBLIC_KEY_ID_PREFIX)]
    certificates = [s for s in loaded if not s.startswith(PUBLIC_KEY_ID_PREFIX)]
    signer = str(response.headers.get("Wechatpay-Serial", ""))
    if not public:
        if certificates:
            check.skip(_MIGRATION, "certificate mode: to migrate, add the WeChat Pay public key (merchant platform, "
                       "API security) under [certs] beside the certificates; every request then names it")
        return
    if not certificates:
        check.ok(_MIGRATION, f"public-key mode ({', '.join(public)}): nothing to migrate")
    elif signer in public:
        check.ok(_MIGRATION, f"the probe named {signer} and the answer is signed by it: answers to requests that "
                 "name it (every request of this client) are signed by the public key; callbacks switch on the "
                 "service's schedule, so keep both keys until `key_usage()` shows notifications signed by the public "
                 "key only, then void the certificate (voiding is final)")
    elif signer:
        check.warn(_MIGRATION, f"the probe named {public[0]} but the answer is signed by {signer}: the service does "
                   "not answer this merchant with the public key yet; keep both keys and run doctor again later")


def _check_public_key_mode(check: Checklist, settings: Any, loaded: Dict[str, Any]) -> None:
    """Checks a public key is configured when the service has no v3/certificates (public-key mode)."""
    if not any(s.startswith(PUBLIC_KEY_ID_PREFIX) for s in loaded):
        check.fail("key mode matches the service", "v3/certificates answers 404 RESOURCE_NOT_EXISTS: this merchant "
                   "uses the WeChat Pay public key and has no platform certificate to download; "
                   f"{_public_key_advice(settings)}")
    else:
        check.ok("key mode matches the service", "no platform certificates: public-key mode")
    check.skip(_APIV3, "cannot be checked this way in public-key mode (no v3/certificates); "
               "it is checked when the first notification decrypts")


def _check_apiv3_key(check: Checklist, settings: Any, response: Any) -> Optional[List[Certificate]]:
    """Checks the APIv3 key decrypts the served certificates, as it must every notification (usable ones)."""
    if response.status_code >= 300:
        check.skip(_APIV3, "needs a v3/certificates answer")
        return None
    if not settings.apiv3_key:
        check.skip(_APIV3, "`apiv3_key` is not configured")
        return None
    try:
        usable, skipped = decrypt_certificates(response, settings.apiv3_key.reveal())
    except DecryptionError:
        check.fail(_APIV3, "the platform certificates do not decrypt: the apiv3_key is wrong")
        return None
    except WeChatPayError as exc:
        check.fail(_APIV3, one_line(exc))
        return None
    check.ok(_APIV3, f"decrypted {len(usable) + len(skipped)} platform certificate(s)")
    return usable


def _check_certificates_current(check: Checklist, usable: List[Certificate], loaded: Dict[str, Any]) -> None:
    """Checks [certs] matches the certificates served: new ones must be added, stale ones soon stop verifying.
    A config without platform certificates is in public-key mode: the served ones are not needed there."""
    served = {c.serial_no for c in usable}
    if all(s.startswith(PUBLIC_KEY_ID_PREFIX) for s in loaded):
        if loaded:
            check.ok(_CERTS_CURRENT, "none configured: public-key mode needs no platform certificate")
        return
    stale = [s for s in loaded if not s.startswith(PUBLIC_KEY_ID_PREFIX) and s not in served]
    new = sorted(served - set(loaded))
    if new:
        check.warn(_CERTS_CURRENT, f"the service also has {', '.join(new)}: run "
                   "`wechatpay-chain certificates download`")
    if stale:
        check.warn(_CERTS_CURRENT, f"no longer served: {', '.join(stale)}")


def _unusable(settings: Any) -> Optional[str]:
    """Why there is nothing to check (a one-line reason), or None: no setting names the merchant."""
    if any(getattr(settings, name) for name in _IDENTITY):
        return None
    if settings.source == "environment":
        names = ", ".join(f"WECHATPAY_{name.upper()}" for name in _IDENTITY)
        return f"no usable config: no --config FILE given and none of {names} is set"
    return f"no usable config: {settings.source} sets none of {', '.join(_IDENTITY)} under [wechatpay]"


def cmd_doctor(args: argparse.Namespace) -> int:
    check = Checklist(sys.stdout)
    try:
        settings = load_settings(args.config)
        problem = _unusable(settings)
    except InvalidArgumentError as exc:
        problem = one_line(exc)
    if problem is not None:
        check.fail("config loads", problem)
        say(f"doctor: {problem}")
        return 2
    check.ok("config loads", settings.source)
    key, loaded = _local_checks(check, settings, args.offline)
    if args.offline:
        check.skip("the service accepts our signature", "--offline")
    else:
        _remote_checks(check, settings, key, loaded)
    print(f"{check.passed} passed, {check.failed} failed, {check.warned} warnings, {check.skipped} skipped",
          file=sys.stdout)
    return 1 if check.failed else 0

