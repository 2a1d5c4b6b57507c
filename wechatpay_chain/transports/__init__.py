"""The transports: requests (sync) and aiohttp (async) behind one interface (`base.SyncTransport`,
`base.AsyncTransport`), with one resolution of trust and proxies (`network.Network`) and one error classifier
(`base.kind_of`). aiohttp's module is imported only by the first async call."""

from wechatpay_chain.transports.base import AsyncTransport, SyncTransport

__all__ = ["SyncTransport", "AsyncTransport"]
