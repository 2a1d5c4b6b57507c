"""The endpoint atlas: generated from wechatpay-openapi, current, complete, and loaded only when used."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wechatpay_chain import atlas

REPO = Path(__file__).resolve().parent.parent
ATLAS = REPO / "wechatpay_chain" / "atlas"


def openapi_source() -> Path:
    """The wechatpay-openapi checkout: $WECHATPAY_OPENAPI, else ../shared/wechatpay-openapi beside the repo."""
    given = os.environ.get("WECHATPAY_OPENAPI")
    return Path(given) if given else REPO.parent / "shared" / "wechatpay-openapi"


def test_the_committed_atlas_is_what_the_generator_makes_from_its_source() -> None:
    root = openapi_source()
    if not (root / "SOURCE.md").is_file():
        pytest.skip(f"no wechatpay-openapi checkout at {root} (set WECHATPAY_OPENAPI)")
    if importlib.util.find_spec("yaml") is None:
        pytest.skip("PyYAML is not installed (pip install '.[test]')")
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import gen_atlas
    finally:
        sys.path.remove(str(REPO / "tools"))
    made = gen_atlas.generate(root)
    assert sorted(made) == ["LICENSE", "operations.json", "schemas.json"]
    for name, data in made.items():
        assert (ATLAS / name).read_bytes() == data, f"{name} is stale: run python tools/gen_atlas.py"
    assert gen_atlas.generate(root) == made  # the same input, byte for byte the same output


def test_the_atlas_counts_every_operation() -> None:
    ops = atlas.operations()
    by_root = {}
    for op in ops:
        by_root[op.template.split("/")[0]] = by_root.get(op.template.split("/")[0], 0) + 1
    # v3: the YAML's 993 and the fapiao file download it lacks (tools/gen_atlas.py EXTRA)
    assert by_root == {"v3": 994, "hk": 21, "global": 5, "v2": 136}
    assert sum(op.serial for op in ops) == 116
    assert len({(op.method, op.template) for op in ops}) == len(ops) == 1156
    assert [op.template for op in ops] == sorted(op.template for op in ops)


def test_the_seed_operation() -> None:
    op = atlas.lookup("POST", "v3/payroll-card/authentications/pre-order-with-auth")
    assert op is not None and op.encrypt == ("user_name", "id_card_number") and op.serial
    assert "employment_type" in op.required and "appid" not in op.required
    assert op.doc and op.doc.startswith("https://pay.weixin.qq.com/")
    schema = op.schema
    assert set(schema["response"]["required"]) == {"authenticate_number", "openid", "mchid", "sub_mchid", "token",
                                                   "expires_in"}
    assert schema["body"]["properties"]["employment_type"]["enum"][0] == "LONG_TERM_EMPLOYMENT"


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("GET", "v3/pay/transactions/out-trade-no/{out_trade_no}", "v3/pay/transactions/out-trade-no/{out_trade_no}"),
        ("get", "v3/pay/transactions/out-trade-no/{no}", "v3/pay/transactions/out-trade-no/{out_trade_no}"),
        ("GET", "/v3/pay/transactions/out-trade-no/CLI-1?mchid=1", "v3/pay/transactions/out-trade-no/{out_trade_no}"),
        ("POST", "v3/pay/transactions/out-trade-no/{out_trade_no}/close",
         "v3/pay/transactions/out-trade-no/{out_trade_no}/close"),
        ("GET", "v3/pay/transactions/id/4200000000", "v3/pay/transactions/id/{transaction_id}"),
        ("POST", "v2/secapi/pay/refund", "v2/secapi/pay/refund"),
        ("GET", "hk/v3/transactions/id/{transaction_id}", "hk/v3/transactions/id/{transaction_id}"),
    ],
)
def test_lookup_by_template_or_concrete_path(method: str, path: str, template: str) -> None:
    op = atlas.lookup(method, path)
    assert op is not None and op.template == template and op.method == method.upper()


def test_a_literal_segment_wins_over_a_variable_one() -> None:
    """`v3/refund/domestic/refunds/{out_refund_no}` and a literal sibling: the literal is taken when it matches."""
    ops = {op.template for op in atlas.operations()}
    pairs = [(t, t.rsplit("/", 1)[0]) for t in ops if not t.rsplit("/", 1)[1].startswith("{")]
    checked = 0
    for literal, parent in pairs:
        if any(o.startswith(parent + "/{") and o.count("/") == literal.count("/") for o in ops):
            assert atlas.at_path(literal), literal
            assert all(op.template == literal for op in atlas.at_path(literal).values())
            checked += 1
    assert checked > 0


def test_unknown_paths_and_methods_are_none() -> None:
    assert atlas.lookup("GET", "v3/no/such/thing") is None
    assert atlas.lookup("DELETE", "v3/pay/transactions/native") is None
    assert atlas.at_path("{+path}") == {}


def test_apiv2_mtls_marks_and_downloads() -> None:
    refund = atlas.lookup("POST", "v2/secapi/pay/refund")
    assert refund is not None and refund.mtls and refund.apiv2
    micropay = atlas.lookup("POST", "v2/pay/micropay")
    assert micropay is not None and not micropay.mtls
    bill = atlas.lookup("GET", "v3/billdownload/file")
    assert bill is not None and bill.download
    assert sum(op.upload for op in atlas.operations()) >= 14


def test_the_mit_notice_ships_with_the_data() -> None:
    notice = (ATLAS / "LICENSE").read_text(encoding="utf-8")
    assert "Permission is hereby granted" in notice and "TheNorthMemory" in notice and "gen_atlas.py" in notice
    assert atlas.source()["commit"] and atlas.source()["version"]


def prose_keys(node: object, in_properties: bool = False) -> int:
    """How many `description`/`summary` keys are schema keywords (a field *named* description is data)."""
    if isinstance(node, list):
        return sum(prose_keys(v) for v in node)
    if not isinstance(node, dict):
        return 0
    here = 0 if in_properties else sum(k in ("description", "summary", "title") for k in node)
    return here + sum(prose_keys(v, k == "properties" and not in_properties) for k, v in node.items())


def test_no_prose_ships() -> None:
    """Facts only: the documentation prose (`description`, `summary`) is left behind."""
    for name in ("operations.json", "schemas.json"):
        assert prose_keys(json.loads((ATLAS / name).read_text(encoding="utf-8"))) == 0


def test_importing_the_package_loads_no_atlas_data() -> None:
    code = ("import sys, wechatpay_chain, wechatpay_chain.atlas as a; "
            "print(a._loaded.cache_info().currsize, a._schemas.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "0"]
