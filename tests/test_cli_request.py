"""`wechatpay-chain request` against the sandbox: config files (TOML, INI), environment, both key modes, APIv2."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from wechatpay_chain import Builder
from wechatpay_chain.cli import main
from wechatpay_chain.client.settings import ENVIRONMENT, load_config, read_settings, settings_from_env
from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.sandbox import Sandbox

APPID = "wx8888888888888888"


@pytest.fixture(scope="module")
def cert_sb() -> Iterator[Sandbox]:
    with Sandbox(mode="certificate") as sb:
        yield sb


def credentials(sb: Sandbox, root: Path) -> Dict[str, str]:
    """Key files for `sb` in its own key mode: the PUB_KEY_ID_ public key, or the platform certificate."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "apiclient_key.pem").write_text(sb.merchant_private_key_pem)
    if sb.mode == "certificate":
        (root / "platform.pem").write_text(sb.platform_certificate_pem)
        serial = sb.platform_certificate_serial
    else:
        (root / "platform.pem").write_text(sb.platform_public_key_pem)
        serial = sb.platform_public_key_id
    return {"mchid": sb.mchid, "serial": sb.merchant_serial, "private_key": "apiclient_key.pem",
            "apiv3_key": sb.apiv3_key, "secret": sb.secret, "base_uri": sb.base_uri, "platform": serial}


def write_config(sb: Sandbox, root: Path, fmt: str = "toml") -> Path:
    c = credentials(sb, root)
    keys = ("mchid", "serial", "private_key", "apiv3_key", "secret", "base_uri")
    if fmt == "toml":
        body = "[wechatpay]\n" + "".join(f'{k} = "{c[k]}"\n' for k in keys)
        body += f'\n[certs]\n"{c["platform"]}" = "platform.pem"\n'
    else:
        body = "[wechatpay]\n" + "".join(f"{k} = {c[k]}\n" for k in keys)
        body += f"\n[certs]\n{c['platform']} = platform.pem\n"
    path = root / f"wechatpay.{fmt}"
    path.write_text(body, encoding="utf-8")
    return path


def run(args: List[str], capsys: pytest.CaptureFixture[str]) -> Tuple[int, str, str]:
    rc = main(args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def order(sb: Sandbox, no: str) -> str:
    return json.dumps({"appid": APPID, "mchid": sb.mchid, "description": "cli", "out_trade_no": no,
                       "notify_url": "https://example.com/notify", "amount": {"total": 1}})


def body_of(stdout: str) -> object:
    return json.loads(stdout.split("\n", 2)[2])


@pytest.mark.parametrize("fmt", ["toml", "ini"])
@pytest.mark.parametrize("mode", ["public_key", "certificate"])
def test_post_then_get_with_a_config_file(fmt: str, mode: str, sandbox: Sandbox, cert_sb: Sandbox, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    sb = sandbox if mode == "public_key" else cert_sb
    config = write_config(sb, tmp_path, fmt)
    no = "cli" + secrets.token_hex(6)
    rc, out, err = run(["request", "post", "v3/pay/transactions/native", "--json", order(sb, no),
                        "--config", str(config)], capsys)
    assert rc == 0, err
    assert out.startswith("HTTP 200 OK\nRequest-ID: ") and "code_url" in body_of(out)  # type: ignore[operator]
    assert "POST" in err and "v3/pay/transactions/native" in err  # progress on stderr
    rc, out, err = run(["request", "GET", f"/v3/pay/transactions/out-trade-no/{no}", "--query", f"mchid={sb.mchid}",
                        "--header", "X-Trace: 1", "--config", str(config)], capsys)
    assert rc == 0, err
    assert body_of(out)["trade_state"] == "NOTPAY"  # type: ignore[index]
    assert sb.requests[-1].headers["X-Trace"] == "1"
    assert sb.apiv3_key not in out + err and sb.secret not in out + err


def test_environment_json_file_and_query_json(sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    c = credentials(sandbox, tmp_path)
    monkeypatch.setenv("WECHATPAY_MCHID", c["mchid"])
    monkeypatch.setenv("WECHATPAY_SERIAL", c["serial"])
    monkeypatch.setenv("WECHATPAY_PRIVATE_KEY", str(tmp_path / "apiclient_key.pem"))
    monkeypatch.setenv("WECHATPAY_CERTS", f"{c['platform']}={tmp_path / 'platform.pem'}")
    monkeypatch.setenv("WECHATPAY_APIV3_KEY", c["apiv3_key"])
    monkeypatch.setenv("WECHATPAY_BASE_URI", c["base_uri"])
    no = "env" + secrets.token_hex(6)
    (tmp_path / "order.json").write_text(order(sandbox, no))
    rc, out, err = run(["request", "POST", "v3/pay/transactions/native", "--json", f"@{tmp_path / 'order.json'}"],
                       capsys)
    assert rc == 0, err
    rc, out, err = run(["request", "GET", f"v3/pay/transactions/out-trade-no/{no}",
                        "--query", json.dumps({"mchid": sandbox.mchid})], capsys)
    assert rc == 0 and body_of(out)["out_trade_no"] == no  # type: ignore[index]


def test_api_error_exits_1_with_code_message_detail(sandbox: Sandbox, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(sandbox, tmp_path)
    rc, out, err = run(["request", "GET", "v3/pay/transactions/out-trade-no/none", "--query", "mchid=1",
                        "--config", str(config)], capsys)
    assert rc == 1
    assert out.startswith("HTTP 400") and body_of(out)["code"] == "PARAM_ERROR"  # type: ignore[index]
    line = err.splitlines()[-1]
    assert "400 PARAM_ERROR" in line and "detail=" in line and "Traceback" not in err


@pytest.mark.parametrize("fault", ["bad_signature", "unknown_serial", "clock_skew"])
def test_unverifiable_answer_exits_3(fault: str, sandbox: Sandbox, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(sandbox, tmp_path)
    sandbox.inject(fault, path="/v3/pay/transactions/native")
    try:
        rc, out, err = run(["request", "POST", "v3/pay/transactions/native", "--json",
                            order(sandbox, "v" + secrets.token_hex(6)), "--config", str(config)], capsys)
    finally:
        sandbox.clear_faults()
    assert rc == 3 and out == "" and "Traceback" not in err
    assert len(err.splitlines()) == 2 and "wechatpay-chain: request: " in err.splitlines()[-1]


def test_transport_error_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox() as gone:
        config = write_config(gone, tmp_path)
    rc, out, err = run(["request", "GET", "v3/certificates", "--config", str(config)], capsys)
    assert rc == 3 and out == "" and "failed" in err.splitlines()[-1]


@pytest.mark.parametrize("args", [
    ["--config", "/nonexistent/wechatpay.toml"],
    ["--json", "{not json"],
    ["--query", "novalue"],
    ["--header", "nocolon"],
])
def test_usage_and_config_errors_exit_2(args: List[str], sandbox: Sandbox, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(sandbox, tmp_path)
    full = ["request", "GET", "v3/certificates", *args]
    if "--config" not in args:
        full += ["--config", str(config)]
    rc, out, err = run(full, capsys)
    assert rc == 2 and out == "" and len(err.splitlines()) == 1 and "Traceback" not in err


def test_apiv2_with_xml(sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(sandbox, tmp_path)
    no = "v2" + secrets.token_hex(6)
    fields = {"appid": APPID, "mch_id": sandbox.mchid, "body": "cli", "out_trade_no": no, "total_fee": 1,
              "spbill_create_ip": "123.12.12.123", "notify_url": "https://example.com/notify", "trade_type": "NATIVE"}
    rc, out, err = run(["request", "POST", "v2/pay/unifiedorder", "--xml", json.dumps(fields),
                        "--config", str(config)], capsys)
    assert rc == 0, err
    assert body_of(out)["return_code"] == "SUCCESS"  # type: ignore[index]
    query = {"appid": APPID, "mch_id": sandbox.mchid, "out_trade_no": "NOPE"}
    rc, out, err = run(["request", "POST", "v2/pay/orderquery", "--xml", json.dumps(query), "--config", str(config)],
                       capsys)
    assert rc == 1 and "ORDERNOTEXIST" in err


def test_help_lists_exit_codes_and_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["request", "--help"])
    text = capsys.readouterr().out
    assert info.value.code == 0 and "exit codes" in text and "WECHATPAY_CERTS" in text


# -- settings ----------------------------------------------------------------------------------------
def test_load_config_feeds_builder_factory(sandbox: Sandbox, tmp_path: Path) -> None:
    config = load_config(write_config(sandbox, tmp_path))
    assert set(config) == {"mchid", "serial", "privateKey", "certs", "apiv3_key", "secret", "base_uri"}
    client = Builder.factory(config)
    assert client.v3.certificates.get().status_code == 200
    client.get_driver().close()


def test_settings_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ini"
    bad.write_text("[wechatpay]\nmchid = 1\ncolour = blue\n")
    with pytest.raises(InvalidArgumentError, match="unknown setting"):
        read_settings(bad)
    other = tmp_path / "x.ini"
    other.write_text("[wechatpay]\nprivate_key = missing.pem\n[extra]\na = 1\n")
    with pytest.raises(InvalidArgumentError, match="unknown section"):
        read_settings(other)
    broken = tmp_path / "b.toml"
    broken.write_text("mchid = \n")
    with pytest.raises(InvalidArgumentError, match="not valid TOML"):
        read_settings(broken)
    with pytest.raises(InvalidArgumentError, match="WECHATPAY_CERTS"):
        settings_from_env({"WECHATPAY_CERTS": "nopath"})
    missing = tmp_path / "m.ini"
    missing.write_text("[wechatpay]\nprivate_key = missing.pem\n")
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        load_config(missing)


def test_settings_repr_hides_secrets(sandbox: Sandbox, tmp_path: Path) -> None:
    settings = read_settings(write_config(sandbox, tmp_path))
    assert sandbox.apiv3_key not in repr(settings) and sandbox.secret not in repr(settings)
    assert settings.private_key == (tmp_path / "apiclient_key.pem").resolve() or settings.private_key is not None


# -- issue 16: literal paths, --timeout, --security naming what a CLI user sets ---------------------------
def test_a_path_is_sent_as_given_capitals_and_escapes_kept(sandbox: Sandbox, client: object, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`CLI-1` was sent as `c-l-i-1` (the chain's PHP segment normalisation) and `%43LI-1` as `%43-l-i-1`: 404."""
    no = "CLI-" + secrets.token_hex(4).upper()
    created = client.v3.pay.transactions.native.post(json=json.loads(order(sandbox, no)))  # type: ignore[attr-defined]
    assert created.status_code == 200
    config = write_config(sandbox, tmp_path)
    for given in (no, "%43" + no[1:]):
        rc, out, err = run(["request", "GET", f"v3/pay/transactions/out-trade-no/{given}", "--query",
                            f"mchid={sandbox.mchid}", "--config", str(config)], capsys)
        assert rc == 0, err
        assert body_of(out)["out_trade_no"] == no  # type: ignore[index]
        assert sandbox.requests[-1].target == f"/v3/pay/transactions/out-trade-no/{given}?mchid={sandbox.mchid}"
    rc, out, err = run(["request", "GET", f"/v3/pay/transactions/out-trade-no/%43{no[1:]}?mchid={sandbox.mchid}",
                        "--config", str(config)], capsys)  # a query in the URI is kept too
    assert rc == 0 and body_of(out)["out_trade_no"] == no, err  # type: ignore[index]


def test_a_lower_case_escape_is_sent_upper_cased(sandbox: Sandbox, client: object, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    no = "Cli-" + secrets.token_hex(4)
    client.v3.pay.transactions.native.post(json=json.loads(order(sandbox, no)))  # type: ignore[attr-defined]
    rc, out, err = run(["request", "GET", f"v3/pay/transactions/out-trade-no/%43{no[1:]}", "--query",
                        f"mchid={sandbox.mchid}", "--config", str(write_config(sandbox, tmp_path))], capsys)
    assert rc == 0 and body_of(out)["out_trade_no"] == no, err  # type: ignore[index]
    rc, out, err = run(["request", "GET", f"v3/pay/transactions/out-trade-no/%4{no[0].lower()}{no[1:]}", "--query",
                        f"mchid={sandbox.mchid}", "--config", str(write_config(sandbox, tmp_path))], capsys)
    assert rc == 1 and "ORDER_NOT_EXIST" in err  # %4c (an escape, upper-cased to %4C) is `L`: another order
    assert sandbox.requests[-1].path == f"/v3/pay/transactions/out-trade-no/%4C{no[1:]}"


@pytest.mark.parametrize("uri", ["v3/pay/transactions/id/{transaction_id}", "v3/pay/{+rest}", "v3/a}b"])
def test_a_template_variable_in_the_path_is_refused_before_any_io(uri: str, sandbox: Sandbox, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI has no way to give URI-template variables: a brace is refused, in one line naming the fix."""
    config = write_config(sandbox, tmp_path)
    seen = len(sandbox.requests)
    rc, out, err = run(["request", "GET", uri, "--config", str(config)], capsys)
    assert rc == 2 and out == "" and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "no URI-template variables" in err and "%7B" in err
    assert len(sandbox.requests) == seen


def test_apiv2_paths_route_to_apiv2_in_any_case(sandbox: Sandbox, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    query = {"appid": APPID, "mch_id": sandbox.mchid, "out_trade_no": "NOPE"}
    for uri in ("v2/pay/orderquery", "/V2/pay/orderquery"):
        rc, out, err = run(["request", "POST", uri, "--xml", json.dumps(query),
                            "--config", str(write_config(sandbox, tmp_path))], capsys)
        assert rc == 1 and "ORDERNOTEXIST" in err, err
        assert sandbox.requests[-1].target == "/pay/orderquery"


def clear_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A loopback listener whose backlog completes each TCP handshake; nothing ever reads or answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"


def silent_config(sb: Sandbox, root: Path, base_uri: str, extra: str = "") -> Path:
    """`sb`'s credentials with `base_uri` (a silent server), plus extra [wechatpay] lines."""
    path = write_config(sb, root, "ini")
    text = path.read_text().replace(f"base_uri = {sb.base_uri}", f"base_uri = {base_uri}\n{extra}".rstrip())
    path.write_text(text)
    return path


@pytest.mark.parametrize("how", ["flag", "flag_pair", "config", "environment"])
def test_a_silent_server_times_out_quickly(how: str, sandbox: Sandbox, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """No --timeout, no `timeout` key, no WECHATPAY_TIMEOUT: a silent server held the CLI for 30 s."""
    with silent_server() as base_uri:
        argv = ["request", "GET", "v3/certificates"]
        if how == "environment":
            clear_environment(monkeypatch)
            c = credentials(sandbox, tmp_path)
            for name, value in (("MCHID", c["mchid"]), ("SERIAL", c["serial"]), ("BASE_URI", base_uri),
                                ("PRIVATE_KEY", str(tmp_path / "apiclient_key.pem")),
                                ("CERTS", f"{c['platform']}={tmp_path / 'platform.pem'}"), ("TIMEOUT", "0.5")):
                monkeypatch.setenv("WECHATPAY_" + name, value)
        else:
            config = silent_config(sandbox, tmp_path, base_uri, "timeout = 0.5" if how == "config" else "")
            argv += ["--config", str(config)]
            argv += {"flag": ["--timeout", "0.5"], "flag_pair": ["--timeout", "2,0.5"]}.get(how, [])
        started = time.monotonic()
        rc, out, err = run(argv, capsys)
        elapsed = time.monotonic() - started
    assert rc == 3 and out == "" and "Traceback" not in err, err
    assert elapsed < 5, elapsed
    assert "timed out" in err.splitlines()[-1] or "timeout" in err.splitlines()[-1], err


def test_the_timeout_flag_wins_over_the_config(sandbox: Sandbox, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with silent_server() as base_uri:
        config = silent_config(sandbox, tmp_path, base_uri, "timeout = 600")
        started = time.monotonic()
        rc, _, err = run(["request", "GET", "v3/certificates", "--timeout", "0.5", "--config", str(config)], capsys)
        assert rc == 3 and time.monotonic() - started < 5, err


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1,2,3", "nan", "inf", "1e9", ",", "2,", ""])
def test_a_bad_timeout_is_a_usage_error_before_any_io(value: str, sandbox: Sandbox, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seen = len(sandbox.requests)
    config = write_config(sandbox, tmp_path)
    rc, out, err = run(["request", "GET", "v3/certificates", "--timeout", value, "--config", str(config)], capsys)
    assert rc == 2 and out == "" and len(err.splitlines()) == 1, err
    assert "--timeout must be seconds" in err and "CONNECT,READ" in err
    if value:  # an empty setting is no setting (as every other key)
        ini = silent_config(sandbox, tmp_path, sandbox.base_uri, f"timeout = {value}")
        rc, out, err = run(["request", "GET", "v3/certificates", "--config", str(ini)], capsys)
        assert rc == 2 and "`timeout` must be seconds" in err and len(err.splitlines()) == 1, err
        clear_environment(monkeypatch)
        monkeypatch.setenv("WECHATPAY_TIMEOUT", value)
        rc, out, err = run(["request", "GET", "v3/certificates"], capsys)
        assert rc == 2 and "WECHATPAY_TIMEOUT must be seconds" in err and len(err.splitlines()) == 1, err
    assert len(sandbox.requests) == seen


def test_help_names_timeout_and_the_literal_path(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["request", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--timeout SECONDS|CONNECT,READ" in text and "WECHATPAY_TIMEOUT" in text
    assert "sent as given" in text and "WECHATPAY_MERCHANT_CERTIFICATE" in text


REFUND = {"appid": APPID, "mch_id": "", "out_trade_no": "NOPE", "out_refund_no": "R1", "total_fee": 1,
          "refund_fee": 1}


@pytest.mark.parametrize("source", ["config", "environment"])
def test_security_without_a_merchant_certificate_names_what_the_cli_user_sets(
        source: str, sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The message named Python syntax (`merchant={'cert': ...}`), which no config file or variable can hold."""
    argv = ["request", "POST", "v2/secapi/pay/refund", "--security",
            "--xml", json.dumps({**REFUND, "mch_id": sandbox.mchid})]
    if source == "config":
        argv += ["--config", str(write_config(sandbox, tmp_path))]
    else:
        clear_environment(monkeypatch)
        c = credentials(sandbox, tmp_path)
        monkeypatch.setenv("WECHATPAY_MCHID", c["mchid"])
        monkeypatch.setenv("WECHATPAY_SECRET", c["secret"])
        monkeypatch.setenv("WECHATPAY_BASE_URI", c["base_uri"])
    seen = len(sandbox.requests)
    rc, out, err = run(argv, capsys)
    assert rc == 2 and out == "" and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "`merchant_certificate = /path/apiclient_cert.pem`" in err and "under [wechatpay]" in err
    assert "merchant={" not in err and "merchant[" not in err
    if source == "environment":  # no private key either: that is named too, as the user sets it
        assert "WECHATPAY_MERCHANT_CERTIFICATE=/path/apiclient_cert.pem" in err
        assert "WECHATPAY_PRIVATE_KEY=/path/apiclient_key.pem" in err and "`private_key = " in err
    else:  # the environment is not read with --config: no variable is named
        assert "private_key" not in err and "WECHATPAY_" not in err and argv[-1] in err
    assert sandbox.secret not in err and len(sandbox.requests) == seen


def test_the_library_names_the_merchant_config_key(sandbox: Sandbox) -> None:
    client = sandbox.client()
    try:
        with pytest.raises(InvalidArgumentError) as info:
            client.v2.secapi.pay.refund.post(xml={**REFUND, "mch_id": sandbox.mchid}, security=True)
    finally:
        client.get_driver().close()
    message = str(info.value)
    assert "config key `merchant`" in message and "merchant_certificate" in message
    assert len(message.splitlines()) == 1
