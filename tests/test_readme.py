"""Every Python example of the README runs as written, against a real sandbox standing in for the service.

A reader runs the README top to bottom: Quick start builds `config` and `client`, and the later examples use
them. So does this test: the Quick start block runs first, then every other block in README order, each in a
copy of the names Quick start left (one example's `client = ...` does not leak into the next).

What stands for the reader's own values, and nothing else, is the sandbox's:
- the files under `/path/to/` (the merchant key and certificate, the WeChat Pay public key, an image) and the
  certificate directory are written to a temporary directory, and those paths point there;
- the README's merchant serial and `PUB_KEY_ID_...` are the sandbox's (its mchid is the README's);
- `APIV3_KEY`, `APIV2_KEY`, and `request`/`raw_body` (a real notification the sandbox sent to a loopback
  receiver) are given, as the README says;
- the default `base_uri` is the sandbox's (the README's configs, like a real merchant's, give none);
- the orders the examples query exist.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from wechatpay_chain.client import _config
from wechatpay_chain.crypto import PemUtil, Rsa
from wechatpay_chain.crypto._pem import build_certificate
from wechatpay_chain.sandbox import Sandbox

README = Path(__file__).resolve().parent.parent / "README.md"
MCHID = "1900000001"
#: the README's stand-ins for a reader's own values
SERIAL = "3775B6A45ACD588826D15E583A95F5DD7B4E1C3A"
PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
#: the orders the examples query (a reader's existing orders)
ORDER = "1217752501201407033233368018"
#: a 1x1 JPEG
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f141d1a"
    "1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001000101011100ffc4001f"
    "0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d0102"
    "0300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a34353637"
    "38393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999a"
    "a2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7"
    "f8f9faffda0008010100003f00fbd3ffd9"
)


def blocks(language: str = "python") -> List[Tuple[str, str]]:
    """(heading, code) of every fenced block in `language`, in README order."""
    out, heading, fence, code = [], "", None, []
    for line in README.read_text(encoding="utf-8").splitlines():
        if fence is None and line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif fence is None and line.startswith("```"):
            fence, code = line[3:].strip(), []
        elif fence is not None and line.startswith("```"):
            if fence == language:
                out.append((heading, "\n".join(code) + "\n"))
            fence = None
        elif fence is not None:
            code.append(line)
    return out


def test_readme_first_lines_are_the_two_newcomer_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert block[0].startswith("pip install . && wechatpay-chain demo")
    assert block[1].startswith("pip install '.[test]' && python -m pytest")


class Receiver(BaseHTTPRequestHandler):
    """A loopback notification endpoint: keeps what it got, answers 204 as a merchant's handler does."""

    got: List[Tuple[Dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).got.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/notify"
    finally:
        server.shutdown()
        server.server_close()


def order(out_trade_no: str, notify_url: str = "https://example.com/notify") -> Dict[str, Any]:
    return {"appid": "wxd678efh567hg6787", "mchid": MCHID, "description": "README", "out_trade_no": out_trade_no,
            "notify_url": notify_url, "amount": {"total": 1, "currency": "CNY"}}


def a_notification(sb: Sandbox) -> Tuple[Any, bytes]:
    """A real notification, as a web framework hands it to the reader: (request with .headers, raw body)."""
    paid = "README-NOTIFY-" + secrets.token_hex(6)
    with receiver() as url, sb.client() as client:
        client.v3.pay.transactions.native.post(json=order(paid, url))
        Receiver.got.clear()
        assert sb.pay(paid) == 204
    headers, body = Receiver.got[-1]
    return SimpleNamespace(headers=headers), body


def reader_files(sb: Sandbox, root: Path) -> None:
    """The files a reader has: what the README's `/path/to/` names."""
    now = datetime.now(timezone.utc)
    merchant_key = Rsa.from_(sb.merchant_private_key_pem, Rsa.KEY_TYPE_PRIVATE)
    cert = build_certificate(subject_key=merchant_key, issuer_key=merchant_key, serial=int(sb.merchant_serial, 16),
                             subject_cn=MCHID, not_before=now - timedelta(days=1), not_after=now + timedelta(days=30))
    (root / "apiclient_key.pem").write_text(sb.merchant_private_key_pem)
    (root / "apiclient_cert.pem").write_text(cert.pem)
    (root / "pub_key.pem").write_text(sb.platform_public_key_pem)
    (root / "image.jpg").write_bytes(JPEG)
    assert PemUtil.parse_certificate_serial_no(cert.pem) == sb.merchant_serial


@pytest.fixture(scope="module")
def readme_sandbox() -> Iterator[Sandbox]:
    with Sandbox(mchid=MCHID) as sb:
        yield sb


@pytest.fixture
def reader(readme_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    """The names and the stand-ins of the module docstring; returns {'names': ..., 'swap': ...}."""
    sb = readme_sandbox
    reader_files(sb, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_config, "DEFAULT_BASE_URI", sb.base_uri)
    with sb.client() as client:
        for no in (ORDER,):
            if no not in sb.v3.orders:
                client.v3.pay.transactions.native.post(json=order(no))
    request, raw_body = a_notification(sb)
    names = {"APIV3_KEY": sb.apiv3_key, "APIV2_KEY": sb.secret, "request": request, "raw_body": raw_body,
             "__name__": "readme_example"}
    swap = {"/path/to/": f"{tmp_path}/", "/var/lib/wechatpay/certs": str(tmp_path / "certs"),
            SERIAL: sb.merchant_serial, PUB_KEY_ID: sb.platform_public_key_id}
    return {"names": names, "swap": swap}


def as_run(code: str, swap: Dict[str, str]) -> str:
    for old, new in swap.items():
        code = code.replace(old, new)
    return code


def run_block(heading: str, code: str, names: Dict[str, Any], swap: Dict[str, str]) -> str:
    """Execute one block; returns what it printed. A failure names the README section."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(as_run(code, swap), f"README.md ({heading})", "exec"), names)
    except Exception as exc:
        raise AssertionError(f"the README example under {heading!r} fails: {type(exc).__name__}: {exc}") from exc
    return out.getvalue()


def test_every_python_example_of_the_readme_runs(reader: Dict[str, Any]) -> None:
    every = blocks()
    quick = [b for b in every if b[0] == "Quick start"]
    assert len(quick) == 1 and len(every) >= 12, "README lost its examples"
    names, swap = reader["names"], reader["swap"]
    printed = run_block(*quick[0], names, swap)
    first = names["resp"].json()
    assert set(first) == {"authenticate_number", "openid", "mchid", "sub_mchid", "token", "expires_in"}
    assert printed.startswith("200 {'authenticate_number': 'mcdhehfgisdhfjghed39384564i83'")
    ran = 1
    for heading, code in every:
        if heading != "Quick start":
            run_block(heading, code, dict(names), swap)
            ran += 1
    assert ran == len(every)


def test_the_error_example_prints_the_services_refusal(reader: Dict[str, Any]) -> None:
    names, swap = reader["names"], reader["swap"]
    run_block(*[b for b in blocks() if b[0] == "Quick start"][0], names, swap)
    (errors,) = [b for b in blocks() if b[0] == "Errors"]
    assert run_block(*errors, dict(names), swap).startswith("400 PARAM_ERROR ")


def test_the_sandbox_shell_example_serves_and_writes_its_credentials(tmp_path: Path) -> None:
    """README "From the shell": `wechatpay-chain sandbox --port 8080 --credentials ./sandbox-creds`, on a free port."""
    (shell,) = [code for heading, code in blocks("bash") if "wechatpay-chain sandbox" in code]
    command = next(line for line in shell.splitlines() if line.startswith("wechatpay-chain sandbox"))
    args = command.split("#")[0].split()[1:]
    args[args.index("--port") + 1] = "0"
    proc = subprocess.Popen([sys.executable, "-m", "wechatpay_chain", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        base_uri = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", base_uri)
        for line in proc.stdout:
            if "serving until" in line:
                break
        creds = tmp_path / "sandbox-creds"
        info = json.loads((creds / "sandbox.json").read_text())
        assert info["base_uri"] == base_uri and {p.name for p in creds.glob("*.pem")} == {
            "merchant_key.pem", "platform_public_key.pem", "platform_certificate.pem"}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def table_names(title: str) -> set:
    """The backticked names in the first column of the tables in a README section."""
    names = set()
    for line in section(title).splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([^`]+)`", line.split(" | ")[0]))
    return names


def test_the_options_table_names_every_option() -> None:
    """Issue 16: `stream` was missing. Every request option the chain takes is documented."""
    from wechatpay_chain.protocol._v3 import OPTION_KEYS

    assert set(OPTION_KEYS) <= table_names("Options")


def test_the_configuration_table_names_every_config_key() -> None:
    """Issue 16: `retries` and `max_clock_offset` were missing."""
    assert set(_config._KNOWN) <= table_names("Configuration")


def test_the_command_line_table_names_every_option_of_every_command() -> None:
    """Issue 16: `sandbox --mchid`, `request --header/--security` were missing."""
    from wechatpay_chain.cli import COMMANDS

    lines = section("Command line").splitlines()
    rows = {line.split("`")[1].split()[0]: line for line in lines if line.startswith("| `")}
    for name, (_, add_arguments, _) in COMMANDS.items():
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", parser.format_help())) - {"--help"}
        documented = set(re.findall(r"--[a-z][a-z-]*", rows[name]))
        assert flags <= documented, f"`{name}` row lacks {sorted(flags - documented)}"


def test_choices_made_says_where_python_differs_from_php() -> None:
    choices = section("Choices made")
    assert "`Rsa.decrypt` refuses a plaintext that is not UTF-8" in choices
    assert "`Transformer.to_array` raises `InvalidArgumentError`" in choices
