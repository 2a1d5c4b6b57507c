"""`wechatpay_chain.mediautil` is now `wechatpay_chain.files.media`; this path re-exports its public names."""

from wechatpay_chain.files.media import *  # noqa: F403
from wechatpay_chain.files.media import __all__  # noqa: F401
