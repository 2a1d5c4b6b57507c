"""The crypto backend: `cryptography` (OpenSSL, the `[fast]` extra) when it is importable, else `pycryptodome`.

`WECHATPAY_CHAIN_CRYPTO=cryptography|pycryptodome` forces one. The choice is made once, at import, and
`ACTIVE` holds it (read at call time by `rsa` and `symmetric`, so a test may switch it); choosing imports
nothing heavy: a backend's library loads on its first key load or AES operation.
"""

from __future__ import annotations

import functools
import os

from wechatpay_chain.crypto._openssl import OpenSSL, require
from wechatpay_chain.crypto._pycryptodome import PYCRYPTODOME, Backend
from wechatpay_chain.errors import InvalidArgumentError

__all__ = ["Backend", "BACKENDS", "ENV_VAR", "ACTIVE", "BACKEND", "get"]

#: the backend names, fastest first
BACKENDS = ("cryptography", "pycryptodome")
ENV_VAR = "WECHATPAY_CHAIN_CRYPTO"


@functools.cache
def get(name: str) -> Backend:
    """One backend instance by name; its library's heavy modules load on first use (see _openssl, _pycryptodome)."""
    if name == "cryptography":
        require()
        return OpenSSL()
    if name == "pycryptodome":
        return PYCRYPTODOME
    raise InvalidArgumentError(f"{ENV_VAR} must be one of {', '.join(BACKENDS)}, got {name[:32]!r}")


def _choose() -> Backend:
    """The backend named by $WECHATPAY_CHAIN_CRYPTO, else cryptography when importable, else pycryptodome."""
    wanted = os.environ.get(ENV_VAR, "").strip().lower()
    if wanted in ("", "auto"):
        try:
            return get("cryptography")
        except ImportError:
            return get("pycryptodome")
    try:
        return get(wanted)
    except ImportError as exc:
        raise ImportError(
            f"{ENV_VAR}={wanted} but the {wanted} package cannot be imported ({exc}); "
            "install it with: pip install 'wechatpay-chain[fast]'"
        ) from exc


_ACTIVE = _choose()
#: the name of the active backend: 'cryptography' or 'pycryptodome'
BACKEND = _ACTIVE.name


ACTIVE: Backend = _choose()
#: the name of the active backend: 'cryptography' or 'pycryptodome'
BACKEND = ACTIVE.name
