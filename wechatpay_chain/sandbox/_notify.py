"""Sending the notifications of `Sandbox.pay`, only where allowed, and the log of each (`Sandbox.notifications`).

A local test tool must not send traffic off the machine. A notification goes to a loopback host
(`localhost`, 127.0.0.0/8, ::1) or to a host the caller listed (`Sandbox(notify_hosts=[...])`,
`wechatpay-chain sandbox --notify-host HOST`); any other is skipped, logged as a WARNING on the
'wechatpay_chain.sandbox' logger, and recorded. The host is judged from the URL itself: no name is resolved.
The URL is parsed once (yarl, aiohttp's own URL type) and that parsed URL is what aiohttp connects to, so
the host judged is the host connected to; redirects are not followed (a loopback receiver cannot send the
notification elsewhere).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, FrozenSet, Iterable, Mapping, Optional, Union

from aiohttp import ClientError, ClientSession, ClientTimeout
from yarl import URL

__all__ = ["Delivery", "Notifier", "SENT", "SKIPPED", "FAILED", "is_loopback", "normalise_host"]

_log = logging.getLogger("wechatpay_chain.sandbox")

SENT, SKIPPED, FAILED = "sent", "skipped", "failed"


@dataclass
class Delivery:
    """One notification of `Sandbox.pay`: `outcome` 'sent' (`status`: the receiver's HTTP status), 'failed'
    (`error` says why) or 'skipped' (not loopback and not in notify_hosts: no connection was attempted)."""

    out_trade_no: str
    url: str
    host: str
    outcome: str
    attempts: int = 0
    status: Optional[int] = None
    error: Optional[str] = None
    at: float = field(default_factory=time.time)  # when it was sent or skipped (Unix time)
    #: what the notification carried, decrypted (the transaction; no key): the dashboard shows it on click
    resource: Optional[Dict[str, Any]] = field(default=None, repr=False)

    def as_json(self) -> Dict[str, Any]:
        return {"out_trade_no": self.out_trade_no, "url": self.url, "host": self.host, "outcome": self.outcome,
                "attempts": self.attempts, "status": self.status, "error": self.error, "time": self.at}


def _ip(host: str) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip


def is_loopback(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1 (also IPv4-mapped), from the text alone."""
    if host.lower() == "localhost":
        return True
    ip = _ip(host)
    return ip is not None and ip.is_loopback


def normalise_host(entry: str) -> str:
    """A notify_hosts entry as compared with a URL's host: lower case, IPv6 without brackets, IPs canonical."""
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError(f"notify_hosts: {entry!r} is not a host name or address")
    host = entry.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    ip = _ip(host)
    if ip is not None:
        return str(ip)
    if any(c in host for c in "/:@?#[] \t"):
        raise ValueError(f"notify_hosts: {entry!r} is not a host name or address (give no scheme, port or path)")
    return host


def _candidates(url: URL) -> FrozenSet[str]:
    names = {h.lower() for h in (url.host, url.raw_host) if h}
    ips = {str(ip) for ip in map(_ip, names) if ip is not None}
    return frozenset(names | ips)


class Notifier:
    """Owns the notification ClientSession, the allowed hosts and the bounded log of deliveries."""

    def __init__(self, hosts: Iterable[str], timeout: float, log_size: int) -> None:
        if isinstance(hosts, (str, bytes)):
            raise TypeError("notify_hosts is a list of hosts, e.g. ['receiver.test'], not one string")
        self.hosts: FrozenSet[str] = frozenset(normalise_host(h) for h in hosts)
        self.timeout = timeout
        self.log: Deque[Delivery] = deque(maxlen=log_size)
        self._session: Optional[ClientSession] = None

    def allowed(self, url: URL) -> bool:
        names = _candidates(url)
        return any(is_loopback(name) for name in names) or not names.isdisjoint(self.hosts)

    async def deliver(self, out_trade_no: str, notify_url: str, headers: Mapping[str, str], body: bytes) -> Delivery:
        """POST the notification once, or skip it; either way it is logged and returned."""
        try:
            url = URL(notify_url)
        except (ValueError, TypeError) as exc:
            return self._record(Delivery(out_trade_no, notify_url, "", FAILED, error=f"not a URL: {exc}"))
        host = url.raw_host or ""
        if not (url.is_absolute() and host and url.scheme in ("http", "https")):
            return self._record(Delivery(out_trade_no, notify_url, host, FAILED, error="not an absolute http(s) URL"))
        if not self.allowed(url):
            _log.warning(
                "notification for order %s not sent: notify_url host %r is not loopback (allow it with "
                "Sandbox(notify_hosts=[%r]) or `wechatpay-chain sandbox --notify-host %s`)",
                out_trade_no, host, host, host,
            )
            return self._record(Delivery(out_trade_no, notify_url, host, SKIPPED))
        delivery = Delivery(out_trade_no, notify_url, host, FAILED, attempts=1)
        if self._session is None:
            self._session = ClientSession()
        try:
            async with self._session.post(url, data=body, headers=dict(headers), allow_redirects=False,
                                          timeout=ClientTimeout(total=self.timeout)) as resp:
                await resp.read()
                delivery.outcome, delivery.status = SENT, int(resp.status)
        except (ClientError, asyncio.TimeoutError, OSError) as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
        return self._record(delivery)

    def _record(self, delivery: Delivery) -> Delivery:
        self.log.append(delivery)
        return delivery

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
