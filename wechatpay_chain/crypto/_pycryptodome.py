"""The crypto backend interface, and its pycryptodome implementation (the default dependency).

``crypto.Rsa``/``AesGcm``/``AesEcb`` call a ``Backend``; this module also holds the DER helpers key
loading uses (pycryptodome's ASN.1 codec serves both backends). Nothing from pycryptodome is imported
until the first key load or AES operation, so ``import wechatpay_chain`` stays light.
"""

from __future__ import annotations

import base64
import functools
from importlib.util import find_spec
from typing import Any, Dict, Optional, Tuple

__all__ = ["Backend", "Pycryptodome", "PYCRYPTODOME", "der_kind", "x509_spki"]

if find_spec("Crypto") is None:  # a hard dependency: fail at import, not at the first key load
    raise ModuleNotFoundError("No module named 'Crypto'", name="Crypto")

# Outer DER structure (element tags, 2 = INTEGER) -> kind.
_DER_KINDS = {(2,) * 9: "pkcs1-private", (2, 2): "pkcs1-public", (0x30, 0x03): "spki",
              (2, 0x30, 0x04): "pkcs8", (2, 0x30, 0x04, 0xA0): "pkcs8", (0x30, 0x30, 0x03): "x509",
              (0x30, 0x04): "encrypted"}  # EncryptedPrivateKeyInfo: AlgorithmIdentifier, OCTET STRING


def der_kind(der: bytes) -> Optional[str]:
    """Classify a DER blob by its outer structure: PKCS#1/PKCS#8/SPKI/X.509."""
    from Crypto.Util.asn1 import DerSequence

    try:
        seq = DerSequence().decode(der, strict=True)
        items = [seq[i] for i in range(len(seq))]
    except (ValueError, EOFError, IndexError, TypeError):
        return None

    tags = tuple(item[0] if isinstance(item, bytes) and item else 2 if isinstance(item, int) else -1 for item in items)
    return _DER_KINDS.get(tags)


def x509_spki(der: bytes) -> bytes:
    """The subjectPublicKeyInfo of an X.509 certificate (as pycryptodome's import_key finds it)."""
    from Crypto.Util.asn1 import DerSequence

    tbs = DerSequence().decode(DerSequence().decode(der, strict=True)[0], strict=True)
    first = tbs[0]
    spki = tbs[6 if isinstance(first, bytes) and first[:1] == b"\xa0" else 5]
    if not isinstance(spki, bytes):
        raise ValueError("No subjectPublicKeyInfo in the certificate")
    return spki


class Backend:
    """The RSA/AES operations on one library's key objects; ``Rsa``/``AesGcm``/``AesEcb`` stay thin.

    Errors are the library's own ValueError/TypeError (or ``False`` for a bad signature); the public
    classes turn them into InvalidArgumentError/DecryptionError with backend-independent messages.
    """

    name = ""

    def load_der(self, kind: str, der: bytes) -> Any:
        """Load a DER key of the given kind (pkcs1-private, pkcs8, spki, pkcs1-public, x509)."""
        raise NotImplementedError

    def load_encrypted(self, pem: str, passphrase: bytes) -> Any:
        raise NotImplementedError

    def generate(self, bits: int) -> Any:
        raise NotImplementedError

    def is_private(self, key: Any) -> bool:
        raise NotImplementedError

    def size_in_bits(self, key: Any) -> int:
        raise NotImplementedError

    def public(self, key: Any) -> Any:
        raise NotImplementedError

    def numbers(self, key: Any) -> Tuple[int, int]:
        """(n, e)"""
        raise NotImplementedError

    def export_der(self, key: Any) -> bytes:
        """PKCS#8 DER for a private key, SPKI DER for a public one."""
        raise NotImplementedError

    def sign(self, key: Any, data: bytes) -> bytes:
        raise NotImplementedError

    def verify(self, key: Any, data: bytes, signature: bytes) -> bool:
        raise NotImplementedError

    def oaep_encrypt(self, key: Any, data: bytes) -> bytes:
        raise NotImplementedError

    def oaep_decrypt(self, key: Any, data: bytes) -> bytes:
        raise NotImplementedError

    def gcm_encrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        """ciphertext || 16-byte tag"""
        raise NotImplementedError

    def gcm_decrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        raise NotImplementedError

    def ecb_encrypt(self, key: bytes, data: bytes) -> bytes:
        """AES-256-ECB with PKCS#7 padding"""
        raise NotImplementedError

    def ecb_decrypt(self, key: bytes, data: bytes) -> bytes:
        raise NotImplementedError

    def decrypt_private_pem(self, pem: bytes, passphrase: bytes) -> bytes:
        """The unencrypted PKCS#8 ``PRIVATE KEY`` PEM of an encrypted RSA or EC private key PEM (for OpenSSL to
        load from a file, as the APIv2 mTLS key); ValueError/TypeError when it does not decrypt to one."""
        raise NotImplementedError

    def load_pkcs12(self, data: bytes, passphrase: Optional[bytes]) -> Tuple[bytes, bytes]:
        """(certificate chain PEM, unencrypted PKCS#8 key PEM) from a PKCS#12 bundle, ``b""`` for a part it lacks;
        ValueError when it does not open. ImportError where the library has no PKCS#12 reader."""
        raise ImportError(f"the {self.name or 'this'} backend cannot read PKCS#12: it needs the cryptography package")

    def export_pem(self, key: Any) -> str:
        """PKCS#8 ``PRIVATE KEY`` / SPKI ``PUBLIC KEY`` PEM, 64-column, no trailing newline (both backends)."""
        label = "PRIVATE KEY" if self.is_private(key) else "PUBLIC KEY"
        body = base64.encodebytes(self.export_der(key)).decode("ascii").replace("\n", "")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])


class _Lib:
    """pycryptodome's modules, imported on first use because its cffi loader is slow to import."""

    def __init__(self) -> None:
        from Crypto.Cipher import AES, PKCS1_OAEP
        from Crypto.Hash import SHA1, SHA256
        from Crypto.PublicKey import RSA
        from Crypto.Signature import pkcs1_15
        from Crypto.Util.Padding import pad, unpad

        self.aes, self.oaep, self.sha1, self.sha256 = AES, PKCS1_OAEP, SHA1, SHA256
        self.rsa, self.pkcs1_15, self.pad, self.unpad = RSA, pkcs1_15, pad, unpad


@functools.cache
def _lib() -> _Lib:
    """pycryptodome, imported once, on first use. (a race may build it twice: harmless, imports are locked.)"""
    return _Lib()


class Pycryptodome(Backend):
    name = "pycryptodome"

    def load_der(self, kind: str, der: bytes) -> Any:
        return _lib().rsa.import_key(der)

    def load_encrypted(self, pem: str, passphrase: bytes) -> Any:
        return _lib().rsa.import_key(pem, passphrase)

    def generate(self, bits: int) -> Any:
        return _lib().rsa.generate(bits)

    def is_private(self, key: Any) -> bool:
        return bool(key.has_private())

    def size_in_bits(self, key: Any) -> int:
        return int(key.size_in_bits())

    def public(self, key: Any) -> Any:
        return key.public_key()

    def numbers(self, key: Any) -> Tuple[int, int]:
        return int(key.n), int(key.e)

    def export_der(self, key: Any) -> bytes:
        return bytes(key.export_key(format="DER", pkcs=8) if key.has_private() else key.export_key(format="DER"))

    def sign(self, key: Any, data: bytes) -> bytes:
        lib = _lib()
        return bytes(lib.pkcs1_15.new(key).sign(lib.sha256.new(data)))

    def verify(self, key: Any, data: bytes, signature: bytes) -> bool:
        lib = _lib()
        try:
            lib.pkcs1_15.new(key).verify(lib.sha256.new(data), signature)
        except (ValueError, TypeError):
            return False
        return True

    def oaep_encrypt(self, key: Any, data: bytes) -> bytes:
        lib = _lib()
        return bytes(lib.oaep.new(key, hashAlgo=lib.sha1).encrypt(data))

    def oaep_decrypt(self, key: Any, data: bytes) -> bytes:
        lib = _lib()
        return bytes(lib.oaep.new(key, hashAlgo=lib.sha1).decrypt(data))

    def gcm_encrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        aes = _lib().aes
        cipher = aes.new(key, aes.MODE_GCM, nonce=nonce, mac_len=16)
        cipher.update(aad)
        ciphertext, tag = cipher.encrypt_and_digest(data)
        return bytes(ciphertext + tag)

    def gcm_decrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        aes = _lib().aes
        cipher = aes.new(key, aes.MODE_GCM, nonce=nonce, mac_len=16)
        cipher.update(aad)
        return bytes(cipher.decrypt_and_verify(data[:-16], data[-16:]))

    def ecb_encrypt(self, key: bytes, data: bytes) -> bytes:
        lib = _lib()
        return bytes(lib.aes.new(key, lib.aes.MODE_ECB).encrypt(lib.pad(data, 16)))

    def ecb_decrypt(self, key: bytes, data: bytes) -> bytes:
        lib = _lib()
        return bytes(lib.unpad(lib.aes.new(key, lib.aes.MODE_ECB).decrypt(data), 16))

    def decrypt_private_pem(self, pem: bytes, passphrase: bytes) -> bytes:
        from Crypto.PublicKey import ECC  # only the mTLS key needs it: not in _Lib

        kinds: Tuple[Tuple[Any, Dict[str, Any]], ...] = ((_lib().rsa, {"pkcs": 8}), (ECC, {"use_pkcs8": True}))
        for module, options in kinds:
            try:
                key = module.import_key(pem, passphrase)
            except (ValueError, IndexError, TypeError):
                continue
            if key.has_private():
                text = key.export_key(format="PEM", **options)
                return text.encode("ascii") if isinstance(text, str) else bytes(text)
        raise ValueError("not an RSA or EC private key, or the wrong passphrase")

    # load_pkcs12: pycryptodome has no PKCS#12 reader; the base class's ImportError stands


#: the one instance (the OpenSSL backend falls back to it for what OpenSSL 3 refuses)
PYCRYPTODOME = Pycryptodome()
