"""Immutable request/response values passed between the pure core and the transports."""

from __future__ import annotations

import json as _json
import re
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Generator,
    Generic,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

__all__ = [
    "Headers",
    "Request",
    "Response",
    "KeyUsage",
    "Sleep",
    "Offload",
    "Timeout",
    "Body",
    "FlowOf",
    "Flow",
    "TOKEN",
    "origin_of",
    "target_of",
]

_T = TypeVar("_T")
if TYPE_CHECKING:  # PEP 696 default: a bare `Response` is `Response[Any]` (typing_extensions is in typeshed)
    from typing_extensions import TypeVar as _TypeVarWithDefault

    _J = _TypeVarWithDefault("_J", default=Any)
else:
    _J = TypeVar("_J")


class Headers(MutableMapping[str, str]):
    """Case-insensitive HTTP headers that keep the spelling they were set with (both transports use it)."""

    __slots__ = ("_fields",)

    def __init__(self, data: Union[Mapping[str, str], Iterable[Tuple[str, str]], None] = None) -> None:
        self._fields: Dict[str, Tuple[str, str]] = {}
        if data is not None:
            for key, value in data.items() if isinstance(data, (dict, Mapping)) else data:
                self._fields[key.lower()] = (key, value)

    def __getitem__(self, key: str) -> str:
        return self._fields[key.lower()][1]

    def __setitem__(self, key: str, value: str) -> None:
        self._fields[key.lower()] = (key, value)

    def __delitem__(self, key: str) -> None:
        del self._fields[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def get(self, key: str, default: Any = None) -> Any:
        item = self._fields.get(key.lower())
        return default if item is None else item[1]

    @classmethod
    def joined(cls, pairs: Iterable[Tuple[str, str]]) -> Headers:
        """Response header pairs as requests presents them: a repeated field once, its values joined with ', '
        (RFC 9110 5.3), under its first spelling. Both transports' `Response.headers` read this way."""
        items = pairs if isinstance(pairs, list) else list(pairs)
        d = {name.lower(): (name, value) for name, value in items}
        if len(d) < len(items):  # a repeated field (rare): its values joined in order, under its first spelling
            d = {}
            for name, value in items:
                key = name.lower()
                found = d.get(key)
                d[key] = (name, value) if found is None else (found[0], f"{found[1]}, {value}")
        new = cls()
        new._fields = d
        return new

    def copy(self) -> Headers:
        new = Headers()
        new._fields = dict(self._fields)
        return new

    def as_dict(self) -> Dict[str, str]:
        """A plain dict, as sent on the wire."""
        return dict(self._fields.values())

    def __repr__(self) -> str:
        return f"Headers({self.as_dict()!r})"

#: an HTTP field name (RFC 9110 token): what requests may send and responses may carry
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: seconds, or (connect, read) seconds
Timeout = Union[float, Tuple[float, float]]
#: bytes, or an iterable of byte chunks (a streamed upload)
Body = Union[bytes, Iterable[bytes], None]


def target_of(url: str) -> str:
    """'https://host/a/b?q=1' -> '/a/b?q=1'."""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def origin_of(url: str) -> str:
    """'https://host/a/b?q=1' -> 'https://host' (what pools, proxies and TLS settings are chosen by)."""
    slash = url.find("/", url.find("//") + 2)
    return url[:slash] if slash >= 0 else url


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
    #: the exact string that was signed (kept to diagnose a SIGN_ERROR; never in repr)
    signed: str = field(default="", repr=False, compare=False)

    @property
    def target(self) -> str:
        """The request target (path?query) as it goes on the wire."""
        return target_of(self.url)


@dataclass(frozen=True)
class Sleep:
    """A pause a flow asks its driver for (retry backoff)."""

    seconds: float


@dataclass(frozen=True)
class Offload:
    """CPU-heavy work a flow hands its driver: `result = yield Offload(fn, arg)` is `fn(arg)`.

    The sync driver calls it in place; the async driver runs it in the `crypto_threads` pool when there is
    one (the RSA sign frees the GIL, so the event loop keeps running), else in place. An exception is
    raised into the flow at the `yield`, as an in-place call would raise it.
    """

    fn: Callable[[Any], Any]
    arg: Any


class KeyUsage:
    """How many verified answers and notifications each WeChat Pay key id signed: what a merchant watches while
    migrating from platform certificates to the public key (`Driver.key_usage()`). Thread-safe."""

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        import threading

        self._counts: Dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, key_id: str) -> None:
        with self._lock:
            self._counts[key_id] = self._counts.get(key_id, 0) + 1

    def snapshot(self) -> Dict[str, int]:
        """{key id: count}, a copy."""
        with self._lock:
            return dict(self._counts)

    def __repr__(self) -> str:
        return f"KeyUsage({self.snapshot()!r})"


@dataclass(frozen=True)
class Response(Generic[_J]):
    """What came back: the same type from the requests and the aiohttp transport.

    Generic in what `json()` returns, for the endpoint stubs: `client.v3.pay.transactions.native.post(...)` is a
    `Response[PayTransactionsNativeAnswer]` to a type checker. At run time it is this one class.
    """

    status_code: int
    headers: Headers = field(repr=False)
    content: bytes = field(repr=False)
    url: str = ""
    reason: str = ""
    #: a streamed body (downloads with `stream=True`): iterable or async-iterable chunks, with `close()`
    stream: Any = field(default=None, repr=False, compare=False)
    #: the key id (`Wechatpay-Serial`: a `PUB_KEY_ID_...` or a certificate serial) whose signature this answer was
    #: verified with; empty for an answer that is not verified (APIv2, unsigned downloads, errors)
    verified_by: str = field(default="", repr=False, compare=False)

    def iter_bytes(self, size: int = 65536) -> Iterator[bytes]:
        """The body in chunks: from the wire when streamed, else slices of `content`."""
        if self.stream is None:
            view = memoryview(self.content)
            for i in range(0, len(view), size):
                yield bytes(view[i : i + size])
        else:
            yield from self.stream

    async def aiter_bytes(self, size: int = 65536) -> AsyncIterator[bytes]:
        if self.stream is None:
            for chunk in self.iter_bytes(size):
                yield chunk
        else:
            async for chunk in self.stream:
                yield chunk

    def close(self) -> None:
        """Release a streamed body's connection without reading it (a no-op otherwise)."""
        if self.stream is not None:
            self.stream.close()

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self, **kwargs: Any) -> _J:
        return _json.loads(self.content, **kwargs)  # type: ignore[no-any-return]

    @property
    def request_id(self) -> Optional[str]:
        value: Optional[str] = self.headers.get("Request-ID")
        return value

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
        stream: Any = None,
    ) -> Response:
        return cls(status_code, Headers(headers), content, url, reason, stream)


#: a sans-I/O flow: yields requests (and sleeps, offloaded work), is sent their results, returns its result
FlowOf = Generator[Union[Request, Sleep, Offload], Any, _T]
#: a flow whose result is the verified response
Flow = FlowOf[Response]
