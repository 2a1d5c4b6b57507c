"""The sandbox's APIv2 (XML) endpoints: unifiedorder, orderquery, micropay, transfers and downloadbill.

Requests are verified with the APIv2 secret (MD5 or HMAC-SHA256 per `sign_type`); answers are XML
signed the same way, except where the real service sends no `sign` (transfers) or plain text (bills).
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from wechatpay_chain.crypto._symmetric import Hash
from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.protocol._formatter import Formatter
from wechatpay_chain.protocol._transformer import Transformer
from wechatpay_chain.protocol.v2 import sign_v2
from wechatpay_chain.sandbox._endpoints import CST, Order, V3Api
from wechatpay_chain.sandbox._protocol import Call, Endpoint, Rejection, Reply

if TYPE_CHECKING:  # pragma: no cover
    from wechatpay_chain.sandbox._server import Sandbox

__all__ = ["V2Api", "v2_sign", "notification_xml", "xml_reply", "fail_reply", "verify_params", "SIGN_TYPES"]

SIGN_TYPES = ("MD5", "HMAC-SHA256")
_STATE_DESC = {"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "CLOSED": "订单已关闭", "REFUND": "转入退款"}


def v2_sign(params: Dict[str, Any], secret: str, sign_type: str = Hash.ALGO_MD5) -> str:
    """APIv2 `sign`: upper hex MD5/HMAC-SHA256 over the ksorted `k=v&...` (sign and empty values skipped)."""
    return sign_v2(params, secret, sign_type) if sign_type in SIGN_TYPES else ""


def xml_reply(data: Dict[str, Any], status: int = 200) -> Reply:
    """An APIv2 answer: XML as text/plain, like the real service, never with APIv3 signature headers."""
    return Reply(status, Transformer.to_xml(data).encode("utf-8"), "text/plain; charset=utf-8", signed=False)


def fail_reply(message: str) -> Reply:
    """`return_code` FAIL: the request never reached the business logic (bad XML, sign, missing field)."""
    return xml_reply({"return_code": "FAIL", "return_msg": message})


def verify_params(
    params: Dict[str, Any], mchid: str, secret: str, mchid_keys: Tuple[str, ...] = ("mch_id",),
    sign_types: Tuple[str, ...] = SIGN_TYPES, nonce: bool = True,
) -> Optional[Reply]:
    """None when `params` carry the sandbox merchant (the first of `mchid_keys` present) and a valid `sign`
    (MD5 or HMAC-SHA256 per `sign_type`, which is then set); else the FAIL answer. The one APIv2 sign check."""
    sign_type = params.get("sign_type") or Hash.ALGO_MD5
    if sign_type not in sign_types:
        return fail_reply("sign_type参数错误")
    key = next((k for k in mchid_keys if k in params), mchid_keys[0])
    if params.get(key) != mchid:
        return fail_reply(f"{key}参数错误")
    for name in ("nonce_str", "sign") if nonce else ("sign",):
        if not params.get(name):
            return fail_reply(f"缺少参数{name}")
    if not Hash.equals(v2_sign(params, secret, sign_type), str(params["sign"]).upper()):
        return fail_reply("签名错误")
    params["sign_type"] = sign_type
    return None


class V2Api:
    def __init__(self, sandbox: Sandbox, v3: V3Api) -> None:
        self.sb, self.v3 = sandbox, v3
        self.transfers: Dict[str, Dict[str, str]] = {}

    def endpoints(self) -> List[Endpoint]:
        return [
            Endpoint("POST", "/pay/unifiedorder", self.unifiedorder, kind="v2"),
            Endpoint("POST", "/pay/orderquery", self.orderquery, kind="v2"),
            Endpoint("POST", "/pay/micropay", self.micropay, kind="v2"),
            Endpoint("POST", "/pay/downloadbill", self.downloadbill, kind="v2"),
            Endpoint("POST", "/mmpaymkttransfers/promotion/transfers", self.transfer, kind="v2"),
        ]

    # -- helpers ------------------------------------------------------------------------------------
    def _parse(self, call: Call, mchid_key: str = "mch_id", sign_types: Tuple[str, ...] = SIGN_TYPES) -> Any:
        """The verified request dict, or a FAIL Reply."""
        try:
            params = Transformer.to_array(call.body)
        except InvalidArgumentError:
            return fail_reply("XML格式错误")
        failed = verify_params(params, self.sb.mchid, self.sb.secret, (mchid_key,), sign_types)
        return params if failed is None else failed

    def _missing(self, params: Dict[str, Any], *names: str) -> Optional[Reply]:
        for name in names:
            if not params.get(name):
                return fail_reply(f"缺少参数{name}")
        return None

    def _reply(self, params: Dict[str, Any], data: Dict[str, Any]) -> Reply:
        doc: Dict[str, Any] = {"return_code": "SUCCESS", "return_msg": "OK", "appid": params.get("appid", ""),
                               "mch_id": self.sb.mchid, "nonce_str": Formatter.nonce(16)}
        doc.update(data)
        doc["sign"] = v2_sign(doc, self.sb.secret, params["sign_type"])
        return xml_reply(doc)

    def _error(self, params: Dict[str, Any], code: str, text: str) -> Reply:
        return self._reply(params, {"result_code": "FAIL", "err_code": code, "err_code_des": text})

    def _order_fields(self, order: Order) -> Dict[str, Any]:
        out: Dict[str, Any] = {"trade_state": "REFUND" if order.state == "REFUND" else order.state,
                               "out_trade_no": order.out_trade_no, "total_fee": str(order.total),
                               "trade_state_desc": _STATE_DESC[order.state]}
        if order.transaction_id and order.success_time is not None:
            out.update(openid=order.openid, is_subscribe="N", trade_type=order.trade_type, bank_type="OTHERS",
                       fee_type=order.currency, cash_fee=str(order.total), transaction_id=order.transaction_id,
                       time_end=f"{order.success_time.astimezone(CST):%Y%m%d%H%M%S}", attach=order.attach)
        return out

    def _new_order(self, params: Dict[str, Any], trade_type: str) -> Any:
        try:
            total = int(params["total_fee"])
        except ValueError:
            total = 0
        if total <= 0:
            return self._error(params, "PARAM_ERROR", "total_fee 必须是大于 0 的整数")
        fingerprint = json.dumps({k: v for k, v in params.items() if k not in ("nonce_str", "sign")}, sort_keys=True)
        order = self.v3.orders.get(params["out_trade_no"])
        if order is not None:
            if order.state != "NOTPAY":
                return self._error(params, "ORDERPAID", "该订单已支付")
            if order.fingerprint != fingerprint:
                return self._error(params, "INVALID_REQUEST", "201 商户订单号重复")
            return order
        order = Order(out_trade_no=params["out_trade_no"], appid=params["appid"], mchid=self.sb.mchid,
                      description=params["body"], total=total, trade_type=trade_type,
                      notify_url=params.get("notify_url", ""), openid=params.get("openid", ""),
                      attach=params.get("attach", ""), fingerprint=fingerprint, api="v2",
                      prepay_id=f"wx{datetime.now(CST):%d%H%M%S}{secrets.token_hex(13)}", sign_type=params["sign_type"])
        self.v3.orders[order.out_trade_no] = order
        return order

    # -- endpoints ----------------------------------------------------------------------------------
    def unifiedorder(self, call: Call) -> Reply:
        params = self._parse(call)
        if isinstance(params, Reply):
            return params
        missing = self._missing(
            params, "appid", "body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type"
        )
        if missing:
            return missing
        trade_type = params["trade_type"]
        if trade_type not in ("JSAPI", "NATIVE", "APP", "MWEB"):
            return self._error(params, "PARAM_ERROR", "trade_type 参数错误")
        if trade_type == "JSAPI" and not params.get("openid"):
            return self._error(params, "PARAM_ERROR", "trade_type=JSAPI时（即JSAPI支付），此参数必传")
        order = self._new_order(params, trade_type)
        if isinstance(order, Reply):
            return order
        data = {"result_code": "SUCCESS", "prepay_id": order.prepay_id, "trade_type": trade_type}
        cashier = self.sb.cashier_url(order.out_trade_no, call.headers.get("Host"))
        if trade_type == "NATIVE":  # the sandbox's cashier (see the APIv3 native endpoint)
            data["code_url"] = cashier
        elif trade_type == "MWEB":
            data["mweb_url"] = f"{cashier}?prepay_id={order.prepay_id}"
        return self._reply(params, data)

    def orderquery(self, call: Call) -> Reply:
        params = self._parse(call)
        if isinstance(params, Reply):
            return params
        key = self.v3.by_transaction.get(params.get("transaction_id") or "\0") or params.get("out_trade_no") or "\0"
        order = self.v3.orders.get(key)
        if order is None:
            return self._error(params, "ORDERNOTEXIST", "order not exist")
        return self._reply(params, {"result_code": "SUCCESS", **self._order_fields(order)})

    def micropay(self, call: Call) -> Reply:
        params = self._parse(call)
        if isinstance(params, Reply):
            return params
        missing = self._missing(params, "appid", "body", "out_trade_no", "total_fee", "spbill_create_ip", "auth_code")
        if missing:
            return missing
        if not re.fullmatch(r"1[0-5]\d{16}", params["auth_code"]):
            return self._error(params, "AUTH_CODE_INVALID", "授权码检验错误")
        order = self._new_order(params, "MICROPAY")
        if isinstance(order, Reply):
            return order
        self.v3.mark_paid(order.out_trade_no, datetime.now(CST))
        order.openid = order.openid or "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
        fields = self._order_fields(order)
        fields.pop("trade_state_desc")
        fields.pop("trade_state")
        return self._reply(params, {"result_code": "SUCCESS", **fields})

    def downloadbill(self, call: Call) -> Reply:
        params = self._parse(call)
        if isinstance(params, Reply):
            return params
        missing = self._missing(params, "appid", "bill_date")
        if missing:
            return missing
        try:
            day = self.v3.parse_bill_date(params["bill_date"], "%Y%m%d")
        except Rejection:  # APIv2 answers it as XML
            return fail_reply("No Bill Exist")
        return Reply(200, self.v3.bill_csv(day).encode("utf-8"), "text/plain; charset=utf-8", signed=False)

    def transfer(self, call: Call) -> Reply:
        params = self._parse(call, "mchid", ("MD5",))
        if isinstance(params, Reply):
            return params
        missing = self._missing(params, "mch_appid", "partner_trade_no", "openid", "check_name", "amount", "desc")
        if missing:
            return missing
        record = self.transfers.get(params["partner_trade_no"])
        if record is None:
            record = {"payment_no": f"1000018301{datetime.now(CST):%Y%m%d}{secrets.randbelow(10**12):012d}",
                      "payment_time": f"{datetime.now(CST):%Y-%m-%d %H:%M:%S}"}
            self.transfers[params["partner_trade_no"]] = record
        return xml_reply({"return_code": "SUCCESS", "return_msg": "", "mch_appid": params["mch_appid"],
                     "mchid": self.sb.mchid, "nonce_str": Formatter.nonce(16), "result_code": "SUCCESS",
                     "partner_trade_no": params["partner_trade_no"], **record})


def notification_xml(order: Order, mchid: str, secret: str) -> str:
    """The APIv2 payment notification for an order paid with `Sandbox.pay` (signed with its sign_type)."""
    assert order.success_time is not None
    doc: Dict[str, Any] = {
        "appid": order.appid, "bank_type": "OTHERS", "cash_fee": str(order.total), "fee_type": order.currency,
        "is_subscribe": "N", "mch_id": mchid, "nonce_str": Formatter.nonce(16), "openid": order.openid,
        "out_trade_no": order.out_trade_no, "result_code": "SUCCESS", "return_code": "SUCCESS",
        "time_end": f"{order.success_time.astimezone(CST):%Y%m%d%H%M%S}", "total_fee": str(order.total),
        "trade_type": order.trade_type, "transaction_id": order.transaction_id,
    }
    if order.sign_type != Hash.ALGO_MD5:
        doc["sign_type"] = order.sign_type
    doc["sign"] = v2_sign(doc, secret, order.sign_type)
    return Transformer.to_xml(doc)
