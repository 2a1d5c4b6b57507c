"""AES-256 (GCM, ECB) and the APIv2 hash signatures: PHP's ``AesGcm``, ``AesEcb`` and ``Hash``.

The AES work runs on the active backend (`backend.ACTIVE`).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac as _hmac
from typing import Any, Optional

import wechatpay_chain.crypto._backend as backends
from wechatpay_chain.crypto._codec import Text, b64decode, b64encode, to_bytes, utf8
from wechatpay_chain.errors import DecryptionError, InvalidArgumentError

__all__ = ["AesInterface", "AesGcm", "AesEcb", "Hash", "check_apiv3_key"]


class AesInterface:
    """PHP's ``AesInterface`` constants."""

    BLOCK_SIZE = 16
    KEY_LENGTH_BYTE = 32
    AUTH_TAG_LENGTH_BYTE = 16
    ALGO_AES_256_GCM = "aes-256-gcm"
    ALGO_AES_256_ECB = "aes-256-ecb"


#: the advice of a ciphertext that does not decrypt with the APIv3 key (certificate download, notifications)
WRONG_APIV3_KEY = (
    "the apiv3_key is wrong (it is the 32-character key set in the merchant platform, API安全 -> APIv3密钥, "
    "not the APIv2 key)"
)


def check_apiv3_key(key: Any, name: str = "`apiv3_key`") -> None:
    """The APIv3 key is 32 bytes (AES-256): refused up front wherever it is given, not at the first decryption."""
    size = -1
    if isinstance(key, (bytes, bytearray)):
        size = len(key)
    elif isinstance(key, str):
        try:
            size = len(key.encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError:
            pass  # raised below, outside the handler: see errors.py
    if size != AesInterface.KEY_LENGTH_BYTE:
        raise InvalidArgumentError(f"{name} must be 32 bytes: the APIv3 key set on the merchant platform")


def _aes_key(key: Text) -> bytes:
    raw = to_bytes(key, "key")
    if len(raw) != AesInterface.KEY_LENGTH_BYTE:
        raise InvalidArgumentError(f"The AES-256 key must be 32 bytes, got {len(raw)} bytes.")
    return raw


class AesGcm(AesInterface):
    """PHP ``AesGcm``: AEAD_AES_256_GCM, the 16-byte tag appended to the ciphertext."""

    @staticmethod
    def encrypt(plaintext: Text, key: Text, iv: Text, aad: Text = "") -> str:
        """PHP ``AesGcm::encrypt``: base64(ciphertext || tag)."""
        nonce = to_bytes(iv, "iv")
        if not nonce:
            raise InvalidArgumentError("The AES-GCM iv (nonce) must not be empty.")
        raw_key, data, extra = _aes_key(key), to_bytes(plaintext, "plaintext"), to_bytes(aad, "aad")
        return b64encode(backends.ACTIVE.gcm_encrypt(raw_key, nonce, data, extra))

    @staticmethod
    def decrypt(ciphertext: Text, key: Text, iv: Text, aad: Text = "") -> str:
        """PHP ``AesGcm::decrypt``: authenticated decryption to UTF-8 text; a bad tag raises DecryptionError."""
        raw_key, nonce = _aes_key(key), to_bytes(iv, "iv")
        if not nonce:
            raise InvalidArgumentError("The AES-GCM iv (nonce) must not be empty.")
        try:
            data = b64decode(ciphertext)
        except binascii.Error:
            data = b""
        if len(data) < AesGcm.BLOCK_SIZE:
            raise DecryptionError("The input ciphertext is incomplete: shorter than the 16-byte tag.")
        extra = to_bytes(aad, "aad")
        try:
            plain = backends.ACTIVE.gcm_decrypt(raw_key, nonce, data, extra)
        except ValueError:
            raise DecryptionError(
                "Decrypting the input ciphertext failed, please check your key, iv and aad."
            ) from None
        return utf8(plain)


class AesEcb(AesInterface):
    """PHP ``AesEcb``: AES-256-ECB with PKCS#7 padding (APIv2 refund notification ``req_info``)."""

    @staticmethod
    def encrypt(plaintext: Text, key: Text, iv: Text = "") -> str:
        """PHP ``AesEcb::encrypt``; ``iv`` is ignored (ECB has none)."""
        return b64encode(backends.ACTIVE.ecb_encrypt(_aes_key(key), to_bytes(plaintext, "plaintext")))

    @staticmethod
    def decrypt(ciphertext: Text, key: Text, iv: Text = "") -> str:
        """PHP ``AesEcb::decrypt``: to UTF-8 text; bad padding raises DecryptionError."""
        raw_key = _aes_key(key)
        try:
            plain = backends.ACTIVE.ecb_decrypt(raw_key, b64decode(ciphertext))
        except (ValueError, binascii.Error):
            raise DecryptionError("Decrypting the input ciphertext failed, please check your key.") from None
        return utf8(plain)


def _php_truthy(value: Any) -> bool:
    """PHP's boolean cast: '', '0', 0, false and null are falsy."""
    if isinstance(value, (str, bytes)):
        return value not in ("", "0", b"", b"0")
    return bool(value)


class Hash:
    """PHP ``WeChatPay\\Crypto\\Hash``: the APIv2 MD5 / HMAC-SHA256 data signatures."""

    ALGO_MD5 = "MD5"
    ALGO_HMAC_SHA256 = "HMAC-SHA256"

    @staticmethod
    def md5(thing: Text, key: Text = "", agency: Any = False) -> str:
        """PHP ``Hash::md5``: md5(thing [+ '&key=' or, for ``agency``, '&secret=' + key]), lower hex."""
        ctx = hashlib.md5(to_bytes(thing))
        if _php_truthy(key):
            ctx.update(b"&secret=" if _php_truthy(agency) else b"&key=")
            ctx.update(to_bytes(key, "key"))
        return ctx.hexdigest()

    @staticmethod
    def hmac(thing: Text, key: Text, algorithm: str = "sha256") -> str:
        """PHP ``Hash::hmac``: HMAC(key, thing + '&key=' + key), lower hex."""
        secret, data = to_bytes(key, "key"), to_bytes(thing)
        if not secret:  # PHP 8's hash_init(..., HASH_HMAC, '') throws ValueError
            raise InvalidArgumentError("The HMAC key must not be empty.")
        name = algorithm.lower().replace("/", "_").replace("-", "_") if isinstance(algorithm, str) else ""
        ctx: Optional[_hmac.HMAC] = None
        try:
            ctx = _hmac.new(secret, data, name)
        except (ValueError, TypeError):
            pass
        if ctx is None:
            # The name is never echoed: PHP's hash_hmac($algo, $data, $key) order puts the key here, and the
            # digest error names it too (outside the handler: see errors.py).
            raise InvalidArgumentError(
                "Unsupported hash algorithm (not shown, it may be a key given in its place): use a hashlib "
                "name such as sha256 (the default), sha512, sha1 or md5; the arguments are (data, key, algorithm)."
            )
        ctx.update(b"&key=" + secret)
        return ctx.hexdigest()

    @staticmethod
    def equals(known: Optional[Text], user: Optional[Text] = None) -> bool:
        """PHP ``Hash::equals`` (``hash_equals``): constant time; False when either side is None."""
        if known is None or user is None:
            return False
        return _hmac.compare_digest(to_bytes(known), to_bytes(user))

    @staticmethod
    def sign(type: str, data: Text, key: Text) -> Optional[str]:
        """PHP ``Hash::sign``: upper-case hex MD5 or HMAC-SHA256 signature; None for another type."""
        if type == Hash.ALGO_MD5:
            return Hash.md5(data, key).upper()
        if type == Hash.ALGO_HMAC_SHA256:
            return Hash.hmac(data, key).upper()
        return None
