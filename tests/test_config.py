"""`client/config.py`: `build_config` (what `Builder.factory` validates, once, before any I/O), `Secret`, and the
header and timeout rules the per-call options share with it."""

from __future__ import annotations

import copy
import pickle
from typing import Any, Dict

import pytest

from tests.support import Recorder
from tests.test_core import MERCHANT, PLATFORM_PUB, PUB_ID, TOKEN, make
from wechatpay_chain import Builder, InvalidArgumentError
from wechatpay_chain.client._config import (
    DEFAULT_BASE_URI,
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    Config,
    Secret,
    build_config,
    check_header,
    check_timeout,
    user_agent,
)

BASE: Dict[str, Any] = {"mchid": "1900000001", "serial": "MERCHANTSERIAL", "privateKey": MERCHANT,
                        "certs": {PUB_ID: PLATFORM_PUB}}


# ---- config validation (PHP jsonBased) ---------------------------------------------------------


@pytest.mark.parametrize(
    "drop, named",
    [("mchid", "mchid"), ("serial", "serial"), ("privateKey", "privateKey"), ("certs", "certs")],
)
def test_each_missing_item_is_named(drop: str, named: str) -> None:
    cfg = {"mchid": "1", "serial": "S", "privateKey": MERCHANT, "certs": {PUB_ID: PLATFORM_PUB}}
    del cfg[drop]
    with pytest.raises(InvalidArgumentError, match=named):
        Builder.factory(cfg)


def test_config_errors() -> None:
    base = {"mchid": "1", "serial": "S", "privateKey": MERCHANT, "certs": {PUB_ID: PLATFORM_PUB}}
    with pytest.raises(InvalidArgumentError, match="must not contain the merchant serial"):
        Builder.factory({**base, "certs": {"S": PLATFORM_PUB}})
    with pytest.raises(InvalidArgumentError, match="unknown config key"):
        Builder.factory({**base, "privatekey": MERCHANT})
    with pytest.raises(InvalidArgumentError, match="base_uri"):
        Builder.factory({**base, "base_uri": "ftp://x"})
    with pytest.raises(InvalidArgumentError, match="privateKey"):
        Builder.factory({**base, "privateKey": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"})
    with pytest.raises(InvalidArgumentError, match="certs"):
        Builder.factory({**base, "certs": {}})
    assert (
        str(Builder.factory({**base, "mchid": 1900000001, "private_key": MERCHANT}).get_driver().config.mchid)
        == "1900000001"
    )


def test_config_repr_hides_secrets() -> None:
    client = make(secret="S" * 32, apiv3_key="K" * 32)
    text = repr(client.get_driver().config)
    assert "S" * 32 not in text and "K" * 32 not in text and "PRIVATE" not in text


def test_apiv2_only_client_needs_no_apiv3_credentials() -> None:
    rec = Recorder(TOKEN)
    client = Builder.factory({"mchid": "1900000109", "secret": "S" * 32, "handler": rec})
    with pytest.raises(InvalidArgumentError, match="APIv2 only"):
        client.v3.certificates.get()
    assert rec.requests == []
    with pytest.raises(InvalidArgumentError, match="mchid"):
        Builder.factory({"secret": "S" * 32})
    with pytest.raises(InvalidArgumentError, match="certs"):  # a partial APIv3 config is still an error
        Builder.factory({"mchid": "1", "secret": "S" * 32, "serial": "X", "privateKey": MERCHANT})


@pytest.mark.parametrize(
    "config, match",
    [
        ({"base_uri": "https://api.mch.weixin.qq.com/?a=1"}, "query or fragment"),
        ({"base_uri": "https://api.mch.weixin.qq.com?a=1"}, "query or fragment"),
        ({"base_uri": "https://api.mch.weixin.qq.com/#x"}, "query or fragment"),
        ({"base_uri": "http:///"}, "no host"),
        ({"base_uri": "https://h:abc/"}, "does not parse"),
        ({"base_uri": "https://[::1/"}, "does not parse"),
        ({"clock": 123}, "`clock`"),
        ({"nonce": "abc"}, "`nonce`"),
        ({"handler": 5}, "`handler`"),
        ({"proxies": "http://proxy:3128"}, "`proxies`"),
        ({"session": 5}, "`session`"),
        ({"timeout": float("inf")}, "`timeout`"),
        ({"timeout": (5, 1e12)}, "`timeout`"),
        ({"headers": {"X-A": "a\r\nX-Evil: 1"}}, "one line"),
        ({"headers": {"X A": "1"}}, "token"),
        ({"headers": {"X-Name": "张三"}}, "Latin-1"),
        ({"headers": {"X-Name": "café"}}, "not ASCII"),  # Latin-1, but aiohttp would send it as UTF-8
        ({"mchid": 'abc"x'}, "`mchid`"),
        ({"mchid": "1900 0001"}, "`mchid`"),
        ({"serial": '37 75 B6'}, "`serial`"),
        ({"serial": 'AB"\r\nX-Evil: 1'}, "`serial`"),
        ({"apiv3_key": "abc"}, "`apiv3_key`"),
        ({"apiv3_key": "张" * 32}, "`apiv3_key`"),
    ],
)
def test_config_values_that_would_fail_later_are_refused_by_the_factory(config: Dict[str, Any], match: str) -> None:
    """Each was accepted, then failed at call time (often as a bare TypeError/ValueError, differently on the
    sync and async paths), or sent something other than what was signed (a base_uri query)."""
    with pytest.raises(InvalidArgumentError, match=match):
        make(**config)


# ---- build_config directly ---------------------------------------------------------------------


def test_build_config_defaults() -> None:
    config = build_config(BASE)
    assert isinstance(config, Config)
    assert config.mchid == "1900000001" and config.serial == "MERCHANTSERIAL"
    assert config.base_uri == DEFAULT_BASE_URI and config.base_path == "/"
    assert config.timeout == DEFAULT_TIMEOUT and config.max_clock_offset == 300
    assert config.apiv3 is True and config.crypto_threads == 0 and config.retry is None
    assert config.secret is None and config.apiv3_key is None and config.handler is None


def test_build_config_refuses_what_is_not_a_dict() -> None:
    with pytest.raises(InvalidArgumentError, match="config dict"):
        build_config([("mchid", "1")])  # type: ignore[arg-type]


def test_the_unknown_key_message_lists_the_known_ones() -> None:
    with pytest.raises(InvalidArgumentError, match=r"unknown config key\(s\): colour; known: .*mchid"):
        build_config({**BASE, "colour": "blue"})


def test_build_config_does_not_change_the_dict_it_is_given() -> None:
    given = {**BASE, "headers": {"X-Trace": "1"}, "apiv3_key": "K" * 32}
    before = copy.copy(given)
    build_config(given)
    assert given == before and given["headers"] == {"X-Trace": "1"}


def test_secrets_are_held_in_a_secret() -> None:
    config = build_config({**BASE, "secret": "S" * 32, "apiv3_key": "K" * 32})
    assert isinstance(config.secret, Secret) and config.secret.reveal() == "S" * 32
    assert isinstance(config.apiv3_key, Secret) and config.apiv3_key.reveal() == "K" * 32


@pytest.mark.parametrize("threads, ok", [(0, True), (4, True), (-1, False), (True, False), (1.5, False)])
def test_crypto_threads_is_a_non_negative_int(threads: Any, ok: bool) -> None:
    if ok:
        assert build_config({**BASE, "crypto_threads": threads}).crypto_threads == threads
    else:
        with pytest.raises(InvalidArgumentError, match="`crypto_threads`"):
            build_config({**BASE, "crypto_threads": threads})


@pytest.mark.parametrize("offset, ok", [(0, True), (60, True), (-1, False), (1.5, False), ("300", False)])
def test_max_clock_offset_is_a_non_negative_int(offset: Any, ok: bool) -> None:
    if ok:
        assert build_config({**BASE, "max_clock_offset": offset}).max_clock_offset == offset
    else:
        with pytest.raises(InvalidArgumentError, match="`max_clock_offset`"):
            build_config({**BASE, "max_clock_offset": offset})


def test_the_first_problem_in_check_order_is_the_one_reported() -> None:
    """Several problems at once: the missing item is named, not the bad timeout or header checked after it."""
    with pytest.raises(InvalidArgumentError, match="serial"):
        build_config({"mchid": "1", "privateKey": MERCHANT, "certs": {PUB_ID: PLATFORM_PUB}, "timeout": -1})


# ---- Secret ---------------------------------------------------------------------------------------


def test_secret_is_redacted_truthy_by_value_and_never_pickled() -> None:
    secret = Secret("K" * 32)
    assert repr(secret) == str(secret) == "Secret('***')" and "K" not in f"{secret}"
    assert secret.reveal() == "K" * 32
    assert bool(secret) and not Secret("")
    assert copy.copy(secret) is secret and copy.deepcopy(secret) is secret
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(secret)


# ---- the header and timeout rules ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value, match",
    [
        ("Content-Length", "3", "frames the body"),
        ("transfer-encoding", "chunked", "frames the body"),
        ("X A", "1", "token"),
        ("X-A", "1\r\nX-B: 2", "one line"),
        ("X-A", "a\0b", "one line"),
        (5, "1", "token"),
        ("X-Name", "é", "not ASCII"),
    ],
)
def test_check_header_refuses(name: Any, value: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        check_header(name, value)


def test_check_header_accepts_a_token_and_a_one_line_ascii_value() -> None:
    check_header("X-Request-Trace_1", "abc 123; q=0.5")
    check_header("X-Count", 5)  # a value is sent as its str


@pytest.mark.parametrize("timeout", [1, 0.5, (3, 7), (1.0, MAX_TIMEOUT), MAX_TIMEOUT])
def test_check_timeout_accepts_seconds_and_pairs(timeout: Any) -> None:
    check_timeout(timeout, "timeout")


@pytest.mark.parametrize("timeout", [0, -1, None, True, MAX_TIMEOUT + 1, (1, 2, 3), [1, 2], (1, None), "5"])
def test_check_timeout_refuses_and_names_the_option(timeout: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="`read_timeout` must be seconds"):
        check_timeout(timeout, "read_timeout")


def test_user_agent_names_the_package_the_http_library_and_python() -> None:
    import platform

    from wechatpay_chain import __version__

    agent = user_agent("requests/2.0")
    assert agent.startswith(f"wechatpay-chain/{__version__} requests/2.0 (")
    assert agent.endswith(f"Python/{platform.python_version()}")
