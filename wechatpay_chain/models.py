"""Immutable request/response values passed between the pure core and the transports."""

from __future__ import annotations

import json as _json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Tuple, Union

from requests.structures import CaseInsensitiveDict

__all__ = ["Request", "Response", "Sleep", "Timeout", "Body"]

#: seconds, or (connect, read) seconds
Timeout = Union[float, Tuple[float, float]]
#: bytes, or an iterable of byte chunks (a streamed upload)
Body = Union[bytes, Iterable[bytes], None]


@dataclass(frozen=True)
class Request:
    """One HTTP request, fully built and signed; transports send it byte for byte."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: Body = None
    timeout: Optional[Timeout] = None
    cert: Optional[Tuple[str, str]] = None  # APIv2 mTLS (cert file, key file)
    stream: bool = False

    @property
    def target(self) -> str:
        """The request target (path?query) as it goes on the wire."""
        rest = self.url.split("://", 1)[-1]
        slash = rest.find("/")
        return rest[slash:] if slash >= 0 else "/"


@dataclass(frozen=True)
class Sleep:
    """A pause a flow asks its driver for (retry backoff); the only other I/O a flow yields."""

    seconds: float


@dataclass(frozen=True)
class Response:
    """What came back: the same type from the requests and the aiohttp transport."""

    status_code: int
    headers: CaseInsensitiveDict[str] = field(repr=False)
    content: bytes = field(repr=False)
    url: str = ""
    reason: str = ""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self, **kwargs: Any) -> Any:
        return _json.loads(self.content, **kwargs)

    @property
    def request_id(self) -> Optional[str]:
        return self.headers.get("Request-ID")

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @classmethod
    def build(
        cls,
        status_code: int,
        headers: Iterable[Tuple[str, str]] | Mapping[str, str],
        content: bytes,
        url: str = "",
        reason: str = "",
    ) -> Response:
        return cls(status_code, CaseInsensitiveDict(headers), content, url, reason)
