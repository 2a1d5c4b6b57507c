"""State shared by the processes of a service, on Redis (extra `wechatpay-chain[redis]`, redis-py >= 5).

Python addition (PHP has none). A payment backend runs several processes (gunicorn/uvicorn workers, several
machines); two things the client keeps in process memory are then shared here:

- `RedisReplayGuard` / `AsyncRedisReplayGuard`: the replay memory of `parse_notification` /
  `parse_notification_async`. One `SET key 1 NX PX <ms>` per notification: atomic, so of N processes given the
  same notification at once exactly one accepts it. The key is the prefix + `id|Wechatpay-Nonce` (no body, no
  secret), kept until the notification's timestamp stops passing the clock check (timestamp + `max_skew`) and at
  least `window` seconds. If Redis cannot be reached (or refuses the write) the notification is refused with
  `RedisUnavailableError`: a replay guard that fails open is no guard; WeChat Pay sends it again later.
- `RedisCertificateStore`: an `AutoKeyring` store that the processes of a merchant share (see
  `SharedCertificateStore`): the signed `v3/certificates` answer under `<prefix><mchid>:answer`, a download lock
  under `<prefix><mchid>:lock` (`SET NX PX lock_ttl`, released by a compare-and-delete, so never another
  process's; it expires by itself if its holder dies). What is read from Redis is data, not trust: each keyring
  verifies the answer as a download (`keys._certificates.verify_answer`) before using it.

redis-py is imported by the classes here when they are made, never by `import wechatpay_chain`.
"""

from __future__ import annotations

import math
import secrets
from typing import TYPE_CHECKING, Any, Optional, Tuple, Type, Union

from wechatpay_chain.errors import InvalidArgumentError, TransportError
from wechatpay_chain.keys._auto_keyring import SharedCertificateStore

if TYPE_CHECKING:  # pragma: no cover - only types here
    import redis as redis_sync
    import redis.asyncio as redis_async

__all__ = ["RedisReplayGuard", "AsyncRedisReplayGuard", "RedisCertificateStore", "RedisUnavailableError"]

#: deletes the lock only while it is still the caller's (its token): never a lock another process took since
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisUnavailableError(TransportError):
    """Redis could not be reached or refused the command: the notification is refused (the guard fails closed).

    A `TransportError` (so a `WeChatPayError`); answer the notification with a failure and WeChat Pay retries it.
    """


def _errors() -> Tuple[Type[BaseException], ...]:
    """What a failing Redis raises (redis-py's own errors, socket errors); redis-py is imported here, on first use."""
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - the classes below are only made with a redis-py client
        RedisError = None  # type: ignore[assignment,misc]  # outside the handler: see errors.py
    if RedisError is None:  # pragma: no cover
        raise InvalidArgumentError("wechatpay_chain.redis needs redis-py: pip install 'wechatpay-chain[redis]'")
    return (RedisError, OSError)


def _unavailable(what: str, kind: str) -> RedisUnavailableError:
    return RedisUnavailableError(f"the replay guard cannot reach Redis ({what}): the notification is refused", kind)


def _kind(exc: BaseException) -> str:
    return "timeout" if "Timeout" in type(exc).__name__ else "connect"


class _Guard:
    """What the two replay guards share: the key, its time to live, the checks of the arguments."""

    __slots__ = ("redis", "prefix", "window", "_errors")
    #: `parse_notification` passes `until` (the notification's timestamp + `max_skew`)
    takes_until = True

    def __init__(self, redis: Any, prefix: str, window: int) -> None:
        if not isinstance(prefix, str) or not isinstance(window, int) or isinstance(window, bool) or window <= 0:
            raise InvalidArgumentError(f"{type(self).__name__}: prefix must be a str and window a positive int")
        self._errors = _errors()
        self.redis, self.prefix, self.window = redis, prefix, window

    def _args(self, key: str, now: float, until: Optional[float]) -> Tuple[str, int]:
        expiry = now + self.window if until is None else max(now + self.window, until)
        return self.prefix + key, max(1, math.ceil((expiry - now) * 1000))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self.prefix!r} window={self.window}s>"


class RedisReplayGuard(_Guard):
    """`ReplayGuard`'s contract on Redis, for every process of a service: one `SET key 1 NX PX` per notification.

    `redis`: a `redis.Redis` client (give it a `socket_timeout`: a hung Redis then refuses notifications instead of
    holding them). `prefix`: put before each key (`id|nonce`). `window`: seconds a key is kept at least; it is kept
    until its timestamp stops passing `parse_notification`'s clock check whatever `window` is.
    """

    __slots__ = ()

    def __init__(self, redis: redis_sync.Redis, *, prefix: str = "wechatpay:replay:", window: int = 300) -> None:
        super().__init__(redis, prefix, window)

    def check_and_remember(self, key: str, now: float, until: Optional[float] = None) -> bool:
        """True the first time `key` is seen (and remembered, atomically), False for a replay; raises
        RedisUnavailableError when Redis does not answer."""
        name, ttl = self._args(key, now, until)
        failed: Optional[str] = None
        try:
            created = self.redis.set(name, b"1", nx=True, px=ttl)
        except self._errors as exc:  # outside the handler: see errors.py
            failed, kind = type(exc).__name__, _kind(exc)
        if failed is not None:
            raise _unavailable(failed, kind)
        return created is True


class AsyncRedisReplayGuard(_Guard):
    """`RedisReplayGuard` for a `redis.asyncio.Redis` client, awaited by `parse_notification_async`."""

    __slots__ = ()

    def __init__(self, redis: redis_async.Redis, *, prefix: str = "wechatpay:replay:", window: int = 300) -> None:
        super().__init__(redis, prefix, window)

    async def check_and_remember(self, key: str, now: float, until: Optional[float] = None) -> bool:
        name, ttl = self._args(key, now, until)
        failed: Optional[str] = None
        try:
            created = await self.redis.set(name, b"1", nx=True, px=ttl)
        except self._errors as exc:  # outside the handler: see errors.py
            failed, kind = type(exc).__name__, _kind(exc)
        if failed is not None:
            raise _unavailable(failed, kind)
        return created is True


class RedisCertificateStore(SharedCertificateStore):
    """Platform certificates shared by every process of a merchant: one `v3/certificates` download per rotation for
    the whole fleet.

    `AutoKeyring(store=RedisCertificateStore(redis, mchid='1900000001'), apiv3_key=...)` reads (and verifies) the
    fleet's answer at start-up; without `mchid` or `apiv3_key` it does on its first refresh, from the client config.
    Keys: `<prefix><mchid>:answer` (the signed answer as the service sent it: the certificates in it stay encrypted
    under the APIv3 key; no expiry, each reader judges its age) and `<prefix><mchid>:lock` (`lock_ttl` seconds at
    most). A failing Redis is logged and each process then downloads alone, as without the store.
    Redis calls are short blocking ones, also from an async client (as a DirectoryStore's file writes).
    """

    def __init__(
        self,
        redis: redis_sync.Redis,
        *,
        mchid: Optional[str] = None,
        prefix: str = "wechatpay:certificates:",
        lock_ttl: float = 30.0,
    ) -> None:
        if not isinstance(prefix, str) or (mchid is not None and not isinstance(mchid, str)) or lock_ttl <= 0:
            raise InvalidArgumentError("RedisCertificateStore: prefix and mchid must be str, lock_ttl positive")
        _errors()
        self.redis, self.mchid, self.prefix, self.lock_ttl = redis, mchid, prefix, float(lock_ttl)

    def __repr__(self) -> str:
        return f"RedisCertificateStore(prefix={self.prefix!r}, mchid={self.mchid!r})"

    def read_answer(self, mchid: str) -> Optional[bytes]:
        value: Union[bytes, str, None] = self.redis.get(f"{self.prefix}{mchid}:answer")
        return value.encode("utf-8") if isinstance(value, str) else value

    def write_answer(self, mchid: str, answer: bytes) -> None:
        self.redis.set(f"{self.prefix}{mchid}:answer", answer)

    def acquire(self, mchid: str) -> Optional[str]:
        token = secrets.token_hex(16)
        taken = self.redis.set(f"{self.prefix}{mchid}:lock", token, nx=True, px=max(1, int(self.lock_ttl * 1000)))
        return token if taken is True else None

    def release(self, mchid: str, token: str) -> None:
        self.redis.eval(_RELEASE, 1, f"{self.prefix}{mchid}:lock", token)
