"""wechatpay_chain: WeChat Pay OpenAPI (APIv3 JSON, APIv2 XML) for Python, mirroring wechatpay-php."""

from __future__ import annotations

__version__ = "0.1.0"

import typing as _typing  # noqa: E402

from wechatpay_chain.client._chain import Builder, Node  # noqa: E402
from wechatpay_chain.crypto._pem import Certificate, PemUtil  # noqa: E402
from wechatpay_chain.crypto._rsa import Rsa, RsaKey  # noqa: E402
from wechatpay_chain.crypto._symmetric import AesEcb, AesGcm, Hash
from wechatpay_chain.errors import (  # noqa: E402
    ApiError,
    ClientError,
    DecryptionError,
    InvalidArgumentError,
    ServerError,
    TransportError,
    VerificationError,
    WeChatPayError,
)
from wechatpay_chain.keys._keyring import Keyring  # noqa: E402
from wechatpay_chain.models import Headers, Request, Response  # noqa: E402
from wechatpay_chain.protocol._formatter import Formatter  # noqa: E402
from wechatpay_chain.protocol._sensitive import Sensitive  # noqa: E402

if _typing.TYPE_CHECKING:  # imported on first use: they pull in the XML parser and mimetypes
    from wechatpay_chain.files._media import MediaUtil
    from wechatpay_chain.protocol._transformer import Transformer

_LAZY = {"MediaUtil": ".files._media", "Transformer": ".protocol._transformer"}


def __getattr__(name: str) -> _typing.Any:
    """PEP 562: `Transformer` and `MediaUtil` load when first used, keeping `import wechatpay_chain` light."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wechatpay_chain' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:  # type: ignore[type-arg]
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "__version__",
    "Builder",
    "Node",
    "Rsa",
    "RsaKey",
    "AesGcm",
    "AesEcb",
    "Hash",
    "Formatter",
    "Transformer",
    "PemUtil",
    "Certificate",
    "Keyring",
    "MediaUtil",
    "Sensitive",
    "Request",
    "Response",
    "Headers",
    "WeChatPayError",
    "InvalidArgumentError",
    "DecryptionError",
    "TransportError",
    "VerificationError",
    "ApiError",
    "ClientError",
    "ServerError",
]
