"""`python -m wechatpay_chain ...`: the same as the `wechatpay-chain` console script."""

from __future__ import annotations

import sys

from wechatpay_chain.cli import main

if __name__ == "__main__":
    sys.exit(main())
