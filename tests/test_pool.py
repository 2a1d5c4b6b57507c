"""The `crypto_threads` pool (`_pool.CryptoPool`): the hand-off between event loops and worker threads."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from typing import Any, List

import pytest

from wechatpay_chain.client._crypto_pool import CryptoPool


def _ended(threads: Any, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not any(t.is_alive() for t in threads)


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> List[BaseException]:
    """What any thread let escape (threading.excepthook): a worker must never die of an exception."""
    seen: List[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_value))
    return seen


def test_results_and_exceptions_come_back_to_their_own_call(thread_errors: List[BaseException]) -> None:
    pool = CryptoPool(2)

    def work(n: int) -> int:
        if n % 7 == 0:
            raise KeyError(n)
        time.sleep(0.0005)  # frees the GIL, as the RSA sign does
        return n * n

    async def main() -> None:
        loop = asyncio.get_running_loop()
        outcomes = await asyncio.gather(*(pool.submit(loop, work, n) for n in range(300)), return_exceptions=True)
        for n, got in enumerate(outcomes):
            if n % 7 == 0:
                assert isinstance(got, KeyError) and got.args == (n,)
            else:
                assert got == n * n

    asyncio.run(main())
    assert len(pool.threads) == 2 and all(t.name.startswith("wechatpay-crypto_") for t in pool.threads)
    pool.close(wait=True, timeout=2)
    assert _ended(pool.threads)
    assert not thread_errors


def test_the_job_runs_off_the_event_loop_thread_which_keeps_running() -> None:
    pool = CryptoPool(1)
    release = threading.Event()
    ran_on: List[str] = []

    def blocking(_: Any) -> str:
        ran_on.append(threading.current_thread().name)
        assert release.wait(5)
        return "done"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        job = pool.submit(loop, blocking, None)
        ticks = 0
        while not ran_on or ticks < 5:  # the loop goes on while the worker is blocked
            await asyncio.sleep(0.001)
            ticks += 1
        assert not job.done()
        release.set()
        assert await job == "done"

    asyncio.run(main())
    assert ran_on == ["wechatpay-crypto_0"]
    pool.close()


def test_one_pool_serves_successive_event_loops() -> None:
    pool = CryptoPool(1)

    async def main(k: int) -> List[int]:
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*(pool.submit(loop, lambda n: n + k, n) for n in range(20))))

    for k in range(5):
        assert asyncio.run(main(k)) == [n + k for n in range(20)]
    pool.close()


def test_a_cancelled_call_is_skipped_or_its_result_dropped(thread_errors: List[BaseException]) -> None:
    pool = CryptoPool(1)
    gate, started = threading.Event(), threading.Event()
    ran: List[int] = []
    failures: List[Any] = []

    def job(n: int) -> int:
        started.set()
        gate.wait(5)
        ran.append(n)
        return n

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: failures.append(context))
        first, second = pool.submit(loop, job, 1), pool.submit(loop, job, 2)
        while not started.is_set():  # the worker is inside job(1); job(2) waits in the queue
            await asyncio.sleep(0.001)
        first.cancel()
        second.cancel()
        gate.set()
        assert await pool.submit(loop, job, 3) == 3

    asyncio.run(main())
    assert ran == [1, 3]  # job 2 was cancelled before its turn; job 1's result found its future cancelled
    assert not failures and not thread_errors
    pool.close()


def test_a_result_for_a_closed_loop_is_dropped_quietly(thread_errors: List[BaseException]) -> None:
    pool = CryptoPool(1)
    gate = threading.Event()
    done = threading.Event()

    def job(_: Any) -> int:
        gate.wait(5)
        return 1

    loop = asyncio.new_event_loop()
    pool.submit(loop, job, None)
    loop.close()
    gate.set()
    other = asyncio.new_event_loop()
    pool.submit(other, lambda _: done.set(), None)  # runs after the first one
    assert done.wait(5)
    other.close()
    pool.close(wait=True, timeout=2)
    assert not thread_errors


def test_close_lets_queued_jobs_finish_then_later_jobs_run_in_place() -> None:
    pool = CryptoPool(2)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        queued = [pool.submit(loop, lambda n: (time.sleep(0.001), n)[1], n) for n in range(10)]
        pool.close()
        assert [await f for f in queued] == list(range(10))
        me = threading.current_thread().name
        assert await pool.submit(loop, lambda _: threading.current_thread().name, None) == me
        with pytest.raises(ZeroDivisionError):
            await pool.submit(loop, lambda n: 1 / n, 0)

    asyncio.run(main())
    assert _ended(pool.threads)


def test_a_pool_nobody_holds_stops_its_threads() -> None:
    pool = CryptoPool(2)

    async def main(pool: CryptoPool) -> None:
        assert await pool.submit(asyncio.get_running_loop(), abs, -3) == 3

    asyncio.run(main(pool))
    threads = pool.threads
    assert all(t.is_alive() for t in threads)
    del pool
    gc.collect()
    assert _ended(threads)


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError):
        CryptoPool(0)
