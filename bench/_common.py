"""Shared bench helpers: cached keys, the seed call, the static server process, timing and tables."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MCHID = "1900000001"
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD00000001"
PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
SEED_URI = "v3/payroll-card/authentications/pre-order-with-auth"
SEED_PATH = "/" + SEED_URI
RESPONSE_BODY = b'{"mchid":"1900000001","token":"mock-token-abcdefghijklmnop","expires_in":1800}'
KEY_DIR = Path(os.environ.get("WECHATPAY_CHAIN_BENCH_KEYS", Path(tempfile.gettempdir()) / "wechatpay-chain-bench-keys"))
ENV_VAR = "WECHATPAY_CHAIN_CRYPTO"


def key_paths() -> Tuple[Path, Path]:
    """(merchant private key PEM, platform private key PEM), generated once and cached on disk."""
    KEY_DIR.mkdir(parents=True, exist_ok=True)
    paths = KEY_DIR / "merchant_key.pem", KEY_DIR / "platform_key.pem"
    if not all(p.exists() for p in paths):
        from wechatpay_chain import Rsa

        for path in paths:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(Rsa.generate(2048).export_pem(), encoding="ascii")
            tmp.replace(path)
    return paths


def seed_payload() -> Dict[str, Any]:
    """The issue's seed call: 11 JSON fields, 2 of them Sensitive (RSA-OAEP encrypted by the SDK)."""
    from wechatpay_chain import Sensitive

    return {
        "openid": "onqOjjmo8wmTOOtSKwXtGjg9Gb58",
        "appid": "wxa1111111",
        "sub_mchid": "1900000109",
        "sub_appid": "wxa2222222",
        "authenticate_number": "mcdhehfgisdhfjghed39384564i83",
        "project_name": "某项目",
        "user_name": Sensitive("张三"),
        "id_card_number": Sensitive("110101199003078888"),
        "employment_type": "LONG_TERM_EMPLOYMENT",
        "authenticate_type": "NORMAL",
        "employer_name": "某用工企业",
    }


def plain_payload() -> Dict[str, Any]:
    """The same fields as plain strings (for the direct-library baseline's json.dumps)."""
    return {k: (v.reveal() if hasattr(v, "reveal") else v) for k, v in seed_payload().items()}


def client_config(base_uri: str, extra: Optional[Mapping[str, Any]] = None, **more: Any) -> Dict[str, Any]:
    from wechatpay_chain import Rsa

    merchant, platform = key_paths()
    config: Dict[str, Any] = {
        "mchid": MCHID,
        "serial": MERCHANT_SERIAL,
        "privateKey": Rsa.from_(f"file://{merchant}"),
        "certs": {PUB_KEY_ID: Rsa.from_(f"file://{platform}").public_key()},
        "base_uri": base_uri,
    }
    config.update(more)
    config.update(extra or {})
    return config


def signed_headers(body: bytes = RESPONSE_BODY, ts: Optional[int] = None) -> Dict[str, str]:
    """The response headers the static server sends: a valid platform signature over `body`."""
    from wechatpay_chain import Formatter, Rsa

    _, platform = key_paths()
    ts = int(time.time()) if ts is None else ts
    nonce = "BENCHNONCE0123456789ABCDEFGHIJKL"
    sig = Rsa.sign(Formatter.response(str(ts), nonce, body.decode()), Rsa.from_(f"file://{platform}"))
    return {
        "Content-Type": "application/json",
        "Request-ID": "08F78BB5AF0610D302A3E5B40AE1F5C7",
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": PUB_KEY_ID,
        "Wechatpay-Signature": sig,
        "Wechatpay-Timestamp": str(ts),
    }


class Server:
    """`bench/static_server.py` in another process; `with Server() as s: s.base_uri`."""

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen[str]] = None
        self.port = 0

    def __enter__(self) -> Server:
        key_paths()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "static_server.py"), "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"static server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def base_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (Linux /proc; 0.0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid if self.proc else 0}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _busy_seconds() -> float:
    """User + nice + system CPU of the whole machine so far (Linux /proc/stat, all CPUs; 0.0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0
    return (int(fields[1]) + int(fields[2]) + int(fields[3])) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """The CPU other processes used while the block ran, in cores (the machine's user + system CPU less this
    process's and the static server's): figures taken while something else ran are not comparable.

        with OtherLoad(server.cpu_seconds) as other: ...
        other.cores  # 0.02: idle; 0.7: another process took most of a core meanwhile
    """

    def __init__(self, server_cpu: Optional[Callable[[], float]] = None) -> None:
        self.server_cpu = server_cpu
        self.cores = 0.0

    def _ours(self) -> float:
        t = os.times()
        return t.user + t.system + (self.server_cpu() if self.server_cpu is not None else 0.0)

    def __enter__(self) -> OtherLoad:
        self._t0, self._busy0, self._ours0 = time.perf_counter(), _busy_seconds(), self._ours()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._t0
        other = (_busy_seconds() - self._busy0) - (self._ours() - self._ours0)
        self.cores = max(other, 0.0) / wall if wall > 0 else 0.0


def median_ns(fn: Callable[[], Any], n: int, warmup: int, rounds: int = 5) -> Dict[str, float]:
    """Per-call median (µs) over `rounds` rounds of `n` timed calls each, after `warmup` calls."""
    for _ in range(warmup):
        fn()
    medians: List[float] = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        samples = []
        for _ in range(n):
            t0 = clock()
            fn()
            samples.append(clock() - t0)
        medians.append(statistics.median(samples))
    return summarize(medians)


def summarize(medians: Sequence[float]) -> Dict[str, float]:
    """{'us': median of the round medians, 'min_us'/'max_us': the spread of the round medians}."""
    return {
        "us": statistics.median(medians) / 1000,
        "min_us": min(medians) / 1000,
        "max_us": max(medians) / 1000,
    }


def versions() -> Dict[str, str]:
    import platform
    from importlib import metadata

    out = {"python": platform.python_version(), "nproc": str(os.cpu_count()), "machine": platform.machine()}
    for dist in ("wechatpay-chain", "requests", "urllib3", "aiohttp", "pycryptodome", "cryptography"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "-"
    try:  # the package's commit, '+' if wechatpay_chain/ has uncommitted changes
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "wechatpay_chain"], cwd=ROOT, capture_output=True,
                               text=True)
        if head.returncode == 0:
            out["commit"] = head.stdout.strip() + ("+" if dirty.stdout.strip() else "")
    except OSError:
        pass
    try:
        from cryptography.hazmat.backends.openssl import backend

        out["openssl"] = backend.openssl_version_text()
    except Exception:  # noqa: BLE001 - informational only
        pass
    return out


def signed_request(client: Any, payload: Mapping[str, Any]) -> Any:
    """The seed call's signed `Request` as the SDK's flow builds it (the sign offload done in place): the method,
    URL, headers and body a transport is handed, for the bare-HTTP baselines."""
    from wechatpay_chain.models import Offload, Request

    flow = client.get_driver().flow("POST", SEED_URI, {"json": payload}, "bench")
    step = next(flow)
    while isinstance(step, Offload):
        step = flow.send(step.fn(step.arg))
    flow.close()
    assert isinstance(step, Request) and isinstance(step.body, bytes)
    return step


def aiohttp_headers(request: Any) -> Dict[str, str]:
    """The headers the SDK's aiohttp transport sends for `request` (its own addition: Accept-Encoding identity)."""
    headers = dict(request.headers)
    if not any(name.lower() == "accept-encoding" for name in headers):
        headers["Accept-Encoding"] = "identity"
    return headers


def verdict(value: float, limit: float) -> str:
    """'1.04 <= 1.10 ✓' / '1.21 <= 1.10 ✗'."""
    return f"{value:.3f} (≤ {limit:.2f} {'✓' if value <= limit else '✗'})"


def table(rows: Iterable[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain left/right aligned text table."""
    cells = [[str(c) for c in header]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for j, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def write_json(path: Optional[str], data: Any) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
