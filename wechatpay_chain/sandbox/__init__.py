"""A local WeChat-Pay-compatible server (aiohttp.web) for demos and tests.

    from wechatpay_chain.sandbox import Sandbox

Orders, refunds, payroll cards, certificates, bills and media are stateful; every other operation of the
endpoint atlas (`wechatpay_chain.atlas`) answers from its schema, after checking the request against it.
Notifications (`Sandbox.pay`) go to loopback hosts only unless `Sandbox(notify_hosts=[...])` lists more;
test code in any language drives the sandbox over HTTP under `/_sandbox/` (request log, pay, faults).
A browser opens the dashboard at `/_sandbox/` (`sb.dashboard_url`) and pays an order as the payer at its cashier,
`/_sandbox/cashier/{out_trade_no}`: a Native `code_url` is that URL, an H5 `h5_url` opens it.

Importing this package imports aiohttp; ``import wechatpay_chain`` alone never does.
"""

from __future__ import annotations

from wechatpay_chain.sandbox._faults import KINDS as FAULTS
from wechatpay_chain.sandbox._identity import Identity
from wechatpay_chain.sandbox._notify import Delivery
from wechatpay_chain.sandbox._server import Recorded, Sandbox

__all__ = ["Sandbox", "Recorded", "Delivery", "Identity", "FAULTS"]
