"""The crypto toolbox (PHP's `Crypto/` and `Util/PemUtil`): RSA (`rsa`), AES and hashes (`symmetric`), PEM
and X.509 (`pem`), over one of two backends (`_openssl` on cryptography, `_pycryptodome`)."""

from wechatpay_chain.crypto.pem import Certificate, PemUtil
from wechatpay_chain.crypto.rsa import BACKEND, BACKENDS, Rsa, RsaKey
from wechatpay_chain.crypto.symmetric import AesEcb, AesGcm, AesInterface, Hash

__all__ = ["Rsa", "RsaKey", "AesGcm", "AesEcb", "AesInterface", "Hash", "Certificate", "PemUtil", "BACKEND", "BACKENDS"]
