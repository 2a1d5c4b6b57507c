"""`wechatpay_chain.keyring` is now `wechatpay_chain.keys` (`keyring`, `auto_keyring`); this path re-exports
their public names."""

from wechatpay_chain.keys.auto_keyring import (
    AutoKeyring,
    CertificateStore,
    DirectoryStore,
    MemoryStore,
    write_certificates,
)
from wechatpay_chain.keys.keyring import PUBLIC_KEY_ID_PREFIX, Keyring

__all__ = [
    "Keyring",
    "AutoKeyring",
    "MemoryStore",
    "DirectoryStore",
    "CertificateStore",
    "PUBLIC_KEY_ID_PREFIX",
    "write_certificates",
]
