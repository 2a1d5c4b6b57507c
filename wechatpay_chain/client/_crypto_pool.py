"""The `crypto_threads` pool: threads that run the `Offload` work of async calls (the RSA sign).

It does the one thing `loop.run_in_executor` would, with a cheaper hand-off. Jobs go in through one
`queue.SimpleQueue`. Results go back to their event loop in batches: a worker appends to the loop's
`_Sink` and wakes the loop (`call_soon_threadsafe`) only if no wake-up is already pending, so a busy
loop takes one wake-up for however many signatures finished meanwhile. There is no
concurrent.futures.Future (a Condition per job) and no future chaining: those, and a wake-up per
result, are the event-loop CPU that `run_in_executor` spends and this pool does not.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
import weakref
from typing import Any, Callable, Deque, List, Optional, Tuple

__all__ = ["CryptoPool"]

_Outcome = Tuple[bool, Any]  # (True, result) or (False, the exception)


class _Sink:
    """One event loop's finished jobs, and whether a wake-up to deliver them is already scheduled."""

    __slots__ = ("loop", "done", "lock", "pending", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.done: Deque[Tuple[asyncio.Future[Any], _Outcome]] = collections.deque()
        self.lock = threading.Lock()
        self.pending = False

    def put(self, future: asyncio.Future[Any], outcome: _Outcome) -> None:
        """Worker thread: hand one outcome back, waking the loop unless a wake-up is on its way."""
        self.done.append((future, outcome))
        with self.lock:
            if self.pending:
                return
            self.pending = True
        try:
            self.loop.call_soon_threadsafe(self.deliver)
        except RuntimeError:  # the loop is closed: nothing awaits these futures any more
            pass

    def deliver(self) -> None:
        """Event loop: settle every future that has an outcome (a cancelled one is skipped)."""
        with self.lock:
            self.pending = False  # an outcome appended from now on schedules another delivery
        pop = self.done.popleft
        while True:
            try:
                future, (ok, value) = pop()
            except IndexError:
                return
            if not future.done():
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)


def _work(jobs: queue.SimpleQueue[Any]) -> None:
    """A worker: run jobs until the `None` that `close()` (or the pool's finaliser) puts in."""
    while True:
        job = jobs.get()
        if job is None:
            return
        sink, future, fn, arg = job
        del job
        if future.cancelled():  # the call was cancelled before its turn (a benign read across threads)
            continue
        try:
            outcome: _Outcome = (True, fn(arg))
        except BaseException as exc:  # noqa: BLE001 - delivered to the awaiting call, which raises it
            outcome = (False, exc)
        sink.put(future, outcome)
        del sink, future, fn, arg, outcome  # hold nothing while waiting for the next job


def _stop(jobs: queue.SimpleQueue[Any], threads: List[threading.Thread]) -> None:
    for _ in threads:
        jobs.put(None)


class CryptoPool:
    """`threads` daemon threads, started on the first job; `close()` lets queued jobs finish, then ends them.

    `await pool.submit(loop, fn, arg)` is `fn(arg)` run on a worker. The RSA sign frees the GIL, so the
    loop keeps running meanwhile. Once the pool is closed, `submit` runs the job in place, so a call
    already under way when its client is closed still completes.
    """

    def __init__(self, threads: int, name: str = "wechatpay-crypto") -> None:
        if threads < 1:
            raise ValueError("a CryptoPool needs at least one thread")
        self.size = threads
        self._name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: List[threading.Thread] = []
        self._lock = threading.Lock()
        self._sinks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sink] = weakref.WeakKeyDictionary()
        self._closed = False
        # the threads reference only the queue: a pool nobody holds is collected, and this stops its threads
        self._finalizer = weakref.finalize(self, _stop, self._jobs, self._threads)

    @property
    def threads(self) -> Tuple[threading.Thread, ...]:
        """The worker threads started so far."""
        return tuple(self._threads)

    def submit(self, loop: asyncio.AbstractEventLoop, fn: Callable[[Any], Any], arg: Any) -> asyncio.Future[Any]:
        """A future of `loop` that gets `fn(arg)` (or what it raised) from a worker."""
        future: asyncio.Future[Any] = loop.create_future()
        if self._closed:
            try:
                future.set_result(fn(arg))
            except BaseException as exc:  # noqa: BLE001 - as a worker would deliver it
                future.set_exception(exc)
            return future
        sink = self._sinks.get(loop)
        if sink is None:
            sink = self._sinks[loop] = _Sink(loop)
        if len(self._threads) < self.size:
            self._start()
        self._jobs.put((sink, future, fn, arg))
        return future

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self.size and not self._closed:
                thread = threading.Thread(
                    target=_work, args=(self._jobs,), name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def close(self, wait: bool = False, timeout: Optional[float] = None) -> None:
        """Stop taking jobs; the workers end once the queued ones are done (`wait`: join them)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._finalizer()
        if wait:
            for thread in self._threads:
                thread.join(timeout)
