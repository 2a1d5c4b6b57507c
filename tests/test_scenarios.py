"""End-to-end scenarios, over real loopback HTTP against the sandbox, through `post` and `post_async`."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Callable, Dict

import pytest

from wechatpay_chain import ClientError, Rsa, Sensitive, TransportError
from wechatpay_chain.sandbox import Sandbox

SEED = "v3/payroll-card/authentications/pre-order-with-auth"


def seed_body(number: str, name: Any = "张三", idno: Any = "110101199003071234") -> Dict[str, Any]:
    return {"openid": "onqOjjmo8wmTOOtSKwXtGjg9Gb58", "appid": "wxa1111111", "sub_mchid": "1900000109",
            "sub_appid": "wxb1111111", "authenticate_number": number, "project_name": "某项目",
            "employer_name": "某用工企业", "user_name": name, "id_card_number": idno,
            "employment_type": "LONG_TERM_EMPLOYMENT", "authenticate_type": "SIGN_IN"}


def unique(prefix: str) -> str:
    return f"{prefix}{time.time_ns()}"


@pytest.fixture(params=["post", "post_async"])
def send(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """send(node, verb, **options) through the sync verb or its *_async twin."""
    if request.param == "post":
        return lambda node, verb, **kw: getattr(node, verb)(**kw)
    return lambda node, verb, **kw: asyncio.run(getattr(node, f"{verb}_async")(**kw))


def order(sb: Sandbox, no: str, description: str = "Image形象店-深圳腾大-QQ公仔") -> Dict[str, Any]:
    return {"appid": "wxd678efh567hg6787", "mchid": sb.mchid, "description": description, "out_trade_no": no,
            "notify_url": "https://example.com/notify", "amount": {"total": 100, "currency": "CNY"}}


@pytest.mark.parametrize("how", ["Sensitive", "encrypt=", "pre-encrypted (PHP style)"])
@pytest.mark.parametrize("form", ["attribute", "item", "chain"])
def test_seed_call(sandbox: Sandbox, client: Any, send: Any, form: str, how: str) -> None:
    node = {"attribute": client.v3.payrollCard.authentications.preOrderWithAuth, "item": client[SEED],
            "chain": client.chain(SEED)}[form]
    number = unique("S")
    if how == "Sensitive":
        resp = send(node, "post", json=seed_body(number, Sensitive("张三"), Sensitive("110101199003071234")))
    elif how == "encrypt=":
        resp = send(node, "post", json=seed_body(number), encrypt=["user_name", "id_card_number"])
    else:  # what a PHP port does: encrypt by hand with Rsa.encrypt and name the key in Wechatpay-Serial
        key = Rsa.from_(sandbox.platform_public_key_pem, Rsa.KEY_TYPE_PUBLIC)
        body = seed_body(number, Rsa.encrypt("张三", key), Rsa.encrypt("110101199003071234", key))
        resp = send(node, "post", json=body, headers={"Wechatpay-Serial": sandbox.platform_public_key_id})
    assert resp.status_code == 200 and resp.json()["expires_in"] == 1800
    seen = sandbox.requests[-1]
    assert seen.decrypted == {"user_name": "张三", "id_card_number": "110101199003071234"}
    assert "张三" not in seen.body.decode()


def test_sensitive_with_certificate_serial(sandbox: Sandbox, client: Any, send: Any) -> None:
    """A caller-given Wechatpay-Serial naming the platform certificate picks that key."""
    resp = send(client[SEED], "post", json=seed_body(unique("C"), Sensitive("李四"), Sensitive("110101199003071234")),
                headers={"Wechatpay-Serial": sandbox.platform_certificate_serial})
    assert resp.status_code == 200 and sandbox.requests[-1].decrypted["user_name"] == "李四"


def test_path_variables_reserved_and_non_ascii(sandbox: Sandbox, client: Any, send: Any) -> None:
    no = unique("O/中 ?&=#%")  # every character the path segment must encode
    assert send(client.v3.pay.transactions.native, "post", json=order(sandbox, no)).status_code == 200
    got = send(client.v3.pay.transactions.outTradeNo._out_trade_no_, "get", out_trade_no=no,
               query={"mchid": sandbox.mchid})
    assert got.json()["out_trade_no"] == no
    assert "%2F" in sandbox.requests[-1].target and "%E4%B8%AD" in sandbox.requests[-1].target
    by_template = send(client["v3/pay/transactions/out-trade-no/{out_trade_no}"], "get", out_trade_no=no,
                       query={"mchid": sandbox.mchid, "note": "a b&c=d/中😀"})
    assert by_template.json()["out_trade_no"] == no
    assert "note=a%20b%26c%3Dd%2F%E4%B8%AD%F0%9F%98%80" in sandbox.requests[-1].target


def test_chinese_and_emoji_body(sandbox: Sandbox, client: Any, send: Any) -> None:
    no = unique("E")
    description = "测试商品 😀 — «quotes» \\ / \u2028"
    assert send(client.v3.pay.transactions.jsapi, "post", json={**order(sandbox, no, description),
                "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}).status_code == 200
    sent = json.dumps(description, ensure_ascii=False).encode()
    assert sent in sandbox.requests[-1].body and "测试商品 😀".encode() in sent  # UTF-8, not \\u escapes


def test_close_is_204(sandbox: Sandbox, client: Any, send: Any) -> None:
    no = unique("Z")
    send(client.v3.pay.transactions.native, "post", json=order(sandbox, no))
    resp = send(client.v3.pay.transactions.outTradeNo._out_trade_no_.close, "post", out_trade_no=no,
                json={"mchid": sandbox.mchid})
    assert resp.status_code == 204 and resp.content == b""


def test_4xx_carries_the_evidence(sandbox: Sandbox, client: Any, send: Any) -> None:
    with pytest.raises(ClientError) as info:
        send(client.v3.pay.transactions.outTradeNo._out_trade_no_, "get", out_trade_no="never-made",
             query={"mchid": sandbox.mchid})
    err = info.value
    assert err.status_code == 404 and err.code == "ORDER_NOT_EXIST" and err.request_id and err.response


def test_timeout(sandbox: Sandbox, client: Any, send: Any) -> None:
    sandbox.inject("delay", seconds=1.0)
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        send(client.v3.certificates, "get", timeout=0.3)
    assert info.value.kind == "timeout" and time.monotonic() - started < 0.9
    sandbox.clear_faults()
    assert send(client.v3.certificates, "get").status_code == 200


def test_100_concurrent_post_async(sandbox: Sandbox, client: Any) -> None:
    async def main() -> list:
        bodies = [seed_body(unique(f"P{i}-"), Sensitive("张三"), Sensitive("110101199003071234")) for i in range(100)]
        calls = [client[SEED].post_async(json=body) for body in bodies]
        return await asyncio.gather(*calls)

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 100
    assert len({r.json()["token"] for r in responses}) >= 1
