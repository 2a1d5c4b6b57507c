"""Issue 18, production realities: WeChat Pay's signature probes, and the downloads it answers unsigned.

A `WECHATPAY/SIGNTEST/` signature is the service checking that the merchant verifies: refused with
`VerificationError.probe` True, exactly one request sent (never retried), no certificate refresh. The unsigned
downloads come from one list, the atlas' `Operation.unsigned`; a digest named by a signed answer is checked.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest
import requests

from tests.keys import merchant_private_key, merchant_serial, platform_public_key, platform_serial
from tests.support import Recorder, platform_signed, seed_body, unique
from wechatpay_chain import Builder, VerificationError, atlas
from wechatpay_chain.bills import download_receipt, download_receipt_async
from wechatpay_chain.keyring import AutoKeyring
from wechatpay_chain.models import Request, Response
from wechatpay_chain.notify import parse_notification
from wechatpay_chain.protocol._signature import PROBE_PREFIX
from wechatpay_chain.protocol._v3 import unsigned_download
from wechatpay_chain.sandbox import Sandbox
from wechatpay_chain.sandbox._atlas_api import RECEIPT_PDF

MODES = pytest.mark.parametrize("mode", ["sync", "async"])
SEED = "v3/payroll-card/authentications/pre-order-with-auth"
RETRY = {"total": 2, "backoff": 0}
UNSIGNED = {
    ("GET", "v3/billdownload/file"),
    ("GET", "v3/merchant-service/images/{media_id}"),
    ("GET", "v3/global/merchant-service/images/{media_id}"),
    ("GET", "v3/transferdownload/elecvoucherfile"),
    ("GET", "v3/transferdownload/signfile"),
    ("GET", "v3/new-tax-control-fapiao/download"),
}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


def call(mode: str, node: Any, verb: str, **kw: Any) -> Any:
    """`node.get(...)` or `node.get_async(...)` run to its end on a fresh loop (the client closed there)."""
    if mode == "sync":
        return getattr(node, verb)(**kw)

    async def run() -> Any:
        try:
            return await getattr(node, f"{verb}_async")(**kw)
        finally:
            await node.get_driver().close_async()

    return asyncio.run(run())


def hits(sb: Sandbox, path: str) -> int:
    return sum(1 for r in sb.requests if r.path == path)


# -- probes through the client ---------------------------------------------------------------------------------
@MODES
def test_a_probe_answer_is_refused_once_and_never_retried(sb: Sandbox, mode: str) -> None:
    client = sb.client(retries=RETRY)
    sb.inject("probe", path="/" + SEED, times=3)
    before = hits(sb, "/" + SEED)
    try:
        with pytest.raises(VerificationError) as info:
            call(mode, client[SEED], "post", json=seed_body(unique("probe")))
    finally:
        sb.clear_faults()
    assert info.value.probe is True and info.value.response is not None
    assert "WeChat Pay signature probe" in str(info.value) and "refusing it is correct" in str(info.value)
    assert info.value.response.headers["Wechatpay-Signature"].startswith(PROBE_PREFIX)
    assert hits(sb, "/" + SEED) == before + 1  # exactly one request: a probe is not a transient failure
    client.get_driver().close()


@MODES
def test_a_forged_answer_is_not_a_probe(sb: Sandbox, mode: str) -> None:
    client = sb.client()
    sb.inject("bad_signature", path="/" + SEED)
    with pytest.raises(VerificationError) as info:
        call(mode, client[SEED], "post", json=seed_body(unique("forged")))
    assert info.value.probe is False and "probe" not in str(info.value)
    client.get_driver().close()


def native(sb: Sandbox) -> Dict[str, Any]:
    return {"appid": "wxd678efh567hg6787", "mchid": sb.mchid, "description": "probe", "amount": {"total": 1},
            "out_trade_no": "PROBE" + secrets.token_hex(6).upper(), "notify_url": "https://example.com/notify"}


@MODES
def test_a_probe_never_downloads_certificates(cert_sb: Sandbox, mode: str) -> None:
    keyring = AutoKeyring()
    client = cert_sb.client(certs=keyring, retries=RETRY)
    node = client.v3.pay.transactions.native
    call(mode, node, "post", json=native(cert_sb))  # the first call downloads (scheduled)
    downloads, fetched = keyring.downloads, hits(cert_sb, "/v3/certificates")
    assert downloads == 1
    cert_sb.inject("probe", path="/v3/pay/transactions/native")
    with pytest.raises(VerificationError) as info:
        call(mode, node, "post", json=native(cert_sb))
    assert info.value.probe is True
    assert keyring.downloads == downloads and hits(cert_sb, "/v3/certificates") == fetched
    client.get_driver().close()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@MODES
def test_a_probe_naming_an_unknown_serial_is_still_a_probe_and_refreshes_nothing(mode: str) -> None:
    """Checked before the serial: a probe is never a reason to refresh the platform certificates."""
    clock = Clock()
    keyring = AutoKeyring(clock=clock, min_interval=60)

    def answer(request: Request) -> Response:
        if request.target.startswith("/v3/certificates"):
            return Response.build(500, {}, b'{"code":"SYSTEM_ERROR","message":"down"}')
        reply = platform_signed(b'{"ok":true}')
        reply.headers["Wechatpay-Serial"] = "5157F09EFDC096DE15EBE81A47057A72" + secrets.token_hex(4).upper()
        reply.headers["Wechatpay-Signature"] = PROBE_PREFIX + "QUJD" * 86
        return reply

    rec = Recorder(answer)
    client = Builder.factory({"mchid": "1230000109", "serial": merchant_serial(), "privateKey": merchant_private_key(),
                              "certs": keyring, "handler": rec, "retries": RETRY})
    with pytest.raises(VerificationError):  # the scheduled refresh failed (logged); the probe is refused
        call(mode, client.v3.pay.transactions.id._id_, "get", id="1", query={"mchid": "1230000109"})
    clock.now += 120  # past the rate limit: an unknown serial may refresh now, but a probe must not
    rec.requests.clear()
    with pytest.raises(VerificationError) as info:
        call(mode, client.v3.pay.transactions.id._id_, "get", id="2", query={"mchid": "1230000109"})
    assert info.value.probe is True
    assert [r.target.split("?")[0] for r in rec.requests] == ["/v3/pay/transactions/id/2"]


# -- probe notifications ---------------------------------------------------------------------------------------
def paid_order(sb: Sandbox, client: Any) -> str:
    order = native(sb)
    client.v3.pay.transactions.native.post(json=order)
    assert sb.pay(order["out_trade_no"], notify=False) is None
    return str(order["out_trade_no"])


def test_parse_notification_refuses_a_probe_notification(sb: Sandbox) -> None:
    client = sb.client()
    no = paid_order(sb, client)
    certs = {sb.platform_public_key_id: sb.platform_public_key_pem}
    headers, body = sb.notification(no)
    assert parse_notification(headers, body, certs=certs, apiv3_key=sb.apiv3_key)["resource"]["out_trade_no"] == no
    headers, body = sb.notification(no, probe=True)
    assert headers["Wechatpay-Signature"].startswith(PROBE_PREFIX)
    with pytest.raises(VerificationError) as info:
        parse_notification(headers, body, certs=certs, apiv3_key=sb.apiv3_key)
    assert info.value.probe is True and "notification refused" in str(info.value)
    client.get_driver().close()


def test_pay_with_probe_sends_a_probe_the_receiver_must_refuse(sb: Sandbox) -> None:
    """`sb.pay(no, probe=True)` and the admin surface's {"probe": true}: what the receiver got and answered."""
    from aiohttp import web

    from tests.test_examples_notify import serve_aiohttp

    seen: List[bool] = []
    certs = {sb.platform_public_key_id: sb.platform_public_key_pem}

    async def notify(request: web.Request) -> web.Response:
        try:
            parse_notification(request.headers, await request.read(), certs=certs, apiv3_key=sb.apiv3_key)
        except VerificationError as exc:
            seen.append(exc.probe)
            return web.json_response({"code": "FAIL", "message": str(exc)}, status=400)
        seen.append(False)
        return web.json_response({"code": "SUCCESS"})

    app = web.Application()
    app.router.add_post("/notify", notify)
    client = sb.client()
    with serve_aiohttp(app) as url:
        for via_admin in (False, True):
            order = {**native(sb), "notify_url": url}
            client.v3.pay.transactions.native.post(json=order)
            no = order["out_trade_no"]
            if via_admin:
                answer = requests.post(f"{sb.base_uri}_sandbox/orders/{no}/pay", json={"probe": True}, timeout=10)
                assert answer.status_code == 200 and answer.json()["notification"]["status"] == 400
            else:
                assert sb.pay(no, probe=True) == 400
    assert seen == [True, True]
    client.get_driver().close()


# -- the unsigned downloads: one list, from the atlas ----------------------------------------------------------
def test_the_atlas_holds_the_one_list_of_unsigned_downloads() -> None:
    marked = {(op.method, op.template) for op in atlas.operations() if op.unsigned}
    assert marked == UNSIGNED
    assert all(op.download for op in atlas.operations() if op.unsigned)
    fapiao = atlas.lookup("GET", "v3/new-tax-control-fapiao/download")
    assert fapiao is not None and fapiao.doc and "download-invoice-file" in fapiao.doc


@pytest.mark.parametrize("method, path, unsigned", [
    ("GET", "/v3/billdownload/file", True),
    ("GET", "/V3/BillDownload/File", True),  # case-insensitive, as PHP matches
    ("get", "/v3/merchant-service/images/abc%3D%3D", True),
    ("GET", "/v3/global/merchant-service/images/abc", True),
    ("GET", "/v3/transferdownload/signfile", True),
    ("GET", "/v3/transferdownload/elecvoucherfile", True),
    ("GET", "/v3/new-tax-control-fapiao/download", True),
    ("POST", "/v3/merchant-service/images/upload", False),
    ("GET", "/v3/merchant-service/images/upload", False),  # the upload path names no image
    ("POST", "/v3/billdownload/file", False),
    ("GET", "/v3/billdownload/file/extra", False),
    ("GET", "/v3/bill/tradebill", False),
    ("GET", "/hk/v3/statements", False),  # signed over its digest header: verified, not exempt
    ("GET", "/v3/transfer/bill-receipt/plfk2020042013", False),  # the signed answer naming the digest
])
def test_unsigned_download_reads_the_atlas(method: str, path: str, unsigned: bool) -> None:
    assert unsigned_download(method, path) is unsigned


def test_a_new_unsigned_download_is_exempt_and_streams_below_a_base_path() -> None:
    rec = Recorder(Response.build(200, {"Content-Type": "application/pdf"}, b"%PDF-1.7"))
    client = Builder.factory({"mchid": "1230000109", "serial": merchant_serial(), "privateKey": merchant_private_key(),
                              "certs": {platform_serial(): platform_public_key()}, "handler": rec,
                              "base_uri": "https://gw.example/wxpay/"})
    for path in ("v3/transferdownload/signfile", "v3/transferdownload/elecvoucherfile",
                 "v3/new-tax-control-fapiao/download", "v3/global/merchant-service/images/m1"):
        assert client.chain(path).get(query={"token": "T"}, stream=True).content == b"%PDF-1.7"
        assert rec.requests[-1].stream and rec.requests[-1].target.startswith("/wxpay/" + path)
    with pytest.raises(VerificationError, match="not signed"):
        client.v3.transfer.billReceipt._out_batch_no_.get(out_batch_no="b1")  # signed endpoints still verified
    assert not rec.requests[-1].stream


DOWNLOADS: List[Dict[str, Any]] = [
    {"path": "v3/transferdownload/signfile", "query": {"token": "X8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuD"},
     "type": "application/pdf"},
    {"path": "v3/transferdownload/elecvoucherfile", "query": {"token": "T", "source": "elecsign"},
     "type": "application/pdf"},
    {"path": "v3/new-tax-control-fapiao/download", "query": {"token": "T", "fapiao_id": "20200701123456"},
     "type": "application/pdf"},
    {"path": "v3/merchant-service/images/{media_id}", "vars": {"media_id": "abc"}, "type": "image/png"},
    {"path": "v3/global/merchant-service/images/{media_id}", "vars": {"media_id": "abc"},
     "query": {"complaint_id": "200201820200101080076610000"}, "type": "image/png"},
]


@MODES
@pytest.mark.parametrize("download", DOWNLOADS, ids=lambda d: d["path"])
def test_each_unsigned_download_is_served_unsigned_and_accepted(
    sb: Sandbox, mode: str, download: Dict[str, Any]
) -> None:
    client = sb.client()
    options = {"query": download.get("query", {}), **download.get("vars", {})}
    response = call(mode, client.chain(download["path"]), "get", **options)
    assert response.status_code == 200 and response.headers["Content-Type"] == download["type"]
    assert "Wechatpay-Signature" not in response.headers  # as the service answers it: nothing to verify
    assert streamed(mode, sb.client().chain(download["path"]), **options) == response.content
    client.get_driver().close()


def streamed(mode: str, node: Any, **options: Any) -> bytes:
    """The body of a `stream=True` download, read chunk by chunk (sync or async)."""
    if mode == "sync":
        return b"".join(node.get(stream=True, **options).iter_bytes(16))

    async def run() -> bytes:
        try:
            response = await node.get_async(stream=True, **options)
            return b"".join([chunk async for chunk in response.aiter_bytes(16)])
        finally:
            await node.get_driver().close_async()

    return asyncio.run(run())


# -- receipts: the digest of the signed query answer is checked ----------------------------------------------
RECEIPT_QUERIES: List[Callable[[Any], Any]] = [
    lambda c: c.v3.transfer.billReceipt._out_batch_no_.get(out_batch_no="plfk2020042013"),
    lambda c: c.chain("v3/transfer-detail/electronic-receipts").get(query={
        "accept_type": "BATCH_TRANSFER", "out_batch_no": "plfk2020042013", "out_detail_no": "x23"}),
    lambda c: c.chain("v3/fund-app/mch-transfer/elecsign/out-bill-no/{out_bill_no}").get(out_bill_no="b1"),
]


def receive(mode: str, client: Any, ticket: Dict[str, Any], **kw: Any) -> Any:
    args = (client, ticket["download_url"], ticket["hash_value"], ticket["hash_type"])
    if mode == "sync":
        return download_receipt(*args, **kw)

    async def run() -> Any:
        try:
            return await download_receipt_async(*args, **kw)
        finally:
            await client.get_driver().close_async()

    return asyncio.run(run())


@MODES
@pytest.mark.parametrize("query", RECEIPT_QUERIES, ids=["bill-receipt", "electronic-receipts", "elecsign"])
def test_a_receipt_downloads_checked_against_its_digest(
    sb: Sandbox, mode: str, query: Callable[[Any], Any], tmp_path: Path
) -> None:
    client = sb.client()
    ticket = query(client).json()
    assert ticket["hash_type"] == "SHA256" and "/v3/transferdownload/" in ticket["download_url"]
    assert receive(mode, sb.client(), ticket) == RECEIPT_PDF
    dest = tmp_path / "receipt.pdf"
    assert receive(mode, sb.client(), ticket, dest=dest) == str(dest)
    assert dest.read_bytes() == RECEIPT_PDF
    client.get_driver().close()


@MODES
def test_a_tampered_receipt_digest_is_refused_and_nothing_is_saved(sb: Sandbox, mode: str, tmp_path: Path) -> None:
    client = sb.client()
    ticket = client.v3.transfer.billReceipt._out_batch_no_.get(out_batch_no="plfk2020042013").json()
    wrong = {**ticket, "hash_value": ("0" if ticket["hash_value"][0] != "0" else "1") + ticket["hash_value"][1:]}
    dest = tmp_path / "receipt.pdf"
    with pytest.raises(VerificationError, match="receipt SHA256 mismatch"):
        receive(mode, sb.client(), wrong, dest=dest)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(VerificationError, match="hex digits"):
        receive(mode, sb.client(), {**ticket, "hash_value": "not-a-digest"})
    with pytest.raises(VerificationError, match="unsupported receipt hash_type"):
        receive(mode, sb.client(), {**ticket, "hash_type": "CRC32"})
    client.get_driver().close()


def test_the_admin_pay_refuses_a_non_boolean_probe(sb: Sandbox) -> None:
    answer = requests.post(f"{sb.base_uri}_sandbox/orders/NOPE/pay", data=json.dumps({"probe": "yes"}), timeout=10)
    assert answer.status_code == 400 and '"probe" must be true or false' in answer.json()["error"]
