"""The transports: requests (`_requests`) and aiohttp (`_aiohttp`) behind one interface (`SyncTransport`,
`AsyncTransport`, from `_base`), with one resolution of trust and proxies (`_network.Network`) and one error
classifier (`_base.kind_of`). aiohttp's module is imported only by the first async call."""

from wechatpay_chain.transports._base import AsyncTransport, SyncTransport

__all__ = ["SyncTransport", "AsyncTransport"]
