"""Load benchmark (not a test): N `post_async` calls at concurrency C against a sandbox in ANOTHER process.

    python bench/load.py                                  # 10,000 seed calls at 200 concurrent, then 10,000 GETs
    python bench/load.py --call get -n 2000
    python bench/load.py --config-extra '{"crypto_threads": 2}'

Starts `wechatpay-chain sandbox --credentials DIR` (python -m wechatpay_chain when the script is not on PATH),
reads its base_uri from the first stdout line, builds a client from the written credentials, and runs:
`seed` = v3/payroll-card/authentications/pre-order-with-auth with 2 Sensitive fields (RSA-OAEP on the client,
RSA decryption on the sandbox), `get` = a query of one existing order (the cheapest signed call). Each call is
verified by the client (a response that does not verify raises). Reports errors by type (must be none), wall
time, calls/s, p50/p99 latency, then runs the same load again under tracemalloc for the peak client memory
(tracing slows Python down, so timing and memory come from separate passes) and ru_maxrss.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from wechatpay_chain import Builder, Rsa, Sensitive  # noqa: E402

SEED = "v3/payroll-card/authentications/pre-order-with-auth"


def start_sandbox(directory: str) -> Tuple[subprocess.Popen[str], str]:
    script = shutil.which("wechatpay-chain", path=os.path.dirname(sys.executable))
    cmd = [script] if script else [sys.executable, "-m", "wechatpay_chain"]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([*cmd, "sandbox", "--credentials", directory], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    base_uri = proc.stdout.readline().strip()
    if not base_uri.startswith("http"):
        proc.kill()
        raise SystemExit(f"the sandbox did not start: {base_uri!r}")
    for line in proc.stdout:
        if "serving" in line:
            break
    return proc, base_uri


def client_config(directory: str, base_uri: str, extra: Dict[str, Any]) -> Dict[str, Any]:
    root = Path(directory)
    info = json.loads((root / "sandbox.json").read_text(encoding="utf-8"))
    return {
        "mchid": info["mchid"], "serial": info["serial"], "base_uri": base_uri,
        "privateKey": Rsa.from_(f"file://{root / 'merchant_key.pem'}"),
        "certs": {info["platform_serial"]: Rsa.from_(f"file://{root / 'platform_public_key.pem'}", "public")},
        "pool_maxsize": 200, **extra,
    }


def seed_payload(i: int) -> Dict[str, Any]:
    return {
        "openid": "onqOjjmo8wmTOOtSKwXtGjg9Gb58", "appid": "wxa1111111", "sub_mchid": "1900000109",
        "sub_appid": "wxa1111111", "authenticate_number": f"load{os.getpid()}x{i}", "project_name": "某项目",
        "employer_name": "某用工企业", "user_name": Sensitive("张三"),
        "id_card_number": Sensitive("110101199003071234"),
        "employment_type": "LONG_TERM_EMPLOYMENT", "authenticate_type": "SIGN_IN",
    }


async def run(client: Any, kind: str, n: int, concurrency: int, out_trade_no: str, mchid: str) -> Dict[str, Any]:
    sem = asyncio.Semaphore(concurrency)
    latencies: List[float] = []
    errors: collections.Counter[str] = collections.Counter()
    seed_node = client[SEED]
    get_node = client.v3.pay.transactions.outTradeNo._out_trade_no_

    async def one(i: int) -> None:
        async with sem:
            started = time.perf_counter()
            try:
                if kind == "seed":
                    r = await seed_node.post_async(json=seed_payload(i))
                else:
                    r = await get_node.get_async(query={"mchid": mchid}, out_trade_no=out_trade_no)
                if r.status_code != 200:
                    errors[f"HTTP {r.status_code}"] += 1
            except Exception as exc:  # noqa: BLE001 - counted by type, the point of the benchmark
                errors[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "calls": n, "concurrency": concurrency, "wall_s": round(wall, 2), "calls_per_s": round(n / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
        "errors": dict(errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10_000, help="calls per pass (default 10000)")
    parser.add_argument("-c", "--concurrency", type=int, default=200)
    parser.add_argument("--call", choices=("seed", "get", "both"), default="both")
    parser.add_argument("--config-extra", default="{}", help="JSON merged into the Builder config")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = parser.parse_args()
    extra = json.loads(args.config_extra)
    kinds = ["seed", "get"] if args.call == "both" else [args.call]

    with tempfile.TemporaryDirectory() as directory:
        proc, base_uri = start_sandbox(directory)
        try:
            config = client_config(directory, base_uri, extra)
            client = Builder.factory(config)
            out_trade_no = f"load{time.time_ns()}"
            client.v3.pay.transactions.native.post(json={
                "appid": "wxd678efh567hg6787", "mchid": config["mchid"], "description": "load",
                "out_trade_no": out_trade_no, "notify_url": "https://x.test/", "amount": {"total": 1}})
            print(f"sandbox {base_uri} (pid {proc.pid}); client config extra {extra}; "
                  f"crypto backend {Rsa.backend}; python {sys.version.split()[0]}", flush=True)
            results: Dict[str, Any] = {}
            for kind in kinds:
                asyncio.run(run(client, kind, min(500, args.n), args.concurrency, out_trade_no, config["mchid"]))
                timing = asyncio.run(run(client, kind, args.n, args.concurrency, out_trade_no, config["mchid"]))
                print(f"{kind}: {json.dumps(timing, ensure_ascii=False)}", flush=True)
                if not args.no_memory:
                    tracemalloc.start()
                    base = tracemalloc.get_traced_memory()[0]
                    traced = asyncio.run(run(client, kind, args.n, args.concurrency, out_trade_no, config["mchid"]))
                    peak = tracemalloc.get_traced_memory()[1] - base
                    tracemalloc.stop()
                    timing["tracemalloc_peak_mib"] = round(peak / 2**20, 1)
                    timing["errors_traced_pass"] = traced["errors"]
                    print(f"{kind}: tracemalloc peak {peak / 2**20:.1f} MiB above the baseline during "
                          f"{args.n} calls at {args.concurrency} concurrent; errors {traced['errors']}", flush=True)
                results[kind] = timing
            maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"client ru_maxrss {maxrss:.0f} MiB", flush=True)
            client.get_driver().close()
            failed = any(r["errors"] or r.get("errors_traced_pass") for r in results.values())
            print(json.dumps({"results": results, "ru_maxrss_mib": round(maxrss), "ok": not failed}), flush=True)
            return 1 if failed else 0
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            if proc.stdout is not None:
                proc.stdout.close()


if __name__ == "__main__":
    raise SystemExit(main())
