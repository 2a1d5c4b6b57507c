"""The transports alone: the SDK's transport `send` against the bare library call it wraps, interleaved.

    python bench/bench_transport.py            # 3,000 interleaved pairs per transport, medians in µs

Sync: `RequestsTransport.send(request)` vs `adapter.send(prepared)` + `.content` on a plain Session.
Async: `AiohttpTransport.send(request)` vs `session.post(...)` + `read()` on a reused default ClientSession.
Both against `static_server.py` in another process, with the same body and headers; no signing or
verification runs (the request is a fixed `Request`), so the difference is the transport's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import requests  # noqa: E402

from bench._common import Server  # noqa: E402
from wechatpay_chain import Request  # noqa: E402
from wechatpay_chain.transports._aiohttp import AiohttpTransport  # noqa: E402
from wechatpay_chain.transports._requests import RequestsTransport  # noqa: E402

BODY = b'{"a":"' + b"x" * 600 + b'"}'
HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/json; charset=utf-8",
    "User-Agent": "bench",
    "Authorization": "WECHATPAY2-SHA256-RSA2048 " + "a" * 400,
    "Wechatpay-Serial": "PUB_KEY_ID_0114232134912410000000000000",
    "Accept-Encoding": "identity",
}


def medians(results: Dict[str, List[int]]) -> Dict[str, float]:
    return {name: statistics.median(ns) / 1000 for name, ns in results.items()}


def sync_pairs(url: str, n: int) -> Dict[str, float]:
    request = Request("POST", url, HEADERS, BODY, timeout=(10, 30))
    transport = RequestsTransport({"proxies": {}})
    session = requests.Session()
    adapter = session.get_adapter(url)
    prepared = requests.Request("POST", url, headers=HEADERS, data=BODY).prepare()

    def bare() -> None:
        adapter.send(prepared, timeout=(10, 30)).content  # noqa: B018

    def sdk() -> None:
        transport.send(request)

    variants: Dict[str, Callable[[], None]] = {"bare adapter.send": bare, "RequestsTransport.send": sdk}
    try:
        for fn in variants.values():
            for _ in range(200):
                fn()
        results: Dict[str, List[int]] = {name: [] for name in variants}
        for _ in range(n):
            for name, fn in variants.items():
                start = time.perf_counter_ns()
                fn()
                results[name].append(time.perf_counter_ns() - start)
        return medians(results)
    finally:
        transport.close()
        session.close()


async def async_pairs(url: str, n: int) -> Dict[str, float]:
    request = Request("POST", url, HEADERS, BODY, timeout=(10, 30))
    transport = AiohttpTransport({"proxies": {}})
    session = aiohttp.ClientSession()

    async def bare() -> None:
        async with session.post(url, data=BODY, headers=HEADERS) as r:
            await r.read()

    async def sdk() -> None:
        await transport.send(request)

    variants: Dict[str, Callable[[], Awaitable[Any]]] = {"bare session.post": bare, "AiohttpTransport.send": sdk}
    try:
        for fn in variants.values():
            for _ in range(200):
                await fn()
        results: Dict[str, List[int]] = {name: [] for name in variants}
        for _ in range(n):
            for name, fn in variants.items():
                start = time.perf_counter_ns()
                await fn()
                results[name].append(time.perf_counter_ns() - start)
        return medians(results)
    finally:
        await transport.close()
        await session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000, help="interleaved pairs per transport (default 3000)")
    args = parser.parse_args()
    with Server() as server:
        url = server.base_uri + "v3/payroll-card/authentications/pre-order-with-auth"
        for label, figures in (("sync", sync_pairs(url, args.n)), ("async", asyncio.run(async_pairs(url, args.n)))):
            (bare_name, bare), (sdk_name, sdk) = figures.items()
            own = sdk - bare
            print(f"{label}: {bare_name} {bare:.1f} µs, {sdk_name} {sdk:.1f} µs, the transport's own {own:+.1f} µs")


if __name__ == "__main__":
    main()
