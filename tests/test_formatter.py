"""Port of wechatpay-php tests/FormatterTest.php plus known-answer checks."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Dict, List, Optional

import pytest

from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.protocol._formatter import Formatter, php_string

LF = "\n"


@pytest.mark.parametrize(
    "size, pattern",
    [
        (32, r"[a-zA-Z0-9]{32}"),
        (16, r"[a-zA-Z0-9]{16}"),
        (100, r"[a-zA-Z0-9]{100}"),
        (1, r"[a-zA-Z0-9]{1}"),
        (0, r"Size must be a positive integer\."),
        (-1, r"Size must be a positive integer\."),
        (-16, r"Size must be a positive integer\."),
        (-32, r"Size must be a positive integer\."),
    ],
    ids=["default-32", "half-16", "hundred-100", "one-1", "zero", "neg-1", "neg-16", "neg-32"],
)
def test_nonce(size: int, pattern: str) -> None:
    if size < 1:
        with pytest.raises(InvalidArgumentError, match=pattern):
            Formatter.nonce(size)
        with pytest.raises(ValueError):
            Formatter.nonce(size)
        return
    nonce = Formatter.nonce(size)
    assert isinstance(nonce, str)
    assert len(nonce) == size
    assert re.fullmatch(pattern, nonce)


def test_nonce_default_and_spread() -> None:
    assert len(Formatter.nonce()) == 32
    seen = set("".join(Formatter.nonce(62) for _ in range(200)))
    assert seen == set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert len({Formatter.nonce() for _ in range(100)}) == 100


def test_timestamp() -> None:
    timestamp = Formatter.timestamp()
    assert type(timestamp) is int
    assert re.fullmatch(r"1[0-9]{9}", str(timestamp))


def test_authorization() -> None:
    timestamp = str(Formatter.timestamp())
    value = Formatter.authorization("1001", Formatter.nonce(), "Cg==", timestamp, "mockmockmock")
    assert value.startswith("WECHATPAY2-SHA256-RSA2048 ")
    assert value.endswith('"')
    assert re.fullmatch(
        r'WECHATPAY2-SHA256-RSA2048 mchid="[0-9A-Za-z]{1,32}",serial_no="[0-9A-Za-z]{8,40}",'
        r'timestamp="1[0-9]{9}",nonce_str="[0-9A-Za-z]{16,}",signature="[0-9A-Za-z+/]+={0,2}"',
        value,
    )


def test_authorization_known_answer() -> None:
    assert Formatter.authorization("1900000001", "abc", "Zm9v", 1624522234, "3775B6A4") == (
        'WECHATPAY2-SHA256-RSA2048 mchid="1900000001",serial_no="3775B6A4",'
        'timestamp="1624522234",nonce_str="abc",signature="Zm9v"'
    )
    assert Formatter.authorization(1900000001, "n", "s", "1", "x") == (
        'WECHATPAY2-SHA256-RSA2048 mchid="1900000001",serial_no="x",timestamp="1",nonce_str="n",signature="s"'
    )


@pytest.mark.parametrize(
    "method, uri, body",
    [
        ("DELETE", "/", ""),
        ("DELETE", "/?hello=wechatpay", ""),
        ("GET", "/", ""),
        ("GET", "/?hello=wechatpay", ""),
        ("POST", "/", "{}"),
        ("POST", "/?hello=wechatpay", "{}"),
        ("PUT", "/", "{}"),
        ("PUT", "/?hello=wechatpay", "{}"),
        ("PATCH", "/", "{}"),
        ("PATCH", "/?hello=wechatpay", "{}"),
    ],
)
def test_request(method: str, uri: str, body: str) -> None:
    value = Formatter.request(method, uri, str(Formatter.timestamp()), Formatter.nonce(), body)
    assert value.startswith(method)
    assert value.endswith(LF)
    assert value.count(LF) == 5
    assert re.fullmatch(
        re.escape(method) + LF + re.escape(uri) + LF + "1[0-9]{9}" + LF + "[0-9A-Za-z]{32}" + LF
        + re.escape(body) + LF,
        value,
    )


def test_request_known_answer() -> None:
    assert Formatter.request("POST", "/v3/x?a=1", 1624522234, "abc", '{"a":1}') == (
        'POST\n/v3/x?a=1\n1624522234\nabc\n{"a":1}\n'
    )
    assert Formatter.request("GET", "/v3/certificates", "1624522234", "abc") == (
        "GET\n/v3/certificates\n1624522234\nabc\n\n"
    )


@pytest.mark.parametrize(
    "body",
    ["{}", "", "", "", "", "<html></html>", "", "<html></html>", "", "<html></html>",
     "{}", "{}", "<html></html>", "<html></html>", "{}", "<html></html>", "<html></html>"],
    ids=["200-body", "200", "202", "204", "301", "301-body", "302", "302-body", "307", "307-body",
         "400", "401", "403", "404", "500", "502", "503"],
)
def test_response(body: str) -> None:
    value = Formatter.response(str(Formatter.timestamp()), Formatter.nonce(), body)
    assert value.endswith(LF)
    assert value.count(LF) == 3
    assert re.fullmatch("1[0-9]{9}" + LF + "[0-9A-Za-z]{32}" + LF + re.escape(body) + LF, value)


def test_response_known_answer() -> None:
    assert Formatter.response(1624522234, "abc", '{"ok":true}') == '1624522234\nabc\n{"ok":true}\n'
    assert Formatter.response("1624522234", "abc") == "1624522234\nabc\n\n"


@pytest.mark.parametrize(
    "data",
    [[1], [1, "2"], [1, 2.0, "3", LF, True, False, None, "4"]],
    ids=["one argument", "two arguments", "more arguments"],
)
def test_joined_by_line_feed(data: List[Any]) -> None:
    value = Formatter.joined_by_line_feed(*data)
    assert value.endswith(LF)
    assert value.count(LF) >= len(data)


def test_joined_by_line_feed_php_casts() -> None:
    # PHP's implode(): 2.0 -> "2", true -> "1", false/null -> ""
    assert Formatter.joined_by_line_feed(1, 2.0, "3", LF, True, False, None, "4") == "1\n2\n3\n\n\n1\n\n\n4\n"
    assert Formatter.joined_by_line_feed("a") == "a\n"


def test_none_argument_passed_to_joined_by_line_feed() -> None:
    assert Formatter.joined_by_line_feed() == ""


KSORT_CASES = {
    "normal": (
        {"a": "1", "b": "3", "aa": "2"},
        {"a": "1", "aa": "2", "b": "3"},
    ),
    "key with numeric": (
        {"rfc1": "1", "b": "4", "rfc822": "2", "rfc2086": "3"},
        {"b": "4", "rfc1": "1", "rfc2086": "3", "rfc822": "2"},
    ),
    "issue #41 re_openid with remark keys": (
        {
            "mch_billno": "etGkDmT3BJyuhnhU9d", "mch_id": "xxxxx", "wxappid": "wx01111111",
            "send_name": "aaaaa", "re_openid": "o8xSOxxxxxxx", "total_amount": "100", "total_num": "1",
            "wishing": "红包祝福语",
            "client_ip": "192.168.0.1", "act_name": "活动名称", "remark": "备注",
        },
        {
            "act_name": "活动名称", "client_ip": "192.168.0.1", "mch_billno": "etGkDmT3BJyuhnhU9d",
            "mch_id": "xxxxx",
            "re_openid": "o8xSOxxxxxxx", "remark": "备注", "send_name": "aaaaa", "total_amount": "100",
            "total_num": "1", "wishing": "红包祝福语", "wxappid": "wx01111111",
        },
    ),
    "the key point of the issue #41 different": (
        {"re_openid": "o8xSOxxxxxxx", "remark": "备注"},
        {"re_openid": "o8xSOxxxxxxx", "remark": "备注"},
    ),
    "case-sensitive cover": (
        {"remark": "备注", "RE_OPENID": "RE_OPENID", "re_openid": "o8xSOxxxxxxx", "REMARK": "REMARK"},
        {"REMARK": "REMARK", "RE_OPENID": "RE_OPENID", "re_openid": "o8xSOxxxxxxx", "remark": "备注"},
    ),
    # SORT_STRING is dictionary (byte) order, also for integer keys and non-ASCII keys
    "integer keys as strings": (
        {10: "a", 9: "b", "1a": "c"},
        {10: "a", "1a": "c", 9: "b"},
    ),
    "utf-8 byte order": (
        {"中": "1", "z": "2", "é": "3", "Z": "4"},
        {"Z": "4", "z": "2", "é": "3", "中": "1"},
    ),
}


@pytest.mark.parametrize("thing, expected", list(KSORT_CASES.values()), ids=list(KSORT_CASES))
def test_ksort(thing: Dict[Any, str], expected: Dict[Any, str]) -> None:
    result = Formatter.ksort(thing)
    assert list(result) == list(expected)
    assert list(result.values()) == list(expected.values())
    assert result is not thing


def _php_natural_case_sort(keys: List[str]) -> List[str]:
    """Emulates PHP's SORT_FLAG_CASE | SORT_NATURAL for these ASCII keys (strnatcasecmp folds to upper)."""

    def natural(key: str) -> List[Any]:
        return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.findall(r"\d+|\D", key.upper())]

    return sorted(keys, key=natural)


@pytest.mark.parametrize(
    "flag, keys, expected, equal",
    [
        # PHPUnit testKsortWithDifferentFlags: only SORT_STRING (byte order) gives the required order
        # for every input; SORT_FLAG_CASE | SORT_NATURAL is what the old Formatter used and was wrong.
        ("natural|case", ["remark", "re_openid"], ["re_openid", "remark"], False),
        ("string", ["remark", "re_openid"], ["re_openid", "remark"], True),
        ("string|case", ["re_openid", "REMARK", "remark", "RE_OPENID"],
         ["REMARK", "RE_OPENID", "re_openid", "remark"], False),
        ("string", ["re_openid", "REMARK", "remark", "RE_OPENID"],
         ["REMARK", "RE_OPENID", "re_openid", "remark"], True),
        ("string|case", ["re_openid", "REMARK", "remark", "RE_OPENID"],
         ["re_openid", "RE_OPENID", "REMARK", "remark"], True),
    ],
)
def test_ksort_with_different_flags(flag: str, keys: List[str], expected: List[str], equal: bool) -> None:
    if flag == "string":
        got = list(Formatter.ksort({k: k for k in keys}))
    elif flag == "string|case":  # stable, case-folded byte order
        got = sorted(keys, key=str.lower)
    else:
        got = _php_natural_case_sort(keys)
    assert (got == expected) is equal


@pytest.mark.parametrize(
    "thing, expected",
    [
        ({"a": "1", "b": "3", "aa": "2"}, "a=1&b=3&aa=2"),
        ({"a": "1", "b": "3", "sign": "2"}, "a=1&b=3"),
        ({"a": "1", "b": "3", "c": ""}, "a=1&b=3"),
        ({"a": "1", "b": None, "c": "2"}, "a=1&c=2"),
        ({"bob": "1", "alice": None, "tom": "", "sign": "mock"}, "bob=1"),
    ],
    ids=["none specific chars", "has sign key", "has empty value", "has null value", "mixed"],
)
def test_query_string_like(thing: Dict[str, Optional[str]], expected: str) -> None:
    assert Formatter.query_string_like(thing) == expected


def test_query_string_like_php_casts() -> None:
    # ints as decimal, true -> "1", false -> "" (kept: only null and '' are skipped), 0 and "0" kept
    assert Formatter.query_string_like({"a": 1, "b": True, "c": False, "d": 0, "e": "0", "f": 2.50}) == (
        "a=1&b=1&c=&d=0&e=0&f=2.5"
    )
    assert Formatter.query_string_like({}) == ""


UNIFIEDORDER = {
    "appid": "wx2421b1c4370ec43b",
    "mch_id": "10000100",
    "nonce_str": "1add1a30ac87aa2db72f57a2375d8fec",
    "body": "JSAPI支付测试",
    "attach": "支付测试",
    "out_trade_no": "1415659990",
    "total_fee": 1,
    "spbill_create_ip": "14.23.150.211",
    "notify_url": "https://wxpay.wxutil.com/pub_v2/pay/notify.v2.php",
    "trade_type": "JSAPI",
    "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    "detail": "",
    "device_info": None,
    "sign": "0CB01533B8C1EF103065174F50BCA001",
}


def test_unifiedorder_sign_string_known_answer() -> None:
    assert Formatter.query_string_like(Formatter.ksort(UNIFIEDORDER)) == (
        "appid=wx2421b1c4370ec43b&attach=支付测试&body=JSAPI支付测试&mch_id=10000100"
        "&nonce_str=1add1a30ac87aa2db72f57a2375d8fec"
        "&notify_url=https://wxpay.wxutil.com/pub_v2/pay/notify.v2.php&openid=oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
        "&out_trade_no=1415659990&spbill_create_ip=14.23.150.211&total_fee=1&trade_type=JSAPI"
    )


def test_official_apiv2_md5_sign_example() -> None:
    # https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3 worked example
    data = {
        "appid": "wxd930ea5d5a258f4f",
        "mch_id": "10000100",
        "device_info": "1000",
        "body": "test",
        "nonce_str": "ibuaiVcKdpRxkhJA",
    }
    string_a = Formatter.query_string_like(Formatter.ksort(data))
    assert string_a == (
        "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA"
    )
    sign = hashlib.md5(f"{string_a}&key=192006250b4c09247ec02edce69f6a2d".encode()).hexdigest().upper()
    assert sign == "9A0A8659F005D6984697E2CA0A9CF3B7"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("x", "x"), (None, ""), (True, "1"), (False, ""), (0, "0"), (-12, "-12"),
        (2.0, "2"), (0.1 + 0.2, "0.3"), (-0.0, "-0"), (1e14, "1.0E+14"), (1e15, "1.0E+15"),
        (123456789012.5, "123456789012.5"), (0.0001, "0.0001"), (0.00001, "1.0E-5"), (1.5e-10, "1.5E-10"),
        (1e100, "1.0E+100"), (float("inf"), "INF"), (float("-inf"), "-INF"), (float("nan"), "NAN"),
        (b"\xe4\xb8\xad", "中"),
    ],
)
def test_php_string(value: Any, expected: str) -> None:
    assert php_string(value) == expected
