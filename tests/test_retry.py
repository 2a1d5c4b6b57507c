"""Opt-in retries and the async RSA thread pool, through both drivers, with a handler transport."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from typing import Any, List

import pytest

from tests.support import Recorder
from tests.test_core import GOOD, MODES, call, make, signed
from wechatpay_chain import InvalidArgumentError, ServerError, TransportError, VerificationError
from wechatpay_chain.models import Response
from wechatpay_chain.protocol._retry import Retry

NO_WAIT = Retry(total=2, backoff=0, random=lambda: 0.0)


def nonces() -> Any:
    counter = itertools.count()
    return lambda: f"NONCE{next(counter):027d}"


def busy() -> Response:
    return signed(json.dumps({"code": "SYSTEM_ERROR", "message": "系统繁忙"}).encode(), 500)


@MODES
def test_connect_failure_is_retried_with_a_fresh_signature(mode: str) -> None:
    script = Recorder(queue=[TransportError("refused", "connect"), signed(GOOD)])
    client = make(script, retries=NO_WAIT, nonce=nonces(), backup_base_uri=None)  # a retry, not a failover
    assert call(client.v3.x, "post", mode, json={"out_trade_no": "A1"}).status_code == 200
    first, second = script.requests
    assert first.url == second.url
    assert first.body == second.body
    assert first.headers["Authorization"] != second.headers["Authorization"]
    assert 'nonce_str="NONCE000000000000000000000000000"' in first.headers["Authorization"]
    assert 'nonce_str="NONCE000000000000000000000000001"' in second.headers["Authorization"]


@MODES
def test_system_error_is_retried_then_succeeds(mode: str) -> None:
    script = Recorder(queue=[busy(), signed(GOOD, 429), signed(GOOD)])
    assert call(make(script, retries=NO_WAIT).v3.x, "get", mode).status_code == 200
    assert len(script.requests) == 3


@MODES
def test_exhausted_retries_raise_the_last_error(mode: str) -> None:
    script = Recorder(queue=[busy(), busy(), busy()])
    with pytest.raises(ServerError) as info:
        call(make(script, retries=NO_WAIT).v3.x, "get", mode)
    assert info.value.code == "SYSTEM_ERROR" and len(script.requests) == 3


@MODES
def test_failed_verification_is_never_retried(mode: str) -> None:
    forged = Response.build(200, signed(GOOD).headers, b'{"ok":false}')
    script = Recorder(queue=[forged, signed(GOOD)])
    with pytest.raises(VerificationError):
        call(make(script, retries=NO_WAIT).v3.x, "get", mode)
    assert len(script.requests) == 1


@MODES
def test_only_the_chosen_failures_are_retried(mode: str) -> None:
    script = Recorder(queue=[TransportError("read timed out", "timeout"), signed(GOOD)])
    policy = Retry(total=2, backoff=0, on=frozenset({"connect"}), random=lambda: 0.0)
    with pytest.raises(TransportError):
        call(make(script, retries=policy).v3.x, "get", mode)
    assert len(script.requests) == 1


def test_off_by_default() -> None:
    script = Recorder(queue=[busy(), signed(GOOD)])
    with pytest.raises(ServerError):
        make(script).v3.x.get()
    assert len(script.requests) == 1


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = Retry(total=5, backoff=0.5, max_backoff=2.0, random=lambda: 1.0)
    assert [policy.delay(a) for a in range(4)] == [0.5, 1.0, 2.0, 2.0]
    assert Retry(random=lambda: 0.0).delay(3) == 0.0


@pytest.mark.parametrize("bad", [-1, "3", {"total": 1, "tries": 2}, {"on": ["sometimes"]}, {"total": -1}])
def test_bad_retry_config(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="retries"):
        make(retries=bad)


def test_retry_config_forms() -> None:
    assert make(retries=3).get_driver().config.retry.total == 3
    cfg = make(retries={"total": 1, "on": ["connect"], "codes": ["X"]}).get_driver().config.retry
    assert cfg.on == frozenset({"connect"}) and cfg.codes == frozenset({"X"})


def test_crypto_threads_runs_the_sign_off_the_event_loop_and_the_rest_on_it() -> None:
    threads: List[str] = []

    def signer(message: str) -> str:
        threads.append(threading.current_thread().name)
        return "SIG"

    client = make(Recorder(signed(GOOD)), signer=signer, crypto_threads=2)

    async def main() -> None:
        responses = await asyncio.gather(*(client.v3.x.get_async() for _ in range(8)))
        assert all(r.status_code == 200 for r in responses)

    asyncio.run(main())
    assert len(threads) == 8 and all(name.startswith("wechatpay-crypto") for name in threads)
    threads.clear()
    client.v3.x.get()  # the sync driver signs in place
    assert threads == [threading.current_thread().name]
    client.get_driver().close()
    with pytest.raises(InvalidArgumentError, match="crypto_threads"):
        make(crypto_threads=-1)


class SignerDown(Exception):
    pass


@pytest.mark.parametrize("threads", [0, 1])
def test_a_failing_signer_raises_its_own_error_through_every_driver(threads: int) -> None:
    """The offloaded sign raises into the flow at its `yield`, so callers see the signer's exception as is."""
    handler = Recorder(signed(GOOD))
    sent = handler.requests

    def signer(message: str) -> str:
        raise SignerDown("the remote signing service is down")

    client = make(handler, signer=signer, crypto_threads=threads, retries=2)
    with pytest.raises(SignerDown, match="remote signing"):
        client.v3.x.get()
    with pytest.raises(SignerDown, match="remote signing"):
        asyncio.run(client.v3.x.get_async())
    assert sent == []  # nothing half-signed went out, and a signing failure is not retried
    client.get_driver().close()


def test_retry_bounds_are_checked_and_long_runs_do_not_overflow() -> None:
    from wechatpay_chain.protocol._retry import Retry, retry_policy

    many = Retry(total=5000, backoff=0.1, max_backoff=2.0, random=lambda: 1.0)
    assert many.delay(1024) == 2.0 and many.delay(4999) == 2.0  # 1 << 1024 times a float overflowed
    for bad in ({"backoff": float("inf")}, {"max_backoff": float("nan")}, {"total": "3"}, {"total": -1},
                {"backoff": True}):
        with pytest.raises(InvalidArgumentError):
            retry_policy(bad)
    with pytest.raises(InvalidArgumentError):
        retry_policy(Retry(max_backoff=float("inf")))
