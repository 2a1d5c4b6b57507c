"""Media upload (PHP's `Util\\MediaUtil`): a streamed multipart/form-data body signed over its `meta` JSON.

    media = MediaUtil('/path/to/image.jpg')
    client.v3.merchant.media.upload.post(body=media.get_stream(), headers={'Content-Type': media.get_content_type()})

The file is read twice, both times in chunks: once to hash it (sha256, as PHP does on construction) and
once while it is sent. It is never held in memory whole.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import mimetypes
import os
import secrets
import shutil
import tempfile
import threading
import weakref
from typing import IO, Any, AsyncIterator, Generator, Iterator, Mapping, Optional, Union, cast

from wechatpay_chain.errors import InvalidArgumentError

__all__ = ["MediaUtil", "MultipartStream", "CHUNK_SIZE", "guess_content_type", "php_basename", "php_json"]

#: bytes per read from disk and per chunk handed to the transport
CHUNK_SIZE = 64 * 1024
_SPOOL_MAX = 1024 * 1024

# Guzzle's `MimeType::fromExtension` answers for the types WeChat Pay accepts; other names fall back to
# Python's built-in table (not the host's /etc/mime.types, so the bytes sent do not depend on the machine).
_GUZZLE_TYPES = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "jpe": "image/jpeg", "png": "image/png", "bmp": "image/bmp",
    "gif": "image/gif", "webp": "image/webp", "tif": "image/tiff", "tiff": "image/tiff", "heic": "image/heic",
    "avi": "video/x-msvideo", "wmv": "video/x-ms-wmv", "mpeg": "video/mpeg", "mpg": "video/mpeg",
    "mp4": "video/mp4", "mov": "video/quicktime", "mkv": "video/matroska", "flv": "video/x-flv",
    "f4v": "video/mp4", "m4v": "video/x-m4v", "rmvb": "application/vnd.rn-realmedia-vbr", "3gp": "video/3gpp",
    "csv": "text/csv", "txt": "text/plain", "pdf": "application/pdf", "json": "application/json",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "zip": "application/zip", "gz": "application/gzip",
}


@functools.lru_cache(maxsize=1)
def _builtin_types() -> mimetypes.MimeTypes:
    return mimetypes.MimeTypes(filenames=())


def guess_content_type(filename: str) -> str:
    """Guzzle's `MimeType::fromFilename($filename) ?? 'application/octet-stream'`."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    guessed = _GUZZLE_TYPES.get(ext) or _builtin_types().guess_type("x." + ext, strict=False)[0]
    return guessed or "application/octet-stream"


def php_basename(path: str) -> str:
    """PHP's `basename()`: trailing slashes dropped, then the last path component."""
    trimmed = path.rstrip("/" + os.sep)
    return trimmed.replace(os.sep, "/").rsplit("/", 1)[-1] if trimmed else ""


def php_json(value: Any) -> str:
    """PHP's `json_encode()` with its default flags: compact, `\\uXXXX` for non-ASCII, `\\/` for slashes."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def _disposition_escape(value: str) -> str:
    """Guzzle's `escapeContentDispositionParameter`: CR, LF and DQUOTE only (WHATWG form-data)."""
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


class _Source:
    """Re-readable file contents: a path (opened per pass) or a seekable stream.

    Passes over a stream may run at once (the same upload sent from two tasks or threads): each keeps its own
    offset and reads under a lock (seek, then read), so neither moves the other's position. The stream's size
    is taken once, here, as its digest in `meta` is."""

    def __init__(self, path: Optional[str], stream: Optional[IO[bytes]]) -> None:
        self._path = path
        self._stream = stream
        self._lock = threading.Lock()
        self._start = self._size = 0
        if stream is not None:
            self._start = stream.tell()
            self._size = stream.seek(0, io.SEEK_END) - self._start
            stream.seek(self._start)

    def size(self) -> int:
        if self._stream is None:
            assert self._path is not None
            return os.path.getsize(self._path)
        return self._size

    def chunks(self, limit: Optional[int] = None) -> Iterator[bytes]:
        """One pass over the contents (at most `limit` bytes, which must all be there), <= CHUNK_SIZE each."""
        if self._stream is None:
            assert self._path is not None
            with open(self._path, "rb") as fh:
                yield from _read(fh, limit)
        else:
            yield from _read(_Cursor(self._stream, self._start, self._lock), limit)


class _Cursor:
    """One pass's position in a shared stream: `read` seeks there first, under the stream's lock."""

    def __init__(self, stream: IO[bytes], offset: int, lock: threading.Lock) -> None:
        self._stream, self._offset, self._lock = stream, offset, lock

    def read(self, size: int) -> bytes:
        with self._lock:
            self._stream.seek(self._offset)
            chunk = self._stream.read(size)
        self._offset += len(chunk)
        return chunk


def _read(fh: Any, limit: Optional[int]) -> Iterator[bytes]:
    left = limit
    while left is None or left > 0:
        chunk = fh.read(CHUNK_SIZE if left is None else min(CHUNK_SIZE, left))
        if not chunk:
            if left:
                raise InvalidArgumentError("the file shrank while being uploaded")
            return
        if left is not None:
            left -= len(chunk)
        yield chunk


class MediaUtil:
    """PHP's `MediaUtil($filepath, $fileStream)`: the `meta` part (`{"filename","sha256"}` unless `set_meta`)
    plus the `file` part, streamed; the request is signed over the `meta` JSON only.

    `filepath` is a path or `file://` URL; with `file_stream` (bytes or a binary file object) it is just the
    name. A non-seekable `file_stream` is spooled to a temporary file once (PHP wraps it in a CachingStream).
    """

    def __init__(
        self,
        filepath: str,
        file_stream: Union[IO[bytes], io.RawIOBase, io.BufferedIOBase, bytes, bytearray, None] = None,
        *,
        boundary: Optional[str] = None,
    ) -> None:
        if not isinstance(filepath, str):
            raise InvalidArgumentError("`filepath` must be a str (a path, a file:// URL or a file name)")
        self._filepath = filepath
        self._spool: Optional[IO[bytes]] = None
        if file_stream is None:
            path = filepath[len("file://"):] if filepath.startswith("file://") else filepath
            if not os.path.isfile(path):
                raise InvalidArgumentError(f"Cannot open or caching the file: `{filepath}`")
            self._source = _Source(path, None)
        elif isinstance(file_stream, (bytes, bytearray)):
            self._source = _Source(None, io.BytesIO(bytes(file_stream)))
        elif hasattr(file_stream, "read"):
            stream = cast(IO[bytes], file_stream)
            if not _seekable(stream):
                self._spool = stream = _spool(stream)
                weakref.finalize(self, stream.close)
            self._source = _Source(None, stream)
        else:
            raise InvalidArgumentError("`file_stream` must be bytes or a binary file object")
        self._boundary = boundary or secrets.token_hex(20)  # Guzzle: bin2hex(random_bytes(20))
        self._basename = php_basename(filepath)
        self._meta = b""
        self.set_meta()

    def __repr__(self) -> str:
        return f"<MediaUtil {self._basename!r}>"

    def close(self) -> None:
        """Drop the temporary copy of a non-seekable `file_stream` (also done when garbage-collected)."""
        if self._spool is not None:
            self._spool.close()

    def __enter__(self) -> MediaUtil:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self._source.chunks():
            digest.update(chunk)
        return digest.hexdigest()

    def set_meta(self, json_text: Union[str, Mapping[str, Any], None] = None) -> int:
        """Replace the `meta` JSON (None: the default `{"filename","sha256"}`); returns its length in bytes, as PHP.

        A dict is encoded like PHP's `json_encode`; a str is used exactly as given (it is what gets signed).
        """
        if json_text is None:
            text = php_json({"filename": self._basename, "sha256": self._sha256()})
        elif isinstance(json_text, str):
            text = json_text
        elif isinstance(json_text, Mapping):
            text = php_json(dict(json_text))
        else:
            raise InvalidArgumentError("`set_meta` takes a JSON str, a dict or None")
        self._meta = text.encode("utf-8")
        return len(self._meta)

    def get_meta(self) -> str:
        """The `meta` JSON: the text the request is signed over."""
        return self._meta.decode("utf-8")

    def get_stream(self) -> MultipartStream:
        """The multipart body to pass as `body=`; `signing_text()` (and `str()`) is the `meta` JSON."""
        return MultipartStream(self)

    def get_content_type(self) -> str:
        return "multipart/form-data; boundary=" + self._boundary

    # -- the parts, as Guzzle's MultipartStream writes them ---------------------------------------------------
    def _meta_head(self) -> bytes:
        return (
            f"--{self._boundary}\r\nContent-Type: application/json\r\n"
            'Content-Disposition: form-data; name="meta"\r\n\r\n'
        ).encode()

    def _file_head(self) -> bytes:
        name = self._basename
        return (
            f"\r\n--{self._boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{_disposition_escape(name)}"\r\n'
            f"Content-Type: {guess_content_type(name)}\r\n\r\n"
        ).encode()

    def _tail(self) -> bytes:
        return f"\r\n--{self._boundary}--\r\n".encode()


def _seekable(stream: IO[bytes]) -> bool:
    try:
        return bool(stream.seekable()) and stream.seek(0, io.SEEK_CUR) >= 0
    except (AttributeError, OSError, ValueError):
        return False


def _spool(stream: IO[bytes]) -> IO[bytes]:
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX)
    shutil.copyfileobj(stream, spool, CHUNK_SIZE)
    spool.seek(0)
    return spool


class MultipartStream:
    """The streamed body: `len()` is the exact byte count, iterating (sync or async) yields <= 64 KiB chunks.

    Re-iterable (a retry re-sends it); each pass reopens the file. PHP's `FnStream` whose `__toString`
    is the meta JSON.
    """

    __slots__ = ("_media",)

    def __init__(self, media: MediaUtil) -> None:
        self._media = media

    def signing_text(self) -> str:
        return self._media.get_meta()

    def __str__(self) -> str:
        return self._media.get_meta()

    def __repr__(self) -> str:
        return f"<MultipartStream {self._media._basename!r} {len(self)} bytes>"

    def _frame(self) -> tuple[bytes, int, bytes]:
        m = self._media
        return m._meta_head() + m._meta + m._file_head(), m._source.size(), m._tail()

    def __len__(self) -> int:
        head, size, tail = self._frame()
        return len(head) + size + len(tail)

    def __iter__(self) -> Generator[bytes, None, None]:
        head, size, tail = self._frame()
        yield head
        yield from self._media._source.chunks(size)
        yield tail

    async def _aiter(self) -> AsyncIterator[bytes]:
        import asyncio

        loop = asyncio.get_running_loop()
        chunks = self.__iter__()
        reading = threading.Lock()  # held by the worker thread while it runs the generator

        def step() -> Optional[bytes]:
            with reading:
                return next(chunks, None)

        def close() -> None:
            with reading:
                chunks.close()

        try:
            while True:
                chunk = await loop.run_in_executor(None, step)  # disk reads off the event loop
                if chunk is None:
                    return
                yield chunk
        finally:
            if reading.acquire(blocking=False):
                try:
                    chunks.close()
                finally:
                    reading.release()
            else:  # cancelled while a worker reads: close once it is done ("generator already executing")
                loop.run_in_executor(None, close)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._aiter()
