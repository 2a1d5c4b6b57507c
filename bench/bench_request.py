"""Per-request client cost of the seed call, against a static server in another process.

    python bench/bench_request.py                 # both backends (one child process each), table
    python bench/bench_request.py --backend cryptography --json out.json
    python bench/bench_request.py --profile 2000  # cProfile of 2,000 sync calls (active backend)
    python bench/bench_request.py --profile 2000 --profile-call async   # ... of post_async (or no-network)

The seed call is POST v3/payroll-card/authentications/pre-order-with-auth with 11 JSON fields, 2 of
them `Sensitive` (RSA-OAEP), the response signature verified. Measured in the same run, interleaved call
by call: the bare HTTP call of the same bytes (requests: the SDK's PreparedRequest through a Session's
mounted adapter `send`, body read; aiohttp: `session.post` on a reused session + `read()`) and the floor
(the same RSA work straight on the backend library: 1 sign, 2 OAEP encrypts, 1 verify, json.dumps).
Targets: (a) sync post <= 1.10 x (adapter.send + floor), (b) post_async <= 1.10 x (aiohttp post + floor),
(c) no network (config `handler`) <= 1.15 x floor.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    ENV_VAR,
    RESPONSE_BODY,
    ROOT,
    SEED_PATH,
    OtherLoad,
    Server,
    aiohttp_headers,
    client_config,
    key_paths,
    median_ns,
    plain_payload,
    seed_payload,
    signed_headers,
    signed_request,
    summarize,
    table,
    verdict,
    versions,
    write_json,
)

BACKENDS = ("cryptography", "pycryptodome")


Timed = Tuple[Callable[[], Any], bool]


async def interleaved(items: Mapping[str, Timed], n: int, warmup: int, rounds: int) -> Dict[str, Dict[str, float]]:
    """Interleaved call by call: each step of a round calls every item once (the order rotating), so all
    items see the same machine conditions and their ratios hold while this VM's speed drifts (it does, by
    up to 2x over seconds). Per item: the median of its `n` calls in a round; the figure is the median of
    the round medians."""
    names = list(items)
    samples: Dict[str, List[int]] = {name: [] for name in names}
    medians: Dict[str, List[float]] = {name: [] for name in names}
    clock = time.perf_counter_ns
    for r in range(rounds):
        for i in range(warmup + n):
            k = (i + r) % len(names)
            for name in names[k:] + names[:k]:
                fn, is_async = items[name]
                t0 = clock()
                if is_async:
                    await fn()
                else:
                    fn()
                if i >= warmup:
                    samples[name].append(clock() - t0)
        for name in names:
            medians[name].append(statistics.median(samples[name]))
            samples[name].clear()
    return {name: summarize(m) for name, m in medians.items()}


def rsa_work(backend: str) -> Callable[[], Any]:
    """The floor: 1 sign + 2 OAEP encrypts + 1 verify + json.dumps, straight on the backend library."""
    merchant_pem, platform_pem = (p.read_bytes() for p in key_paths())
    prefix = f"POST\n{SEED_PATH}\n1700000000\nNONCE0123456789ABCDEFGHIJKLMNOPQ\n".encode()
    headers = signed_headers()
    ts, nonce = headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"]
    response_msg = f"{ts}\n{nonce}\n{RESPONSE_BODY.decode()}\n".encode()
    response_sig = base64.b64decode(headers["Wechatpay-Signature"])
    payload = plain_payload()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    name, card = "张三".encode(), b"110101199003078888"
    if backend == "cryptography":
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        priv: Any = serialization.load_pem_private_key(merchant_pem, None)
        pub: Any = serialization.load_pem_private_key(platform_pem, None).public_key()
        pkcs1v15, sha256 = padding.PKCS1v15(), hashes.SHA256()
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)

        def work() -> None:
            pub.encrypt(name, oaep)
            pub.encrypt(card, oaep)
            priv.sign(prefix + dumps(payload).encode() + b"\n", pkcs1v15, sha256)
            pub.verify(response_sig, response_msg, pkcs1v15, sha256)

        return work
    from Crypto.Cipher import PKCS1_OAEP
    from Crypto.Hash import SHA1, SHA256
    from Crypto.PublicKey import RSA
    from Crypto.Signature import pkcs1_15

    pkey, ppub = RSA.import_key(merchant_pem), RSA.import_key(platform_pem).public_key()

    def work_pcd() -> None:
        PKCS1_OAEP.new(ppub, hashAlgo=SHA1).encrypt(name)
        PKCS1_OAEP.new(ppub, hashAlgo=SHA1).encrypt(card)
        pkcs1_15.new(pkey).sign(SHA256.new(prefix + dumps(payload).encode() + b"\n"))
        pkcs1_15.new(ppub).verify(SHA256.new(response_msg), response_sig)

    return work_pcd


def rsa_parts(backend: str, n: int, warmup: int) -> Dict[str, float]:
    """The single operations through the SDK's Rsa (µs): what one request pays for each."""
    from wechatpay_chain import Rsa

    merchant, platform = key_paths()
    priv = Rsa.from_(f"file://{merchant}")
    pub = Rsa.from_(f"file://{platform}").public_key()
    sig = Rsa.sign("x" * 400, priv)
    return {
        "sign": median_ns(lambda: Rsa.sign("x" * 400, priv), n, warmup)["us"],
        "verify": median_ns(lambda: Rsa.verify("x" * 400, sig, pub), n, warmup)["us"],
        "oaep_encrypt": median_ns(lambda: Rsa.encrypt("110101199003078888", pub), n, warmup)["us"],
    }


def sdk_prepared(client: Any, node: Any, payload: Mapping[str, Any]) -> Any:
    """The `requests.PreparedRequest` the SDK's sync transport hands its mounted adapter in one real call (a spy
    on that adapter's `send`): the baseline sends a copy of it, i.e. the very bytes and headers of an SDK call."""
    transport = client.get_driver().transport
    adapter = transport.session.get_adapter(node.get_driver().config.base_uri)
    seen: List[Any] = []
    original = adapter.send

    def spy(prepared: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(prepared)
        return original(prepared, *args, **kwargs)

    adapter.send = spy
    try:
        assert node.post(json=payload).status_code == 200
    finally:
        del adapter.send  # the instance attribute: the class's send again
    assert len(seen) == 1
    return seen[0].copy()


def run_backend(n: int, warmup: int, rounds: int) -> Dict[str, Any]:
    """Everything for the active backend (this process), against a fresh static server."""
    import aiohttp
    import requests

    import wechatpay_chain
    from wechatpay_chain import Builder, Rsa
    from wechatpay_chain.models import Response

    backend = Rsa.backend
    out: Dict[str, Any] = {"backend": backend, "n": n, "rounds": rounds}
    payload = seed_payload()
    with Server() as server:
        client = Builder.factory(client_config(server.base_uri))
        node = client.v3.payrollCard.authentications.preOrderWithAuth
        sample = node.post(json=payload)
        assert sample.status_code == 200 and sample.json()["token"]

        # target (a)'s HTTP baseline: a copy of the PreparedRequest the SDK sends, through a plain Session's adapter
        prepared = sdk_prepared(client, node, payload)
        session = requests.Session()
        adapter = session.get_adapter(prepared.url)
        assert adapter.send(prepared).content == RESPONSE_BODY
        # target (b)'s HTTP baseline: the signed request's bytes with the headers the SDK's aiohttp transport sends
        req = signed_request(client, payload)
        body, headers = req.body, aiohttp_headers(req)
        out["request_bytes"] = {"body": len(body), "headers": len(headers)}

        # target (c): the SDK with no network, a `handler` answering the precomputed signed response
        canned = Response.build(200, signed_headers(), RESPONSE_BODY)
        local = Builder.factory(client_config(server.base_uri, handler=lambda request: canned))
        local_node = local.v3.payrollCard.authentications.preOrderWithAuth

        floor = rsa_work(backend)

        async def timed_part() -> None:
            async with aiohttp.ClientSession() as s:

                async def aiohttp_post() -> None:
                    async with s.post(req.url, data=body, headers=headers) as r:
                        await r.read()

                async def aiohttp_post_floor() -> None:
                    floor()
                    await aiohttp_post()

                await aiohttp_post()
                items: Dict[str, Timed] = {
                    "adapter_send": (lambda: adapter.send(prepared).content, False),
                    "session_send": (lambda: session.send(prepared).content, False),  # reference only
                    "aiohttp_post": (aiohttp_post, True),
                    "rsa_direct": (rsa_work(backend), False),  # the floor: the same RSA work done directly
                    # the floor and the bare call back to back in one call, as a hand-written client runs them
                    "adapter_send_floor": (lambda: (floor(), adapter.send(prepared).content), False),
                    "aiohttp_post_floor": (aiohttp_post_floor, True),
                    "sdk_sync": (lambda: node.post(json=payload), False),
                    "sdk_async": (lambda: node.post_async(json=payload), True),
                    "sdk_no_network": (lambda: local_node.post(json=payload), False),
                }
                out.update(await interleaved(items, n, warmup, rounds))
            await client.get_driver().close_async()

        with OtherLoad(server.cpu_seconds) as other:
            asyncio.run(timed_part())
        out["other_load_cores"] = other.cores
        out["rsa_parts"] = rsa_parts(backend, n, warmup)

        # a cached chain hop, and a whole cached 4-hop walk (ns)
        v3 = client.v3
        v3.payrollCard  # noqa: B018 - first access creates the node
        loops = 200_000
        hop = min(timeit.repeat(lambda: v3.payrollCard, number=loops, repeat=5)) / loops * 1e9
        walk = min(timeit.repeat(lambda: client.v3.payrollCard.authentications.preOrderWithAuth, number=loops,
                                 repeat=5)) / loops * 1e9
        out["chain_hop_ns"], out["chain_walk4_ns"] = hop, walk

        # peak memory of 1,000 sync calls (tracemalloc; the calls themselves run slower under it)
        node.post(json=payload)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(1000):
            node.post(json=payload)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["mem_peak_kib"] = (peak - base) / 1024
        out["mem_retained_kib"] = (current - base) / 1024
        client.get_driver().close()
        session.close()
    out["import"] = import_time(backend)
    out["version"] = wechatpay_chain.__version__
    return out


def import_time(backend: str, runs: int = 10) -> Dict[str, Any]:
    """`import wechatpay_chain` in fresh interpreters: median ms, and whether aiohttp came along."""
    code = (
        "import time, sys; t = time.perf_counter(); import wechatpay_chain; "
        "print((time.perf_counter() - t) * 1e3, 'aiohttp' in sys.modules, 'Crypto.PublicKey.RSA' in sys.modules)"
    )
    # bytecode written once and then used, as for an installed package (a shell with PYTHONDONTWRITEBYTECODE=1
    # would otherwise recompile every module of an editable install in each run: ~40 ms)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env[ENV_VAR] = backend
    subprocess.run([sys.executable, "-c", "import wechatpay_chain"], env=env, cwd=ROOT, check=True)
    times: List[float] = []
    aiohttp_loaded = pycryptodome_rsa = False
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                              check=True)
        ms, aio, pcd = done.stdout.split()
        times.append(float(ms))
        aiohttp_loaded |= aio == "True"
        pycryptodome_rsa |= pcd == "True"
    return {"ms": statistics.median(times), "min_ms": min(times), "aiohttp_imported": aiohttp_loaded,
            "pycryptodome_rsa_imported": pycryptodome_rsa}


def profile(calls: int, kind: str = "sync", top: int = 15) -> str:
    """cProfile of `calls` seed calls (`sync` post, `async` post_async, or `no-network` post through a `handler`)
    against the static server: top functions by cumulative and by own time."""
    from wechatpay_chain import Builder
    from wechatpay_chain.models import Response

    payload = seed_payload()
    with Server() as server:
        canned = Response.build(200, signed_headers(), RESPONSE_BODY)
        extra = {"handler": lambda request: canned} if kind == "no-network" else {}
        client = Builder.factory(client_config(server.base_uri, extra))
        node = client.v3.payrollCard.authentications.preOrderWithAuth
        prof = cProfile.Profile()

        async def run_async() -> float:
            for _ in range(50):
                await node.post_async(json=payload)
            t0 = time.perf_counter()
            prof.enable()
            for _ in range(calls):
                await node.post_async(json=payload)
            prof.disable()
            wall = time.perf_counter() - t0
            await client.get_driver().close_async()
            return wall

        if kind == "async":
            wall = asyncio.run(run_async())
        else:
            for _ in range(50):
                node.post(json=payload)
            t0 = time.perf_counter()
            prof.enable()
            for _ in range(calls):
                node.post(json=payload)
            prof.disable()
            wall = time.perf_counter() - t0
        client.get_driver().close()
    stream = io.StringIO()
    stats = pstats.Stats(prof, stream=stream)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return f"{calls} {kind} calls, {wall / calls * 1e6:.0f} µs/call under the profiler\n" + stream.getvalue()


#: the issue's targets: (a) sync and (b) async SDK / (bare HTTP call + floor), (c) no network / floor
TARGET_HTTP = 1.10
TARGET_NO_NETWORK = 1.15


def derive(r: Dict[str, Any]) -> Dict[str, float]:
    b = r["rsa_direct"]["us"]
    d = {
        "baseline_sync": r["adapter_send"]["us"] + b,
        "baseline_async": r["aiohttp_post"]["us"] + b,
    }
    d["ratio_sync"] = r["sdk_sync"]["us"] / d["baseline_sync"]
    d["ratio_async"] = r["sdk_async"]["us"] / d["baseline_async"]
    d["no_network_over_floor"] = r["sdk_no_network"]["us"] / b
    d["overhead_sync_us"] = r["sdk_sync"]["us"] - d["baseline_sync"]
    d["overhead_async_us"] = r["sdk_async"]["us"] - d["baseline_async"]
    d["overhead_no_network_us"] = r["sdk_no_network"]["us"] - b
    d["ratio_sync_one_call"] = r["sdk_sync"]["us"] / r["adapter_send_floor"]["us"]
    d["ratio_async_one_call"] = r["sdk_async"]["us"] / r["aiohttp_post_floor"]["us"]
    return d


def report(results: List[Dict[str, Any]]) -> str:
    rows: List[List[Any]] = []
    names = [r["backend"] for r in results]

    def row(label: str, get: Callable[[Dict[str, Any]], Any]) -> None:
        rows.append([label, *[get(r) for r in results]])

    us = "µs"
    row(f"SDK post (requests), {us}", lambda r: r["sdk_sync"]["us"])
    row(f"SDK post_async (aiohttp), {us}", lambda r: r["sdk_async"]["us"])
    row(f"SDK no network (handler), {us}", lambda r: r["sdk_no_network"]["us"])
    row(f"bare requests adapter.send(prepared) + read, {us}", lambda r: r["adapter_send"]["us"])
    row(f"  (reference) requests Session.send(prepared), {us}", lambda r: r["session_send"]["us"])
    row(f"bare aiohttp session.post + read, {us}", lambda r: r["aiohttp_post"]["us"])
    row(f"floor: RSA work direct, {us}", lambda r: r["rsa_direct"]["us"])
    row(f"  Rsa.sign (through the SDK), {us}", lambda r: r["rsa_parts"]["sign"])
    row(f"  Rsa.verify (through the SDK), {us}", lambda r: r["rsa_parts"]["verify"])
    row(f"  Rsa.encrypt OAEP (through the SDK), {us}", lambda r: r["rsa_parts"]["oaep_encrypt"])
    row(f"baseline sync = adapter.send + floor, {us}", lambda r: derive(r)["baseline_sync"])
    row(f"baseline async = aiohttp post + floor, {us}", lambda r: derive(r)["baseline_async"])
    row(f"SDK sync over its baseline, {us}", lambda r: derive(r)["overhead_sync_us"])
    row(f"SDK async over its baseline, {us}", lambda r: derive(r)["overhead_async_us"])
    row(f"SDK no network over the floor, {us}", lambda r: derive(r)["overhead_no_network_us"])
    row("(a) sync post / baseline sync", lambda r: verdict(derive(r)["ratio_sync"], TARGET_HTTP))
    row("(b) post_async / baseline async", lambda r: verdict(derive(r)["ratio_async"], TARGET_HTTP))
    row("(c) no network / floor", lambda r: verdict(derive(r)["no_network_over_floor"], TARGET_NO_NETWORK))
    row(f"  (reference) adapter.send + floor in one call, {us}", lambda r: r["adapter_send_floor"]["us"])
    row(f"  (reference) aiohttp post + floor in one call, {us}", lambda r: r["aiohttp_post_floor"]["us"])
    row("  (reference) sync post / one-call baseline", lambda r: derive(r)["ratio_sync_one_call"])
    row("  (reference) post_async / one-call baseline", lambda r: derive(r)["ratio_async_one_call"])
    row("other processes' CPU meanwhile, cores", lambda r: r["other_load_cores"])
    row("cached chain hop, ns", lambda r: r["chain_hop_ns"])
    row("cached 4-hop walk, ns", lambda r: r["chain_walk4_ns"])
    row("import wechatpay_chain, ms (median of 10)", lambda r: r["import"]["ms"])
    row("aiohttp imported by the import", lambda r: r["import"]["aiohttp_imported"])
    row("peak memory over 1,000 sync calls, KiB", lambda r: r["mem_peak_kib"])
    row("retained after 1,000 sync calls, KiB", lambda r: r["mem_retained_kib"])
    text = table(rows, ["per request (median of round medians)", *names])

    def spread(r: Dict[str, Any], key: str) -> str:
        return f"{r[key]['min_us']:.0f}-{r[key]['max_us']:.0f}"

    spreads = "\n".join(
        f"  {r['backend']}: sync {spread(r, 'sdk_sync')}, async {spread(r, 'sdk_async')}, no network "
        f"{spread(r, 'sdk_no_network')}, adapter.send {spread(r, 'adapter_send')}, aiohttp "
        f"{spread(r, 'aiohttp_post')}, floor {spread(r, 'rsa_direct')} µs"
        for r in results
    )
    first = results[0]
    busy = [r["backend"] for r in results if r["other_load_cores"] > 0.1]
    warn = (f"\nWARNING: other processes used CPU during the timed part ({', '.join(busy)}): not comparable figures"
            if busy else "")
    return f"{text}\n\nspread of the {first['rounds']} round medians ({first['n']} calls each):\n{spreads}{warn}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("all", *BACKENDS), default="all",
                        help="'all' runs each backend in its own child process (WECHATPAY_CHAIN_CRYPTO)")
    parser.add_argument("-n", type=int, default=300, help="timed calls per round (default 300)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the figure is the median of round medians")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--json", help="write the results as JSON to this file")
    parser.add_argument("--profile", type=int, metavar="CALLS", help="print a cProfile of CALLS calls instead")
    parser.add_argument("--profile-call", choices=("sync", "async", "no-network"), default="sync",
                        help="what --profile runs: post, post_async, or post through a `handler` (default sync)")
    args = parser.parse_args()

    if args.profile:
        print(profile(args.profile, args.profile_call))
        return
    if args.backend != "all":
        if os.environ.get(ENV_VAR) != args.backend:  # the backend is chosen at import: re-exec with the env var
            env = {**os.environ, ENV_VAR: args.backend}
            sys.exit(subprocess.call([sys.executable, *sys.argv], env=env))
        result = run_backend(args.n, args.warmup, args.rounds)
        results = [result]
    else:
        results = []
        for backend in BACKENDS:
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
                path = tmp.name
            cmd = [sys.executable, __file__, "--backend", backend, "-n", str(args.n), "--rounds", str(args.rounds),
                   "--warmup", str(args.warmup), "--json", path]
            subprocess.run(cmd, env={**os.environ, ENV_VAR: backend}, check=True, stdout=subprocess.DEVNULL)
            results.append(json.loads(Path(path).read_text(encoding="utf-8")))
            os.unlink(path)
    derived = {r["backend"]: derive(r) for r in results}
    data: Dict[str, Any] = {"machine": versions(), "results": results, "derived": derived}
    write_json(args.json, data if args.backend == "all" else result)
    if args.backend == "all" or not args.json:
        print(report(results))
        print("\n" + ", ".join(f"{k} {v}" for k, v in data["machine"].items()))


if __name__ == "__main__":
    main()
