"""Issue 18: the public-key migration, against the sandbox playing it (`Sandbox(mode='migration')`).

While a merchant switches, the service signs an answer with the WeChat Pay public key only when the request named
that key's id in `Wechatpay-Serial`, and signs callbacks with either key on its own schedule. The client sends the
header on every request, counts which key signed what (`get_driver().key_usage()`), and `doctor` says where the
switch stands. Through `post` and `post_async`.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from tests.test_cli_doctor import doctor, line, write_config
from wechatpay_chain.notify import parse_notification
from wechatpay_chain.sandbox import Sandbox

MODES = ["sync", "async"]


@pytest.fixture(scope="module")
def migrating() -> Iterator[Sandbox]:
    with Sandbox(mode="migration") as sb:
        yield sb


def both_keys(sb: Sandbox) -> Dict[str, Any]:
    return {sb.platform_public_key_id: sb.platform_public_key_pem,
            sb.platform_certificate_serial: sb.platform_certificate_pem}


def query(client: Any, sb: Sandbox, mode: str, **options: Any) -> Any:
    """One verified APIv3 call (an order query, created first), through post or post_async."""
    no = "MIG" + secrets.token_hex(6)
    order = {"appid": "wxd678efh567hg6787", "mchid": sb.mchid, "description": "migration", "out_trade_no": no,
             "notify_url": "http://127.0.0.1:9/notify", "amount": {"total": 1, "currency": "CNY"}}
    node = client.v3.pay.transactions.outTradeNo._out_trade_no_
    if mode == "sync":
        client.v3.pay.transactions.native.post(json=order, **options)
        return node.get(out_trade_no=no, query={"mchid": sb.mchid}, **options)

    async def go() -> Any:
        async with client:
            await client.v3.pay.transactions.native.post_async(json=order, **options)
            return await node.get_async(out_trade_no=no, query={"mchid": sb.mchid}, **options)

    return asyncio.run(go())


@pytest.mark.parametrize("mode", MODES)
def test_a_migrating_merchants_calls_name_the_public_key_and_get_it(migrating: Sandbox, mode: str) -> None:
    with migrating.client(certs=both_keys(migrating)) as client:
        resp = query(client, migrating, mode)
        assert resp.verified_by == migrating.platform_public_key_id
        assert {r.headers.get("Wechatpay-Serial") for r in list(migrating.requests)[-2:]} == {
            migrating.platform_public_key_id}
        assert client.get_driver().key_usage() == {migrating.platform_public_key_id: 2}


@pytest.mark.parametrize("mode", MODES)
def test_a_certificate_only_merchant_is_unchanged(migrating: Sandbox, mode: str) -> None:
    certs = {migrating.platform_certificate_serial: migrating.platform_certificate_pem}
    with migrating.client(certs=certs) as client:
        resp = query(client, migrating, mode)
        assert resp.verified_by == migrating.platform_certificate_serial
        assert "Wechatpay-Serial" not in migrating.requests[-1].headers
        assert client.get_driver().key_usage() == {migrating.platform_certificate_serial: 2}


def test_a_call_that_names_the_certificate_gets_the_certificate(migrating: Sandbox) -> None:
    with migrating.client(certs=both_keys(migrating)) as client:
        resp = query(client, migrating, "sync", headers={"Wechatpay-Serial": migrating.platform_certificate_serial})
        assert resp.verified_by == migrating.platform_certificate_serial


@pytest.mark.parametrize(("share", "expected"), [(0.0, "certificate"), (1.0, "public key")])
def test_callbacks_follow_the_services_share_and_are_counted(share: float, expected: str) -> None:
    with Sandbox(mode="migration", public_key_share=share) as sb, sb.client(certs=both_keys(sb)) as client:
        no = "MIGN" + secrets.token_hex(6)
        client.v3.pay.transactions.native.post(json={
            "appid": "wxd678efh567hg6787", "mchid": sb.mchid, "description": "m", "out_trade_no": no,
            "notify_url": "http://127.0.0.1:9/notify", "amount": {"total": 1, "currency": "CNY"}})
        sb.pay(no, notify=False)
        headers, body = sb.notification(no)
        usage = client.get_driver().usage
        before = usage.snapshot()
        parse_notification(headers, body, certs=both_keys(sb), apiv3_key=sb.apiv3_key, key_usage=usage)
        signer = sb.platform_public_key_id if expected == "public key" else sb.platform_certificate_serial
        assert headers["Wechatpay-Serial"] == signer
        assert usage.snapshot()[signer] == before.get(signer, 0) + 1


def test_a_share_outside_0_and_1_is_refused() -> None:
    with pytest.raises(ValueError, match="public_key_share"):
        Sandbox(mode="migration", public_key_share=1.5)
    with pytest.raises(ValueError, match="migration"):
        Sandbox(mode="migration", certificates=False)


def test_doctor_says_the_switch_is_done_for_answers(migrating: Sandbox, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, lines, _ = doctor(write_config(migrating, tmp_path, certs="both"), capsys)
    said = line(lines, "public-key migration")
    assert said.startswith("✓") and "the answer is signed by it" in said and migrating.platform_public_key_id in said
    assert "void the certificate" in said and "key_usage()" in said


def test_doctor_says_when_the_service_has_not_switched(cert_sb: Sandbox, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A sandbox that signs with the certificate whatever the request names: the service has not switched."""
    _, lines, _ = doctor(write_config(cert_sb, tmp_path, certs="both"), capsys)
    said = line(lines, "public-key migration")
    assert said.startswith("!") and "not answer this merchant with the public key yet" in said
    assert cert_sb.platform_certificate_serial in said


def test_doctor_tells_a_certificate_merchant_how_to_start(cert_sb: Sandbox, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _, lines, _ = doctor(write_config(cert_sb, tmp_path), capsys)
    assert "to migrate, add the WeChat Pay public key" in line(lines, "public-key migration")
