"""Port of PHP's tests/Crypto/AesGcmTest.php and AesEcbTest.php, plus independent known answers."""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
from typing import Any, Dict, Optional

import pytest

from tests.keys import CRYPTO_FIXTURES
from wechatpay_chain.crypto._symmetric import AesEcb, AesGcm, AesInterface
from wechatpay_chain.errors import DecryptionError, InvalidArgumentError

VECTORS = json.loads((CRYPTO_FIXTURES / "vectors.json").read_text(encoding="utf-8"))
# PHP uses ^[a-zA-Z0-9][a-zA-Z0-9+/]*={0,2}$, which fails whenever base64 starts with + or / (1 in 32).
GCM_BASE64 = re.compile(r"^[a-zA-Z0-9+/]+={0,2}$")
ECB_BASE64 = re.compile(r"^[a-zA-Z0-9+/]+={0,2}$")
BASE62 = string.ascii_letters + string.digits


def nonce(size: int = 32) -> str:
    """Formatter::nonce: a BASE62 random string."""
    return "".join(secrets.choice(BASE62) for _ in range(size))


@pytest.mark.parametrize("cls", [AesGcm, AesEcb])
def test_implements_aes_interface(cls: Any) -> None:
    assert issubclass(cls, AesInterface)


def test_class_constants() -> None:
    assert AesGcm.ALGO_AES_256_GCM == "aes-256-gcm" and AesEcb.ALGO_AES_256_ECB == "aes-256-ecb"
    assert AesGcm.KEY_LENGTH_BYTE == AesEcb.KEY_LENGTH_BYTE == 32
    assert AesGcm.BLOCK_SIZE == 16 and AesGcm.AUTH_TAG_LENGTH_BYTE == 16


GCM_CASES = {
    "random key and iv": lambda: ("hello wechatpay 你好 微信支付", nonce(32), nonce(16), ""),
    "random key, iv and aad": lambda: ("hello wechatpay 你好 微信支付", nonce(32), nonce(16), nonce(16)),
    "12-byte iv, bytes in": lambda: (b"hello", nonce(32).encode(), nonce(12).encode(), b"certificate"),
}


@pytest.mark.parametrize("name", list(GCM_CASES))
def test_gcm_encrypt_decrypt(name: str) -> None:
    plaintext, key, iv, aad = GCM_CASES[name]()
    ciphertext = AesGcm.encrypt(plaintext, key, iv, aad)
    assert isinstance(ciphertext, str) and ciphertext != plaintext
    assert GCM_BASE64.match(ciphertext)
    text = plaintext.decode() if isinstance(plaintext, bytes) else plaintext
    assert AesGcm.decrypt(ciphertext, key, iv, aad) == text


@pytest.mark.parametrize("vector", VECTORS["aes_gcm"], ids=lambda v: f"{v['iv']}-{v['aad']}")
def test_gcm_known_answers_from_cryptography(vector: Dict[str, str]) -> None:
    args = (vector["key"], vector["iv"], vector["aad"])
    assert AesGcm.encrypt(vector["plaintext"], *args) == vector["ciphertext"]
    assert AesGcm.decrypt(vector["ciphertext"], *args) == vector["plaintext"]


def test_gcm_tampering_raises_decryption_error() -> None:
    vector = VECTORS["aes_gcm"][1]
    raw = bytearray(base64.b64decode(vector["ciphertext"]))
    raw[0] ^= 1
    with pytest.raises(DecryptionError) as info:
        AesGcm.decrypt(base64.b64encode(bytes(raw)), vector["key"], vector["iv"], vector["aad"])
    assert vector["key"] not in str(info.value) and "mchid" not in str(info.value)
    for bad in ({"aad": "other"}, {"iv": "0123456789ax"}, {"key": "x" * 32}):
        args = {"key": vector["key"], "iv": vector["iv"], "aad": vector["aad"], **bad}
        with pytest.raises(DecryptionError):
            AesGcm.decrypt(vector["ciphertext"], **args)
    with pytest.raises(DecryptionError, match="incomplete"):
        AesGcm.decrypt("AAAA", vector["key"], vector["iv"])


@pytest.mark.parametrize("key", ["", "short", "x" * 31, "x" * 33, "中" * 11])
def test_bad_key_length_is_invalid_argument(key: str) -> None:
    with pytest.raises(InvalidArgumentError, match="32 bytes"):
        AesGcm.encrypt("hello", key, "0123456789ab")
    with pytest.raises(InvalidArgumentError, match="32 bytes"):
        AesEcb.encrypt("hello", key)
    with pytest.raises(InvalidArgumentError) as info:
        AesEcb.decrypt("pZwJZBLuy3mDACEQT4YTBw==", key)
    assert (key not in str(info.value)) or not key


def test_gcm_empty_iv_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError):
        AesGcm.encrypt("hello", "0123456789abcdef0123456789abcdef", "")


def test_non_utf8_plaintext_is_decryption_error() -> None:
    key = "0123456789abcdef0123456789abcdef"
    with pytest.raises(DecryptionError, match="UTF-8"):
        AesGcm.decrypt(AesGcm.encrypt(b"\xff\xfe", key, "0123456789ab"), key, "0123456789ab")


ECB_PHRASES = {
    "fixed plaintext and key": lambda: ("hello", "0123456789abcdef0123456789abcdef", "", "pZwJZBLuy3mDACEQT4YTBw=="),
    "random key": lambda: ("hello wechatpay 你好 微信支付", nonce(32), "", None),
    "empty text with random key": lambda: ("", nonce(32), "", None),
}


@pytest.mark.parametrize("name", list(ECB_PHRASES))
def test_ecb_encrypt(name: str) -> None:
    plaintext, key, iv, expected = ECB_PHRASES[name]()
    ciphertext = AesEcb.encrypt(plaintext, key, iv)
    assert isinstance(ciphertext, str) and ciphertext
    if expected is not None:
        assert ciphertext == expected
    assert ECB_BASE64.match(ciphertext)


@pytest.mark.parametrize("name", list(ECB_PHRASES))
def test_ecb_decrypt(name: str) -> None:
    plaintext, key, iv, ciphertext = ECB_PHRASES[name]()
    ciphertext = ciphertext if ciphertext is not None else AesEcb.encrypt(plaintext, key, iv)
    assert ECB_BASE64.match(ciphertext) and ciphertext != plaintext
    assert AesEcb.decrypt(ciphertext, key, iv) == plaintext


@pytest.mark.parametrize("vector", VECTORS["aes_ecb"], ids=lambda v: v["plaintext"][:10])
def test_ecb_known_answers_from_openssl_enc(vector: Dict[str, str]) -> None:
    assert AesEcb.encrypt(vector["plaintext"], vector["key"]) == vector["ciphertext"]
    assert AesEcb.decrypt(vector["ciphertext"], vector["key"].encode()) == vector["plaintext"]


@pytest.mark.parametrize("ciphertext", ["", "AAAA", "qZwJZBLuy3mDACEQT4YTBw==", "not base64!"])
def test_ecb_bad_ciphertext_is_decryption_error(ciphertext: str) -> None:
    with pytest.raises(DecryptionError):
        AesEcb.decrypt(ciphertext, "0123456789abcdef0123456789abcdef")


def test_lenient_base64_like_php() -> None:
    """PHP's base64_decode skips line feeds and other foreign characters."""
    key: Optional[str] = "0123456789abcdef0123456789abcdef"
    assert AesEcb.decrypt("pZwJZBLu\ny3mDACEQ\r\nT4YTBw==", key or "") == "hello"
