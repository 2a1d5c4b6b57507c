"""Throughput of the seed call: post_async at concurrency 1/16/64/256, and sync from 1/2/4 threads.

    python bench/bench_throughput.py                       # active backend (WECHATPAY_CHAIN_CRYPTO)
    python bench/bench_throughput.py --config-extra '{"crypto_threads": 2}' --json out.json

The static server runs in another process. While the async run goes, a ticker task sleeps 1 ms in
a loop and records how late it wakes: the event loop's longest stall (one RSA sign on the loop shows
up here). The single-core floor rate is 1 / (the RSA work of one request done directly).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Server, client_config, median_ns, seed_payload, table, versions, write_json  # noqa: E402
from bench.bench_request import rsa_work  # noqa: E402


async def ticker(stop: asyncio.Event, lateness: List[float], period: float = 0.001) -> None:
    """Sleep `period` repeatedly; record how much later than asked each wake-up was (seconds)."""
    clock = time.perf_counter
    while not stop.is_set():
        t0 = clock()
        await asyncio.sleep(period)
        lateness.append(clock() - t0 - period)


class LongestStep:
    """Times every event-loop callback (asyncio Handle._run): the longest one is how long the loop was
    blocked by a single step -- one RSA sign on the loop shows up here; many short steps queued behind
    each other show up in the ticker's lateness instead."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_cpu = 0.0  # the most CPU the loop thread itself spent in one step
        self.steps: List[float] = []  # every step's wall time (seconds)
        self._original: Any = None

    def __enter__(self) -> LongestStep:
        original = self._original = asyncio.events.Handle._run
        clock, cpu, me = time.perf_counter, time.thread_time, self

        def _run(handle: Any) -> Any:
            t, c = clock(), cpu()
            try:
                return original(handle)
            finally:
                d, dc = clock() - t, cpu() - c
                me.steps.append(d)
                if d > me.longest:
                    me.longest = d
                if dc > me.longest_cpu:
                    me.longest_cpu = dc

        asyncio.events.Handle._run = _run  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]


async def async_run(
    node: Any, payload: Mapping[str, Any], concurrency: int, calls: int, server_cpu: Callable[[], float]
) -> Dict[str, float]:
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            await node.post_async(json=payload)

    await asyncio.gather(*(one() for _ in range(min(calls, 4 * concurrency))))  # warm the pool
    stop, lateness = asyncio.Event(), []  # type: ignore[var-annotated]
    tick = asyncio.ensure_future(ticker(stop, lateness))
    await asyncio.sleep(0.01)
    lateness.clear()
    t0, cpu0, server0 = time.perf_counter(), time.process_time(), server_cpu()
    with LongestStep() as step:
        await asyncio.gather(*(one() for _ in range(calls)))
    wall = time.perf_counter() - t0
    cpu, server = time.process_time() - cpu0, server_cpu() - server0
    stop.set()
    await tick
    lateness.sort()
    return {
        "rps": calls / wall,
        "client_cpu_us": cpu / calls * 1e6,
        "server_cpu_us": server / calls * 1e6,
        "longest_step_ms": step.longest * 1e3,
        "longest_step_cpu_ms": step.longest_cpu * 1e3,
        "step_p999_ms": sorted(step.steps)[int(len(step.steps) * 0.999)] * 1e3 if step.steps else 0.0,
        "stall_max_ms": lateness[-1] * 1e3 if lateness else 0.0,
        "stall_p99_ms": lateness[int(len(lateness) * 0.99)] * 1e3 if lateness else 0.0,
        "stall_median_ms": statistics.median(lateness) * 1e3 if lateness else 0.0,
    }


def sync_run(
    node: Any, payload: Mapping[str, Any], threads: int, calls: int, server_cpu: Callable[[], float]
) -> Dict[str, float]:
    per = calls // threads
    barrier = threading.Barrier(threads + 1)
    errors: List[BaseException] = []

    def work() -> None:
        for _ in range(10):
            node.post(json=payload)
        barrier.wait()
        try:
            for _ in range(per):
                node.post(json=payload)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    t0, cpu0, server0 = time.perf_counter(), time.process_time(), server_cpu()
    for t in pool:
        t.join()
    wall, cpu, server = time.perf_counter() - t0, time.process_time() - cpu0, server_cpu() - server0
    if errors:
        raise errors[0]
    done = per * threads
    return {"rps": done / wall, "client_cpu_us": cpu / done * 1e6, "server_cpu_us": server / done * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="calls per measurement (default 2000)")
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--config-extra", default="{}", help="JSON merged into the Builder config")
    parser.add_argument("--json", help="write the results as JSON to this file")
    args = parser.parse_args()
    extra = json.loads(args.config_extra)

    from wechatpay_chain import Builder, Rsa

    payload = seed_payload()
    floor_us = median_ns(rsa_work(Rsa.backend), 300, 50)["us"]
    result: Dict[str, Any] = {"backend": Rsa.backend, "config_extra": extra, "n": args.n,
                              "floor_us": floor_us, "floor_rps_1core": 1e6 / floor_us, "async": {}, "sync": {}}
    with Server() as server:
        client = Builder.factory(client_config(server.base_uri, extra))
        node = client.v3.payrollCard.authentications.preOrderWithAuth

        async def all_async() -> None:
            for c in (int(x) for x in args.concurrency.split(",")):
                result["async"][c] = await async_run(node, payload, c, args.n, server.cpu_seconds)
            await client.get_driver().close_async()

        asyncio.run(all_async())
        for t in (int(x) for x in args.threads.split(",")):
            result["sync"][t] = sync_run(node, payload, t, args.n, server.cpu_seconds)
        client.get_driver().close()

    floor = result["floor_rps_1core"]
    cores = os.cpu_count() or 1
    rows: List[List[Any]] = []

    def cells(r: Dict[str, float]) -> List[Any]:
        # what the cores could do if only the client and the static server used them (CPU-bound ceiling)
        ceiling = cores * 1e6 / (r["client_cpu_us"] + r["server_cpu_us"])
        return [r["rps"], r["rps"] / floor, r["client_cpu_us"], r["server_cpu_us"], ceiling / floor]

    for c, r in result["async"].items():
        rows.append([f"post_async, concurrency {c}", *cells(r), r["longest_step_ms"], r["longest_step_cpu_ms"],
                     r["step_p999_ms"], r["stall_max_ms"], r["stall_p99_ms"]])
    for t, r in result["sync"].items():
        rows.append([f"post, {t} thread(s)", *cells(r), "", "", "", "", ""])
    print(table(rows, ["seed call", "req/s", "x floor rate", "client CPU µs/call", "server CPU µs/call",
                       "CPU ceiling x floor", "longest loop step ms", "max step CPU ms", "step p99.9 ms",
                       "ticker lateness max ms",
                       "lateness p99 ms"]))
    print(f"\nbackend {result['backend']}, config extra {extra}; single-core floor: RSA work {floor_us:.0f} µs "
          f"-> {floor:.0f} req/s (target: concurrency 64 >= 1.7x floor = {1.7 * floor:.0f} req/s)")
    print(f"CPU ceiling = {cores} cores / (client + server CPU per call): the rate if nothing else ran; the server "
          "shares these cores with the client")
    result["machine"] = versions()
    write_json(args.json, result)


if __name__ == "__main__":
    main()
