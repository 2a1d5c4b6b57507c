"""APIv2 XML <-> dict, the Python twin of PHP's ``WeChatPay\\Transformer`` (wechatpay-php v1.4.x).

``to_xml`` reproduces the bytes of PHP's ``XMLWriter`` output; ``to_array`` reproduces the shape of
PHP's ``(array) SimpleXMLElement`` walk, on a parser that refuses any DTD (so no XXE, no entity bombs).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _defused_fromstring

from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.protocol._formatter import php_string

__all__ = ["Transformer", "MAX_XML_SIZE", "MAX_XML_DEPTH", "INVALID_XML_CHARS", "is_element_name_valid"]

#: Documents larger than this (characters, or bytes when given bytes) are refused before parsing.
MAX_XML_SIZE = 10 * 1024 * 1024
#: Element nesting deeper than this is refused (APIv2 documents are two or three levels deep).
MAX_XML_DEPTH = 256

INVALID_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]+")
_NEEDS_CDATA = re.compile('[<>&"]').search
_ASCII_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._:\-]*\Z").match
_NAME_REST = frozenset("0123456789._:-")
_BLANKS = " \t\n\r"


@lru_cache(maxsize=2048)
def is_element_name_valid(name: str) -> bool:
    """PHP ``isElementNameValid``: ``#^[\\pL_][\\pL0-9._:-]*$#u`` and no space."""
    if _ASCII_NAME(name):
        return True
    if not name or not (name[0] == "_" or name[0].isalpha()):
        return False
    return all(c.isalpha() or c in _NAME_REST for c in name[1:])


def _text(value: str) -> str:
    """PHP ``content``: CDATA when the value holds any of ``<>&"``, else XMLWriter's text escaping.

    A CR inside CDATA is written as a character reference between two sections: XML parsers turn a raw CR
    (CRLF) into LF, so the service would read, and verify the sign over, other text. (PHP's XMLWriter writes
    it raw, with that effect.)"""
    if _NEEDS_CDATA(value):
        # libxml2 would emit a literal ``]]>`` and end the section early; split it safely instead.
        inner = value.replace("]]>", "]]]]><![CDATA[>")
        if "\r" in inner:
            inner = inner.replace("\r", "]]>&#13;<![CDATA[")
        return "<![CDATA[" + inner + "]]>"
    if "\r" in value:
        return value.replace("\r", "&#13;")
    return value


def _pairs(data: Any) -> Iterable[Tuple[Any, Any]]:
    if isinstance(data, Mapping):
        return data.items()
    return enumerate(data)


def _is_container(value: Any) -> bool:
    return isinstance(value, (dict, list, tuple, Mapping))


def _walk(out: List[str], data: Any, item: str) -> None:
    append = out.append
    for key, value in _pairs(data):
        tag = key if type(key) is str and is_element_name_valid(key) else item
        if type(value) is str:
            append(f"<{tag}>{_text(value)}</{tag}>")
        elif _is_container(value):
            if value:
                append(f"<{tag}>")
                _walk(out, value, item)
                append(f"</{tag}>")
            else:
                append(f"<{tag}/>")
        else:
            append(f"<{tag}>{_text(php_string(value))}</{tag}>")


def _walk_indent(out: List[str], data: Any, item: str, pad: str) -> None:
    append = out.append
    for key, value in _pairs(data):
        tag = key if type(key) is str and is_element_name_valid(key) else item
        if _is_container(value):
            if value:
                append(f"{pad}<{tag}>\n")
                _walk_indent(out, value, item, pad + " ")
                append(f"{pad}</{tag}>\n")
            else:
                append(f"{pad}<{tag}/>\n")
        else:
            append(f"{pad}<{tag}>{_text(php_string(value))}</{tag}>\n")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2] if tag[0] == "{" else tag


def _cast(elem: Element, depth: int) -> Dict[Any, Any]:
    """PHP ``cast``: ``(array)`` of a SimpleXMLElement, each value then passed through ``value``."""
    if depth > MAX_XML_DEPTH:
        raise InvalidArgumentError("Parsing the xml failed: elements are nested too deeply")
    data: Dict[Any, Any] = {}
    if elem.attrib:
        attributes = {k: v for k, v in elem.attrib.items() if k[0] != "{"}
        if attributes:
            data["@attributes"] = attributes
    if len(elem):
        for child in elem:
            name = _local(child.tag)
            value = _value(child, depth + 1)
            if name in data:
                previous = data[name]
                if type(previous) is list:
                    previous.append(value)
                else:
                    data[name] = [previous, value]
            else:
                data[name] = value
    else:
        text = elem.text
        if text and text.strip(_BLANKS):
            data[0] = text  # a lone text node becomes PHP's integer key 0
    return data


def _value(elem: Element, depth: int) -> Any:
    """PHP ``value`` over SimpleXML's property: leading non-blank text -> the element's text nodes joined,
    element children -> a nested dict, otherwise the (possibly empty or blank) text."""
    text = elem.text
    if text and text.strip(_BLANKS):
        if len(elem):
            return text + "".join([child.tail or "" for child in elem])
        return text
    if len(elem):
        return _cast(elem, depth)
    return text or ""


class Transformer:
    """Mirrors PHP ``WeChatPay\\Transformer``; every method is static."""

    @staticmethod
    def sanitize(xml: str) -> str:
        """PHP ``Transformer::sanitize``: drop every character outside XML 1.0's ``Char`` production."""
        return INVALID_XML_CHARS.sub("", xml)

    @staticmethod
    def to_array(xml: Union[str, bytes] = "<xml/>") -> Dict[str, Any]:
        """PHP ``Transformer::toArray``: parse APIv2 XML into nested dicts/lists of ``str``.

        Repeated sibling elements become a list; a leaf element is its text (attributes dropped, as
        PHP does); a parent's attributes land under ``'@attributes'``. Unlike PHP (which returns
        ``[]``), malformed XML and any DTD/entity declaration raise :class:`InvalidArgumentError`.
        """
        if isinstance(xml, (bytes, bytearray, memoryview)):
            if len(xml) > MAX_XML_SIZE:
                raise InvalidArgumentError(f"Parsing the xml failed: larger than {MAX_XML_SIZE} bytes")
            text: Optional[str] = None
            try:
                text = bytes(xml).decode("utf-8")
            except UnicodeDecodeError:
                pass  # raised below, outside the handler: see errors.py
            if text is None:
                raise InvalidArgumentError("Parsing the xml failed: not valid UTF-8")
            xml = text
        elif not isinstance(xml, str):
            kind = type(xml).__name__
            raise InvalidArgumentError(f"Parsing the xml failed: expected str or bytes, got {kind}")
        elif len(xml) > MAX_XML_SIZE:
            raise InvalidArgumentError(f"Parsing the xml failed: larger than {MAX_XML_SIZE} characters")
        problem = ""
        try:
            root = _defused_fromstring(
                INVALID_XML_CHARS.sub("", xml), forbid_dtd=True, forbid_entities=True, forbid_external=True
            )
        except DefusedXmlException as exc:
            problem = f"{type(exc).__name__}, DTDs and entity declarations are refused"
        except ParseError as exc:
            problem = str(exc)[:120]
        if problem:  # outside the handlers: see errors.py
            raise InvalidArgumentError(f"Parsing the xml failed: {problem}")
        return _cast(root, 0)

    @staticmethod
    def to_xml(
        data: Mapping[Any, Any],
        headless: bool = True,
        indent: bool = False,
        root: str = "xml",
        item: str = "item",
    ) -> str:
        """PHP ``Transformer::toXml``: the same bytes as PHP's ``XMLWriter`` for the same input.

        Values holding ``<``, ``>``, ``&`` or ``"`` are written as CDATA; invalid element names
        (and list indexes) become ``item``; scalars are stringified as PHP casts them
        (``True`` -> ``1``, ``False``/``None`` -> empty); empty containers are ``<tag/>``.
        """
        if not is_element_name_valid(root) or not is_element_name_valid(item):
            raise InvalidArgumentError("root and item must be valid XML element names")
        out: List[str] = [] if headless else ['<?xml version="1.0" encoding="UTF-8"?>\n']
        if not data:
            out.append(f"<{root}/>\n" if indent or not headless else f"<{root}/>")
        elif indent:
            out.append(f"<{root}>\n")
            _walk_indent(out, data, item, " ")
            out.append(f"</{root}>\n")
        else:
            out.append(f"<{root}>")
            _walk(out, data, item)
            out.append(f"</{root}>\n" if not headless else f"</{root}>")
        return "".join(out)
