"""A local WeChat-Pay-compatible server (aiohttp.web) for demos and tests.

    from wechatpay_chain.sandbox import Sandbox


Importing this package imports aiohttp; ``import wechatpay_chain`` alone never does.
"""

from __future__ import annotations

from wechatpay_chain.sandbox._faults import KINDS as FAULTS
from wechatpay_chain.sandbox._identity import Identity
from wechatpay_chain.sandbox._server import Recorded, Sandbox

__all__ = ["Sandbox", "Recorded", "Identity", "FAULTS"]
