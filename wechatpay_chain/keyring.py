"""The public names of `wechatpay_chain.keys._keyring` and `._auto_keyring`, at the import path DESIGN.md names."""

from wechatpay_chain.keys._auto_keyring import (
    AutoKeyring,
    CertificateStore,
    DirectoryStore,
    MemoryStore,
    SharedCertificateStore,
    write_certificates,
)
from wechatpay_chain.keys._keyring import PUBLIC_KEY_ID_PREFIX, Keyring

__all__ = [
    "Keyring",
    "AutoKeyring",
    "MemoryStore",
    "DirectoryStore",
    "CertificateStore",
    "SharedCertificateStore",
    "PUBLIC_KEY_ID_PREFIX",
    "write_certificates",
]
