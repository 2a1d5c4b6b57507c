"""`AutoKeyring`: a keyring that refreshes platform certificates from `v3/certificates`, and the stores it
keeps them in.

It refreshes when a response names an unknown serial (`protocol._v3.v3_flow` runs the download as a sub-flow,
through the caller's own transport) and, on a schedule, via `refresh_if_due`. Each keyring keeps its own
state, so two merchants' clients never share certificates. With a `SharedCertificateStore` (Redis), the processes
of one merchant share the signed download: one of them downloads (under the store's lock), the others verify
what it stored and use it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, TypeVar, Union

from wechatpay_chain.crypto._pem import Certificate, PemUtil
from wechatpay_chain.crypto._symmetric import check_apiv3_key
from wechatpay_chain.errors import InvalidArgumentError, WeChatPayError
from wechatpay_chain.files._atomic import AtomicFile
from wechatpay_chain.keys._certificates import (
    Download,
    PublicKeyModeError,
    certificates_flow,
    pack_answer,
    verify_answer,
)
from wechatpay_chain.keys._keyring import PUBLIC_KEY_ID_PREFIX, Keyring
from wechatpay_chain.models import FlowOf, Sleep

if TYPE_CHECKING:  # pragma: no cover - only a type here
    from wechatpay_chain.client._config import Config

__all__ = [
    "AutoKeyring",
    "MemoryStore",
    "DirectoryStore",
    "CertificateStore",
    "SharedCertificateStore",
    "write_certificates",
]

_log = logging.getLogger("wechatpay_chain")
_T = TypeVar("_T")


# -- stores -----------------------------------------------------------------------------------------
class CertificateStore:
    """Where an AutoKeyring keeps downloaded certificates: `load()` at start, `save()` after each download."""

    def load(self) -> Dict[str, Certificate]:
        raise NotImplementedError

    def save(self, certificates: Iterable[Certificate]) -> None:
        raise NotImplementedError


class MemoryStore(CertificateStore):
    """Keeps certificates for the life of the process (the default)."""

    def __init__(self) -> None:
        self._certs: Dict[str, Certificate] = {}

    def load(self) -> Dict[str, Certificate]:
        return dict(self._certs)

    def save(self, certificates: Iterable[Certificate]) -> None:
        for cert in certificates:
            self._certs[cert.serial_no] = cert


def write_certificates(directory: Union[str, os.PathLike[str]], certificates: Iterable[Certificate]) -> List[Path]:
    """Write `wechatpay_<SERIAL>.pem` per certificate (PHP's downloader names), each via temp file + rename.

    All temp files are written first, then renamed, so a failure leaves no half-written PEM behind.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    staged: List[AtomicFile] = []
    try:
        for cert in certificates:
            staged.append(AtomicFile(root / f"wechatpay_{cert.serial_no}.pem", 0o644, "ascii", keep_umask=True))
            staged[-1].write(cert.pem)
            staged[-1].sync()  # fsync'd and closed: every one is durable before any is renamed
        for file in staged:
            file.commit()
    finally:
        for file in staged:
            file.abort()  # a no-op for the committed ones
    return [Path(file.path) for file in staged]


class DirectoryStore(CertificateStore):
    """A directory of `wechatpay_<SERIAL>.pem` files (what `certificates download` / PHP's downloader write)."""

    def __init__(self, path: Union[str, os.PathLike[str]]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"DirectoryStore({str(self.path)!r})"

    def load(self) -> Dict[str, Certificate]:
        found: Dict[str, Certificate] = {}
        if not self.path.is_dir():
            return found
        for file in sorted(self.path.glob("wechatpay_*.pem")):
            try:
                cert = PemUtil.load_certificate(str(file))
            except InvalidArgumentError as exc:
                _log.warning("DirectoryStore: skipping %s: %s", file, exc)
                continue
            found[cert.serial_no] = cert
        return found

    def save(self, certificates: Iterable[Certificate]) -> None:
        write_certificates(self.path, certificates)


class SharedCertificateStore(CertificateStore):
    """A store the processes of a merchant share (`wechatpay_chain.redis.RedisCertificateStore`).

    It keeps the signed `v3/certificates` answer itself (`pack_answer`), never bare certificates: whoever can write
    to the store is not trusted, so every keyring verifies the answer when it reads it (`verify_answer`: each
    certificate decrypts with the APIv3 key and the answer's signature verifies, as for a download). One process
    downloads at a time: the one that `acquire`s the merchant's lock (which expires by itself, so a crashed holder
    does not block the rest); the others wait for the answer it writes. `load`/`save` keep nothing: an AutoKeyring
    made with a `mchid` here and an `apiv3_key` reads the shared answer at start-up instead.
    """

    #: the merchant whose answer an AutoKeyring reads at start-up (None: on its first refresh, from the client)
    mchid: Optional[str] = None

    def load(self) -> Dict[str, Certificate]:
        return {}

    def save(self, certificates: Iterable[Certificate]) -> None:
        del certificates  # the signed answer is kept instead (`write_answer`)

    def read_answer(self, mchid: str) -> Optional[bytes]:
        """The answer last written for `mchid`, or None."""
        raise NotImplementedError

    def write_answer(self, mchid: str, answer: bytes) -> None:
        raise NotImplementedError

    def acquire(self, mchid: str) -> Optional[str]:
        """A token when this process may download for `mchid` now (the lock is its), else None."""
        raise NotImplementedError

    def release(self, mchid: str, token: str) -> None:
        """Give the lock back, if it is still the one `token` names (never another process's)."""
        raise NotImplementedError


# -- the refreshing keyring -------------------------------------------------------------------------
class AutoKeyring(Keyring):
    """A Keyring that downloads platform certificates from `v3/certificates` when it needs to.

    - on an unknown `Wechatpay-Serial` (not a `PUB_KEY_ID_`): core.v3_flow downloads and verifies again;
    - on a schedule: before a call, when the last download is `max_age` old (core.v3_flow; a failure there
      only logs), or explicitly with `refresh_if_due(client)` (or `_async`) from a timer;
    - at most one download per `min_interval` seconds; concurrent callers wait for the one in flight;
    - a 404 RESOURCE_NOT_EXISTS (public-key-only merchant) raises PublicKeyModeError and is remembered
      for `max_age`, so such a merchant does not ask again on every unknown serial.
    The download is verified with a certificate it contains or with a key this keyring already trusts.
    """

    __slots__ = (
        "apiv3_key",
        "public_key_mode_error",
        "store",
        "max_age",
        "min_interval",
        "wait",
        "downloads",
        "_clock",
        "_lock",
        "_in_flight",
        "_last_attempt",
        "_fetched_at",
        "_fetched_tick",
        "_ticks",
        "_mchid",
        "_public_key_mode",
    )

    def __init__(
        self,
        certs: Optional[Mapping[str, Any]] = None,
        *,
        apiv3_key: Optional[str] = None,
        store: Optional[CertificateStore] = None,
        max_age: float = 12 * 3600,
        min_interval: float = 60.0,
        wait: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(certs)
        if apiv3_key is not None and not isinstance(apiv3_key, str):
            raise InvalidArgumentError("`apiv3_key` must be a str")
        if apiv3_key is not None:
            check_apiv3_key(apiv3_key)
        self.apiv3_key = apiv3_key
        self.store: CertificateStore = store if store is not None else MemoryStore()
        self.max_age, self.min_interval, self.wait = float(max_age), float(min_interval), float(wait)
        #: how many downloads this keyring started
        self.downloads = 0
        self._clock = clock
        # intervals (rate limit, age, waiting) on a clock that never steps back; a given `clock` (tests) for both
        self._ticks: Callable[[], float] = time.monotonic if clock is time.time else clock
        self._lock = threading.Lock()
        self._in_flight = False
        self._last_attempt: Optional[float] = None
        self._fetched_at: Optional[float] = None
        self._fetched_tick: Optional[float] = None
        self._mchid: Optional[str] = None
        self._public_key_mode = False
        #: the PublicKeyModeError of the last download, while in public-key mode: a call whose answer is signed by
        #: a PUB_KEY_ID_ key then fails with a VerificationError that carries it (its __cause__) and its advice
        self.public_key_mode_error: Optional[PublicKeyModeError] = None
        now = clock()
        for serial, cert in self.store.load().items():
            if cert.is_valid_at(now):
                self.add(serial, cert)
                # stored certificates count as fetched at start-up
                self._fetched_at, self._fetched_tick = now, self._ticks()
        shared = self.store if isinstance(self.store, SharedCertificateStore) else None
        if shared is not None and shared.mchid and apiv3_key:  # the fleet's answer, verified, at start-up
            self._mchid = shared.mchid
            self._adopt(shared.mchid, self._shared(shared.read_answer, shared.mchid), apiv3_key, 300)

    def __repr__(self) -> str:
        return f"<AutoKeyring serials={list(self)} store={self.store!r}>"

    @property
    def fetched_at(self) -> Optional[float]:
        """When the last download succeeded (the keyring's clock), or None."""
        return self._fetched_at

    @property
    def public_key_mode(self) -> bool:
        """True once `v3/certificates` answered 404 RESOURCE_NOT_EXISTS (remembered for `max_age`)."""
        return self._public_key_mode

    @property
    def due(self) -> bool:
        """A scheduled refresh is due: never downloaded, or the last download is `max_age` old.

        Never in public-key mode (a `PUB_KEY_ID_` key and no certificate held): there is nothing to download.
        """
        if not self._certificates and any(s.startswith(PUBLIC_KEY_ID_PREFIX) for s in self._keys):
            return False
        return self._stale() and self._allowed(self.max_age)

    def _allowed(self, interval: float) -> bool:
        if self._public_key_mode:
            interval = max(interval, self.max_age)
        return self._last_attempt is None or self._ticks() - self._last_attempt >= interval

    def may_refresh(self, serial: str) -> bool:
        if serial.startswith(PUBLIC_KEY_ID_PREFIX):
            return False  # a certificate download cannot teach us a public key
        with self._lock:
            return self._in_flight or self._allowed(self.min_interval)

    def _claim(self, mchid: str, force: bool) -> str:
        with self._lock:
            if self._mchid is None:
                self._mchid = mchid
            elif self._mchid != mchid:
                raise InvalidArgumentError(
                    f"this AutoKeyring holds merchant {self._mchid}'s certificates; give merchant {mchid} its own"
                )
            if self._in_flight:
                return "wait"
            if not force and not self._allowed(self.min_interval):
                return "skip"
            self._in_flight, self._last_attempt = True, self._ticks()
            return "download"

    def refresh_flow(
        self, config: Config, ua: str, force: bool = False, *, serial: Optional[str] = None
    ) -> FlowOf[List[Certificate]]:
        """Download, verify and add the platform certificates (rate-limited unless `force`); returns them.

        When another caller's download is in flight, waits for it (yielding short sleeps) and returns [].
        `serial`: the unknown serial that asked for it (a shared store's answer that holds it spares a download).
        """
        state = self._claim(config.mchid, force)
        if state == "wait":
            deadline = self._ticks() + self.wait
            while self._in_flight and self._ticks() < deadline:
                yield Sleep(0.02)
            return []
        if state == "skip":
            return []
        try:
            if isinstance(self.store, SharedCertificateStore):
                return (yield from self._shared_refresh(self.store, config, ua, force, serial))
            download = yield from self._download(config, ua)
            return download.certificates
        except PublicKeyModeError as exc:
            self._public_key_mode, self.public_key_mode_error = True, exc
            raise
        finally:
            with self._lock:
                self._in_flight = False

    def _download(self, config: Config, ua: str) -> FlowOf[Download]:
        self.downloads += 1
        download = yield from certificates_flow(config, ua, apiv3_key=self.apiv3_key, trusted=self)
        self._install(download.certificates)
        return download

    # -- a store shared by processes ----------------------------------------------------------------------
    def _shared_refresh(
        self, store: SharedCertificateStore, config: Config, ua: str, force: bool, serial: Optional[str]
    ) -> FlowOf[List[Certificate]]:
        """Use the fleet's stored answer when it is what this refresh wants, else download under the store's lock;
        without the lock, wait (at most `wait`) for the holder's answer, then download alone."""
        key = self.apiv3_key if self.apiv3_key is not None else (
            config.apiv3_key.reveal() if config.apiv3_key else None)
        if not key:  # certificates_flow says what is missing
            return (yield from self._download(config, ua)).certificates
        mchid, skew = config.mchid, config.max_clock_offset
        seen = self._shared(store.read_answer, mchid)
        adopted = self._adopt(mchid, seen, key, skew)
        if adopted is not None and not force and (serial in self if serial else not self._stale()):
            return adopted
        deadline = self._ticks() + self.wait
        while True:
            token = self._shared(store.acquire, mchid, failed="")
            if token is None and self._ticks() < deadline:
                yield Sleep(0.05)
            entry = self._shared(store.read_answer, mchid)
            if entry is not None and entry != seen:  # a fresh answer (written since we looked): downloading is moot
                seen, adopted = entry, self._adopt(mchid, entry, key, skew)
                if adopted is not None:
                    if token:
                        self._shared(store.release, mchid, token)
                    return adopted
            if token is not None or self._ticks() >= deadline:  # the lock (or no store, or no more waiting)
                return (yield from self._download_shared(store, config, ua, token or ""))

    def _download_shared(
        self, store: SharedCertificateStore, config: Config, ua: str, token: str
    ) -> FlowOf[List[Certificate]]:
        try:
            download = yield from self._download(config, ua)
            answer = pack_answer(download.response)
            if answer is not None:
                self._shared(store.write_answer, config.mchid, answer)
        finally:
            if token:  # "": the store failed, the download went ahead without its lock
                self._shared(store.release, config.mchid, token)
        return download.certificates

    def _adopt(self, mchid: str, entry: Optional[bytes], apiv3_key: str, max_skew: int) -> Optional[List[Certificate]]:
        """Install the certificates of a stored answer that verifies; None when there is none or it is refused."""
        if entry is None:
            return None
        try:
            certificates, signed_at = verify_answer(
                entry, apiv3_key, now=self._clock(), trusted=self, max_skew=max_skew)
        except (WeChatPayError, ValueError) as exc:  # refused, and this keyring keeps what it had
            _log.warning("the shared v3/certificates answer of merchant %s is refused: %s", mchid, exc)
            return None
        self._install(certificates, signed_at)
        return certificates

    def _shared(self, method: Callable[..., Optional[_T]], *args: Any, failed: Optional[_T] = None) -> Optional[_T]:
        """A store call; a store that fails (Redis down) is logged and answers `failed`: this process goes alone."""
        try:
            return method(*args)
        except Exception as exc:  # noqa: BLE001 - the store is a help, never a reason for a call to fail
            _log.warning("shared certificate store %r: %s: %s", self.store, type(exc).__name__, exc)
            return failed

    def _stale(self) -> bool:
        return self._fetched_tick is None or self._ticks() - self._fetched_tick >= self.max_age

    def _install(self, certificates: List[Certificate], signed_at: Optional[float] = None) -> None:
        """Add downloaded (or, with `signed_at`, stored and verified) certificates; drop expired ones."""
        now = self._clock()
        for cert in certificates:
            self.add(cert.serial_no, cert)
        for serial, cert in list(self._certificates.items()):
            if not cert.is_valid_at(now):  # expired ones go; they can no longer sign anything valid
                self._keys.pop(serial, None)
                self._certificates.pop(serial, None)
        fetched = now if signed_at is None else min(signed_at, now)
        if self._fetched_at is None or fetched >= self._fetched_at:
            self._fetched_at, self._fetched_tick = fetched, self._ticks() - (now - fetched)
        self._public_key_mode, self.public_key_mode_error = False, None
        source = "refreshed" if signed_at is None else "read from the shared store"
        _log.info("platform certificates %s: %s", source, ", ".join(c.serial_no for c in certificates))
        if signed_at is not None:
            return
        try:
            self.store.save(certificates)
        except Exception as exc:  # noqa: BLE001 - the keys are in use; a store that cannot keep them only logs
            _log.warning("platform certificates not saved to %r: %s: %s", self.store, type(exc).__name__, exc)

    # -- explicit use: bootstrap, cron, a scheduled task ------------------------------------------------
    def refresh(self, client: Any, *, force: bool = True) -> List[Certificate]:
        """Download now through `client`'s transport (a Builder.factory client, or its Driver)."""
        driver = client.get_driver() if hasattr(client, "get_driver") else client
        return driver.run_flow(lambda ua: self.refresh_flow(driver.config, ua, force))  # type: ignore[no-any-return]

    async def refresh_async(self, client: Any, *, force: bool = True) -> List[Certificate]:
        """`refresh` through the client's aiohttp transport."""
        driver = client.get_driver() if hasattr(client, "get_driver") else client
        return await driver.run_flow_async(lambda ua: self.refresh_flow(driver.config, ua, force))  # type: ignore[no-any-return]

    def refresh_if_due(self, client: Any) -> List[Certificate]:
        """The scheduled refresh: downloads only when `due` (cheap to call before every request or from a timer)."""
        return self.refresh(client, force=False) if self.due else []

    async def refresh_if_due_async(self, client: Any) -> List[Certificate]:
        return await self.refresh_async(client, force=False) if self.due else []
