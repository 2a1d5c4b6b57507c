"""The catch-all: every operation of the endpoint atlas that no stateful endpoint handles.

`AtlasApi.match` is asked only after the router found nothing (or not this method), so orders, refunds,
payroll, certificates, bills and media keep their behaviour. The atlas loads on the first such path, not
when a Sandbox starts. An APIv3 operation gets everything a stateful endpoint gets (the Authorization check,
nonce replay, the decryption of its `encrypt` fields with the platform key `Wechatpay-Serial` names), then:
path, query (its `encrypt_query` parameters decrypted first) and body are checked against the operation's
schema (400 PARAM_ERROR naming the first field that breaks a rule), and the answer is built from the response
schema (`_schema_example`) with the operation's success status, its `decrypt` fields encrypted with the
merchant's public key. Uploads are checked as multipart with a `meta` JSON; downloads answer bytes, unsigned
where the atlas marks the service's answer so (`Operation.unsigned`); a transfer receipt's apply/query answer
points its `download_url` here and names the SHA-256 of the PDF served.
APIv2 operations are `_atlas_v2`'s.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Tuple
from urllib.parse import unquote

from wechatpay_chain import atlas
from wechatpay_chain.atlas import Operation
from wechatpay_chain.crypto._rsa import Rsa
from wechatpay_chain.sandbox._atlas_v2 import AtlasV2
from wechatpay_chain.sandbox._endpoints import CST
from wechatpay_chain.sandbox._protocol import (
    Call,
    Endpoint,
    Rejection,
    Reply,
    decrypt_fields,
    json_reply,
    map_at,
    multipart_parts,
)
from wechatpay_chain.sandbox._schema_check import (
    EXPECTED,
    Violation,
    check_object,
    check_params,
    path_schema,
    spelled,
)
from wechatpay_chain.sandbox._schema_example import Sample, build_answer, flat_scalars, forced_paths, leaf_names

if TYPE_CHECKING:  # pragma: no cover
    from wechatpay_chain.sandbox._server import Sandbox

__all__ = ["AtlasApi", "rejection", "PNG", "RECEIPT_PDF", "RECEIPT_SHA256"]

#: a one-pixel PNG, for image downloads of media the sandbox does not hold
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)
#: the file every receipt and fapiao download answers, and the digest its apply/query answers name
RECEIPT_PDF = b"%PDF-1.4\n% wechatpay-chain sandbox\n%%EOF\n"
RECEIPT_SHA256 = hashlib.sha256(RECEIPT_PDF).hexdigest().upper()
_ENUM_SHOWN = 8


def rejection(violation: Violation, location: str) -> Rejection:
    """The service's 400 PARAM_ERROR for a broken rule: the message names the input source and the field."""
    source, name = f"/{location}{violation.pointer}", violation.name
    if violation.kind == "missing":
        message, issue = f"输入源“{source}”映射到字段“{name}”必填性规则校验失败，此字段为必填项", "required"
    elif violation.kind == "type":
        kind = " JSON " if location == "body" else ""
        expected = EXPECTED.get(str(violation.rule), f"{violation.rule} 类型的值")
        message, issue = f"无法将{kind}输入源“{source}”映射到目标字段“{name}”中，此字段需要{expected}", "type"
    else:
        allowed = [spelled(v) for v in violation.rule]
        shown = " | ".join(allowed[:_ENUM_SHOWN]) + (" | ..." if len(allowed) > _ENUM_SHOWN else "")
        message, issue = f"输入源“{source}”映射到字段“{name}”枚举值规则校验失败，取值须为 {shown} 之一", "enum"
    field = violation.pointer if location == "body" else violation.pointer.lstrip("/")
    return Rejection(400, "PARAM_ERROR", message, {"field": field, "location": location, "issue": issue})


class AtlasApi:
    """Endpoints made on demand (one per operation, kept) for the paths the router does not know."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.v2 = AtlasV2(sandbox)
        self._endpoints: Dict[Tuple[str, str], Endpoint] = {}

    def match(self, method: str, raw_path: str) -> Optional[Tuple[Endpoint, Dict[str, str]]]:
        """The endpoint for an atlas operation at `raw_path`; None when the atlas knows no such path; a 405 when
        it knows the path but not the method."""
        ops = atlas.at_path(raw_path) or atlas.at_path("v2" + raw_path)
        if not ops:
            return None
        op = ops.get(method)
        if op is None:
            raise Rejection(405, "METHOD_NOT_ALLOWED", f"不支持的请求方法 {method}，请使用 {', '.join(sorted(ops))}")
        endpoint = self._endpoint(op)
        found = endpoint.pattern.match(raw_path)
        if found is None:  # pragma: no cover - the atlas and the pattern read the same template
            return None
        return endpoint, _unquoted(found.groupdict())

    def _endpoint(self, op: Operation) -> Endpoint:
        endpoint = self._endpoints.get((op.method, op.template))
        if endpoint is None:
            if op.apiv2:
                endpoint = Endpoint(op.method, "/" + op.template[3:], functools.partial(self.v2.serve, op), kind="v2")
            else:
                endpoint = Endpoint(op.method, "/" + op.template, functools.partial(self.serve, op), op.encrypt)
            self._endpoints[(op.method, op.template)] = endpoint
        return endpoint

    # -- APIv3 --------------------------------------------------------------------------------------
    def serve(self, op: Operation, call: Call) -> Reply:
        """Check the request against the operation's schema, then answer it."""
        schema = op.schema
        query: Any = call.query
        if op.encrypt_query:
            serial = call.headers.get("Wechatpay-Serial")
            query = decrypt_fields(self.sb.identity, query, op.encrypt_query, serial, "query")
        _checked("path", lambda: check_params(path_schema(schema.get("path") or {}, call.params), call.params))
        _checked("query", lambda: check_params(schema.get("query"), query))
        body = self._form(op, call) if op.upload else self._body(schema.get("body"), call.json)
        if op.download or ("response" not in schema and op.status == 200):
            return self._file(op, call)
        if op.status == 204 or "response" not in schema:
            return Reply(op.status, b"", None)  # 204 No Content, 202 Accepted
        return json_reply(self._answer(op, call, query, body), op.status)

    @staticmethod
    def _body(schema: Optional[Mapping[str, Any]], doc: Any) -> Any:
        if not schema:
            return doc
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise Rejection(400, "PARAM_ERROR", "请求体必须是 JSON 对象", {"location": "body"})
        _checked("body", lambda: check_object(schema, doc))
        return doc

    @staticmethod
    def _form(op: Operation, call: Call) -> Dict[str, Any]:
        """A multipart upload: `meta` a JSON object (`sha256` the file's digest, when given), a file part for each
        required file (MediaUtil names every file `file`), each other required field a part or a key of `meta`.
        Returns the fields, `meta`'s keys winning."""
        parts = multipart_parts(call.headers.get("Content-Type", ""), call.body)
        files = [content for headers, content in parts if "filename" in headers]
        texts = {h["name"]: c.decode("utf-8", "replace") for h, c in parts if "name" in h and "filename" not in h}
        meta = _meta(texts.pop("meta", None))
        form = op.schema.get("form") or {}
        props = form.get("properties") or {}
        for name in form.get("required") or ():
            if (props.get(name) or {}).get("type") == "file":
                present = bool(files)
            else:
                present = meta is not None if name == "meta" else name in texts or name in (meta or {})
            if not present:
                raise rejection(Violation("missing", f"/{name}"), "body")
        digest = (meta or {}).get("sha256")
        if files and digest is not None and str(digest).lower() != hashlib.sha256(files[0]).hexdigest():
            raise Rejection(400, "PARAM_ERROR", "meta 中的 sha256 与上传文件的摘要不一致", {"field": "sha256"})
        return {**texts, **(meta or {})}

    def _answer(self, op: Operation, call: Call, query: Mapping[str, Any], body: Any) -> Any:
        mchid = self.sb.mchid
        sample = Sample(
            now=datetime.now(CST), body=body,
            given=flat_scalars({"mchid": mchid, "sp_mchid": mchid}, call.params, query, body),
            forced=forced_paths(op.decrypt), quiet=leaf_names(op.encrypt + op.encrypt_query),
        )
        doc: Any = build_answer(op.schema["response"], sample)
        key = self.sb.identity.merchant_key.public_key()
        for path in op.decrypt:  # the merchant decrypts them with its private key
            doc = map_at(doc, path, lambda value: Rsa.encrypt(value, key) if isinstance(value, str) else value)
        return _receipt_ticket(self.sb.base_uri, op.template, doc)

    def _file(self, op: Operation, call: Call) -> Reply:
        """A download: an image, a statement (the signature covers its `Wechatpay-Statement-Sha1`), or a file (a
        PDF receipt or fapiao, `RECEIPT_PDF`). Unsigned where the atlas says the service answers so."""
        if "/merchant-service/images/" in op.template:
            held = self.sb.v3.media.get(call.params.get("media_id", ""))
            return Reply(200, held or PNG, "image/png", signed=not op.unsigned)
        if op.template.endswith("/statements"):
            day = call.query.get("date", "")
            content = f"日期,商户号,币种,金额\r\n`{day},`{self.sb.mchid},`HKD,`0.00\r\n".encode()
            digest = hashlib.sha1(content).hexdigest()
            return Reply(200, content, "text/plain; charset=utf-8", {"Wechatpay-Statement-Sha1": digest},
                         sign_over=json.dumps({"sha1": digest}, separators=(",", ":")).encode())
        return Reply(200, RECEIPT_PDF, "application/pdf", signed=not op.unsigned)


def _receipt_ticket(base_uri: str, template: str, doc: Any) -> Any:
    """A transfer receipt's apply/query answer: its `download_url` served here, its digest that of the PDF served."""
    if not (isinstance(doc, dict) and "download_url" in doc and "hash_value" in doc):
        return doc
    if not any(word in template for word in ("receipt", "elecsign")):
        return doc
    token = secrets.token_urlsafe(18)
    if "elecsign" in template or "elecvoucherfile" in str(doc["download_url"]):
        url = f"{base_uri}v3/transferdownload/elecvoucherfile?source=elecsign&token={token}"
    else:
        url = f"{base_uri}v3/transferdownload/signfile?token={token}"
    return {**doc, "download_url": url, "hash_type": "SHA256", "hash_value": RECEIPT_SHA256}


def _meta(text: Optional[str]) -> Optional[Dict[str, Any]]:
    """The `meta` part as a JSON object (None when there is none); anything else is a 400."""
    if text is None:
        return None
    try:
        meta = json.loads(text)
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise Rejection(400, "PARAM_ERROR", "meta 不是合法的 JSON 对象", {"field": "meta", "location": "body"})
    return meta


def _checked(location: str, check: Callable[[], None]) -> None:
    try:
        check()
    except Violation as violation:
        raise rejection(violation, location) from None


def _unquoted(params: Mapping[str, str]) -> Dict[str, str]:
    return {k: unquote(v) for k, v in params.items()}
