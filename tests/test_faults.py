"""Every fault the sandbox can inject, through `post` and `post_async`: the documented typed error, within
the timeout, and the same client (same pool, same event loop) keeps working afterwards. Then retries
against the real loopback server: a 5xx is retried with a fresh signature, a forged answer never is."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Type

import pytest
import requests

from tests.support import seed_body, unique
from wechatpay_chain.errors import (
    ApiError,
    ClientError,
    ServerError,
    TransportError,
    VerificationError,
    WeChatPayError,
)
from wechatpay_chain.sandbox import Sandbox
from wechatpay_chain.sandbox._protocol import Endpoint, Reply, json_reply, parse_authorization

SEED = "v3/payroll-card/authentications/pre-order-with-auth"
SEED_PATH = "/" + SEED
HUGE_UNSIGNED = "/v3/reliability/huge-unsigned"
HUGE = 5_000_000
TIMEOUT = 0.5
MARGIN = 0.5
HEADERS = ("Wechatpay-Nonce", "Wechatpay-Serial", "Wechatpay-Signature", "Wechatpay-Timestamp")
SIGNATURE_TYPE = ("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")


seed = seed_body


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """A sandbox of our own (faults are global to a sandbox), plus one route that answers 5 MB unsigned."""
    with Sandbox() as box:

        def huge_unsigned(call: Any) -> Reply:
            reply = json_reply({"data": "x" * (HUGE - len(b'{"data":""}'))})
            reply.signed = False
            return reply

        box.router.endpoints.append(Endpoint("GET", HUGE_UNSIGNED, huge_unsigned))
        yield box


class Caller:
    """One client driven through `post` (sync) or `post_async` on ONE event loop kept for the whole test,
    so that "the pool is not poisoned" is checked on the very session that saw the fault."""

    def __init__(self, mode: str, client: Any) -> None:
        self.mode, self.client = mode, client
        self.loop: Optional[asyncio.AbstractEventLoop] = asyncio.new_event_loop() if mode == "async" else None

    def __call__(self, node: Any, verb: str, **kw: Any) -> Any:
        if self.loop is None:
            return getattr(node, verb)(**kw)
        return self.loop.run_until_complete(getattr(node, f"{verb}_async")(**kw))

    def seed(self) -> Any:
        return self(self.client[SEED], "post", json=seed(unique("ok")))

    def close(self) -> None:
        driver = self.client.get_driver()
        if self.loop is None:
            driver.close()
            return
        try:
            self.loop.run_until_complete(driver.close_async())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


@pytest.fixture(params=["sync", "async"])
def through(request: pytest.FixtureRequest, sb: Sandbox) -> Iterator[Callable[..., Caller]]:
    """through(**client_overrides) -> a Caller; every Caller made is closed and the faults cleared."""
    made: List[Caller] = []

    def make(**overrides: Any) -> Caller:
        caller = Caller(request.param, sb.client(**overrides))
        made.append(caller)
        return caller

    try:
        yield make
    finally:
        sb.clear_faults()
        for caller in made:
            caller.close()


@dataclass
class Scenario:
    id: str
    fault: str
    params: Dict[str, Any] = field(default_factory=dict)
    error: Optional[Type[WeChatPayError]] = None  # None: the answer is accepted
    says: str = ""  # a piece of the error message
    check: Optional[Callable[[Any], None]] = None  # more assertions on the error (or the response)

    def __str__(self) -> str:
        return self.id


def _kind(kind: str) -> Callable[[Any], None]:
    def check(exc: Any) -> None:
        assert exc.kind == kind, exc
        assert exc.__cause__ is not None  # the underlying transport exception is chained

    return check


def _api(status: int, code: Optional[str]) -> Callable[[Any], None]:
    def check(exc: Any) -> None:
        assert exc.status_code == status and exc.code == code
        assert exc.response is not None and exc.response.status_code == status
        assert exc.request_id  # the evidence to quote to WeChat Pay support

    return check


def _verification(exc: Any) -> None:
    assert exc.response is not None  # the evidence travels with the error, never as a success
    assert exc.probe is False  # a forgery, a tampered answer or a setup problem: not WeChat Pay's probe


def _probe(exc: Any) -> None:
    assert exc.response is not None and exc.probe is True
    assert "refusing it is correct" in str(exc)


SCENARIOS = [
    Scenario("bad_signature", "bad_signature", {}, VerificationError, "does not verify", _verification),
    Scenario("probe", "probe", {}, VerificationError, "WeChat Pay signature probe", _probe),
    *[
        Scenario(f"missing_{h}", "missing_header", {"name": h}, VerificationError, f"missing header(s) {h}",
                 _verification)
        for h in HEADERS
    ],
    Scenario("missing_Wechatpay-Signature-Type", "missing_header", {"name": SIGNATURE_TYPE[0]}),  # optional
    Scenario("tampered_body", "tampered_body", {}, VerificationError, "does not verify", _verification),
    Scenario("unknown_serial", "unknown_serial", {}, VerificationError, "not a known platform serial",
             _verification),
    Scenario("skew+400", "clock_skew", {"seconds": 400}, VerificationError, "beyond ±300s", _verification),
    Scenario("skew-400", "clock_skew", {"seconds": -400}, VerificationError, "beyond ±300s", _verification),
    Scenario("skew+240", "clock_skew", {"seconds": 240}),
    Scenario("skew-240", "clock_skew", {"seconds": -240}),
    Scenario("status500", "status", {"code": 500}, ServerError, "SYSTEM_ERROR", _api(500, "SYSTEM_ERROR")),
    Scenario("status502", "status", {"code": 502}, ServerError, "SYSTEM_ERROR", _api(502, "SYSTEM_ERROR")),
    Scenario("status503", "status", {"code": 503}, ServerError, "SYSTEM_ERROR", _api(503, "SYSTEM_ERROR")),
    Scenario("status429", "status", {"code": 429}, ClientError, "INVALID_REQUEST", _api(429, "INVALID_REQUEST")),
    Scenario("drop", "drop", {}, TransportError, "failed", _kind("read")),
    Scenario("truncate", "truncate", {"missing": 64}, TransportError, "failed", _kind("read")),
    Scenario("truncate1", "truncate", {"missing": 1}, TransportError, "failed", _kind("read")),
    Scenario("non_json200", "non_json", {"status": 200}, VerificationError, "not signed", _verification),
    Scenario("non_json502", "non_json", {"status": 502}, ServerError, "502", _api(502, None)),
    Scenario("huge_signed", "huge", {"size": HUGE}),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_fault_gives_the_documented_error_then_the_client_recovers(
    sb: Sandbox, through: Callable[..., Caller], scenario: Scenario
) -> None:
    call = through(timeout=5)
    assert call.seed().status_code == 200  # a pooled connection exists before the fault
    sb.inject(scenario.fault, path=SEED_PATH, **scenario.params)
    if scenario.error is None:
        response = call.seed()
        assert response.status_code == 200
        if scenario.fault == "huge":
            assert len(response.content) == HUGE and response.json()["data"][:3] == "xxx"
    else:
        with pytest.raises(scenario.error) as info:
            call.seed()
        assert scenario.says in str(info.value)
        assert scenario.check is not None
        scenario.check(info.value)
    assert len(sb.faults) == 0  # consumed by exactly the one request it broke
    for _ in range(3):  # same client, same pool (and, async, same loop/session): not poisoned
        assert call.seed().status_code == 200


@pytest.mark.parametrize("fault, params, present", [
    ("missing_header", {"name": "Wechatpay-Signature-Type"}, False),
    ("missing_header", {"name": "wechatpay-signature-type"}, False),
    ("missing_header", {}, True),  # the signature goes, its type stays: exactly the one header asked for is missing
    ("missing_header", {"name": "Wechatpay-Nonce"}, True),
    ("bad_signature", {}, True),
    ("probe", {}, True),
    ("tampered_body", {}, True),
    ("unknown_serial", {}, True),
    ("clock_skew", {"seconds": 240}, True),
    ("status", {"code": 500}, True),  # a signed error answer
    ("huge", {"size": 2000}, True),
    ("non_json", {"status": 502}, False),  # a gateway page: no signature, no type
], ids=str)
def test_signature_type_under_each_fault(sb: Sandbox, fault: str, params: Dict[str, Any], present: bool) -> None:
    """Every answer carrying Wechatpay-Signature carries Wechatpay-Signature-Type (it never did), and
    missing_header(name=...) can still take it away."""
    url = sb.base_uri + SEED
    assert requests.post(url, json={}, timeout=5).headers.get(SIGNATURE_TYPE[0]) == SIGNATURE_TYPE[1]  # signed 401
    sb.inject(fault, path=SEED_PATH, **params)
    try:
        r = requests.post(url, json={}, timeout=5)
    finally:
        sb.clear_faults()
    assert r.headers.get(SIGNATURE_TYPE[0]) == (SIGNATURE_TYPE[1] if present else None), dict(r.headers)
    if fault != "missing_header":
        assert ("Wechatpay-Signature" in r.headers) == present


def test_the_client_gets_the_signature_type(sb: Sandbox, through: Callable[..., Caller]) -> None:
    """Through `post` and `post_async`: the verified response shows the type the real service sends."""
    assert through(timeout=5).seed().headers[SIGNATURE_TYPE[0]] == SIGNATURE_TYPE[1]


def test_slow_answer_times_out_within_the_timeout(sb: Sandbox, through: Callable[..., Caller]) -> None:
    call = through(timeout=TIMEOUT)
    assert call.seed().status_code == 200
    sb.inject("delay", path=SEED_PATH, seconds=5.0)
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        call.seed()
    elapsed = time.monotonic() - started
    assert info.value.kind == "timeout", info.value
    assert TIMEOUT * 0.8 <= elapsed < TIMEOUT + MARGIN, elapsed
    for _ in range(3):
        assert call.seed().status_code == 200


def test_per_call_timeout_option_wins(sb: Sandbox, through: Callable[..., Caller]) -> None:
    call = through(timeout=30)
    sb.inject("delay", path=SEED_PATH, seconds=5.0)
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        call(call.client[SEED], "post", json=seed(unique("t")), timeout=(2.0, TIMEOUT))
    assert info.value.kind == "timeout" and time.monotonic() - started < TIMEOUT + MARGIN
    assert call.seed().status_code == 200


def test_delay_within_the_timeout_is_accepted(sb: Sandbox, through: Callable[..., Caller]) -> None:
    call = through(timeout=2)
    sb.inject("delay", path=SEED_PATH, seconds=0.3)
    assert call.seed().status_code == 200


def test_huge_unsigned_answer_is_refused(sb: Sandbox, through: Callable[..., Caller]) -> None:
    call = through(timeout=5)
    node = call.client[HUGE_UNSIGNED.lstrip("/")]
    with pytest.raises(VerificationError) as info:
        call(node, "get")
    assert "not signed" in str(info.value)
    assert len(info.value.response.content) == HUGE  # read whole, then refused: never returned as success
    assert call.seed().status_code == 200


def test_nothing_listening_is_a_connect_error(sb: Sandbox, through: Callable[..., Caller]) -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago and has no listener now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    call = through(timeout=2, base_uri=f"http://127.0.0.1:{port}/")
    with pytest.raises(TransportError) as info:
        call.seed()
    assert info.value.kind == "connect" and info.value.__cause__ is not None


def test_every_fault_kind_is_covered() -> None:
    from wechatpay_chain.sandbox import FAULTS

    covered = {s.fault for s in SCENARIOS} | {"delay"}
    assert covered == set(FAULTS)


# -- retries against the loopback server ---------------------------------------------------------------
def _nonces(sb: Sandbox) -> Tuple[List[str], List[str]]:
    seen = list(sb.requests)
    auths = [parse_authorization(r.headers.get("Authorization")) for r in seen]
    return [a["nonce_str"] for a in auths], [a["timestamp"] for a in auths]


RETRY = {"total": 2, "backoff": 0}


def test_5xx_is_retried_with_a_fresh_signature(sb: Sandbox, through: Callable[..., Caller]) -> None:
    call = through(timeout=5, retries=RETRY)
    sb.inject("status", path=SEED_PATH, code=500, times=1)
    sb.requests.clear()  # a bounded deque: count from empty
    number = unique("retry")
    response = call(call.client[SEED], "post", json=seed(number))
    assert response.status_code == 200
    nonces, _ = _nonces(sb)
    assert len(nonces) == 2 and len(set(nonces)) == 2
    first, second = list(sb.requests)
    assert first.body == second.body  # built (and encrypted) once, signed per attempt
    assert second.decrypted == {"user_name": "张三", "id_card_number": "110101199003071234"}


def test_exhausted_retries_raise_the_last_5xx(sb: Sandbox, through: Callable[..., Caller]) -> None:
    call = through(timeout=5, retries=RETRY)
    sb.inject("status", path=SEED_PATH, code=503, times=3)
    sb.requests.clear()  # a bounded deque: count from empty
    with pytest.raises(ServerError) as info:
        call.seed()
    assert info.value.status_code == 503 and len(sb.requests) == 3
    assert call.seed().status_code == 200


def test_timeout_is_retried_when_asked(sb: Sandbox, through: Callable[..., Caller]) -> None:
    call = through(timeout=TIMEOUT, retries=RETRY)
    sb.inject("delay", path=SEED_PATH, seconds=3.0, times=1)
    sb.requests.clear()  # a bounded deque: count from empty
    assert call.seed().status_code == 200
    nonces, _ = _nonces(sb)
    assert len(nonces) == 2 and len(set(nonces)) == 2


def test_dropped_answer_is_not_retried_by_default(sb: Sandbox, through: Callable[..., Caller]) -> None:
    call = through(timeout=5, retries=RETRY)  # 'read' is not in the default `on`: the service may have acted
    sb.inject("drop", path=SEED_PATH, times=1)
    sb.requests.clear()  # a bounded deque: count from empty
    with pytest.raises(TransportError) as info:
        call.seed()
    assert info.value.kind == "read" and len(sb.requests) == 1


@pytest.mark.parametrize("fault,params", [("bad_signature", {}), ("probe", {}), ("tampered_body", {}),
                                          ("unknown_serial", {}),
                                          ("clock_skew", {"seconds": -900}), ("non_json", {"status": 200})])
def test_failed_verification_is_never_retried(
    sb: Sandbox, through: Callable[..., Caller], fault: str, params: Dict[str, Any]
) -> None:
    call = through(timeout=5, retries=RETRY)
    sb.inject(fault, path=SEED_PATH, times=3, **params)
    sb.requests.clear()  # a bounded deque: count from empty
    with pytest.raises(VerificationError):
        call.seed()
    assert len(sb.requests) == 1
    sb.clear_faults()
    assert call.seed().status_code == 200


def test_4xx_business_errors_are_not_retried(sb: Sandbox, through: Callable[..., Caller]) -> None:
    call = through(timeout=5, retries=RETRY)
    sb.inject("status", path=SEED_PATH, code=400, times=3)
    sb.requests.clear()  # a bounded deque: count from empty
    with pytest.raises(ApiError) as info:
        call.seed()
    assert info.value.status_code == 400 and len(sb.requests) == 1


@pytest.mark.parametrize(
    "kind, params", [("status", {"code": "abc"}), ("status", {"code": 42}), ("delay", {"seconds": "x"}),
                     ("truncate", {"missing": -1}), ("huge", {"size": 1.5}), ("missing_header", {"name": 5})]
)
def test_a_fault_with_a_bad_parameter_is_refused_when_injected(sandbox: Any, kind: str, params: Any) -> None:
    """It was accepted and broke the next answer with aiohttp's plain-text 500 and a server traceback."""
    with pytest.raises(ValueError, match="must be like"):
        sandbox.inject(kind, **params)
    sandbox.clear_faults()


def test_the_sandbox_command_refuses_a_port_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    from wechatpay_chain.cli import main

    with pytest.raises(SystemExit) as info:
        main(["sandbox", "--port", "99999"])
    assert info.value.code == 2 and "not a port" in capsys.readouterr().err
