"""Platform keys by serial: certificate serials and `PUB_KEY_ID_...` public-key ids together (PHP's `certs`).

`Keyring` holds fixed keys (a plain `certs` dict becomes one); it is a value the config holds, and it knows
nothing of downloads. `_auto_keyring.AutoKeyring` is the one that refreshes itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Tuple

from wechatpay_chain.crypto._pem import Certificate, PemUtil
from wechatpay_chain.crypto._rsa import Rsa, RsaKey
from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.models import FlowOf

if TYPE_CHECKING:  # pragma: no cover - config imports this module
    from wechatpay_chain.client._config import Config

__all__ = ["Keyring", "PUBLIC_KEY_ID_PREFIX"]

_log = logging.getLogger("wechatpay_chain")

PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"


class Keyring:
    """Holds the platform public keys the client trusts, each parsed once.

    Values may be anything `Rsa.from_(..., Rsa.KEY_TYPE_PUBLIC)` accepts; a certificate (object or
    PEM) also records its validity so the newest one is picked for field encryption.
    """

    __slots__ = ("_keys", "_certificates")

    def __init__(self, certs: Optional[Mapping[str, Any]] = None) -> None:
        self._keys: Dict[str, RsaKey] = {}
        self._certificates: Dict[str, Certificate] = {}
        for serial, thing in (certs or {}).items():
            self.add(serial, thing)

    def add(self, serial: str, thing: Any) -> None:
        if not isinstance(serial, str) or not serial:
            raise InvalidArgumentError("certs: each key must be a non-empty serial or PUB_KEY_ID_ string")
        cert: Optional[Certificate] = None
        if isinstance(thing, Certificate):
            cert = thing
        elif isinstance(thing, bytes) and b"CERTIFICATE" in thing or isinstance(thing, str) and "CERTIFICATE" in thing:
            cert = PemUtil.load_certificate_from_string(thing)
        try:
            key = cert.public_key if cert is not None else Rsa.from_(thing, Rsa.KEY_TYPE_PUBLIC)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"certs[{serial!r}]: {exc}") from None
        if key.is_private:
            key = key.public_key()
        self._keys[serial] = key
        if cert is not None:
            self._certificates[serial] = cert

    @property
    def due(self) -> bool:
        """Whether a scheduled refresh is due: never, for a plain keyring (see AutoKeyring)."""
        return False

    def may_refresh(self, serial: str) -> bool:
        """Whether a response signed by the unknown `serial` may trigger a certificate download now (never here)."""
        del serial
        return False

    def refresh_flow(self, config: Config, ua: str, *, serial: Optional[str] = None) -> FlowOf[List[Certificate]]:
        """The download sub-flow core.v3_flow runs when `may_refresh`: fixed keys have nothing to refresh."""
        del config, ua, serial
        return []
        yield  # a generator that never yields

    def get(self, serial: str) -> Optional[RsaKey]:
        return self._keys.get(serial)

    def __contains__(self, serial: object) -> bool:
        return serial in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"<Keyring serials={list(self._keys)}>"

    def encryption_key(self, serial: Optional[str] = None) -> Tuple[str, RsaKey]:
        """The key for field encryption: the given serial; else a PUB_KEY_ID_ key; else the newest certificate."""
        if serial:
            key = self._keys.get(serial)
            if key is None:
                raise InvalidArgumentError(
                    f"Wechatpay-Serial {serial!r} is not a configured platform serial ({', '.join(self._keys)})"
                )
            return serial, key
        if not self._keys:
            raise InvalidArgumentError("no platform key is configured to encrypt sensitive fields")
        for s, key in self._keys.items():
            if s.startswith(PUBLIC_KEY_ID_PREFIX):
                return s, key
        newest = max(
            self._keys,
            key=lambda s: self._certificates[s].not_before.timestamp() if s in self._certificates else 0.0,
        )
        if newest not in self._certificates:
            newest = list(self._keys)[-1]
        return newest, self._keys[newest]
