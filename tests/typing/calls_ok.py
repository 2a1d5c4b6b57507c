"""Calls a checker must accept, and the types it must infer (tests/test_typed_endpoints.py; never executed).

Also the 100-line user module the README's "What the types catch" timings are measured on.
"""

from __future__ import annotations

from typing import Any, Dict, List

from typing_extensions import assert_type

from wechatpay_chain import Builder, MediaUtil, Node, Response, Sensitive

client = Builder.factory({'mchid': '1900000001', 'serial': 'S', 'privateKey': 'file:///k.pem', 'certs': {}})


def seed() -> str:
    """The README's first call: `user_name` is a base64 (encrypted) field, yet plain text and Sensitive both go."""
    resp = client.v3.payrollCard.authentications.preOrderWithAuth.post(json={
        'openid': 'onqOjjmo8wmTOOtSKwXtGjg9Gb58', 'appid': 'wxa1111111', 'sub_mchid': '1111111',
        'authenticate_number': 'mcdhehfgisdhfjghed39384564i83', 'project_name': '某项目',
        'employer_name': '某用工企业', 'user_name': '张三', 'id_card_number': Sensitive('110101199003070000'),
        'employment_type': 'LONG_TERM_EMPLOYMENT', 'authenticate_type': 'SIGN_IN',
    })
    assert_type(resp.json()['expires_in'], int)
    return assert_type(resp.json()['token'], str)


def native(out_trade_no: str, total: int) -> str:
    resp = client.v3.pay.transactions.native.post(json={
        'appid': 'wxd678efh567hg6787', 'mchid': '1900000001', 'description': 'Image形象店-深圳腾大-QQ公仔',
        'out_trade_no': out_trade_no, 'notify_url': 'https://www.weixin.qq.com/wxpay/pay.php',
        'amount': {'total': total, 'currency': 'CNY'}, 'limit_pay': ['no_credit'],
        'detail': {'goods_detail': [{'merchant_goods_id': '1', 'quantity': 1, 'unit_price': total}]},
    }, headers={'Idempotency-Key': out_trade_no}, timeout=(2, 10))
    return resp.json()['code_url']


def query(out_trade_no: str) -> Any:
    """A URI-template variable is a typed keyword; the query a TypedDict of its own."""
    resp = client.v3.pay.transactions.outTradeNo._out_trade_no_.get(out_trade_no=out_trade_no,
                                                                    query={'mchid': '1900000001'})
    return resp.json().get('trade_state')


def close(out_trade_no: str) -> int:
    node = client.v3.pay.transactions.outTradeNo._out_trade_no_.close
    return node.post(json={'mchid': '1900000001'}, out_trade_no=out_trade_no).status_code


def refund(transaction_id: str) -> List[Any]:
    """`from` is a keyword: the shape is the functional TypedDict, checked all the same."""
    resp = client.v3.refund.domestic.refunds.post(json={
        'transaction_id': transaction_id, 'out_refund_no': 'R1',
        'amount': {'refund': 1, 'total': 1, 'currency': 'CNY', 'from': [{'account': 'AVAILABLE', 'amount': 1}]},
    }, encrypt=False)
    return [resp.json()['status'], resp.json()['amount']['refund']]


def php_style() -> Dict[str, Any]:
    """PHP's options array, positionally: not checked (it may be built at run time), the answer still typed."""
    options: Dict[str, Any] = {'json': {'mchid': '1900000001'}, 'out_trade_no': '1217752501201407033233368018'}
    client.v3.pay.transactions.outTradeNo._out_trade_no_.close.post(options)
    resp = client.v3.pay.transactions.native.post({'json': {'anything': 1}}, timeout=5)
    return {'code_url': resp.json()['code_url']}


def untyped_paths() -> List[Response]:
    """What the atlas does not know still type-checks: the runtime accepts any path."""
    return [
        client.v3.no.such.thing.get(),
        client['v3/x'].post(json={'a': 1}),
        client.chain('v3/pay/transactions/native').post({'json': {}}),
        client.v3.pay.transactions.native.nope.delete(),
        client.v2.pay.micropay.post({'xml': {'appid': 'wx8888888888888888', 'total_fee': '888'}}),
        client.v2.mmpaymkttransfers.promotion.transfers.post(xml={'amount': '10099'}, security=True),
    ]


def keywords_and_verbs() -> List[Node]:
    """Segments that are keywords or verb names take the trailing underscore the runtime strips."""
    return [client.v3.global_.statements, client.hk.v3.merchants, client.v3.marketing.favor.stocks]


def upload(path: str) -> str:
    media = MediaUtil(path)
    resp = client.v3.merchant.media.upload.post(body=media.get_stream(),
                                               headers={'Content-Type': media.get_content_type()})
    return resp.json()['media_id']


async def native_async(out_trade_no: str) -> str:
    resp = await client.v3.pay.transactions.native.post_async(json={
        'appid': 'wx', 'mchid': '1', 'description': 'd', 'out_trade_no': out_trade_no,
        'notify_url': 'https://example.com/notify', 'amount': {'total': 1},
    })
    return assert_type(resp.json()['code_url'], str)


async def query_async(out_trade_no: str) -> Response:
    return await client.v3.pay.transactions.outTradeNo._out_trade_no_.get_async(
        out_trade_no=out_trade_no, query={'mchid': '1'}, stream=False)


def lifecycle() -> None:
    """A typed client through `with`, and typed nodes where a plain `Node` is wanted."""
    with Builder.factory({'mchid': '1'}) as c:
        takes_node(c.v3.pay.transactions)
        takes_response(c.v3.certificates.get())


def takes_node(node: Node) -> str:
    return str(node)


def takes_response(resp: Response) -> bool:
    return resp.ok
