"""`wechatpay_chain.redis` against a real `redis-server` (started here on a free loopback port, in a temp dir) and a
fleet of 4 worker processes: a notification is accepted by exactly one process, also when all get it at once; a
stopped Redis refuses notifications with a typed error until it is back; one certificate download per rotation for
the whole fleet; a tampered answer in Redis is refused and does not poison a process.

Skipped without `redis-server` or redis-py; failed instead when CI=true (.ci/run installs both).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import multiprocessing
import os
import queue
import secrets
import shutil
import socket
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from wechatpay_chain import AesGcm, Rsa
from wechatpay_chain.crypto._pem import build_certificate
from wechatpay_chain.errors import InvalidArgumentError, TransportError, VerificationError, WeChatPayError
from wechatpay_chain.keys._auto_keyring import AutoKeyring
from wechatpay_chain.keys._certificates import verify_answer
from wechatpay_chain.notify import ReplayGuard, parse_notification, parse_notification_async
from wechatpay_chain.sandbox import Sandbox
from wechatpay_chain.sandbox._protocol import sign_headers

WORKERS = 4
Notification = Tuple[Dict[str, str], bytes]


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI installs it (.ci/run)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A throwaway `redis-server`: loopback only, no persistence, its files in `directory`; stop/start keep the port."""

    def __init__(self, exe: str, directory: Path) -> None:
        self.exe, self.directory, self.port = exe, directory, _free_port()
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def client(self) -> Any:
        return _client(self.port)

    def async_client(self) -> Any:
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        return redis.asyncio.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2,
                                   retry=Retry(NoBackoff(), 1))


def _client(port: int) -> Any:
    """A client that gives up at once on a stopped server (redis-py's default retries back off for seconds)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2,
                       retry=Retry(NoBackoff(), 1))


# -- the fleet: 4 spawned worker processes, each running named commands --------------------------------------------
def _worker(index: int, inbox: Any, outbox: Any, barrier: Any, port: int) -> None:
    state: Dict[str, Any] = {"index": index, "barrier": barrier, "redis": _client(port)}
    while True:
        message = inbox.get()
        if message is None:
            return
        name, args = message
        try:
            outbox.put((index, True, COMMANDS[name](state, *args)))
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outbox.put((index, False, f"{type(exc).__name__}: {exc}"))


class Fleet:
    def __init__(self, port: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.inboxes = [ctx.Queue() for _ in range(WORKERS)]
        self.outbox = ctx.Queue()
        self.barrier = ctx.Barrier(WORKERS)  # kept: the children unpickle it after start() returns
        self.procs = [ctx.Process(target=_worker, args=(i, self.inboxes[i], self.outbox, self.barrier, port),
                                  daemon=True)
                      for i in range(WORKERS)]
        for proc in self.procs:
            proc.start()

    def run(self, name: str, *args: Any) -> List[Any]:
        """Run command `name` in every worker; their results in worker order (a worker's exception fails the test)."""
        for inbox in self.inboxes:
            inbox.put((name, args))
        results: Dict[int, Any] = {}
        while len(results) < WORKERS:
            index, value = self._answer(name)
            results[index] = value
        return [results[i] for i in range(WORKERS)]

    def run_one(self, index: int, name: str, *args: Any) -> Any:
        self.inboxes[index].put((name, args))
        got, value = self._answer(name)
        assert got == index
        return value

    def _answer(self, name: str) -> Tuple[int, Any]:
        deadline = time.monotonic() + 30
        while True:
            try:
                index, ok, value = self.outbox.get(timeout=0.2)
                break
            except queue.Empty:
                dead = [i for i, proc in enumerate(self.procs) if not proc.is_alive()]
                if dead or time.monotonic() > deadline:
                    pytest.fail(f"the fleet did not answer {name} (workers that died: {dead})")
        assert ok, f"worker {index}: {value}"
        return index, value

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for q in (*self.inboxes, self.outbox):
            q.close()
            q.join_thread()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    exe = shutil.which("redis-server")
    if exe is None:
        _missing("redis-server is not installed (Debian: apt-get install redis-server)")
    try:
        import redis  # noqa: F401
    except ImportError:
        _missing("redis-py is not installed (pip install 'wechatpay-chain[redis]')")
    srv = RedisServer(str(exe), tmp_path_factory.mktemp("redis"))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def fleet(server: RedisServer) -> Iterator[Fleet]:
    f = Fleet(server.port)
    try:
        yield f
    finally:
        f.close()


# -- notifications ----------------------------------------------------------------------------------------------
def _parse_all(state: Dict[str, Any], notes: List[Notification], keys: Dict[str, str], apiv3_key: str,
               prefix: str, together: bool) -> List[str]:
    """Parse each notification with a RedisReplayGuard: 'ok', 'replay', or the error's type name."""
    from wechatpay_chain.redis import RedisReplayGuard

    guard = RedisReplayGuard(state["redis"], prefix=prefix)
    if together:
        state["barrier"].wait(20)  # every process gets the same notifications at the same moment
    outcome = []
    for headers, body in notes:
        try:
            parse_notification(headers, body, certs=keys, apiv3_key=apiv3_key, replay_guard=guard)
            outcome.append("ok")
        except VerificationError as exc:
            outcome.append("replay" if "(replay)" in str(exc) else f"VerificationError: {exc}")
        except WeChatPayError as exc:
            outcome.append(type(exc).__name__)
    return outcome


def _notifications(sb: Sandbox, count: int) -> List[Notification]:
    client = sb.client()
    try:
        notes = []
        for _ in range(count):
            no = "rd" + secrets.token_hex(8)
            client.v3.pay.transactions.native.post(json={
                "appid": "wxd678efh567hg6787", "mchid": sb.mchid, "description": "redis test", "out_trade_no": no,
                "notify_url": "https://example.com/notify", "amount": {"total": 1}})
            sb.pay(no, notify=False)
            notes.append(sb.notification(no))
        return notes
    finally:
        client.get_driver().close()


def _keys(sb: Sandbox) -> Dict[str, str]:
    return {sb.platform_public_key_id: sb.platform_public_key_pem}


def test_a_notification_is_accepted_once_by_the_whole_fleet_also_when_delivered_to_all_at_once(
    fleet: Fleet, server: RedisServer, sandbox: Sandbox
) -> None:
    notes = _notifications(sandbox, 7)
    prefix = f"t{secrets.token_hex(4)}:"
    args = (_keys(sandbox), sandbox.apiv3_key, prefix)
    concurrent = fleet.run("parse", notes[:6], *args, True)  # the same 6 notifications to all 4 at the same moment
    for i in range(6):
        outcomes = sorted(worker[i] for worker in concurrent)
        assert outcomes == ["ok", "replay", "replay", "replay"], (i, outcomes)
    assert fleet.run_one(2, "parse", notes[6:], *args, False) == ["ok"]  # one process accepts it...
    assert fleet.run("parse", notes[6:], *args, False) == [["replay"]] * WORKERS  # ...then every process refuses it
    # the keys: the notification id and nonce under the prefix (no body); they expire
    r = server.client()
    names = [k.decode() for k in r.scan_iter(match=prefix + "*")]
    assert len(names) == 7 and all("|" in n and "{" not in n for n in names)
    assert all(0 < r.pttl(n) <= 600_000 for n in names)


def test_with_redis_stopped_notifications_are_refused_with_a_typed_error_until_it_is_back(
    fleet: Fleet, server: RedisServer, sandbox: Sandbox
) -> None:
    notes = _notifications(sandbox, 2)
    args = (_keys(sandbox), sandbox.apiv3_key, f"t{secrets.token_hex(4)}:")
    server.stop()
    try:
        assert fleet.run("parse", notes[:1], *args, False) == [["RedisUnavailableError"]] * WORKERS
        from wechatpay_chain.redis import RedisReplayGuard, RedisUnavailableError

        with pytest.raises(RedisUnavailableError, match="refused") as caught:
            parse_notification(*notes[1], certs=_keys(sandbox), apiv3_key=sandbox.apiv3_key,
                               replay_guard=RedisReplayGuard(server.client()))
        assert isinstance(caught.value, TransportError) and caught.value.kind in ("connect", "timeout")
    finally:
        server.start()
    outcomes = fleet.run("parse", notes[:1], *args, True)  # WeChat Pay's retry: accepted once, now
    assert sorted(o[0] for o in outcomes) == ["ok", "replay", "replay", "replay"]


def test_the_async_guard_is_awaited_by_parse_notification_async(server: RedisServer, sandbox: Sandbox) -> None:
    from wechatpay_chain.redis import AsyncRedisReplayGuard, RedisReplayGuard

    headers, body = _notifications(sandbox, 1)[0]
    prefix = f"t{secrets.token_hex(4)}:"
    kw: Dict[str, Any] = {"certs": _keys(sandbox), "apiv3_key": sandbox.apiv3_key}

    async def run() -> List[str]:
        r = server.async_client()
        try:
            guard = AsyncRedisReplayGuard(r, prefix=prefix)

            async def one() -> str:
                try:
                    await parse_notification_async(headers, body, replay_guard=guard, **kw)
                    return "ok"
                except VerificationError:
                    return "replay"

            return list(await asyncio.gather(*(one() for _ in range(10))))
        finally:
            await (getattr(r, "aclose", None) or r.close)()  # aclose: redis-py >= 5.0.1

    assert sorted(asyncio.run(run())) == ["ok"] + ["replay"] * 9
    # the sync guard shares the memory; the sync parse refuses an async guard rather than trust a coroutine
    with pytest.raises(VerificationError, match="replay"):
        parse_notification(headers, body, replay_guard=RedisReplayGuard(server.client(), prefix=prefix), **kw)
    with pytest.raises(InvalidArgumentError, match="parse_notification_async"):
        parse_notification(headers, body, replay_guard=AsyncRedisReplayGuard(server.async_client()), **kw)
    # a ReplayGuard works with parse_notification_async too
    guard = ReplayGuard()
    assert asyncio.run(parse_notification_async(headers, body, replay_guard=guard, **kw))["resource"]
    with pytest.raises(VerificationError, match="replay"):
        asyncio.run(parse_notification_async(headers, body, replay_guard=guard, **kw))


def test_the_guard_checks_its_arguments_and_keeps_a_key_until_the_clock_check_ends(server: RedisServer) -> None:
    from wechatpay_chain.redis import RedisReplayGuard

    with pytest.raises(InvalidArgumentError):
        RedisReplayGuard(server.client(), window=0)
    guard = RedisReplayGuard(server.client(), prefix=f"t{secrets.token_hex(4)}:", window=10)
    assert guard.check_and_remember("a|n", 1000.0, until=1600.0) and not guard.check_and_remember("a|n", 1000.0)
    assert 590_000 < server.client().pttl(guard.prefix + "a|n") <= 600_000
    assert guard.check_and_remember("b|n", 1000.0) and server.client().pttl(guard.prefix + "b|n") <= 10_000


# -- certificates --------------------------------------------------------------------------------------------------
def _config(sb: Sandbox) -> Dict[str, str]:
    return {"mchid": sb.mchid, "serial": sb.merchant_serial, "key": sb.merchant_private_key_pem,
            "base_uri": sb.base_uri, "apiv3_key": sb.apiv3_key}


def _certified_call(state: Dict[str, Any], cfg: Dict[str, str], prefix: str) -> Tuple[int, int, List[str]]:
    """One business call with this worker's AutoKeyring on a RedisCertificateStore (made on the first call), all
    workers at once: (status, downloads so far by this keyring, its serials)."""
    from wechatpay_chain import Builder
    from wechatpay_chain.redis import RedisCertificateStore

    if state.get("prefix") != prefix:
        keyring = AutoKeyring(store=RedisCertificateStore(state["redis"], prefix=prefix), min_interval=0)
        state["prefix"], state["keyring"] = prefix, keyring
        state["client"] = Builder.factory({"mchid": cfg["mchid"], "serial": cfg["serial"], "certs": keyring,
                                           "privateKey": Rsa.from_(cfg["key"]), "base_uri": cfg["base_uri"],
                                           "apiv3_key": cfg["apiv3_key"]})
    state["barrier"].wait(20)
    response = state["client"].v3.pay.transactions.native.post(json={
        "appid": "wxd678efh567hg6787", "mchid": cfg["mchid"], "description": "fleet", "amount": {"total": 1},
        "out_trade_no": "fl" + secrets.token_hex(8), "notify_url": "https://example.com/notify"})
    return response.status_code, state["keyring"].downloads, sorted(state["keyring"])


COMMANDS: Dict[str, Callable[..., Any]] = {"parse": _parse_all, "call": _certified_call}


def _downloads(sb: Sandbox) -> int:
    return sum(1 for r in sb.requests if r.path == "/v3/certificates")


def _rotate(sb: Sandbox) -> str:
    """The service's next platform certificate (same key, new serial): answers are signed with it from now on."""
    ident = sb.identity
    now = datetime.now(timezone.utc).replace(microsecond=0)
    cert = build_certificate(subject_key=ident.certificate_key, issuer_key=ident.certificate_key,
                             serial=int(secrets.token_hex(19), 16) | (1 << 150), subject_cn="Tenpay.com sign",
                             issuer_cn="Tenpay.com Root CA", not_before=now - timedelta(days=1),
                             not_after=now + timedelta(days=365), organization="Tenpay.com")
    sb.identity = dataclasses.replace(ident, certificate=cert)
    return cert.serial_no


def test_one_certificate_download_for_the_fleet_and_one_per_rotation(fleet: Fleet) -> None:
    with Sandbox(mode="certificate") as sb:
        cfg, prefix = _config(sb), f"t{secrets.token_hex(4)}:"
        first = fleet.run("call", cfg, prefix)  # 4 fresh processes, none holds a certificate
        assert [status for status, _, _ in first] == [200] * WORKERS
        assert _downloads(sb) == 1 and sum(downloads for _, downloads, _ in first) == 1
        assert all(serials == [sb.platform_certificate_serial] for _, _, serials in first)

        new_serial = _rotate(sb)  # answers now name a serial no process knows
        rotated = fleet.run("call", cfg, prefix)
        assert [status for status, _, _ in rotated] == [200] * WORKERS
        assert _downloads(sb) == 2 and sum(downloads for _, downloads, _ in rotated) == 2
        assert all(new_serial in serials for _, _, serials in rotated)


def _forged_answer(apiv3_key: str) -> bytes:
    """What someone who can write to Redis but lacks the APIv3 key can store: a self-signed answer with their own
    certificate, encrypted under a key of their choosing."""
    key = Rsa.generate(2048)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    cert = build_certificate(subject_key=key, issuer_key=key, serial=0x5EC12E7, subject_cn="Tenpay.com sign",
                             not_before=now - timedelta(days=1), not_after=now + timedelta(days=30))
    box = {"algorithm": "AEAD_AES_256_GCM", "nonce": "0123456789ab", "associated_data": "certificate",
           "ciphertext": AesGcm.encrypt(cert.pem, "x" * 32, "0123456789ab", "certificate")}
    body = json.dumps({"data": [{"serial_no": cert.serial_no, "encrypt_certificate": box}]}).encode()
    headers = sign_headers(key, cert.serial_no, body, int(time.time()))
    assert apiv3_key != "x" * 32
    return json.dumps({"v": 1, "headers": headers, "body": body.decode()}).encode()


def _tampered(genuine: bytes, how: str, apiv3_key: str) -> bytes:
    doc = json.loads(genuine)
    if how == "forged":
        return _forged_answer(apiv3_key)
    if how == "ciphertext":
        row = json.loads(doc["body"])
        box = row["data"][0]["encrypt_certificate"]
        box["ciphertext"] = ("A" if box["ciphertext"][0] != "A" else "B") + box["ciphertext"][1:]
        doc["body"] = json.dumps(row)
    elif how == "body":
        doc["body"] = doc["body"].replace('"data"', '"data" ', 1)  # same certificates, no longer what was signed
    elif how == "signature":
        sig = doc["headers"]["Wechatpay-Signature"]
        doc["headers"]["Wechatpay-Signature"] = ("A" if sig[0] != "A" else "B") + sig[1:]
    else:
        return b"not json"
    return json.dumps(doc).encode()


@pytest.mark.parametrize("how", ["forged", "ciphertext", "body", "signature", "garbage"])
def test_a_tampered_answer_in_redis_is_refused_and_does_not_poison_a_process(
    server: RedisServer, cert_sb: Sandbox, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    from wechatpay_chain.redis import RedisCertificateStore

    r, prefix, sb = server.client(), f"t{secrets.token_hex(4)}:", cert_sb
    store = RedisCertificateStore(r, mchid=sb.mchid, prefix=prefix)
    holder = AutoKeyring(store=store)
    client = sb.client(certs=holder)
    try:
        holder.refresh(client)  # a genuine download, kept in Redis
    finally:
        client.get_driver().close()
    genuine = r.get(f"{prefix}{sb.mchid}:answer")
    assert verify_answer(genuine, sb.apiv3_key, now=time.time())[0][0].serial_no == sb.platform_certificate_serial
    r.set(f"{prefix}{sb.mchid}:answer", _tampered(genuine, how, sb.apiv3_key))

    fresh = AutoKeyring(store=RedisCertificateStore(r, mchid=sb.mchid, prefix=prefix), apiv3_key=sb.apiv3_key)
    assert len(fresh) == 0 and "shared v3/certificates answer of merchant" in caplog.text  # refused at start-up
    client = sb.client(certs=holder)
    sb.inject("status", code=500, path="/v3/certificates")
    try:  # a process that holds certificates, reading the tampered answer and failing to download, keeps them
        with pytest.raises(WeChatPayError):
            holder.refresh(client)
    finally:
        sb.clear_faults()
        client.get_driver().close()
    assert list(holder) == [sb.platform_certificate_serial]

    before = _downloads(sb)
    client = sb.client(certs=fresh)
    try:
        assert client.v3.pay.transactions.native.post(json={
            "appid": "wxd678efh567hg6787", "mchid": sb.mchid, "description": "t", "amount": {"total": 1},
            "out_trade_no": "tp" + secrets.token_hex(8), "notify_url": "https://example.com/n"}).status_code == 200
    finally:
        client.get_driver().close()
    assert _downloads(sb) == before + 1 and list(fresh) == [sb.platform_certificate_serial]  # it downloaded instead
    verify_answer(r.get(f"{prefix}{sb.mchid}:answer"), sb.apiv3_key, now=time.time())  # and stored a genuine one


def test_the_lock_is_released_only_by_its_holder_and_expires(server: RedisServer) -> None:
    from wechatpay_chain.redis import RedisCertificateStore

    r = server.client()
    store = RedisCertificateStore(r, prefix=f"t{secrets.token_hex(4)}:", lock_ttl=0.3)
    token = store.acquire("1900000001")
    assert token and store.acquire("1900000001") is None
    store.release("1900000001", "not-the-token")
    assert store.acquire("1900000001") is None  # still held
    store.release("1900000001", token)
    second = store.acquire("1900000001")
    assert second is not None
    time.sleep(0.35)  # a holder that died: the lock expires by itself
    assert store.acquire("1900000001") is not None
    assert store.read_answer("1900000001") is None and "mchid" in repr(store)


def test_a_store_that_cannot_reach_redis_only_logs_and_the_process_downloads_alone(
    server: RedisServer, cert_sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    from wechatpay_chain.redis import RedisCertificateStore

    unreachable = RedisCertificateStore(_client(_free_port()), mchid=cert_sb.mchid)
    keyring = AutoKeyring(store=unreachable, apiv3_key=cert_sb.apiv3_key)  # start-up read fails: logged
    client = cert_sb.client(certs=keyring)
    try:
        assert keyring.refresh(client) and cert_sb.platform_certificate_serial in keyring and keyring.downloads == 1
    finally:
        client.get_driver().close()
    assert "shared certificate store RedisCertificateStore" in caplog.text and "ConnectionError" in caplog.text
