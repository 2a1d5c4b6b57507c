"""A static HTTP/1.1 keep-alive server answering every request with one correctly signed APIv3 response.

Run in its own process by the benches (`bench._common.Server`); prints ``PORT <n>`` once listening.
The response is signed once with the bench platform key and re-signed every 60 s (fresh
Wechatpay-Timestamp, so the client's 300 s window holds). Per request it only scans for the end of
the headers, skips Content-Length bytes and writes the precomputed bytes: the server is not what
the benches measure.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import RESPONSE_BODY, signed_headers  # noqa: E402

REFRESH_SECONDS = 60.0


class Precomputed:
    """The whole response, bytes ready to write."""

    data = b""

    @classmethod
    def refresh(cls) -> None:
        headers = signed_headers(RESPONSE_BODY)
        head = "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Length: {len(RESPONSE_BODY)}\r\nConnection: keep-alive\r\n\r\n"
        cls.data = head.encode("ascii") + RESPONSE_BODY


class Http(asyncio.Protocol):
    """Minimal HTTP/1.1: pipelining-safe, Content-Length bodies only (all the clients here send those)."""

    __slots__ = ("transport", "buf", "skip")

    def __init__(self) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.buf = b""
        self.skip = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        out = []
        while True:
            if self.skip:
                if len(buf) < self.skip:
                    self.skip -= len(buf)
                    buf = b""
                    break
                buf = buf[self.skip :]
                self.skip = 0
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            buf = buf[end + 4 :]
            length = 0
            at = head.lower().find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            self.skip = length
            out.append(Precomputed.data)
        self.buf = buf
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    Precomputed.refresh()

    def tick() -> None:
        Precomputed.refresh()
        loop.call_later(REFRESH_SECONDS, tick)

    loop.call_later(REFRESH_SECONDS, tick)
    server = await loop.create_server(Http, "127.0.0.1", port, backlog=1024, reuse_address=True)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    async with server:
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed as 'PORT n')")
    args = parser.parse_args()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
