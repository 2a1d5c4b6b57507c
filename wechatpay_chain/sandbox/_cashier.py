"""The sandbox's pages for a browser under `/_sandbox/`: the dashboard, and a cashier where a developer plays the payer.

    GET  /_sandbox/                               the dashboard (orders, notifications, refunds, request log)
    GET  /_sandbox/state                          what the dashboard polls every second, newest first (JSON)
    GET  /_sandbox/assets/app.js, .../style.css   its script and style (same origin; no external asset)
    GET  /_sandbox/cashier/{out_trade_no}         the cashier: merchant, description, amount, Pay and Cancel
    GET  /_sandbox/cashier/{out_trade_no}/qr.svg  the QR code of the order's cashier URL (a Native `code_url`)
    POST /_sandbox/cashier/{out_trade_no}/pay     pay as the payer: SUCCESS, the signed notification, the outcome
    POST /_sandbox/cashier/{out_trade_no}/cancel  leave it NOTPAY; an H5 order returns to its `redirect_url`

A Native order's `code_url` is its cashier URL and an H5 order's `h5_url` opens it (see `Sandbox.cashier_url`).
The two form posts are refused (403) unless the browser says they come from this origin (`Origin`, else
`Referer`; `Sec-Fetch-Site` when sent): a page on another site cannot pay an order. Nothing here shows a key:
the pages and `state` carry orders, refunds, the notifications' decrypted transactions and the request log.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Pattern, Sequence, Tuple
from urllib.parse import quote, unquote, urlsplit

import segno
from aiohttp import web

from wechatpay_chain.sandbox._endpoints import CST, Order, rfc3339
from wechatpay_chain.sandbox._notify import FAILED, SENT, SKIPPED, Delivery
from wechatpay_chain.sandbox._pages import (
    CASHIER_CSP,
    DASHBOARD_CSP,
    SCRIPT,
    STYLE,
    amount_text,
    cashier_body,
    dashboard_html,
    document,
    notice_body,
)

if TYPE_CHECKING:  # pragma: no cover
    from wechatpay_chain.sandbox._server import Sandbox

__all__ = ["Cashier", "Settle", "origin_of", "route_pattern", "same_origin", "cross_site", "safe_redirect"]

Settle = Callable[[str, bool, bool], Awaitable[Tuple[Order, Optional[Delivery]]]]
Page = Callable[[web.Request, str], Awaitable[web.StreamResponse]]
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?\Z")
_KEEP_SHOWN = 200  # orders and refunds on the dashboard, newest first
_WHY = {
    "SUCCESS": "This order is already paid; it cannot be paid again.",
    "REFUND": "This order was paid and has been refunded; it cannot be paid again.",
    "CLOSED": "This order is closed (the merchant closed it); a closed order cannot be paid.",
}


def route_pattern(prefix: str, path: str) -> Pattern[str]:
    """`/cashier/{no}/pay` under `prefix` as a regex over the raw path: `{name}` is one segment."""
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(prefix + path)) + r"\Z")


def origin_of(host: Optional[str], fallback: str) -> str:
    """`http://HOST` from a `Host` header that is a plain host[:port]; else the origin of `fallback` (base_uri)."""
    if host and _HOST.match(host):
        return f"http://{host}"
    return fallback.rstrip("/")


def same_origin(request: web.Request) -> bool:
    """A form post from a page of this origin: `Origin` (else `Referer`) names it; `Sec-Fetch-Site` agrees."""
    own = f"http://{request.host}"
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site != "same-origin":
        return False
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin == own
    referer = request.headers.get("Referer", "")
    return referer == own or referer.startswith(own + "/")


def cross_site(request: web.Request) -> bool:
    """A browser request from another origin (test code sends neither header, and is never refused by this)."""
    origin, fetch_site = request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site")
    return (origin is not None and origin != f"http://{request.host}") or fetch_site in ("cross-site", "same-site")


def safe_redirect(value: Any) -> Optional[str]:
    """An H5 `redirect_url` worth following: an absolute http(s) URL without spaces or control characters."""
    if not isinstance(value, str) or not value or any(ord(c) <= 32 or ord(c) == 127 for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.netloc else None


@dataclass
class _Seen:
    """One order as the cashier shows it."""

    order: Order
    merchant: str
    amount: str
    path: str
    facts: List[Tuple[str, str]]


def _page(html: str, status: int = 200, csp: str = CASHIER_CSP) -> web.Response:
    return web.Response(status=status, text=html, content_type="text/html", charset="utf-8", headers=_headers(csp))


def _headers(csp: str) -> Dict[str, str]:
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}


def _refused() -> web.Response:
    return web.Response(status=403, text="refused: this form post does not come from a page of the sandbox (its "
                                         "Origin/Referer names another site, or neither is there)\n")


def _delivery_lines(delivery: Optional[Delivery]) -> Tuple[str, List[str]]:
    """(kind, lines) for the outcome of a payment's notification."""
    if delivery is None:
        return "ok", ["No notification: the order has no notify_url."]
    if delivery.outcome == SENT:
        answered = f"Notification sent to {delivery.url}: the receiver answered HTTP {delivery.status}."
        if delivery.status is not None and 200 <= delivery.status < 300:
            return "ok", [answered]
        return "warn", [answered, "Your handler did not accept it (WeChat Pay would send it again)."]
    if delivery.outcome == SKIPPED:
        return "warn", [f"Notification not sent: {delivery.host} is not a loopback host (start the sandbox with "
                        f"--notify-host {delivery.host}, or Sandbox(notify_hosts=[...]))."]
    return "warn", [f"Notification to {delivery.url} failed: {delivery.error or FAILED}."]


class Cashier:
    """Routes and handlers of the pages; every handler runs on the sandbox's event loop."""

    def __init__(self, sandbox: Sandbox, settle: Settle, prefix: str) -> None:
        self.sb, self.settle, self.prefix = sandbox, settle, prefix
        table: List[Tuple[str, Dict[str, Page]]] = [
            ("", {"GET": self.to_dashboard}),
            ("/", {"GET": self.dashboard}),
            ("/state", {"GET": self.state}),
            ("/assets/app.js", {"GET": self.asset}),
            ("/assets/style.css", {"GET": self.asset}),
            ("/cashier/{no}", {"GET": self.cashier}),
            ("/cashier/{no}/qr.svg", {"GET": self.qr}),
            ("/cashier/{no}/pay", {"POST": self.pay}),
            ("/cashier/{no}/cancel", {"POST": self.cancel}),
        ]
        self.routes = [(route_pattern(prefix, path), methods) for path, methods in table]

    async def handle(self, request: web.Request, raw_path: str) -> Optional[web.StreamResponse]:
        """The page at `raw_path`, or None when it is none of these (the JSON admin surface answers then)."""
        for pattern, methods in self.routes:
            m = pattern.match(raw_path)
            if m is None:
                continue
            handler = methods.get(request.method)
            if handler is None:
                allowed = ", ".join(methods)
                return web.Response(status=405, text=f"{request.method} is not allowed here; use {allowed}\n",
                                    headers={"Allow": allowed})
            return await handler(request, unquote(m.groupdict().get("no", "")))
        return None

    @property
    def merchant(self) -> str:
        return f"WeChat Pay sandbox merchant (mchid {self.sb.mchid})"

    # -- dashboard ----------------------------------------------------------------------------------
    async def to_dashboard(self, request: web.Request, no: str) -> web.StreamResponse:
        return web.Response(status=308, headers={"Location": self.prefix + "/"})

    async def dashboard(self, request: web.Request, no: str) -> web.StreamResponse:
        return _page(dashboard_html(self.merchant), csp=DASHBOARD_CSP)

    async def asset(self, request: web.Request, no: str) -> web.StreamResponse:
        script = request.path.endswith(".js")
        return web.Response(text=SCRIPT if script else STYLE, charset="utf-8",
                            content_type="text/javascript" if script else "text/css", headers=_headers(DASHBOARD_CSP))

    async def state(self, request: web.Request, no: str) -> web.StreamResponse:
        orders = list(self.sb.v3.orders.values())[-_KEEP_SHOWN:][::-1]
        refunds = list(self.sb.v3.refunds.values())[-_KEEP_SHOWN:][::-1]
        doc = {
            "merchant": {"mchid": self.sb.mchid, "name": self.merchant},
            "orders": [self._order_json(order, request.host) for order in orders],
            "refunds": [{"out_refund_no": r["out_refund_no"], "out_trade_no": r["out_trade_no"],
                         "refund": r["amount"]["refund"], "amount": amount_text(r["amount"]["refund"],
                                                                              r["amount"]["currency"]),
                         "status": r["status"], "created": r["create_time"]} for r in refunds],
            "notifications": [dict(d.as_json(), resource=d.resource) for d in reversed(self.sb.notifications)],
            "requests": [record.as_json() for record in reversed(self.sb.requests)],
        }
        return web.json_response(doc, headers=_headers(DASHBOARD_CSP))

    def _order_json(self, order: Order, host: Optional[str]) -> Dict[str, Any]:
        path = f"{self.prefix}/cashier/{quote(order.out_trade_no, safe='')}"
        native = order.trade_type == "NATIVE"
        return {"out_trade_no": order.out_trade_no, "description": order.description, "total": order.total,
                "amount": amount_text(order.total, order.currency), "state": order.state,
                "trade_type": order.trade_type, "api": order.api, "created": rfc3339(order.created),
                "transaction_id": order.transaction_id, "cashier": path,
                "code_url": self.sb.cashier_url(order.out_trade_no, host) if native else None,
                "qr": f"{path}/qr.svg" if native else None}

    async def qr(self, request: web.Request, no: str) -> web.StreamResponse:
        """The cashier URL as the browser reached the sandbox: a phone on the same network opens the same."""
        if no not in self.sb.v3.orders:
            return web.Response(status=404, text="no such order\n")
        out = io.BytesIO()
        segno.make(self.sb.cashier_url(no, request.host), error="m").save(out, kind="svg", scale=4, border=2,
                                                                          xmldecl=False, title="cashier")
        return web.Response(body=out.getvalue(), content_type="image/svg+xml", charset="utf-8",
                            headers=dict(_headers(CASHIER_CSP), **{"Cache-Control": "private, max-age=60"}))

    # -- the cashier --------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.sb.clock(), CST)

    def _seen(self, order: Order) -> _Seen:
        facts = [("out_trade_no", order.out_trade_no), ("trade type", order.trade_type), ("state", order.state),
                 ("created", rfc3339(order.created))]
        if order.time_expire is not None:
            facts.append(("time_expire", rfc3339(order.time_expire)))
        if order.transaction_id:
            facts.append(("transaction_id", order.transaction_id))
        path = f"{self.prefix}/cashier/{quote(order.out_trade_no, safe='')}"
        return _Seen(order, self.merchant, amount_text(order.total, order.currency), path, facts)

    def _why_not(self, order: Order) -> Optional[str]:
        if order.state in _WHY:
            return _WHY[order.state]
        if order.expired(self._now()):
            assert order.time_expire is not None
            return f"This order expired at {rfc3339(order.time_expire)}; an expired order cannot be paid."
        return None

    def _notice(self, seen: _Seen, kind: str, heading: str, lines: Sequence[str], status: int = 200,
                links: Sequence[Tuple[str, str]] = ()) -> web.Response:
        o = seen.order
        body = notice_body(seen.merchant, o.description, seen.amount, seen.facts, kind, heading, lines, links)
        return _page(document(f"{heading} \u00b7 {o.out_trade_no}", body), status)

    def _lookup(self, no: str) -> Optional[Order]:
        return self.sb.v3.orders.get(no)

    def _unknown(self, no: str) -> web.Response:
        body = notice_body(self.merchant, "", "", [("out_trade_no", no)], "error", "No such order",
                           [f"The sandbox has no order {no!r}."])
        return _page(document("No such order", body), 404)

    async def cashier(self, request: web.Request, no: str) -> web.StreamResponse:
        order = self._lookup(no)
        if order is None:
            return self._unknown(no)
        seen = self._seen(order)
        why = self._why_not(order)
        if why is not None:
            return self._notice(seen, "error", "This order cannot be paid", [why])
        redirect = safe_redirect(request.query.get("redirect_url")) if order.trade_type == "MWEB" else None
        body = cashier_body(seen.merchant, order.description, seen.amount, seen.facts, seen.path, redirect)
        return _page(document(f"Cashier \u00b7 {order.out_trade_no}", body))

    async def _posted(self, request: web.Request, no: str) -> Tuple[Optional[Order], Optional[str]]:
        """The order (None: unknown) and an H5 order's redirect_url from a form post of this origin."""
        form = await request.post()
        order = self._lookup(no)
        redirect = safe_redirect(form.get("redirect_url"))
        return order, (redirect if order is not None and order.trade_type == "MWEB" else None)

    async def pay(self, request: web.Request, no: str) -> web.StreamResponse:
        if not same_origin(request):
            return _refused()
        order, redirect = await self._posted(request, no)
        if order is None:
            return self._unknown(no)
        why = self._why_not(order)
        if why is not None:
            return self._notice(self._seen(order), "error", "This order cannot be paid", [why], 409)
        try:
            order, delivery = await self.settle(no, True, False)
        except (KeyError, ValueError) as exc:  # paid or closed meanwhile, in another tab or by the merchant
            return self._notice(self._seen(order), "error", "This order cannot be paid", [str(exc)], 409)
        kind, lines = _delivery_lines(delivery)
        links = [(redirect, "Back to the merchant")] if redirect else []
        paid = [f"The order is SUCCESS, transaction_id {order.transaction_id}."]
        return self._notice(self._seen(order), kind, "Payment succeeded", paid + lines, links=links)

    async def cancel(self, request: web.Request, no: str) -> web.StreamResponse:
        if not same_origin(request):
            return _refused()
        order, redirect = await self._posted(request, no)
        if order is None:
            return self._unknown(no)
        if redirect:  # H5: back to the merchant's page, as WeChat Pay does
            return web.Response(status=303, headers={"Location": redirect, "Cache-Control": "no-store"})
        seen = self._seen(order)
        lines = [f"Nothing was paid: the order is still {order.state}."]
        return self._notice(seen, "warn", "Payment cancelled", lines, links=[(seen.path, "Back to the cashier")])
