"""Hostile input, property-based (hypothesis): the chain, URI templates, Transformer, Formatter, notification
parsing, the sandbox's Authorization parser and the client's response verification either return what they
document or raise the documented error; anything else (or a hang) is a bug.

Each example is timed: no single call may take more than `SLOW` seconds (a "hang" detector that, unlike a
hypothesis deadline, does not flake on a busy CI machine)."""

from __future__ import annotations

import json
import string
import time
from typing import Any, Callable, Dict, Tuple, Type

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wechatpay_chain import AesGcm, Builder, Formatter, Rsa, Transformer, uritemplate
from wechatpay_chain.client._chain import Node, normalize
from wechatpay_chain.client._config import build_config
from wechatpay_chain.errors import (
    ApiError,
    DecryptionError,
    InvalidArgumentError,
    VerificationError,
)
from wechatpay_chain.models import Request, Response
from wechatpay_chain.notify import parse_notification, parse_notification_v2
from wechatpay_chain.protocol._v3 import verify_v3
from wechatpay_chain.sandbox._identity import shared_keys
from wechatpay_chain.sandbox._protocol import Rejection, parse_authorization, sign_headers

#: what counts as a hang on hostile input (catastrophic backtracking on these short inputs would take far
#: longer); 2 s failed twice for one getattr while the 2-core VM was loaded by other processes
SLOW = 10.0
NOW = 1_700_000_000
PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
APIV3_KEY = "0123456789abcdef0123456789abcdef"
MERCHANT, PLATFORM = shared_keys(2)

FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SLOWER = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

#: any code point, lone surrogates included (they reach Python from surrogateescape'd bytes and JSON \ud800)
ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=80)
NICE_TEXT = st.text(max_size=80)
HEADER_VALUE = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80),
    st.text(max_size=40),
    st.integers(-(10**20), 10**20).map(str),
    st.just(""),
)


def bounded(fn: Callable[[], Any], allowed: Tuple[Type[BaseException], ...]) -> Any:
    """Call `fn`; only `allowed` errors may escape, and it must return within SLOW seconds."""
    started = time.perf_counter()
    try:
        return fn()
    except allowed as exc:
        return exc
    finally:
        assert time.perf_counter() - started < SLOW, "took too long: a hang on hostile input?"


def client() -> Node:
    return Builder.factory({
        "mchid": "1900000001", "serial": "3775B6A45ACD588826D15E583A95F5DD00000001",
        "privateKey": MERCHANT, "certs": {PUB_KEY_ID: PLATFORM.public_key()},
        "handler": lambda request: pytest.fail("no I/O here"),
    })


ROOT = client()


# -- the chain ----------------------------------------------------------------------------------------------
@FAST
@given(ANY_TEXT)
def test_normalize_is_total(segment: str) -> None:
    out = bounded(lambda: normalize(segment), ())
    assert isinstance(out, str)
    if segment.isascii() and segment.isalpha():  # PHP's rule: no ASCII capital survives
        assert not any(c in string.ascii_uppercase for c in out)
        assert out.replace("-", "") == segment.lower()


@FAST
@given(ANY_TEXT)
def test_attribute_access_is_a_node_or_attribute_error(name: str) -> None:
    out = bounded(lambda: getattr(ROOT.v3, name), (AttributeError, InvalidArgumentError))
    if name in Node.__slots__:  # the node's own state (`_driver`, `_template`, `_children`), never a segment
        return
    if isinstance(out, Node):
        assert str(out).startswith("v3/")
    else:
        assert name.startswith("__") and name.endswith("__") or isinstance(out, InvalidArgumentError)


@FAST
@given(st.one_of(ANY_TEXT, st.integers(), st.none(), st.floats(), st.binary(max_size=8), st.tuples(st.text())))
def test_item_access_is_a_node_or_invalid_argument(key: Any) -> None:
    out = bounded(lambda: ROOT[key], (InvalidArgumentError,))
    assert isinstance(out, (Node, InvalidArgumentError))
    out2 = bounded(lambda: ROOT.chain(key), (InvalidArgumentError,))
    assert type(out2) is type(out)


@FAST
@given(st.lists(st.from_regex(r"\A[a-z][A-Za-z0-9]{0,12}\Z"), min_size=1, max_size=5))
def test_three_ways_to_name_an_endpoint_agree(parts: list) -> None:
    node = ROOT
    for part in parts:
        node = getattr(node, part)
    path = "/".join(normalize(p) for p in parts)
    assert str(node) == str(ROOT[path]) == str(ROOT.chain(path))
    assert ROOT[path] is node  # cached per parent: walking the same chain twice allocates nothing new


# -- URI templates --------------------------------------------------------------------------------------------
TEMPLATE_ATOM = st.one_of(
    st.sampled_from(["{", "}", "{+", "{#", "{.", "{/", "{;", "{?", "{&", "{=", ",", ":", "*", "%", "%2F", "/", "a"]),
    st.from_regex(r"\A\{[+#./;?&]?[a-z_]{1,3}(:[0-9]{1,5}|\*)?(,[a-z_]{1,3}(:[0-9]{1,4}|\*)?)*\}\Z"),
    NICE_TEXT.map(lambda s: s[:6]),
)
TEMPLATE = st.lists(TEMPLATE_ATOM, max_size=12).map("".join)
SCALAR = st.one_of(NICE_TEXT, st.integers(), st.floats(allow_nan=True), st.booleans(), st.none())
VALUE = st.one_of(
    SCALAR,
    st.lists(SCALAR, max_size=4),
    st.dictionaries(st.text(max_size=4), SCALAR, max_size=4),
    st.builds(object),
    st.lists(st.lists(st.integers(), max_size=2), max_size=2),
)
VARIABLES = st.dictionaries(st.sampled_from(["a", "v", "ab", "_", "a_b", "x"]), VALUE, max_size=5)


@FAST
@given(TEMPLATE)
def test_compile_is_a_template_or_invalid_argument(template: str) -> None:
    bounded(lambda: uritemplate.compile(template), (InvalidArgumentError,))


@FAST
@given(TEMPLATE, VARIABLES)
def test_expand_is_a_str_or_invalid_argument(template: str, variables: Dict[str, Any]) -> None:
    out = bounded(lambda: uritemplate.expand(template, variables), (InvalidArgumentError,))
    assert isinstance(out, (str, InvalidArgumentError))


@pytest.mark.parametrize("template,variables", [("{a}", {"a": "\ud800"}), ("x\udcff{a}", {"a": "b"}),
                                                ("{+a}", {"a": "\udcff"}), ("{?a*}", {"a": {"\ud800": "1"}})])
def test_expand_with_a_lone_surrogate_is_invalid_argument(template: str, variables: Dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        uritemplate.expand(template, variables)


@FAST
@given(TEMPLATE, st.dictionaries(st.sampled_from(["a", "v", "ab"]), st.text(max_size=30), max_size=3))
def test_expand_of_nice_text_is_ascii(template: str, variables: Dict[str, str]) -> None:
    """What goes on the wire is percent-encoded ASCII, whatever the variables hold."""
    out = bounded(lambda: uritemplate.expand(template, variables), (InvalidArgumentError,))
    if isinstance(out, str) and template.isascii():
        assert out.isascii()


# -- Transformer ----------------------------------------------------------------------------------------------
XML_ATOM = st.one_of(
    st.sampled_from(["<xml>", "</xml>", "<a>", "</a>", "<b x='1'>", "</b>", "<![CDATA[", "]]>", "<!DOCTYPE x [",
                     "<!ENTITY e 'x'>", "]>", "&e;", "&amp;", "&#0;", "&#x1F600;", "<?xml version='1.0'?>",
                     "<!--", "-->", "<ns:a xmlns:ns='u'>", "</ns:a>", "<", ">", "&", "\x00", "\r\n"]),
    NICE_TEXT.map(lambda s: s[:8]),
)


@FAST
@given(st.one_of(ANY_TEXT, st.binary(max_size=200), st.lists(XML_ATOM, max_size=20).map("".join)))
def test_to_array_is_a_dict_or_invalid_argument(xml: Any) -> None:
    out = bounded(lambda: Transformer.to_array(xml), (InvalidArgumentError,))
    assert isinstance(out, (dict, InvalidArgumentError))


@FAST
@given(st.one_of(st.integers(), st.none(), st.lists(st.text(), max_size=2)))
def test_to_array_of_a_non_text_is_invalid_argument(thing: Any) -> None:
    assert isinstance(bounded(lambda: Transformer.to_array(thing), (InvalidArgumentError,)), InvalidArgumentError)


def test_hostile_xml_is_refused() -> None:
    bomb = "<?xml version='1.0'?><!DOCTYPE l [<!ENTITY a 'aaaaaaaaaa'>" + "".join(
        f"<!ENTITY {chr(98 + i)} '&{chr(97 + i)};&{chr(97 + i)};&{chr(97 + i)};&{chr(97 + i)};'>" for i in range(9)
    ) + "]><xml><x>&j;</x></xml>"
    xxe = "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><xml><x>&e;</x></xml>"
    deep = "<xml>" + "<a>" * 100_000 + "</a>" * 100_000 + "</xml>"
    for doc in (bomb, xxe, deep, "x" * (10 * 1024 * 1024 + 1)):
        assert isinstance(bounded(lambda d=doc: Transformer.to_array(d), (InvalidArgumentError,)),
                          InvalidArgumentError)


NAME = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.\-]{0,10}\Z")
XML_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
LEAF = st.lists(st.one_of(st.text(XML_CHARS, max_size=6), st.sampled_from(["\t", "\n", "\r", "]]>", "<", "&", '"',
                                                                            ">", " "])), max_size=8).map("".join)
XML_DOC = st.recursive(
    st.dictionaries(NAME, LEAF, min_size=1, max_size=5),
    lambda inner: st.dictionaries(NAME, st.one_of(LEAF, inner), min_size=1, max_size=4),
    max_leaves=20,
)


@FAST
@given(XML_DOC)
def test_generated_xml_round_trips(doc: Dict[str, Any]) -> None:
    xml = Transformer.to_xml(doc)
    back = Transformer.to_array(xml)
    assert back == _expected(doc), xml


def _expected(doc: Dict[str, Any]) -> Dict[str, Any]:
    """What PHP's toArray gives back: a blank leaf stays as written, CR becomes LF inside CDATA as XML says."""
    out: Dict[str, Any] = {}
    for k, v in doc.items():
        out[k] = _expected(v) if isinstance(v, dict) else _leaf(v)
    return out


def _leaf(text: str) -> str:
    """Every leaf comes back as written: a parser normalises line ends inside CDATA too (XML 1.0 section 2.11),
    so to_xml writes a CR as &#13; there as well as in plain text (PHP's XMLWriter does not, in CDATA)."""
    return text


@FAST
@given(ANY_TEXT)
def test_sanitize_leaves_only_xml_chars(text: str) -> None:
    out = Transformer.sanitize(text)
    assert out == Transformer.sanitize(out)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in out)


# -- Formatter ------------------------------------------------------------------------------------------------
@FAST
@given(st.integers(1, 300))
def test_nonce_is_base62_of_the_size_asked(size: int) -> None:
    nonce = Formatter.nonce(size)
    assert len(nonce) == size and nonce.isascii() and nonce.isalnum()


@FAST
@given(st.integers(-(10**6), 0))
def test_nonce_of_a_bad_size_is_invalid_argument(size: int) -> None:
    with pytest.raises(InvalidArgumentError):
        Formatter.nonce(size)


PHP_SCALAR = st.one_of(NICE_TEXT, st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                       st.none())


@FAST
@given(st.lists(PHP_SCALAR, max_size=6))
def test_joined_by_line_feed_is_a_str(pieces: list) -> None:
    out = Formatter.joined_by_line_feed(*pieces)
    assert isinstance(out, str) and (out.endswith("\n") or not pieces)


@FAST
@given(st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), PHP_SCALAR, max_size=8))
def test_ksort_and_query_string_like_are_total(thing: Dict[Any, Any]) -> None:
    ordered = Formatter.ksort(thing)
    keys = [k if type(k) is str else str(k) for k in ordered]
    assert keys == sorted(keys) and len(ordered) == len(thing)
    assert isinstance(Formatter.query_string_like(ordered), str)


@FAST
@given(NICE_TEXT, NICE_TEXT, NICE_TEXT, NICE_TEXT, NICE_TEXT)
def test_signing_strings_are_the_documented_shape(method: str, uri: str, nonce: str, ts: str, body: str) -> None:
    assert Formatter.request(method, uri, ts, nonce, body) == f"{method}\n{uri}\n{ts}\n{nonce}\n{body}\n"
    assert Formatter.response(ts, nonce, body) == f"{ts}\n{nonce}\n{body}\n"
    auth = Formatter.authorization("1900000001", nonce, "c2ln", ts, "SERIAL")
    assert auth.startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900000001",serial_no="SERIAL",')


# -- the sandbox's Authorization parser -------------------------------------------------------------------------
AUTH_ATOM = st.one_of(
    st.sampled_from(['WECHATPAY2-SHA256-RSA2048 ', 'mchid="1"', 'serial_no="S"', 'timestamp="1"', 'nonce_str="n"',
                     'signature="s"', ",", '"', "=", " ", 'mchid=""', 'extra="x"']),
    ANY_TEXT.map(lambda s: s[:6]),
)


@FAST
@given(st.one_of(st.none(), ANY_TEXT, st.lists(AUTH_ATOM, max_size=14).map("".join)))
@example('WECHATPAY2-SHA256-RSA2048 mchid="1",serial_no="S",timestamp="1",nonce_str="n",signature="s"')
def test_parse_authorization_is_five_params_or_a_401(value: Any) -> None:
    out = bounded(lambda: parse_authorization(value), (Rejection,))
    if isinstance(out, Rejection):
        assert out.status == 401 and out.code == "SIGN_ERROR"
    else:
        assert set(out) == {"mchid", "serial_no", "timestamp", "nonce_str", "signature"} and all(out.values())


def test_parse_authorization_round_trips_our_header() -> None:
    header = Formatter.authorization("1900000001", "NONCE", "c2ln", 1700000000, "SERIAL")
    assert parse_authorization(header) == {"mchid": "1900000001", "serial_no": "SERIAL", "timestamp": "1700000000",
                                           "nonce_str": "NONCE", "signature": "c2ln"}


# -- the client's response verification ---------------------------------------------------------------------
CONFIG = build_config({
    "mchid": "1900000001", "serial": "3775B6A45ACD588826D15E583A95F5DD00000001", "privateKey": MERCHANT,
    "certs": {PUB_KEY_ID: PLATFORM.public_key()}, "clock": lambda: NOW,
})
REQUEST = Request("POST", "https://api.mch.weixin.qq.com/v3/pay/transactions/native", {}, b"{}", signed="x")
RESPONSE_HEADERS = st.fixed_dictionaries({}, optional={
    "Wechatpay-Nonce": HEADER_VALUE,
    "Wechatpay-Serial": st.one_of(HEADER_VALUE, st.just(PUB_KEY_ID)),
    "Wechatpay-Signature": HEADER_VALUE,
    "Wechatpay-Timestamp": st.one_of(HEADER_VALUE, st.integers(NOW - 400, NOW + 400).map(str)),
    "Request-ID": HEADER_VALUE,
    "Wechatpay-Statement-Sha1": HEADER_VALUE,
})
BODY = st.one_of(st.binary(max_size=200), st.just(b'{"code":"SIGN_ERROR","message":"m","detail":{}}'),
                 st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(st.sampled_from(
                     ["code", "message", "detail", "sign_information"]), st.one_of(NICE_TEXT, st.integers(),
                                                                                    st.dictionaries(NICE_TEXT,
                                                                                                    NICE_TEXT)))))


@FAST
@given(st.integers(100, 599), RESPONSE_HEADERS, BODY)
def test_verify_v3_refuses_with_typed_errors_only(status: int, headers: Dict[str, str], body: bytes) -> None:
    response = Response.build(status, headers, body)
    out = bounded(lambda: verify_v3(CONFIG, REQUEST, response), (VerificationError, ApiError))
    if isinstance(out, Response):  # accepted: only a 2xx whose signature really verifies can get here
        assert 200 <= status < 300
        message = Formatter.response(headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"],
                                     body.decode("utf-8", "surrogateescape"))
        assert Rsa.verify(message, headers["Wechatpay-Signature"], PLATFORM.public_key())


@FAST
@given(st.one_of(st.text(max_size=200).map(str.encode), st.binary(max_size=200)), st.integers(-290, 290),
       HEADER_VALUE)
def test_verify_v3_accepts_exactly_the_signed_bytes(body: bytes, skew: int, extra: str) -> None:
    headers = sign_headers(PLATFORM, PUB_KEY_ID, body, NOW + skew)
    assert verify_v3(CONFIG, REQUEST, Response.build(200, headers, body)).content == body
    for forged in (body + b" ", extra.encode() + body if extra else b"x" + body):
        with pytest.raises(VerificationError):
            verify_v3(CONFIG, REQUEST, Response.build(200, headers, forged))


@pytest.mark.parametrize("body", [b"\x80", b"\xff\xfe{}", "张三".encode("gbk")])
def test_verify_v3_of_a_non_utf8_body(body: bytes) -> None:
    headers = sign_headers(PLATFORM, PUB_KEY_ID, body, NOW)
    assert verify_v3(CONFIG, REQUEST, Response.build(200, headers, body)).content == body  # the bytes were signed
    with pytest.raises(VerificationError):
        verify_v3(CONFIG, REQUEST, Response.build(200, headers, body + b"\x80"))


def test_a_non_utf8_request_body_is_signed_over_its_bytes() -> None:
    seen = []
    node = Builder.factory({"mchid": "1900000001", "serial": "3775B6A45ACD588826D15E583A95F5DD00000001",
                            "privateKey": MERCHANT, "certs": {PUB_KEY_ID: PLATFORM.public_key()},
                            "handler": lambda request: seen.append(request) or Response.build(204, {}, b"")})
    with pytest.raises(VerificationError):  # 204 unsigned: refused, but only after it was signed and sent
        node.v3.x.post(body=b"\xff\xfe")
    assert seen and seen[0].body == b"\xff\xfe"


@pytest.mark.parametrize("status", [400, 500])
def test_deeply_nested_error_body_is_still_an_api_error(status: int) -> None:
    response = Response.build(status, {}, b"[" * 100_000)
    with pytest.raises(ApiError):
        verify_v3(CONFIG, REQUEST, response)


# -- notifications ------------------------------------------------------------------------------------------
NOTIFY_HEADERS = st.fixed_dictionaries({}, optional={
    "Wechatpay-Nonce": HEADER_VALUE,
    "Wechatpay-Serial": st.one_of(HEADER_VALUE, st.just(PUB_KEY_ID)),
    "Wechatpay-Signature": HEADER_VALUE,
    "Wechatpay-Timestamp": st.one_of(HEADER_VALUE, st.integers(NOW - 400, NOW + 400).map(str)),
    "Wechatpay-Signature-Type": st.one_of(HEADER_VALUE, st.just("WECHATPAY2-SHA256-RSA2048")),
})
NOTIFY_ERRORS = (VerificationError, DecryptionError, InvalidArgumentError)
CERTS = {PUB_KEY_ID: PLATFORM.public_key()}


@FAST
@given(st.one_of(NOTIFY_HEADERS, st.lists(st.tuples(ANY_TEXT, ANY_TEXT), max_size=4), st.integers(), st.none()),
       st.one_of(st.binary(max_size=200), ANY_TEXT, st.integers()))
def test_parse_notification_refuses_with_typed_errors_only(headers: Any, body: Any) -> None:
    out = bounded(lambda: parse_notification(headers, body, certs=CERTS, apiv3_key=APIV3_KEY, now=NOW),
                  NOTIFY_ERRORS)
    assert isinstance(out, NOTIFY_ERRORS)  # nothing unsigned is ever accepted


JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), NICE_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NICE_TEXT, inner, max_size=3)),
    max_leaves=10,
)
RESOURCE = st.one_of(
    JSONISH,
    st.fixed_dictionaries({}, optional={
        "algorithm": st.one_of(st.just("AEAD_AES_256_GCM"), NICE_TEXT, st.integers()),
        "ciphertext": st.one_of(NICE_TEXT, st.binary(max_size=40).map(lambda b: __import__("base64").b64encode(
            b).decode()), st.integers(), st.just(AesGcm.encrypt("not json", APIV3_KEY, "nonce1234567", "a"))),
        "nonce": st.one_of(NICE_TEXT, st.just("nonce1234567"), st.none()),
        "associated_data": st.one_of(NICE_TEXT, st.just("a"), st.none(), st.integers()),
    }),
)


@SLOWER
@given(st.one_of(JSONISH, st.fixed_dictionaries({"resource": RESOURCE}, optional={"id": JSONISH})), st.text(
    string.ascii_letters, min_size=1, max_size=32))
def test_signed_but_malformed_notification_is_refused_with_typed_errors(doc: Any, nonce: str) -> None:
    """Even a correctly signed body (what a compromised platform key could send) fails only in documented ways."""
    body = json.dumps(doc).encode()
    headers = sign_headers(PLATFORM, PUB_KEY_ID, body, NOW, nonce)
    out = bounded(lambda: parse_notification(headers, body, certs=CERTS, apiv3_key=APIV3_KEY, now=NOW),
                  NOTIFY_ERRORS)
    assert isinstance(out, (dict, *NOTIFY_ERRORS))


@FAST
@given(st.one_of(ANY_TEXT, st.binary(max_size=200), st.lists(XML_ATOM, max_size=20).map("".join),
                 st.dictionaries(NAME, NICE_TEXT, max_size=5).map(Transformer.to_xml)))
def test_parse_notification_v2_refuses_with_typed_errors_only(xml: Any) -> None:
    out = bounded(lambda: parse_notification_v2(xml, secret=APIV3_KEY), NOTIFY_ERRORS)
    assert isinstance(out, NOTIFY_ERRORS)


# -- crypto with hostile input ------------------------------------------------------------------------------
@FAST
@given(st.one_of(ANY_TEXT, st.binary(max_size=300)), st.one_of(ANY_TEXT, st.binary(max_size=40)))
def test_rsa_verify_is_a_bool(message: Any, signature: Any) -> None:
    out = bounded(lambda: Rsa.verify(message, signature, PLATFORM.public_key()), (InvalidArgumentError,))
    assert out in (True, False) or isinstance(out, InvalidArgumentError)  # a lone surrogate is not text


@FAST
@given(st.one_of(NICE_TEXT, st.binary(max_size=300)))
def test_rsa_decrypt_of_garbage_is_a_decryption_error(ciphertext: Any) -> None:
    out = bounded(lambda: Rsa.decrypt(ciphertext, PLATFORM), (DecryptionError, InvalidArgumentError))
    assert isinstance(out, (str, DecryptionError, InvalidArgumentError))


@FAST
@given(st.one_of(NICE_TEXT, st.binary(max_size=100)), st.one_of(NICE_TEXT, st.binary(max_size=20)),
       st.one_of(NICE_TEXT, st.binary(max_size=20)))
def test_aes_gcm_decrypt_of_garbage_is_typed(ciphertext: Any, iv: Any, aad: Any) -> None:
    bounded(lambda: AesGcm.decrypt(ciphertext, APIV3_KEY, iv, aad), (DecryptionError, InvalidArgumentError))


@FAST
@given(st.one_of(ANY_TEXT, st.binary(max_size=200), st.integers(), st.none(),
                 st.tuples(NICE_TEXT, st.one_of(NICE_TEXT, st.none()))))
def test_rsa_from_of_garbage_is_invalid_argument(thing: Any) -> None:
    for kind in (Rsa.KEY_TYPE_PRIVATE, Rsa.KEY_TYPE_PUBLIC):
        bounded(lambda k=kind: Rsa.from_(thing, k), (InvalidArgumentError,))
