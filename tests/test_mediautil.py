"""MediaUtil: PHP's MediaUtilTest cases, meta known answers, Guzzle's multipart layout, streaming bounds."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import re
import tracemalloc
from pathlib import Path
from typing import IO, Any, List, Optional

import pytest

import wechatpay_chain.files._media as mediautil_module
from wechatpay_chain import InvalidArgumentError
from wechatpay_chain.files._media import CHUNK_SIZE, MediaUtil, guess_content_type

# a 1x1 PNG (PHP's fixtures/logo.png stands in) and PHP's RFC 2397 transparent.gif
LOGO = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
GIF_B64 = "R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="


class OneWay(io.RawIOBase):
    """A non-seekable stream (a socket, a pipe): PHP wraps these in a CachingStream."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.fixture()
def logo(tmp_path: Path) -> Path:
    path = tmp_path / "logo.png"
    path.write_bytes(LOGO)
    return path


def cases(logo: Path) -> List[tuple[str, Any, str, str]]:
    gif = base64.b64decode(GIF_B64)
    digest = hashlib.sha256(LOGO).hexdigest()
    return [
        (str(logo), None, "logo.png", digest),                                     # normal local file
        ("file://" + str(logo), None, "logo.png", digest),                         # file:// protocol
        ("transparent.gif", io.BytesIO(gif), "transparent.gif", hashlib.sha256(gif).hexdigest()),  # data://
        ("transparent.gif", gif, "transparent.gif", hashlib.sha256(gif).hexdigest()),              # bytes
        ("transparent.gif", OneWay(gif), "transparent.gif", hashlib.sha256(gif).hexdigest()),      # non-seekable
    ]


CASE_IDS = ["normal local file", "file:// protocol", "stream", "bytes", "non-seekable stream"]


@pytest.mark.parametrize("index", range(5), ids=CASE_IDS)
def test_constructor(logo: Path, index: int) -> None:
    file, stream, expected_filename, expected_digest = cases(logo)[index]
    util = MediaUtil(file, stream)
    meta = util.get_meta()
    assert json.loads(meta) == {"filename": expected_filename, "sha256": expected_digest}
    assert str(util.get_stream()) == meta == util.get_stream().signing_text()
    assert util.get_content_type().startswith("multipart/form-data; boundary=")


@pytest.mark.parametrize("index", range(5), ids=CASE_IDS)
def test_set_meta(logo: Path, index: int) -> None:
    file, stream, expected_filename, expected_digest = cases(logo)[index]
    media = MediaUtil(file, stream)
    array = json.loads(media.get_meta())
    assert "bank_type" not in array
    assert (array["filename"], array["sha256"]) == (expected_filename, expected_digest)
    assert str(media.get_stream()) == media.get_meta()

    meta = json.dumps({"filename": expected_filename, "sha256": expected_digest, "bank_type": "LQT"})
    written = media.set_meta(meta)
    assert isinstance(written, int) and written == len(meta.encode())  # PHP: BufferStream::write's byte count
    assert media.get_meta() == meta == str(media.get_stream())
    assert json.loads(str(media.get_stream()))["bank_type"] == "LQT"
    assert meta.encode() in b"".join(media.get_stream())  # the part sent is the text signed

    media.set_meta()  # PHP's setMeta(null): back to {filename, sha256}
    assert json.loads(media.get_meta()) == {"filename": expected_filename, "sha256": expected_digest}


def test_meta_known_answers(tmp_path: Path) -> None:
    (tmp_path / "图片 1.png").write_bytes(b"abc")
    media = MediaUtil(str(tmp_path / "图片 1.png"))
    # PHP json_encode defaults: compact, key order as written, \uXXXX (lower hex) for non-ASCII
    assert media.get_meta() == (
        '{"filename":"\\u56fe\\u7247 1.png",'
        '"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}'
    )
    expected = '{"bank_type":"LQT","path":"a\\/b","\\u540d":1}'  # PHP escapes slashes too
    assert media.set_meta({"bank_type": "LQT", "path": "a/b", "名": 1}) == len(expected)
    assert media.get_meta() == expected
    assert media.set_meta("  {\"raw\": true}  ") and media.get_meta() == '  {"raw": true}  '  # verbatim


def test_multipart_layout_is_guzzles(logo: Path) -> None:
    media = MediaUtil(str(logo), boundary="BOUNDARY")
    meta = media.get_meta()
    assert media.get_content_type() == "multipart/form-data; boundary=BOUNDARY"
    assert b"".join(media.get_stream()) == (
        b"--BOUNDARY\r\n"
        b"Content-Type: application/json\r\n"
        b'Content-Disposition: form-data; name="meta"\r\n'
        b"\r\n" + meta.encode() + b"\r\n"
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="file"; filename="logo.png"\r\n'
        b"Content-Type: image/png\r\n"
        b"\r\n" + LOGO + b"\r\n"
        b"--BOUNDARY--\r\n"
    )


def test_default_boundary_is_40_hex_and_fresh(logo: Path) -> None:
    a, b = MediaUtil(str(logo)), MediaUtil(str(logo))
    assert re.fullmatch(r"multipart/form-data; boundary=[0-9a-f]{40}", a.get_content_type())
    assert a.get_content_type() != b.get_content_type()


@pytest.mark.parametrize("name, content_type", [
    ("a.jpg", "image/jpeg"), ("a.JPEG", "image/jpeg"), ("a.png", "image/png"), ("a.bmp", "image/bmp"),
    ("a.gif", "image/gif"), ("a.mp4", "video/mp4"), ("a.mov", "video/quicktime"), ("a.avi", "video/x-msvideo"),
    ("a.wmv", "video/x-ms-wmv"), ("a.mkv", "video/matroska"), ("a.flv", "video/x-flv"), ("a.f4v", "video/mp4"),
    ("a.m4v", "video/x-m4v"), ("a.rmvb", "application/vnd.rn-realmedia-vbr"), ("a.csv", "text/csv"),
    ("a.pdf", "application/pdf"), ("noext", "application/octet-stream"), ("a.zzz", "application/octet-stream"),
])
def test_file_part_content_type_like_guzzle(name: str, content_type: str) -> None:
    assert guess_content_type(name) == content_type
    assert f"Content-Type: {content_type}\r\n".encode() in b"".join(MediaUtil(name, b"x").get_stream())


def test_filename_is_escaped_like_guzzle() -> None:
    body = b"".join(MediaUtil('we"ird\r\n.png', b"x", boundary="B").get_stream())
    assert b'filename="we%22ird%0D%0A.png"' in body


@pytest.mark.parametrize("index", range(5), ids=CASE_IDS)
def test_len_is_exact_and_stream_reiterable_sync_and_async(logo: Path, index: int) -> None:
    file, stream, _, _ = cases(logo)[index]
    body = MediaUtil(file, stream).get_stream()
    first = b"".join(body)
    assert len(body) == len(first)
    assert b"".join(body) == first  # a retry re-sends the same bytes

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in body])

    assert asyncio.run(collect()) == first
    assert asyncio.run(collect()) == first


def test_stream_position_of_a_caller_stream_is_respected() -> None:
    stream = io.BytesIO(b"HEADERpayload")
    stream.seek(6)
    media = MediaUtil("p.bin", stream, boundary="B")
    assert json.loads(media.get_meta())["sha256"] == hashlib.sha256(b"payload").hexdigest()
    assert b"\r\n\r\npayload\r\n--B--\r\n" in b"".join(media.get_stream())


class Counted:
    """A file object that records the size of every read."""

    def __init__(self, inner: IO[bytes], log: List[int]) -> None:
        self._inner, self._log = inner, log

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._log.append(len(data))
        return data

    def __enter__(self) -> Counted:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()


def test_20mb_file_streams_in_bounded_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    size = 20 * 1024 * 1024 + 7
    path = tmp_path / "big.mp4"
    with open(path, "wb") as fh:
        block = bytes(range(256)) * 4096  # 1 MiB
        for _ in range(20):
            fh.write(block)
        fh.write(b"7 bytes")
    reads: List[int] = []
    opened: List[str] = []

    def counting_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Counted:
        opened.append(str(file))
        return Counted(open(file, mode, *args, **kwargs), reads)

    monkeypatch.setattr(mediautil_module, "open", counting_open, raising=False)

    tracemalloc.start()
    try:
        media = MediaUtil(str(path))  # pass 1: sha256
        body = media.get_stream()
        total = len(body)
        seen = 0
        hashed = hashlib.sha256()
        for chunk in body:  # pass 2: the upload
            assert len(chunk) <= CHUNK_SIZE
            seen += len(chunk)
            hashed.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == total == size + len(body._media._meta_head() + body._media._meta + body._media._file_head())\
        + len(body._media._tail())
    assert len(opened) == 2 and sum(reads) == 2 * size  # read exactly twice: hash, then send
    assert max(reads) <= CHUNK_SIZE
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes: the file was held in memory"
    assert json.loads(media.get_meta())["sha256"] == _sha256_file(path)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def test_a_file_that_shrinks_mid_upload_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"x" * 100)
    body = MediaUtil(str(path)).get_stream()
    chunks = iter(body)
    next(chunks)  # the head; Content-Length already promised 100 file bytes
    path.write_bytes(b"x" * 10)
    with pytest.raises(InvalidArgumentError, match="shrank"):
        list(chunks)


@pytest.mark.parametrize("args, match", [
    (("/no/such/file.png",), "Cannot open"),
    (("file:///no/such/file.png",), "Cannot open"),
    (("a.png", 123), "file_stream"),
    ((b"a.png",), "filepath"),
])
def test_bad_arguments(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        MediaUtil(*args)


def test_set_meta_rejects_other_types(logo: Path) -> None:
    with pytest.raises(InvalidArgumentError):
        MediaUtil(str(logo)).set_meta(42)  # type: ignore[arg-type]


def test_exported_from_package() -> None:
    import wechatpay_chain

    exported: Optional[Any] = getattr(wechatpay_chain, "MediaUtil", None)
    assert exported in (None, MediaUtil)  # the lead wires the export; when present it is this class


def test_one_upload_sent_from_two_tasks_or_threads_at_once_gives_whole_bodies() -> None:
    """Every pass over a bytes or stream source shared one stream position: two at once read each other's bytes
    ('the file shrank while being uploaded')."""
    import os
    import threading

    data = os.urandom(3 * CHUNK_SIZE + 17)
    body = MediaUtil("a.bin", data).get_stream()
    whole = b"".join(body)

    async def two() -> List[Any]:
        async def collect() -> bytes:
            return b"".join([chunk async for chunk in body])

        return list(await asyncio.gather(collect(), collect(), return_exceptions=True))

    assert asyncio.run(two()) == [whole, whole]
    out: List[Any] = [None, None]

    def run(i: int) -> None:
        out[i] = b"".join(body)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [whole, whole]


def test_cancelling_an_async_pass_mid_read_raises_cancelled_error() -> None:
    """The generator was closed while a worker thread ran it: ValueError('generator already executing')."""
    import time

    class Slow(io.BytesIO):
        def read(self, n: Optional[int] = -1) -> bytes:
            time.sleep(0.2)
            return super().read(n)

    body = MediaUtil("a.bin", Slow(b"x" * 100_000)).get_stream()

    async def main() -> None:
        async def consume() -> None:
            async for _ in body:
                pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.05)  # the head went out; a worker is inside the slow read
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)  # the read ends and the generator is closed behind it

    asyncio.run(main())
