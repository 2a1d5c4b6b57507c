"""`protocol.signature.verify_signature`: the one check every verifying caller uses; known answers.

The signatures below were made once with `openssl dgst -sha256 -sign tests/fixtures/crypto/rsa.pkcs8.key`
over the exact signing string, independently of this package, and are pinned here.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest

from tests.keys import CRYPTO_FIXTURES
from wechatpay_chain.crypto._rsa import Rsa
from wechatpay_chain.errors import InvalidArgumentError, VerificationError
from wechatpay_chain.keys._keyring import Keyring
from wechatpay_chain.protocol._formatter import Formatter
from wechatpay_chain.protocol._signature import (
    PROBE_PREFIX,
    SIGNED_HEADERS,
    Signed,
    UnknownSerialError,
    keyring_verifier,
    verify_signature,
)

NOW = 1_700_000_000
NONCE = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
SERIAL = "PUB_KEY_ID_0114232134912410000000000000"
BODY = '{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz","ok":"你好"}'
MESSAGE = f"{NOW}\n{NONCE}\n{BODY}\n"
SIGNATURE = (
    "3yFy8LgFkbKR9X4l21pGWCvITHww1EAaB+T95j6KT2dX2nK6/y18f4HuvWDTkI+LSGFM4PQcPFs/+W87XyhXbrmuwvS+SiK1KISdCNLheguwY"
    "MolPmwEqtZOciXkl+Ox2ZlqWYZk8jDDFlUCu+Adi4COK+ZBgKlTGAY6+i9xBPu010gXXywvsSSpd9QCTezYyUmhaqd5LxMK0O7izzxaG3eDhi+"
    "j5/wBuHLYWiuHlPX1Fnj+RlZH23aa41Kv2d3gctCtHLKFkDKC2hj82H1KJTy1VN5Y2oyjsfH80ExBQb3oV3Gkm6gUqIZDLL+UN3EA3Vcvv3VTA"
    "/RI8cg3ahEo/g=="
)
#: over `1700000000\n<NONCE>\n\n`: an empty body (a 204) is signed too
EMPTY_SIGNATURE = (
    "3Qkq8TzUv6F3HKL+b2HNXq0T8d402BnBXkN8Zy2cTQ0NnOxTaWOecgrBQ0kKg/dSqwtArHx5Q3jYVkUjK3oKBu7JeVGkiRBeTbn1ldc7T0G4g"
    "GhK2hIa1ybMWgdL+hCtrqk8u20Q0XiCIY5tAAGugy2pON9CaepoaCPnFJ80+A2KQJKZnfy8xP7ylo5rgq6cRdTDjC3IZ4VIhForSwQ5/fZVney"
    "PDZj6nT9W1y32Ju/J76x30S2fFnvKC8kPsAU0mhcY3uMAWKwbvWDX4xZ+bq+UMi3ThGWpWo+vnFa3gY3oDhjPnxU//iLsVkK7MaAval7i+2H99"
    "YmbKU6liC3GiA=="
)


def keys() -> Keyring:
    return Keyring({SERIAL: (CRYPTO_FIXTURES / "rsa.spki.pem").read_text()})


def headers(**changes: str) -> Dict[str, str]:
    h = {
        "Wechatpay-Nonce": NONCE,
        "Wechatpay-Serial": SERIAL,
        "Wechatpay-Signature": SIGNATURE,
        "Wechatpay-Timestamp": str(NOW),
    }
    h.update({k.replace("_", "-"): v for k, v in changes.items()})
    return h


def verify(h: Dict[str, str], body: Any = BODY, **kw: Any) -> Signed:
    kw.setdefault("keys", keys())
    kw.setdefault("now", NOW)
    return verify_signature(h, body, **kw)


# --- known answers -----------------------------------------------------------------------------------


def test_the_signing_string_is_formatter_response() -> None:
    assert Formatter.response(NOW, NONCE, BODY) == MESSAGE
    assert Formatter.response(str(NOW), NONCE, BODY.encode("utf-8")) == MESSAGE


def test_a_valid_signature_verifies_and_says_what_it_checked() -> None:
    signed = verify(headers())
    assert signed == Signed(NONCE, SERIAL, SIGNATURE, str(NOW), MESSAGE)


@pytest.mark.parametrize("body", [BODY, BODY.encode("utf-8")], ids=["str", "bytes"])
def test_str_and_bytes_bodies_are_the_same_text(body: Any) -> None:
    assert verify(headers(), body).message == MESSAGE


def test_an_empty_body_is_signed_too() -> None:
    assert verify(headers(Wechatpay_Signature=EMPTY_SIGNATURE), b"").message == f"{NOW}\n{NONCE}\n\n"
    with pytest.raises(VerificationError, match="does not verify"):
        verify(headers(), b"")


def test_the_pinned_signature_is_what_our_rsa_makes() -> None:
    key = Rsa.from_((CRYPTO_FIXTURES / "rsa.pkcs8.key").read_text(), Rsa.KEY_TYPE_PRIVATE)
    assert Rsa.sign(MESSAGE, key) == SIGNATURE  # PKCS#1 v1.5 is deterministic


# --- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", SIGNED_HEADERS)
def test_each_missing_header_is_named(missing: str) -> None:
    h = headers()
    del h[missing]
    with pytest.raises(VerificationError, match=f"response is not signed: missing header\\(s\\) {missing}$"):
        verify(h)
    h = headers()
    h[missing] = ""
    with pytest.raises(VerificationError, match=missing):
        verify(h)


def test_all_missing_headers_are_named_and_the_subject_too() -> None:
    with pytest.raises(VerificationError) as info:
        verify({}, subject="notification")
    assert str(info.value) == (
        "notification is not signed: missing header(s) "
        "Wechatpay-Nonce, Wechatpay-Serial, Wechatpay-Signature, Wechatpay-Timestamp"
    )


@pytest.mark.parametrize("skew", [300, -300, 0])
def test_the_window_edges_are_inside(skew: int) -> None:
    assert verify(headers(), now=NOW - skew).timestamp == str(NOW)


@pytest.mark.parametrize("now, shown", [(NOW - 301, "+301s"), (NOW + 301, "-301s"), (NOW + 10_000, "-10000s")])
def test_skew_either_way_is_refused(now: int, shown: str) -> None:
    with pytest.raises(VerificationError) as info:
        verify(headers(), now=now)
    assert str(info.value) == (
        f"Wechatpay-Timestamp {NOW} is {shown} from local time, beyond ±300s (check the clock, or this is a replay)"
    )


def test_max_skew_is_the_window() -> None:
    assert verify(headers(), now=NOW + 60, max_skew=60)
    with pytest.raises(VerificationError, match="beyond ±59s"):
        verify(headers(), now=NOW + 60, max_skew=59)
    with pytest.raises(VerificationError, match="beyond"):
        verify(headers(), now=NOW + 0.5, max_skew=0)


@pytest.mark.parametrize(
    "stamp", ["soon", "+1700000000", " 1700000000", "1_700_000_000", "1.7e9", "-1700000000", "１７００００００００",
              "1" * 13, "1" * 5000]
)
def test_a_timestamp_is_ascii_digits_only(stamp: str) -> None:
    with pytest.raises(VerificationError, match="is not a unix timestamp"):
        verify(headers(Wechatpay_Timestamp=stamp))


def test_an_unknown_serial_is_refused_and_named() -> None:
    with pytest.raises(UnknownSerialError) as info:
        verify(headers(Wechatpay_Serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1"))
    assert isinstance(info.value, VerificationError)
    assert info.value.serial == "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    assert str(info.value) == (
        "Wechatpay-Serial '5157F09EFDC096DE15EBE81A47057A7232F1B8E1' is not a known platform serial "
        f"({SERIAL})"
    )


def test_an_unknown_serial_is_refused_before_any_rsa_and_a_long_one_is_cut() -> None:
    calls: List[Tuple[str, str, str]] = []

    def spy(message: str, signature: str, serial: str) -> bool:
        calls.append((message, signature, serial))
        return True

    with pytest.raises(UnknownSerialError) as info:
        verify(headers(Wechatpay_Serial="X" * 500), verifier=spy)
    assert not calls and len(info.value.serial) == 64 and "X" * 65 not in str(info.value)


def test_a_custom_verifier_alone_decides_on_the_serial() -> None:
    seen: List[Tuple[str, str, str]] = []

    def custom(message: str, signature: str, serial: str) -> bool:
        seen.append((message, signature, serial))
        return serial == "MY-KMS"

    assert verify(headers(Wechatpay_Serial="MY-KMS"), keys=None, verifier=custom).serial == "MY-KMS"
    assert seen == [(MESSAGE, SIGNATURE, "MY-KMS")]
    with pytest.raises(VerificationError, match="does not verify with platform key OTHER"):
        verify(headers(Wechatpay_Serial="OTHER"), keys=None, verifier=custom)


@pytest.mark.parametrize(
    "change",
    [
        {"Wechatpay_Signature": EMPTY_SIGNATURE},  # a genuine signature, of another message
        {"Wechatpay_Signature": "%%%"},
        {"Wechatpay_Signature": "A" * 344},
        {"Wechatpay_Nonce": NONCE.lower()},
    ],
    ids=["other-message", "not-base64", "forged", "tampered-nonce"],
)
def test_a_bad_signature_is_refused(change: Dict[str, str]) -> None:
    with pytest.raises(VerificationError) as info:
        verify(headers(**change))
    assert str(info.value) == f"Wechatpay-Signature does not verify with platform key {SERIAL}"


def test_a_tampered_body_is_refused() -> None:
    with pytest.raises(VerificationError, match="does not verify"):
        verify(headers(), BODY.replace("你好", "您好"))
    with pytest.raises(VerificationError, match="does not verify"):
        verify(headers(), BODY + " ")


def test_the_signtest_probe_is_refused_even_by_a_verifier_that_accepts_anything() -> None:
    probe = headers(Wechatpay_Signature=PROBE_PREFIX + SIGNATURE)
    with pytest.raises(VerificationError, match="is a WeChat Pay signature probe") as info:
        verify(probe)
    assert info.value.probe is True and "refusing it is correct" in str(info.value)
    with pytest.raises(VerificationError, match="probe") as info:
        verify(probe, keys=None, verifier=lambda message, signature, serial: True)
    assert info.value.probe is True


def test_a_probe_is_told_before_the_serial_and_the_clock() -> None:
    """A probe naming an unknown serial is a probe (never an UnknownSerialError, which may refresh keys)."""
    for change in ({"Wechatpay_Serial": "UNKNOWN"}, {"Wechatpay_Timestamp": "1"}):
        with pytest.raises(VerificationError) as info:
            verify(headers(Wechatpay_Signature=PROBE_PREFIX + "AAAA", **change))
        assert info.value.probe is True and not isinstance(info.value, UnknownSerialError)


def test_every_other_failure_is_not_a_probe() -> None:
    for h in (headers(Wechatpay_Nonce=""), headers(Wechatpay_Timestamp="x"), headers(Wechatpay_Serial="Y"),
              headers(Wechatpay_Signature="AAAA")):
        with pytest.raises(VerificationError) as info:
            verify(h)
        assert info.value.probe is False


def test_the_response_rides_on_every_error() -> None:
    marker: Any = object()
    for h in (headers(Wechatpay_Nonce=""), headers(Wechatpay_Timestamp="x"), headers(Wechatpay_Serial="Y"),
              headers(Wechatpay_Signature="AAAA")):
        with pytest.raises(VerificationError) as info:
            verify(h, response=marker)
        assert info.value.response is marker


def test_nothing_to_verify_with_is_an_argument_error() -> None:
    with pytest.raises(InvalidArgumentError):
        verify(headers(), keys=None)


def test_the_default_verifier_refuses_what_it_cannot_encode() -> None:
    check = keyring_verifier(keys())
    assert check(MESSAGE, SIGNATURE, SERIAL)
    assert not check(MESSAGE, SIGNATURE, "OTHER")
    assert not check(MESSAGE.replace(NONCE, "\ud800"), SIGNATURE, SERIAL)  # a lone surrogate: no bytes to verify
