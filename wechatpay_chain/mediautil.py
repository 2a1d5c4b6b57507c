"""The public names of `wechatpay_chain.files._media`, at the import path DESIGN.md names."""

from wechatpay_chain.files._media import *  # noqa: F403
from wechatpay_chain.files._media import __all__  # noqa: F401
