"""`wechatpay-chain doctor`: the checklist in both key modes, and each failure it must name."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from wechatpay_chain.cli import main
from wechatpay_chain.crypto._pem import build_certificate
from wechatpay_chain.crypto._rsa import RsaKey
from wechatpay_chain.sandbox import Sandbox


def merchant_certificate(sb: Sandbox, key: Optional[RsaKey] = None, serial: Optional[str] = None) -> str:
    now = datetime.now(timezone.utc)
    subject = key or sb.identity.merchant_key
    return build_certificate(subject_key=subject, issuer_key=sb.identity.certificate_key,
                             serial=int(serial or sb.merchant_serial, 16), subject_cn=sb.mchid,
                             issuer_cn="Tenpay.com Root CA", not_before=now - timedelta(days=1),
                             not_after=now + timedelta(days=365)).pem


def write_config(sb: Sandbox, root: Path, *, certs: str = "own", apiv3_key: Optional[str] = None,
                 merchant_cert: Optional[str] = None, private_key: Optional[str] = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "key.pem").write_text(private_key or sb.merchant_private_key_pem)
    (root / "cert.pem").write_text(sb.platform_certificate_pem)
    (root / "pub.pem").write_text(sb.platform_public_key_pem)
    lines = ["[wechatpay]", f"mchid = {sb.mchid}", f"serial = {sb.merchant_serial}", "private_key = key.pem",
             f"apiv3_key = {apiv3_key or sb.apiv3_key}", f"base_uri = {sb.base_uri}"]
    if merchant_cert is not None:
        (root / "apiclient_cert.pem").write_text(merchant_cert)
        lines.append("merchant_certificate = apiclient_cert.pem")
    lines.append("[certs]")
    if certs in ("own", "both"):
        if sb.mode == "certificate" or certs == "both":
            lines.append(f"{sb.platform_certificate_serial} = cert.pem")
        if sb.mode == "public_key" or certs == "both":
            lines.append(f"{sb.platform_public_key_id} = pub.pem")
    path = root / "wechatpay.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def doctor(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> Tuple[int, List[str], str]:
    rc = main(["doctor", "--config", str(config), *extra])
    captured = capsys.readouterr()
    return rc, captured.out.splitlines(), captured.err


def line(lines: List[str], title: str) -> str:
    found = [x for x in lines if title in x]
    assert found, f"no {title!r} line in {lines}"
    return found[0]


def test_certificate_mode_all_green(cert_sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, err = doctor(write_config(cert_sb, tmp_path, merchant_cert=merchant_certificate(cert_sb)), capsys)
    assert rc == 0, lines
    assert line(lines, "private key loads").startswith("✓")
    assert line(lines, "private key matches the merchant certificate").startswith("✓")
    assert line(lines, "`serial` is the merchant certificate's serial").startswith("✓")
    assert "platform certificates" in line(lines, "key mode")
    assert "more days" in line(lines, f"platform certificate {cert_sb.platform_certificate_serial}")
    assert line(lines, " clock:").startswith("✓")
    assert line(lines, "APIv3 key").startswith("✓") and "decrypted 1" in line(lines, "APIv3 key")
    assert "0 failed" in lines[-1] and "contacting" in err
    assert cert_sb.apiv3_key not in "\n".join(lines) + err


def test_public_key_mode_says_the_apiv3_key_cannot_be_checked(pk_only_sb: Sandbox, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, _ = doctor(write_config(pk_only_sb, tmp_path), capsys)
    assert rc == 0, lines
    assert "WeChat Pay public key (PUB_KEY_ID_" in line(lines, "key mode:")
    assert line(lines, "key mode matches the service").startswith("✓")
    apiv3 = line(lines, "APIv3 key")
    assert apiv3.startswith("–") and "public-key mode" in apiv3
    assert line(lines, "answers verify").startswith("✓")


def test_both_keys_configured(sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, _ = doctor(write_config(sandbox, tmp_path, certs="both"), capsys)
    assert rc == 0, lines and "both" in line(lines, "key mode")


def test_certificate_merchant_configured_as_public_key_only(cert_sb: Sandbox, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A public-key-only config against a certificate-signing service: the answer's serial is not configured."""
    config = write_config(cert_sb, tmp_path, certs="none")
    config.write_text(config.read_text() + f"{cert_sb.platform_public_key_id} = pub.pem\n")
    rc, lines, _ = doctor(config, capsys)
    assert rc == 1
    assert "certificates download" in line(lines, "answers verify")


def test_public_key_only_service_with_a_certificate_config(pk_only_sb: Sandbox, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(pk_only_sb, tmp_path, certs="none")
    config.write_text(config.read_text() + f"{pk_only_sb.platform_certificate_serial} = cert.pem\n")
    rc, lines, _ = doctor(config, capsys)
    assert rc == 1
    assert "configure certs={'PUB_KEY_ID_...': public key}" in line(lines, "key mode matches the service")


@pytest.mark.parametrize("case", ["wrong_apiv3_key", "wrong_merchant_cert", "wrong_serial_cert", "wrong_private_key",
                                  "no_certs"])
def test_each_failure_is_named(case: str, cert_sb: Sandbox, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    other = cert_sb.identity.platform_key  # a key that is not the merchant's
    if case == "wrong_apiv3_key":
        config, title, text = write_config(cert_sb, tmp_path, apiv3_key="0" * 32), "APIv3 key", "apiv3_key is wrong"
    elif case == "wrong_merchant_cert":
        config = write_config(cert_sb, tmp_path, merchant_cert=merchant_certificate(cert_sb, key=other))
        title, text = "private key matches the merchant certificate", "wrong key or certificate"
    elif case == "wrong_serial_cert":
        config = write_config(cert_sb, tmp_path, merchant_cert=merchant_certificate(cert_sb, serial="0A0B0C"))
        title, text = "`serial` is the merchant certificate's serial", "the certificate's is 0A0B0C"
    elif case == "wrong_private_key":
        config = write_config(cert_sb, tmp_path, private_key=other.export_pem())
        title, text = "the service accepts our signature", "401 SIGN_ERROR"
    else:
        config, title, text = write_config(cert_sb, tmp_path, certs="none"), "key mode", "certificates download"
    rc, lines, err = doctor(config, capsys)
    assert rc == 1
    assert line(lines, title).startswith("✗") and text in line(lines, title)
    assert "Traceback" not in err and "0" * 32 not in "\n".join(lines)


@pytest.mark.parametrize("skew, mark", [(120, "!"), (900, "✗")])
def test_clock_skew_is_measured(skew: int, mark: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(clock=lambda: time.time() + skew) as sb:
        rc, lines, _ = doctor(write_config(sb, tmp_path), capsys)
    clock = line(lines, " clock:")
    assert clock.startswith(mark) and (f"+{skew}s" in clock or f"+{skew - 1}s" in clock)
    assert rc == (1 if mark == "✗" else 0)


def test_offline_and_unreachable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox() as gone:
        config = write_config(gone, tmp_path)
    rc, lines, _ = doctor(config, capsys, "--offline")
    assert rc == 0 and line(lines, "the service accepts").startswith("–")
    rc, lines, _ = doctor(config, capsys)
    assert rc == 1 and line(lines, "the service answers").startswith("✗")


def test_missing_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, err = doctor(tmp_path / "nope.ini", capsys)
    assert rc == 2 and lines[0].startswith("✗ config loads") and "Traceback" not in err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["doctor", "--help"])
    assert info.value.code == 0 and "exit codes" in capsys.readouterr().out
