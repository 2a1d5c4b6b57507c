"""The command line: `wechatpay-chain demo` in-process, `wechatpay-chain sandbox --credentials` as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, List

import pytest

from wechatpay_chain import Builder, Rsa, Sensitive
from wechatpay_chain.cli import COMMANDS, main


def test_demo_runs_the_seed_call_six_ways_and_refuses_a_forgery(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.count("-> POST /v3/payroll-card/authentications/pre-order-with-auth") == 6
    assert out.count("signature verified") == 6 and out.count('"expires_in": 1800') == 6
    assert out.count("the sandbox decrypted it back") == 12
    assert "VerificationError" in out and "All 7 steps passed" in out
    assert "Traceback" not in out and max(len(line) for line in out.splitlines()) <= 100


def test_usage_and_command_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "sandbox" in capsys.readouterr().err
    assert {"demo", "sandbox"} <= set(COMMANDS)
    with pytest.raises(SystemExit):
        main(["--version"])


def test_importing_the_package_and_cli_does_not_import_aiohttp() -> None:
    code = "import sys, wechatpay_chain, wechatpay_chain.cli; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _readline(stream: IO[str], timeout: float) -> str:
    got: List[str] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not got:
        raise AssertionError(f"no output within {timeout}s")
    return got[0]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX")
def test_sandbox_command_writes_credentials_any_client_can_use(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wechatpay_chain", "sandbox", "--port", "0", "--credentials", str(creds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        base_uri = _readline(proc.stdout, 30).strip()
        assert base_uri.startswith("http://127.0.0.1:") and base_uri.endswith("/")
        while "serving until" not in _readline(proc.stdout, 10):
            pass
        info = json.loads((creds / "sandbox.json").read_text())
        assert set(info) >= {"mchid", "serial", "platform_serial", "platform_certificate_serial", "apiv3_key",
                             "secret", "base_uri"}
        assert info["base_uri"] == base_uri and info["platform_serial"].startswith("PUB_KEY_ID_")
        assert len(info["apiv3_key"]) == len(info["secret"]) == 32
        assert (creds / "merchant_key.pem").stat().st_mode & 0o077 == 0
        assert "BEGIN CERTIFICATE" in (creds / "platform_certificate.pem").read_text()

        client = Builder.factory({
            "mchid": info["mchid"], "serial": info["serial"], "base_uri": info["base_uri"],
            "privateKey": Rsa.from_(f"file://{creds / 'merchant_key.pem'}"),
            "certs": {info["platform_serial"]: Rsa.from_(f"file://{creds / 'platform_public_key.pem'}", "public"),
                      info["platform_certificate_serial"]: (creds / "platform_certificate.pem").read_text()},
        })
        with client:
            r = client.v3.payrollCard.tokens.post(json={
                "openid": "o1", "appid": "wx1", "sub_mchid": "1900000109", "user_name": Sensitive("张三"),
                "id_card_number": Sensitive("110101199003071234"), "employment_type": "LONG_TERM_EMPLOYMENT",
            })
            assert r.json()["token"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stdout is not None and proc.stderr is not None
            proc.stdout.close()
            err = proc.stderr.read()
            proc.stderr.close()
    assert rc == 0, err


def test_credentials_are_written_private_and_never_through_a_symlink(tmp_path: Path) -> None:
    """An existing 0644 key file kept its mode with the key written into it, a symlink was followed, and
    sandbox.json (apiv3_key, secret) was world-readable."""
    import stat

    from wechatpay_chain.cli import write_credentials
    from wechatpay_chain.sandbox import Sandbox

    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "merchant_key.pem").write_text("old")
    (creds / "merchant_key.pem").chmod(0o644)
    target = tmp_path / "target"
    target.write_text("keep me")
    (creds / "platform_public_key.pem").symlink_to(target)
    with Sandbox() as sb:
        write_credentials(sb, str(creds))
    mode = lambda name: stat.S_IMODE((creds / name).stat().st_mode)  # noqa: E731
    assert mode("merchant_key.pem") == 0o600 and mode("sandbox.json") == 0o600
    assert "PRIVATE KEY" in (creds / "merchant_key.pem").read_text()
    assert target.read_text() == "keep me" and not (creds / "platform_public_key.pem").is_symlink()
    assert not list(creds.glob(".*.tmp"))
