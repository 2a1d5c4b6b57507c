"""The endpoint type stubs (`wechatpay_chain/_endpoints/*.pyi`, made by tools/gen_stubs.py from the atlas): current,
true to the runtime chain, shipped, and what mypy and pyright make of a user's calls (`tests/typing/`: the calls
they must accept, and the mistakes they must flag, each marked on its line with a comment: E, a colon, mypy's
message)."""

from __future__ import annotations

import ast
import configparser
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple, cast

import pytest

from tests.test_core import MERCHANT, PLATFORM_PUB, PUB_ID
from wechatpay_chain import Builder, Node, Response, atlas

REPO = Path(__file__).resolve().parent.parent
STUBS = REPO / "wechatpay_chain" / "_endpoints"
FIXTURES = Path(__file__).resolve().parent / "typing"
MARK = re.compile(r"#\s*E:\s*(.+)$")


def _generator() -> Any:
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import gen_stubs
    finally:
        sys.path.remove(str(REPO / "tools"))
    return gen_stubs


def _classes() -> Dict[str, Tuple[str, Dict[str, str], Set[str]]]:
    """Every stub class: name -> (docstring, {attribute: class}, method names)."""
    found: Dict[str, Tuple[str, Dict[str, str], Set[str]]] = {}
    for path in sorted(STUBS.glob("*.pyi")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                attrs = {a.target.id: ast.unparse(a.annotation) for a in node.body
                         if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name)}
                methods = {f.name for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
                found[node.name] = (ast.get_docstring(node) or "", attrs, methods)
    return found


def _expected() -> Dict[int, str]:
    """Line -> the message fragment its `# E:` mark expects."""
    lines = (FIXTURES / "calls_bad.py").read_text(encoding="utf-8").splitlines()
    return {n: m.group(1).strip() for n, line in enumerate(lines, 1) if (m := MARK.search(line))}


# -- the stubs: current, true to the runtime, shipped ---------------------------------------------------------------

def test_the_committed_stubs_are_what_the_generator_makes_from_the_committed_atlas() -> None:
    gen = _generator()
    made = gen.generate()
    assert sorted(made) == sorted(p.name for p in STUBS.iterdir() if p.name != "__pycache__"), "stale or missing stubs"
    for name, data in made.items():
        assert (STUBS / name).read_bytes() == data, f"{name} is stale: run python tools/gen_stubs.py"
    assert gen.generate() == made  # the same atlas, byte for byte the same stubs
    _, unreachable = gen.build_tree(gen.load(gen.ATLAS))
    assert unreachable == [f"POST v2/secapi/mch/{n}Institutionsub" for n in ("add", "modify", "query")]


def test_every_attribute_reaches_the_template_its_class_names() -> None:
    """Walk the stubs' classes from `Client` beside a real chain: each attribute the stubs offer is one the runtime
    turns into exactly the segment its class stands for (keywords, verb names, `_var_`, camelCase)."""
    classes = _classes()
    todo: List[Tuple[str, Node]] = [("Client", Node(cast(Any, None)))]
    seen = 0
    while todo:
        name, node = todo.pop()
        doc, attrs, _ = classes[name]
        assert name == "Client" or doc == str(node), (name, doc, str(node))
        for attr, child_class in attrs.items():
            child = getattr(node, attr)
            assert isinstance(child, Node), f"{name}.{attr} is not a segment at run time"
            todo.append((child_class, child))
        seen += 1
    assert seen == len([c for c in classes if c.endswith("Node") or c == "Client"]) > 1700


def test_every_apiv3_operation_has_its_typed_verbs_and_apiv2_keeps_the_generic_ones() -> None:
    by_template = {doc: methods for doc, _, methods in _classes().values() if doc}
    for op in atlas.operations():
        verbs = {op.method.lower(), op.method.lower() + "_async"}
        methods = by_template.get(op.template, set())
        if op.apiv2:
            assert not methods & verbs, op.template
        else:
            assert verbs <= methods, f"{op.method} {op.template} is not typed"


def test_the_stubs_ship_with_the_package() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    globs = [g.strip() for g in cfg["options.package_data"]["wechatpay_chain"].split(",")]
    for path in STUBS.glob("*.pyi"):
        assert any(fnmatch.fnmatch(f"_endpoints/{path.name}", g) for g in globs), path.name
    assert not list(STUBS.glob("*.py")), "a .py beside the stubs would make them importable (and shadow nothing)"


def test_the_types_change_nothing_at_run_time() -> None:
    client = Builder.factory({"mchid": "1", "serial": "S", "privateKey": MERCHANT, "certs": {PUB_ID: PLATFORM_PUB}})
    assert type(client) is Node and type(client.v3.pay.transactions.native) is Node
    response = Response[Any].build(200, [("Content-Type", "application/json")], b'{"code_url": "weixin://x"}')
    assert type(response) is Response and response.json() == {"code_url": "weixin://x"}


# -- what mypy makes of users' calls --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Dict[int, List[str]]]:
    """One mypy --strict run over both user modules, in a temp dir, the package taken from this repo (its errors
    silenced, as an installed package's are): file -> line -> messages."""
    api = pytest.importorskip("mypy.api")
    here = tmp_path_factory.mktemp("mypy")
    for name in ("calls_ok.py", "calls_bad.py"):
        shutil.copy(FIXTURES / name, here / name)
    ini = here / "mypy.ini"
    ini.write_text(f"[mypy]\nmypy_path = {REPO}\nfollow_imports = silent\ncache_dir = {here / 'cache'}\n")
    out, err, _ = api.run(["--strict", "--config-file", str(ini), "--show-error-codes", "--no-pretty",
                           str(here / "calls_ok.py"), str(here / "calls_bad.py")])
    assert not err, err
    errors: Dict[str, Dict[int, List[str]]] = {"calls_ok.py": {}, "calls_bad.py": {}}
    for line in out.splitlines():
        m = re.match(r"(.+?):(\d+): error: (.*)$", line)
        if m:
            errors.setdefault(Path(m.group(1)).name, {}).setdefault(int(m.group(2)), []).append(m.group(3))
    return errors


def test_mypy_accepts_the_correct_calls(mypy_errors: Dict[str, Dict[int, List[str]]]) -> None:
    """The seed call with a plain str and a Sensitive in encrypted fields, typed answers (`assert_type`), unknown
    paths, item access, `chain()`, PHP's options dict, APIv2, an upload, async verbs, `with`, typed nodes as `Node`."""
    assert mypy_errors["calls_ok.py"] == {}
    assert set(mypy_errors) == {"calls_ok.py", "calls_bad.py"}, "errors outside the user modules"


def test_mypy_flags_each_mistake_where_marked_with_a_readable_message(
        mypy_errors: Dict[str, Dict[int, List[str]]]) -> None:
    """A misspelt key, a missing required key, a wrong type, a bad enum (in json, in a query, in a nested shape), a
    misspelt or mistyped template variable or option, a wrong upload body, a key the answer lacks."""
    expected = _expected()
    got = mypy_errors["calls_bad.py"]
    assert sorted(got) == sorted(expected), f"errors on unmarked lines, or marks without errors: {got}"
    for line, fragment in expected.items():
        assert any(fragment in message for message in got[line]), (line, fragment, got[line])


# -- what pyright makes of them -------------------------------------------------------------------------------------

def _pyright() -> List[str]:
    found = shutil.which("pyright") or shutil.which("pyright", path=str(Path(sys.executable).parent))
    if found:
        return [found]
    reason = "pyright is not installed (pip install pyright)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI installs it (.ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def pyright_errors(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Dict[int, List[str]]]:
    """One pyright run (strict, Python 3.9: the package's floor) over both user modules: file -> line -> messages."""
    command = _pyright()
    here = tmp_path_factory.mktemp("pyright")
    for name in ("calls_ok.py", "calls_bad.py"):
        shutil.copy(FIXTURES / name, here / name)
    config = {"include": ["calls_ok.py", "calls_bad.py"], "extraPaths": [str(REPO)], "typeCheckingMode": "strict",
              "pythonVersion": "3.9", "reportUnknownVariableType": False, "reportUnknownMemberType": False}
    (here / "pyrightconfig.json").write_text(json.dumps(config))
    run = subprocess.run([*command, "--outputjson", "-p", str(here)], cwd=here, capture_output=True, text=True,
                         timeout=300)
    report = json.loads(run.stdout)
    errors: Dict[str, Dict[int, List[str]]] = {"calls_ok.py": {}, "calls_bad.py": {}}
    for d in report["generalDiagnostics"]:
        if d["severity"] == "error":
            line = d["range"]["start"]["line"] + 1
            errors.setdefault(Path(d["file"]).name, {}).setdefault(line, []).append(d["message"])
    return errors


def test_pyright_accepts_the_correct_calls(pyright_errors: Dict[str, Dict[int, List[str]]]) -> None:
    assert pyright_errors["calls_ok.py"] == {}
    assert set(pyright_errors) == {"calls_ok.py", "calls_bad.py"}, "errors outside the user modules"


def test_pyright_flags_each_marked_mistake(pyright_errors: Dict[str, Dict[int, List[str]]]) -> None:
    got = pyright_errors["calls_bad.py"]
    assert sorted(got) == sorted(_expected()), f"errors on unmarked lines, or marks without errors: {got}"
    said = "\n".join(m for messages in got.values() for m in messages)
    for fragment in ('"out_tarde_no2" is an undefined item in type "PayTransactionsNativeJson"',
                     '"notify_url" is required in "PayTransactionsNativeJson"',
                     '"Literal[\'FOREVER\']" is not assignable to type "Literal[\'LONG_TERM_EMPLOYMENT\']"',
                     'No parameter named "out_trade_n"', '"tokn" is not a defined key in "PreOrderWithAuthAnswer"'):
        assert fragment in said, fragment
