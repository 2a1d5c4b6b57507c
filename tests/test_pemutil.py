"""Port of PHP's tests/Util/PemUtilTest.php, plus certificate parsing and build_certificate checks."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.keys import (
    MOCK_SUBJECT,
    mock_path,
    mock_serial,
    mock_text,
    openssl,
    php_ci_environment,
    platform_certificate,
    platform_certificate_pem,
    platform_key,
    platform_serial,
    requires_openssl,
)
from wechatpay_chain.crypto._pem import Certificate, PemUtil, build_certificate
from wechatpay_chain.crypto._rsa import Rsa, RsaKey
from wechatpay_chain.errors import InvalidArgumentError

pytestmark = requires_openssl

SUBJECT = "C=CN, ST=Shanghai, O=WeChatPay Community, CN=WeChatPay Community CI"


def test_load_certificate() -> None:
    env = php_ci_environment()
    cert = PemUtil.load_certificate(str(env.cert_file))
    assert isinstance(cert, Certificate)
    assert cert.subject == SUBJECT and cert.issuer == SUBJECT
    assert PemUtil.load_certificate(f"file://{env.cert_file}") == cert


def test_load_certificate_from_string() -> None:
    env = php_ci_environment()
    cert = PemUtil.load_certificate_from_string(env.cert_pem)
    assert cert.subject == SUBJECT and cert.issuer == SUBJECT
    assert PemUtil.load_certificate_from_string(env.cert_pem.encode()) == cert
    assert PemUtil.load_certificate_from_string(cert) is cert


def test_load_private_key() -> None:
    """PHP's deprecated PemUtil::loadPrivateKey(FromString) became Rsa.from_."""
    env = php_ci_environment()
    assert Rsa.from_(f"file://{env.key_file}").is_private
    assert Rsa.from_(env.key_pem).is_private


def test_parse_certificate_serial_no() -> None:
    env = php_ci_environment()
    assert PemUtil.parse_certificate_serial_no(PemUtil.load_certificate(str(env.cert_file))) == env.serial_no
    assert PemUtil.parse_certificate_serial_no(PemUtil.load_certificate_from_string(env.cert_pem)) == env.serial_no
    assert PemUtil.parse_certificate_serial_no(env.cert_pem) == env.serial_no
    assert PemUtil.parse_certificate_serial_no(f"file://{env.cert_file}") == env.serial_no
    assert len(env.serial_no) == 4


def test_mock_certificate_matches_openssl() -> None:
    cert = PemUtil.load_certificate(str(mock_path("sha256", "crt")))
    assert cert.serial_no == mock_serial() and len(cert.serial_no) == 40
    assert cert.subject == ", ".join(MOCK_SUBJECT.strip("/").split("/"))
    assert cert.public_key == Rsa.from_(mock_text("spki", "pem"), Rsa.KEY_TYPE_PUBLIC)
    assert cert.pem.strip() == mock_text("sha256", "crt").strip()
    dates = openssl("x509", "-in", str(mock_path("sha256", "crt")), "-noout", "-dates", "-serial").decode()
    parsed = dict(line.split("=", 1) for line in dates.split("\n") if line)

    def when(text: str) -> datetime:
        return datetime.strptime(re.sub(" +", " ", text), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=timezone.utc)

    assert cert.not_before == when(parsed["notBefore"]) and cert.not_after == when(parsed["notAfter"])
    assert cert.serial_no == parsed["serial"]
    assert cert.is_valid_at() and not cert.is_valid_at(cert.not_after + timedelta(seconds=1))
    assert cert.is_valid_at(cert.not_before.timestamp()) and not cert.is_valid_at(0.0)
    assert cert.is_signed_by(Rsa.from_(f"file://{mock_path('pkcs8', 'key')}"))


@pytest.mark.parametrize(
    "serial, expected",
    [(1, "01"), (0x3E8, "03E8"), (0x80, "80"), (0xABCDEF, "ABCDEF"), (0x0F00000000000000000000000000000000000000,
                                                                        "0F" + "00" * 19)],
)
def test_serial_hex_like_openssl_bn2hex(serial: int, expected: str) -> None:
    key = platform_key()
    now = datetime.now(timezone.utc)
    cert = build_certificate(subject_key=key, issuer_key=key, serial=serial, subject_cn="serial",
                             not_before=now, not_after=now + timedelta(days=1))
    assert cert.serial_no == expected
    out = openssl("x509", "-noout", "-serial", data=cert.pem.encode()).decode().strip()
    assert out == f"serial={expected}"


def test_platform_helpers_are_stable() -> None:
    cert = platform_certificate()
    assert cert.serial_no == platform_serial()
    assert cert.public_key == platform_key().public_key()
    assert PemUtil.load_certificate_from_string(platform_certificate_pem()) == cert


def test_certificate_repr_has_no_pem(tmp_path: Path) -> None:
    cert = platform_certificate()
    body = "".join(cert.pem.splitlines()[1:-1])
    for text in (repr(cert), str(cert)):
        assert cert.serial_no in text and "BEGIN" not in text and body[64:96] not in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        cert.serial_no = "X"  # type: ignore[misc]


def test_build_certificate_accepted_by_openssl(tmp_path: Path) -> None:
    ca_key, leaf_key = Rsa.generate(2048), Rsa.generate(2048)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    ca = build_certificate(subject_key=ca_key, issuer_key=ca_key, serial=0x7A3C11, subject_cn="Test Root CA",
                           not_before=start, not_after=start + timedelta(days=36500), organization="中文 Org")
    leaf = build_certificate(subject_key=leaf_key, issuer_key=ca_key, serial=2 ** 158 + 5, subject_cn="Platform",
                             issuer_cn="Test Root CA", not_before=start, not_after=start + timedelta(days=3650),
                             organization="中文 Org")
    assert ca.subject == ca.issuer == "O=中文 Org, CN=Test Root CA"
    assert leaf.issuer == ca.subject and leaf.subject == "O=中文 Org, CN=Platform"
    assert ca.not_after.year == 2123 and leaf.not_before == start
    assert isinstance(leaf.public_key, RsaKey) and leaf.public_key == leaf_key.public_key()
    assert leaf.is_signed_by(ca_key) and not leaf.is_signed_by(leaf_key)
    (tmp_path / "ca.pem").write_text(ca.pem)
    (tmp_path / "leaf.pem").write_text(leaf.pem)
    text = openssl("x509", "-in", str(tmp_path / "leaf.pem"), "-noout", "-text").decode()
    assert "Version: 3 (0x2)" in text and "sha256WithRSAEncryption" in text and "CN = Platform" in text
    for target in ("ca.pem", "leaf.pem"):
        out = openssl("verify", "-x509_strict", "-attime", str(int(start.timestamp()) + 86400),
                      "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / target)).decode()
        assert out.strip().endswith(": OK")
    assert PemUtil.load_certificate(str(tmp_path / "leaf.pem")) == leaf
    assert Rsa.from_(leaf.pem, Rsa.KEY_TYPE_PUBLIC) == leaf_key.public_key()
    der_file = tmp_path / "leaf.der"
    der_file.write_bytes(leaf.der)
    assert PemUtil.load_certificate(str(der_file)) == leaf


def test_build_certificate_refuses_bad_arguments() -> None:
    key = platform_key()
    now = datetime.now(timezone.utc)
    for serial in (0, -1, 2 ** 160):
        with pytest.raises(InvalidArgumentError):
            build_certificate(subject_key=key, issuer_key=key, serial=serial, subject_cn="x",
                              not_before=now, not_after=now)
    with pytest.raises(InvalidArgumentError):
        build_certificate(subject_key=key, issuer_key=key.public_key(), serial=1, subject_cn="x",
                          not_before=now, not_after=now)


@pytest.mark.parametrize(
    "content",
    [
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----",
        b"\x30\x03\x02\x01\x01",
    ],
)
def test_bad_certificates_are_invalid_argument(content: object) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        PemUtil.load_certificate_from_string(content)  # type: ignore[arg-type]
    assert "MIIB" not in str(info.value)
    with pytest.raises(InvalidArgumentError):
        PemUtil.parse_certificate_serial_no(content)  # type: ignore[arg-type]


def test_private_key_pem_is_not_a_certificate() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        PemUtil.load_certificate_from_string(mock_text("pkcs8", "key"))
    body = "".join(mock_text("pkcs8", "key").splitlines()[1:-1])
    assert body[100:140] not in str(info.value)
    with pytest.raises(InvalidArgumentError):
        PemUtil.load_certificate("/nonexistent/cert.pem")


def test_non_rsa_certificate_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "ec.key"
    key.write_bytes(openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"))
    pem = openssl("req", "-new", "-x509", "-key", str(key), "-subj", "/CN=ec", "-days", "1").decode()
    with pytest.raises(InvalidArgumentError, match="RSA"):
        PemUtil.load_certificate_from_string(pem)
    with pytest.raises(InvalidArgumentError):
        Rsa.from_(pem, Rsa.KEY_TYPE_PUBLIC)
