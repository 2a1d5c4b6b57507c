"""`wechatpay-chain certificates download` (PHP's CertificateDownloader) against the sandbox, both key modes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Tuple

import pytest

from wechatpay_chain.cli import main
from wechatpay_chain.crypto._pem import PemUtil
from wechatpay_chain.sandbox import Sandbox


def argv(sb: Sandbox, key_file: Path, out: Path, *extra: str, apiv3_key: str = "") -> List[str]:
    return ["certificates", "download", "-m", sb.mchid, "-s", sb.merchant_serial, "-f", str(key_file),
            "-k", apiv3_key or sb.apiv3_key, "-o", str(out), "-u", sb.base_uri, *extra]


@pytest.fixture
def key_file(tmp_path: Path, sandbox: Sandbox) -> Path:
    path = tmp_path / "apiclient_key.pem"
    path.write_text(sandbox.merchant_private_key_pem)  # every sandbox shares the per-process merchant key
    return path


def run(args: List[str], capsys: pytest.CaptureFixture[str]) -> Tuple[int, str, str]:
    rc = main(args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def assert_no_secret(sb: Sandbox, *texts: str) -> None:
    pem_lines = [line for line in sb.merchant_private_key_pem.splitlines() if "-----" not in line]
    for text in texts:
        assert sb.apiv3_key not in text and "PRIVATE KEY" not in text
        assert not any(line in text for line in pem_lines)
        assert "Traceback" not in text


def test_download_writes_verified_certificates(cert_sb: Sandbox, key_file: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "certs"
    rc, stdout, stderr = run(argv(cert_sb, key_file, out), capsys)
    serial = cert_sb.platform_certificate_serial
    assert rc == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == [f"wechatpay_{serial}.pem"]
    saved = PemUtil.load_certificate(str(out / f"wechatpay_{serial}.pem"))
    assert saved.serial_no == serial and saved.der == cert_sb.identity.certificate.der
    assert f"Serial Number: {serial}" in stdout
    assert f"Not Before: {saved.not_before.isoformat()}" in stdout
    assert f"Not After: {saved.not_after.isoformat()}" in stdout
    assert "downloading" in stderr and stderr.count("\n") == 1  # the progress line only
    assert_no_secret(cert_sb, stdout, stderr)


def test_the_key_file_may_be_given_as_a_file_url_as_php_takes_it(cert_sb: Sandbox, key_file: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    args = argv(cert_sb, key_file, tmp_path / "certs")
    args[args.index("-f") + 1] = "file://" + str(key_file)  # it was prefixed again: file://file:///...
    rc, stdout, stderr = run(args, capsys)
    assert rc == 0, stderr


def test_download_with_a_trusted_certificate(cert_sb: Sandbox, key_file: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    trusted = tmp_path / "trusted.pem"
    trusted.write_text(cert_sb.platform_certificate_pem)
    rc, _, stderr = run(argv(cert_sb, key_file, tmp_path / "o", "-c", str(trusted)), capsys)
    assert rc == 0, stderr


def test_public_key_mode_sandbox_download_needs_the_trusted_public_key(
    sandbox: Sandbox, key_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mode public_key (with certificates): v3/certificates is signed by PUB_KEY_ID_, not by a downloaded cert."""
    rc, _, stderr = run(argv(sandbox, key_file, tmp_path / "no"), capsys)
    assert rc == 1 and not (tmp_path / "no").exists()
    assert f"-c {sandbox.platform_public_key_id}=pub_key.pem" in stderr.splitlines()[-1]
    pub = tmp_path / "pub_key.pem"
    pub.write_text(sandbox.platform_public_key_pem)
    rc, stdout, stderr = run(argv(sandbox, key_file, tmp_path / "ok", "-c", f"{sandbox.platform_public_key_id}={pub}"),
                             capsys)
    assert rc == 0, stderr
    assert (tmp_path / "ok" / f"wechatpay_{sandbox.platform_certificate_serial}.pem").exists()


def error_lines(stderr: str) -> List[str]:
    return [line for line in stderr.splitlines() if not line.startswith("wechatpay-chain: downloading ")]


@pytest.mark.parametrize("case", ["wrong_apiv3_key", "bad_signature", "tampered_body", "untrusted_c",
                                  "wrong_private_key", "short_apiv3_key", "missing_key_file", "unreachable"])
def test_every_failure_is_one_line_no_file_no_secret(case: str, cert_sb: Sandbox, key_file: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = argv(cert_sb, key_file, out)
    expect = ""
    if case == "wrong_apiv3_key":
        args = argv(cert_sb, key_file, out, apiv3_key="0" * 32)
        expect = "apiv3_key is wrong"
    elif case in ("bad_signature", "tampered_body"):
        cert_sb.inject(case, path="/v3/certificates")
        expect = "Wechatpay-Signature does not verify"
    elif case == "untrusted_c":
        other = tmp_path / "other.pem"
        with Sandbox(mode="certificate") as second:
            other.write_text(second.platform_certificate_pem)
        args = argv(cert_sb, key_file, out, "-c", str(other))
        expect = "neither a downloaded certificate nor a trusted key"
    elif case == "wrong_private_key":
        wrong = tmp_path / "wrong.pem"
        wrong.write_text(cert_sb.identity.certificate_key.export_pem())
        args[args.index("-f") + 1] = str(wrong)
        expect = "401 SIGN_ERROR"
    elif case == "short_apiv3_key":
        args = argv(cert_sb, key_file, out, apiv3_key="short")
        expect = "must be 32 bytes"
    elif case == "missing_key_file":
        args[args.index("-f") + 1] = str(tmp_path / "nope.pem")
        expect = "cannot read the PEM file"
    elif case == "unreachable":
        with Sandbox() as gone:
            base = gone.base_uri
        args[args.index("-u") + 1] = base
        expect = "failed"
    try:
        rc, stdout, stderr = run(args, capsys)
    finally:
        cert_sb.clear_faults()
    assert rc == 1
    lines = error_lines(stderr)
    assert len(lines) == 1 and lines[0].startswith("wechatpay-chain: certificates download: ")
    assert expect in lines[0]
    assert not out.exists() and stdout == ""
    assert_no_secret(cert_sb, stdout, stderr)
    assert "0" * 32 not in stderr


def test_404_public_key_only_merchant_is_explained(pk_only_sb: Sandbox, key_file: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rc, stdout, stderr = run(argv(pk_only_sb, key_file, tmp_path / "o"), capsys)
    assert rc == 1 and stdout == "" and not (tmp_path / "o").exists()
    (line,) = error_lines(stderr)
    assert "404 RESOURCE_NOT_EXISTS" in line and "WeChat Pay public key (PUB_KEY_ID_...) mode" in line
    assert "configure certs={'PUB_KEY_ID_...': public key}" in line
    assert "`PUB_KEY_ID_... = pub_key.pem` under [certs]" in line  # issue 16: what a CLI user writes, too
    assert_no_secret(pk_only_sb, stdout, stderr)


def test_default_output_is_a_private_temp_dir(cert_sb: Sandbox, key_file: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    args = argv(cert_sb, key_file, tmp_path)
    i = args.index("-o")
    del args[i:i + 2]
    rc, _, stderr = run(args, capsys)
    assert rc == 0, stderr
    private = tmp_path / f"wechatpay-{os.geteuid()}" if hasattr(os, "geteuid") else None
    if private is not None:
        assert (private / f"wechatpay_{cert_sb.platform_certificate_serial}.pem").exists()
        assert str(private) in stderr


def test_help_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["certificates", "download", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("-m", "-s", "-f", "-k", "-o", "-u", "-c", "exit codes"):
        assert flag in text
    assert main(["certificates"]) == 2
    with pytest.raises(SystemExit) as info:
        main(["certificates", "download", "-m", "1"])
    assert info.value.code == 2


def test_console_script_failure_has_no_traceback(pk_only_sb: Sandbox, key_file: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "wechatpay_chain", *argv(pk_only_sb, key_file, tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and proc.stdout == ""
    assert len(error_lines(proc.stderr)) == 1
