"""The OpenSSL crypto backend, through ``cryptography`` (the ``wechatpay-chain[fast]`` extra).

Choosing it costs only the tiny top-level ``cryptography`` package (see ``require``); the hazmat
modules (serialization alone pulls in SSH keys, ciphers and ``random``) load on the first key load or
AES operation, once. Padding and hash objects are made then and shared.
"""

from __future__ import annotations

import functools
from importlib.util import find_spec
from typing import Any, Optional, Tuple

from wechatpay_chain.crypto._pycryptodome import PYCRYPTODOME, Backend, x509_spki

__all__ = ["OpenSSL", "require"]


def require() -> None:
    """Raise ImportError unless ``cryptography`` >= 41 (with its compiled bindings) is installed."""
    import cryptography

    if int(cryptography.__version__.split(".")[0]) < 41:
        raise ImportError(f"cryptography>=41 is required, found {cryptography.__version__}")
    if find_spec("cryptography.hazmat.bindings._rust") is None:
        raise ImportError("No module named 'cryptography.hazmat.bindings._rust'")


class _Lib:
    """The hazmat modules and the shared padding/hash objects."""

    def __init__(self) -> None:
        from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives import padding as sympadding
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.serialization, self.rsa, self.sympadding = serialization, rsa, sympadding
        self.cipher, self.algorithms, self.modes, self.aesgcm = Cipher, algorithms, modes, AESGCM
        self.invalid_signature, self.invalid_tag = InvalidSignature, InvalidTag
        self.unsupported_algorithm = UnsupportedAlgorithm
        self.der, self.pkcs8 = serialization.Encoding.DER, serialization.PrivateFormat.PKCS8
        self.spki = serialization.PublicFormat.SubjectPublicKeyInfo
        self.no_encryption = serialization.NoEncryption()
        self.pkcs1v15, self.sha256 = padding.PKCS1v15(), hashes.SHA256()
        self.oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
        self.private_type, self.public_type = rsa.RSAPrivateKey, rsa.RSAPublicKey


@functools.cache
def _lib() -> _Lib:
    """The hazmat modules, imported once, on first use. (a race may build it twice: harmless, imports are locked.)"""
    return _Lib()


def _rsa_only(key: Any, private: bool) -> Any:
    lib = _lib()
    if not isinstance(key, lib.private_type if private else lib.public_type):
        raise ValueError("not an RSA key")
    return key


class OpenSSL(Backend):
    name = "cryptography"

    def load_der(self, kind: str, data: bytes) -> Any:
        serialization = _lib().serialization
        if kind in ("pkcs1-private", "pkcs8"):
            return _rsa_only(serialization.load_der_private_key(data, None), True)
        return _rsa_only(serialization.load_der_public_key(x509_spki(data) if kind == "x509" else data), False)

    def load_encrypted(self, pem: str, passphrase: bytes) -> Any:
        lib = _lib()
        key: Any = None
        try:
            key = lib.serialization.load_pem_private_key(pem.encode("ascii"), passphrase)
        except (lib.unsupported_algorithm, ValueError):
            pass
        if key is None:
            # a legacy cipher OpenSSL 3 dropped (unsupported, or "Key encrypted with unknown cipher", a ValueError,
            # e.g. DES-CBC) or a wrong passphrase: pycryptodome decrypts the first and refuses the second, so both
            # backends take the same keys; outside the handler (see errors.py)
            return self.load_der("pkcs8", PYCRYPTODOME.export_der(PYCRYPTODOME.load_encrypted(pem, passphrase)))
        return _rsa_only(key, True)

    def decrypt_private_pem(self, pem: bytes, passphrase: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519

        lib = _lib()
        key: Any = None
        try:
            key = lib.serialization.load_pem_private_key(pem, passphrase)
        except (lib.unsupported_algorithm, ValueError):
            pass
        if key is None:
            # a legacy cipher OpenSSL 3 dropped ("Key encrypted with unknown cipher", a ValueError, e.g. DES-CBC),
            # which pycryptodome decrypts: so every key it took still loads. Outside the handler, so no
            # cryptography error rides along with its failure.
            return PYCRYPTODOME.decrypt_private_pem(pem, passphrase)
        # the key types pycryptodome's RSA and ECC modules read, so both backends take the same keys
        if not isinstance(key, (lib.private_type, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                                ed448.Ed448PrivateKey)):
            raise ValueError("not an RSA or EC private key")
        return bytes(key.private_bytes(lib.serialization.Encoding.PEM, lib.pkcs8, lib.no_encryption))

    def load_pkcs12(self, data: bytes, passphrase: Optional[bytes]) -> Tuple[bytes, bytes]:
        # imported at call time, not in _Lib: a cryptography without it must still say so (ImportError)
        from cryptography.hazmat.primitives.serialization import pkcs12

        lib = _lib()
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase)
        if key is None or cert is None:
            return b"", b""
        pem = lib.serialization.Encoding.PEM
        chain = b"".join(c.public_bytes(pem) for c in [cert, *(extra or [])])
        return chain, bytes(key.private_bytes(pem, lib.pkcs8, lib.no_encryption))

    def generate(self, bits: int) -> Any:
        return _lib().rsa.generate_private_key(public_exponent=65537, key_size=bits)

    def is_private(self, key: Any) -> bool:
        return isinstance(key, _lib().private_type)

    def size_in_bits(self, key: Any) -> int:
        return int(key.key_size)

    def public(self, key: Any) -> Any:
        return key.public_key()

    def numbers(self, key: Any) -> Tuple[int, int]:
        nums = (key.public_key() if isinstance(key, _lib().private_type) else key).public_numbers()
        return int(nums.n), int(nums.e)

    def export_der(self, key: Any) -> bytes:
        lib = _lib()
        if isinstance(key, lib.private_type):
            return bytes(key.private_bytes(lib.der, lib.pkcs8, lib.no_encryption))
        return bytes(key.public_bytes(lib.der, lib.spki))

    def sign(self, key: Any, data: bytes) -> bytes:
        lib = _lib()
        return bytes(key.sign(data, lib.pkcs1v15, lib.sha256))

    def verify(self, key: Any, data: bytes, signature: bytes) -> bool:
        lib = _lib()
        try:
            key.verify(signature, data, lib.pkcs1v15, lib.sha256)
        except (lib.invalid_signature, ValueError, TypeError):
            return False
        return True

    def oaep_encrypt(self, key: Any, data: bytes) -> bytes:
        return bytes(key.encrypt(data, _lib().oaep))

    def oaep_decrypt(self, key: Any, data: bytes) -> bytes:
        return bytes(key.decrypt(data, _lib().oaep))

    def gcm_encrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        if not 8 <= len(nonce) <= 128:  # OpenSSL's range; PHP (and pycryptodome) take any length
            return PYCRYPTODOME.gcm_encrypt(key, nonce, data, aad)
        return bytes(_lib().aesgcm(key).encrypt(nonce, data, aad))

    def gcm_decrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        if not 8 <= len(nonce) <= 128:
            return PYCRYPTODOME.gcm_decrypt(key, nonce, data, aad)
        lib = _lib()
        try:
            return bytes(lib.aesgcm(key).decrypt(nonce, data, aad))
        except lib.invalid_tag:
            raise ValueError("MAC check failed") from None

    def ecb_encrypt(self, key: bytes, data: bytes) -> bytes:
        lib = _lib()
        padder = lib.sympadding.PKCS7(128).padder()
        encryptor = lib.cipher(lib.algorithms.AES(key), lib.modes.ECB()).encryptor()
        return bytes(encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize())

    def ecb_decrypt(self, key: bytes, data: bytes) -> bytes:
        if not data or len(data) % 16:
            raise ValueError("the ECB ciphertext is not a whole number of blocks")
        lib = _lib()
        decryptor = lib.cipher(lib.algorithms.AES(key), lib.modes.ECB()).decryptor()
        unpadder = lib.sympadding.PKCS7(128).unpadder()
        return bytes(unpadder.update(decryptor.update(data) + decryptor.finalize()) + unpadder.finalize())
