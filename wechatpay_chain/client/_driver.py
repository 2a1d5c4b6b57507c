"""The driver (PHP's ClientDecorator): routes v2/v3, owns the transports, and runs flows sync or async."""

from __future__ import annotations

import threading
import time
from contextlib import closing
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Mapping, Optional, Tuple, TypeVar, Union

if TYPE_CHECKING:  # asyncio and the thread pool are imported on the first async call only
    from concurrent.futures import Executor

    from wechatpay_chain.client._crypto_pool import CryptoPool

from wechatpay_chain.client._config import Config, user_agent
from wechatpay_chain.errors import InvalidArgumentError, TransportError
from wechatpay_chain.models import Flow, FlowOf, KeyUsage, Offload, Request, Response, Sleep
from wechatpay_chain.protocol._v3 import split_options, v3_flow

__all__ = ["Driver", "run", "run_async", "AsyncSend", "SyncSend"]

_T = TypeVar("_T")
SyncSend = Callable[[Request], Response]
AsyncSend = Callable[[Request], Awaitable[Response]]


def _step(flow: FlowOf[Any], reply: Any, error: Optional[BaseException]) -> Tuple[bool, Any]:
    """Advance the flow one step: (done, next request, sleep or offload | final response); `error` (a transport
    error, or what an offload raised) is raised into the flow where it yielded."""
    if isinstance(error, _Raised):
        error = error.__cause__
    try:
        return False, (flow.throw(error) if error is not None else flow.send(reply))
    except StopIteration as stop:
        return True, stop.value


class _Raised(Exception):
    """Carries what an `Offload` raised (as `__cause__`) back into the flow, apart from the transport's errors."""


def _offload(step: Offload) -> Any:
    try:
        return step.fn(step.arg)
    except Exception as exc:
        raise _Raised() from exc


def run(flow: FlowOf[_T], send: SyncSend) -> _T:
    """Drive a sans-I/O flow with a blocking transport.

    Both drivers close the flow when they leave it: after an interruption (KeyboardInterrupt, a cancelled
    task) its own cleanup (an AutoKeyring's in-flight download mark, say) runs then, not whenever the suspended
    generator is collected (never, if a kept exception holds it in a cycle)."""
    with closing(flow):
        done, step = _step(flow, None, None)
        while not done:
            reply: Any = None
            error: Optional[BaseException] = None
            try:
                if isinstance(step, Offload):
                    reply = _offload(step)
                elif isinstance(step, Sleep):
                    time.sleep(step.seconds)
                else:
                    reply = send(step)
            except (TransportError, _Raised) as exc:
                error = exc
            done, step = _step(flow, reply, error)
        return step  # type: ignore[no-any-return]


async def run_async(
    flow: FlowOf[_T], send: AsyncSend, executor: Optional[Union[CryptoPool, Executor]] = None
) -> _T:
    """Drive the same flow with an asyncio transport; with a pool (the driver's `CryptoPool`, or any
    concurrent.futures Executor), `Offload` work (the RSA sign) runs there, off the event loop."""
    import asyncio  # here, not at the top: a sync-only user never imports asyncio

    from wechatpay_chain.client._crypto_pool import CryptoPool  # imports asyncio too

    loop = asyncio.get_running_loop()
    pool, other = (executor, None) if isinstance(executor, CryptoPool) else (None, executor)
    with closing(flow):  # as in `run`
        done, step = _step(flow, None, None)
        while not done:
            reply: Any = None
            error: Optional[BaseException] = None
            try:
                if isinstance(step, Offload):
                    if executor is None:
                        reply = _offload(step)
                    elif pool is not None:
                        reply = await pool.submit(loop, _offload, step)
                    else:
                        reply = await loop.run_in_executor(other, _offload, step)
                elif isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                else:
                    reply = await send(step)
            except (TransportError, _Raised) as exc:
                error = exc
            done, step = _step(flow, reply, error)
        return step  # type: ignore[no-any-return]


def _handler_sends(handler: Any) -> tuple[SyncSend, AsyncSend]:
    """A user `handler` (PHP's Guzzle handler): a `SyncTransport` or `AsyncTransport` (an object whose `send`
    answers, or is a coroutine), an object with send/send_async, or one callable for both."""
    sync = getattr(handler, "send", None) or handler
    asend = getattr(handler, "send_async", None)

    def sync_send(request: Request) -> Response:
        result = sync(request)
        if hasattr(result, "__await__"):
            getattr(result, "close", lambda: None)()
            raise InvalidArgumentError(
                "this `handler` answers asynchronously (its send is a coroutine): call the *_async verbs"
            )
        return result  # type: ignore[no-any-return]

    async def async_send(request: Request) -> Response:
        result = (asend or sync)(request)
        return await result if hasattr(result, "__await__") else result  # type: ignore[no-any-return]

    return sync_send, async_send


def _requests_transport(options: Mapping[str, Any]) -> Any:
    from wechatpay_chain.transports._requests import RequestsTransport  # requests loads on first use

    return RequestsTransport(options)


def _aiohttp_transport(options: Mapping[str, Any]) -> Any:
    from wechatpay_chain.transports._aiohttp import AiohttpTransport  # aiohttp loads on first use

    return AiohttpTransport(options)


class Driver:
    """Holds the validated config and lazily-created transports; `close()` / `close_async()` end them."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._sync: Any = None
        self._async: Any = None
        self._executor: Optional[CryptoPool] = None
        self._ua_sync = self._ua_async = ""
        #: verified answers by the key id that signed them; pass it to `parse_notification(key_usage=...)` too
        self.usage = KeyUsage()
        if config.handler is not None:
            self._send, self._send_async = _handler_sends(config.handler)
            self._ua_sync = self._ua_async = user_agent("handler")

    def __repr__(self) -> str:
        return f"<Driver mchid={self.config.mchid} base_uri={self.config.base_uri}>"

    @property
    def transport(self) -> Any:
        """The requests transport, created on first use."""
        return self._sync or self._make("_sync", "_ua_sync", _requests_transport)

    @property
    def async_transport(self) -> Any:
        """The aiohttp transport, created on the first async call."""
        return self._async or self._make("_async", "_ua_async", _aiohttp_transport)

    def _make(self, slot: str, ua_slot: str, factory: Callable[[Mapping[str, Any]], Any]) -> Any:
        """Create a transport once, however many threads ask at the same time."""
        with self._lock:
            made = getattr(self, slot)
            if made is None:
                made = factory(self.config.transport_options)
                setattr(self, ua_slot, user_agent(made.user_agent))
                setattr(self, slot, made)
        return made

    @property
    def executor(self) -> Optional[CryptoPool]:
        """Config `crypto_threads` > 0: the thread pool for the async path's RSA signing (it frees the GIL)."""
        if self._executor is None and self.config.crypto_threads:
            with self._lock:
                if self._executor is None:
                    from wechatpay_chain.client._crypto_pool import CryptoPool

                    self._executor = CryptoPool(self.config.crypto_threads, "wechatpay-crypto")
        return self._executor

    def flow(self, method: str, uri: str, options: Mapping[str, Any], ua: str) -> Flow:
        """The protocol flow for one call: `v2/...` goes to the XML client with the prefix removed."""
        if uri[:3].lower() == "v2/":
            from wechatpay_chain.protocol.v2 import v2_flow  # the XML parser loads on the first APIv2 call

            template = uri[3:]
            opts, variables = split_options(template, options)
            return v2_flow(self.config, method, template, opts, variables, ua)
        opts, variables = split_options(uri, options)
        return v3_flow(self.config, method, uri, opts, variables, ua)

    def run_flow(self, make: Callable[[str], FlowOf[_T]]) -> _T:
        """Run the flow `make(user_agent)` through the sync transport (or the `handler`)."""
        send = self._send if self.config.handler is not None else self.transport.send
        return run(make(self._ua_sync), send)

    async def run_flow_async(self, make: Callable[[str], FlowOf[_T]]) -> _T:
        """Run the flow `make(user_agent)` through the async transport (or the `handler`)."""
        send = self._send_async if self.config.handler is not None else self.async_transport.send
        return await run_async(make(self._ua_async), send, self.executor)

    def request(self, method: str, uri: str, options: Optional[Mapping[str, Any]] = None) -> Response:
        return self._count(self.run_flow(lambda ua: self.flow(method, uri, options or {}, ua)))

    async def request_async(self, method: str, uri: str, options: Optional[Mapping[str, Any]] = None) -> Response:
        return self._count(await self.run_flow_async(lambda ua: self.flow(method, uri, options or {}, ua)))

    def _count(self, response: Response) -> Response:
        if response.verified_by:
            self.usage.record(response.verified_by)
        return response

    def key_usage(self) -> Dict[str, int]:
        """{key id: how many verified answers (and notifications given `usage`) it signed}, since this client was
        built: during the public-key migration, the share signed by the `PUB_KEY_ID_...` key (see the README)."""
        return self.usage.snapshot()

    def close(self) -> None:
        """Close the pooled requests Session (the aiohttp sessions close with their loops or `close_async`)."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        if self._executor is not None:
            self._executor.close()
            self._executor = None

    async def close_async(self) -> None:
        """Close the aiohttp session of the running loop, and the requests Session."""
        if self._async is not None:
            await self._async.close()
        self.close()
