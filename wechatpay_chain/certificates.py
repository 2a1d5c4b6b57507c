"""The public names of `wechatpay_chain.keys._certificates`, at the import path DESIGN.md names."""

from wechatpay_chain.keys._certificates import *  # noqa: F403
from wechatpay_chain.keys._certificates import __all__  # noqa: F401
