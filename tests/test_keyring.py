"""Keyring and AutoKeyring against the sandbox: refresh on an unknown serial, rate limit, stores, both key modes."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List

import pytest

from wechatpay_chain import AesGcm, Builder, Keyring, Response
from wechatpay_chain.crypto._pem import build_certificate
from wechatpay_chain.errors import ClientError, DecryptionError, InvalidArgumentError, VerificationError
from wechatpay_chain.keys._auto_keyring import AutoKeyring, DirectoryStore, MemoryStore
from wechatpay_chain.keys._certificates import PUBLIC_KEY_MODE_HINT, PublicKeyModeError, decrypt_certificates
from wechatpay_chain.sandbox import Sandbox

MODES = ["sync", "async"]


class Clock:
    """A keyring clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now




def order(sb: Sandbox) -> Dict[str, Any]:
    return {"appid": "wxd678efh567hg6787", "mchid": sb.mchid, "description": "keyring test",
            "out_trade_no": "kr" + secrets.token_hex(8), "notify_url": "https://example.com/notify",
            "amount": {"total": 1}}


def call(client: Any, sb: Sandbox, mode: str) -> Response:
    """One signed, verified business call (a native prepay) through post or post_async."""
    node = client.v3.pay.transactions.native
    if mode == "sync":
        return node.post(json=order(sb))  # type: ignore[no-any-return]

    async def run() -> Response:
        try:
            return await node.post_async(json=order(sb))  # type: ignore[no-any-return]
        finally:
            await client.get_driver().close_async()

    return asyncio.run(run())


def downloads(sb: Sandbox) -> int:
    return sum(1 for r in sb.requests if r.path == "/v3/certificates")


def make(sb: Sandbox, certs: Any) -> Any:
    return sb.client(certs=certs)


@pytest.mark.parametrize("mode", MODES)
def test_unknown_serial_refreshes_once_and_the_call_succeeds(cert_sb: Sandbox, mode: str) -> None:
    keyring = AutoKeyring()
    client = make(cert_sb, keyring)
    before = downloads(cert_sb)
    response = call(client, cert_sb, mode)
    assert response.status_code == 200 and "code_url" in response.json()
    assert cert_sb.platform_certificate_serial in keyring and keyring.downloads == 1
    assert downloads(cert_sb) == before + 1
    call(client, cert_sb, mode)  # now known: no second download
    assert keyring.downloads == 1 and downloads(cert_sb) == before + 1
    client.get_driver().close()


def test_concurrent_async_callers_share_one_download(cert_sb: Sandbox) -> None:
    keyring = AutoKeyring()
    client = make(cert_sb, keyring)
    before = downloads(cert_sb)

    async def run() -> List[Response]:
        try:
            node = client.v3.pay.transactions.native
            return list(await asyncio.gather(*(node.post_async(json=order(cert_sb)) for _ in range(6))))
        finally:
            await client.get_driver().close_async()

    assert all(r.status_code == 200 for r in asyncio.run(run()))
    assert keyring.downloads == 1 and downloads(cert_sb) == before + 1


def test_with_crypto_threads_the_certificate_download_signs_in_the_pool_too(cert_sb: Sandbox) -> None:
    """The AutoKeyring download is a sub-flow of the call: its RSA sign is an Offload like the call's own."""
    from wechatpay_chain import Rsa

    key = cert_sb.identity.merchant_key
    threads: List[str] = []

    def signer(message: str) -> str:
        threads.append(threading.current_thread().name)
        return Rsa.sign(message, key)

    keyring = AutoKeyring()
    client = cert_sb.client(certs=keyring, signer=signer, crypto_threads=1)

    async def run() -> Response:
        try:
            return await client.v3.pay.transactions.native.post_async(json=order(cert_sb))
        finally:
            await client.get_driver().close_async()

    assert asyncio.run(run()).status_code == 200 and keyring.downloads == 1
    assert len(threads) == 2 and all(name.startswith("wechatpay-crypto") for name in threads)  # call + download


@pytest.mark.parametrize("mode", MODES)
def test_rate_limit_a_second_unknown_serial_within_the_window_does_not_download(mode: str) -> None:
    clock = Clock()
    keyring = AutoKeyring(clock=clock, min_interval=60)
    with Sandbox(mode="certificate") as a, Sandbox(mode="certificate") as b:  # b: a rotated certificate
        call(make(a, keyring), a, mode)
        assert keyring.downloads == 1 and a.platform_certificate_serial in keyring
        clock.now += 30
        with pytest.raises(VerificationError, match="not a known platform serial"):
            call(make(b, keyring), b, mode)
        assert keyring.downloads == 1 and downloads(b) == 0
        clock.now += 31  # the window has passed: the rotated certificate is fetched
        assert call(make(b, keyring), b, mode).status_code == 200
        assert keyring.downloads == 2 and downloads(b) == 1 and b.platform_certificate_serial in keyring


def test_a_failed_download_also_counts_against_the_rate_limit(cert_sb: Sandbox, caplog: Any) -> None:
    clock = Clock()
    keyring = AutoKeyring(clock=clock)
    client = make(cert_sb, keyring)
    cert_sb.inject("status", code=500, path="/v3/certificates")
    try:
        # the scheduled download fails (logged, not raised); the answer's serial is then unknown
        with pytest.raises(VerificationError, match="not a known platform serial"):
            call(client, cert_sb, "sync")
        assert "scheduled platform certificate refresh failed: 500 SYSTEM_ERROR" in caplog.text
        before = downloads(cert_sb)
        with pytest.raises(VerificationError):
            call(client, cert_sb, "sync")
        assert downloads(cert_sb) == before and keyring.downloads == 1
        clock.now += 60
        assert call(client, cert_sb, "sync").status_code == 200
    finally:
        cert_sb.clear_faults()
        client.get_driver().close()


def test_two_keyrings_are_independent() -> None:
    with Sandbox(mode="certificate") as a, Sandbox(mode="certificate", mchid="1900000002") as b:
        ka, kb = AutoKeyring(), AutoKeyring()
        call(make(a, ka), a, "sync")
        call(make(b, kb), b, "sync")
        assert list(ka) == [a.platform_certificate_serial] and list(kb) == [b.platform_certificate_serial]
        assert ka.downloads == kb.downloads == 1
        with pytest.raises(InvalidArgumentError, match="give merchant 1900000002 its own"):
            ka.refresh(make(b, ka))


@pytest.mark.parametrize("mode", MODES)
def test_scheduled_refresh_runs_before_a_call_when_due(cert_sb: Sandbox, mode: str) -> None:
    clock = Clock()
    keyring = AutoKeyring({cert_sb.platform_certificate_serial: cert_sb.platform_certificate_pem}, clock=clock,
                          max_age=3600)
    client = make(cert_sb, keyring)
    before = downloads(cert_sb)
    assert call(client, cert_sb, mode).status_code == 200  # never fetched: due, downloaded first
    assert downloads(cert_sb) == before + 1 and keyring.fetched_at == clock.now
    assert call(client, cert_sb, mode).status_code == 200  # fresh: no download
    assert downloads(cert_sb) == before + 1
    clock.now += 3600
    assert keyring.due and call(client, cert_sb, mode).status_code == 200  # max_age later: downloaded again
    assert downloads(cert_sb) == before + 2 and not keyring.due
    client.get_driver().close()


def test_directory_store_round_trip(cert_sb: Sandbox, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "certs")
    keyring = AutoKeyring(store=store)
    client = make(cert_sb, keyring)
    got = keyring.refresh(client)
    serial = cert_sb.platform_certificate_serial
    assert [c.serial_no for c in got] == [serial]
    files = sorted(p.name for p in (tmp_path / "certs").iterdir())
    assert files == [f"wechatpay_{serial}.pem"]  # no temp file left behind
    client.get_driver().close()

    again = AutoKeyring(store=DirectoryStore(tmp_path / "certs"))  # a restart: loaded, nothing downloaded
    assert serial in again and again.downloads == 0
    before = downloads(cert_sb)
    assert call(make(cert_sb, again), cert_sb, "sync").status_code == 200
    assert downloads(cert_sb) == before and again.downloads == 0
    assert "DirectoryStore" in repr(again)


def test_memory_store_and_refresh_async(cert_sb: Sandbox) -> None:
    store = MemoryStore()
    keyring = AutoKeyring(store=store)
    client = make(cert_sb, keyring)

    async def run() -> Any:
        try:
            return await keyring.refresh_async(client)
        finally:
            await client.get_driver().close_async()

    assert [c.serial_no for c in asyncio.run(run())] == [cert_sb.platform_certificate_serial]
    assert cert_sb.platform_certificate_serial in store.load()
    assert cert_sb.platform_certificate_serial in AutoKeyring(store=store)


def test_schedule_refresh_if_due(cert_sb: Sandbox) -> None:
    clock = Clock()
    keyring = AutoKeyring(clock=clock, max_age=12 * 3600)
    client = make(cert_sb, keyring)
    assert keyring.due
    assert len(keyring.refresh_if_due(client)) == 1 and keyring.fetched_at == clock.now
    assert not keyring.due and keyring.refresh_if_due(client) == [] and keyring.downloads == 1
    clock.now += 12 * 3600
    assert keyring.due and len(keyring.refresh_if_due(client)) == 1 and keyring.downloads == 2
    client.get_driver().close()


@pytest.mark.parametrize("mode", MODES)
def test_public_key_mode_never_downloads(sandbox: Sandbox, mode: str) -> None:
    before = downloads(sandbox)
    plain = sandbox.client(certs={sandbox.platform_public_key_id: sandbox.platform_public_key_pem})
    assert call(plain, sandbox, mode).status_code == 200
    auto = AutoKeyring({sandbox.platform_public_key_id: sandbox.platform_public_key_pem})
    assert call(make(sandbox, auto), sandbox, mode).status_code == 200
    sandbox.inject("unknown_serial", times=2)  # an unknown PUB_KEY_ID_: a download cannot help
    try:
        for client in (plain, make(sandbox, auto)):
            with pytest.raises(VerificationError, match="not a known platform serial"):
                call(client, sandbox, mode)
    finally:
        sandbox.clear_faults()
    assert downloads(sandbox) == before and auto.downloads == 0


def test_public_key_only_merchant_404_is_explained(pk_only_sb: Sandbox) -> None:
    keyring = AutoKeyring({pk_only_sb.platform_public_key_id: pk_only_sb.platform_public_key_pem})
    client = make(pk_only_sb, keyring)
    with pytest.raises(PublicKeyModeError) as info:
        keyring.refresh(client)
    assert isinstance(info.value, ClientError) and info.value.status_code == 404
    assert info.value.code == "RESOURCE_NOT_EXISTS" and PUBLIC_KEY_MODE_HINT in str(info.value)
    assert "PUB_KEY_ID_" in str(info.value) and keyring.public_key_mode and not keyring.due
    assert call(client, pk_only_sb, "sync").status_code == 200  # the public key keeps working
    client.get_driver().close()


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_auto_keyring_of_a_public_key_merchant_says_what_to_configure(pk_only_sb: Sandbox, mode: str) -> None:
    """Issue 16: every call raised "... is not a known platform serial ()", the advice only in a WARNING log."""
    client = make(pk_only_sb, AutoKeyring())
    for _ in range(2):  # the call that finds the 404, and the next one (the 404 is remembered)
        with pytest.raises(VerificationError) as info:
            call(client, pk_only_sb, mode)
        said = str(info.value)
        assert isinstance(info.value.__cause__, PublicKeyModeError) and info.value.__cause__.status_code == 404
        assert f"configure certs={{{pk_only_sb.platform_public_key_id!r}: Rsa.from_(" in said
        assert "404 RESOURCE_NOT_EXISTS" in said and "()" not in said
    client.get_driver().close()


def test_an_unknown_public_key_id_says_how_to_configure_it(sandbox: Sandbox) -> None:
    """A certificate-only config meeting a PUB_KEY_ID_ answer (a migrating merchant) is told what to add."""
    client = sandbox.client(certs={sandbox.platform_certificate_serial: sandbox.platform_certificate_pem})
    with pytest.raises(VerificationError, match=r"is not a known platform serial \(.+\); if it is your merchant's "
                       r"WeChat Pay public key .*configure it: certs=\{'PUB_KEY_ID_\.\.\.'"):
        call(client, sandbox, "sync")
    client.get_driver().close()


def test_public_key_mode_download_is_verified_with_the_trusted_key(sandbox: Sandbox) -> None:
    """Mode public_key with certificates: the download is signed by PUB_KEY_ID_, already trusted."""
    keyring = AutoKeyring({sandbox.platform_public_key_id: sandbox.platform_public_key_pem})
    client = make(sandbox, keyring)
    assert [c.serial_no for c in keyring.refresh(client)] == [sandbox.platform_certificate_serial]
    assert set(keyring) == {sandbox.platform_public_key_id, sandbox.platform_certificate_serial}
    assert keyring.encryption_key()[0] == sandbox.platform_public_key_id
    client.get_driver().close()


@pytest.mark.parametrize("fault", ["bad_signature", "tampered_body"])
def test_a_forged_download_is_refused_and_nothing_is_added(cert_sb: Sandbox, fault: str) -> None:
    keyring = AutoKeyring()
    client = make(cert_sb, keyring)
    cert_sb.inject(fault, path="/v3/certificates")
    try:
        with pytest.raises(VerificationError):
            keyring.refresh(client)
    finally:
        cert_sb.clear_faults()
        client.get_driver().close()
    assert len(keyring) == 0


def test_wrong_apiv3_key_is_a_decryption_error(cert_sb: Sandbox) -> None:
    keyring = AutoKeyring(apiv3_key="x" * 32)
    client = make(cert_sb, keyring)
    with pytest.raises(DecryptionError, match="apiv3_key is wrong") as info:
        keyring.refresh(client)
    assert cert_sb.apiv3_key not in str(info.value) and len(keyring) == 0
    client.get_driver().close()


def test_no_apiv3_key_is_refused_before_io(cert_sb: Sandbox) -> None:
    keyring = AutoKeyring()
    client = make(cert_sb, keyring)
    before = len(cert_sb.requests)
    client.get_driver().config  # noqa: B018
    no_key = Builder.factory(cert_sb.client_config(certs=keyring, apiv3_key=None))
    with pytest.raises(InvalidArgumentError, match="APIv3 key"):
        keyring.refresh(no_key)
    assert len(cert_sb.requests) == before
    client.get_driver().close()


def test_plain_keyring_is_unchanged() -> None:
    keyring = Keyring()
    assert not keyring.may_refresh("ABC") and list(keyring.refresh_flow(None, "ua")) == []  # type: ignore[arg-type]


# -- the pure checks on a download body ---------------------------------------------------------------
def _body(certs: List[Any], key: str, serials: List[str]) -> Response:
    rows = []
    for cert, serial in zip(certs, serials):
        nonce = secrets.token_hex(6)
        rows.append({"serial_no": serial, "encrypt_certificate": {
            "algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "certificate",
            "ciphertext": AesGcm.encrypt(cert.pem, key, nonce, "certificate")}})
    return Response.build(200, {}, json.dumps({"data": rows}).encode())


def test_validity_window_and_serial_are_checked(cert_sb: Sandbox) -> None:
    key_ = cert_sb.identity.certificate_key
    now = datetime.now(timezone.utc).replace(microsecond=0)
    expired = build_certificate(subject_key=key_, issuer_key=key_, serial=7, subject_cn="old",
                                not_before=now - timedelta(days=30), not_after=now - timedelta(days=1))
    current = cert_sb.identity.certificate
    usable, skipped = decrypt_certificates(_body([expired, current], "k" * 32, ["07", current.serial_no]), "k" * 32)
    assert [c.serial_no for c in usable] == [current.serial_no] and [c.serial_no for c in skipped] == ["07"]
    with pytest.raises(VerificationError, match="holds a certificate with serial"):
        decrypt_certificates(_body([current], "k" * 32, ["0A0B"]), "k" * 32)
    with pytest.raises(VerificationError, match="no certificate"):
        decrypt_certificates(Response.build(200, {}, b'{"data": []}'), "k" * 32)


def test_a_download_cancelled_mid_call_does_not_leave_the_keyring_waiting(cert_sb: Sandbox) -> None:
    """The in-flight mark is cleared by the flow's own `finally`: the drivers close the flow when a call is
    interrupted, even if the caller keeps the exception (which held the suspended flow alive)."""
    keyring = AutoKeyring(wait=5, min_interval=0.2)
    client = cert_sb.client(certs=keyring)
    cert_sb.inject("delay", path="/v3/certificates", seconds=1)
    kept: List[BaseException] = []

    async def main() -> None:
        node = client.v3.pay.transactions.native
        task = asyncio.ensure_future(node.post_async(json=order(cert_sb)))
        await asyncio.sleep(0.3)  # inside the certificate download
        task.cancel()
        try:
            await task
        except asyncio.CancelledError as exc:
            kept.append(exc)
        assert not keyring._in_flight
        await client.get_driver().close_async()

    try:
        asyncio.run(main())
    finally:
        cert_sb.clear_faults()
    assert kept and not keyring._in_flight
    time.sleep(0.2)  # the rate limit counts the cancelled attempt
    started = time.monotonic()
    assert client.v3.pay.transactions.native.post(json=order(cert_sb)).status_code == 200
    assert time.monotonic() - started < 3  # it downloaded again, not waited 5 s for a download nobody runs
    client.get_driver().close()


def test_a_store_that_cannot_save_only_logs(cert_sb: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The certificates are verified and in use; a full disk or a bad path must not fail the payment call."""
    (tmp_path / "file").write_text("")
    keyring = AutoKeyring(store=DirectoryStore(tmp_path / "file" / "certs"))
    client = cert_sb.client(certs=keyring)
    with caplog.at_level("WARNING", logger="wechatpay_chain"):
        assert client.v3.pay.transactions.native.post(json=order(cert_sb)).status_code == 200
    assert keyring.fetched_at is not None and keyring.downloads == 1
    assert any("not saved" in r.getMessage() for r in caplog.records)
    client.get_driver().close()


def test_rate_limits_run_on_a_clock_that_never_steps_back() -> None:
    keyring = AutoKeyring(min_interval=0.05)
    assert keyring._ticks is time.monotonic  # the default wall clock is only for certificate validity
    keyring._last_attempt = time.monotonic()
    keyring._clock = lambda: time.time() - 3600  # the wall clock steps back an hour (NTP)
    assert not keyring.may_refresh("SERIAL")
    time.sleep(0.06)
    assert keyring.may_refresh("SERIAL")


@pytest.mark.parametrize("key", ["abc", "张" * 32])
def test_an_apiv3_key_that_is_not_32_bytes_is_refused_up_front(key: str) -> None:
    """It failed only later, as 'not a known platform serial ()', with the cause in a log line."""
    with pytest.raises(InvalidArgumentError, match="32 bytes"):
        AutoKeyring(apiv3_key=key)
