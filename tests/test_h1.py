"""The lean async transport: the pure response parser, request encoding, and real loopback connections."""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib
from typing import Any, Awaitable, Callable, List, Tuple

import pytest

from wechatpay_chain import Builder, InvalidArgumentError, TransportError
from wechatpay_chain.h1 import H1Transport, ProtocolError, ResponseParser, encode_request
from wechatpay_chain.models import Request

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a":"b c"}'


def parse(data: bytes, step: int = 0, head_only: bool = False, eof: bool = False) -> ResponseParser:
    parser = ResponseParser(head_only)
    if step:
        for i in range(0, len(data), step):
            parser.feed(data[i : i + step])
    else:
        parser.feed(data)
    if eof:
        parser.eof()
    return parser


# ---- the parser (sans-I/O) -------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [0, 1, 2, 7])
def test_content_length_in_any_split(step: int) -> None:
    p = parse(OK, step)
    assert p.done and p.keep_alive
    assert (p.status, p.reason, p.body) == (200, "OK", b'{"a":"b c"}')
    assert p.headers == [("Content-Type", "application/json"), ("Content-Length", "11")]


@pytest.mark.parametrize("step", [0, 1, 3])
def test_chunked_with_extensions_and_trailers(step: int) -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n"
    p = parse(data, step)
    assert p.done and p.keep_alive and p.body == b"Wikipedia"


def test_close_delimited_body_ends_at_eof_and_is_not_reused() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\n\r\npart one, ", 0)
    assert not p.done
    p.feed(b"part two")
    p.eof()
    assert p.done and not p.keep_alive and p.body == b"part one, part two"


def test_interim_100_continue_is_skipped() -> None:
    p = parse(b"HTTP/1.1 100 Continue\r\n\r\n" + OK, 1)
    assert p.status == 200 and p.body == b'{"a":"b c"}'


@pytest.mark.parametrize(
    "head", [b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"]
)
def test_no_body_statuses(head: bytes) -> None:
    p = parse(head)
    assert p.done and p.body == b"" and p.keep_alive


def test_head_request_has_no_body_despite_content_length() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", head_only=True)
    assert p.done and p.body == b""


@pytest.mark.parametrize(
    "head, keep",
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", False),
    ],
)
def test_keep_alive_rules(head: bytes, keep: bool) -> None:
    assert parse(head).keep_alive is keep


def test_content_encodings_are_decoded() -> None:
    text = b'{"long":"' + b"x" * 500 + b'"}'
    for coding, data in (
        ("gzip", gzip.compress(text)),
        ("deflate", zlib.compress(text)),
        ("deflate", zlib.compress(text)[2:-4]),  # raw deflate, as some servers send
    ):
        raw = f"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data
        assert parse(raw).body == text


def test_folded_header_is_joined() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\nContent-Length: 0\r\n\r\n")
    assert p.headers[0] == ("X-Long", "one two")


def test_utf8_header_value_is_kept() -> None:
    p = parse("HTTP/1.1 200 OK\r\nX-Name: 张三\r\nContent-Length: 0\r\n\r\n".encode())
    assert p.headers[0] == ("X-Name", "张三")


@pytest.mark.parametrize(
    "data, eof, message",
    [
        (b"HTTP/2 200 OK\r\n\r\n", False, "bad status line"),
        (b"ICY 200 OK\r\n\r\n", False, "bad status line"),
        (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", False, "bad header line"),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", False, "bad header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", False, "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", False, "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", False, "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", False, "unsupported Transfer-Encoding"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", False, "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", False, "not followed by CRLF"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", False, "101"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", True, "closed before the response was complete"),
        (b"HTTP/1.1 200 OK\r\nContent-Len", True, "closed before the response was complete"),
    ],
)
def test_protocol_errors(data: bytes, eof: bool, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse(data, eof=eof)


@pytest.mark.parametrize("step", [0, 1])
def test_bytes_past_the_end_keep_the_response_but_not_the_connection(step: int) -> None:
    p = parse(OK + b"\r\njunk", step)
    assert p.done and p.body == b'{"a":"b c"}' and not p.keep_alive
    p = parse(OK)
    p.feed(b"late")
    assert p.done and not p.keep_alive


def test_head_size_is_bounded() -> None:
    with pytest.raises(ProtocolError, match="larger than"):
        parse(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000)


def test_unknown_content_encoding_is_an_error_not_silent_bytes() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nxx")
    with pytest.raises(ProtocolError, match="unsupported Content-Encoding"):
        p.body  # noqa: B018


# ---- request encoding ------------------------------------------------------------------------------------------


def request(
    method: str = "POST", url: str = "http://127.0.0.1:9/v3/x?y=1", body: bytes = b"{}", **headers: str
) -> Request:
    return Request(method, url, {"Accept": "application/json", **headers}, body, (2.0, 2.0))


def test_encode_request_frames_the_body_itself() -> None:
    data = encode_request(request(**{"Content-Length": "999", "Connection": "close"}), "127.0.0.1:9")
    assert data == (
        b"POST /v3/x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nAccept: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )


def test_encode_request_get_has_no_length_and_keeps_a_given_host() -> None:
    data = encode_request(request("GET", body=None, Host="api.example"), "127.0.0.1:9")  # type: ignore[arg-type]
    assert data == b"GET /v3/x?y=1 HTTP/1.1\r\nAccept: application/json\r\nHost: api.example\r\n\r\n"


@pytest.mark.parametrize("name, value", [("X-A", "v\r\nX-Injected: 1"), ("X-A", "v\n"), ("X A", "v"), ("X-A", "\0")])
def test_header_injection_is_refused_before_sending(name: str, value: str) -> None:
    with pytest.raises(TransportError, match="cannot be sent"):
        encode_request(request(**{name: value}), "h")


@pytest.mark.parametrize("url", ["http://h/v3/x?a=1 HTTP/1.1\r\nX: y", "http://h/v3/x?a=b c", "http://h/v3/\x7f"])
def test_request_target_injection_is_refused_before_sending(url: str) -> None:
    with pytest.raises(TransportError, match="space or control character"):
        encode_request(request(url=url), "h")


# ---- over loopback ---------------------------------------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


class Server:
    """A raw asyncio server answering each request with the next scripted action."""

    def __init__(self, answer: Callable[[int, asyncio.StreamWriter], Awaitable[bool]]) -> None:
        self.answer, self.connections, self.requests, self.open, self.peak = answer, 0, 0, 0, 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            while True:
                try:
                    await read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests += 1
                if not await self.answer(self.requests, writer):
                    return
        finally:
            self.open -= 1
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


async def ok(n: int, writer: asyncio.StreamWriter) -> bool:
    writer.write(OK)
    await writer.drain()
    return True


def transport(**options: object) -> H1Transport:
    return H1Transport(options)


def test_keep_alive_connection_is_reused() -> None:
    async def main() -> Tuple[int, List[int]]:
        server = Server(ok)
        async with server as base:
            t = transport()
            statuses = [(await t.send(request(url=base + "v3/x"))).status_code for _ in range(5)]
            await t.close()
        return server.connections, statuses

    connections, statuses = asyncio.run(main())
    assert statuses == [200] * 5 and connections == 1


def test_connection_close_then_next_call_opens_a_new_connection() -> None:
    async def close_each(n: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        return False

    async def main() -> int:
        server = Server(close_each)
        async with server as base:
            t = transport()
            for _ in range(3):
                assert (await t.send(request(url=base))).content == b"ok"
            await t.close()
        return server.connections

    assert asyncio.run(main()) == 3


def test_server_closing_an_idle_connection_is_noticed() -> None:
    async def once(n: int, writer: asyncio.StreamWriter) -> bool:
        await ok(n, writer)
        return False  # answer, then close without saying so

    async def main() -> int:
        server = Server(once)
        async with server as base:
            t = transport()
            for _ in range(3):
                assert (await t.send(request(url=base))).status_code == 200
                await asyncio.sleep(0.05)  # the FIN arrives while the connection is idle
            await t.close()
        return server.connections

    assert asyncio.run(main()) == 3


def test_read_timeout_then_recovery() -> None:
    async def slow_first(n: int, writer: asyncio.StreamWriter) -> bool:
        if n == 1:
            await asyncio.sleep(1.0)
        return await ok(n, writer)

    async def main() -> None:
        async with Server(slow_first) as base:
            t = transport()
            slow = Request("POST", base, {}, b"{}", (1.0, 0.2))
            with pytest.raises(TransportError) as info:
                await t.send(slow)
            assert info.value.kind == "timeout"
            assert (await t.send(request(url=base))).status_code == 200
            await t.close()

    asyncio.run(main())


def test_connection_refused_is_a_connect_error() -> None:
    async def main() -> None:
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        with pytest.raises(TransportError) as info:
            await transport().send(request(url=f"http://127.0.0.1:{port}/v3/x"))
        assert info.value.kind == "connect"

    asyncio.run(main())


def test_close_mid_body_is_a_read_error_and_the_pool_recovers() -> None:
    async def truncate_first(n: int, writer: asyncio.StreamWriter) -> bool:
        if n == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
            await writer.drain()
            return False
        return await ok(n, writer)

    async def main() -> None:
        async with Server(truncate_first) as base:
            t = transport()
            with pytest.raises(TransportError) as info:
                await t.send(request(url=base))
            assert info.value.kind == "read" and "complete" in str(info.value)
            assert (await t.send(request(url=base))).status_code == 200
            await t.close()

    asyncio.run(main())


def test_pool_maxsize_caps_open_connections() -> None:
    async def slowish(n: int, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.01)
        return await ok(n, writer)

    async def main() -> Tuple[int, int]:
        server = Server(slowish)
        async with server as base:
            t = transport(pool_maxsize=2)
            results = await asyncio.gather(*(t.send(request(url=base)) for _ in range(12)))
            assert all(r.status_code == 200 for r in results)
            await t.close()
        return server.peak, server.connections

    peak, connections = asyncio.run(main())
    assert peak == 2 and connections == 2


def test_cancelled_call_does_not_leave_a_half_used_connection_in_the_pool() -> None:
    async def slow_first(n: int, writer: asyncio.StreamWriter) -> bool:
        if n == 1:
            await asyncio.sleep(0.3)
        return await ok(n, writer)

    async def main() -> int:
        server = Server(slow_first)
        async with server as base:
            t = transport()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(t.send(request(url=base)), 0.05)
            # the late answer to the cancelled call must not be taken as this call's answer
            response = await t.send(request(url=base))
            assert response.status_code == 200
            await t.close()
        return server.connections

    assert asyncio.run(main()) == 2


def test_each_loop_gets_its_own_pool_and_forgets_it_at_shutdown() -> None:
    t = transport()

    async def main(base_holder: List[str]) -> int:
        server = Server(ok)
        async with server as base:
            return (await t.send(request(url=base))).status_code

    for _ in range(3):
        assert asyncio.run(main([])) == 200
    assert t._states == {}  # each finished loop closed its connections and was dropped


def test_waiting_for_a_pool_slot_is_bounded_by_the_connect_timeout() -> None:
    """With `pool_maxsize` calls in flight, a queued call gives up after its connect timeout (as in aiohttp),
    with kind `connect`: nothing was sent."""
    async def stall(n: int, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(1.0)
        return await ok(n, writer)

    async def main() -> List[Any]:
        async with Server(stall) as base:
            t = transport(pool_maxsize=1)
            slow = Request("POST", base, {}, b"{}", (0.2, 5.0))
            results = await asyncio.gather(t.send(slow), t.send(slow), return_exceptions=True)
            await t.close()
        return results

    first, second = asyncio.run(main())
    assert not isinstance(first, BaseException) and first.status_code == 200
    assert isinstance(second, TransportError) and second.kind == "connect" and "no connection free" in str(second)


def test_a_connection_gone_before_the_write_is_connect_not_a_read_timeout() -> None:
    """asyncio drops a write to a closed transport without a word: the call must not wait for an answer."""
    from wechatpay_chain.h1 import _Connection, _Unsent

    class Closing:
        def is_closing(self) -> bool:
            return True

    async def main() -> None:
        conn = _Connection(asyncio.get_running_loop())
        conn.connection_made(Closing())  # type: ignore[arg-type]
        with pytest.raises(_Unsent):
            await conn.exchange(b"GET / HTTP/1.1\r\n\r\n", ResponseParser(), 30.0)

    asyncio.run(main())

    async def accept_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def end_to_end() -> List[str]:
        server = await asyncio.start_server(accept_and_close, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        t = transport()
        kinds = []
        for _ in range(5):
            await asyncio.sleep(0.01)
            with pytest.raises(TransportError) as info:
                await t.send(Request("POST", base, {}, b"{}", (1.0, 5.0)))
            kinds.append(info.value.kind)
        await t.close()
        server.close()
        return kinds

    started = time.monotonic()
    kinds = asyncio.run(end_to_end())
    assert time.monotonic() - started < 4  # never the 5 s read timeout
    assert set(kinds) <= {"connect", "read"}


def test_a_connection_with_request_bytes_still_unsent_is_not_reused() -> None:
    """A server may answer (413) before reading a large body: what is left unsent must not precede the next
    request on that connection."""
    async def early(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 413 Too Large\r\nContent-Length: 3\r\n\r\nbig")
            await writer.drain()
            await asyncio.sleep(0.5)
        finally:
            writer.close()

    async def main() -> Tuple[int, int]:
        server = await asyncio.start_server(early, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        t = transport()
        big = await t.send(Request("POST", base, {}, b"x" * (16 << 20), (2.0, 5.0)))
        conns = t._states[asyncio.get_running_loop()][0]
        idle = sum(len(pool.idle) for pool in conns.values())
        await t.close()
        server.close()
        return big.status_code, idle

    assert asyncio.run(main()) == (413, 0)


def test_a_reset_does_not_end_a_close_delimited_body() -> None:
    """Only a clean close delimits a body without Content-Length: a reset mid-body is a read error."""
    import socket
    import struct

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"amount\":{\"total\":1")
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a RST
        writer.transport.abort()

    async def main() -> None:
        server = await asyncio.start_server(cut, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        t = transport()
        with pytest.raises(TransportError) as info:
            await t.send(request(url=base))
        assert info.value.kind == "read"
        await t.close()
        server.close()

    asyncio.run(main())


def test_non_http_url_is_refused() -> None:
    with pytest.raises(TransportError, match="only http"):
        asyncio.run(transport().send(request(url="ftp://127.0.0.1/x")))


# ---- choosing the async transport ------------------------------------------------------------------------------


def config(**more: object) -> dict:  # type: ignore[type-arg]
    from tests.test_core import MERCHANT, PLATFORM_PUB, PUB_ID

    return {"mchid": "1900000001", "serial": "AB", "privateKey": MERCHANT, "certs": {PUB_ID: PLATFORM_PUB}, **more}


def test_async_transport_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WECHATPAY_CHAIN_ASYNC_TRANSPORT", raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert type(Builder.factory(config()).get_driver().async_transport).__name__ == "H1Transport"
    chosen = Builder.factory(config(async_transport="aiohttp")).get_driver().async_transport
    assert type(chosen).__name__ == "AiohttpTransport"
    proxied = Builder.factory(config(proxies={"https": "http://proxy:3128"})).get_driver().async_transport
    assert type(proxied).__name__ == "AiohttpTransport"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")  # as the sync transport, the environment's proxy
    assert type(Builder.factory(config()).get_driver().async_transport).__name__ == "AiohttpTransport"
    assert type(Builder.factory(config(proxies={})).get_driver().async_transport).__name__ == "H1Transport"
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("WECHATPAY_CHAIN_ASYNC_TRANSPORT", "aiohttp")
    assert type(Builder.factory(config()).get_driver().async_transport).__name__ == "AiohttpTransport"
    with pytest.raises(InvalidArgumentError, match="async_transport"):
        Builder.factory(config(async_transport="curl"))


# ---- property: any valid framing, split anywhere, parses to what was sent --------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NAMES = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(
    lambda n: n.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")
)
_VALUES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20)


@st.composite
def responses(draw: st.DrawFn) -> Tuple[bytes, int, List[Tuple[str, str]], bytes, str, List[int]]:
    status = draw(st.sampled_from([200, 201, 400, 401, 404, 500, 502]))
    headers = draw(st.lists(st.tuples(_NAMES, _VALUES), max_size=6))
    body = draw(st.binary(max_size=300))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    head = [f"HTTP/1.1 {status} Reason Phrase"] + [f"{k}: {v}" for k, v in headers]
    if framing == "length":
        head.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        head.append("Transfer-Encoding: chunked")
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)]) if b > a]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        head.append("Connection: close")
        payload = body
    raw = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
    splits = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    return raw, status, headers, body, framing, splits


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses())
def test_any_framing_split_anywhere_parses_back(
    case: Tuple[bytes, int, List[Tuple[str, str]], bytes, str, List[int]],
) -> None:
    raw, status, headers, body, framing, splits = case
    parser = ResponseParser()
    for a, b in zip([0, *splits], [*splits, len(raw)]):
        parser.feed(raw[a:b])
    if framing == "close":
        assert not parser.done
        parser.eof()
    assert parser.done and parser.status == status and parser.body == body
    assert parser.headers[: len(headers)] == headers
    assert parser.keep_alive is (framing != "close")


def parse_or_refuse(data: bytes, splits: List[int]) -> None:
    """Feed `data` cut at `splits`, then the end: a result or a ProtocolError, never another exception."""
    parser = ResponseParser()
    try:
        for a, b in zip([0, *sorted(splits)], [*sorted(splits), len(data)]):
            parser.feed(data[a:b])
        parser.eof()
        parser.body  # noqa: B018
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6))
def test_garbage_never_crashes_the_parser(data: bytes, splits: List[int]) -> None:
    """Arbitrary bytes give a result or a ProtocolError, never another exception."""
    parse_or_refuse(data, splits)


_FRAGMENTS = [
    b"\r\n",
    b":",
    b" ",
    b"0",
    b"5",
    b"a",
    b";x",
    b"Content-Length",
    b"Transfer-Encoding",
    b"chunked",
    b"Connection",
    b"close",
    b"Content-Encoding",
    b"gzip",
    b"HTTP/1.1 ",
    b"200",
    b"100 Continue",
    b"\t",
    b"x",
]


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=40), st.lists(st.integers(0, 200), max_size=6))
def test_near_miss_heads_never_crash_the_parser(parts: List[bytes], splits: List[int]) -> None:
    """Responses built from header-ish fragments reach the framing code; still only ProtocolError."""
    data = b"HTTP/1.1 200 OK\r\n" + b"".join(parts)
    parse_or_refuse(data, splits)
