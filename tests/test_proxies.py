"""Proxies: the config's, else the environment's (HTTP(S)_PROXY, NO_PROXY), for `post` and `post_async` alike."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Iterator, List

import pytest

from wechatpay_chain.sandbox import Sandbox

CALL = "v3/certificates"


class ForwardProxy:
    """A plain-HTTP forward proxy on loopback: records each request line, forwards it in origin-form, pipes
    the rest both ways."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        self.ready.set()
        self.loop.run_forever()
        self.server.close()
        self.loop.run_until_complete(self.server.wait_closed())
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.loop.run_until_complete(asyncio.sleep(0.05))
        self.loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await reader.readline()
            self.lines.append(first.decode().strip())
            host_port = first.split(b" ")[1].split(b"/")[2].decode()  # absolute-form: http://host:port/path
            host, port = host_port.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            origin = b" http://" + host_port.encode()  # absolute-form -> origin-form, as a proxy forwards it
            up_writer.write(first.replace(origin, b" ", 1))

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bool) -> None:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    if record:  # later requests on a kept-alive connection: their request lines too
                        self.lines.extend(
                            line.decode() for line in data.split(b"\r\n") if line.startswith((b"GET ", b"POST "))
                        )
                    dst.write(data.replace(origin, b" ") if record else data)
                    await dst.drain()
                dst.close()

            await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
        except (ConnectionError, IndexError, ValueError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    p = ForwardProxy()
    yield p
    p.close()


def calls(client: Any) -> List[int]:
    """One sync and one async call of the same client (each verified), their statuses."""

    async def one() -> int:
        async with client:
            return int((await client[CALL].get_async()).status_code)

    return [client[CALL].get().status_code, asyncio.run(one())]


def test_environment_proxy_carries_sync_and_async_calls(
    sandbox: Sandbox, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = sandbox.client()
    try:
        statuses = calls(client)
    finally:
        client.get_driver().close()
    assert statuses == [200, 200]  # signed answers, verified, through the proxy
    absolute = [line for line in proxy.lines if line.split(" ")[1].startswith("http://")]
    assert len(absolute) == 2, proxy.lines


@pytest.mark.parametrize("how", ["no_proxy", "config"])
def test_no_proxy_or_an_empty_proxies_config_goes_direct(
    sandbox: Sandbox, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    if how == "no_proxy":
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        client = sandbox.client()
    else:
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = sandbox.client(proxies={})
    try:
        calls(client)
    finally:
        client.get_driver().close()
    assert proxy.lines == []


def test_configured_proxy_carries_sync_and_async_calls(sandbox: Sandbox, proxy: ForwardProxy) -> None:
    client = sandbox.client(proxies={"http": proxy.url})
    try:
        calls(client)
    finally:
        client.get_driver().close()
    assert len([line for line in proxy.lines if " http://" in line]) == 2, proxy.lines
