"""`wechatpay_chain.certificates` is now `wechatpay_chain.keys.certificates`; this path re-exports its public names."""

from wechatpay_chain.keys.certificates import *  # noqa: F403
from wechatpay_chain.keys.certificates import __all__  # noqa: F401
