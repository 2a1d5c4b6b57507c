"""The chain: `client.v3.pay.transactions`, `client['v3/...']`, `client.chain('v3/...')` (PHP's BuilderChainable)."""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional

from wechatpay_chain.client._config import build_config
from wechatpay_chain.client._driver import Driver
from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.models import Response

__all__ = ["Builder", "Node", "normalize"]

_LEADING_CAP = re.compile(r"^[A-Z]")
_CAP = re.compile(r"[A-Z]")
_VARIABLE = re.compile(r"^_(.*)_$")
_PIECES = re.compile(r"(?:[^/{]|\{[^}]*\}?)+")
_EXPRESSION = re.compile(r"(\{[^}]*\}?)")


def normalize(segment: str) -> str:
    """PHP's rules: leading capital lowered, other capitals -> '-' + lower, `_name_` -> `{name}`."""
    segment = _LEADING_CAP.sub(lambda m: m.group(0).lower(), segment)
    segment = _CAP.sub(lambda m: "-" + m.group(0).lower(), segment)
    return _VARIABLE.sub(lambda m: "{" + m.group(1) + "}", segment)


def _normalize_item(segment: str) -> str:
    """Item keys: PHP's normalisation on the literal parts; `{expressions}` are left as written."""
    if "{" not in segment:
        return normalize(segment)
    return "".join(p if p.startswith("{") else normalize(p) for p in _EXPRESSION.split(segment) if p)


class Node:
    """One point of the chain. Only verbs, `chain()` and `get_driver()` are attributes; all else is a segment."""

    # `__dict__` caches children by the attribute name that reached them, so a walked hop is a plain
    # attribute hit; only names that are not class attributes ever get there, so verbs are never shadowed.
    __slots__ = ("_driver", "_template", "_children", "__dict__")

    def __init__(self, driver: Driver, template: str = "") -> None:
        self._driver = driver
        self._template = template
        self._children: Dict[str, Node] = {}  # children by segment

    def _descend(self, segment: str) -> Node:
        child = self._children.get(segment)
        if child is None:  # setdefault is atomic: threads walking a new path at once all get one node
            template = f"{self._template}/{segment}" if self._template else segment
            child = self._children.setdefault(segment, Node(self._driver, template))
        return child

    def __getattr__(self, name: str) -> Node:
        # Dunders and the slot names are never segments: an unset slot (mid-copy or unpickling) must raise
        # AttributeError rather than become a child. No real API segment starts with one underscore.
        if (name.startswith("__") and name.endswith("__")) or name in Node.__slots__:
            raise AttributeError(name)
        segment = normalize(name)
        if segment == name and name.endswith("_") and len(name) > 1:
            segment = name[:-1]  # `global_` -> `global`, so keywords can be written
        child = self.__dict__[name] = self._descend(segment)
        return child

    def __getitem__(self, key: Any) -> Node:
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        if not isinstance(key, str):
            raise InvalidArgumentError(f"chain keys are str, not {type(key).__name__}")
        node = self
        for piece in _PIECES.findall(key):
            node = node._descend(_normalize_item(piece))
        return node

    def chain(self, segment: Any) -> Node:
        """PHP's `chain($segment)`: the same as item access."""
        return self[segment]

    def get_driver(self) -> Driver:
        return self._driver

    def __iter__(self) -> Any:
        raise TypeError("a chain node is not iterable")

    def __str__(self) -> str:
        return self._template

    def __repr__(self) -> str:
        return f"<wechatpay_chain node {self._template!r}>"

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self._driver.close()

    async def __aenter__(self) -> Node:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._driver.close_async()

    def get(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> Response:
        return self._driver.request("GET", self._template, _merge(options, kwargs))

    def put(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> Response:
        return self._driver.request("PUT", self._template, _merge(options, kwargs))

    def post(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> Response:
        return self._driver.request("POST", self._template, _merge(options, kwargs))

    def patch(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> Response:
        return self._driver.request("PATCH", self._template, _merge(options, kwargs))

    def delete(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> Response:
        return self._driver.request("DELETE", self._template, _merge(options, kwargs))

    async def get_async(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> Response:
        return await self._driver.request_async("GET", self._template, _merge(options, kwargs))

    async def put_async(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> Response:
        return await self._driver.request_async("PUT", self._template, _merge(options, kwargs))

    async def post_async(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> Response:
        return await self._driver.request_async("POST", self._template, _merge(options, kwargs))

    async def patch_async(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> Response:
        return await self._driver.request_async("PATCH", self._template, _merge(options, kwargs))

    async def delete_async(self, options: Optional[Mapping[str, Any]] = None, /, **kwargs: Any) -> Response:
        return await self._driver.request_async("DELETE", self._template, _merge(options, kwargs))


def _merge(options: Optional[Mapping[str, Any]], kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    if options is None:
        return kwargs
    if not isinstance(options, (dict, Mapping)):
        raise InvalidArgumentError(f"options must be a dict (PHP's $options array), not {type(options).__name__}")
    return {**options, **kwargs} if kwargs else options


class Builder:
    """PHP's `Builder::factory`: validate the config once and return the root of the chain."""

    @staticmethod
    def factory(config: Mapping[str, Any]) -> Node:
        return Node(Driver(build_config(config)))
