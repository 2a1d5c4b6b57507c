"""Bill and receipt downloads: apply (`v3/bill/tradebill` | `fundflowbill`), download, check the digest, gunzip.

    csv = download_bill(client, bill_date='2024-06-01')
    path = await download_bill_async(client, bill_date='2024-06-01', tar_type='GZIP', dest='bill.csv')
    receipt = client.v3.transfer.billReceipt._out_batch_no_.get(out_batch_no='plfk2020042013').json()
    path = download_receipt(client, receipt['download_url'], receipt['hash_value'], receipt['hash_type'],
                            dest='receipt.pdf')

`v3/billdownload/file` and the transfer receipt files (`v3/transferdownload/...`) answer unsigned (the core
skips their verification: the atlas' `unsigned` list); the download is trusted through the `hash_value` of
the *signed* apply/query response instead. A mismatch raises `VerificationError` and leaves no file behind.
The sync and async functions share every step but the I/O: the pure pieces below parse the ticket, hash and
decompress chunk by chunk, and commit or discard the result.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import zlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit

from wechatpay_chain.errors import InvalidArgumentError, VerificationError
from wechatpay_chain.files._atomic import AtomicFile
from wechatpay_chain.models import Response
from wechatpay_chain.protocol._v3 import verify_statement

__all__ = [
    "download_bill",
    "download_bill_async",
    "download_receipt",
    "download_receipt_async",
    "verify_statement",
    "BillTicket",
    "BillSink",
    "BILL_TYPES",
    "CHUNK_SIZE",
    "PathLike",
    "apply_options",
    "parse_ticket",
    "make_ticket",
]

CHUNK_SIZE = 64 * 1024
BILL_TYPES = ("tradebill", "fundflowbill")
_HASHES = {"SHA1": "sha1", "SHA256": "sha256"}
if "sm3" in hashlib.algorithms_available:  # a receipt's hash_type may be SM3 (OpenSSL builds that have it)
    _HASHES["SM3"] = "sm3"
PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class BillTicket:
    """The apply response: where to download, and the digest the bill must have."""

    uri: str  # the download path relative to the base URI, e.g. 'v3/billdownload/file'
    query: str  # its query string, exactly as WeChat Pay gave it (the token is not re-encoded)
    hash_type: str
    hash_value: str


def apply_options(
    bill_type: str, bill_date: str, tar_type: Optional[str], query: Dict[str, Any]
) -> Tuple[str, Dict[str, Any]]:
    """The apply call: (uri, options). Raises before any I/O on a bad bill_type/tar_type."""
    if bill_type not in BILL_TYPES:
        raise InvalidArgumentError(f"bill_type must be one of {', '.join(BILL_TYPES)}, not {bill_type!r}")
    if tar_type is not None and tar_type != "GZIP":
        raise InvalidArgumentError(f"tar_type must be 'GZIP' or None, not {tar_type!r}")
    params: Dict[str, Any] = {"bill_date": bill_date, **query}
    if tar_type:
        params["tar_type"] = tar_type
    return f"v3/bill/{bill_type}", {"query": params}


def parse_ticket(response: Response, base_path: str = "/") -> BillTicket:
    """Read `download_url`, `hash_type`, `hash_value` from a verified apply response."""
    try:
        data = response.json()
        url, hash_type, hash_value = data["download_url"], data["hash_type"], data["hash_value"]
    except (ValueError, TypeError, KeyError) as exc:
        raise VerificationError(
            f"bill apply response lacks download_url/hash_type/hash_value ({exc})", response
        ) from None
    return make_ticket(url, hash_type, hash_value, base_path, response)


def make_ticket(
    url: Any, hash_type: Any, hash_value: Any, base_path: str = "/", response: Optional[Response] = None,
    what: str = "bill",
) -> BillTicket:
    """A download ticket from a signed answer's `download_url`, `hash_type` and `hash_value` (checked here)."""
    if not all(isinstance(v, str) and v for v in (url, hash_type, hash_value)):
        raise VerificationError(f"{what} apply response has empty download_url/hash_type/hash_value", response)
    if hash_type.upper() not in _HASHES:
        raise VerificationError(f"unsupported {what} hash_type {hash_type[:16]!r}", response)
    digits = 2 * hashlib.new(_HASHES[hash_type.upper()]).digest_size
    if not re.fullmatch(f"[0-9a-fA-F]{{{digits}}}", hash_value.strip()):
        raise VerificationError(f"{what} hash_value is not {digits} hex digits", response)
    parts = urlsplit(url)
    path = parts.path
    if base_path != "/" and path.startswith(base_path):
        path = path[len(base_path) - 1:]
    return BillTicket(path.lstrip("/"), parts.query, hash_type.upper(), hash_value.strip().lower())


class BillSink:
    """Feeds the downloaded bytes through the digest(s) and, for GZIP, a decompressor, into memory or a
    temp file next to `dest`; `commit()` checks the digest and then returns the bytes or renames the file.

    WeChat Pay documents `hash_value` as the digest of the original bill ("gzip需要解压缩"), so for GZIP the
    decompressed bytes are hashed; the compressed bytes are hashed too and accepted (the digest is signed
    either way, so matching either proves integrity).
    """

    def __init__(
        self, ticket: BillTicket, tar_type: Optional[str] = None, dest: Optional[PathLike] = None, what: str = "bill"
    ) -> None:
        algo = _HASHES[ticket.hash_type]
        self._ticket, self._what = ticket, what
        self._raw = hashlib.new(algo)
        self._plain = hashlib.new(algo) if tar_type == "GZIP" else None
        self._inflate: Optional[Any] = zlib.decompressobj(wbits=31) if tar_type == "GZIP" else None
        self._dest = os.fspath(dest) if dest is not None else None
        if self._dest is not None and os.path.isdir(self._dest):  # found before downloading, not after
            raise InvalidArgumentError(f"dest {self._dest!r} is a directory: give the file path to write the {what} to")
        self._buffer: List[bytes] = []
        self._file: Optional[AtomicFile] = None
        if self._dest is not None:  # a temp file beside dest, private (0600 less the umask); commit() or abort()
            self._file = AtomicFile(self._dest, 0o600, keep_umask=True)

    def __enter__(self) -> BillSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        if self._plain is not None:
            self._plain.update(data)
        if self._file is not None:
            self._file.write(data)
        else:
            self._buffer.append(data)

    def feed(self, chunk: bytes) -> None:
        self._raw.update(chunk)
        if self._inflate is None:
            self._emit(chunk)
            return
        try:
            while chunk:
                if self._inflate.eof:  # the previous gzip member ended: this one starts a new member
                    self._inflate = zlib.decompressobj(wbits=31)
                self._emit(self._inflate.decompress(chunk))
                chunk = self._inflate.unused_data if self._inflate.eof else b""
        except zlib.error as exc:
            raise VerificationError(f"the downloaded bill is not valid gzip ({exc})") from None

    def commit(self) -> Union[bytes, str]:
        """Check the digest; return the bill bytes, or move the temp file to `dest` and return its path."""
        if self._inflate is not None:
            try:
                self._emit(self._inflate.flush())
            except zlib.error as exc:  # pragma: no cover - flush() after decompress() rarely fails
                raise VerificationError(f"the downloaded bill is not valid gzip ({exc})") from None
            if not self._inflate.eof:
                raise VerificationError("the downloaded bill is a truncated gzip stream; nothing was saved")
        want = self._ticket.hash_value
        seen = [h.hexdigest() for h in (self._plain, self._raw) if h is not None]
        if not any(hmac.compare_digest(want, got) for got in seen):
            raise VerificationError(
                f"{self._what} {self._ticket.hash_type} mismatch: expected {want}, downloaded {seen[0]}; "
                "nothing was saved"
            )
        if self._file is None:
            data, self._buffer = b"".join(self._buffer), []
            return data
        assert self._dest is not None
        self._file.commit()  # on failure the temp file is gone and dest keeps its old content
        self._file = None
        return self._dest

    def abort(self) -> None:
        """Discard what was written (a no-op after a successful commit)."""
        self._buffer = []
        if self._file is not None:
            self._file.abort()
            self._file = None


def download_bill(
    client: Any, *, bill_date: str, bill_type: str = "tradebill", tar_type: Optional[str] = None,
    dest: Optional[PathLike] = None, **query: Any,
) -> Union[bytes, str]:
    """Apply for a bill, download it, check its digest, gunzip it; the bytes, or the path written (atomically)."""
    uri, options = apply_options(bill_type, bill_date, tar_type, query)
    ticket = parse_ticket(client.chain(uri).get(options), client.get_driver().config.base_path)
    with BillSink(ticket, tar_type, dest) as sink:
        for chunk in client.chain(ticket.uri).get(query=ticket.query, stream=True).iter_bytes(CHUNK_SIZE):
            sink.feed(chunk)
        return sink.commit()


async def download_bill_async(
    client: Any, *, bill_date: str, bill_type: str = "tradebill", tar_type: Optional[str] = None,
    dest: Optional[PathLike] = None, **query: Any,
) -> Union[bytes, str]:
    """`download_bill` over the async transport."""
    uri, options = apply_options(bill_type, bill_date, tar_type, query)
    ticket = parse_ticket(await client.chain(uri).get_async(options), client.get_driver().config.base_path)
    with BillSink(ticket, tar_type, dest) as sink:
        response = await client.chain(ticket.uri).get_async(query=ticket.query, stream=True)
        async for chunk in response.aiter_bytes(CHUNK_SIZE):
            sink.feed(chunk)
        return sink.commit()




def download_receipt(
    client: Any, download_url: str, hash_value: str, hash_type: str = "SHA256", *, dest: Optional[PathLike] = None
) -> Union[bytes, str]:
    """Download a file whose digest a signed answer named (a transfer receipt: `v3/transfer/bill-receipt/
    {out_batch_no}`, `v3/transfer-detail/electronic-receipts`, ...: their `download_url`, `hash_value`,
    `hash_type`), check the digest, and return the bytes or the path written (atomically). The download is
    unsigned (`v3/transferdownload/signfile`, `.../elecvoucherfile`); a mismatch raises VerificationError and
    leaves no file behind."""
    ticket = make_ticket(download_url, hash_type, hash_value, client.get_driver().config.base_path, what="receipt")
    with BillSink(ticket, None, dest, what="receipt") as sink:
        for chunk in client.chain(ticket.uri).get(query=ticket.query, stream=True).iter_bytes(CHUNK_SIZE):
            sink.feed(chunk)
        return sink.commit()


async def download_receipt_async(
    client: Any, download_url: str, hash_value: str, hash_type: str = "SHA256", *, dest: Optional[PathLike] = None
) -> Union[bytes, str]:
    """`download_receipt` over the async transport."""
    ticket = make_ticket(download_url, hash_type, hash_value, client.get_driver().config.base_path, what="receipt")
    with BillSink(ticket, None, dest, what="receipt") as sink:
        response = await client.chain(ticket.uri).get_async(query=ticket.query, stream=True)
        async for chunk in response.aiter_bytes(CHUNK_SIZE):
            sink.feed(chunk)
        return sink.commit()
