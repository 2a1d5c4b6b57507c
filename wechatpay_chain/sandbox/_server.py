"""`Sandbox`: a local WeChat-Pay-compatible server on aiohttp.web, in a background thread or on your loop.

    with Sandbox() as sb:                       # thread-backed, free loopback port
        client = sb.client()
        client.v3.payrollCard.authentications.preOrderWithAuth.post(json={...})
        sb.inject('bad_signature')              # the next answer is forged
        sb.inject('probe')                      # the next answer carries WeChat Pay's WECHATPAY/SIGNTEST/ probe
        sb.pay('order-1')                       # signed, encrypted TRANSACTION.SUCCESS to a loopback notify_url
        sb.pay('order-2', probe=True)           # the same notification, as a signature probe to be refused

Other languages drive the same through the admin surface under `/_sandbox/` (see `_admin`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Deque, Dict, FrozenSet, Iterable, Optional, Sequence, Tuple
from urllib.parse import parse_qsl, quote

from aiohttp import web
from requests.structures import CaseInsensitiveDict

from wechatpay_chain.client._chain import Builder
from wechatpay_chain.crypto._rsa import RsaKey
from wechatpay_chain.sandbox._admin import Admin, is_admin_path
from wechatpay_chain.sandbox._apiv2 import V2Api, notification_xml
from wechatpay_chain.sandbox._atlas_api import AtlasApi
from wechatpay_chain.sandbox._cashier import origin_of
from wechatpay_chain.sandbox._endpoints import CST, Order, V3Api, rfc3339
from wechatpay_chain.sandbox._faults import (
    REWRITES,
    Fault,
    FaultBook,
    prepare_reply,
    probe_signature,
    rewrite,
    stream_broken,
)
from wechatpay_chain.sandbox._identity import Identity
from wechatpay_chain.sandbox._notify import FAILED, SKIPPED, Delivery, Notifier
from wechatpay_chain.sandbox._payroll import PayrollCard
from wechatpay_chain.sandbox._protocol import (
    Call,
    Endpoint,
    NonceBook,
    Rejection,
    Reply,
    Router,
    decrypt_fields,
    error_reply,
    notification_body,
    request_id,
    sign_headers,
    signing_body,
    verify_request,
)

__all__ = ["Sandbox", "Recorded"]

_log = logging.getLogger("wechatpay_chain.sandbox")
_access = logging.getLogger("wechatpay_chain.sandbox.access")  # INFO: one line per request served
_MODES = ("public_key", "certificate", "migration")


@dataclass
class Recorded:
    """One request as it arrived (`sb.requests`), the sensitive fields the sandbox decrypted from it, and its
    answer's `status` (None while it is being answered) and `request_id`; `at` is when it arrived (Unix time)."""

    method: str
    target: str
    headers: CaseInsensitiveDict[str] = field(repr=False)
    body: bytes = field(repr=False)
    decrypted: Dict[str, Any] = field(default_factory=dict, repr=False)
    status: Optional[int] = None
    request_id: str = ""
    at: float = field(default_factory=time.time)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def as_json(self) -> Dict[str, Any]:
        """What `GET /_sandbox/requests` shows: no headers, no query, no body."""
        return {"method": self.method, "path": self.path, "status": self.status, "request_id": self.request_id,
                "time": self.at}


class Sandbox:
    """A WeChat Pay APIv3/APIv2 look-alike with its own merchant and platform identities.

    `mode`: answers are signed with the platform public key (`PUB_KEY_ID_...`, default) or the platform
    certificate; `certificates=False` makes `v3/certificates` answer 404 like a public-key-only merchant.
    `keys`: up to three private keys (merchant, platform, certificate) to use instead of the shared
    per-process ones; `fresh_keys=True` generates new ones. `clock` feeds the time window checks.
    `sb.requests` keeps the last `log_size` requests; `sb.inject(...)` breaks answers (see faults.KINDS).
    `notify_hosts`: hosts besides loopback that `pay` may send notifications to; a notification for any
    other host is skipped with a WARNING on the 'wechatpay_chain.sandbox' logger. `sb.notifications` keeps
    the last `log_size` deliveries (sent, failed or skipped).
    Every other operation of the endpoint atlas answers too (`sb.atlas`, loaded on the first such request): its
    request checked against the operation's schema, its answer built from the answer schema (see `_atlas_api`).
    `mode='migration'` plays the switch to the public key: an answer is signed with the public key when its
    request named the `PUB_KEY_ID_` in `Wechatpay-Serial`, else with the platform certificate; a notification is
    signed with the public key at the share `public_key_share` (0.0-1.0) of the service's 7-day ramp.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        mchid: Optional[str] = None,
        mode: str = "public_key",
        keys: Optional[Sequence[Any]] = None,
        fresh_keys: bool = False,
        certificates: bool = True,
        clock: Callable[[], float] = time.time,
        log_size: int = 200,
        notify_timeout: float = 10.0,
        notify_hosts: Iterable[str] = (),
        public_key_share: float = 0.0,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}, not {mode!r}")
        if mode != "public_key" and not certificates:
            raise ValueError(f"mode={mode!r} signs with the platform certificate; certificates=False contradicts")
        if not (isinstance(public_key_share, (int, float)) and 0.0 <= public_key_share <= 1.0):
            raise ValueError("public_key_share must be a share from 0.0 to 1.0")
        #: mode 'migration': the share of notifications signed with the public key (the rest: the certificate)
        self.public_key_share = float(public_key_share)
        self.identity = Identity.create(mchid, keys, fresh_keys)
        self.host, self.port = host, port
        self.mode, self.certificates, self.clock = mode, certificates, clock
        self.notifier = Notifier(notify_hosts, notify_timeout, log_size)
        self.notifications: Deque[Delivery] = self.notifier.log
        self.requests: Deque[Recorded] = deque(maxlen=log_size)
        self.faults = FaultBook()
        self.v3 = V3Api(self)
        self.v2 = V2Api(self, self.v3)
        self.payroll = PayrollCard(self)
        self.router = Router(self.v3.endpoints() + self.payroll.endpoints() + self.v2.endpoints())
        self.atlas = AtlasApi(self)  # every other operation of the endpoint atlas, loaded on the first such path
        self.admin = Admin(self, self._settle)
        self._nonces = NonceBook()
        self._runner: Optional[web.AppRunner] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._closing: Optional[asyncio.Event] = None

    # -- identity -----------------------------------------------------------------------------------
    @property
    def base_uri(self) -> str:
        if self._runner is None:
            raise RuntimeError("the sandbox is not running: use `with Sandbox() as sb:` or start()")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def dashboard_url(self) -> str:
        """The dashboard for a browser: orders (each with its cashier), notifications, refunds, the request log."""
        return f"{self.base_uri}_sandbox/"

    def cashier_url(self, out_trade_no: str, host: Optional[str] = None) -> str:
        """Where the payer pays an order: `http://HOST/_sandbox/cashier/{out_trade_no}`, HOST as the asker reached
        the sandbox (its `Host` header: a phone on the network gets an address it can open), else `base_uri`."""
        return f"{origin_of(host, self.base_uri)}/_sandbox/cashier/{quote(out_trade_no, safe='')}"

    @property
    def mchid(self) -> str:
        return self.identity.mchid

    @property
    def notify_hosts(self) -> FrozenSet[str]:
        """The hosts besides loopback that notifications may go to (normalised: lower case, bare IPs)."""
        return self.notifier.hosts

    @property
    def notify_timeout(self) -> float:
        return self.notifier.timeout

    @notify_timeout.setter
    def notify_timeout(self, seconds: float) -> None:
        self.notifier.timeout = seconds

    @property
    def merchant_serial(self) -> str:
        return self.identity.merchant_serial

    @property
    def merchant_private_key_pem(self) -> str:
        return self.identity.merchant_key.export_pem()

    @property
    def platform_public_key_id(self) -> str:
        return self.identity.platform_public_key_id

    @property
    def platform_public_key_pem(self) -> str:
        return self.identity.platform_key.public_key().export_pem()

    @property
    def platform_certificate_serial(self) -> str:
        return self.identity.certificate.serial_no

    @property
    def platform_certificate_pem(self) -> str:
        return self.identity.certificate.pem

    @property
    def platform_serial(self) -> str:
        """The serial answers are signed with: the public-key id, or the certificate serial in 'certificate' mode."""
        return self._signing_key()[1]

    @property
    def apiv3_key(self) -> str:
        return self.identity.apiv3_key

    @property
    def secret(self) -> str:
        return self.identity.secret

    def _signing_key(self, named: Optional[str] = None) -> Tuple[RsaKey, str]:
        """The key an answer is signed with; in 'migration' mode the public key only for a request that `named`
        its id in Wechatpay-Serial (as the service does while a merchant switches)."""
        ident = self.identity
        if self.mode == "certificate" or (self.mode == "migration" and named != ident.platform_public_key_id):
            return ident.certificate_key, ident.certificate.serial_no
        return ident.platform_key, ident.platform_public_key_id

    def _notification_key(self) -> Tuple[RsaKey, str]:
        """In 'migration' mode the public key at `public_key_share` of the notifications, else the answers' key."""
        if self.mode == "migration" and random.random() < self.public_key_share:
            return self._signing_key(self.identity.platform_public_key_id)
        return self._signing_key()

    def client_config(self, **overrides: Any) -> Dict[str, Any]:
        """The `Builder.factory` config for this sandbox; an override of None removes that key."""
        ident = self.identity
        config: Dict[str, Any] = {
            "mchid": ident.mchid,
            "serial": ident.merchant_serial,
            "privateKey": ident.merchant_key,
            "certs": {
                ident.platform_public_key_id: ident.platform_key.public_key(),
                ident.certificate.serial_no: ident.certificate,
            },
            "base_uri": self.base_uri,
            "secret": ident.secret,
            "apiv3_key": ident.apiv3_key,
        }
        config.update(overrides)
        return {k: v for k, v in config.items() if v is not None}

    def client(self, **overrides: Any) -> Any:
        """A ready client (`Builder.factory(self.client_config(**overrides))`); close it with get_driver().close()."""
        return Builder.factory(self.client_config(**overrides))

    # -- faults -------------------------------------------------------------------------------------
    def inject(self, fault: str, *, times: Optional[int] = 1, path: Optional[str] = None, **params: Any) -> Fault:
        """Break the next `times` answers (None: until clear_faults) whose path starts with / matches `path`."""
        return self.faults.add(fault, times, path, params)

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start_async(self) -> Sandbox:
        """Listen on the running loop; returns once the port is bound."""
        if self._runner is not None:
            raise RuntimeError("the sandbox is already running")
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = int(runner.addresses[0][1])
        self._runner, self._loop, self._closing = runner, asyncio.get_running_loop(), asyncio.Event()
        return self

    async def stop_async(self) -> None:
        if self._runner is None:
            return
        assert self._closing is not None
        self._closing.set()
        await self.notifier.close()  # an in-flight notification fails now instead of holding up the shutdown
        await self._runner.cleanup()
        await self.notifier.close()
        self._runner = None

    async def down_async(self) -> None:
        """Stop listening, keeping every state: new connections are refused, as by a primary that cannot be
        reached (`backup_base_uri`); `up_async` listens again on the same port."""
        if self._runner is None:
            raise RuntimeError("the sandbox is not running")
        for site in list(self._runner.sites):
            await site.stop()

    async def up_async(self) -> None:
        """Listen again on the same port after `down_async`."""
        if self._runner is None:
            raise RuntimeError("the sandbox is not running")
        if not self._runner.sites:
            await web.TCPSite(self._runner, self.host, self.port).start()

    def down(self) -> None:
        """`down_async` from another thread (the sandbox's own, after `start()` or `with Sandbox()`)."""
        self._on_loop(self.down_async())

    def up(self) -> None:
        self._on_loop(self.up_async())

    def _on_loop(self, work: Any) -> Any:
        """Run a coroutine on the sandbox's loop from another thread and wait for it."""
        loop = self._loop
        running = None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            pass
        if loop is None or running is loop:
            work.close()
            raise RuntimeError("the sandbox is not running" if loop is None else "on the sandbox's loop: await the "
                               "*_async method instead")
        return asyncio.run_coroutine_threadsafe(work, loop).result()

    def start(self) -> Sandbox:
        """Serve from a background thread with its own event loop; returns once listening."""
        if self._runner is not None or self._thread is not None:
            raise RuntimeError("the sandbox is already running")
        loop = asyncio.new_event_loop()
        started: Future[None] = Future()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # reported to start()
                started.set_exception(exc)
            else:
                started.set_result(None)
                loop.run_forever()
                loop.run_until_complete(self.stop_async())
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=serve, name=f"wechatpay-sandbox-{id(self):x}", daemon=True)
        self._thread.start()
        try:
            started.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            raise
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (no-op when not running)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Sandbox:
        return await self.start_async()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_async()

    def __repr__(self) -> str:
        where = self.base_uri if self._runner is not None else "stopped"
        return f"<Sandbox {where} mchid={self.mchid} mode={self.mode}>"

    # -- serving ------------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = request.raw_path
        path = target.split("?", 1)[0]
        if is_admin_path(path):  # told apart on the raw path, before any API routing; never logged in sb.requests
            response = await self.admin.handle(request, path)
            _log_served(request.method, path, response.status, response.headers.get("Request-ID", "-"))
            return response
        raw = await request.read()
        record = Recorded(request.method, target, CaseInsensitiveDict(request.headers.items()), raw)
        self.requests.append(record)
        fault = self.faults.take(path)
        if fault is not None and fault.kind == "delay":
            await self._sleep(float(fault.params["seconds"]))
        reply = prepare_reply(fault) if fault is not None else None
        if reply is None:
            reply = self._dispatch(record)
        streamed = await self._respond(request, record, reply, fault)
        _log_served(record.method, path, reply.status, record.request_id)
        return streamed

    async def _sleep(self, seconds: float) -> None:
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def _dispatch(self, record: Recorded) -> Reply:
        method, target, headers, raw = record.method, record.target, record.headers, record.body
        path, _, qs = target.partition("?")
        try:
            endpoint, params = self._route(method, path)
            doc: Any = None
            if endpoint.kind == "v3":
                ctype = headers.get("Content-Type", "")
                signed_body = signing_body(ctype, raw)
                verify_request(self.identity, method, target, headers.get("Authorization"), signed_body,
                               self.clock(), self._nonces)
                if raw and not ctype.lower().startswith("multipart/"):
                    try:
                        doc = json.loads(raw)
                    except ValueError:
                        raise Rejection(400, "PARAM_ERROR", "请求体不是合法的 JSON", {"location": "body"}) from None
                if endpoint.sensitive:
                    plain = decrypt_fields(self.identity, doc, endpoint.sensitive, headers.get("Wechatpay-Serial"))
                    if plain is not doc:
                        record.decrypted = {f: plain.get(f) for f in endpoint.sensitive if f in plain}
                    doc = plain
            call = Call(method, path, target, params, dict(parse_qsl(qs, keep_blank_values=True)), headers, raw, doc)
            return endpoint.handler(call)
        except Rejection as rejection:
            return rejection.reply()
        except Exception:
            _log.exception("sandbox endpoint failed: %s %s", method, path)
            return error_reply(500, "SYSTEM_ERROR", "系统错误")

    def _route(self, method: str, path: str) -> Tuple[Endpoint, Dict[str, str]]:
        """A stateful endpoint first; else the atlas operation at the path; else the router's 404/405."""
        try:
            return self.router.match(method, path)
        except Rejection:
            found = self.atlas.match(method, path)
            if found is None:
                raise
            return found

    async def _respond(
        self, request: web.Request, record: Recorded, reply: Reply, fault: Optional[Fault]
    ) -> web.StreamResponse:
        headers: Dict[str, str] = {"Request-ID": request_id()}
        record.status, record.request_id = reply.status, headers["Request-ID"]
        if reply.content_type:
            headers["Content-Type"] = reply.content_type
        headers.update(reply.headers)
        body = reply.body
        key, serial = self._signing_key(record.headers.get("Wechatpay-Serial"))
        if reply.signed:  # Wechatpay-Nonce/-Serial/-Signature/-Signature-Type/-Timestamp
            signed = body if reply.sign_over is None else reply.sign_over
            headers.update(sign_headers(key, serial, signed, int(self.clock())))
        if fault is not None and fault.kind in REWRITES:
            def resign(data: bytes, ts: int, nonce: str) -> str:
                return sign_headers(key, serial, data, ts, nonce)["Wechatpay-Signature"]

            body = rewrite(fault, headers, body, resign)
        if fault is not None and fault.kind in ("drop", "truncate"):
            return await stream_broken(request, fault, reply.status, headers, body)  # type: ignore[no-any-return]
        return web.Response(status=reply.status, body=body, headers=headers)

    # -- notifications ------------------------------------------------------------------------------
    def pay(self, out_trade_no: str, *, notify: bool = True, probe: bool = False) -> Optional[int]:
        """Mark an order paid and POST the signed notification to its notify_url; the receiver's HTTP status.

        `probe=True` sends WeChat Pay's signature probe instead: the notification with its `Wechatpay-Signature`
        replaced by `WECHATPAY/SIGNTEST/` + junk, which a correct receiver refuses (a 4xx/5xx answer).
        None when `notify` is False, the order has no notify_url, or the notification was skipped because
        its host is neither loopback nor in `notify_hosts` (a WARNING is logged; see `sb.notifications`).
        KeyError for an unknown order, ValueError for one that is not NOTPAY. An unreachable receiver raises
        ConnectionError (the order stays paid, as it would at WeChat Pay).
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("the sandbox is not running")
        if self._thread is None:
            raise RuntimeError("this sandbox runs on your event loop: use `await sb.pay_async(...)`")
        return asyncio.run_coroutine_threadsafe(self._pay(out_trade_no, notify, probe), loop).result()

    async def pay_async(self, out_trade_no: str, *, notify: bool = True, probe: bool = False) -> Optional[int]:
        """`pay` for async code (any loop: the sandbox's own, or another one while it runs in its thread)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the sandbox is not running")
        if loop is asyncio.get_running_loop():
            return await self._pay(out_trade_no, notify, probe)
        paid = self._pay(out_trade_no, notify, probe)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(paid, loop))

    def notification(self, out_trade_no: str, *, probe: bool = False) -> Tuple[Dict[str, str], bytes]:
        """The (headers, body) of the notification for a paid order: APIv3 JSON, or APIv2 XML for v2 orders.

        `probe=True` (APIv3): WeChat Pay's signature probe, `Wechatpay-Signature: WECHATPAY/SIGNTEST/...`."""
        order = self.v3.order(out_trade_no)
        if order.api == "v2":
            return {"Content-Type": "text/xml"}, notification_xml(order, self.mchid, self.secret).encode("utf-8")
        body = notification_body(order.transaction(), self.apiv3_key, rfc3339(datetime.now(CST)))
        key, serial = self._notification_key()
        headers = {"Content-Type": "application/json", "User-Agent": "Mozilla/4.0", "Request-ID": request_id()}
        headers.update(sign_headers(key, serial, body, int(self.clock())))  # with Wechatpay-Signature-Type
        if probe:
            headers["Wechatpay-Signature"] = probe_signature()
        return headers, body

    async def _settle(
        self, out_trade_no: str, notify: bool, probe: bool = False
    ) -> Tuple[Order, Optional[Delivery]]:
        """Mark paid, then send (or skip) the notification: what `pay` and `POST /_sandbox/orders/{no}/pay` do."""
        order = self.v3.mark_paid(out_trade_no, datetime.now(CST))
        if not (notify and order.notify_url):
            return order, None
        headers, body = self.notification(out_trade_no, probe=probe)
        delivery = await self.notifier.deliver(out_trade_no, order.notify_url, headers, body)
        delivery.resource = order.transaction() if order.api == "v3" else {"xml": body.decode("utf-8")}
        return order, delivery

    async def _pay(self, out_trade_no: str, notify: bool, probe: bool = False) -> Optional[int]:
        _, delivery = await self._settle(out_trade_no, notify, probe)
        if delivery is None or delivery.outcome == SKIPPED:
            return None
        if delivery.outcome == FAILED:
            raise ConnectionError(f"notify_url {delivery.url} did not answer: {delivery.error}")
        return delivery.status


def _log_served(method: str, path: str, status: int, rid: str) -> None:
    """`POST /v3/pay/transactions/native 200 <Request-ID>` at INFO: never a query, header or body."""
    if _access.isEnabledFor(logging.INFO):
        shown = path[:256].encode("ascii", "backslashreplace").decode("ascii")
        _access.info("%s %s %s %s", method, shown, status, rid)
