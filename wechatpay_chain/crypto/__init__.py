"""The crypto toolbox (PHP's `Crypto/` and `Util/PemUtil`): RSA (`_rsa`), AES and hashes (`_symmetric`), PEM
and X.509 (`_pem`), text and base64 (`_codec`), over one of two backends (`_backend` chooses `_openssl` on
cryptography or `_pycryptodome`). The public names are re-exported here."""

from wechatpay_chain.crypto._pem import Certificate, PemUtil
from wechatpay_chain.crypto._rsa import BACKEND, BACKENDS, Rsa, RsaKey
from wechatpay_chain.crypto._symmetric import AesEcb, AesGcm, AesInterface, Hash

__all__ = ["Rsa", "RsaKey", "AesGcm", "AesEcb", "AesInterface", "Hash", "Certificate", "PemUtil", "BACKEND", "BACKENDS"]
