"""Generate the endpoint atlas (`wechatpay_chain/atlas/`) from wechatpay-openapi (Swagger 2.0 YAML, MIT).

    python tools/gen_atlas.py [../shared/wechatpay-openapi]

Writes, byte for byte the same for the same input:
- `wechatpay_chain/atlas/operations.json`: one row per operation, the facts a call needs (method, template,
  encrypted request and response fields, required body keys, upload/download/mTLS/unsigned marks, the doc link);
- `wechatpay_chain/atlas/schemas.json`: each operation's path, query, body and answer schemas, reduced to facts
  (types, properties, required lists, enums, formats, bounds, examples); what the sandbox and the type stubs use;
- `wechatpay_chain/atlas/LICENSE`: the source's MIT notice, which travels with anything generated from it.

Descriptions (documentation prose) are dropped; only the official doc link is taken from them.
Two facts the YAML does not carry are added here, each listed below with its source: which downloads the
service answers unsigned (`UNSIGNED`), and the one such download the YAML lacks (`EXTRA`).
Needs PyYAML (a development dependency: the package reads the JSON it writes, never YAML).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "wechatpay_chain" / "atlas"
FORMAT = 1
#: schema keywords kept: facts about names, types and values
KEEP = ("type", "format", "enum", "example", "nullable", "maxLength", "minLength", "maximum", "minimum", "pattern",
        "maxItems", "minItems")
METHODS = ("get", "post", "put", "patch", "delete")
#: produces: a JSON answer; anything else is a binary download
JSON_TYPES = {"application/json", "application/xml", "text/xml"}
#: The downloads WeChat Pay answers without a `Wechatpay-Signature` (the clients skip their verification and,
#: where the preceding signed call gives one, check a digest instead): marked `"unsigned": true` and
#: `"download": true`. Sources: wechatpay-php (`ClientJsonTrait`: bill files, complaint images), the Node SDK by
#: the same author (`lib/decorator.js`, 2025-03: also the transfer receipts and the fapiao file), and the
#: official pages ("该接口不支持签名和验签"); the global complaint images answer as the domestic ones do.
UNSIGNED = frozenset({
    ("GET", "v3/billdownload/file"),
    ("GET", "v3/merchant-service/images/{media_id}"),
    ("GET", "v3/global/merchant-service/images/{media_id}"),
    ("GET", "v3/transferdownload/elecvoucherfile"),
    ("GET", "v3/transferdownload/signfile"),
    ("GET", "v3/new-tax-control-fapiao/download"),
})
#: Operations the YAML does not describe, as (template, method, Swagger operation): the fapiao file download
#: (`download_url` of `.../fapiao-applications/{fapiao_apply_id}/fapiao-files`; official page below).
EXTRA: Tuple[Tuple[str, str, Dict[str, Any]], ...] = (
    ("v3/new-tax-control-fapiao/download", "get", {
        "description": "[官方文档](https://pay.weixin.qq.com/docs/merchant/apis/fapiao/fapiao-applications/"
                       "download-invoice-file.html)",
        "produces": ["application/pdf"],
        "parameters": [{"name": "token", "in": "query", "type": "string"}],
        "responses": {"200": {}},
    }),
)
DOC_LINK = re.compile(r"\[[^\]]*文档[^\]]*\]\((https?://[^)\s]+)\)")
SERIAL_REF = "HTTP_WECHATPAY_SERIAL"


class Source:
    """The YAML files, each loaded once, and `$ref` resolution relative to the file that holds it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: Dict[Path, Any] = {}

    def load(self, path: Path) -> Any:
        path = path.resolve()
        if path not in self.files:
            self.files[path] = yaml.safe_load(path.read_text(encoding="utf-8"))
        return self.files[path]

    def deref(self, node: Any, where: Path) -> Tuple[Any, Path]:
        """Follow `$ref`s ('file.yaml#/A/B', 'file.yaml#A', '#/A'): (the node, the file it is in)."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            seen += 1
            if seen > 32:
                raise ValueError(f"$ref loop at {where}")
            ref = node["$ref"]
            file_part, _, pointer = ref.partition("#")
            target = (where.parent / file_part).resolve() if file_part else where
            doc = self.load(target)
            for key in filter(None, pointer.strip("/").split("/")):
                doc = doc[key]
            node, where = doc, target
        return node, where


def compact(source: Source, node: Any, where: Path, depth: int = 0) -> Any:
    """A schema reduced to its facts: `$ref` resolved, `allOf` merged, prose dropped."""
    if depth > 40:
        raise ValueError(f"schema too deep at {where}")
    node, where = source.deref(node, where)
    if not isinstance(node, dict):
        return node
    out: Dict[str, Any] = {}
    for part in node.get("allOf") or ():
        merge(out, compact(source, part, where, depth + 1))
    for key in KEEP:
        if key in node and key not in out:
            out[key] = node[key]
        elif key == "enum" and key in node:
            out["enum"] = out["enum"] + [v for v in node["enum"] if v not in out["enum"]]
    if node.get("x-is-sensitive"):
        out["sensitive"] = True
    if isinstance(node.get("properties"), dict):
        props = out.setdefault("properties", {})
        for name, prop in node["properties"].items():
            props[str(name)] = compact(source, prop, where, depth + 1)
    if isinstance(node.get("required"), list):
        out["required"] = sorted(set(out.get("required", [])) | {str(r) for r in node["required"]})
    if "items" in node:
        out["items"] = compact(source, node["items"], where, depth + 1)
    if "type" not in out and "properties" in out:
        out["type"] = "object"
    return out


def merge(into: Dict[str, Any], part: Dict[str, Any]) -> None:
    for key, value in part.items():
        if key == "properties":
            into.setdefault("properties", {}).update(value)
        elif key in ("required", "enum") and key in into:
            into[key] = into[key] + [v for v in value if v not in into[key]]
        else:
            into.setdefault(key, value)


def field_paths(schema: Any, want: str, prefix: str = "") -> List[str]:
    """Paths ('a.b', 'list[].x') of the string fields whose `format` is `want`, in the `encrypt=` syntax."""
    out: List[str] = []
    if not isinstance(schema, dict):
        return out
    if schema.get("type") == "array" or "items" in schema:
        return field_paths(schema.get("items"), want, prefix + "[]")
    if schema.get("type") == "string" and schema.get("format") == want and prefix:
        return [prefix]
    for name, prop in (schema.get("properties") or {}).items():
        out += field_paths(prop, want, f"{prefix}.{name}" if prefix else name)
    return out


def parameters(source: Source, op: Dict[str, Any], where: Path) -> Dict[str, Any]:
    """{'path': {name: schema}, 'query': object schema, 'header': [names], 'body': schema, 'form': object schema,
    'serial': takes Wechatpay-Serial}."""
    out: Dict[str, Any] = {"path": {}, "query": None, "header": [], "body": None, "form": None, "serial": False}
    for raw in op.get("parameters") or ():
        if isinstance(raw, dict) and str(raw.get("$ref", "")).endswith(SERIAL_REF):
            out["serial"] = True
        param, at = source.deref(raw, where)
        kind, name = param.get("in"), str(param.get("name", ""))
        if kind == "body":
            out["body"] = compact(source, param.get("schema") or {}, at)
        elif kind == "header":
            out["header"].append(name)
        elif kind in ("path", "query", "formData"):
            schema = compact(source, {k: v for k, v in param.items() if k not in ("in", "name", "required")}, at)
            if kind == "path":
                out["path"][name] = schema
                continue
            slot = "query" if kind == "query" else "form"
            group = out[slot] = out[slot] or {"type": "object", "properties": {}}
            group["properties"][name] = schema
            if param.get("required"):
                group["required"] = sorted(set(group.get("required", [])) | {name})
    return out


def answer(source: Source, op: Dict[str, Any], where: Path) -> Tuple[int, Optional[Any]]:
    """The success status (the first 2xx listed) and its schema, if any."""
    for status, response in (op.get("responses") or {}).items():
        code = int(status) if str(status).isdigit() else 0
        if 200 <= code < 300:
            response, at = source.deref(response or {}, where)
            schema = response.get("schema") if isinstance(response, dict) else None
            return code, compact(source, schema, at) if schema else None
    return 200, None


def operation(source: Source, template: str, method: str, op: Dict[str, Any], where: Path) -> Tuple[Dict, Dict]:
    params = parameters(source, op, where)
    status, response = answer(source, op, where)
    produces = [str(p).split(";")[0].strip() for p in op.get("produces") or ()]
    consumes = [str(c).split(";")[0].strip() for c in op.get("consumes") or ()]
    link = DOC_LINK.search(str(op.get("description", "")))
    body = params["body"]
    row = {
        "method": method.upper(),
        "template": template,
        "encrypt": field_paths(body, "base64") if params["serial"] else [],
        "encrypt_query": field_paths(params["query"], "base64") if params["serial"] else [],
        "decrypt": field_paths(response, "base64"),
        "required": sorted((body or {}).get("required", [])) if isinstance(body, dict) else [],
        "upload": "multipart/form-data" in consumes,
        "download": (method.upper(), template) in UNSIGNED or bool(produces) and not any(p in JSON_TYPES
                                                                                        for p in produces),
        "mtls": bool(op.get("x-api-cert-required")),
        "serial": params["serial"],
        "doc": link.group(1) if link else None,
        "status": status,
    }
    base_uri = op.get("x-base-uri") or op.get("x-baseuri")
    if base_uri:
        row["base_uri"] = str(base_uri)
    if op.get("deprecated"):
        row["deprecated"] = True
    if (method.upper(), template) in UNSIGNED:
        row["unsigned"] = True
    schemas = {"path": params["path"], "query": params["query"], "body": body, "form": params["form"],
               "headers": sorted(params["header"]), "response": response}
    return row, {k: v for k, v in schemas.items() if v}


def collect(root: Path) -> Tuple[List[Dict], Dict[str, Dict]]:
    source = Source(root)
    rows: List[Dict] = []
    schemas: Dict[str, Dict] = {}
    for top in ("v3", "hk", "global", "v2"):
        for path in sorted((root / top).rglob("*.yaml")):
            template = path.relative_to(root).as_posix()[: -len(".yaml")]
            doc = source.load(path)
            for method in METHODS:
                if isinstance(doc, dict) and isinstance(doc.get(method), dict):
                    row, schema = operation(source, template, method, doc[method], path.resolve())
                    rows.append(row)
                    schemas[f"{row['method']} {template}"] = schema
    for template, method, op in EXTRA:
        row, schema = operation(source, template, method, op, root / "SOURCE.md")
        rows.append(row)
        schemas[f"{row['method']} {template}"] = schema
    missing = UNSIGNED - {(row["method"], row["template"]) for row in rows}
    if missing:
        raise ValueError(f"UNSIGNED names operations the source lacks: {sorted(missing)}")
    rows.sort(key=lambda r: (r["template"], r["method"]))
    return rows, schemas


def version_of(root: Path) -> Dict[str, str]:
    text = (root / "SOURCE.md").read_text(encoding="utf-8")
    version = re.search(r"version ([0-9.]+)", text)
    commit = re.search(r"commit ([0-9a-f]{40})", text)
    return {"name": "wechatpay-openapi", "url": "https://github.com/TheNorthMemory/wechatpay-openapi",
            "version": version.group(1) if version else "", "commit": commit.group(1) if commit else "",
            "licence": "MIT (see LICENSE beside this file)"}


def dump(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def generate(root: Path) -> Dict[str, bytes]:
    """{file name: bytes} of the atlas made from `root`; nothing written."""
    rows, schemas = collect(root)
    source = version_of(root)
    licence = (root / "LICENSE").read_text(encoding="utf-8")
    notice = ("The files operations.json and schemas.json in this directory are generated by tools/gen_atlas.py\n"
              f"from wechatpay-openapi {source['version']} ({source['url']}, commit {source['commit']}),\n"
              "whose licence follows.\n\n")
    return {
        "operations.json": dump({"format": FORMAT, "source": source, "operations": rows}),
        "schemas.json": dump({"format": FORMAT, "source": source, "schemas": schemas}),
        "LICENSE": (notice + licence).encode("utf-8"),
    }


def main(argv: List[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else ROOT.parent / "shared" / "wechatpay-openapi")
    if not (root / "SOURCE.md").is_file():
        print(f"gen_atlas: {root} is not a wechatpay-openapi checkout (no SOURCE.md)", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in generate(root).items():
        (OUT / name).write_bytes(data)
    print(f"gen_atlas: wrote operations.json, schemas.json and LICENSE to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
