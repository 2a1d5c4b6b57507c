"""The catch-all for APIv2 (XML) operations of the atlas that the stateful `_apiv2` endpoints do not handle.

A request is parsed (XML body, a GET's query, or a multipart upload's fields), its `sign` verified with the
secret (MD5 or HMAC-SHA256 per `sign_type`; the merchant is the first of mch_id/mchid/combine_mch_id), then
checked against the schema: a missing required field is `return_code` FAIL `缺少参数<name>`, a wrong type or
enum value FAIL naming the field. The answer is built from the response schema with return_code and result_code
SUCCESS, signed like the request, except where the service sends no sign (PHP's `noneSignatureRespond` list);
bill downloads answer CSV. mTLS operations are served over plain HTTP: no client certificate is asked for.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Dict, Mapping

from wechatpay_chain.atlas import Operation
from wechatpay_chain.crypto._symmetric import Hash
from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.protocol._formatter import Formatter
from wechatpay_chain.protocol._transformer import Transformer
from wechatpay_chain.protocol.v2 import BILLS, NONE_SIGNATURE_RESPOND
from wechatpay_chain.sandbox._apiv2 import SIGN_TYPES, fail_reply, v2_sign, verify_params, xml_reply
from wechatpay_chain.sandbox._endpoints import CST
from wechatpay_chain.sandbox._protocol import Call, Rejection, Reply, multipart_parts
from wechatpay_chain.sandbox._schema_check import EXPECTED, Violation, check_object, spelled
from wechatpay_chain.sandbox._schema_example import Sample, build_answer, flat_scalars

if TYPE_CHECKING:  # pragma: no cover
    from wechatpay_chain.sandbox._server import Sandbox

__all__ = ["AtlasV2", "v2_message"]

_MCHID_KEYS = ("mch_id", "mchid", "combine_mch_id")
#: fields of a FAIL answer, left out of a SUCCESS one
_ERRORS = ("err_code", "err_code_des", "error_code", "error_msg")
_FUNDFLOW = (
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,"
    "备注,业务凭证号\r\n"
)
_FUNDFLOW_SUMMARY = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n`0,`0,`0.00,`0,`0.00\r\n"


def v2_message(violation: Violation) -> str:
    """The `return_msg` of an APIv2 request that breaks a rule of its schema."""
    name = violation.name
    if violation.kind == "missing":
        return f"缺少参数{name}"
    if violation.kind == "type":
        return f"{name}参数格式错误，此字段需要{EXPECTED.get(str(violation.rule), str(violation.rule))}"
    return f"{name}参数取值错误，须为 {' | '.join(spelled(v) for v in violation.rule[:8])} 之一"


def _text(value: Any) -> str:
    """An XML field's text: containers as compact JSON (the service's jsonObjectLike), booleans as true/false."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return spelled(value)


class AtlasV2:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    def serve(self, op: Operation, call: Call) -> Reply:
        schema = op.schema
        fields = schema.get("body") or schema.get("form") or schema.get("query") or {}
        read = self._params(op, call)
        if isinstance(read, Reply):
            return read
        params, files = read
        nonce = "nonce_str" in (fields.get("required") or ())
        failed = verify_params(params, self.sb.mchid, self.sb.secret, _MCHID_KEYS, SIGN_TYPES, nonce)
        if failed is not None:
            return failed
        try:
            if schema.get("query") is not fields and schema.get("query"):
                check_object(schema["query"], call.query, textual=True)
            check_object(fields, {**params, **{name: "(file)" for name in files}}, textual=True)
        except Violation as violation:
            return fail_reply(v2_message(violation))
        media = next(iter(files.values()), None)
        if media is not None and str(params.get("media_hash", "")).lower() != hashlib.md5(media).hexdigest():
            return fail_reply("media_hash与上传文件的MD5不一致")
        path = "/" + op.template[3:]
        if path in BILLS:
            return self._bill(op)
        return self._answer(op, params, path not in NONE_SIGNATURE_RESPOND)

    @staticmethod
    def _params(op: Operation, call: Call) -> Any:
        """(the request's fields, its files by part name): a multipart upload's, a bodiless GET's query, or the
        XML body's; a FAIL Reply when they cannot be read."""
        if op.upload:
            try:
                parts = multipart_parts(call.headers.get("Content-Type", ""), call.body)
            except Rejection as rejection:
                return fail_reply(rejection.message)
            named = [(h, c) for h, c in parts if "name" in h]
            files = {h["name"]: c for h, c in named if "filename" in h}
            return {h["name"]: c.decode("utf-8", "replace") for h, c in named if "filename" not in h}, files
        if not call.body and call.method == "GET":
            return dict(call.query), {}
        try:
            return Transformer.to_array(call.body), {}
        except InvalidArgumentError:
            return fail_reply("XML格式错误")

    def _answer(self, op: Operation, params: Dict[str, Any], signed: bool) -> Reply:
        """return_code/result_code SUCCESS, the response schema's fields, the request's identifiers, a sign."""
        response: Mapping[str, Any] = op.schema.get("response") or {}
        given = flat_scalars({"mch_id": self.sb.mchid}, params)
        for name in ("sign", "nonce_str", "sign_type"):
            given.pop(name, None)
        given.update({f"{name}_$n": value for name, value in list(given.items())})  # out_refund_no_$n: the one sent
        doc: Dict[str, Any] = {"return_code": "SUCCESS", "return_msg": "OK", "result_code": "SUCCESS"}
        built = build_answer(response, Sample(now=datetime.now(CST), body=None, given=given))
        for name, value in built.items():  # `refund_id_$n`: the first of a numbered series
            name = name.replace("$n", "0").replace("$m", "0")
            if name not in doc and name not in _ERRORS:
                doc[name] = _text(value)
        doc["nonce_str"] = Formatter.nonce(16)
        doc.pop("sign", None)
        doc.pop("sign_type", None)
        if signed:
            sign_type = params.get("sign_type") or Hash.ALGO_MD5
            if "sign_type" in (response.get("properties") or {}):
                doc["sign_type"] = sign_type
            doc["sign"] = v2_sign(doc, self.sb.secret, sign_type)
        return xml_reply(doc)

    def _bill(self, op: Operation) -> Reply:
        """A bill download: the fund flow's header and summary, or today's trade bill (CSV, unsigned)."""
        if op.template.endswith("downloadfundflow"):
            text = _FUNDFLOW + _FUNDFLOW_SUMMARY
        else:
            text = self.sb.v3.bill_csv(datetime.now(CST).date())
        return Reply(200, text.encode("utf-8"), "text/plain; charset=utf-8", signed=False)

