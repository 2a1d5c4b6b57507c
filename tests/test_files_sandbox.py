"""Uploads and verified downloads: through post/post_async against the sandbox, and tamper cases with a
handler transport that plays WeChat Pay (responses signed here with a generated platform key)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.keys import merchant_private_key, merchant_serial, platform_public_key, platform_serial
from tests.support import Recorder, platform_signed
from wechatpay_chain import Builder, Formatter, InvalidArgumentError, Rsa, VerificationError
from wechatpay_chain.files._bills import download_bill, download_bill_async, verify_statement
from wechatpay_chain.files._media import MediaUtil, MultipartStream
from wechatpay_chain.models import Request, Response

MODES = pytest.mark.parametrize("mode", ["sync", "async"])
CSV = ("交易时间,公众账号ID,商户号,微信订单号,商户订单号,应结订单金额\n" * 3000).encode("utf-8")


def run(mode: str, sync: Callable[..., Any], coro: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return sync(*args, **kwargs) if mode == "sync" else asyncio.run(coro(*args, **kwargs))


# -- a handler transport playing WeChat Pay ------------------------------------------------------------------------
class Play(Recorder):
    """Answers the bill apply (signed) and the download (unsigned), recording every request."""

    def __init__(self, bill: bytes, hash_value: str, hash_type: str = "SHA1", token: str = "T0k-_%2B==") -> None:
        super().__init__(self.answer)
        self.bill, self.hash_value, self.hash_type, self.token = bill, hash_value, hash_type, token

    def answer(self, request: Request) -> Response:
        path = request.target.split("?", 1)[0]
        if path in ("/v3/bill/tradebill", "/v3/bill/fundflowbill"):
            return platform_signed(json.dumps({
                "hash_type": self.hash_type, "hash_value": self.hash_value,
                "download_url": f"https://api.mch.weixin.qq.com/v3/billdownload/file?token={self.token}",
            }).encode())
        if path == "/v3/billdownload/file":
            return Response.build(200, {"Content-Type": "application/x-gzip"}, self.bill)
        return Response.build(404, {}, b'{"code":"NOT_FOUND","message":"no"}')


def client(handler: Callable[[Request], Response], **config: Any) -> Any:
    return Builder.factory({
        "mchid": "1230000109", "serial": merchant_serial(), "privateKey": merchant_private_key(),
        "certs": {platform_serial(): platform_public_key()}, "handler": handler, **config,
    })


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


# -- uploads, signed over meta ----------------------------------------------------------------------------------
@MODES
def test_upload_is_signed_over_meta_and_sends_the_stream(mode: str, tmp_path: Path) -> None:
    handler = Recorder(platform_signed(b'{"media_id":"MEDIA"}'))
    seen = handler.requests
    (tmp_path / "logo.png").write_bytes(b"\x89PNG fake")
    media = MediaUtil(str(tmp_path / "logo.png"))
    node = client(handler).v3.merchant.media.upload
    opts = {"body": media.get_stream(), "headers": {"Content-Type": media.get_content_type()}}
    response = node.post(**opts) if mode == "sync" else asyncio.run(node.post_async(**opts))
    assert response.json() == {"media_id": "MEDIA"}
    (request,) = seen
    assert isinstance(request.body, MultipartStream)
    assert request.headers["Content-Type"] == media.get_content_type()
    auth = dict(kv.split("=", 1) for kv in request.headers["Authorization"].split(" ", 1)[1].split(","))
    message = Formatter.request("POST", "/v3/merchant/media/upload", auth["timestamp"].strip('"'),
                                auth["nonce_str"].strip('"'), media.get_meta())
    assert Rsa.verify(message, auth["signature"].strip('"'), merchant_private_key().public_key())


# -- bills: digest, gzip, atomic writes, tampering --------------------------------------------------------------
@MODES
@pytest.mark.parametrize("tar_type, hashed", [(None, "plain"), ("GZIP", "plain"), ("GZIP", "compressed")])
def test_download_bill_returns_verified_bytes(mode: str, tar_type: Optional[str], hashed: str) -> None:
    wire = gzip.compress(CSV) if tar_type else CSV
    play = Play(wire, sha1(CSV if hashed == "plain" else wire))  # WeChat documents the plain digest
    got = run(mode, download_bill, download_bill_async, client(play), bill_date="2024-06-01", tar_type=tar_type,
              bill_type="tradebill")
    assert got == CSV
    apply, download = play.requests
    assert apply.method == download.method == "GET"
    query = dict(parse_qsl(urlsplit(apply.url).query))
    assert query == {"bill_date": "2024-06-01", **({"tar_type": "GZIP"} if tar_type else {})}
    assert download.target == f"/v3/billdownload/file?token={play.token}"  # the token is sent as given


@MODES
def test_download_bill_extra_query_and_fundflow(mode: str) -> None:
    play = Play(CSV, sha1(CSV))
    run(mode, download_bill, download_bill_async, client(play), bill_date="2024-06-01",
        bill_type="fundflowbill", account_type="BASIC")
    assert play.requests[0].target == "/v3/bill/fundflowbill?bill_date=2024-06-01&account_type=BASIC"


@MODES
def test_download_bill_to_dest_is_atomic(mode: str, tmp_path: Path) -> None:
    play = Play(gzip.compress(CSV), sha1(CSV))
    dest = tmp_path / "bill.csv"
    got = run(mode, download_bill, download_bill_async, client(play), bill_date="2024-06-01", tar_type="GZIP",
              dest=dest)
    assert got == str(dest) and dest.read_bytes() == CSV
    assert os.listdir(tmp_path) == ["bill.csv"]


@MODES
@pytest.mark.parametrize("case", ["tampered", "truncated-gzip", "not-gzip", "wrong-digest", "unsupported-hash",
                                  "non-hex-digest"])
def test_download_bill_refuses_and_leaves_no_file(mode: str, case: str, tmp_path: Path) -> None:
    packed = gzip.compress(CSV)
    play = {
        "tampered": Play(CSV.replace(b",", b";", 1), sha1(CSV)),
        "truncated-gzip": Play(packed[: len(packed) // 2], sha1(CSV)),
        "not-gzip": Play(CSV, sha1(CSV)),
        "wrong-digest": Play(packed, "0" * 40),
        "unsupported-hash": Play(CSV, sha1(CSV), hash_type="MD5"),
        "non-hex-digest": Play(CSV, "é" * 40),  # compare_digest raised TypeError on it
    }[case]
    tar_type = None if case in ("tampered", "unsupported-hash", "non-hex-digest") else "GZIP"
    dest = tmp_path / "bill.csv"
    dest_before = b"previous"
    dest.write_bytes(dest_before)  # an existing file is not clobbered by a refused download
    with pytest.raises(VerificationError):
        run(mode, download_bill, download_bill_async, client(play), bill_date="2024-06-01", tar_type=tar_type,
            dest=dest)
    assert os.listdir(tmp_path) == ["bill.csv"] and dest.read_bytes() == dest_before


@MODES
def test_download_bill_to_a_directory_is_refused_before_the_download(mode: str, tmp_path: Path) -> None:
    play = Play(CSV, sha1(CSV))
    with pytest.raises(InvalidArgumentError, match="is a directory"):
        run(mode, download_bill, download_bill_async, client(play), bill_date="2024-06-01", dest=tmp_path)
    assert [r.target.split("?")[0] for r in play.requests] == ["/v3/bill/tradebill"]  # the file was not fetched


@pytest.mark.parametrize("kwargs", [{"bill_type": "ALL"}, {"tar_type": "ZIP"}])
def test_download_bill_bad_arguments_raise_before_io(kwargs: Dict[str, Any]) -> None:
    play = Play(CSV, sha1(CSV))
    with pytest.raises(ValueError):
        download_bill(client(play), bill_date="2024-06-01", **kwargs)
    assert play.requests == []


def test_unsigned_apply_response_is_refused() -> None:
    def handler(request: Request) -> Response:
        return Response.build(200, {}, json.dumps({"hash_type": "SHA1", "hash_value": sha1(b"x"),
                                                   "download_url": "https://x/v3/billdownload/file?token=t"}).encode())

    with pytest.raises(VerificationError, match="not signed"):
        download_bill(client(handler), bill_date="2024-06-01")


def test_apply_response_without_fields_is_refused() -> None:
    with pytest.raises(VerificationError, match="download_url"):
        download_bill(client(lambda request: platform_signed(b'{"hash_type":"SHA1"}')), bill_date="2024-06-01")


# -- overseas statements: the signature covers {"sha1": Wechatpay-Statement-Sha1} -------------------------------
def statement(body: bytes, digest: Optional[str] = None, signed_digest: Optional[str] = None) -> Response:
    digest = digest or sha1(body)
    return platform_signed(body, headers={"Content-Type": "text/plain", "Wechatpay-Statement-Sha1": digest},
                           signed_text='{"sha1":"%s"}' % (signed_digest or digest))


STATEMENT_ENDPOINTS = [
    ("https://apihk.mch.weixin.qq.com/", "v3/global/statements"),  # PHP's Global_/StatementsTest
    ("https://api.mch.weixin.qq.com/", "hk/v3/statements"),
]


@MODES
@pytest.mark.parametrize("base_uri, uri", STATEMENT_ENDPOINTS)
def test_statement_verified_via_sha1_header(mode: str, base_uri: str, uri: str) -> None:
    node = client(lambda request: statement(CSV), base_uri=base_uri)[uri]
    response = node.get(query={"date": "20180103"}) if mode == "sync" else asyncio.run(
        node.get_async(query={"date": "20180103"}))
    assert verify_statement(response) is response
    assert response.headers["Wechatpay-Statement-Sha1"] == sha1(response.content)


@pytest.mark.parametrize("base_uri, uri", STATEMENT_ENDPOINTS)
def test_statement_with_forged_sha1_header_is_refused(base_uri: str, uri: str) -> None:
    forged = statement(CSV, digest="f" * 40, signed_digest=sha1(CSV))  # header swapped after signing
    with pytest.raises(VerificationError):
        client(lambda request: forged, base_uri=base_uri)[uri].get()


@pytest.mark.parametrize("base_uri, uri", STATEMENT_ENDPOINTS)
def test_statement_body_not_matching_its_signed_sha1(base_uri: str, uri: str) -> None:
    tampered = statement(CSV.replace(b",", b";", 1), digest=sha1(CSV))
    with pytest.raises(VerificationError, match="does not match"):  # PHP would pass it; we check the body too
        client(lambda request: tampered, base_uri=base_uri)[uri].get()
    with pytest.raises(VerificationError, match="does not match"):
        verify_statement(tampered)


def test_statement_gzip_body_is_checked_after_decompression() -> None:
    response = statement(gzip.compress(CSV), digest=sha1(CSV))
    assert verify_statement(response) is response


def test_statement_without_sha1_header_is_signed_over_the_body() -> None:
    plain = platform_signed(CSV)  # no Wechatpay-Statement-Sha1: the ordinary rule applies
    assert client(lambda request: plain, base_uri="https://apihk.mch.weixin.qq.com/").v3.global_.statements.get()
    with pytest.raises(VerificationError):
        verify_statement(plain)


def test_php_hk_statements_with_hk_base_uri() -> None:
    node = client(lambda request: statement(CSV), base_uri="https://api.mch.weixin.qq.com/hk/")
    assert node.chain("v3/statements").get(query={"date": "20180103"}).content == CSV


# -- end to end against the sandbox, over real loopback HTTP, both transports ------------------------------------
@MODES
def test_sandbox_upload(mode: str, sandbox: Any, tmp_path: Path) -> None:
    image = tmp_path / "logo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200_000))
    media = MediaUtil("file://" + str(image))
    cli = sandbox.client()
    opts = {"body": media.get_stream(), "headers": {"Content-Type": media.get_content_type()}}
    if mode == "sync":
        response = cli.v3.merchant.media.upload.post(**opts)
        again = cli.v3.merchant.media.upload.post(**opts)  # the same stream object re-sends fine
    else:
        async def both() -> Tuple[Response, Response]:
            node = cli["v3/merchant/media/upload"]
            return await node.post_async(**opts), await node.post_async(**opts)

        response, again = asyncio.run(both())
    assert response.status_code == again.status_code == 200
    assert response.json()["media_id"] and again.json()["media_id"]


@MODES
def test_sandbox_video_upload_streams_with_content_length(mode: str, sandbox: Any, tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(os.urandom(4 * 1024 * 1024 + 3))  # many 64 KiB chunks, under the 5 MB video limit
    media = MediaUtil(str(video))
    body = media.get_stream()
    node = sandbox.client().v3.merchant.media.video_upload
    opts = {"body": body, "headers": {"Content-Type": media.get_content_type()}}
    response = node.post(**opts) if mode == "sync" else asyncio.run(node.post_async(**opts))
    assert response.json()["media_id"]
    arrived = [r for r in sandbox.requests if r.path == "/v3/merchant/media/video_upload"][-1]
    assert arrived.headers["Content-Length"] == str(len(body))  # not chunked: the exact length was promised
    assert "Transfer-Encoding" not in arrived.headers
    assert arrived.body == b"".join(body)


@MODES
def test_sandbox_upload_with_wrong_meta_is_rejected(mode: str, sandbox: Any) -> None:
    from wechatpay_chain import ClientError

    media = MediaUtil("logo.png", b"\x89PNG real bytes")
    media.set_meta({"filename": "logo.png", "sha256": "0" * 64})  # signed fine, but does not match the file
    node = sandbox.client().v3.merchant.media.upload
    opts = {"body": media.get_stream(), "headers": {"Content-Type": media.get_content_type()}}
    with pytest.raises(ClientError) as caught:
        node.post(**opts) if mode == "sync" else asyncio.run(node.post_async(**opts))
    assert caught.value.status_code == 400


@MODES
@pytest.mark.parametrize("tar_type", [None, "GZIP"])
def test_sandbox_download_bill(mode: str, tar_type: Optional[str], sandbox: Any, tmp_path: Path) -> None:
    cli = sandbox.client()
    data = run(mode, download_bill, download_bill_async, cli, bill_date=_today(), tar_type=tar_type)
    assert isinstance(data, bytes) and data.decode("utf-8")
    dest = tmp_path / "bill.csv"
    path = run(mode, download_bill, download_bill_async, cli, bill_date=_today(), tar_type=tar_type, dest=dest)
    assert path == str(dest) and dest.read_bytes() == data


def _today() -> str:
    """The sandbox keeps bills from the day it started (China Standard Time)."""
    return datetime.now(timezone(timedelta(hours=8))).date().isoformat()
