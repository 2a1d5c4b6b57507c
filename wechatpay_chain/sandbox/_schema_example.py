"""Build an answer from an atlas response schema: its examples, the request's identifiers, placeholders.

Required fields are always there, optional ones when the schema gives an example (or they lie on a path that
must be present, such as a field to encrypt); a scalar is the request's value of the same name when it has a
fitting one (the same path in the body first, then the name among path, query and top-level body values),
else the example when it fits the type (enums: the example or the first value), else a placeholder of the
right type; an array holds one item. Pure: the clock is handed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, FrozenSet, Iterable, Mapping, Optional, Set, Tuple

from wechatpay_chain.sandbox._endpoints import rfc3339
from wechatpay_chain.sandbox._schema_check import fits, spelled

__all__ = ["Sample", "build_answer", "scalar", "coerce", "forced_paths", "leaf_names", "flat_scalars"]

_TEXT = re.compile(r"-?\d+(?:\.\d+)?").fullmatch
#: placeholder text by `format`, for a string with neither example nor request value
_BY_FORMAT = {
    "base64": "c2FuZGJveA==",
    "url": "https://example.com/sandbox",
    "MediaUrl": "https://example.com/sandbox.png",
    "MediaId": "sandbox-media-id",
    "jsonObjectLike": "{}",
    "jsonArrayLike": "[]",
    "int32": "1", "int64": "1", "uint32": "1", "uint64": "1", "uint": "1", "integer": "1", "numeric": "1",
}


@dataclass(frozen=True)
class Sample:
    """What one answer is built from: the request (`body`, and `given`, its flat identifiers by name), the
    time, the paths that must be present (`forced`, as name tuples) and names never echoed (`quiet`: fields
    the request had to encrypt)."""

    now: datetime
    body: Any = None
    given: Mapping[str, Any] = field(default_factory=dict)
    forced: FrozenSet[Tuple[str, ...]] = frozenset()
    quiet: FrozenSet[str] = frozenset()


def forced_paths(paths: Iterable[str]) -> FrozenSet[Tuple[str, ...]]:
    """'contact.name', 'list[].field' -> every prefix as a tuple of names: ('contact',), ('contact', 'name')."""
    out: Set[Tuple[str, ...]] = set()
    for path in paths:
        names = tuple(part.rstrip("[]") for part in path.split("."))
        out.update(names[:i] for i in range(1, len(names) + 1))
    return frozenset(out)


def leaf_names(paths: Tuple[str, ...]) -> FrozenSet[str]:
    """'contact.name', 'list[].user_name' -> {'name', 'user_name'}: fields an answer never echoes."""
    return frozenset(path.rsplit(".", 1)[-1].rstrip("[]") for path in paths)


def flat_scalars(*sources: Any) -> Dict[str, Any]:
    """The scalar values of the given mappings by name, later sources winning."""
    out: Dict[str, Any] = {}
    for source in sources:
        if isinstance(source, Mapping):
            out.update((k, v) for k, v in source.items() if v is not None and not isinstance(v, (dict, list)))
    return out


def coerce(schema: Mapping[str, Any], value: Any) -> Any:
    """`value` as the schema's type when it is the same thing in another spelling ('88' for an integer)."""
    kind = schema.get("type")
    if isinstance(value, str):
        if kind == "integer" and _TEXT(value) and "." not in value:
            return int(value)
        if kind == "number" and _TEXT(value):
            return float(value) if "." in value else int(value)
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
    elif kind == "string" and isinstance(value, (int, float)):  # the atlas' enums of 'true' and '74' as YAML read them
        return spelled(value)
    return value


def _placeholder(schema: Mapping[str, Any], name: str, now: datetime) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        low = schema.get("minimum")
        return int(low) if isinstance(low, (int, float)) and low > 1 else 1
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "rfc3339":
        return rfc3339(now)
    if fmt == "date":
        return f"{now:%Y-%m-%d}"
    text = _BY_FORMAT.get(str(fmt), name)
    limit = schema.get("maxLength")
    return text[:limit] if isinstance(limit, int) and limit > 0 else text


def scalar(schema: Mapping[str, Any], name: str, now: datetime) -> Any:
    """The example when it fits the type and enum, else the first enum value that does, else a placeholder."""
    enum = schema.get("enum") or ()
    candidates = ([] if schema.get("example") is None else [schema["example"]]) + list(enum)
    for candidate in candidates:
        value = coerce(schema, candidate)
        if fits(schema, value):
            return value
    return enum[0] if enum else _placeholder(schema, name, now)


def _echo(schema: Mapping[str, Any], sample: Sample, name: str, mine: Any) -> Optional[Any]:
    """The request's value for this field, when it has one of the right type."""
    if name in sample.quiet:
        return None
    for candidate in (mine, sample.given.get(name)):
        if candidate is None or isinstance(candidate, (dict, list)):
            continue
        value = coerce(schema, candidate)
        if fits(schema, value):
            return value
    return None


def _value(schema: Mapping[str, Any], sample: Sample, name: str, here: Tuple[str, ...], mine: Any) -> Tuple[Any, bool]:
    """(the value, whether an optional field holding it is worth including)."""
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        inner = _object(schema, sample, here, mine)
        return inner, bool(inner)
    if kind == "array":
        items = schema.get("items")
        first = mine[0] if isinstance(mine, list) and mine else None
        item, wanted = _value(items if isinstance(items, dict) else {}, sample, name, here, first)
        return [item], wanted
    echoed = _echo(schema, sample, name, mine)
    if echoed is not None:
        return echoed, True
    return scalar(schema, name, sample.now), "example" in schema


def _object(schema: Mapping[str, Any], sample: Sample, path: Tuple[str, ...], mine: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    required = set(schema.get("required") or ())
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        here = path + (name,)
        value, wanted = _value(sub, sample, name, here, mine.get(name) if isinstance(mine, dict) else None)
        if wanted or name in required or here in sample.forced:
            out[name] = value
    return out


def build_answer(schema: Mapping[str, Any], sample: Sample) -> Dict[str, Any]:
    """The answer document the response `schema` describes, for the request in `sample`."""
    return _object(schema, sample, (), sample.body)
