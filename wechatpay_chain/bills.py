"""`wechatpay_chain.bills` is now `wechatpay_chain.files.bills`; this path re-exports its public names."""

from wechatpay_chain.files.bills import *  # noqa: F403
from wechatpay_chain.files.bills import __all__  # noqa: F401
