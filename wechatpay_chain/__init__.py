"""wechatpay_chain: WeChat Pay OpenAPI (APIv3 JSON, APIv2 XML) for Python, mirroring wechatpay-php."""

from __future__ import annotations

__version__ = "0.1.0"

from .chain import Builder, Node  # noqa: E402
from .crypto import AesEcb, AesGcm, Hash, Rsa, RsaKey  # noqa: E402
from .errors import (  # noqa: E402
    ApiError,
    ClientError,
    DecryptionError,
    InvalidArgumentError,
    ServerError,
    TransportError,
    VerificationError,
    WeChatPayError,
)
from .formatter import Formatter  # noqa: E402
from .keyring import Keyring  # noqa: E402
from .mediautil import MediaUtil  # noqa: E402
from .models import Response  # noqa: E402
from .pemutil import Certificate, PemUtil  # noqa: E402
from .sensitive import Sensitive  # noqa: E402
from .transformer import Transformer  # noqa: E402

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
    "Response",
    "WeChatPayError",
    "InvalidArgumentError",
    "DecryptionError",
    "TransportError",
    "VerificationError",
    "ApiError",
    "ClientError",
    "ServerError",
]
