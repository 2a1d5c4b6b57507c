"""The sandbox serves the whole endpoint atlas (issue 17), over real loopback HTTP through the client.

Every APIv3 and APIv2 operation answers a request built from its schema with a verified 2xx (or SUCCESS
XML); a request that breaks its schema is a 400 PARAM_ERROR (APIv2: a FAIL) naming the field; answers echo
the request's identifiers and carry `decrypt` fields the merchant can decrypt; authentication still applies.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import time
from typing import Any, Dict, Iterator, List, Mapping, Tuple

import pytest
import requests

from wechatpay_chain import MediaUtil, Rsa, Sensitive, Transformer
from wechatpay_chain.atlas import Operation, lookup, operations
from wechatpay_chain.errors import ApiError, ClientError
from wechatpay_chain.paysign import decrypt_response
from wechatpay_chain.protocol.v2 import NONE_SIGNATURE_RESPOND, sign_v2
from wechatpay_chain.sandbox import Sandbox

#: operations the stateful endpoints own, which cannot answer 2xx for the atlas' example data (or not always:
#: which one answers first decides), and why; kept short
STATEFUL_4XX: Dict[Tuple[str, str], str] = {
    ("GET", "v3/pay/transactions/id/{transaction_id}"): "no paid order has the example transaction_id (404)",
    ("GET", "v3/pay/transactions/out-trade-no/{out_trade_no}"): "no order has the example out_trade_no (404)",
    ("POST", "v3/pay/transactions/out-trade-no/{out_trade_no}/close"): "no order has the example out_trade_no",
    ("POST", "v3/refund/domestic/refunds"): "the example order was never paid (404 RESOURCE_NOT_EXISTS)",
    ("GET", "v3/refund/domestic/refunds/{out_refund_no}"): "no refund has the example out_refund_no (404)",
    ("GET", "v3/bill/tradebill"): "the example bill_date is older than the 90 days of bills kept",
    ("GET", "v3/billdownload/file"): "the example token was never handed out by a bill application",
    ("GET", "v3/payroll-card/authentications/{authenticate_number}"): "no authentication has the example number",
    ("POST", "v3/pay/transactions/h5"): "its schema lacks scene_info.payer_client_ip, which the service requires",
    ("POST", "v2/pay/orderquery"): "no order has the example out_trade_no (ORDERNOTEXIST)",
    ("POST", "v2/pay/downloadbill"): "the example bill_date is older than the 90 days of bills kept",
}
MAX_STATEFUL_4XX = 12
_IDS = itertools.count(1)
_VARIABLE = re.compile(r"\{(\w+)\}")


# -- a request built from the schema ----------------------------------------------------------------
def _has_example(schema: Mapping[str, Any]) -> bool:
    if "example" in schema:
        return True
    props = schema.get("properties") or {}
    items = schema.get("items")
    return any(_has_example(p) for p in props.values() if isinstance(p, dict)) or (
        isinstance(items, dict) and _has_example(items))


def _placeholder(schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    return {"integer": 1, "number": 1, "boolean": True}.get(str(kind), "sandbox")


def _typed(schema: Mapping[str, Any], value: Any) -> Any:
    """The example as the schema's type, or a placeholder when it is not that type."""
    kind = schema.get("type")
    if kind == "integer" and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    checks = {"string": str, "integer": int, "number": (int, float), "boolean": bool}
    wanted = checks.get(str(kind))
    if wanted is None or (isinstance(value, wanted) and not (kind != "boolean" and isinstance(value, bool))):
        return value
    return _placeholder(schema)


def scalar(schema: Mapping[str, Any], name: str, sb: Sandbox) -> Any:
    if name in ("mchid", "mch_id", "sp_mchid", "combine_mch_id"):
        return sb.mchid
    if name == "out_trade_no":  # stateful order endpoints refuse one number reused for another order
        return f"T{time.time_ns()}{next(_IDS)}"
    enum, example = schema.get("enum"), schema.get("example")
    if enum:  # the atlas writes some string enums as numbers
        value = example if example is not None and str(example) in {str(e) for e in enum} else enum[0]
        return text(value) if schema.get("type") == "string" else value
    return _placeholder(schema) if example is None else _typed(schema, example)


def build(schema: Mapping[str, Any], name: str, sb: Sandbox, path: str = "", secret: Tuple[str, ...] = ()) -> Any:
    """A valid value: required properties and those with examples, arrays of one, encrypted fields Sensitive."""
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        required = set(schema.get("required") or ())
        doc = {}
        for key, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, dict) and (key in required or _has_example(sub)):
                doc[key] = build(sub, key, sb, f"{path}.{key}" if path else key, secret)
        return doc
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {"type": "string"}
        return [build(items, name, sb, path + "[]", secret)]
    value = scalar(schema, name, sb)
    return Sensitive(str(value)) if path in secret else value


def v3_options(op: Operation, sb: Sandbox) -> Dict[str, Any]:
    schema = op.schema
    opts: Dict[str, Any] = {}
    for name in _VARIABLE.findall(op.template):
        opts[name] = str(scalar((schema.get("path") or {}).get(name) or {"example": "1"}, name, sb))
    query_schema = schema.get("query")
    if query_schema:  # a list travels as one comma-separated parameter
        query = {k: ",".join(map(str, v)) if isinstance(v, list) else v
                 for k, v in build(query_schema, "query", sb).items()}
        if op.encrypt_query:
            key = Rsa.from_(sb.platform_public_key_pem, Rsa.KEY_TYPE_PUBLIC)
            for name in op.encrypt_query:
                if name in query:
                    query[name] = Rsa.encrypt(str(query[name]), key)
            opts["headers"] = {"Wechatpay-Serial": sb.platform_public_key_id}
        opts["query"] = query
    if op.upload:
        video = "video" in op.template
        media = MediaUtil("sample.mp4" if video else "sample.png", b"\x00sandbox upload\x00")
        form = schema.get("form") or {}
        extra = {k: scalar(v, k, sb) for k, v in (form.get("properties") or {}).items()
                 if k in (form.get("required") or ()) and k != "meta" and v.get("type") != "file"}
        if extra:  # the form's other fields travel in `meta`
            media.set_meta({"filename": "sample.png", "sha256": hashlib.sha256(b"\x00sandbox upload\x00").hexdigest(),
                            **extra})
        opts.update(body=media.get_stream(), headers={"Content-Type": media.get_content_type()})
    elif schema.get("body"):
        opts["json"] = build(schema["body"], "body", sb, secret=op.encrypt)
    return opts


def v2_options(op: Operation, sb: Sandbox) -> Dict[str, Any]:
    schema = op.schema
    opts: Dict[str, Any] = {"security": False}  # the sandbox is plain HTTP: no client certificate
    if op.upload:
        media = b"\x89PNG sandbox"
        fields = {"mch_id": sb.mchid, "media_hash": hashlib.md5(media).hexdigest(), "sign_type": "HMAC-SHA256"}
        fields["sign"] = sign_v2(fields, sb.secret, "HMAC-SHA256")
        body, ctype = multipart(fields, media)
        return dict(opts, body=body, headers={"Content-Type": ctype})
    if schema.get("query") and op.method == "POST":
        opts["query"] = {k: text(v) for k, v in build(schema["query"], "query", sb).items()}
    fields_schema = schema.get("body") or schema.get("query") or {}
    doc = {k: text(v) for k, v in build(fields_schema, "xml", sb).items() if k not in ("sign", "nonce_str")}
    if not any(k in doc for k in ("mch_id", "mchid", "combine_mch_id")):  # the client requires one
        doc["mch_id"] = sb.mchid
    opts["query" if op.method == "GET" else "xml"] = doc
    return opts


def text(value: Any) -> str:
    """An APIv2 field: booleans as true/false, nested data as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


def multipart(fields: Mapping[str, str], media: bytes) -> Tuple[bytes, str]:
    boundary = "sandbox-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="a.png"\r\n'
                 "Content-Type: image/png\r\n\r\n".encode() + media + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def node_for(client: Any, op: Operation, opts: Dict[str, Any]) -> Any:
    """`client.chain(template)`; a template with capitals (`addInstitutionsub`) is sent literally (`{+rest}`)."""
    if not any(c.isupper() for c in op.template):
        return client.chain(op.template)
    prefix, rest = op.template.split("/", 1)
    opts["rest"] = _VARIABLE.sub(lambda m: str(opts.pop(m.group(1))), rest)
    return client.chain(prefix + "/{+rest}")


def call(client: Any, op: Operation, sb: Sandbox) -> Any:
    opts = (v2_options if op.apiv2 else v3_options)(op, sb)
    return getattr(node_for(client, op, opts), op.method.lower())(**opts)


async def call_async(client: Any, op: Operation, sb: Sandbox) -> Any:
    opts = (v2_options if op.apiv2 else v3_options)(op, sb)
    return await getattr(node_for(client, op, opts), op.method.lower() + "_async")(**opts)


def failures(results: List[Tuple[Operation, Any]]) -> List[str]:
    """Each operation that did not answer a verified 2xx (or its allowed stateful 4xx), with the reason."""
    out = []
    for op, outcome in results:
        key = (op.method, op.template)
        if isinstance(outcome, ApiError) and key in STATEFUL_4XX and (outcome.status_code or 0) < 500:
            continue
        if isinstance(outcome, BaseException):
            out.append(f"{op.method} {op.template}: {type(outcome).__name__}: {str(outcome)[:200]}")
        elif not 200 <= outcome.status_code < 300 or outcome.status_code != op.status:
            out.append(f"{op.method} {op.template}: HTTP {outcome.status_code}, expected {op.status}")
        elif not op.apiv2 and "application/json" in outcome.headers.get("Content-Type", ""):
            answer = op.schema.get("response") or {}  # its required names that it defines (the atlas lists a few
            defined = answer.get("properties") or {}  # that live deeper, `data[].guide_id` as `guide_id`)
            missing = [name for name in answer.get("required") or () if name in defined and name not in outcome.json()]
            if missing:
                out.append(f"{op.method} {op.template}: the answer lacks required {', '.join(missing)}")
    return out


def run_all(client: Any, ops: List[Operation], sb: Sandbox) -> List[Tuple[Operation, Any]]:
    results: List[Tuple[Operation, Any]] = []
    for op in ops:
        try:
            results.append((op, call(client, op, sb)))
        except Exception as exc:  # collected: every failure is reported at once
            results.append((op, exc))
    return results


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def client(sb: Sandbox) -> Iterator[Any]:
    c = sb.client()
    yield c
    c.get_driver().close()


V3_OPS = [op for op in operations() if not op.apiv2]
V2_OPS = [op for op in operations() if op.apiv2]


# -- every operation ----------------------------------------------------------------------------------
def test_every_apiv3_operation_answers_a_verified_2xx(sb: Sandbox, client: Any) -> None:
    assert {op.template.split("/", 1)[0] for op in V3_OPS} == {"v3", "hk", "global"}
    started = time.perf_counter()
    problems = failures(run_all(client, V3_OPS, sb))
    elapsed = time.perf_counter() - started
    assert not problems, f"{len(problems)} of {len(V3_OPS)} operations failed:\n" + "\n".join(problems)
    assert elapsed < 60, f"{len(V3_OPS)} operations took {elapsed:.1f}s"


def test_every_apiv2_operation_answers_a_signed_success(sb: Sandbox, client: Any) -> None:
    problems = failures(run_all(client, V2_OPS, sb))
    assert not problems, f"{len(problems)} of {len(V2_OPS)} operations failed:\n" + "\n".join(problems)


def test_the_stateful_allow_list_stays_short_and_names_stateful_operations(sb: Sandbox) -> None:
    assert len(STATEFUL_4XX) <= MAX_STATEFUL_4XX
    for method, template in STATEFUL_4XX:
        assert lookup(method, template) is not None, (method, template)
        path = "/" + (template[3:] if template.startswith("v2/") else template)
        endpoint, _ = sb.router.match(method, path)  # a stateful endpoint answers it, not the atlas
        assert endpoint.template == path


def test_a_sample_of_operations_through_the_async_transport(sb: Sandbox) -> None:
    sample = [op for op in V3_OPS[::25] + V2_OPS[::15] if (op.method, op.template) not in STATEFUL_4XX]

    async def go() -> List[Tuple[Operation, Any]]:
        results: List[Tuple[Operation, Any]] = []
        async with sb.client() as c:
            for op in sample:
                try:
                    results.append((op, await call_async(c, op, sb)))
                except Exception as exc:
                    results.append((op, exc))
        return results

    problems = failures(asyncio.run(go()))
    assert len(sample) > 40
    assert not problems, "\n".join(problems)


# -- violations: 400 PARAM_ERROR naming the field -------------------------------------------------------
PARTNER_NATIVE = "v3/pay/partner/transactions/native"


def partner_order(sb: Sandbox, **changes: Any) -> Dict[str, Any]:
    doc: Dict[str, Any] = {"sp_appid": "wx8888888888888888", "sp_mchid": sb.mchid, "sub_mchid": "1900000109",
                           "description": "Image形象店-深圳腾大-QQ公仔", "out_trade_no": f"P{time.time_ns()}",
                           "notify_url": "https://www.weixin.qq.com/wxpay/pay.php", "amount": {"total": 100}}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def rejected(send: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        send()
    assert info.value.status_code == 400 and info.value.code == "PARAM_ERROR", info.value
    return info.value


def test_a_missing_required_body_field_is_named(sb: Sandbox, client: Any) -> None:
    error = rejected(lambda: client.chain(PARTNER_NATIVE).post(json=partner_order(sb, sp_appid=None)))
    assert error.message == "输入源“/body/sp_appid”映射到字段“sp_appid”必填性规则校验失败，此字段为必填项"
    assert error.detail["field"] == "/sp_appid" and error.detail["location"] == "body"
    error = rejected(lambda: client.chain(PARTNER_NATIVE).post(json=partner_order(sb, amount={"currency": "CNY"})))
    assert error.detail["field"] == "/amount/total"


def test_the_seed_endpoint_keeps_its_own_checks(sb: Sandbox, client: Any) -> None:
    seed = "v3/payroll-card/authentications/pre-order-with-auth"
    doc = {"openid": "onqOjjmo8wmTOOtSKwXtGjg9Gb58", "appid": "wxa1111111", "sub_mchid": "1900000109",
           "authenticate_number": f"mcd{time.time_ns()}", "project_name": "某项目", "employer_name": "某用工企业",
           "user_name": Sensitive("张三"), "id_card_number": Sensitive("110101199003071234"),
           "employment_type": "LONG_TERM_EMPLOYMENT", "authenticate_type": "SIGN_IN"}
    assert client.chain(seed).post(json=doc).json()["sub_mchid"] == "1900000109"
    error = rejected(lambda: client.chain(seed).post(json={**doc, "project_name": None}))
    assert error.message == "输入源“/body/project_name”映射到字段“project_name”必填性规则校验失败，此字段为必填项"
    serial = {"Wechatpay-Serial": sb.platform_public_key_id}  # encrypted by hand: nothing is encrypted for us
    error = rejected(lambda: client.chain(seed).post(json={**doc, "user_name": "张三", "id_card_number": "x"},
                                                     headers=serial))
    assert "user_name" in error.message and error.detail == {"field": "user_name", "location": "body",
                                                             "issue": "decrypt failed"}


def test_a_wrong_type_is_named_with_the_type_it_needs(sb: Sandbox, client: Any) -> None:
    error = rejected(lambda: client.chain(PARTNER_NATIVE).post(json=partner_order(sb, amount={"total": "100"})))
    assert error.message == "无法将 JSON 输入源“/body/amount/total”映射到目标字段“total”中，此字段需要一个合法的整数"
    assert error.detail == {"field": "/amount/total", "location": "body", "issue": "type"}
    details = [{"openid": "o-MYE42l80oelYMDE34nYD456Xoy", "out_detail_no": "x1", "transfer_amount": "200",
                "transfer_remark": "报销", "user_name": Sensitive("张三")}]
    batch = {"appid": "wxf636efh567hg4356", "batch_name": "报销", "batch_remark": "报销", "out_batch_no": "b1",
             "total_amount": 200, "total_num": 1, "transfer_detail_list": details, "transfer_scene_id": "1001"}
    error = rejected(lambda: client.v3.transfer.batches.post(json=batch))
    assert error.detail["field"] == "/transfer_detail_list/0/transfer_amount"


def test_a_bad_enum_value_is_named_with_the_allowed_ones(client: Any) -> None:
    doc = {"appid": "wx8888888888888888", "type": "NOBODY", "account": "86693852", "relation_type": "STORE"}
    error = rejected(lambda: client.v3.profitsharing.receivers.add.post(json=doc))
    assert error.message.startswith("输入源“/body/type”映射到字段“type”枚举值规则校验失败，取值须为 MERCHANT_ID | ")
    assert error.detail == {"field": "/type", "location": "body", "issue": "enum"}
    error = rejected(lambda: client.v3.merchant.fund.balance._account_type_.get(account_type="basic"))
    assert error.detail == {"field": "account_type", "location": "path", "issue": "enum"}


def test_plaintext_where_ciphertext_is_required_is_refused(sb: Sandbox, client: Any) -> None:
    doc = {"appid": "wx8888888888888888", "type": "MERCHANT_ID", "account": "86693852", "relation_type": "STORE",
           "name": "张三"}
    serial = {"Wechatpay-Serial": sb.platform_public_key_id}
    error = rejected(lambda: client.v3.profitsharing.receivers.add.post(json=doc, headers=serial))
    assert error.detail == {"field": "name", "location": "body", "issue": "decrypt failed"}
    query = {"bal_account_no": "6222000011112222", "mchid": sb.mchid}
    error = rejected(lambda: client.chain("v3/aggracct-bc/wb-channel/account/balance").get(query=query,
                                                                                          headers=serial))
    assert error.detail == {"field": "bal_account_no", "location": "query", "issue": "decrypt failed"}
    key = Rsa.from_(sb.platform_public_key_pem, Rsa.KEY_TYPE_PUBLIC)
    query["bal_account_no"] = Rsa.encrypt("6222000011112222", key)
    assert client.chain("v3/aggracct-bc/wb-channel/account/balance").get(query=query, headers=serial).status_code == 200
    arrived = [r for r in sb.requests if r.path == "/v3/profitsharing/receivers/add"][-1]
    assert arrived.status == 400


def test_a_missing_or_mistyped_query_parameter_is_named(sb: Sandbox, client: Any) -> None:
    node = client.v3.pay.partner.transactions.outTradeNo._out_trade_no_
    error = rejected(lambda: node.get(out_trade_no="T1", query={"sp_mchid": sb.mchid}))
    assert error.message == "输入源“/query/sub_mchid”映射到字段“sub_mchid”必填性规则校验失败，此字段为必填项"
    assert error.detail == {"field": "sub_mchid", "location": "query", "issue": "required"}
    batch = client.chain("v3/bank-transfer/batches/batch-id/{batch_id}")
    error = rejected(lambda: batch.get(batch_id="1", query={"need_query_detail": "yes"}))
    assert error.message == ("无法将输入源“/query/need_query_detail”映射到目标字段“need_query_detail”中，"
                             "此字段需要一个布尔值（true 或 false）")
    assert batch.get(batch_id="1", query={"need_query_detail": False, "limit": 20}).status_code == 200
    error = rejected(lambda: batch.get(batch_id="1", query={"need_query_detail": True, "limit": "20.5"}))
    assert error.detail["field"] == "limit"


# -- answers: identifiers echoed, encrypted fields, empty 204 ------------------------------------------------
def test_an_answer_echoes_the_identifiers_of_the_request(sb: Sandbox, client: Any) -> None:
    node = client.v3.pay.partner.transactions.outTradeNo._out_trade_no_
    got = node.get(out_trade_no="T-echo-1", query={"sp_mchid": sb.mchid, "sub_mchid": "1900000777"}).json()
    assert (got["out_trade_no"], got["sub_mchid"], got["sp_mchid"]) == ("T-echo-1", "1900000777", sb.mchid)
    assert isinstance(got["amount"]["payer_total"], int)
    doc = {"appid": "wx8888888888888888", "sub_mchid": "1900000888", "transaction_id": "4208450740201411110007820472",
           "out_order_no": "P20150806125346", "receivers": [], "unfreeze_unsplit": True}
    got = client.v3.profitsharing.orders.post(json=doc).json()
    assert {k: got[k] for k in ("sub_mchid", "transaction_id", "out_order_no")} == {
        k: doc[k] for k in ("sub_mchid", "transaction_id", "out_order_no")}
    got = client.chain("v3/ecommerce/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}").get(
        out_bill_no="B-echo-1", query={"sub_mchid": "1900000999"}).json()
    assert (got["mchid"], got["sub_mchid"], got["out_bill_no"]) == (sb.mchid, "1900000999", "B-echo-1")


def test_decrypt_fields_are_ciphertext_for_the_merchant_key(sb: Sandbox, client: Any) -> None:
    got = client.chain("hk/v3/merchants/{sub_mchid}").get(
        sub_mchid="20000100", query={"sp_appid": "wx8888888888888888", "sp_mchid": sb.mchid}).json()
    assert got["sub_mchid"] == "20000100"
    assert Rsa.decrypt(got["contact"]["name"], sb.merchant_private_key_pem) == "Bob Zhang"
    assert Rsa.decrypt(got["contact"]["email"], sb.merchant_private_key_pem) == "test@test.com"
    got = client.chain("v3/merchant-service/complaints-v2").get(
        query={"begin_date": "2019-01-01", "end_date": "2019-01-01"}).json()
    phone = got["data"][0]["payer_phone"]
    assert phone != lookup("GET", "v3/merchant-service/complaints-v2").schema["response"]["properties"]["data"][
        "items"]["properties"]["payer_phone"].get("example")
    assert Rsa.decrypt(phone, sb.merchant_private_key_pem)


def test_decrypt_response_reads_an_atlas_answer(sb: Sandbox, client: Any) -> None:
    response = client.chain("v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}").get(
        out_bill_no="B-decrypt-1")
    assert response.json()["out_bill_no"] == "B-decrypt-1"
    plain = decrypt_response(response, sb.merchant_private_key_pem, method="GET")
    assert plain["user_name"] != response.json()["user_name"]
    assert Rsa.encrypt(plain["user_name"], Rsa.from_(sb.merchant_private_key_pem)).strip()


def test_no_content_answers_are_empty_and_signed(sb: Sandbox, client: Any) -> None:
    node = client.v3.pay.partner.transactions.outTradeNo._out_trade_no_.close
    response = node.post(out_trade_no="T-close-1", json={"sp_mchid": sb.mchid, "sub_mchid": "1900000109"})
    assert response.status_code == 204 and response.content == b""
    assert response.headers["Wechatpay-Signature"]
    error = rejected(lambda: node.post(out_trade_no="T-close-1", json={"sp_mchid": sb.mchid}))
    assert error.detail["field"] == "/sub_mchid"


def test_downloads_answer_bytes(sb: Sandbox, client: Any) -> None:
    pdf = client.chain("v3/transferdownload/signfile").get(query={"token": "X8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuD"})
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    image = client.chain("v3/merchant-service/images/{media_id}").get(media_id="abc")
    assert image.headers["Content-Type"] == "image/png" and "Wechatpay-Signature" not in image.headers
    statement = client.chain("hk/v3/statements").get(query={"date": "20180130"})  # the client checks the SHA-1
    assert hashlib.sha1(statement.content).hexdigest() == statement.headers["Wechatpay-Statement-Sha1"]


def test_an_upload_is_checked_and_answered(sb: Sandbox, client: Any) -> None:
    media = MediaUtil("logo.png", b"\x89PNG fake")
    node = client.v3.merchantService.images.upload
    answer = node.post(body=media.get_stream(), headers={"Content-Type": media.get_content_type()}).json()
    assert isinstance(answer["media_id"], str)
    media.set_meta({"filename": "logo.png", "sha256": "0" * 64})
    error = rejected(lambda: node.post(body=media.get_stream(), headers={"Content-Type": media.get_content_type()}))
    assert "sha256" in error.message


# -- routing and authentication ---------------------------------------------------------------------------
def test_stateful_endpoints_keep_precedence(sb: Sandbox, client: Any) -> None:
    with pytest.raises(ClientError) as info:
        client.v3.pay.transactions.outTradeNo._out_trade_no_.get(out_trade_no="nope", query={"mchid": sb.mchid})
    assert info.value.code == "ORDER_NOT_EXIST"  # the order store answers, not the atlas' example


def test_unknown_paths_and_methods_stay_refused(sb: Sandbox, client: Any) -> None:
    with pytest.raises(ClientError) as info:
        client.chain("v3/no/such/path").get()
    assert info.value.status_code == 404
    with pytest.raises(ClientError) as info:
        client.v3.profitsharing.receivers.add.get()
    assert info.value.status_code == 405 and "POST" in info.value.message


def test_atlas_paths_need_authentication(sb: Sandbox) -> None:
    url = sb.base_uri + "v3/profitsharing/receivers/add"
    answer = requests.post(url, json={"appid": "wx8888888888888888"}, timeout=10)
    assert answer.status_code == 401 and answer.json()["code"] == "SIGN_ERROR"
    other = sb.client(mchid="1900000000")
    with pytest.raises(ClientError) as info:
        other.chain("v3/merchant/fund/balance/{account_type}").get(account_type="BASIC")
    other.get_driver().close()
    assert info.value.status_code == 401 and info.value.detail["field"] == "mchid"


def test_an_atlas_path_refuses_a_replayed_nonce(sb: Sandbox) -> None:
    client = sb.client(nonce=lambda: "the-same-nonce-twice")
    node = client.chain("v3/merchant/fund/balance/{account_type}")
    assert node.get(account_type="BASIC").status_code == 200
    with pytest.raises(ClientError) as info:
        node.get(account_type="BASIC")
    client.get_driver().close()
    assert info.value.status_code == 401 and info.value.detail["field"] == "nonce_str"


# -- APIv2 ---------------------------------------------------------------------------------------------------
def closeorder(sb: Sandbox, **changes: Any) -> Dict[str, Any]:
    doc = {"appid": "wx8888888888888888", "mch_id": sb.mchid, "out_trade_no": "1217752501201407033233368018"}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def test_apiv2_answers_are_signed_like_the_request(sb: Sandbox, client: Any) -> None:
    for sign_type in ("MD5", "HMAC-SHA256"):
        response = client.v2.pay.closeorder.post(xml=closeorder(sb, sign_type=sign_type))
        data = Transformer.to_array(response.content)
        assert data["return_code"] == data["result_code"] == "SUCCESS"
        assert data["mch_id"] == sb.mchid and data["appid"] == "wx8888888888888888"
        assert sign_v2(data, sb.secret, sign_type) == data["sign"]


def test_apiv2_missing_or_wrong_fields_are_a_fail_naming_them(sb: Sandbox, client: Any) -> None:
    with pytest.raises(ApiError) as info:
        client.v2.pay.closeorder.post(xml=closeorder(sb, out_trade_no=None))
    assert info.value.message == "缺少参数out_trade_no" and info.value.code == "FAIL"
    bill = {"appid": "wx8888888888888888", "mch_id": sb.mchid, "bill_date": "20140603", "account_type": "Savings"}
    with pytest.raises(ApiError) as info:
        client.v2.pay.downloadfundflow.post(xml=bill, security=False)
    assert info.value.message == "account_type参数取值错误，须为 Basic | Operation | Fees 之一"
    doc = {"appid": "wx8888888888888888", "mch_id": sb.mchid, "out_refund_no": "1", "out_trade_no": "1",
           "refund_id": "1", "transaction_id": "1", "offset": "first"}
    with pytest.raises(ApiError) as info:
        client.v2.pay.refundquery.post(xml=doc)
    assert info.value.message.startswith("offset参数格式错误")


def test_apiv2_mtls_operations_are_served_over_plain_http(sb: Sandbox, client: Any) -> None:
    doc = {"appid": "wx8888888888888888", "mch_id": sb.mchid, "out_trade_no": "1217752501201407033233368018"}
    data = Transformer.to_array(client.v2.secapi.pay.reverse.post(xml=doc, security=False).content)
    assert data["appid"] == doc["appid"] and data["recall"] == "Y" and data["result_code"] == "SUCCESS"


def test_apiv2_unsigned_operations_answer_without_sign(sb: Sandbox, client: Any) -> None:
    op = lookup("POST", "v2/mmpaymkttransfers/sendredpack")
    assert op is not None and "/mmpaymkttransfers/sendredpack" in NONE_SIGNATURE_RESPOND
    data = Transformer.to_array(call(client, op, sb).content)
    assert data["return_code"] == "SUCCESS" and "sign" not in data
