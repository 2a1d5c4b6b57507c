"""Test keys and certificates, made once per test session with the openssl CLI and cached in a temp dir.

Mirrors how PHP's tests make theirs (Makefile ``keygen``/``x509crt`` and PemUtilTest's CSR + self-sign),
and offers stable merchant/platform keys to every other test module::

    from tests.keys import merchant_private_key, platform_key, platform_certificate
"""

from __future__ import annotations

import atexit
import functools
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple, Tuple

import pytest

from wechatpay_chain.crypto._pem import Certificate, PemUtil
from wechatpay_chain.crypto._rsa import Rsa, RsaKey

OPENSSL = shutil.which("openssl") or "openssl"
HAS_OPENSSL = shutil.which("openssl") is not None
requires_openssl = pytest.mark.skipif(not HAS_OPENSSL, reason="the openssl CLI is not installed")

CRYPTO_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "crypto"
OPENSSL_CONF = CRYPTO_FIXTURES / "openssl.conf"
MOCK_SUBJECT = "/C=CN/ST=Shanghai/O=WeChatPay Community/CN=WeChatPay Community CI"
MOCK_PASSWORD = "wechatpay-chain"
MERCHANT_SUBJECT = "/C=CN/ST=Guangdong/O=WeChatPay Sandbox/CN=1230000109"
PLATFORM_SUBJECT = "/C=CN/ST=Guangdong/O=WeChatPay Sandbox/CN=WeChatPay Platform"

_ENVELOPE = re.compile(r"-{5}BEGIN[^-]+-{5}\r?\n(?P<base64>[^-]+)\r?\n-{5}END[^-]+-{5}")


def openssl(*args: str, data: bytes = b"") -> bytes:
    """Run the openssl CLI, return its stdout."""
    return subprocess.run([OPENSSL, *args], input=data, check=True, capture_output=True).stdout


@functools.cache
def workdir() -> Path:
    """The session's temp dir (removed at exit)."""
    path = Path(tempfile.mkdtemp(prefix="wechatpay-chain-keys-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def random_serial() -> str:
    """20 random bytes in upper hex, never starting with 00 (PHP's Makefile rule)."""
    serial = secrets.token_hex(20)
    return ("01" + serial[2:] if serial.startswith("00") else serial).upper()


def _self_signed(key: Path, subject: str, serial: str, out: Path, days: int = 1) -> None:
    csr = openssl("req", "-new", "-sha256", "-key", str(key), "-subj", subject, "-config", str(OPENSSL_CONF))
    openssl("x509", "-req", "-sha256", "-days", str(days), "-set_serial", f"0x{serial}",
            "-signkey", str(key), "-clrext", "-out", str(out), data=csr)


@functools.cache
def _mock() -> Path:
    """PHP's ``make keygen x509crt`` fixtures plus the encrypted PKCS#8 key: ``mock.<kind>.<suffix>``."""
    d = workdir()
    pkcs8 = d / "mock.pkcs8.key"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(pkcs8))
    openssl("rsa", "-in", str(pkcs8), "-traditional", "-out", str(d / "mock.pkcs1.key"))
    openssl("rsa", "-in", str(pkcs8), "-pubout", "-out", str(d / "mock.spki.pem"))
    openssl("rsa", "-pubin", "-in", str(d / "mock.spki.pem"), "-RSAPublicKey_out", "-out", str(d / "mock.pkcs1.pem"))
    serial = random_serial()
    (d / "mock.serial.txt").write_text(serial + "\n")
    _self_signed(pkcs8, MOCK_SUBJECT, serial, d / "mock.sha256.crt")
    (d / "mock.pwd.txt").write_text(MOCK_PASSWORD + "\n")
    openssl("pkcs8", "-topk8", "-in", str(pkcs8), "-passout", f"pass:{MOCK_PASSWORD}",
            "-out", str(d / "mock.encrypted.pkcs8.key"))
    return d


def mock_path(kind: str, suffix: str) -> Path:
    """PHP's ``FIXTURES`` pattern ``mock.%s.%s``, e.g. ``mock_path('pkcs1', 'key')``."""
    return _mock() / f"mock.{kind}.{suffix}"


def mock_text(kind: str, suffix: str) -> str:
    return mock_path(kind, suffix).read_text()


def mock_contents(kind: str, suffix: str) -> str:
    """PHP's ``getMockContents``: the base64 body of the PEM, without envelope and line feeds."""
    match = _ENVELOPE.search(mock_text(kind, suffix))
    return re.sub(r"[\r\n]", "", match.group("base64") if match else "")


def mock_serial() -> str:
    return mock_text("serial", "txt").strip()


class CiEnvironment(NamedTuple):
    """PHP PemUtilTest's ``$environment``: serial hex, cert file, cert PEM, key file, key PEM."""

    serial_no: str
    cert_file: Path
    cert_pem: str
    key_file: Path
    key_pem: str


@functools.cache
def php_ci_environment() -> CiEnvironment:
    """PemUtilTest::setUpBeforeClass: a key, and a CSR self-signed with a serial in 1000..9999."""
    d = workdir()
    serial = 1000 + secrets.randbelow(9000)
    key, cert = d / f"ci_{serial}.key", d / f"ci_{serial}.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key))
    csr = openssl("req", "-new", "-key", str(key), "-subj", MOCK_SUBJECT, "-config", str(OPENSSL_CONF))
    openssl("x509", "-req", "-sha256", "-days", "1", "-set_serial", str(serial), "-signkey", str(key),
            "-extfile", str(OPENSSL_CONF), "-extensions", "x509_ext", "-out", str(cert), data=csr)
    return CiEnvironment(f"{serial:04X}", cert, cert.read_text(), key, key.read_text())


@functools.cache
def _party(name: str, subject: str) -> Tuple[str, str, str]:
    """(private key PEM, certificate PEM, serial) of a long-lived test party."""
    d = workdir()
    key, cert = d / f"{name}.key", d / f"{name}.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key))
    serial = random_serial()
    _self_signed(key, subject, serial, cert, days=3650)
    return key.read_text(), cert.read_text(), serial


def merchant_private_pem() -> str:
    """The merchant's PKCS#8 private key PEM (``apiclient_key.pem``)."""
    return _party("merchant", MERCHANT_SUBJECT)[0]


@functools.cache
def merchant_private_key() -> RsaKey:
    return Rsa.from_(merchant_private_pem())


def merchant_public_key() -> RsaKey:
    return merchant_private_key().public_key()


def merchant_certificate_pem() -> str:
    """The merchant certificate (``apiclient_cert.pem``), self-signed."""
    return _party("merchant", MERCHANT_SUBJECT)[1]


def merchant_serial() -> str:
    """Upper-case hex serial of the merchant certificate (40 digits)."""
    return _party("merchant", MERCHANT_SUBJECT)[2]


def platform_private_pem() -> str:
    """The platform's PKCS#8 private key PEM (what the sandbox signs responses with)."""
    return _party("platform", PLATFORM_SUBJECT)[0]


@functools.cache
def platform_key() -> RsaKey:
    """The platform's *private* key; ``.public_key()`` or ``platform_public_key()`` for the public half."""
    return Rsa.from_(platform_private_pem())


def platform_public_key() -> RsaKey:
    return platform_key().public_key()


def platform_certificate_pem() -> str:
    """The platform certificate PEM, self-signed, valid for ten years."""
    return _party("platform", PLATFORM_SUBJECT)[1]


@functools.cache
def platform_certificate() -> Certificate:
    return PemUtil.load_certificate_from_string(platform_certificate_pem())


def platform_serial() -> str:
    """Upper-case hex serial of the platform certificate (40 digits)."""
    return _party("platform", PLATFORM_SUBJECT)[2]


def platform_public_key_spki() -> str:
    """The platform public key as bare base64 SPKI (a ``PUB_KEY_ID_`` style key)."""
    return "".join(platform_public_key().export_pem().splitlines()[1:-1])
