"""RFC 6570 conformance (uritemplate-test suite) plus WeChat Pay style cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.uritemplate import Template, compile, expand

_ROOT = Path(__file__).resolve().parent.parent
_SHARED = _ROOT.parent / "shared" / "conformance" / "uritemplate-test"
_SUITE = _SHARED if _SHARED.is_dir() else Path(__file__).resolve().parent / "fixtures" / "uritemplate-test"
_FILES = ("spec-examples", "spec-examples-by-section", "extended-tests", "negative-tests")


def _cases() -> List[Any]:
    """Every (template, variables, expected) case of the four suite files."""
    out: List[Any] = []
    seen: Dict[str, int] = {}
    for stem in _FILES:
        with open(_SUITE / f"{stem}.json", encoding="utf-8") as f:
            suite = json.load(f)
        for section, group in suite.items():
            for template, expected in group["testcases"]:
                case_id = f"{stem}/{section}/{template}"
                seen[case_id] = seen.get(case_id, 0) + 1
                if seen[case_id] > 1:
                    case_id += f"#{seen[case_id]}"
                out.append(pytest.param(template, group["variables"], expected, id=case_id))
    return out


CASES = _cases()


def test_suite_is_complete() -> None:
    assert len(CASES) == 64 + 117 + 53 + 36


@pytest.mark.parametrize(("template", "variables", "expected"), CASES)
def test_conformance(template: str, variables: Dict[str, Any], expected: Any) -> None:
    if expected is False:
        with pytest.raises(InvalidArgumentError):
            expand(template, variables)
        return
    result = expand(template, variables)
    if isinstance(expected, list):
        assert result in expected
    else:
        assert result == expected


@pytest.mark.parametrize(
    ("template", "variables", "expected"),
    [
        (
            "v3/pay/transactions/id/{transaction_id}",
            {"transaction_id": "4200000000 2020"},
            "v3/pay/transactions/id/4200000000%202020",
        ),
        (
            "v3/pay/transactions/out-trade-no/{out_trade_no}",
            {"out_trade_no": "订单1"},
            "v3/pay/transactions/out-trade-no/%E8%AE%A2%E5%8D%951",
        ),
        ("v3/merchant/media/{name}", {"name": "a/b"}, "v3/merchant/media/a%2Fb"),
        ("{+path}/x", {"path": "v3/a/b"}, "v3/a/b/x"),
        (
            "v3/bill{?bill_date,tar_type}",
            {"bill_date": "2024-01-01", "tar_type": None},
            "v3/bill?bill_date=2024-01-01",
        ),
        ("v3/x{?n,b,f}", {"n": 10, "b": True, "f": 1.5}, "v3/x?n=10&b=true&f=1.5"),
        ("v3/certificates", {}, "v3/certificates"),
        ("v3/x/{id}", {}, "v3/x/"),
    ],
)
def test_wechat_style(template: str, variables: Dict[str, Any], expected: str) -> None:
    assert expand(template, variables) == expected


def test_compile_cache_and_names() -> None:
    t = compile("v3/{a}/{b}{?c,a}{&b,d}")
    assert t is compile("v3/{a}/{b}{?c,a}{&b,d}")
    assert isinstance(t, Template)
    assert t.variable_names == ("a", "b", "c", "d")
    assert str(t) == "v3/{a}/{b}{?c,a}{&b,d}"
    assert compile("v3/certificates").variable_names == ()


@pytest.mark.parametrize(
    ("template", "position"),
    [("v3/{a", 3), ("v3/a}", 4), ("{a}{!b}", 4), ("{a,b c}", 3), ("{}", 1), ("{a{b}", 2)],
)
def test_errors_name_position(template: str, position: int) -> None:
    with pytest.raises(InvalidArgumentError, match=f"position {position}$"):
        compile(template)


@pytest.mark.parametrize(
    ("template", "variables"),
    [("{keys:1}", {"keys": {"a": "b"}}), ("{x}", {"x": b"bytes"}), ("{x}", {"x": [["nested"]]})],
)
def test_bad_values(template: str, variables: Tuple[Any, ...]) -> None:
    with pytest.raises(InvalidArgumentError):
        expand(template, variables)  # type: ignore[arg-type]


def test_non_str_template() -> None:
    with pytest.raises(InvalidArgumentError):
        compile(b"{x}")  # type: ignore[arg-type]
