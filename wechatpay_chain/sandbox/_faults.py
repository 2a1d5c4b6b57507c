"""Fault injection: `Sandbox.inject(kind, times=1, path=None, **params)` breaks the next matching answers.

Signature faults rewrite a correctly signed answer ('probe': WeChat Pay's `WECHATPAY/SIGNTEST/` signature
probe); transport faults replace it (5xx, delays, dropped or truncated bodies, a gateway page, a huge body).
Each fault is consumed by the requests it breaks.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

from wechatpay_chain.sandbox._protocol import Reply, error_reply, json_reply

__all__ = [
    "Fault", "FaultBook", "KINDS", "REWRITES", "PROBE_PREFIX", "probe_signature", "prepare_reply", "rewrite",
    "stream_broken", "Resign",
]

#: kind -> default params (the only params it accepts)
KINDS: Dict[str, Dict[str, Any]] = {
    "bad_signature": {},
    "probe": {},
    "tampered_body": {},
    "unknown_serial": {},
    "missing_header": {"name": "Wechatpay-Signature"},
    "clock_skew": {"seconds": 600},
    "status": {"code": 500},
    "delay": {"seconds": 1.0},
    "drop": {},
    "truncate": {"missing": 64},
    "non_json": {"status": 200},
    "huge": {"size": 1_000_000},
}
#: faults applied to the correctly signed answer (the endpoint still runs)
REWRITES = frozenset({"bad_signature", "probe", "tampered_body", "unknown_serial", "missing_header", "clock_skew"})
Resign = Callable[[bytes, int, str], str]
#: WeChat Pay's signature probe: a signature starting so is forged on purpose, to see that the merchant refuses it
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"


def probe_signature() -> str:
    """A `Wechatpay-Signature` as WeChat Pay's probe sends it: the prefix, then base64 of random bytes."""
    return PROBE_PREFIX + base64.b64encode(secrets.token_bytes(256)).decode("ascii")


@dataclass
class Fault:
    kind: str
    times: Optional[int] = 1
    path: Optional[str] = None
    params: Dict[str, Any] = field(default_factory=dict)

    def matches(self, path: str) -> bool:
        """`path` None matches everything; else a prefix ('v3/pay') or a glob ('/v3/*/tokens') of the request path."""
        if self.path is None:
            return True
        want = "/" + self.path.lstrip("/")
        return fnmatch.fnmatchcase(path, want) if any(c in want for c in "*?[") else path.startswith(want)


class FaultBook:
    """Thread-safe: tests inject from their thread while the sandbox loop consumes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: List[Fault] = []

    def add(self, kind: str, times: Optional[int], path: Optional[str], params: Mapping[str, Any]) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(KINDS)}")
        unknown = set(params) - set(KINDS[kind])
        if unknown:
            takes = ", ".join(KINDS[kind]) or "no params"
            raise ValueError(f"fault {kind!r} takes {takes}, not {', '.join(sorted(unknown))}")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive int, or None for 'until clear_faults()'")
        for name, value in params.items():  # each param has its default's type: a bad one fails here, not mid-answer
            default = KINDS[kind][name]
            signed = kind == "clock_skew"  # a skew may go either way; counts, sizes and delays may not
            ok = isinstance(value, str) if isinstance(default, str) else (
                isinstance(value, (int, float)) and not isinstance(value, bool) and (signed or value >= 0)
                and (isinstance(value, int) or not isinstance(default, int)))
            if name == "code" and ok:
                ok = 100 <= value <= 599
            if not ok:
                raise ValueError(f"fault {kind!r}: {name}={value!r} must be like {default!r}")
        fault = Fault(kind, times, path, {**KINDS[kind], **params})
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, path: str) -> Optional[Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.matches(path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> int:
        """Forget every fault; how many there were."""
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
        return count

    def snapshot(self) -> List[Fault]:
        """Copies of the faults still waiting, in the order they apply."""
        with self._lock:
            return [Fault(f.kind, f.times, f.path, dict(f.params)) for f in self._faults]

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)


def prepare_reply(fault: Fault) -> Optional[Reply]:
    """The replacement answer for 'status', 'non_json' and 'huge' (None for the other kinds)."""
    p = fault.params
    if fault.kind == "status":
        code = int(p["code"])
        if code >= 500:
            return error_reply(code, "SYSTEM_ERROR", "系统错误")
        return error_reply(code, "INVALID_REQUEST", "沙箱注入的错误")
    if fault.kind == "non_json":
        page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
        return Reply(int(p["status"]), page, "text/html", signed=False)
    if fault.kind == "huge":
        size = int(p["size"])
        filler = max(0, size - len(b'{"data":""}'))
        return json_reply({"data": "x" * filler})
    return None


def rewrite(fault: Fault, headers: Dict[str, str], body: bytes, resign: Resign) -> bytes:
    """Break a correctly signed answer in place (headers) and return the body to send."""
    if fault.kind == "bad_signature" and "Wechatpay-Signature" in headers:
        ts, nonce = int(headers["Wechatpay-Timestamp"]), headers["Wechatpay-Nonce"]
        headers["Wechatpay-Signature"] = resign(body + b" forged", ts, nonce)
    elif fault.kind == "probe" and "Wechatpay-Signature" in headers:
        headers["Wechatpay-Signature"] = probe_signature()
    elif fault.kind == "tampered_body":
        if body.endswith(b"}"):  # APIv3 JSON: the signed bytes change
            body = body[:-1] + b',"tampered":true}'
        elif body.rstrip().endswith(b"</xml>"):  # APIv2: the signed fields change
            body = body.rstrip()[:-6] + b"<tampered>1</tampered></xml>"
        else:
            body += b" "
    elif fault.kind == "unknown_serial" and "Wechatpay-Serial" in headers:
        headers["Wechatpay-Serial"] = "PUB_KEY_ID_0100000000000000000000000000"
    elif fault.kind == "missing_header":
        for name in [h for h in headers if h.lower() == str(fault.params["name"]).lower()]:
            del headers[name]
    elif fault.kind == "clock_skew" and "Wechatpay-Timestamp" in headers:
        ts = int(headers["Wechatpay-Timestamp"]) + int(fault.params["seconds"])
        headers["Wechatpay-Timestamp"] = str(ts)
        headers["Wechatpay-Signature"] = resign(body, ts, headers["Wechatpay-Nonce"])
    return body


async def stream_broken(request: Any, fault: Fault, status: int, headers: Mapping[str, str], body: bytes) -> Any:
    """'drop': headers then half the body, then the connection closes; 'truncate': Content-Length too big."""
    from aiohttp import web

    resp = web.StreamResponse(status=status, headers=headers)
    if fault.kind == "drop":
        resp.content_length, sent = len(body), body[: len(body) // 2]
    else:
        resp.content_length, sent = len(body) + int(fault.params["missing"]), body
    await resp.prepare(request)
    await resp.write(sent)
    await asyncio.sleep(0.01)
    request.transport.close()
    return resp
