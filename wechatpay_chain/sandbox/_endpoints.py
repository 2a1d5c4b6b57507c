"""The sandbox's APIv3 endpoints and their in-memory state (orders, refunds, certificates, bills, media).

Each endpoint validates its input the way the real service does (400 PARAM_ERROR naming the field),
keeps consistent state (an order paid with `Sandbox.pay` shows up in queries, refunds and bills) and
answers the real response shapes; field names follow https://wechatpay.im/openapi/.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from wechatpay_chain.crypto._symmetric import AesGcm
from wechatpay_chain.protocol._formatter import Formatter
from wechatpay_chain.sandbox._protocol import Call, Endpoint, Rejection, Reply, json_reply, multipart_parts

if TYPE_CHECKING:  # pragma: no cover
    from wechatpay_chain.sandbox._server import Sandbox

__all__ = [
    "V3Api",
    "Order",
    "CST",
    "rfc3339",
    "transaction_id",
    "require",
    "require_query",
    "param_error",
    "BILL_HEADER",
    "BILL_SUMMARY",
]

CST = timezone(timedelta(hours=8))
_TRADE_STATE_DESC = {"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "CLOSED": "订单已关闭", "REFUND": "订单发生过退款"}
_IMAGE = ({"jpg", "jpeg", "png", "bmp"}, 2 * 1024 * 1024)
_VIDEO = ({"avi", "wmv", "mpeg", "mp4", "mov", "mkv", "flv", "f4v", "m4v", "rmvb"}, 5 * 1024 * 1024)
_KEEP = 1000  # bounded stores (bill tokens, media)
#: how many days back a trade bill can be asked for (a day with no order has an empty bill), as at WeChat Pay
BILL_DAYS = 90
_BILL_DATE = {"field": "bill_date", "location": "query"}
BILL_HEADER = [
    "交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型",
    "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额",
    "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额",
    "申请退款金额", "费率备注",
]
BILL_SUMMARY = [
    "总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额",
]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(CST).isoformat(timespec="seconds")


def _digits(n: int) -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(n))


def transaction_id(now: datetime) -> str:
    return f"4200{_digits(6)}{now.astimezone(CST):%Y%m%d}{_digits(10)}"


def param_error(path: str, message: Optional[str] = None) -> Rejection:
    name = path.rsplit("/", 1)[-1]
    return Rejection(
        400, "PARAM_ERROR", message or f"输入源“/body{path}”映射到字段“{name}”必填性规则校验失败，此字段为必填项",
        {"field": path, "location": "body", "value": None, "issue": "missing or invalid"},
    )


def _get(doc: Any, dotted: str) -> Any:
    for name in dotted.split("."):
        doc = doc.get(name) if isinstance(doc, dict) else None
    return doc


def require(doc: Any, *fields: str) -> None:
    if not isinstance(doc, dict):
        raise Rejection(400, "PARAM_ERROR", "请求体必须是 JSON 对象", {"location": "body"})
    for dotted in fields:
        if _get(doc, dotted) in (None, "", [], {}):
            raise param_error("/" + dotted.replace(".", "/"))


def require_query(call: Call, *names: str) -> None:
    for name in names:
        if not call.query.get(name):
            message = f"输入源“/query/{name}”映射到字段“{name}”必填性规则校验失败，此字段为必填项"
            raise Rejection(400, "PARAM_ERROR", message, {"field": name, "location": "query"})


@dataclass
class Order:
    """One order, shared by the APIv3 and APIv2 endpoints and `Sandbox.pay`."""

    out_trade_no: str
    appid: str
    mchid: str
    description: str
    total: int
    trade_type: str
    notify_url: str
    openid: str = ""
    attach: str = ""
    currency: str = "CNY"
    fingerprint: str = ""
    prepay_id: str = ""
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: Optional[datetime] = None
    refunded: int = 0
    api: str = "v3"
    sign_type: str = "MD5"
    extra: Dict[str, Any] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(CST))
    time_expire: Optional[datetime] = None  # APIv3 `time_expire`: the cashier refuses to pay after it

    def expired(self, now: datetime) -> bool:
        return self.state == "NOTPAY" and self.time_expire is not None and now >= self.time_expire

    def transaction(self) -> Dict[str, Any]:
        """The query / notification shape (real field names and order)."""
        doc: Dict[str, Any] = {"appid": self.appid, "mchid": self.mchid, "out_trade_no": self.out_trade_no}
        if self.transaction_id:
            doc.update(transaction_id=self.transaction_id, trade_type=self.trade_type)
        doc.update(trade_state=self.state, trade_state_desc=_TRADE_STATE_DESC[self.state])
        if self.success_time is not None:
            doc.update(bank_type="OTHERS", attach=self.attach, success_time=rfc3339(self.success_time))
            doc["payer"] = {"openid": self.openid or "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
            doc["amount"] = {"total": self.total, "payer_total": self.total, "currency": self.currency,
                             "payer_currency": self.currency}
        else:
            doc["amount"] = {"total": self.total, "payer_currency": self.currency}
        return doc


def _time_expire(value: Any) -> Optional[datetime]:
    """`time_expire` (rfc3339 with its offset, e.g. 2018-06-08T10:34:56+08:00) or None when absent."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise param_error("/time_expire", "time_expire 格式错误，应为 rfc3339 格式，如 2018-06-08T10:34:56+08:00")
    return moment


class V3Api:
    """State + handlers; every handler runs on the sandbox's event loop, so no locking is needed."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.orders: Dict[str, Order] = {}
        self.by_transaction: Dict[str, str] = {}
        self.refunds: Dict[str, Dict[str, Any]] = {}
        self.bills: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self.media: OrderedDict[str, bytes] = OrderedDict()

    def endpoints(self) -> List[Endpoint]:
        kinds = ("jsapi", "native", "app", "h5")
        eps = [Endpoint("POST", f"/v3/pay/transactions/{kind}", self._prepay(kind)) for kind in kinds]
        return eps + [
            Endpoint("GET", "/v3/pay/transactions/id/{transaction_id}", self.query_by_id),
            Endpoint("GET", "/v3/pay/transactions/out-trade-no/{out_trade_no}", self.query_by_out_trade_no),
            Endpoint("POST", "/v3/pay/transactions/out-trade-no/{out_trade_no}/close", self.close),
            Endpoint("POST", "/v3/refund/domestic/refunds", self.refund),
            Endpoint("GET", "/v3/refund/domestic/refunds/{out_refund_no}", self.refund_query),
            Endpoint("GET", "/v3/certificates", self.certificates),
            Endpoint("GET", "/v3/bill/tradebill", self.tradebill),
            Endpoint("GET", "/v3/billdownload/file", self.billdownload),
            Endpoint("POST", "/v3/merchant/media/upload", lambda call: self.upload(call, *_IMAGE)),
            Endpoint("POST", "/v3/merchant/media/video_upload", lambda call: self.upload(call, *_VIDEO)),
        ]

    # -- orders -------------------------------------------------------------------------------------
    def _check_mchid(self, mchid: Any, where: str = "body") -> None:
        if mchid != self.sb.mchid:
            raise Rejection(400, "PARAM_ERROR", f"商户号 mchid({str(mchid)[:32]}) 与请求签名的商户号不一致",
                            {"field": "mchid", "location": where})

    def _prepay(self, kind: str) -> Any:
        trade_type = {"jsapi": "JSAPI", "native": "NATIVE", "app": "APP", "h5": "MWEB"}[kind]
        needs = {"jsapi": ("payer.openid",), "h5": ("scene_info.payer_client_ip", "scene_info.h5_info.type")}

        def handler(call: Call) -> Reply:
            doc = call.json
            require(doc, "appid", "mchid", "description", "out_trade_no", "notify_url", "amount.total")
            require(doc, *needs.get(kind, ()))
            self._check_mchid(doc["mchid"])
            total = _get(doc, "amount.total")
            if not isinstance(total, int) or isinstance(total, bool) or total <= 0:
                raise param_error("/amount/total", "amount.total 必须是大于 0 的整数（单位：分）")
            if not str(doc["notify_url"]).startswith(("http://", "https://")):
                raise param_error("/notify_url", "notify_url 必须是 http(s) URL")
            fingerprint = json.dumps([kind, doc], sort_keys=True, ensure_ascii=False)
            order = self.orders.get(doc["out_trade_no"])
            if order is not None:
                if order.state in ("SUCCESS", "REFUND"):
                    raise Rejection(400, "ORDERPAID", "该订单已支付")
                if order.state == "CLOSED":
                    raise Rejection(400, "ORDER_CLOSED", "订单已关闭")
                if order.fingerprint != fingerprint:
                    raise Rejection(403, "OUT_TRADE_NO_USED", "商户订单号重复")
            else:
                order = Order(
                    out_trade_no=doc["out_trade_no"], appid=doc["appid"], mchid=doc["mchid"],
                    description=doc["description"], total=total, trade_type=trade_type, notify_url=doc["notify_url"],
                    openid=_get(doc, "payer.openid") or "", attach=doc.get("attach", ""),
                    currency=_get(doc, "amount.currency") or "CNY", fingerprint=fingerprint,
                    prepay_id=f"wx{datetime.now(CST):%d%H%M%S}{secrets.token_hex(13)}",
                    time_expire=_time_expire(doc.get("time_expire")),
                )
                self.orders[order.out_trade_no] = order
            cashier = self.sb.cashier_url(order.out_trade_no, call.headers.get("Host"))
            if kind == "native":  # the sandbox's cashier, where the payer pays: what a phone opens from the QR
                return json_reply({"code_url": cashier})
            if kind == "h5":  # the merchant appends &redirect_url=..., as to the real h5_url
                return json_reply({"h5_url": f"{cashier}?prepay_id={order.prepay_id}&package={_digits(10)}"})
            return json_reply({"prepay_id": order.prepay_id})

        return handler

    def order(self, out_trade_no: str) -> Order:
        order = self.orders.get(out_trade_no)
        if order is None:
            raise Rejection(404, "ORDER_NOT_EXIST", "订单不存在")
        return order

    def query_by_id(self, call: Call) -> Reply:
        require_query(call, "mchid")
        self._check_mchid(call.query["mchid"], "query")
        return json_reply(self.order(self.by_transaction.get(call.params["transaction_id"], "\0")).transaction())

    def query_by_out_trade_no(self, call: Call) -> Reply:
        require_query(call, "mchid")
        self._check_mchid(call.query["mchid"], "query")
        return json_reply(self.order(call.params["out_trade_no"]).transaction())

    def close(self, call: Call) -> Reply:
        require(call.json, "mchid")
        self._check_mchid(call.json["mchid"])
        order = self.order(call.params["out_trade_no"])
        if order.state in ("SUCCESS", "REFUND"):
            raise Rejection(400, "ORDERPAID", "订单已支付，不能关单")
        order.state = "CLOSED"
        return Reply(204, b"", None)

    def mark_paid(self, out_trade_no: str, now: datetime) -> Order:
        """The control call behind `Sandbox.pay`: NOTPAY -> SUCCESS with a transaction id."""
        order = self.orders.get(out_trade_no)
        if order is None:
            raise KeyError(f"no order {out_trade_no!r} in the sandbox")
        if order.state != "NOTPAY":
            raise ValueError(f"order {out_trade_no!r} is {order.state}, only NOTPAY orders can be paid")
        order.state, order.success_time = "SUCCESS", now
        order.transaction_id = transaction_id(now)
        self.by_transaction[order.transaction_id] = out_trade_no
        return order

    # -- refunds ------------------------------------------------------------------------------------
    def refund(self, call: Call) -> Reply:
        doc = call.json
        require(doc, "out_refund_no", "amount.refund", "amount.total", "amount.currency")
        if doc.get("transaction_id"):
            key = self.by_transaction.get(doc["transaction_id"], "\0")
        elif doc.get("out_trade_no"):
            key = doc["out_trade_no"]
        else:
            raise param_error("/transaction_id", "transaction_id 和 out_trade_no 必须二选一")
        order = self.orders.get(key)
        if order is None or order.state not in ("SUCCESS", "REFUND"):
            raise Rejection(404, "RESOURCE_NOT_EXISTS", "订单不存在或未支付")
        existing = self.refunds.get(doc["out_refund_no"])
        if existing is not None:
            return json_reply(dict(existing, status="PROCESSING", success_time=None))
        refund, total = _get(doc, "amount.refund"), _get(doc, "amount.total")
        if total != order.total:
            raise param_error("/amount/total", "amount.total 与原订单金额不一致")
        if not isinstance(refund, int) or refund <= 0 or refund > order.total - order.refunded:
            raise Rejection(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        order.refunded += refund
        order.state = "REFUND"
        now = datetime.now(CST)
        record: Dict[str, Any] = {
            "refund_id": f"50{_digits(27)}", "out_refund_no": doc["out_refund_no"],
            "transaction_id": order.transaction_id, "out_trade_no": order.out_trade_no, "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱", "success_time": rfc3339(now), "create_time": rfc3339(now),
            "status": "SUCCESS", "funds_account": "AVAILABLE",
            "amount": {"total": order.total, "refund": refund, "payer_total": order.total, "payer_refund": refund,
                       "settlement_refund": refund, "settlement_total": order.total, "discount_refund": 0,
                       "currency": order.currency, "refund_fee": 0},
        }
        self.refunds[doc["out_refund_no"]] = record
        return json_reply(dict(record, status="PROCESSING", success_time=None))

    def refund_query(self, call: Call) -> Reply:
        record = self.refunds.get(call.params["out_refund_no"])
        if record is None:
            raise Rejection(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return json_reply(record)

    # -- certificates, bills, media -----------------------------------------------------------------
    def certificates(self, call: Call) -> Reply:
        if not self.sb.certificates:
            raise Rejection(404, "RESOURCE_NOT_EXISTS", "无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥")
        cert = self.sb.identity.certificate
        nonce = Formatter.nonce(12)
        return json_reply({"data": [{
            "serial_no": cert.serial_no,
            "effective_time": rfc3339(cert.not_before),
            "expire_time": rfc3339(cert.not_after),
            "encrypt_certificate": {
                "algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "certificate",
                "ciphertext": AesGcm.encrypt(cert.pem, self.sb.apiv3_key, nonce, "certificate"),
            },
        }]})

    def bill_rows(self, day: date) -> List[List[str]]:
        rows = []
        for o in self.orders.values():
            if o.success_time is None or o.success_time.astimezone(CST).date() != day:
                continue
            rows.append([f"{o.success_time.astimezone(CST):%Y-%m-%d %H:%M:%S}", o.appid, o.mchid, "0", "",
                         o.transaction_id, o.out_trade_no, o.openid, o.trade_type, "SUCCESS", "OTHERS", o.currency,
                         f"{o.total / 100:.2f}", "0.00", "0", "0", "0.00", "0.00", "", "", o.description, o.attach,
                         "0.00000", "0.60%", f"{o.total / 100:.2f}", "0.00", ""])
        return rows

    def bill_csv(self, day: date) -> str:
        rows = self.bill_rows(day)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(BILL_HEADER)
        writer.writerows([["`" + v for v in row] for row in rows])
        total = sum(float(r[12]) for r in rows)
        writer.writerow(BILL_SUMMARY)
        writer.writerow([f"`{len(rows)}", f"`{total:.2f}", "`0.00", "`0.00", "`0.00000", f"`{total:.2f}", "`0.00"])
        return out.getvalue()

    def parse_bill_date(self, text: str, fmt: str = "%Y-%m-%d") -> date:
        try:
            day = datetime.strptime(text, fmt).date()
        except ValueError:
            raise Rejection(400, "PARAM_ERROR", f"bill_date({text[:16]}) 格式错误", _BILL_DATE) from None
        if day > datetime.now(CST).date():
            raise Rejection(400, "PARAM_ERROR", "账单日期不能晚于今天", _BILL_DATE)
        if day < datetime.now(CST).date() - timedelta(days=BILL_DAYS):  # the service keeps three months of bills
            raise Rejection(400, "NO_STATEMENT_EXIST", "账单文件不存在")
        return day

    def tradebill(self, call: Call) -> Reply:
        require_query(call, "bill_date")
        day = self.parse_bill_date(call.query["bill_date"])
        bill_type = call.query.get("bill_type", "ALL")
        if bill_type not in ("ALL", "SUCCESS", "REFUND"):
            raise Rejection(400, "PARAM_ERROR", "bill_type 取值 ALL|SUCCESS|REFUND", {"field": "bill_type"})
        tar_type = call.query.get("tar_type")
        if tar_type not in (None, "GZIP"):
            raise Rejection(400, "PARAM_ERROR", "tar_type 仅支持 GZIP", {"field": "tar_type", "location": "query"})
        content = self.bill_csv(day).encode("utf-8")
        digest = hashlib.sha1(content).hexdigest()  # the real service: the digest of the original (unzipped) bill
        kind = "text/plain; charset=utf-8"
        if tar_type == "GZIP":
            content, kind = gzip.compress(content, mtime=0), "application/x-gzip"
        token = secrets.token_urlsafe(24)
        self.bills[token] = (content, kind)
        while len(self.bills) > _KEEP:
            self.bills.popitem(last=False)
        return json_reply({
            "hash_type": "SHA1", "hash_value": digest,
            "download_url": f"{self.sb.base_uri}v3/billdownload/file?token={token}",
        })

    def billdownload(self, call: Call) -> Reply:
        require_query(call, "token")
        found = self.bills.get(call.query["token"])
        if found is None:
            reply = Rejection(400, "PARAM_ERROR", "token 无效或已过期", {"field": "token", "location": "query"}).reply()
        else:
            reply = Reply(200, found[0], found[1])
        reply.signed = False
        return reply

    def upload(self, call: Call, extensions: set[str], limit: int) -> Reply:
        parts = {h.get("name"): (h, c) for h, c in multipart_parts(call.headers.get("Content-Type", ""), call.body)}
        if "meta" not in parts or "file" not in parts:
            raise Rejection(400, "PARAM_ERROR", "multipart/form-data 需要 meta 与 file 两部分")
        try:
            meta = json.loads(parts["meta"][1])
        except ValueError:
            raise Rejection(400, "PARAM_ERROR", "meta 不是合法的 JSON", {"field": "meta"}) from None
        require(meta, "filename", "sha256")
        content = parts["file"][1]
        if meta["filename"].rsplit(".", 1)[-1].lower() not in extensions:
            allowed = ", ".join(sorted(extensions))
            raise Rejection(400, "PARAM_ERROR", f"文件格式仅支持 {allowed}", {"field": "filename"})
        if len(content) > limit:
            raise Rejection(400, "PARAM_ERROR", f"文件大小不能超过 {limit // 1024 // 1024}M", {"field": "file"})
        if str(meta["sha256"]).lower() != hashlib.sha256(content).hexdigest():
            raise Rejection(400, "PARAM_ERROR", "meta 中的 sha256 与上传文件的摘要不一致", {"field": "sha256"})
        media_id = secrets.token_urlsafe(48)
        self.media[media_id] = content
        while len(self.media) > _KEEP:
            self.media.popitem(last=False)
        return json_reply({"media_id": media_id})
