"""The sandbox's identities: the merchant (key + serial) and the platform (a PUB_KEY_ID_ key and a certificate).

RSA-2048 generation costs about a second per key, so the keys are made once per process and shared by
every Sandbox unless fresh ones are asked for; serials, the APIv3 key and the APIv2 secret are new each time.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, List, Optional, Sequence

from wechatpay_chain.crypto._pem import Certificate, build_certificate
from wechatpay_chain.crypto._rsa import Rsa, RsaKey
from wechatpay_chain.protocol._formatter import Formatter

__all__ = ["Identity", "shared_keys", "DEFAULT_MCHID"]

DEFAULT_MCHID = "1230000109"
_CACHE: List[RsaKey] = []
_LOCK = threading.Lock()


def shared_keys(count: int = 3) -> List[RsaKey]:
    """The process-wide sandbox keys (merchant, platform public key, platform certificate), made on first use."""
    with _LOCK:
        while len(_CACHE) < count:
            _CACHE.append(Rsa.generate(2048))
        return list(_CACHE[:count])


def _serial_hex() -> str:
    """20 random bytes as 40 upper hex digits, never starting with 00 (like a real certificate serial)."""
    raw = bytearray(secrets.token_bytes(20))
    raw[0] = (raw[0] & 0x7F) or 0x01
    return raw.hex().upper()


def _public_key_id(mchid: str, when: datetime) -> str:
    """`PUB_KEY_ID_` + 28 digits: '01', the 10-digit merchant id, the day, 8 random digits."""
    digits = "".join(str(secrets.randbelow(10)) for _ in range(8))
    return f"PUB_KEY_ID_01{mchid[-10:].zfill(10)}{when:%Y%m%d}{digits}"


@dataclass(frozen=True)
class Identity:
    """Everything the sandbox and its clients share. repr shows no secret."""

    mchid: str
    merchant_key: RsaKey = field(repr=False)
    merchant_serial: str
    platform_key: RsaKey = field(repr=False)
    platform_public_key_id: str
    certificate_key: RsaKey = field(repr=False)
    certificate: Certificate
    apiv3_key: str = field(repr=False)
    secret: str = field(repr=False)

    @classmethod
    def create(cls, mchid: Optional[str] = None, keys: Optional[Sequence[Any]] = None, fresh: bool = False) -> Identity:
        """`keys`: up to three private keys (RsaKey or PEM) for merchant, platform, certificate; the rest shared."""
        given = [Rsa.from_(k, Rsa.KEY_TYPE_PRIVATE) for k in (keys or ())][:3]
        if fresh:
            given += [Rsa.generate(2048) for _ in range(3 - len(given))]
        else:
            given += shared_keys(3)[len(given):]
        merchant, platform, cert_key = given
        mchid = str(mchid or DEFAULT_MCHID)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        certificate = build_certificate(
            subject_key=cert_key,
            issuer_key=cert_key,
            serial=int(_serial_hex(), 16),
            subject_cn="Tenpay.com sign",
            issuer_cn="Tenpay.com Root CA",
            not_before=now - timedelta(days=1),
            not_after=now + timedelta(days=5 * 365),
            organization="Tenpay.com",
        )
        return cls(
            mchid=mchid,
            merchant_key=merchant,
            merchant_serial=_serial_hex(),
            platform_key=platform,
            platform_public_key_id=_public_key_id(mchid, now),
            certificate_key=cert_key,
            certificate=certificate,
            apiv3_key=Formatter.nonce(32),
            secret=Formatter.nonce(32),
        )

    def private_key_for(self, serial: str) -> Optional[RsaKey]:
        """The platform private key behind a public-key id or certificate serial (field decryption)."""
        if serial == self.platform_public_key_id:
            return self.platform_key
        if serial == self.certificate.serial_no:
            return self.certificate_key
        return None
