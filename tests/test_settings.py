"""`client/settings.py`: credentials from a TOML or INI file, or the environment, read without any server.

tests/test_cli_request.py runs the same files through `wechatpay-chain request` against the sandbox (and checks
a few errors); tests/test_secrets.py checks that no error echoes a key. Here: what each source yields, how paths
resolve, and each refusal.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict

import pytest

from tests.support import Recorder
from tests.test_core import NONCE, NOW, PUB_ID, TOKEN, VEC
from wechatpay_chain import Builder
from wechatpay_chain.client._config import Secret
from wechatpay_chain.client.settings import ENVIRONMENT, Settings, load_config, read_settings, settings_from_env
from wechatpay_chain.crypto._rsa import RsaKey
from wechatpay_chain.errors import InvalidArgumentError

APIV3 = "A" * 32
SECRET = "S" * 32


@pytest.fixture()
def keys(tmp_path: Path) -> Path:
    """A config directory holding the merchant key and the platform public key (tests/fixtures/core's)."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "apiclient_key.pem").write_text((VEC / "merchant_key.pem").read_text())
    (tmp_path / "keys" / "platform.pem").write_text((VEC / "platform_pub.pem").read_text())
    return tmp_path


TOML = f"""[wechatpay]
mchid = 1900000001
serial = "MERCHANTSERIAL"
private_key = "keys/apiclient_key.pem"
apiv3_key = "{APIV3}"
secret = " {SECRET} "
base_uri = "https://api.mch.weixin.qq.com/"

[certs]
"{PUB_ID}" = "keys/platform.pem"
"""

INI = f"""[wechatpay]
mchid = 1900000001
serial = MERCHANTSERIAL
private_key = keys/apiclient_key.pem
apiv3_key = {APIV3}
secret = {SECRET}
base_uri = https://api.mch.weixin.qq.com/

[certs]
{PUB_ID} = keys/platform.pem
"""


def plain(settings: Settings) -> Dict[str, Any]:
    """The settings as a dict, secrets revealed and the source left out (a `Secret` compares by identity)."""
    values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name != "source"}
    return {k: v.reveal() if isinstance(v, Secret) else v for k, v in values.items()}


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- what a file yields --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, text", [("wechatpay.toml", TOML), ("wechatpay.ini", INI), ("wechatpay.cfg", INI)])
def test_a_file_yields_settings_with_paths_relative_to_it(keys: Path, name: str, text: str) -> None:
    settings = read_settings(write(keys, name, text))
    assert settings.mchid == "1900000001" and settings.serial == "MERCHANTSERIAL"  # a TOML int mchid is a str
    assert settings.private_key == keys.resolve() / "keys" / "apiclient_key.pem"
    assert settings.certs == {PUB_ID: keys.resolve() / "keys" / "platform.pem"}  # the id keeps its case (INI too)
    assert isinstance(settings.apiv3_key, Secret) and settings.apiv3_key.reveal() == APIV3
    assert isinstance(settings.secret, Secret) and settings.secret.reveal() == SECRET  # stripped
    assert settings.base_uri == "https://api.mch.weixin.qq.com/" and settings.source == str(keys / name)
    assert APIV3 not in repr(settings) and SECRET not in repr(settings)


def test_toml_may_put_the_settings_at_the_top_level(keys: Path) -> None:
    top = read_settings(write(keys, "top.toml", TOML.replace("[wechatpay]\n", "")))
    sectioned = read_settings(write(keys, "sectioned.toml", TOML))
    assert plain(top) == plain(sectioned) and plain(top)["apiv3_key"] == APIV3


def test_empty_settings_are_left_out(keys: Path) -> None:
    settings = read_settings(write(keys, "some.ini", "[wechatpay]\nmchid = 1\nserial =\nsecret =\n"))
    assert settings == Settings(mchid="1", source=str(keys / "some.ini"))


def test_absolute_home_and_file_uri_paths(keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(keys))
    absolute = keys / "keys" / "apiclient_key.pem"
    for given in (str(absolute), "file://" + str(absolute), "~/keys/apiclient_key.pem"):
        settings = read_settings(write(keys / "keys", "x.ini", f"[wechatpay]\nprivate_key = {given}\n"))
        assert settings.private_key == absolute, given


# ---- factory_config / load_config ------------------------------------------------------------------------


@pytest.mark.parametrize("name, text", [("wechatpay.toml", TOML), ("wechatpay.ini", INI)])
def test_load_config_is_a_builder_factory_dict_that_works(keys: Path, name: str, text: str) -> None:
    config = load_config(write(keys, name, text))
    assert set(config) == {"mchid", "serial", "privateKey", "certs", "apiv3_key", "secret", "base_uri"}
    assert isinstance(config["privateKey"], RsaKey)
    assert config["certs"] == {PUB_ID: (VEC / "platform_pub.pem").read_text()}  # read, parsed by the factory
    assert config["apiv3_key"] == APIV3 and config["secret"] == SECRET  # revealed for the factory only
    rec = Recorder(TOKEN)
    client = Builder.factory({**config, "handler": rec, "clock": lambda: NOW, "nonce": lambda: NONCE})
    assert client.v3.certificates.get().json() == {"token": "T", "expires_in": 1800}  # signed, and verified
    assert rec.requests[0].headers["Authorization"].startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900000001"')


def test_a_merchant_certificate_makes_the_mtls_pair(keys: Path) -> None:
    (keys / "keys" / "apiclient_cert.pem").write_text("not parsed here")
    text = INI.replace("[certs]", "merchant_certificate = keys/apiclient_cert.pem\n\n[certs]")
    config = read_settings(write(keys, "m.ini", text)).factory_config()
    assert config["merchant"] == {"cert": str(keys.resolve() / "keys" / "apiclient_cert.pem"),
                                  "key": str(keys.resolve() / "keys" / "apiclient_key.pem")}


def test_an_unreadable_certificate_is_named_by_its_serial(keys: Path) -> None:
    text = INI.replace("keys/platform.pem", "keys/missing.pem")
    with pytest.raises(InvalidArgumentError, match=f"certs\\[{PUB_ID}\\]: cannot read .*missing.pem"):
        load_config(write(keys, "c.ini", text))


def test_a_binary_key_file_is_named_not_echoed(keys: Path) -> None:
    (keys / "keys" / "apiclient_key.pem").write_bytes(b"\x30\x82\xff\xfe" * 40)
    with pytest.raises(InvalidArgumentError, match="private_key: cannot read .*not UTF-8 text") as info:
        load_config(write(keys, "b.ini", INI))
    assert info.value.__context__ is None


# ---- the environment -----------------------------------------------------------------------------------


def test_settings_from_the_environment() -> None:
    env = {
        "WECHATPAY_MCHID": "1900000001",
        "WECHATPAY_SERIAL": "MERCHANTSERIAL",
        "WECHATPAY_PRIVATE_KEY": "/etc/wechatpay/apiclient_key.pem",
        "WECHATPAY_CERTS": f" {PUB_ID}=/etc/wechatpay/pub.pem , SERIAL2 = relative.pem,",
        "WECHATPAY_APIV3_KEY": APIV3,
        "WECHATPAY_SECRET": "",
        "WECHATPAY_BASE_URI": "https://proxy.example/",
        "UNRELATED": "x",
    }
    settings = settings_from_env(env)
    assert settings.source == "environment" and settings.mchid == "1900000001"
    assert settings.private_key == Path("/etc/wechatpay/apiclient_key.pem")
    assert settings.certs == {PUB_ID: Path("/etc/wechatpay/pub.pem"), "SERIAL2": Path("relative.pem")}
    assert settings.apiv3_key is not None and settings.apiv3_key.reveal() == APIV3 and settings.secret is None
    assert settings.base_uri == "https://proxy.example/"


def test_the_process_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WECHATPAY_MCHID", "42")
    assert settings_from_env() == Settings(mchid="42")


def test_every_setting_has_an_environment_variable() -> None:
    names = {f.name for f in dataclasses.fields(Settings)} - {"source"}
    assert set(ENVIRONMENT.values()) == names
    assert all(variable == "WECHATPAY_" + setting.upper() for variable, setting in ENVIRONMENT.items())


@pytest.mark.parametrize("certs", ["nopath", "=a.pem", "SERIAL=", "A=a.pem,B"])
def test_a_malformed_certs_variable_is_refused(certs: str) -> None:
    with pytest.raises(InvalidArgumentError, match="WECHATPAY_CERTS must look like"):
        settings_from_env({"WECHATPAY_CERTS": certs})


# ---- refusals ------------------------------------------------------------------------------------------


def test_key_text_where_a_path_belongs_is_refused_without_echoing_it(keys: Path) -> None:
    pem = (VEC / "merchant_key.pem").read_text()
    body = pem.splitlines()[1]
    with pytest.raises(InvalidArgumentError, match="private_key looks like PEM text, not a file path") as info:
        settings_from_env({"WECHATPAY_PRIVATE_KEY": pem})
    assert body not in str(info.value)
    with pytest.raises(InvalidArgumentError, match="certs\\[X\\] looks like") as info:
        settings_from_env({"WECHATPAY_CERTS": "X=" + body * 4})
    assert body not in str(info.value)


def test_a_setting_under_certs_is_refused_without_echoing_it(keys: Path) -> None:
    text = f'[wechatpay]\nmchid = "1"\n[certs]\napiv3_key = "{APIV3}"\n'
    with pytest.raises(InvalidArgumentError, match=r"apiv3_key under \[certs\]: settings go in \[wechatpay\]") as info:
        read_settings(write(keys, "misplaced.toml", text))
    assert APIV3 not in str(info.value)


@pytest.mark.parametrize(
    "text, match",
    [
        ('[wechatpay]\nserial = 5\n', "`serial` must be a string"),
        ('[wechatpay]\nmchid = true\n', "`mchid` must be a string"),
        ('[wechatpay]\nbase_uri = ["a"]\n', "`base_uri` must be a string"),
        ('[wechatpay]\ncolour = "blue"\n', "unknown setting\\(s\\) colour; known: mchid"),
        ('[wechatpay]\nmchid = "1"\n[other]\na = 1\n', "unknown section\\(s\\) other; known: wechatpay, certs"),
        ('wechatpay = "x"\n', "must be tables"),
        ('[wechatpay]\nprivate_key = ""\n[certs]\nX = 5\n', "certs\\[X\\] must be a file path"),
        ('[wechatpay]\nsecret = "a\n', "not valid TOML: a syntax error \\(at line 2, column 12\\)"),
    ],
)
def test_a_bad_toml_file_is_one_line_naming_the_problem(keys: Path, text: str, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match) as info:
        read_settings(write(keys, "bad.toml", text))
    assert len(str(info.value).splitlines()) == 1 and info.value.__context__ is None


@pytest.mark.parametrize(
    "text, match",
    [
        (f"secret = {SECRET}\n[wechatpay]\n", "no \\[section\\] header before line 1"),
        (f"[wechatpay]\nmchid = 1\n{SECRET}\n", "cannot parse line 3"),
        (f"[wechatpay]\nsecret = {SECRET}\nsecret = {SECRET}\n", "a setting given twice \\(line 3\\)"),
        ("[wechatpay]\nmchid = 1\n[wechatpay]\n", "a section given twice \\(line 3\\)"),
    ],
)
def test_a_bad_ini_file_names_the_line_never_its_text(keys: Path, text: str, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"not valid INI: {match}") as info:
        read_settings(write(keys, "bad.ini", text))
    assert SECRET not in str(info.value) and info.value.__context__ is None


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="config file .*absent.toml'?: No such file"):
        read_settings(tmp_path / "absent.toml")


def test_settings_are_frozen() -> None:
    settings: Any = Settings(mchid="1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.mchid = "2"



# ---- timeout (issue 16: a silent server held `wechatpay-chain request` for 30 s) -------------------------


@pytest.mark.parametrize(
    "name, line, expected",
    [
        ("t.toml", "timeout = 5", 5.0),
        ("t.toml", "timeout = 2.5", 2.5),
        ("t.toml", 'timeout = "3,10"', (3.0, 10.0)),
        ("t.toml", "timeout = [3, 10.5]", (3.0, 10.5)),
        ("t.ini", "timeout = 7", 7.0),
        ("t.ini", "timeout = 3, 10", (3.0, 10.0)),
    ],
)
def test_a_timeout_setting_reaches_the_client(keys: Path, name: str, line: str, expected: Any) -> None:
    text = (TOML if name.endswith(".toml") else INI).replace("[certs]", f"{line}\n\n[certs]")
    settings = read_settings(write(keys, name, text))
    assert settings.timeout == expected
    config = settings.factory_config()
    assert config["timeout"] == expected
    client = Builder.factory({**config, "handler": Recorder(TOKEN), "clock": lambda: NOW, "nonce": lambda: NONCE})
    assert client.get_driver().config.timeout == expected


def test_a_timeout_from_the_environment() -> None:
    assert settings_from_env({"WECHATPAY_TIMEOUT": "4"}).timeout == 4.0
    assert settings_from_env({"WECHATPAY_TIMEOUT": " 1.5 , 20 "}).timeout == (1.5, 20.0)
    assert "timeout" not in settings_from_env({"WECHATPAY_TIMEOUT": ""}).factory_config()


@pytest.mark.parametrize("value", ['"0"', "-1", '"abc"', '"1,2,3"', '"nan"', '"inf"', "1e9", "true", "[]", "[1, true]",
                                   '{ a = 1 }', '"2,"'])
def test_a_bad_timeout_setting_is_one_line_naming_the_key(keys: Path, value: str) -> None:
    text = TOML.replace("[certs]", f"timeout = {value}\n\n[certs]")
    with pytest.raises(InvalidArgumentError, match=r"`timeout` must be seconds \(0 < s <= 86400\) or CONNECT,READ") \
            as info:
        read_settings(write(keys, "bad.toml", text))
    assert len(str(info.value).splitlines()) == 1 and APIV3 not in str(info.value)
    with pytest.raises(InvalidArgumentError, match="^WECHATPAY_TIMEOUT must be seconds"):
        settings_from_env({"WECHATPAY_TIMEOUT": value.strip('"')})
