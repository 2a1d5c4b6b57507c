"""The public surface: `__all__` is what the package exports, and importing it stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import wechatpay_chain

DESIGN_NAMES = {  # ../shared/DESIGN.md: names code outside this repo calls
    "Builder", "Rsa", "AesGcm", "AesEcb", "Hash", "Formatter", "Transformer", "MediaUtil", "PemUtil", "Sensitive",
    "Request", "Response", "Headers",
}


def test_all_matches_what_is_exported() -> None:
    exported = set(wechatpay_chain.__all__)
    assert DESIGN_NAMES <= exported
    for name in exported:
        assert getattr(wechatpay_chain, name) is not None, name
    public = {n for n in dir(wechatpay_chain) if not n.startswith("_") and n[0].isupper()}
    assert public == exported - {"__version__"}


def test_errors_module_names() -> None:
    from wechatpay_chain import errors

    for name in ("WeChatPayError", "ApiError", "ClientError", "ServerError", "VerificationError", "TransportError",
                 "InvalidArgumentError"):
        assert issubclass(getattr(errors, name), errors.WeChatPayError)
    assert issubclass(errors.InvalidArgumentError, ValueError)


def test_import_is_light() -> None:
    code = "import sys, json, wechatpay_chain; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                           check=True).stdout))
    for heavy in ("aiohttp", "requests", "urllib3", "asyncio", "xml.etree.ElementTree", "defusedxml", "redis"):
        assert heavy not in loaded, heavy
