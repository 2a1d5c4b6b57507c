"""APIv2 end to end against the local sandbox over loopback HTTP, each scenario through `post` and `post_async`."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Dict, Iterator, Mapping

import pytest

from wechatpay_chain import ApiError, Builder, InvalidArgumentError, Node, Transformer, VerificationError
from wechatpay_chain.client._driver import Driver
from wechatpay_chain.models import Request, Response
from wechatpay_chain.protocol.v2 import parse

CST = timezone(timedelta(hours=8))
APPID = "wx8888888888888888"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

Call = Callable[[Node, str, Mapping[str, Any]], Response]


def _sync(client: Node, uri: str, options: Mapping[str, Any]) -> Response:
    with client:
        return client.chain(uri).post(options)


def _async(client: Node, uri: str, options: Mapping[str, Any]) -> Response:
    async def go() -> Response:
        async with client:
            return await client.chain(uri).post_async(options)

    return asyncio.run(go())


@pytest.fixture(params=["post", "post_async"])
def call(request: pytest.FixtureRequest) -> Call:
    return _sync if request.param == "post" else _async


@pytest.fixture
def client(sandbox: Any) -> Iterator[Node]:
    node = sandbox.client()
    yield node
    node.get_driver().close()


def mchid(client: Node) -> str:
    return client.get_driver().config.mchid


def with_config(client: Node, **changes: Any) -> Node:
    """The same client with some config fields replaced (a wrong secret, a tampering handler)."""
    return Node(Driver(dataclasses.replace(client.get_driver().config, **changes)))


def trade_no() -> str:
    return "T" + secrets.token_hex(12)


def unifiedorder_xml(client: Node, out_trade_no: str, **extra: Any) -> Dict[str, Any]:
    return {"appid": APPID, "mch_id": mchid(client), "body": "腾讯充值中心-QQ会员充值", "out_trade_no": out_trade_no,
            "total_fee": "888", "spbill_create_ip": "123.12.12.123", "notify_url": "https://example.com/notify",
            "trade_type": "NATIVE", **extra}


@pytest.mark.parametrize("sign_type", [None, "MD5", "HMAC-SHA256"])
def test_unifiedorder_then_orderquery(client: Node, call: Call, sign_type: Any) -> None:
    no = trade_no()
    extra = {"sign_type": sign_type} if sign_type else {}
    res = call(client, "v2/pay/unifiedorder", {"xml": unifiedorder_xml(client, no, **extra)})
    data = Transformer.to_array(res.text)
    assert data["return_code"] == data["result_code"] == "SUCCESS"
    assert data["prepay_id"] and "/_sandbox/cashier/" in data["code_url"]  # the cashier
    assert len(data["sign"]) == (64 if sign_type == "HMAC-SHA256" else 32)

    res = call(client, "v2/pay/orderquery", {"xml": {"appid": APPID, "mch_id": mchid(client), "out_trade_no": no}})
    query = parse(res)
    assert (query["trade_state"], query["out_trade_no"], query["total_fee"]) == ("NOTPAY", no, "888")


def test_micropay_then_bill(client: Node, call: Call) -> None:
    no = trade_no()
    res = call(client, "v2/pay/micropay", {"xml": {
        "appid": APPID, "mch_id": mchid(client), "body": "门店-刷卡", "out_trade_no": no, "total_fee": "1",
        "spbill_create_ip": "14.23.150.211", "auth_code": "134567890123456789",
    }})
    paid = parse(res)
    assert paid["result_code"] == "SUCCESS" and paid["transaction_id"] and paid["out_trade_no"] == no

    res = call(client, "v2/pay/downloadbill", {"xml": {
        "appid": APPID, "mch_id": mchid(client), "bill_type": "ALL", "bill_date": f"{datetime.now(CST):%Y%m%d}",
    }})
    assert not res.content.lstrip().startswith(b"<")  # the raw CSV, untouched
    assert no in res.text and paid["transaction_id"] in res.text
    assert res.text.count("\r\n") >= 4


def test_downloadbill_xml_error(client: Node, call: Call) -> None:
    future = f"{datetime.now(CST) + timedelta(days=3):%Y%m%d}"
    with pytest.raises(ApiError) as info:
        call(client, "v2/pay/downloadbill", {"xml": {"appid": APPID, "mch_id": mchid(client), "bill_date": future}})
    assert info.value.status_code == 200 and info.value.code == "FAIL"
    assert info.value.data["return_code"] == "FAIL" and info.value.data["return_msg"]


def test_transfers_answer_unsigned(client: Node, call: Call) -> None:
    partner_trade_no = trade_no()
    res = call(client, "v2/mmpaymkttransfers/promotion/transfers", {
        "xml": {"mch_appid": APPID, "mchid": mchid(client), "partner_trade_no": partner_trade_no, "openid": OPENID,
                "check_name": "FORCE_CHECK", "re_user_name": "王小王", "amount": "10099", "desc": "理赔",
                "spbill_create_ip": "192.168.0.1"},
        "security": False,
    })
    data = parse(res)
    assert "sign" not in data
    assert data["result_code"] == "SUCCESS" and data["partner_trade_no"] == partner_trade_no and data["payment_no"]


def test_micropay_fail_code(client: Node, call: Call) -> None:
    with pytest.raises(ApiError) as info:
        call(client, "v2/pay/micropay", {"xml": {
            "appid": APPID, "mch_id": mchid(client), "body": "x", "out_trade_no": trade_no(), "total_fee": "1",
            "spbill_create_ip": "14.23.150.211", "auth_code": "999",
        }})
    err = info.value
    assert (err.status_code, err.code) == (200, "AUTH_CODE_INVALID") and err.message
    assert err.data["result_code"] == "FAIL" and err.data["sign"]  # a signed, verified FAIL
    assert err.response is not None


def test_orderquery_not_exist(client: Node, call: Call) -> None:
    with pytest.raises(ApiError) as info:
        call(client, "v2/pay/orderquery", {"xml": {"appid": APPID, "mch_id": mchid(client), "out_trade_no": "NOPE"}})
    assert info.value.code == "ORDERNOTEXIST" and info.value.data["err_code"] == "ORDERNOTEXIST"


def test_wrong_secret_rejected_by_sandbox(sandbox: Any, client: Node, call: Call) -> None:
    wrong = sandbox.client(secret="another_secret_another_secret_12")
    with pytest.raises(ApiError) as info:
        call(wrong, "v2/pay/orderquery", {"xml": {"appid": APPID, "mch_id": mchid(client), "out_trade_no": "X"}})
    assert info.value.code == "FAIL" and info.value.data == {"return_code": "FAIL", "return_msg": info.value.message}
    assert "another_secret" not in str(info.value)


def test_mchid_mismatch_never_reaches_the_sandbox(client: Node, call: Call) -> None:
    with pytest.raises(InvalidArgumentError):
        call(client, "v2/pay/orderquery", {"xml": {"appid": APPID, "mch_id": "1900000001", "out_trade_no": "X"}})


class Tamper:
    """A handler that sends through the real transports and alters the reply on the way back."""

    def __init__(self, driver: Driver, alter: Callable[[bytes], bytes]) -> None:
        self.driver, self.alter = driver, alter

    def _altered(self, response: Response) -> Response:
        return Response.build(response.status_code, response.headers, self.alter(response.content), response.url)

    def send(self, request: Request) -> Response:
        return self._altered(self.driver.transport.send(request))

    def send_async(self, request: Request) -> Awaitable[Response]:
        async def go() -> Response:
            return self._altered(await asyncio.to_thread(self.driver.transport.send, request))

        return go()


@pytest.mark.parametrize("alter", [
    pytest.param(lambda b: b.replace(b"<total_fee>888</total_fee>", b"<total_fee>1</total_fee>"), id="field"),
    pytest.param(lambda b: b.replace(b"</xml>", b"<extra>1</extra></xml>"), id="extra-field"),
    pytest.param(lambda b: b.replace(b"<sign>", b"<sig>").replace(b"</sign>", b"</sig>"), id="unsigned"),
])
def test_tampered_reply_is_refused(client: Node, call: Call, alter: Callable[[bytes], bytes]) -> None:
    no = trade_no()
    call(client, "v2/pay/unifiedorder", {"xml": unifiedorder_xml(client, no)})
    tampered = with_config(client, handler=Tamper(client.get_driver(), alter))
    try:
        with pytest.raises(VerificationError) as info:
            call(tampered, "v2/pay/orderquery", {"xml": {"appid": APPID, "mch_id": mchid(client), "out_trade_no": no}})
    finally:
        client.get_driver().close()
    assert info.value.response is not None


def test_sandbox_tampered_body_fault(sandbox: Any, client: Node, call: Call) -> None:
    no = trade_no()
    call(client, "v2/pay/unifiedorder", {"xml": unifiedorder_xml(client, no)})
    sandbox.inject("tampered_body", path="/pay/orderquery")
    try:
        with pytest.raises(VerificationError):
            call(client, "v2/pay/orderquery", {"xml": {"appid": APPID, "mch_id": mchid(client), "out_trade_no": no}})
    finally:
        sandbox.clear_faults()


def test_apiv2_only_client(sandbox: Any, call: Call) -> None:
    """A merchant with only the APIv2 key: mchid + secret, no APIv3 credentials at all."""
    v2only = Builder.factory({"mchid": sandbox.mchid, "secret": sandbox.secret, "base_uri": sandbox.base_uri})
    try:
        res = call(v2only, "v2/pay/unifiedorder", {"xml": unifiedorder_xml(v2only, trade_no())})
        assert Transformer.to_array(res.text)["result_code"] == "SUCCESS"
    finally:
        v2only.get_driver().close()


def test_php_apiv2_setup_with_placeholders_works_as_written(sandbox: Any, call: Call) -> None:
    """Issue 16: wechatpay-php's README_APIv2 set-up, ported as written ('nop', 'any', {'any': None})."""
    client = Builder.factory({
        "mchid": sandbox.mchid,
        "serial": "nop",
        "privateKey": "any",
        "certs": {"any": None},
        "secret": sandbox.secret,
        "base_uri": sandbox.base_uri,
    })
    no = trade_no()
    data = parse(call(client, "v2/pay/unifiedorder", {"xml": unifiedorder_xml(client, no)}))
    assert data["result_code"] == "SUCCESS" and data["prepay_id"]
    seen = len(sandbox.requests)
    with pytest.raises(InvalidArgumentError, match=r"APIv2 only .*placeholders.*give a real `serial`"):
        client.v3.pay.transactions.outTradeNo._out_trade_no_.get(out_trade_no=no, query={"mchid": sandbox.mchid})
    with pytest.raises(InvalidArgumentError, match="APIv2 only"):
        asyncio.run(client["v3/pay/transactions/native"].post_async(json={"out_trade_no": no}))
    assert len(sandbox.requests) == seen  # refused before any I/O


@pytest.mark.parametrize("secret", ["", "   "])
def test_an_empty_secret_says_so(sandbox: Any, secret: str) -> None:
    placeholders: Dict[str, Any] = {"serial": "nop", "privateKey": "any", "certs": {"any": None}}
    for extra in ({}, placeholders):
        config = {"mchid": sandbox.mchid, "secret": secret, **extra}
        with pytest.raises(InvalidArgumentError, match=r"`secret` \(the APIv2 key\) is empty"):
            Builder.factory(config)


def test_php_placeholders_without_a_secret_name_the_placeholder() -> None:
    with pytest.raises(InvalidArgumentError, match=r"`certs` \(any\) holds no key, only None.*needs a `secret`"):
        Builder.factory({"mchid": "1900000109", "serial": "nop", "privateKey": "any", "certs": {"any": None}})
