"""`client/driver.py`: `run` and `run_async` driving a tiny hand-written flow with a fake send, then the `Driver`'s
own duties (the `handler`, lazy transports, the crypto pool).

The flow here is not the v3 or v2 protocol (tests/test_flows.py steps those by hand): it only yields the three
kinds of step a driver must answer (`Offload`, `Sleep`, `Request`) and logs what it was sent, thrown, and
whether it was closed, so each duty of the driver is seen on its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Generator, List, Optional

import pytest

from tests.support import Recorder
from tests.test_core import TOKEN, make
from wechatpay_chain.client._config import build_config
from wechatpay_chain.client._crypto_pool import CryptoPool
from wechatpay_chain.client._driver import Driver, run, run_async
from wechatpay_chain.errors import InvalidArgumentError, TransportError
from wechatpay_chain.models import FlowOf, Offload, Request, Response, Sleep

#: the real one, for the fake transport's own suspension point (the `slept` fixture patches asyncio.sleep)
_yield_to_loop = asyncio.sleep
FIRST = Request("GET", "https://h.example/first", {})
AGAIN = Request("GET", "https://h.example/again", {})


def flow(log: List[Any], work: Callable[[Any], Any] = str.upper, pause: float = 1.5) -> FlowOf[str]:
    """Offload `work("abc")`, sleep `pause`, send FIRST; a TransportError at FIRST is retried once as AGAIN."""
    try:
        try:
            done = yield Offload(work, "abc")
        except ValueError as exc:
            done = f"offload raised {exc}"
        log.append(("offload", done))
        yield Sleep(pause)
        log.append("slept")
        try:
            response = yield FIRST
        except TransportError as exc:
            log.append(("thrown", exc.kind))
            response = yield AGAIN
        log.append(("sent", response.status_code))
        return f"{done}:{response.text}"
    finally:
        log.append("closed")


def ok(text: str = "body") -> Response:
    return Response.build(200, {}, text.encode())


@pytest.fixture()
def slept(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    """time.sleep and asyncio.sleep, recorded and returning at once."""
    seconds: List[float] = []

    async def asleep(s: float) -> None:
        seconds.append(s)

    monkeypatch.setattr(time, "sleep", seconds.append)
    monkeypatch.setattr(asyncio, "sleep", asleep)
    return seconds


class Send:
    """A fake transport for both drivers: answers from `replies` in order (an exception is raised)."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.requests: List[Request] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply  # type: ignore[no-any-return]

    async def send_async(self, request: Request) -> Response:
        await _yield_to_loop(0)  # a real suspension point, as a transport's
        return self(request)


def drive(mode: str, f: FlowOf[Any], send: Send, executor: Any = None) -> Any:
    if mode == "sync":
        return run(f, send)
    return asyncio.run(run_async(f, send.send_async, executor))


MODES = pytest.mark.parametrize("mode", ["sync", "async"])


# ---- the steps --------------------------------------------------------------------------------------


@MODES
def test_offload_runs_sleep_sleeps_and_the_request_is_sent(mode: str, slept: List[float]) -> None:
    log: List[Any] = []
    send = Send(ok("fine"))
    assert drive(mode, flow(log), send) == "ABC:fine"
    assert slept == [1.5]
    assert send.requests == [FIRST]
    assert log == [("offload", "ABC"), "slept", ("sent", 200), "closed"]


@MODES
def test_a_transport_error_is_thrown_into_the_flow_at_its_yield(mode: str, slept: List[float]) -> None:
    log: List[Any] = []
    send = Send(TransportError("refused", kind="connect"), ok("second"))
    assert drive(mode, flow(log), send) == "ABC:second"
    assert send.requests == [FIRST, AGAIN]
    assert ("thrown", "connect") in log and log[-1] == "closed"


@MODES
def test_a_transport_error_the_flow_does_not_handle_comes_out_of_the_driver(mode: str, slept: List[float]) -> None:
    log: List[Any] = []
    error = TransportError("timed out", kind="timeout")
    with pytest.raises(TransportError) as info:
        drive(mode, flow(log), Send(TransportError("first", kind="read"), error))
    assert info.value is error and log[-1] == "closed"


@MODES
def test_what_an_offload_raises_is_raised_into_the_flow_as_itself(mode: str, slept: List[float]) -> None:
    def fails(arg: Any) -> Any:
        raise ValueError(f"bad {arg}")

    log: List[Any] = []
    assert drive(mode, flow(log, fails), Send(ok())) == "offload raised bad abc:body"


@MODES
def test_an_offload_error_the_flow_does_not_handle_comes_out_unwrapped(mode: str, slept: List[float]) -> None:
    def fails(arg: Any) -> Any:
        raise KeyError(arg)

    log: List[Any] = []
    with pytest.raises(KeyError) as info:
        drive(mode, flow(log, fails), Send())
    assert info.value.args == ("abc",) and log == ["closed"]


@MODES
def test_other_exceptions_from_send_are_not_thrown_into_the_flow(mode: str, slept: List[float]) -> None:
    """Only a TransportError is the flow's to handle: a bug in a transport leaves the driver as it is."""
    log: List[Any] = []
    with pytest.raises(RuntimeError, match="transport bug"):
        drive(mode, flow(log), Send(RuntimeError("transport bug")))
    assert not any(isinstance(item, tuple) and item[0] == "thrown" for item in log)
    assert log[-1] == "closed"


@MODES
def test_a_flow_that_yields_nothing_returns_its_value(mode: str) -> None:
    def instant() -> Generator[Any, Any, str]:
        return "done"
        yield  # a generator all the same

    assert drive(mode, instant(), Send()) == "done"


# ---- an interrupted flow is closed, then and there ---------------------------------------------------


def test_a_keyboard_interrupt_in_send_closes_the_flow() -> None:
    log: List[Any] = []
    f = flow(log, pause=0)
    with pytest.raises(KeyboardInterrupt):
        run(f, Send(KeyboardInterrupt()))
    # the flow saw GeneratorExit (its finally ran) when the driver left, not at garbage collection
    assert log == [("offload", "ABC"), "slept", "closed"]
    assert f.gi_frame is None  # finished: nothing left suspended


def test_a_keyboard_interrupt_while_sleeping_closes_the_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", interrupted)
    log: List[Any] = []
    with pytest.raises(KeyboardInterrupt):
        run(flow(log), Send())
    assert log == [("offload", "ABC"), "closed"]


def test_a_keyboard_interrupt_in_run_async_closes_the_flow(slept: List[float]) -> None:
    log: List[Any] = []
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(run_async(flow(log), Send(KeyboardInterrupt()).send_async))
    assert log[-1] == "closed" and ("sent", 200) not in log


def test_a_cancelled_task_closes_the_flow() -> None:
    log: List[Any] = []

    async def main() -> None:
        entered = asyncio.Event()

        async def hang(request: Request) -> Response:
            entered.set()
            await asyncio.Future()  # never answers
            raise AssertionError("unreachable")

        task = asyncio.ensure_future(run_async(flow(log, pause=0), hang))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert log == [("offload", "ABC"), "slept", "closed"]


# ---- run_async's executors -------------------------------------------------------------------------


def where(arg: Any) -> int:
    return threading.get_ident()


def test_without_an_executor_offload_runs_on_the_loop_thread(slept: List[float]) -> None:
    log: List[Any] = []
    asyncio.run(run_async(flow(log, where), Send(ok()).send_async))
    assert log[0] == ("offload", threading.get_ident())


def test_a_crypto_pool_runs_offload_off_the_loop_thread(slept: List[float]) -> None:
    pool = CryptoPool(1, "test-driver")
    try:
        log: List[Any] = []
        asyncio.run(run_async(flow(log, where), Send(ok()).send_async, pool))
        assert log[0][1] in {t.ident for t in pool.threads} and log[0][1] != threading.get_ident()
        log2: List[Any] = []

        def fails(arg: Any) -> Any:
            raise ValueError("in the pool")

        result = asyncio.run(run_async(flow(log2, fails), Send(ok()).send_async, pool))
        assert result == "offload raised in the pool:body"
    finally:
        pool.close(wait=True, timeout=5)


def test_any_executor_runs_offload_there(slept: List[float]) -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="test-driver") as executor:
        log: List[Any] = []
        seen: List[str] = []

        def named(arg: Any) -> str:
            seen.append(threading.current_thread().name)
            return str(arg).upper()

        assert asyncio.run(run_async(flow(log, named), Send(ok("x")).send_async, executor)) == "ABC:x"
        assert seen[0].startswith("test-driver")


# ---- Driver ----------------------------------------------------------------------------------------


def test_a_handler_is_the_transport_of_both_paths() -> None:
    rec = Recorder(TOKEN)
    client = make(rec)
    assert client.v3.certificates.get().status_code == 200
    assert asyncio.run(client.v3.certificates.get_async()).status_code == 200
    assert [r.target for r in rec.requests] == ["/v3/certificates"] * 2


def test_an_async_handler_on_a_sync_verb_is_refused_and_its_coroutine_closed() -> None:
    awaited: List[bool] = []

    async def handler(request: Request) -> Response:
        awaited.append(True)
        return TOKEN

    client = make(handler)
    with pytest.raises(InvalidArgumentError, match="call the \\*_async verbs"):
        client.v3.certificates.get()  # no "coroutine was never awaited" warning: filterwarnings = error
    assert asyncio.run(client.v3.certificates.get_async()).status_code == 200 and awaited == [True]


def test_an_object_with_send_and_send_async_is_used_by_each_path() -> None:
    paths: List[str] = []

    class Both:
        def send(self, request: Request) -> Response:
            paths.append("sync")
            return TOKEN

        async def send_async(self, request: Request) -> Response:
            paths.append("async")
            return TOKEN

    client = make(Both())
    client.v3.certificates.get()
    asyncio.run(client.v3.certificates.get_async())
    assert paths == ["sync", "async"]


def driver(**extra: Any) -> Driver:
    return make(**extra).get_driver()  # type: ignore[no-any-return]


def test_transports_are_made_on_first_use_once_and_closed() -> None:
    d = Driver(build_config({"mchid": "1", "secret": "S" * 32}))
    assert d._sync is None and d._async is None  # nothing made (nor requests or aiohttp imported) yet
    made: List[Any] = []
    threads = [threading.Thread(target=lambda: made.append(d.transport)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 8 and all(t is made[0] for t in made) and made[0] is d.transport
    assert d._ua_sync.startswith("wechatpay-chain/")
    d.close()
    assert d._sync is None


@pytest.mark.parametrize("threads, expected", [(0, None), (2, CryptoPool)])
def test_the_executor_follows_crypto_threads(threads: int, expected: Optional[type]) -> None:
    d = driver(crypto_threads=threads)
    executor = d.executor
    if expected is None:
        assert executor is None
    else:
        assert isinstance(executor, expected) and d.executor is executor
        d.close()
        assert d._executor is None


def test_v2_prefixed_uris_go_to_the_apiv2_flow() -> None:
    d = driver(secret="S" * 32)
    v2 = d.flow("POST", "v2/pay/micropay", {"xml": {"a": "1"}}, "ua")
    v3 = d.flow("GET", "v3/certificates", {}, "ua")
    assert v2.gi_code.co_name == "v2_flow" and v3.gi_code.co_name == "v3_flow"
    v2.close()
    v3.close()
