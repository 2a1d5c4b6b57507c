"""X.509 certificates: PHP's ``WeChatPay\\Util\\PemUtil``, parsed with ``Crypto.Util.asn1`` only."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import textwrap
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, Union

from wechatpay_chain.crypto._rsa import Rsa, RsaKey
from wechatpay_chain.errors import InvalidArgumentError

if TYPE_CHECKING:  # imported where used: pycryptodome stays unloaded until a certificate is parsed or built
    from Crypto.Util.asn1 import DerObject, DerSequence

__all__ = ["Certificate", "PemUtil", "build_certificate"]

_CERT_RE = re.compile(
    r"-----BEGIN (?:X509 )?CERTIFICATE-----[ \t]*\r?\n(.*?)-----END (?:X509 )?CERTIFICATE-----", re.S
)
_OID_SHA256_RSA = "1.2.840.113549.1.1.11"
_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.42": "GN",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
}
_STRING_CODECS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


@dataclass(frozen=True, repr=False)
class Certificate:
    """A parsed X.509 certificate (PHP's ``OpenSSLCertificate``); repr shows no PEM."""

    serial_no: str
    not_before: datetime
    not_after: datetime
    subject: str
    issuer: str
    public_key: RsaKey
    der: bytes

    @property
    def pem(self) -> str:
        body = "\n".join(textwrap.wrap(base64.b64encode(self.der).decode("ascii"), 64))
        return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"

    def is_valid_at(self, when: Union[datetime, float, None] = None) -> bool:
        """True when ``when`` (default: now; a datetime or a unix timestamp) is within the validity period."""
        if when is None:
            moment = datetime.now(timezone.utc)
        elif isinstance(when, datetime):
            moment = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        else:
            moment = datetime.fromtimestamp(float(when), timezone.utc)
        return self.not_before <= moment <= self.not_after

    def is_signed_by(self, issuer_key: RsaKey) -> bool:
        """Python addition: whether ``issuer_key`` made this certificate's sha256WithRSAEncryption signature."""
        tbs, algorithm, signature = _certificate_parts(self.der)
        if algorithm != _OID_SHA256_RSA:
            return False
        return Rsa.verify(tbs, base64.b64encode(signature), issuer_key)

    def __repr__(self) -> str:
        return (
            f"<Certificate serial_no={self.serial_no} subject={self.subject!r} "
            f"not_after={self.not_after.isoformat()}>"
        )

    __str__ = __repr__


def _bad(detail: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"Cannot load the certificate: {detail}.")


def _seq(data: Any, what: str) -> List[Any]:
    from Crypto.Util.asn1 import DerSequence

    if not isinstance(data, bytes):
        raise _bad(f"malformed {what}")
    try:
        seq = DerSequence().decode(data, strict=True)
        return [seq[i] for i in range(len(seq))]
    except (ValueError, EOFError, IndexError, TypeError):
        raise _bad(f"malformed {what}") from None


def _tlv(data: Any, what: str) -> DerObject:
    from Crypto.Util.asn1 import DerObject

    obj = DerObject()
    try:
        obj.decode(data, strict=True)
    except (ValueError, EOFError, IndexError, TypeError):
        raise _bad(f"malformed {what}") from None
    return obj


def _oid(data: Any) -> str:
    from Crypto.Util.asn1 import DerObjectId

    try:
        return str(DerObjectId().decode(data, strict=True).value)
    except (ValueError, EOFError, IndexError, TypeError):
        raise _bad("malformed object identifier") from None


def _certificate_parts(der: bytes) -> tuple[bytes, str, bytes]:
    from Crypto.Util.asn1 import DerBitString

    items = _seq(der, "certificate")
    if len(items) != 3:
        raise _bad("not an X.509 certificate")
    algorithm = _seq(items[1], "signature algorithm")
    try:
        signature = DerBitString().decode(items[2], strict=True).value
    except (ValueError, EOFError, IndexError, TypeError):
        raise _bad("malformed signature") from None
    return items[0], _oid(algorithm[0]), bytes(signature)


def _name(data: Any) -> str:
    from Crypto.Util.asn1 import DerSetOf

    parts = []
    for rdn in _seq(data, "name"):
        try:
            atvs = list(DerSetOf().decode(rdn, strict=True))
        except (ValueError, EOFError, IndexError, TypeError):
            raise _bad("malformed name") from None
        for atv in atvs:
            oid, value = _seq(atv, "name attribute")[:2]
            obj = _tlv(value, "name value")
            try:
                text = bytes(obj.payload).decode(_STRING_CODECS.get(obj._tag_octet or 0, "latin-1"))
            except UnicodeDecodeError:
                text = bytes(obj.payload).hex()
            parts.append(f"{_NAMES.get(_oid(oid), _oid(oid))}={text}")
    return ", ".join(parts)


def _time(data: Any) -> datetime:
    obj = _tlv(data, "time")
    text = bytes(obj.payload).decode("ascii", "replace")
    try:
        if obj._tag_octet == 0x17 and len(text) == 13 and text.endswith("Z"):
            parsed = datetime.strptime(text, "%y%m%d%H%M%SZ")
            if parsed.year >= 2050:
                parsed = parsed.replace(year=parsed.year - 100)
        elif obj._tag_octet == 0x18 and len(text) == 15 and text.endswith("Z"):
            parsed = datetime.strptime(text, "%Y%m%d%H%M%SZ")
        else:
            raise ValueError(text)
    except ValueError:
        raise _bad("malformed validity time") from None
    return parsed.replace(tzinfo=timezone.utc)


def _serial_hex(serial: int) -> str:
    """OpenSSL's ``BN_bn2hex`` (PHP's ``serialNumberHex``): whole bytes, upper-case, leading zero bytes dropped."""
    if serial == 0:
        return "0"
    digits = f"{abs(serial):X}"
    digits = ("0" + digits) if len(digits) % 2 else digits
    return ("-" if serial < 0 else "") + digits


def _parse_der(der: bytes) -> Certificate:
    tbs_der, _, _ = _certificate_parts(der)
    tbs = _seq(tbs_der, "tbsCertificate")
    offset = 1 if isinstance(tbs[0], bytes) and tbs[0][:1] == b"\xa0" else 0
    if len(tbs) < offset + 6 or not isinstance(tbs[offset], int):
        raise _bad("malformed tbsCertificate")
    serial, issuer, validity, subject, spki = (tbs[offset], *tbs[offset + 2:offset + 6])
    not_before, not_after = (_time(t) for t in _seq(validity, "validity")[:2])
    if not isinstance(spki, bytes):
        raise _bad("malformed subjectPublicKeyInfo")
    try:
        public_key = Rsa.from_spki(base64.b64encode(spki))
    except InvalidArgumentError:
        raise _bad("the subject public key is not an RSA key") from None
    return Certificate(
        serial_no=_serial_hex(serial),
        not_before=not_before,
        not_after=not_after,
        subject=_name(subject),
        issuer=_name(issuer),
        public_key=public_key,
        der=bytes(der),
    )


def _read_text(content: Any) -> str:
    if isinstance(content, (bytes, bytearray, memoryview)):
        return bytes(content).decode("latin-1")
    if isinstance(content, str):
        return content
    raise InvalidArgumentError(f"Cannot load the certificate from({type(content).__name__}).")


class PemUtil:
    """PHP ``WeChatPay\\Util\\PemUtil``: load X.509 certificates and read their serial numbers."""

    @staticmethod
    def load_certificate(filepath: str) -> Certificate:
        """PHP ``PemUtil::loadCertificate``: from a PEM (or DER) file; ``file://`` prefix optional."""
        path = filepath[len("file://"):] if filepath.startswith("file://") else filepath
        try:
            content = Path(path).read_bytes()
        except OSError as exc:
            raise InvalidArgumentError(f"Loading the certificate failed, please check your {path!r} input.") from exc
        if b"-----BEGIN" not in content and content[:1] == b"\x30":
            return _parse_der(content)
        return PemUtil.load_certificate_from_string(content)

    @staticmethod
    def load_certificate_from_string(pem: Union[str, bytes, Certificate]) -> Certificate:
        """PHP ``PemUtil::loadCertificateFromString``: the first ``CERTIFICATE`` block of the PEM text."""
        if isinstance(pem, Certificate):
            return pem
        if isinstance(pem, str) and pem.startswith("file://"):  # openssl_x509_read takes file:// paths too
            return PemUtil.load_certificate(pem)
        match = _CERT_RE.search(_read_text(pem))
        if not match:
            raise _bad("no PEM CERTIFICATE block found")
        try:
            der = base64.b64decode("".join(match.group(1).split()), validate=True)
        except (binascii.Error, ValueError):
            raise _bad("the PEM body is not base64") from None
        return _parse_der(der)

    @staticmethod
    def parse_certificate_serial_no(cert: Union[Certificate, str, bytes]) -> str:
        """PHP ``PemUtil::parseCertificateSerialNo``: upper-case hex serial, as ``serialNumberHex``."""
        if isinstance(cert, str) and cert.startswith("file://"):
            return PemUtil.load_certificate(cert).serial_no
        return PemUtil.load_certificate_from_string(cert).serial_no


def _der_name(cn: str, organization: Optional[str]) -> DerSequence:
    from Crypto.Util.asn1 import DerObject, DerObjectId, DerSequence, DerSetOf

    rdns = []
    for oid, value in (("2.5.4.10", organization), ("2.5.4.3", cn)):
        if value is not None:
            atv = DerSequence([DerObjectId(oid), DerObject(0x0C, value.encode("utf-8"))])
            rdns.append(DerSetOf([atv.encode()]))
    return DerSequence(rdns)


def _der_time(moment: datetime) -> DerObject:
    from Crypto.Util.asn1 import DerObject

    utc = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    if 1950 <= utc.year < 2050:
        return DerObject(0x17, utc.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return DerObject(0x18, utc.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def _key_id(key: RsaKey) -> bytes:
    from Crypto.Util.asn1 import DerBitString

    spki = base64.b64decode("".join(key.public_key().export_pem().splitlines()[1:-1]))
    return hashlib.sha1(DerBitString().decode(_seq(spki, "public key")[1]).value).digest()


def _extension(oid: str, value: bytes, critical: bool = False) -> bytes:
    from Crypto.Util.asn1 import DerBoolean, DerObjectId, DerOctetString, DerSequence

    parts: List[Any] = [DerObjectId(oid)]
    if critical:
        parts.append(DerBoolean(True))
    parts.append(DerOctetString(value))
    return DerSequence(parts).encode()


def build_certificate(
    *,
    subject_key: RsaKey,
    issuer_key: RsaKey,
    serial: int,
    subject_cn: str,
    issuer_cn: Optional[str] = None,
    not_before: datetime,
    not_after: datetime,
    organization: Optional[str] = None,
) -> Certificate:
    """Python addition: a minimal X.509 v3 certificate signed sha256WithRSAEncryption by ``issuer_key``.

    Self-signed (same key) certificates are marked CA; ``organization`` goes into both names.
    """
    from Crypto.Util.asn1 import DerBitString, DerBoolean, DerInteger, DerNull, DerObjectId, DerOctetString, DerSequence

    if not isinstance(serial, int) or isinstance(serial, bool) or serial <= 0 or serial.bit_length() > 159:
        raise InvalidArgumentError("The certificate serial must be a positive integer of at most 20 bytes.")
    if not issuer_key.is_private:
        raise InvalidArgumentError("The issuer_key must be a private key.")
    is_ca = subject_key.public_key() == issuer_key.public_key()
    spki_pem = subject_key.public_key().export_pem()
    spki = base64.b64decode("".join(spki_pem.splitlines()[1:-1]))
    key_usage = 0b10100110 if is_ca else 0b10100000  # digitalSignature, keyEncipherment (+ keyCertSign, cRLSign)
    unused = (key_usage & -key_usage).bit_length() - 1
    extensions = [
        _extension("2.5.29.19", DerSequence([DerBoolean(True)] if is_ca else []).encode(), critical=True),
        _extension("2.5.29.15", bytes([0x03, 0x02, unused, key_usage]), critical=True),
        _extension("2.5.29.14", DerOctetString(_key_id(subject_key)).encode()),
        _extension("2.5.29.35", DerSequence([DerOctetString(_key_id(issuer_key), implicit=0)]).encode()),
    ]
    algorithm = DerSequence([DerObjectId(_OID_SHA256_RSA), DerNull()])
    tbs = DerSequence(
        [
            DerInteger(2, explicit=0),
            DerInteger(serial),
            algorithm,
            _der_name(issuer_cn if issuer_cn is not None else subject_cn, organization),
            DerSequence([_der_time(not_before), _der_time(not_after)]),
            _der_name(subject_cn, organization),
            spki,
            DerSequence(extensions, explicit=3),
        ]
    ).encode()
    signature = base64.b64decode(Rsa.sign(tbs, issuer_key))
    return _parse_der(DerSequence([tbs, algorithm, DerBitString(signature)]).encode())
