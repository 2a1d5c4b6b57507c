"""`wechatpay-chain doctor`: the checklist in both key modes, and each failure it must name."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from tests.test_cli_request import silent_server
from wechatpay_chain.cli import main
from wechatpay_chain.client.settings import ENVIRONMENT
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
    mode = line(lines, "key mode matches the service")
    assert "404 RESOURCE_NOT_EXISTS" in mode and "`PUB_KEY_ID_... = pub_key.pem` under [certs]" in mode
    assert "certificates download" not in "\n".join(lines)  # it can only 404 for this merchant


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
        # the answer is signed by a platform certificate: this merchant has them, downloading works
        config, title, text = write_config(cert_sb, tmp_path, certs="none"), "answers verify", "certificates download"
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


# -- issue 16: exit 2 without a usable config; no `certificates download` advice in public-key mode ---------
def clear_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("extra", [[], ["--offline"]])
def test_an_empty_environment_exits_2_naming_what_is_missing(extra: List[str], monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`doctor --help` says 2 for no usable config; with no WECHATPAY_* variable and no --config it said 1."""
    clear_environment(monkeypatch)
    rc = main(["doctor", *extra])
    captured = capsys.readouterr()
    assert rc == 2
    err = captured.err.splitlines()
    assert len(err) == 1 and "no usable config" in err[0] and "--config FILE" in err[0], err
    assert all(f"WECHATPAY_{name}" in err[0] for name in ("MCHID", "SERIAL", "PRIVATE_KEY"))
    assert captured.out.splitlines() == [f"✗ config loads: {err[0].split('doctor: ', 1)[1]}"]


def test_a_config_file_naming_no_merchant_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "wechatpay.toml"
    config.write_text('[wechatpay]\nbase_uri = "https://api.mch.weixin.qq.com/"\napiv3_key = "%s"\n' % ("K" * 32))
    rc, lines, err = doctor(config, capsys)
    assert rc == 2 and len(lines) == 1 and len(err.splitlines()) == 1
    assert "sets none of mchid, serial, private_key" in err and "K" * 32 not in err + "\n".join(lines)


def test_a_partial_environment_is_still_checked(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Naming the merchant at all makes a config to check: each missing piece is its own ✗ line (exit 1)."""
    clear_environment(monkeypatch)
    monkeypatch.setenv("WECHATPAY_MCHID", "1230000109")
    rc = main(["doctor", "--offline"])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 1 and line(lines, "config loads").startswith("✓") and "`serial` is missing" in "\n".join(lines)


@pytest.mark.parametrize("certs", ["own", "none", "certificate"])
def test_a_public_key_only_merchant_is_never_told_to_download_certificates(
        certs: str, pk_only_sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """v3/certificates answers 404 RESOURCE_NOT_EXISTS: `certificates download` can only fail; the advice is the
    public key (its id and file from the merchant platform) in [certs]."""
    config = write_config(pk_only_sb, tmp_path, certs="own" if certs == "own" else "none")
    if certs == "certificate":
        config.write_text(config.read_text() + f"{pk_only_sb.platform_certificate_serial} = cert.pem\n")
    rc, lines, _ = doctor(config, capsys)
    assert "certificates download" not in "\n".join(lines)
    if certs == "own":
        assert rc == 0, lines
        return
    assert rc == 1
    for title in ("answers verify", "key mode matches the service"):
        assert "under [certs]" in line(lines, title) and "merchant platform" in line(lines, title)
    assert f"`{pk_only_sb.platform_public_key_id} = pub_key.pem`" in line(lines, "answers verify")


def test_a_public_key_config_needs_no_served_certificate(sandbox: Sandbox, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The service also serves certificates (a merchant mid-migration): a public-key config needs none of them."""
    rc, lines, _ = doctor(write_config(sandbox, tmp_path), capsys)
    assert rc == 0 and "0 warnings" in lines[-1], lines
    assert "certificates download" not in "\n".join(lines)
    assert line(lines, "configured certificates are current").startswith("✓")


def test_environment_advice_names_the_variable(pk_only_sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    write_config(pk_only_sb, tmp_path, certs="none")
    clear_environment(monkeypatch)
    for name, value in (("MCHID", pk_only_sb.mchid), ("SERIAL", pk_only_sb.merchant_serial),
                        ("PRIVATE_KEY", str(tmp_path / "key.pem")), ("BASE_URI", pk_only_sb.base_uri)):
        monkeypatch.setenv("WECHATPAY_" + name, value)
    rc = main(["doctor"])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 1 and "certificates download" not in "\n".join(lines)
    assert "no platform key in WECHATPAY_CERTS" in line(lines, "key mode:")
    assert "WECHATPAY_CERTS='PUB_KEY_ID_...=/path/pub_key.pem'" in line(lines, "key mode matches the service")


def test_offline_without_a_platform_key_says_when_each_applies(pk_only_sb: Sandbox, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, _ = doctor(write_config(pk_only_sb, tmp_path, certs="none"), capsys, "--offline")
    mode = line(lines, "key mode:")
    assert rc == 1 and mode.startswith("✗") and "in public-key mode add the WeChat Pay public key" in mode
    assert "a merchant with platform certificates" in mode and "without --offline" in mode


def test_the_config_timeout_bounds_the_service_check(sandbox: Sandbox, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with silent_server() as base_uri:
        config = write_config(sandbox, tmp_path)
        config.write_text(config.read_text().replace(f"base_uri = {sandbox.base_uri}",
                                                     f"base_uri = {base_uri}\ntimeout = 0.5"))
        started = time.monotonic()
        rc, lines, err = doctor(config, capsys)
        assert time.monotonic() - started < 5
    assert rc == 1 and line(lines, "the service answers").startswith("✗") and "Traceback" not in err
