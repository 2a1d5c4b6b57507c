"""The request target signed is the one received, on every transport (the sandbox checks the signature over
the raw request line, as the service does). urllib3 re-encodes targets on the sync path after signing,
aiohttp sends them as given, requests and yarl drop a trailing `?`: the core sends only targets none of them
change (`core.canonical_target`)."""

from __future__ import annotations

import asyncio
from typing import Any, Dict

import pytest
import requests

from wechatpay_chain import ClientError, InvalidArgumentError
from wechatpay_chain.protocol._v3 import canonical_target
from wechatpay_chain.sandbox import Sandbox

TRANSPORTS: Dict[str, Dict[str, Any]] = {
    "sync": {},
    "sync, a caller's Session": {"session": "new"},
    "async": {"async": True},
}

# (template, options): each reaches the sandbox, which checks the signature and then answers 404 (no such
# endpoint); a target changed after signing would be a 401 SIGN_ERROR instead
CASES = {
    "non-ASCII query str": ("v3/x", {"query": "a=中"}),
    "lower-case escape": ("v3/x", {"query": "a=%e4%b8%ad"}),
    "brackets and braces": ("v3/x", {"query": 'a=[1]&b={"c":1}'}),
    "bar caret backtick backslash": ("v3/x", {"query": "a=|^`\\"}),
    "lone percent": ("v3/x", {"query": "a=%zz"}),
    "escaped slash in a literal": ("v3/x/%2f", {}),
    "brackets in a literal": ("v3/x/a[0]", {}),
    "reserved expansion": ("v3/x/{+id}", {"id": "a%2fb[x]中"}),
    "trailing question mark": ("v3/x?", {}),
}


def call(sb: Sandbox, how: Dict[str, Any], template: str, options: Dict[str, Any]) -> Any:
    extra: Dict[str, Any] = {}
    session = None
    if how.get("session"):
        session = extra["session"] = requests.Session()
    client = sb.client(**extra)
    try:
        if how.get("async"):
            async def go() -> Any:
                try:
                    return await client[template].get_async(**options)
                finally:
                    await client.get_driver().close_async()

            return asyncio.run(go())
        return client[template].get(**options)
    finally:
        client.get_driver().close()
        if session is not None:
            session.close()


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_signed_target_is_the_received_one(sandbox: Sandbox, transport: str, case: str) -> None:
    template, options = CASES[case]
    with pytest.raises(ClientError) as info:
        call(sandbox, TRANSPORTS[transport], template, options)
    assert info.value.status_code == 404, f"{info.value.status_code} {info.value}"  # 401 would be SIGN_ERROR


@pytest.mark.parametrize(
    "target, canonical",
    [
        ("/v3/x?a=中", "/v3/x?a=%E4%B8%AD"),
        ("/v3/x?a=%e4%b8%ad", "/v3/x?a=%E4%B8%AD"),
        ("/v3/x?a=%zz&b=%", "/v3/x?a=%25zz&b=%25"),
        ("/v3/x/a[0]?q={1}", "/v3/x/a%5B0%5D?q=%7B1%7D"),
        ("/v3/x?", "/v3/x"),
        ("/v3/pay/transactions/out-trade-no/A_1-b.c~?mchid=190&x=a/b:c@d!$'()*+,;=", None),  # kept as it is
    ],
)
def test_canonical_target(target: str, canonical: Any) -> None:
    assert canonical_target(target) == (canonical or target)
    assert canonical_target(canonical_target(target)) == canonical_target(target)  # idempotent


def test_urllib3_leaves_every_canonical_target_as_it_is() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from urllib3.util import parse_url

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="#"), max_size=40))
    def check(tail: str) -> None:
        try:
            target = canonical_target("/v3/" + tail)
        except InvalidArgumentError:  # '.'/'..' segments
            return
        assert parse_url("https://h" + target).request_uri == target

    check()


@pytest.mark.parametrize(
    "template, options",
    [("v3/x#y", {}), ("v3/x", {"query": "a=1#x"}), ("v3/x/{+id}", {"id": "a#b"}), ("v3/x/{id}/y", {"id": ".."}),
     ("v3/x/{id}", {"id": "."}), ("v3/x/{+id}", {"id": "../y"})],
)
def test_a_fragment_or_a_dot_segment_is_refused_before_io(sandbox: Sandbox, template: str, options: Any) -> None:
    client = sandbox.client()
    before = len(sandbox.requests) if hasattr(sandbox, "requests") else None
    with pytest.raises(InvalidArgumentError, match="'#'|'\\.' or '\\.\\.'"):
        client[template].get(**options)
    if before is not None:
        assert len(sandbox.requests) == before
    client.get_driver().close()


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding"])
def test_a_framing_header_from_the_caller_is_refused_before_io(sandbox: Sandbox, name: str) -> None:
    """A caller's Content-Length shorter than the body truncated what the service received."""
    with pytest.raises(InvalidArgumentError, match="transport's to set"):
        sandbox.client().v3.x.post(json={"a": 1}, headers={name: "2"})
    with pytest.raises(InvalidArgumentError, match="transport's to set"):
        sandbox.client(headers={name: "2"})
