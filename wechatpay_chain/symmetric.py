"""The public names of `wechatpay_chain.crypto._symmetric`, at the import path DESIGN.md names."""

from wechatpay_chain.crypto._symmetric import *  # noqa: F403
from wechatpay_chain.crypto._symmetric import __all__  # noqa: F401
