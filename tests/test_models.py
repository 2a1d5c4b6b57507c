"""`models.py`: the values passed between the pure core and the transports: `Headers`, `Request`, `Response`,
the flow steps, and `target_of` / `origin_of`."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, Iterator, List

import pytest

from wechatpay_chain.models import TOKEN, Headers, Offload, Request, Response, Sleep, origin_of, target_of

# ---- Headers -------------------------------------------------------------------------------------------


def test_headers_are_case_insensitive_and_keep_their_spelling() -> None:
    h = Headers({"Wechatpay-Serial": "ABC", "content-type": "application/json"})
    assert h["wechatpay-serial"] == h["WECHATPAY-SERIAL"] == "ABC"
    assert "CONTENT-TYPE" in h and "Content-Type" in h and "X-Other" not in h
    assert list(h) == ["Wechatpay-Serial", "content-type"]
    assert h.as_dict() == {"Wechatpay-Serial": "ABC", "content-type": "application/json"}


def test_setting_another_spelling_replaces_the_value_and_the_spelling() -> None:
    h = Headers({"Request-ID": "1"})
    h["request-id"] = "2"
    assert len(h) == 1 and h.as_dict() == {"request-id": "2"} and h["REQUEST-ID"] == "2"


def test_delete_and_get_ignore_case() -> None:
    h = Headers([("X-A", "1"), ("X-B", "2")])
    del h["x-a"]
    assert list(h) == ["X-B"] and h.get("x-b") == "2" and h.get("x-a") is None and h.get("x-a", "d") == "d"
    with pytest.raises(KeyError):
        del h["x-a"]
    with pytest.raises(KeyError):
        h["X-A"]  # noqa: B018


def test_headers_from_pairs_keep_the_last_of_a_repeat() -> None:
    assert Headers([("X-A", "1"), ("x-a", "2")]).as_dict() == {"x-a": "2"}


def test_only_str_keys_are_contained() -> None:
    assert 1 not in Headers({"1": "x"}) and None not in Headers()


def test_a_copy_is_independent() -> None:
    h = Headers({"A": "1"})
    c = h.copy()
    c["a"] = "2"
    c["B"] = "3"
    assert h.as_dict() == {"A": "1"} and c.as_dict() == {"a": "2", "B": "3"}


def test_headers_compare_and_repr_as_a_mapping() -> None:
    h = Headers({"A": "1"})
    assert h == {"A": "1"} and repr(h) == "Headers({'A': '1'})"
    assert dict(h) == {"A": "1"} and Headers() == {}


def test_joined_joins_a_repeated_field_in_order_under_its_first_spelling() -> None:
    h = Headers.joined([("Set-Cookie", "a=1"), ("X-A", "x"), ("set-cookie", "b=2"), ("SET-COOKIE", "c=3")])
    assert h.as_dict() == {"Set-Cookie": "a=1, b=2, c=3", "X-A": "x"}
    assert h["set-cookie"] == "a=1, b=2, c=3" and list(h) == ["Set-Cookie", "X-A"]


def test_joined_without_repeats_keeps_every_pair_and_takes_any_iterable() -> None:
    pairs = [("Request-ID", "R"), ("Content-Type", "text/plain")]
    assert Headers.joined(pairs).as_dict() == dict(pairs)
    assert Headers.joined(iter(pairs)).as_dict() == dict(pairs)
    assert Headers.joined([]).as_dict() == {}


@pytest.mark.parametrize("name, ok", [("Wechatpay-Serial", True), ("X_Trace.1~", True), ("X A", False),
                                      ("X:A", False), ("", False), ("张", False)])
def test_token_is_an_http_field_name(name: str, ok: bool) -> None:
    assert bool(TOKEN.fullmatch(name)) is ok


# ---- target_of / origin_of -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, target, origin",
    [
        ("https://api.mch.weixin.qq.com/v3/pay?a=1", "/v3/pay?a=1", "https://api.mch.weixin.qq.com"),
        ("https://host:8443/a/b", "/a/b", "https://host:8443"),
        ("https://host", "/", "https://host"),
        ("https://host/", "/", "https://host"),
        ("http://127.0.0.1:1/x?y=%2F", "/x?y=%2F", "http://127.0.0.1:1"),
        ("https://proxy.example/wxpay/v3/certificates", "/wxpay/v3/certificates", "https://proxy.example"),
    ],
)
def test_target_and_origin(url: str, target: str, origin: str) -> None:
    assert target_of(url) == target and origin_of(url) == origin
    assert origin_of(url) + target_of(url) == (url if url.endswith(target) else url + "/")


# ---- Request ---------------------------------------------------------------------------------------


def test_request_target_and_the_signed_string_kept_out_of_repr_and_equality() -> None:
    a = Request("GET", "https://h/v3/x?q=1", {"A": "1"}, signed="GET\n/v3/x?q=1\n1\nN\n\n")
    b = Request("GET", "https://h/v3/x?q=1", {"A": "1"}, signed="other")
    assert a.target == "/v3/x?q=1" and a == b
    assert "GET\n" not in repr(a) and "signed" not in repr(a)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.url = "https://evil/"  # type: ignore[misc]


# ---- Response ----------------------------------------------------------------------------------------


def test_response_text_json_request_id_and_ok() -> None:
    r = Response.build(200, [("request-id", "REQ-9"), ("Content-Type", "application/json")],
                       '{"name":"张三","n":1.5}'.encode())
    assert r.text == '{"name":"张三","n":1.5}' and r.json() == {"name": "张三", "n": 1.5}
    assert r.request_id == "REQ-9" and r.ok and isinstance(r.headers, Headers)
    from decimal import Decimal

    assert r.json(parse_float=Decimal)["n"] == Decimal("1.5")  # keyword arguments go to json.loads


def test_response_text_replaces_bytes_that_are_not_utf8_and_json_raises() -> None:
    r = Response.build(502, {}, b"\xffbad")
    assert r.text == "\ufffdbad" and r.request_id is None and not r.ok
    with pytest.raises(ValueError):
        r.json()


@pytest.mark.parametrize("status, ok", [(199, False), (200, True), (204, True), (299, True), (300, False),
                                        (404, False)])
def test_ok_is_2xx(status: int, ok: bool) -> None:
    assert Response.build(status, {}, b"").ok is ok


def test_response_repr_holds_no_body_or_headers() -> None:
    r = Response.build(200, {"Authorization": "secret-sig"}, b"secret-body", url="https://h/x", reason="OK")
    assert "secret" not in repr(r) and "200" in repr(r) and "https://h/x" in repr(r)


def test_iter_bytes_slices_content() -> None:
    r = Response.build(200, {}, bytes(range(10)))
    chunks = list(r.iter_bytes(4))
    assert chunks == [bytes(range(4)), bytes(range(4, 8)), bytes(range(8, 10))]
    assert all(type(c) is bytes for c in chunks)
    assert list(Response.build(200, {}, b"").iter_bytes()) == []
    assert list(r.iter_bytes()) == [bytes(range(10))]


class Stream:
    def __init__(self, chunks: List[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def __aiter__(self) -> Any:
        async def gen() -> Any:
            for chunk in self.chunks:
                yield chunk

        return gen()

    def close(self) -> None:
        self.closed = True


def test_a_streamed_body_is_read_from_the_stream_and_close_releases_it() -> None:
    stream = Stream([b"ab", b"cd"])
    r = Response.build(200, {}, b"", stream=stream)
    assert list(r.iter_bytes(1)) == [b"ab", b"cd"]  # the wire's chunks, whatever the size asked
    r.close()
    assert stream.closed
    Response.build(200, {}, b"x").close()  # not streamed: a no-op


def test_aiter_bytes_streamed_and_not() -> None:
    async def collect(r: Response, size: int = 65536) -> List[bytes]:
        return [chunk async for chunk in r.aiter_bytes(size)]

    assert asyncio.run(collect(Response.build(200, {}, b"abcde"), 2)) == [b"ab", b"cd", b"e"]
    assert asyncio.run(collect(Response.build(200, {}, b"", stream=Stream([b"x", b"yz"])))) == [b"x", b"yz"]


def test_stream_is_not_part_of_equality() -> None:
    assert Response.build(200, {"A": "1"}, b"x", stream=Stream([])) == Response.build(200, {"A": "1"}, b"x")


# ---- flow steps ---------------------------------------------------------------------------------


def test_flow_steps_are_frozen_values() -> None:
    assert Sleep(0.5) == Sleep(0.5) and Sleep(0.5).seconds == 0.5
    step = Offload(len, "abc")
    assert step.fn(step.arg) == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.arg = "x"  # type: ignore[misc]
