"""The package's shape: imports run one way (no cycle, at module or function level), the pure layers import no
I/O layer, and the import paths DESIGN.md names keep working."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Dict, List, Set

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "wechatpay_chain"


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.AST, parents: List[ast.AST]) -> bool:
    return any(isinstance(p, ast.If) and "TYPE_CHECKING" in ast.unparse(p.test) for p in parents)


def _graph() -> Dict[str, Set[str]]:
    """module -> the package modules it imports (anywhere in it, TYPE_CHECKING blocks aside)."""
    paths = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: Dict[str, Set[str]] = {m: set() for m in paths}
    for name, path in paths.items():
        is_pkg = path.name == "__init__.py"
        stack: List[tuple[ast.AST, List[ast.AST]]] = [(ast.parse(path.read_text(encoding="utf-8")), [])]
        while stack:
            node, parents = stack.pop()
            stack.extend((child, [*parents, node]) for child in ast.iter_child_nodes(node))
            if _type_checking(node, parents):
                continue
            targets: List[str] = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                while target and target not in paths:
                    target = target.rpartition(".")[0]
                if target and target != name and not (is_pkg and target.startswith(name + ".")):
                    graph[name].add(target)
    return graph


def test_no_import_cycle() -> None:
    graph = _graph()
    state: Dict[str, int] = {}
    cycle: List[str] = []

    def visit(node: str, path: List[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend([*path[path.index(nxt):], nxt] if nxt in path else [node, nxt])
                return True
            if nxt not in state and visit(nxt, [*path, nxt]):
                return True
        state[node] = 2
        return False

    for start in sorted(graph):
        if start not in state and visit(start, [start]):
            break
    assert not cycle, " -> ".join(cycle)


PURE = ("wechatpay_chain.protocol", "wechatpay_chain.crypto", "wechatpay_chain.keys", "wechatpay_chain.models",
        "wechatpay_chain.errors", "wechatpay_chain.uritemplate", "wechatpay_chain.client._config")
IO = ("wechatpay_chain.transports", "wechatpay_chain.cli", "wechatpay_chain.sandbox", "wechatpay_chain.client._driver")


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_pure_layers_import_no_transport_cli_or_sandbox() -> None:
    graph = _graph()
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if _within(m, PURE) for t in ts if _within(t, IO))
    assert not bad, bad


DESIGN_PATHS = {  # ../shared/DESIGN.md "Public import paths"
    "wechatpay_chain": ["Builder", "Node", "Rsa", "AesGcm", "AesEcb", "Hash", "Formatter", "Transformer", "MediaUtil",
                        "PemUtil", "Keyring", "Sensitive", "Response", "Request", "Headers"],
    "wechatpay_chain.errors": ["WeChatPayError", "ApiError", "ClientError", "ServerError", "VerificationError",
                               "TransportError", "InvalidArgumentError"],
    "wechatpay_chain.uritemplate": ["expand"],
    "wechatpay_chain.notify": ["parse_notification", "parse_notification_async", "parse_notification_v2",
                               "ReplayGuard"],
    "wechatpay_chain.paysign": ["sign_jsapi", "sign_app", "sign_jsapi_v2", "sign_app_v2", "decrypt_field",
                                "decrypt_fields"],
    "wechatpay_chain.bills": ["download_bill", "download_bill_async", "verify_statement"],
    "wechatpay_chain.keyring": ["AutoKeyring", "DirectoryStore", "MemoryStore"],
    "wechatpay_chain.certificates": ["PublicKeyModeError"],
    "wechatpay_chain.mediautil": ["MediaUtil"],
    "wechatpay_chain.symmetric": ["AesInterface"],
    "wechatpay_chain.sandbox": ["Sandbox"],
    "wechatpay_chain.redis": ["RedisReplayGuard", "AsyncRedisReplayGuard", "RedisCertificateStore",
                              "RedisUnavailableError"],
}


@pytest.mark.parametrize("module", sorted(DESIGN_PATHS))
def test_every_design_import_path_works(module: str) -> None:
    imported = importlib.import_module(module)
    for name in DESIGN_PATHS[module]:
        assert getattr(imported, name, None) is not None, f"{module}.{name}"
        if module != "wechatpay_chain":
            assert name in imported.__all__, f"{module}.__all__ lacks {name}"


def _public_names(path: Path) -> Set[str]:
    """The names a module defines at its top level (functions, classes, assignments) without a leading `_`."""
    names: Set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


PUBLIC_MODULES = sorted(_module(p) for p in PACKAGE.rglob("*.py") if not p.name.startswith("_") or
                        p.name == "__init__.py")


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_all_is_exactly_the_public_names(module: str) -> None:
    """Each public module's `__all__` names what it defines without a `_` (plus what it re-exports), and all of
    it exists: nothing public is left unlisted, nothing listed is missing."""
    imported = importlib.import_module(module)
    path = Path(imported.__file__ or "")
    defined = _public_names(path)
    listed = set(getattr(imported, "__all__", ()))
    assert defined <= listed, f"{module}: public but not in __all__: {sorted(defined - listed)}"
    assert all(hasattr(imported, name) for name in listed), f"{module}: __all__ names what it lacks"
