"""Opt-in retries, as a pure flow step: each attempt is freshly signed; a failed verification is never retried.

WeChat Pay's idempotency makes a retried create safe when the business key is the same
(`out_trade_no`, `out_refund_no`, `out_batch_no`...): the service answers the first order again or
says it already exists; it never books twice. The request body is built (and encrypted) once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, FrozenSet, Mapping, Optional

from wechatpay_chain.errors import InvalidArgumentError, TransportError
from wechatpay_chain.models import Flow, FlowOf, Request, Response, Sleep, origin_of

__all__ = ["Retry", "retry_policy", "attempts", "ready"]

_log = logging.getLogger("wechatpay_chain")



@dataclass(frozen=True)
class Retry:
    """`total` extra attempts; full-jitter exponential backoff; which failures are retried.

    `on`: 'connect' (nothing was sent: always safe), 'timeout' (the service may have acted: safe only
    with the same business key), 'read' (dropped mid-response), 'status' (a `statuses` HTTP code or a
    `codes` error code such as SYSTEM_ERROR / FREQUENCY_LIMITED).
    """

    total: int = 2
    backoff: float = 0.2
    max_backoff: float = 5.0
    on: FrozenSet[str] = frozenset({"connect", "timeout", "status"})
    statuses: FrozenSet[int] = frozenset({429, 500, 502, 503, 504})
    codes: FrozenSet[str] = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED", "SYSTEMERROR", "FREQ_LIMIT"})
    random: Callable[[], float] = field(default=lambda: _random(), repr=False, compare=False)

    def delay(self, attempt: int) -> float:
        return float(self.random()) * min(self.max_backoff, self.backoff * 2.0 ** min(attempt, 64))

    def retries_error(self, exc: TransportError, attempt: int) -> bool:
        return attempt < self.total and exc.kind in self.on

    def retries_response(self, response: Response, attempt: int) -> bool:
        if attempt >= self.total or "status" not in self.on or response.status_code < 400:
            return False
        if response.status_code in self.statuses:
            return True
        try:
            data = response.json()
        except (ValueError, RecursionError):
            return False
        return isinstance(data, dict) and data.get("code") in self.codes


def _random() -> float:
    import random

    return random.random()


_KINDS = {"connect", "timeout", "read", "status"}


def retry_policy(value: Any) -> Optional[Retry]:
    """Config `retries`: None/0 (off, the default), an int (extra attempts), a dict of Retry fields, or a Retry."""
    if value is None or value == 0:
        return None
    if isinstance(value, Retry):
        return _checked(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return Retry(total=value)
    if isinstance(value, Mapping):
        known = {"total", "backoff", "max_backoff", "on", "statuses", "codes"}
        unknown = set(value) - known
        if unknown:
            raise InvalidArgumentError(f"`retries` has unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        fields = dict(value)
        for key in ("on", "statuses", "codes"):
            if key in fields:
                fields[key] = frozenset(fields[key])
        if not set(fields.get("on", ())) <= _KINDS:
            raise InvalidArgumentError(f"`retries['on']` takes {sorted(_KINDS)}")
        return _checked(Retry(**fields))
    raise InvalidArgumentError("`retries` must be an int, a dict of Retry fields, or a Retry")


def _checked(policy: Retry) -> Retry:
    """`total` an int >= 0, delays finite numbers >= 0 (an infinite backoff would sleep for ever)."""
    total, delays = policy.total, (policy.backoff, policy.max_backoff)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise InvalidArgumentError("`retries['total']` must be an int >= 0")
    if not all(isinstance(d, (int, float)) and not isinstance(d, bool) and 0 <= d < float("inf") for d in delays):
        raise InvalidArgumentError("`retries` delays (backoff, max_backoff) must be finite numbers >= 0")
    return policy


def attempts(
    policy: Optional[Retry],
    make: Callable[[], FlowOf[Request]],
    verify: Callable[[Request, Response], Response],
    backup: Optional[Callable[[], FlowOf[Request]]] = None,
) -> Flow:
    """Send the request the sub-flow `make()` returns (freshly signed per attempt) until it may stop; then verify.

    Failover: the first `connect` failure (nothing reached the service) sends the call at once to the request
    `backup()` returns, neither waiting nor counting as a retry; every later attempt goes there too."""
    attempt = 0
    primary: Optional[TransportError] = None  # the connect failure that made the call fail over
    failed = ""  # the origin it failed on, until the failover is logged
    while True:
        request = yield from make()
        if failed:
            _log.warning("failing over: %s cannot be reached (%s); trying the backup %s", failed, primary,
                         origin_of(request.url))
            failed = ""
        try:
            response: Response = yield request
        except TransportError as exc:
            if primary is None and backup is not None and exc.kind == "connect":
                primary, failed, make = exc, origin_of(request.url), backup
                continue
            if policy is None or not policy.retries_error(exc, attempt):
                if primary is not None:
                    raise TransportError(f"the backup: {exc}; the primary, before it: {primary}", exc.kind) from exc
                raise
        else:
            if policy is None or not policy.retries_response(response, attempt):
                return verify(request, response)
            response.close()
        assert policy is not None
        yield Sleep(policy.delay(attempt))
        attempt += 1


def ready(request: Request) -> FlowOf[Request]:
    """A sub-flow that yields nothing and returns `request` (an attempt that needs no fresh signature)."""
    return request
    yield  # pragma: no cover - makes this a generator
