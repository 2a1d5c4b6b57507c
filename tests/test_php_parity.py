"""Inputs PHP's toolbox takes that we refused or read differently (found by running each against a
transcription of wechatpay-php on PHP 8.2 / OpenSSL 3); each test runs on both crypto backends in CI."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.keys import merchant_private_pem
from wechatpay_chain import Formatter, Hash, PemUtil, Rsa
from wechatpay_chain.crypto._pem import build_certificate
from wechatpay_chain.errors import InvalidArgumentError


def _body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def test_a_pkcs8_body_under_the_pkcs1_label_loads_as_openssl_loads_it() -> None:
    """PHP's Rsa::fromPkcs1(<the body of apiclient_key.pem>) works: OpenSSL reads PKCS#8 under that label."""
    pem = merchant_private_pem()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    body = _body(pem)
    relabelled = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n"
    want = Rsa.sign("message", Rsa.from_(pem))
    for given in ("private.pkcs1://" + body, relabelled):
        assert Rsa.sign("message", Rsa.from_(given, Rsa.KEY_TYPE_PRIVATE)) == want


def test_blanks_after_a_begin_line_are_ignored_as_openssl_ignores_them(tmp_path: Path) -> None:
    """Keys and certificates copied from a web page or saved on Windows often carry them."""
    pem = merchant_private_pem()
    padded = pem.replace("-----BEGIN PRIVATE KEY-----\n", "-----BEGIN PRIVATE KEY----- \t\r\n")
    assert Rsa.sign("m", Rsa.from_(padded)) == Rsa.sign("m", Rsa.from_(pem))
    key = Rsa.from_(pem)
    now = datetime.now(timezone.utc)
    cert = build_certificate(subject_key=key, issuer_key=key, serial=0x0BCDEF, subject_cn="1900000001",
                             not_before=now - timedelta(days=1), not_after=now + timedelta(days=1))
    text = cert.pem.replace("-----BEGIN CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----  \n")
    assert PemUtil.load_certificate_from_string(text).serial_no == "0BCDEF"
    path = tmp_path / "cert.pem"
    path.write_text(text)
    assert PemUtil.load_certificate_from_string("file://" + str(path)).serial_no == "0BCDEF"  # openssl_x509_read


def test_the_signed_message_takes_a_bytes_body_as_its_text() -> None:
    """A raw `request.body` (bytes) gave "b'{...}'" and None gave 'None', so genuine notifications failed."""
    assert Formatter.response("1", "N", b'{"a":"\xe4\xb8\xad"}') == '1\nN\n{"a":"中"}\n'
    assert Formatter.request("GET", "/v3/x", 1, "N", b"") == "GET\n/v3/x\n1\nN\n\n"
    with pytest.raises(InvalidArgumentError):
        Formatter.response("1", "N", None)  # type: ignore[arg-type]


def test_an_empty_hmac_key_is_refused_as_php_8_refuses_it() -> None:
    with pytest.raises(InvalidArgumentError, match="empty"):
        Hash.hmac("data", "")
    with pytest.raises(InvalidArgumentError):
        Hash.sign(Hash.ALGO_HMAC_SHA256, "data", "")
