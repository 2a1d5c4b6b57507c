"""`wechatpay_chain.symmetric` is now `wechatpay_chain.crypto.symmetric`; this path re-exports its public names."""

from wechatpay_chain.crypto.symmetric import *  # noqa: F403
from wechatpay_chain.crypto.symmetric import __all__  # noqa: F401
