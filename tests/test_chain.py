"""The chain node: PHP's segment normalisation, Python's additions, caching, verbs vs segments."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from tests.test_core import MERCHANT, PLATFORM_PUB, PUB_ID, Recorder
from wechatpay_chain import Builder, InvalidArgumentError
from wechatpay_chain.client._chain import Node, normalize


@pytest.fixture
def client() -> Any:
    return Builder.factory(
        {
            "mchid": "1",
            "serial": "S",
            "privateKey": MERCHANT,
            "certs": {PUB_ID: PLATFORM_PUB},
            "handler": Recorder(),
        }
    )


@pytest.mark.parametrize(
    "name, segment",
    [
        ("preOrderWithAuth", "pre-order-with-auth"),
        ("complaintsV2", "complaints-v2"),
        ("PayrollCard", "payroll-card"),
        ("v3", "v3"),
        ("_transaction_id_", "{transaction_id}"),
        ("_out_trade_no_", "{out_trade_no}"),
        ("video_upload", "video_upload"),
    ],
)
def test_php_normalisation(name: str, segment: str) -> None:
    assert normalize(name) == segment


def test_three_forms_are_the_same_node(client: Any) -> None:
    a = client.v3.payrollCard.authentications.preOrderWithAuth
    b = client["v3/payroll-card/authentications/pre-order-with-auth"]
    c = client.chain("v3/payroll-card/authentications/pre-order-with-auth")
    assert a is b is c
    assert str(a) == "v3/payroll-card/authentications/pre-order-with-auth"
    assert "v3/payroll-card/authentications/pre-order-with-auth" in repr(a)


def test_children_are_cached(client: Any) -> None:
    assert client.v3.pay.transactions is client.v3.pay.transactions
    assert client["v3"]["pay"] is client.v3.pay


def test_templates(client: Any) -> None:
    assert str(client.v3.pay.transactions.id._transaction_id_) == "v3/pay/transactions/id/{transaction_id}"
    assert str(client["v3/pay/transactions/id/{transaction_id}"]) == "v3/pay/transactions/id/{transaction_id}"
    assert str(client["v3/a/{/var,x}/b"]) == "v3/a/{/var,x}/b"
    assert (
        str(client["v3/merchant-service/complaintsV2/{complaintId}"])
        == "v3/merchant-service/complaints-v2/{complaintId}"
    )
    assert str(client[""]) == "" and str(client) == ""


def test_keywords_with_trailing_underscore(client: Any) -> None:
    assert str(client.v3.global_.statements) == "v3/global/statements"
    assert str(client.v3.import_) == "v3/import"


def test_verbs_are_methods_but_items_are_segments(client: Any) -> None:
    assert callable(client.v3.pay.get)
    assert str(client.v3["get"]) == "v3/get"
    assert str(client.v3.pay.transactions.outTradeNo._n_.close) == "v3/pay/transactions/out-trade-no/{n}/close"
    assert isinstance(client.v3.close, Node)
    assert str(client.v3.items) == "v3/items" and str(client.v3.keys) == "v3/keys" and str(client.v3.pop) == "v3/pop"


def test_dunders_are_never_segments(client: Any) -> None:
    node = client.v3.pay
    with pytest.raises(AttributeError):
        _ = node.__foo__
    assert not hasattr(node, "__await__")
    assert not hasattr(node, "__fspath__")
    assert copy.copy(node) is not None


def test_not_iterable(client: Any) -> None:
    with pytest.raises(TypeError):
        list(client.v3)


def test_bad_keys(client: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        client[1.5]
    assert str(client.v3[1]) == "v3/1"


def test_options_must_be_a_dict(client: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        client.v3.x.post(["json"])


def test_v2_prefix_routes_to_xml(client: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="secret"):
        client.v2.pay.micropay.post(xml={"appid": "wx"})


def test_context_managers_close_the_driver() -> None:
    import asyncio

    with Builder.factory({"mchid": "1", "serial": "S", "privateKey": MERCHANT, "certs": {PUB_ID: PLATFORM_PUB}}) as c:
        assert c.get_driver().transport is not None
    assert c.get_driver()._sync is None

    async def main() -> None:
        async with Builder.factory(
            {"mchid": "1", "serial": "S", "privateKey": MERCHANT, "certs": {PUB_ID: PLATFORM_PUB}}
        ) as c:
            assert c.get_driver().async_transport is not None

    asyncio.run(main())


def test_pickle_is_refused_cleanly(client: Any) -> None:
    with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
        pickle.dumps(client.v3)
