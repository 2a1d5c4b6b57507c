"""Throughput of the seed call: post_async at concurrency 1/16/64/256, and sync from 1/2/4 threads.

    python bench/bench_throughput.py --config-extra '{"crypto_threads": 1}'   # active backend (WECHATPAY_CHAIN_CRYPTO)
    python bench/bench_throughput.py --config-extra '{"crypto_threads": 2}' --json out.json

The static server runs in another process. While the async run goes, a ticker task sleeps 1 ms in
a loop and records how late it wakes: the event loop's longest stall (one RSA sign on the loop shows
up here). The single-core floor rate is 1 / (the RSA work of one request done directly).

Target (d): at concurrency 64, with crypto_threads, the client's CPU per call (this process, all threads)
<= 1.15 x (bare aiohttp CPU per call: 64 workers doing session.post + read of the same bytes against the
same server + the floor's CPU per call). Measured in rounds of (floor CPU, bare run, SDK run), the order of
the two runs alternating, all through the same harness.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Mapping

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    OtherLoad,
    Server,
    aiohttp_headers,
    client_config,
    median_ns,
    seed_payload,
    signed_request,
    table,
    verdict,
    versions,
    write_json,
)
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
    each other show up in the ticker's lateness instead.

    The cyclic garbage collector runs inside whichever step happens to allocate when a generation's
    threshold is crossed, and its pause is the whole process's (every live object of the young, or for a
    full collection all, generations), not that step's code. So the GC time inside each step is recorded
    too (`gc.callbacks`), and `code_steps` holds each step's wall time minus the collections it ran."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_cpu = 0.0  # the most CPU the loop thread itself spent in one step
        self.steps: List[float] = []  # every step's wall time (seconds)
        self.code_steps: List[float] = []  # every step's wall time without the collections inside it
        self.gc_pauses: Dict[int, List[float]] = {0: [], 1: [], 2: []}  # by generation, seconds
        self._gc_total = 0.0
        self._gc_start = 0.0
        self._original: Any = None

    def _on_gc(self, phase: str, info: Dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            d = time.perf_counter() - self._gc_start
            self._gc_total += d
            self.gc_pauses[info["generation"]].append(d)

    def __enter__(self) -> LongestStep:
        original = self._original = asyncio.events.Handle._run
        clock, cpu, me = time.perf_counter, time.thread_time, self

        def _run(handle: Any) -> Any:
            t, c, g = clock(), cpu(), me._gc_total
            try:
                return original(handle)
            finally:
                d, dc = clock() - t, cpu() - c
                me.steps.append(d)
                me.code_steps.append(d - (me._gc_total - g))
                if d > me.longest:
                    me.longest = d
                if dc > me.longest_cpu:
                    me.longest_cpu = dc

        asyncio.events.Handle._run = _run  # type: ignore[method-assign,assignment]
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_gc)
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]

    def gc_time(self) -> float:
        """Seconds of collection so far (in any thread: a collection holds the GIL, so it stalls the loop too)."""
        return self._gc_total

    def figures(self) -> Dict[str, float]:
        steps, code = sorted(self.steps), sorted(self.code_steps)
        p999 = int(len(steps) * 0.999)
        out = {
            "longest_step_ms": self.longest * 1e3,
            "longest_step_cpu_ms": self.longest_cpu * 1e3,
            "step_p999_ms": steps[p999] * 1e3 if steps else 0.0,
            "code_step_max_ms": code[-1] * 1e3 if code else 0.0,
            "code_step_p999_ms": code[p999] * 1e3 if code else 0.0,
        }
        for gen, pauses in self.gc_pauses.items():
            out[f"gc{gen}_count"] = len(pauses)
            out[f"gc{gen}_max_ms"] = max(pauses) * 1e3 if pauses else 0.0
        return out


class FlowSteps:
    """The CPU the event-loop thread spends in each step of the SDK's own flow (`wechatpay_chain.client._driver._step`,
    a private name patched for the run), less any collection the step ran: the SDK code between two awaits.
    Keyed by what the step was resumed with: nothing (build the request, JSON, OAEP-encrypt the sensitive
    fields, up to handing over the sign), the signature (add the headers), the response (check and verify)."""

    LABELS = {"NoneType": "build + encrypt", "str": "add signature", "Response": "verify response"}

    def __init__(self, gc_time: Callable[[], float]) -> None:
        self.cpu: Dict[str, List[float]] = {label: [] for label in self.LABELS.values()}
        self._gc_time = gc_time
        self._original: Any = None

    def __enter__(self) -> FlowSteps:
        import wechatpay_chain.client._driver as driver

        original = self._original = driver._step
        cpu, gc_time, me = time.thread_time, self._gc_time, self

        def _step(flow: Any, reply: Any, error: Any) -> Any:
            c, g = cpu(), gc_time()
            try:
                return original(flow, reply, error)
            finally:
                label = me.LABELS.get(type(reply).__name__)
                if label is not None:
                    me.cpu[label].append(cpu() - c - (gc_time() - g))

        driver._step = _step
        return self

    def __exit__(self, *exc: object) -> None:
        import wechatpay_chain.client._driver as driver

        driver._step = self._original

    def figures(self) -> Dict[str, float]:
        out: Dict[str, float] = {}
        for label, times in self.cpu.items():
            if times:
                times.sort()
                out[f"{label} median_ms"] = times[len(times) // 2] * 1e3
                out[f"{label} p99_ms"] = times[int(len(times) * 0.99)] * 1e3
        return out


def machine_noise(seconds: float = 1.0) -> Dict[str, float]:
    """The control: a fixed pure-Python workload (no allocation, GC off) timed by this thread's CPU clock.
    On an idle, steady machine its 99.9th percentile is close to its median; here (a KVM guest) the vCPU
    runs several times slower for bursts of milliseconds, and every step that falls in one looks slow."""
    was = gc.isenabled()
    gc.disable()
    times: List[float] = []
    end = time.perf_counter() + seconds
    try:
        while time.perf_counter() < end:
            c = time.thread_time()
            sum(range(2000))
            times.append(time.thread_time() - c)
    finally:
        if was:
            gc.enable()
    times.sort()
    median = times[len(times) // 2]
    return {"noise_median_us": median * 1e6, "noise_p999_x_median": times[int(len(times) * 0.999)] / median,
            "noise_max_x_median": times[-1] / median}


async def async_run(
    call: Callable[[], Awaitable[Any]], concurrency: int, calls: int, server_cpu: Callable[[], float]
) -> Dict[str, float]:
    """`calls` calls of `call()` by `concurrency` workers, timed and instrumented (ticker, every loop step, the
    SDK's flow steps when it is the SDK that runs): the same harness for the SDK and the bare aiohttp baseline."""

    async def run_calls(n: int) -> None:
        # `concurrency` workers taking calls from one count, as a service with bounded concurrency would:
        # no task per call waiting on a semaphore (those made the garbage collector the longest stall)
        left = [n]

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                await call()

        await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))

    await run_calls(min(calls, 4 * concurrency))  # warm the pool
    noise = machine_noise()
    stop, lateness = asyncio.Event(), []  # type: ignore[var-annotated]
    tick = asyncio.ensure_future(ticker(stop, lateness))
    await asyncio.sleep(0.01)
    lateness.clear()
    t0, cpu0, server0 = time.perf_counter(), time.process_time(), server_cpu()
    with OtherLoad(server_cpu) as other, LongestStep() as step, FlowSteps(step.gc_time) as flow:
        await run_calls(calls)
    wall = time.perf_counter() - t0
    cpu, server = time.process_time() - cpu0, server_cpu() - server0
    stop.set()
    await tick
    lateness.sort()
    return {
        "rps": calls / wall,
        "client_cpu_us": cpu / calls * 1e6,
        "server_cpu_us": server / calls * 1e6,
        "other_cores": other.cores,
        **step.figures(),
        **flow.figures(),
        **noise,
        "stall_max_ms": lateness[-1] * 1e3 if lateness else 0.0,
        "stall_p99_ms": lateness[int(len(lateness) * 0.99)] * 1e3 if lateness else 0.0,
        "stall_median_ms": statistics.median(lateness) * 1e3 if lateness else 0.0,
    }


def floor_cpu_us(work: Callable[[], Any], calls: int = 300) -> float:
    """The floor's CPU per call: this process's CPU time (all threads) over `calls` back-to-back RSA works (µs)."""
    work()
    cpu0 = time.process_time()
    for _ in range(calls):
        work()
    return (time.process_time() - cpu0) / calls * 1e6


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
    with OtherLoad(server_cpu) as other:
        for t in pool:
            t.join()
    wall, cpu, server = time.perf_counter() - t0, time.process_time() - cpu0, server_cpu() - server0
    if errors:
        raise errors[0]
    done = per * threads
    return {"rps": done / wall, "client_cpu_us": cpu / done * 1e6, "server_cpu_us": server / done * 1e6,
            "other_cores": other.cores}


#: target (d): client CPU per call of post_async with crypto_threads, at concurrency 64,
#: <= 1.15 x (bare aiohttp CPU per call at the same concurrency + the floor's CPU per call)
TARGET_CPU = 1.15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="calls per measurement (default 2000)")
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--target-concurrency", type=int, default=64,
                        help="concurrency of the CPU-per-call comparison with bare aiohttp, target (d) (default 64)")
    parser.add_argument("--target-rounds", type=int, default=3,
                        help="rounds of (floor CPU, bare aiohttp run, SDK run) for target (d); 0 skips it")
    parser.add_argument("--config-extra", default="{}", help="JSON merged into the Builder config")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() once the client is built and warm: what a service can do at startup so "
                             "full collections skip the objects that live for the whole run")
    parser.add_argument("--json", help="write the results as JSON to this file")
    args = parser.parse_args()
    extra = json.loads(args.config_extra)

    import aiohttp

    from wechatpay_chain import Builder, Rsa

    payload = seed_payload()
    # The floor is measured before every run (a 200-call median each) and the fastest is kept: this VM's speed
    # drifts by up to 2x, and a floor taken in a slow moment would flatter every "x floor rate" figure.
    work = rsa_work(Rsa.backend)
    floors: List[float] = [median_ns(work, 200, 50)["us"]]
    result: Dict[str, Any] = {"backend": Rsa.backend, "config_extra": extra, "n": args.n, "gc_freeze": args.gc_freeze,
                              "async": {}, "sync": {}, "target": []}
    with Server() as server:
        client = Builder.factory(client_config(server.base_uri, extra))
        node = client.v3.payrollCard.authentications.preOrderWithAuth
        if args.gc_freeze:
            node.post(json=payload)
            gc.collect()
            gc.freeze()
        # the bare baseline sends the bytes of a signed seed call with the headers the SDK's aiohttp transport sends
        req = signed_request(client, payload)
        body, headers = req.body, aiohttp_headers(req)

        def sdk_call() -> Awaitable[Any]:
            return node.post_async(json=payload)  # type: ignore[no-any-return]

        async def all_async() -> None:
            for c in (int(x) for x in args.concurrency.split(",")):
                floors.append(median_ns(work, 200, 20)["us"])
                result["async"][c] = await async_run(sdk_call, c, args.n, server.cpu_seconds)
            # target (d): rounds of (floor CPU, bare aiohttp, SDK) at one concurrency, bare and SDK order alternating
            async with aiohttp.ClientSession() as session:

                async def bare_call() -> None:
                    async with session.post(req.url, data=body, headers=headers) as r:
                        await r.read()

                c = args.target_concurrency
                for i in range(args.target_rounds):
                    one: Dict[str, Any] = {"concurrency": c, "floor_cpu_us": floor_cpu_us(work)}
                    order = [("bare", bare_call), ("sdk", sdk_call)]
                    for name, call in order if i % 2 == 0 else order[::-1]:
                        one[name] = await async_run(call, c, args.n, server.cpu_seconds)
                    one["ratio"] = one["sdk"]["client_cpu_us"] / (one["bare"]["client_cpu_us"] + one["floor_cpu_us"])
                    result["target"].append(one)
            await client.get_driver().close_async()

        asyncio.run(all_async())
        for t in (int(x) for x in args.threads.split(",")):
            floors.append(median_ns(work, 200, 20)["us"])
            result["sync"][t] = sync_run(node, payload, t, args.n, server.cpu_seconds)
        client.get_driver().close()

    floor_us = result["floor_us"] = min(floors)
    result["floor_us_all"] = floors
    floor = result["floor_rps_1core"] = 1e6 / floor_us
    cores = os.cpu_count() or 1
    rows: List[List[Any]] = []

    def cells(r: Dict[str, float]) -> List[Any]:
        # what the cores could do if only the client and the static server used them (CPU-bound ceiling)
        ceiling = cores * 1e6 / (r["client_cpu_us"] + r["server_cpu_us"])
        return [r["rps"], r["rps"] / floor, r["client_cpu_us"], r["server_cpu_us"], ceiling / floor,
                r["other_cores"]]

    for c, r in result["async"].items():
        rows.append([f"post_async, concurrency {c}", *cells(r)])
    for t, r in result["sync"].items():
        rows.append([f"post, {t} thread(s)", *cells(r)])
    print(table(rows, ["seed call", "req/s", "x floor rate", "client CPU µs/call", "server CPU µs/call",
                       "CPU ceiling x floor", "other load, cores"]))
    loop_rows = [[f"concurrency {c}", r["longest_step_ms"], r["longest_step_cpu_ms"], r["step_p999_ms"],
                  r["code_step_max_ms"], r["code_step_p999_ms"],
                  *(f"{r[f'gc{g}_count']:.0f} / {r[f'gc{g}_max_ms']:.2f}" for g in (0, 1, 2)),
                  r["stall_max_ms"], r["stall_p99_ms"]] for c, r in result["async"].items()]
    print("\nevent loop during post_async (ms; 'without GC' = each step minus the collections it ran):")
    print(table(loop_rows, ["", "longest step", "its CPU (max)", "step p99.9", "longest without GC",
                            "p99.9 without GC", "gen0 GCs / max", "gen1 GCs / max", "gen2 GCs / max",
                            "ticker late max", "late p99"]))
    labels = list(FlowSteps.LABELS.values())
    flow_rows = [[f"concurrency {c}", *(f"{r.get(f'{x} median_ms', 0):.3f} / {r.get(f'{x} p99_ms', 0):.3f}"
                                        for x in labels),
                  f"{r['noise_p999_x_median']:.1f} / {r['noise_max_x_median']:.1f}"]
                 for c, r in result["async"].items()]
    print("\nthe SDK's own steps on the loop thread, CPU ms median / p99 (without GC); control: a fixed "
          "pure-Python loop just before, p99.9 and max as multiples of its median (machine noise):")
    print(table(flow_rows, ["", *labels, "control p99.9 / max"]))
    if result["target"]:
        c = args.target_concurrency
        target_rows = [[f"round {i + 1} ({'bare first' if i % 2 == 0 else 'SDK first'})", t["floor_cpu_us"],
                        t["bare"]["client_cpu_us"], t["sdk"]["client_cpu_us"], t["bare"]["rps"], t["sdk"]["rps"],
                        t["sdk"]["client_cpu_us"] - t["bare"]["client_cpu_us"] - t["floor_cpu_us"], t["ratio"],
                        max(t["bare"]["other_cores"], t["sdk"]["other_cores"])]
                       for i, t in enumerate(result["target"])]
        ratio = result["target_ratio"] = statistics.median(t["ratio"] for t in result["target"])
        threads = extra.get("crypto_threads", 0)
        print(f"\n(d) client CPU per call at concurrency {c}: SDK post_async vs bare aiohttp session.post + read "
              "(same bytes, same server, same harness) + the floor's CPU per call (µs):")
        print(table(target_rows, ["", "floor CPU", "bare aiohttp CPU", "SDK CPU", "bare req/s", "SDK req/s",
                                  "SDK - bare - floor", "SDK / (bare + floor)", "other load, cores"]))
        note = "" if threads else " -- the target is for a run with crypto_threads; this run has none"
        print(f"(d) SDK / (bare aiohttp + floor) CPU per call, median of {len(result['target'])} rounds: "
              f"{verdict(ratio, TARGET_CPU)}{note}")
    print(f"\nbackend {result['backend']}, config extra {extra}, gc.freeze() {args.gc_freeze}; "
          f"single-core floor: RSA work {floor_us:.0f} µs (fastest of {len(floors)} medians, slowest "
          f"{max(floors):.0f}) -> {floor:.0f} req/s")
    print(f"CPU ceiling = {cores} cores / (client + server CPU per call): the rate if nothing else ran; the server "
          "shares these cores with the client")
    runs = [*result["async"].values(), *result["sync"].values(),
            *(t[k] for t in result["target"] for k in ("bare", "sdk"))]
    busiest = max((r["other_cores"] for r in runs), default=0.0)
    if busiest > 0.1:
        print(f"WARNING: other processes used up to {busiest:.2f} cores during a run: not comparable figures")
    result["machine"] = versions()
    print(", ".join(f"{k} {v}" for k, v in result["machine"].items()))
    write_json(args.json, result)


if __name__ == "__main__":
    main()
