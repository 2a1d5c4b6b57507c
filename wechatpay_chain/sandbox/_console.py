"""What `wechatpay-chain sandbox` shows on its console while it serves.

One line per request served, from the 'wechatpay_chain.sandbox.access' logger (INFO), as
`POST /v3/pay/transactions/native 200 <Request-ID>`: the method, the path without its query, the status
and the Request-ID; never a header, a key or a body. The sandbox's own warnings (a notification skipped
because its host is not loopback) from 'wechatpay_chain.sandbox' go to the same stream, marked as such.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator, TextIO

__all__ = ["console_logging", "ACCESS_LOGGER", "LOGGER"]

ACCESS_LOGGER = "wechatpay_chain.sandbox.access"
LOGGER = "wechatpay_chain.sandbox"


@contextmanager
def console_logging(stream: TextIO) -> Iterator[None]:
    """Route the request lines and the warnings to `stream` for the duration; then undo."""
    access, sandbox = logging.getLogger(ACCESS_LOGGER), logging.getLogger(LOGGER)
    lines = logging.StreamHandler(stream)
    lines.setFormatter(logging.Formatter("%(message)s"))
    warnings = logging.StreamHandler(stream)
    warnings.setLevel(logging.WARNING)
    warnings.setFormatter(logging.Formatter("wechatpay-chain sandbox: %(levelname)s: %(message)s"))
    saved = access.level, access.propagate
    access.setLevel(logging.INFO)
    access.propagate = False  # a request line is not a warning of the sandbox's
    access.addHandler(lines)
    sandbox.addHandler(warnings)
    try:
        yield
    finally:
        access.removeHandler(lines)
        sandbox.removeHandler(warnings)
        access.setLevel(saved[0])
        access.propagate = saved[1]
