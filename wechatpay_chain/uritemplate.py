"""RFC 6570 URI Templates (levels 1-4), dependency-free, with a bounded parse cache."""

from __future__ import annotations

import functools
import re
from typing import Any, List, Mapping, Optional, Tuple, Union
from urllib.parse import quote

from wechatpay_chain.errors import InvalidArgumentError

__all__ = ["Template", "compile", "expand"]

# operator -> (first, sep, named, ifemp, allow reserved)
_OPS = {
    "": ("", ",", False, "", False),
    "+": ("", ",", False, "", True),
    "#": ("#", ",", False, "", True),
    ".": (".", ".", False, "", False),
    "/": ("/", "/", False, "", False),
    ";": (";", ";", True, "", False),
    "?": ("?", "&", True, "=", False),
    "&": ("&", "&", True, "=", False),
}
_RESERVED_OPS = "=,!@|"
_RESERVED = ":/?#[]@!$&'()*+,;="
_UNRESERVED_RE = re.compile(r"[A-Za-z0-9_.~-]*")
_PCT_SPLIT_RE = re.compile(r"(%[0-9A-Fa-f]{2})")
_VARCHAR = r"(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})"
_VARSPEC_RE = re.compile(rf"({_VARCHAR}(?:\.?{_VARCHAR})*)(?::([1-9][0-9]{{0,3}})|(\*))?")

_VarSpec = Tuple[str, int, bool]  # (name, prefix length or 0, explode)


def _quote(s: str, safe: str) -> str:
    try:
        return quote(s, safe=safe)
    except UnicodeEncodeError:
        pass  # raised below, outside the handler: see errors.py
    raise InvalidArgumentError("a URI-template value or literal is not encodable text (a lone surrogate)")


def _enc_u(s: str) -> str:
    """Percent-encode everything but unreserved characters."""
    return s if _UNRESERVED_RE.fullmatch(s) else _quote(s, "")


def _enc_r(s: str) -> str:
    """Percent-encode everything but unreserved/reserved characters and existing pct-triplets."""
    if "%" not in s:
        return _quote(s, _RESERVED)
    parts = _PCT_SPLIT_RE.split(s)
    return "".join(p if i % 2 else _quote(p, _RESERVED) for i, p in enumerate(parts))


def _err(template: str, pos: int, what: str) -> InvalidArgumentError:
    """Build the error for an invalid template."""
    shown = template if len(template) <= 80 else template[:77] + "..."
    return InvalidArgumentError(f"invalid URI template {shown!r}: {what} at position {pos}")


def _scalar(value: Any, name: str) -> str:
    """Render a scalar value (str/int/float/bool) as a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise InvalidArgumentError(
        f"URI template variable {name!r}: unsupported value type {type(value).__name__}"
    )


class _Expr:
    """One parsed `{...}` expression."""

    __slots__ = ("first", "sep", "named", "ifemp", "enc", "specs", "pos", "template")

    def __init__(self, op: str, specs: Tuple[_VarSpec, ...], pos: int, template: str) -> None:
        self.first, self.sep, self.named, self.ifemp, reserved = _OPS[op]
        self.enc = _enc_r if reserved else _enc_u
        self.specs = specs
        self.pos = pos
        self.template = template

    def expand(self, variables: Mapping[str, Any]) -> str:
        """Expand this expression (RFC 6570 appendix A)."""
        named, ifemp, enc, sep = self.named, self.ifemp, self.enc, self.sep
        out: List[str] = []
        for name, prefix, explode in self.specs:
            value = variables.get(name)
            if value is None:
                continue
            if isinstance(value, (str, int, float)):
                s = _scalar(value, name)
                s = enc(s[:prefix] if prefix else s)
                out.append(name + ("=" + s if s else ifemp) if named else s)
                continue
            if prefix:
                raise _err(self.template, self.pos, f"prefix modifier on composite value of {name!r}")
            if isinstance(value, Mapping):
                pairs = [
                    (enc(_scalar(k, name)), enc(_scalar(v, name))) for k, v in value.items() if v is not None
                ]
                if not pairs:
                    continue
                if explode:
                    if named:
                        out.append(sep.join(k + ("=" + v if v else ifemp) for k, v in pairs))
                    else:
                        out.append(sep.join(k + "=" + v for k, v in pairs))
                    continue
                items = [x for kv in pairs for x in kv]
            elif isinstance(value, (list, tuple)):
                items = [enc(_scalar(v, name)) for v in value if v is not None]
                if not items:
                    continue
                if explode:
                    if named:
                        items = [name + ("=" + v if v else ifemp) for v in items]
                    out.append(sep.join(items))
                    continue
            else:
                raise InvalidArgumentError(
                    f"URI template variable {name!r}: unsupported value type {type(value).__name__}"
                )
            joined = ",".join(items)
            out.append(name + ("=" + joined if joined else ifemp) if named else joined)
        return self.first + sep.join(out) if out else ""


class Template:
    """A parsed URI template; create it with `compile()`."""

    __slots__ = ("_template", "_parts", "_literal", "variable_names")

    def __init__(self, template: str, parts: List[Union[str, _Expr]], names: Tuple[str, ...]) -> None:
        self._template = template
        self._parts = tuple(parts)
        self._literal: Optional[str] = (
            None
            if any(isinstance(p, _Expr) for p in parts)
            else "".join(p for p in parts if isinstance(p, str))
        )
        self.variable_names: Tuple[str, ...] = names

    def expand(self, variables: Mapping[str, Any]) -> str:
        """Expand the template with `variables` (None, missing, empty list/dict = undefined)."""
        if self._literal is not None:
            return self._literal
        return "".join([p if isinstance(p, str) else p.expand(variables) for p in self._parts])

    def __str__(self) -> str:
        return self._template

    def __repr__(self) -> str:
        return f"Template({self._template!r})"


def _parse_expr(template: str, body: str, start: int) -> _Expr:
    """Parse the inside of a `{...}` expression that starts at `start`."""
    op = body[:1]
    if op and op in _RESERVED_OPS:
        raise _err(template, start + 1, f"reserved operator {op!r}")
    if not op or op not in _OPS:
        op = ""
    pos = start + 1 + len(op)
    varlist = body[len(op) :]
    if not varlist:
        raise _err(template, pos, "empty expression")
    specs: List[_VarSpec] = []
    for spec in varlist.split(","):
        m = _VARSPEC_RE.fullmatch(spec)
        if m is None:
            raise _err(template, pos, f"invalid variable specifier {spec!r}")
        specs.append((m.group(1), int(m.group(2) or 0), m.group(3) is not None))
        pos += len(spec) + 1
    return _Expr(op, tuple(specs), start, template)


@functools.lru_cache(maxsize=1024)
def _parse(template: str) -> Template:
    """Parse (and cache) a template."""
    parts: List[Union[str, _Expr]] = []
    names: List[str] = []
    i, n = 0, len(template)
    while i < n:
        j = template.find("{", i)
        literal = template[i:] if j < 0 else template[i:j]
        k = literal.find("}")
        if k >= 0:
            raise _err(template, i + k, "unmatched '}'")
        if literal:
            parts.append(_enc_r(literal))
        if j < 0:
            break
        end = template.find("}", j + 1)
        if end < 0:
            raise _err(template, j, "unclosed '{'")
        body = template[j + 1 : end]
        k = body.find("{")
        if k >= 0:
            raise _err(template, j + 1 + k, "nested '{'")
        expr = _parse_expr(template, body, j)
        for name, _, _ in expr.specs:
            if name not in names:
                names.append(name)
        parts.append(expr)
        i = end + 1
    return Template(template, parts, tuple(names))


def compile(template: str) -> Template:  # noqa: A001 - public API name
    """Parse `template` once (bounded LRU cache) and return the same `Template` for the same string."""
    if not isinstance(template, str):
        raise InvalidArgumentError(f"URI template must be a str, not {type(template).__name__}")
    return _parse(template)


def expand(template: str, variables: Mapping[str, Any]) -> str:
    """Expand an RFC 6570 (level 4) `template` with `variables`."""
    return compile(template).expand(variables)
