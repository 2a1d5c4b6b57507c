"""Mistakes a checker must flag, one a line, each followed by a comment: E, a colon, what mypy says (never executed)."""
# ruff: noqa: E501  (one call a line, so each error has the line of its mark)

from __future__ import annotations

from wechatpay_chain import Builder, Sensitive

client = Builder.factory({'mchid': '1900000001'})
native = client.v3.pay.transactions.native
by_out_trade_no = client.v3.pay.transactions.outTradeNo._out_trade_no_
auth = client.v3.payrollCard.authentications.preOrderWithAuth


def payloads() -> None:
    native.post(json={'appid': 'wx', 'mchid': '1', 'description': 'd', 'notify_url': 'https://x', 'out_trade_no': '1', 'amount': {'total': 1}, 'out_tarde_no2': 'x'})  # E: Extra key "out_tarde_no2" for TypedDict "PayTransactionsNativeJson"
    native.post(json={'appid': 'wx', 'mchid': '1', 'description': 'd', 'out_trade_no': '1', 'amount': {'total': 1}})  # E: Missing key "notify_url" for TypedDict "PayTransactionsNativeJson"
    native.post(json={'appid': 'wx', 'mchid': '1', 'description': 'd', 'notify_url': 'https://x', 'out_trade_no': '1', 'amount': {'total': '100'}})  # E: Incompatible types (expression has type "str", TypedDict item "total" has type "int")
    native.post(json={'appid': 'wx', 'mchid': '1', 'description': 'd', 'notify_url': 'https://x', 'out_trade_no': '1', 'amount': {'total': 1}, 'limit_pay': ['no_cash']})  # E: List item 0 has incompatible type "Literal['no_cash']"; expected "Literal['no_balance', 'no_credit', 'no_debit', 'balance_only']"
    auth.post(json={'openid': 'o', 'sub_mchid': '1', 'authenticate_number': 'n', 'project_name': 'p', 'employer_name': 'e', 'user_name': Sensitive('张三'), 'id_card_number': 'x', 'employment_type': 'FOREVER', 'authenticate_type': 'SIGN_IN'})  # E: Incompatible types (expression has type "Literal['FOREVER']", TypedDict item "employment_type" has type "Literal['LONG_TERM_EMPLOYMENT', 'SHORT_TERM_EMPLOYMENT', 'COOPERATION_EMPLOYMENT']")
    auth.post(json={'openid': 'o', 'sub_mchid': '1', 'authenticate_number': 'n', 'project_name': 'p', 'employer_name': 'e', 'user_name': 3, 'id_card_number': 'x', 'employment_type': 'LONG_TERM_EMPLOYMENT', 'authenticate_type': 'SIGN_IN'})  # E: Incompatible types (expression has type "int", TypedDict item "user_name" has type "str | Sensitive")


def keywords() -> None:
    by_out_trade_no.get(out_trade_no='1', query={'mchid': '1', 'sub_mchid': '2'})  # E: Extra key "sub_mchid" for TypedDict "PayTransactionsByOutTradeNoQuery"
    by_out_trade_no.get(out_trade_no='1', query={})  # E: Missing key "mchid" for TypedDict "PayTransactionsByOutTradeNoQuery"
    by_out_trade_no.get(out_trade_n='1', query={'mchid': '1'})  # E: Unexpected keyword argument "out_trade_n" for "get" of "PayTransactionsByOutTradeNoNode"; did you mean "out_trade_no"?
    by_out_trade_no.get(out_trade_no=1217752501, query={'mchid': '1'})  # E: Argument "out_trade_no" to "get" of "PayTransactionsByOutTradeNoNode" has incompatible type "int"; expected "str"
    native.post({'json': {}}, timout=3)  # E: Unexpected keyword argument "timout" for "post" of "PayTransactionsNativeNode"; did you mean "timeout"?
    native.post({'json': {}}, encrypt=True)  # E: Argument "encrypt" to "post" of "PayTransactionsNativeNode" has incompatible type "Literal[True]"
    client.v3.merchant.media.upload.post(body={'file': 'x'})  # E: Argument "body" to "post" of "MediaUploadNode" has incompatible type "dict[str, str]"; expected "MultipartStream | bytes"


def answers() -> None:
    auth.post({'json': {}}).json()['tokn']  # E: TypedDict "PreOrderWithAuthAnswer" has no key "tokn"
    native.post({'json': {}}).json()['code_url'].decode()  # E: "str" has no attribute "decode"


async def asynchronous() -> None:
    await native.post_async(json={'appid': 'wx', 'mchid': '1', 'description': 'd', 'notify_url': 'https://x', 'out_trade_no': '1', 'amount': {'totl': 1}})  # E: Extra key "totl" for TypedDict "PayTransactionsNativeAmount"
    with Builder.factory({'mchid': '1'}) as c:
        c.v3.pay.transactions.native.post(json={'appid': 'wx', 'mchid': '1', 'description': 'd', 'notify_url': 'https://x', 'out_trade_no': 1, 'amount': {'total': 1}})  # E: Incompatible types (expression has type "int", TypedDict item "out_trade_no" has type "str | Sensitive")
