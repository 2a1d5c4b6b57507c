"""`wechatpay_chain.keyring` is now `wechatpay_chain.keys.keyring`; this path re-exports its public names."""

from wechatpay_chain.keys.keyring import *  # noqa: F403
from wechatpay_chain.keys.keyring import __all__  # noqa: F401
