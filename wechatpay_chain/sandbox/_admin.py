"""The sandbox's admin surface: plain JSON over HTTP under `/_sandbox/`, for test code in any language.

    GET    /_sandbox/requests                   the request log: [{method, path, status, request_id, time}]
    DELETE /_sandbox/requests                   empty it
    GET    /_sandbox/notifications              what `pay` sent, failed to send or skipped
    POST   /_sandbox/orders/{out_trade_no}/pay  as `Sandbox.pay`; body none, {}, {"notify": false} or {"probe": true}
    GET    /_sandbox/faults                     the faults still waiting
    POST   /_sandbox/faults                     as `Sandbox.inject`: {"fault": "status", "code": 500, "times": 1}
    DELETE /_sandbox/faults                     as `Sandbox.clear_faults`

and, for a browser, the dashboard at `/_sandbox/` and the cashier pages (`_cashier`).

Nothing here is signed or asks for a signature: it is the test's side of the sandbox, not WeChat Pay's. The
prefix is told apart on the raw request path before any API routing, so an API path (`/v3/...`, `/pay/...`)
never reaches these handlers and `/_sandbox/...` never reaches an API route. Admin requests are not in the
request log (it shows what a client under test sent) and consume no injected fault. A browser request from
another origin (`Origin` or `Sec-Fetch-Site` says so) that would change something is refused with 403: test
code sends neither header, and a page on another site cannot pay an order or inject a fault.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Pattern, Tuple
from urllib.parse import unquote

from aiohttp import web

from wechatpay_chain.sandbox._cashier import Cashier, Settle, cross_site, route_pattern
from wechatpay_chain.sandbox._faults import KINDS, Fault
from wechatpay_chain.sandbox._notify import FAILED
from wechatpay_chain.sandbox._protocol import request_id

if TYPE_CHECKING:  # pragma: no cover
    from wechatpay_chain.sandbox._server import Sandbox

__all__ = ["Admin", "PREFIX", "is_admin_path", "Settle"]

PREFIX = "/_sandbox"
Answer = Tuple[int, Any]
Handler = Callable[[web.Request, Dict[str, str]], Awaitable[Answer]]
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def is_admin_path(raw_path: str) -> bool:
    """True for `/_sandbox` and anything under `/_sandbox/` (the raw path, before any decoding)."""
    return raw_path == PREFIX or raw_path.startswith(PREFIX + "/")


class AdminError(Exception):
    def __init__(self, status: int, message: str, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _json_object(request: web.Request, empty_ok: bool = False) -> Dict[str, Any]:
    raw = await request.read()
    if not raw.strip() and empty_ok:
        return {}
    try:
        doc = json.loads(raw, parse_constant=_refuse_constant)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError too
        raise AdminError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise AdminError(400, f"the body must be a JSON object, not {type(doc).__name__}")
    return doc


def _fault_json(fault: Fault) -> Dict[str, Any]:
    return {"fault": fault.kind, "times": fault.times, "path": fault.path, **fault.params}


class Admin:
    """Routes and handlers of `/_sandbox/...`; every handler runs on the sandbox's event loop."""

    def __init__(self, sandbox: Sandbox, settle: Settle) -> None:
        self.sb, self.settle = sandbox, settle
        table: List[Tuple[str, Dict[str, Handler]]] = [
            ("/requests", {"GET": self.requests, "DELETE": self.clear_requests}),
            ("/notifications", {"GET": self.notifications}),
            ("/orders/{out_trade_no}/pay", {"POST": self.pay}),
            ("/faults", {"GET": self.faults, "POST": self.inject, "DELETE": self.clear_faults}),
        ]
        self.routes: List[Tuple[Pattern[str], Dict[str, Handler]]] = [
            (route_pattern(PREFIX, path), methods) for path, methods in table
        ]
        self.pages = Cashier(sandbox, settle, PREFIX)

    async def handle(self, request: web.Request, raw_path: str) -> web.StreamResponse:
        """Answer one admin request: JSON, unsigned, with a Request-ID like every sandbox answer (or a page)."""
        headers = {"Request-ID": request_id(), "Cache-Control": "no-store"}
        page = await self.pages.handle(request, raw_path)
        if page is not None:
            page.headers.setdefault("Request-ID", headers["Request-ID"])
            return page
        try:
            if request.method not in ("GET", "HEAD") and cross_site(request):
                raise AdminError(403, "refused: a browser request from another origin")
            handler, params = self._match(request.method, raw_path)
            status, doc = await handler(request, params)
        except AdminError as exc:
            status, doc = exc.status, {"error": exc.message}
            headers.update(exc.headers)
        body = _JSON.encode(doc).encode("utf-8")
        return web.Response(status=status, body=body, headers=headers, content_type="application/json",
                            charset="utf-8")

    def _match(self, method: str, raw_path: str) -> Tuple[Handler, Dict[str, str]]:
        for pattern, methods in self.routes:
            m = pattern.match(raw_path)
            if m is None:
                continue
            if method not in methods:
                allowed = ", ".join(methods)
                raise AdminError(405, f"{method} is not allowed here; use {allowed}", {"Allow": allowed})
            return methods[method], {k: unquote(v) for k, v in m.groupdict().items()}
        raise AdminError(404, f"no admin resource {raw_path[:200]!r}; see {PREFIX}/ (dashboard), {PREFIX}/requests, "
                              f"{PREFIX}/faults, {PREFIX}/notifications, {PREFIX}/orders/{{out_trade_no}}/pay")

    # -- handlers -----------------------------------------------------------------------------------
    async def requests(self, request: web.Request, params: Dict[str, str]) -> Answer:
        return 200, [record.as_json() for record in list(self.sb.requests)]

    async def clear_requests(self, request: web.Request, params: Dict[str, str]) -> Answer:
        cleared = len(self.sb.requests)
        self.sb.requests.clear()
        return 200, {"cleared": cleared}

    async def notifications(self, request: web.Request, params: Dict[str, str]) -> Answer:
        return 200, [delivery.as_json() for delivery in list(self.sb.notifications)]

    async def pay(self, request: web.Request, params: Dict[str, str]) -> Answer:
        doc = await _json_object(request, empty_ok=True)
        notify, probe = doc.pop("notify", True), doc.pop("probe", False)
        for name, flag in (("notify", notify), ("probe", probe)):
            if not isinstance(flag, bool):
                raise AdminError(400, f'"{name}" must be true or false, not {flag!r}')
        if doc:
            raise AdminError(400, f"unknown field(s) {', '.join(sorted(doc))}; the only ones are \"notify\", \"probe\"")
        no = params["out_trade_no"]
        try:
            order, delivery = await self.settle(no, notify, probe)
        except KeyError:
            raise AdminError(404, f"no order {no!r} in the sandbox") from None
        except ValueError as exc:  # not NOTPAY: paid, refunded or closed
            raise AdminError(409, str(exc)) from None
        answer = {"out_trade_no": order.out_trade_no, "trade_state": order.state,
                  "transaction_id": order.transaction_id,
                  "notification": None if delivery is None else delivery.as_json()}
        if delivery is not None and delivery.outcome == FAILED:  # paid all the same, as with Sandbox.pay
            answer["error"] = f"notify_url {delivery.url} did not answer: {delivery.error}"
            return 502, answer
        return 200, answer

    async def faults(self, request: web.Request, params: Dict[str, str]) -> Answer:
        return 200, [_fault_json(fault) for fault in self.sb.faults.snapshot()]

    async def inject(self, request: web.Request, params: Dict[str, str]) -> Answer:
        doc = await _json_object(request)
        kind = doc.pop("fault", None)
        if not isinstance(kind, str):
            raise AdminError(400, f'"fault" must name a fault, one of {", ".join(KINDS)}; got {kind!r}')
        times = doc.pop("times", 1)
        if times is not None and (isinstance(times, bool) or not isinstance(times, int)):
            raise AdminError(400, f'"times" must be a positive integer, or null for "until cleared"; got {times!r}')
        path = doc.pop("path", None)
        if path is not None and not isinstance(path, str):
            raise AdminError(400, f'"path" must be a string or null; got {path!r}')
        try:
            fault = self.sb.inject(kind, times=times, path=path, **doc)
        except (ValueError, TypeError) as exc:
            raise AdminError(400, str(exc)) from None
        return 201, _fault_json(fault)

    async def clear_faults(self, request: web.Request, params: Dict[str, str]) -> Answer:
        return 200, {"cleared": self.sb.faults.clear()}
