"""Check a request against an atlas schema: required fields, types and enums, as the service checks them.

Pure: a value and its JSON-schema-like dict in, the first `Violation` out (required fields of an object
before its values, properties in schema order). JSON bodies are checked by JSON type; query and path
parameters and APIv2 fields arrive as text, so there an integer is a digit string and a boolean `true`
or `false` (`textual`). Types the schema does not know (`file`, a typo) accept anything.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence

__all__ = [
    "Violation", "check_object", "check_value", "check_params", "path_schema", "fits", "spelled", "MISSING", "EXPECTED",
]

#: what a required field may not be
MISSING = (None, "")
_INTEGER = re.compile(r"-?\d+").fullmatch
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?").fullmatch
#: the type names, as the messages say what a field needs
EXPECTED = {
    "string": "一个字符串",
    "integer": "一个合法的整数",
    "number": "一个合法的数字",
    "boolean": "一个布尔值（true 或 false）",
    "object": "一个 JSON 对象",
    "array": "一个 JSON 数组",
}


class Violation(Exception):
    """The first rule a request breaks: `kind` 'missing', 'type' or 'enum', at `pointer` ('/amount/total',
    '/list/0/name') of its location; `rule` is the type or the allowed values."""

    def __init__(self, kind: str, pointer: str, rule: Any = None) -> None:
        super().__init__(f"{kind} {pointer}")
        self.kind, self.pointer, self.rule = kind, pointer, rule

    @property
    def name(self) -> str:
        """The field's own name: the last segment of the pointer that is not an array index."""
        return next((p for p in reversed(self.pointer.split("/")) if p and not p.isdigit()), self.pointer)


def _json_fits(kind: Any, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    return True


def _text_fits(kind: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return _json_fits(kind, value)
    if kind == "integer":
        return bool(_INTEGER(value))
    if kind == "number":
        return bool(_NUMBER(value))
    if kind == "boolean":
        return value in ("true", "false")
    return True


def spelled(value: Any) -> str:
    """A value as text, as a query or XML carries it (booleans `true`/`false`)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _in_enum(value: Any, enum: Sequence[Any]) -> bool:
    """One of the values, compared as written: the atlas has enums of numbers for a string (['74', '75'] as
    [74, 75]), and a query or XML value is text anyway."""
    return value in enum or spelled(value) in {spelled(e) for e in enum}


def fits(schema: Mapping[str, Any], value: Any, textual: bool = False) -> bool:
    """Whether `value` has the schema's type and (when it lists them) one of its enum values; not recursive."""
    if not (_text_fits if textual else _json_fits)(schema.get("type"), value):
        return False
    enum = schema.get("enum")
    return not enum or _in_enum(value, enum)


def check_value(schema: Mapping[str, Any], value: Any, pointer: str, textual: bool = False) -> None:
    """Raise the first Violation of `value` (not None) against `schema`, recursing into objects and arrays."""
    kind = schema.get("type")
    if not (_text_fits if textual else _json_fits)(kind, value):
        raise Violation("type", pointer, kind)
    enum = schema.get("enum")
    if enum and not _in_enum(value, enum):
        raise Violation("enum", pointer, list(enum))
    if kind == "object" and isinstance(value, dict):
        check_object(schema, value, pointer, textual)
    elif kind == "array" and isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            if item is not None:
                check_value(schema["items"], item, f"{pointer}/{i}", textual)


def check_object(schema: Mapping[str, Any], doc: Mapping[str, Any], pointer: str = "", textual: bool = False) -> None:
    """Required fields first (absent, null or empty text is missing), then every property that has a value.

    A required name the schema does not define at this level is not enforced: the atlas lists some that live
    deeper (`receiver.appid` as `appid`) or in the path, which the service does not ask for in the body."""
    props = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if name in props and doc.get(name) in MISSING:
            raise Violation("missing", f"{pointer}/{name}")
    for name, sub in props.items():
        value = doc.get(name)
        if value is not None and isinstance(sub, dict):
            check_value(sub, value, f"{pointer}/{name}", textual)


def check_params(schema: Optional[Mapping[str, Any]], values: Mapping[str, Any]) -> None:
    """Query parameters (an object schema) against their text values."""
    if schema:
        check_object(schema, values, "", textual=True)


def path_schema(variables: Mapping[str, Any], names: Iterable[str]) -> Dict[str, Any]:
    """The atlas' `path` part ({name: schema}) as an object schema of the template's variables `names` (the atlas
    also describes some a template does not have); every one is required."""
    properties = {name: variables.get(name) or {} for name in names}
    return {"type": "object", "properties": properties, "required": list(properties)}
