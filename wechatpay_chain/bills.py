"""The public names of `wechatpay_chain.files._bills`, at the import path DESIGN.md names."""

from wechatpay_chain.files._bills import *  # noqa: F403
from wechatpay_chain.files._bills import __all__  # noqa: F401
