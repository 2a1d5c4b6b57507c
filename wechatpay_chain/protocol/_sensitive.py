"""Sensitive fields: `Sensitive(...)` markers and `encrypt=[paths]`, RSA-OAEP encrypted before signing."""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, List, Tuple

from wechatpay_chain.errors import InvalidArgumentError

__all__ = ["Sensitive", "encrypt_fields", "Encryptor"]


class Sensitive:
    """A plaintext that must be encrypted with the platform key before it leaves the process.

    Its repr and str are redacted; ``reveal()`` returns the plaintext. It is not JSON-serialisable,
    so a code path that forgot to encrypt fails closed instead of sending plaintext.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Sensitive):
            value = value.reveal()
        if not isinstance(value, str):
            raise InvalidArgumentError(f"Sensitive takes a str, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Sensitive('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Sensitive values cannot be pickled")


_PATH_PART = re.compile(r"^([^.\[\]]+)((?:\[\])*)$")


def _parse_path(path: str) -> List[Tuple[str, int]]:
    """'a.b[].c' -> [('a', 0), ('b', 1), ('c', 0)]: each key with how many list levels follow it."""
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError(f"encrypt path must be a non-empty str, got {path!r}")
    parts = []
    for piece in path.split("."):
        m = _PATH_PART.match(piece)
        if not m:
            raise InvalidArgumentError(f"invalid encrypt path {path!r}: expected 'a.b', 'list[].field'")
        parts.append((m.group(1), len(m.group(2)) // 2))
    return parts


Encryptor = Callable[[str], str]


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _walk(obj: Any, enc: Encryptor, hits: List[int]) -> Any:
    """Copy-on-write: returns obj itself when nothing inside it is Sensitive."""
    if obj.__class__ in _SCALARS:  # the common case, without an isinstance chain
        return obj
    if isinstance(obj, Sensitive):
        hits.append(1)
        return enc(obj.reveal())
    if isinstance(obj, dict):
        out = None
        for k, v in obj.items():
            nv = _walk(v, enc, hits)
            if nv is not v:
                out = dict(obj) if out is None else out
                out[k] = nv
        return obj if out is None else out
    if isinstance(obj, (list, tuple)):
        items = [_walk(v, enc, hits) for v in obj]
        if any(a is not b for a, b in zip(items, obj)):
            return items
        return obj
    return obj


def _at(obj: Any, parts: List[Tuple[str, int]], enc: Encryptor, hits: List[int], path: str, strict: bool) -> Any:
    """Encrypt the str at `parts` below `obj`; appends to `hits` once per field reached: 1 when it was
    encrypted, 0 when the path ends early at a null or an empty list (nothing there to encrypt).
    Not `strict` (an atlas path, not the caller's): a field that is not a str is left as it is."""
    if obj is None:
        hits.append(0)
        return None
    if not parts:
        if isinstance(obj, Sensitive):
            obj = obj.reveal()
        if not isinstance(obj, str):
            if not strict:
                return obj
            raise InvalidArgumentError(f"encrypt path {path!r} names a {type(obj).__name__}, expected str")
        hits.append(1)
        return enc(obj)
    if not isinstance(obj, dict):
        return obj
    (key, depth), rest = parts[0], parts[1:]
    if key not in obj:
        return obj

    def into(value: Any, levels: int) -> Any:
        if levels == 0:
            return _at(value, rest, enc, hits, path, strict)
        if value is None or (isinstance(value, (list, tuple)) and not value):
            hits.append(0)
            return value
        if not isinstance(value, (list, tuple)):
            raise InvalidArgumentError(f"encrypt path {path!r}: {key!r} is not a list")
        return [into(v, levels - 1) for v in value]

    out = dict(obj)
    out[key] = into(obj[key], depth)
    return out


def encrypt_fields(
    doc: Any, paths: Iterable[str], enc: Encryptor, *, strict: bool = True, optional: Iterable[str] = ()
) -> Tuple[Any, bool]:
    """Encrypt every Sensitive value in ``doc`` and every str at ``paths`` and ``optional``, each field exactly
    once, in one pass; never mutates ``doc``.

    Returns the document to serialise and whether anything was encrypted. Values already
    encrypted by the caller (no marker, no path) pass through untouched, as in a PHP port.
    ``strict``: a path of ``paths`` that matches no field is an InvalidArgumentError (a caller's `encrypt=`,
    where it is a typo); otherwise it is skipped (optional fields, as in a response being decrypted).
    ``optional``: paths that may match nothing and skip what is not a str (the atlas' encrypted fields).
    """
    hits: List[int] = []
    named = {path: (strict, True) for path in paths}  # path -> (must match, must be a str)
    for path in optional:  # a path named twice (or also optional) is still encrypted once
        named.setdefault(path, (False, False))
    parsed = {path: _parse_path(path) for path in named}  # every path checked before anything is encrypted
    out = doc
    for path, (must, a_str) in named.items():  # paths first: a marked value they name is encrypted there, only there
        parts = parsed[path]
        before = len(hits)
        out = _at(out, parts, enc, hits, path, a_str)
        if must and len(hits) == before:
            raise InvalidArgumentError(_no_match(doc, parts, path))
    return _walk(out, enc, hits), any(hits)


def _no_match(doc: Any, parts: List[Tuple[str, int]], path: str) -> str:
    """Why `path` reached no field: the first key missing, and the keys that are there (names only, no values)."""
    level, where = doc, "the `json` body"
    for key, depth in parts:
        while depth and isinstance(level, (list, tuple)) and level:
            level, depth = level[0], depth - 1
        if not isinstance(level, dict) or key not in level:
            break
        level, where = level[key], repr(key)
    else:  # every key exists along the first route, but something else is in the way
        return f"encrypt path {path!r} matches no str field in the `json` body"
    names = ", ".join(sorted(map(str, level)))[:200] if isinstance(level, dict) else ""
    found = f"its fields are: {names}" if names else f"it is a {type(level).__name__}"
    return f"encrypt path {path!r} matches no field in the `json` body: {key!r} is not in {where} ({found})"
