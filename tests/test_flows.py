"""The pure flows stepped by hand: `v3_flow` and `v2_flow` are generators, driven here with no driver, no
transport and no I/O. Each `yield` is checked (the RSA sign as an `Offload`, the `Request`, a retry's `Sleep`)
and answered with `.send()`; the verified response comes back as `StopIteration.value`.

The pinned clock, nonce and keys are test_core's, so the signing strings and signatures are its openssl vectors.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Dict, Mapping

import pytest

from tests.support import V2_SECRET, hmac_sign, md5_sign, signed_response, v2_signed, xml_reply
from tests.test_core import MERCHANT, NONCE, NOW, PLATFORM, PLATFORM_PUB, PUB_ID, VEC
from wechatpay_chain import ServerError, Transformer, TransportError, VerificationError
from wechatpay_chain.client._config import Config, build_config
from wechatpay_chain.models import Flow, Offload, Request, Response, Sleep
from wechatpay_chain.protocol._retry import Retry
from wechatpay_chain.protocol._v3 import split_options, v3_flow
from wechatpay_chain.protocol.v2 import v2_flow

UA = "wechatpay-chain/0 (flows-test) Python/3"
MCHID = "1900000001"
SERIAL = "MERCHANTSERIAL"
ORIGIN = "https://api.mch.weixin.qq.com"
TOKEN_BODY = b'{"token":"T","expires_in":1800}'
#: a constant jitter: the first backoff of Retry(backoff=0.2) is 0.5 * 0.2 seconds
NO_JITTER = Retry(total=1, backoff=0.2, random=lambda: 0.5)


def v3_config(**extra: Any) -> Config:
    return build_config({
        "mchid": MCHID, "serial": SERIAL, "privateKey": MERCHANT, "certs": {PUB_ID: PLATFORM_PUB},
        "clock": lambda: NOW, "nonce": lambda: NONCE, **extra,
    })


def v3(config: Config, method: str, template: str, options: Mapping[str, Any]) -> Flow:
    opts, variables = split_options(template, options)
    return v3_flow(config, method, template, opts, variables, UA)


def vector(name: str) -> str:
    return (VEC / name).read_text(encoding="utf-8")


def authorization(signature: str, nonce: str = NONCE) -> str:
    return (f'WECHATPAY2-SHA256-RSA2048 mchid="{MCHID}",serial_no="{SERIAL}",timestamp="{NOW}",'
            f'nonce_str="{nonce}",signature="{signature}"')


def offloaded_sign(step: Any, message: str) -> str:
    """The flow hands the RSA sign of `message` to its driver; run it as the sync driver does, in place."""
    assert isinstance(step, Offload)
    assert step.arg == message
    signature = step.fn(step.arg)
    assert isinstance(signature, str)
    return signature


def token(**kwargs: Any) -> Response:
    """The platform's signed answer of test_core (its signature is the openssl vector response.sig)."""
    return signed_response(TOKEN_BODY, key=PLATFORM, serial=PUB_ID, timestamp=NOW, nonce="RESPNONCE", **kwargs)


def finish(flow: Flow, reply: Response) -> Response:
    """Send the last reply: the flow ends, returning the verified response."""
    with pytest.raises(StopIteration) as stop:
        flow.send(reply)
    result = stop.value.value
    assert isinstance(result, Response)
    return result


# --- APIv3: sign (Offload), request, verified response -------------------------------------------------


def test_split_options_separates_options_from_template_variables() -> None:
    opts, variables = split_options("v3/pay/transactions/id/{transaction_id}",
                                    {"json": {"a": 1}, "query": {"q": "1"}, "transaction_id": "42"})
    assert dict(opts) == {"json": {"a": 1}, "query": {"q": "1"}} and variables == {"transaction_id": "42"}


def test_v3_get_steps_through_sign_request_and_verified_response() -> None:
    config = v3_config()
    flow = v3(config, "get", "v3/certificates", {})
    step = next(flow)
    signature = offloaded_sign(step, vector("get.msg"))
    assert signature == vector("get.sig")  # the openssl vector: the merchant key over the pinned string
    request = flow.send(signature)
    assert isinstance(request, Request)
    assert request.method == "GET"
    assert request.url == ORIGIN + "/v3/certificates"
    assert request.target == "/v3/certificates"
    assert request.body is None and request.stream is False and request.cert is None
    assert request.timeout == config.timeout
    assert request.headers["Authorization"] == authorization(vector("get.sig"))
    assert request.headers["User-Agent"] == UA
    assert request.headers["Accept"] == (
        "application/json, text/plain, application/x-gzip, application/pdf, image/png, image/*;q=0.5")
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.signed == f"GET\n/v3/certificates\n{NOW}\n{NONCE}\n\n" == vector("get.msg")
    reply = token(headers={"Request-ID": "REQ-1"})
    assert reply.headers["Wechatpay-Signature"] == vector("response.sig")
    assert finish(flow, reply) == reply  # the verified answer (a copy marked with `verified_by`)


def test_v3_post_signs_the_body_and_target_it_sends() -> None:
    body = {"description": "中文😀", "amount": {"total": 1}}
    flow = v3(v3_config(), "post", "v3/pay/transactions/id/{transaction_id}",
              {"json": body, "transaction_id": "42 00", "query": {"mchid": MCHID, "q": "中 😀"}})
    message = vector("request.msg")
    request = flow.send(offloaded_sign(next(flow), message))
    assert isinstance(request, Request)
    target = "/v3/pay/transactions/id/42%2000?mchid=1900000001&q=%E4%B8%AD%20%F0%9F%98%80"
    assert request.method == "POST"
    assert request.target == target == message.split("\n")[1]
    assert request.url == ORIGIN + target
    assert request.body == '{"description":"中文😀","amount":{"total":1}}'.encode() == message.split("\n")[4].encode()
    assert request.signed == message
    assert request.headers["Authorization"] == authorization(vector("request.sig"))
    # nothing was encrypted, and the config's one WeChat Pay public key is named on every request (issue 18)
    assert request.headers["Wechatpay-Serial"] == PUB_ID
    reply = token()
    done = finish(flow, reply)
    assert done == reply and done.verified_by == PUB_ID  # the answer, marked with the key that signed it


@pytest.mark.parametrize("forge", [
    lambda good: Response.build(200, good.headers, b'{"token":"X","expires_in":1800}'),  # body swapped
    lambda good: signed_response(TOKEN_BODY, key=MERCHANT, serial=PUB_ID, timestamp=NOW),  # another key
    lambda good: Response.build(200, {**good.headers, "Wechatpay-Nonce": "OTHER"}, good.content),
    lambda good: Response.build(200, {**good.headers, "Wechatpay-Timestamp": str(NOW - 301)}, good.content),
    lambda good: token(headers={"Wechatpay-Signature": None}),  # unsigned
])
def test_v3_tampered_response_raises_verification_error(forge: Callable[[Response], Response]) -> None:
    flow = v3(v3_config(), "get", "v3/certificates", {})
    request = flow.send(offloaded_sign(next(flow), vector("get.msg")))
    assert isinstance(request, Request)
    forged = forge(token())
    with pytest.raises(VerificationError) as info:
        flow.send(forged)
    assert info.value.response is forged
    with pytest.raises(StopIteration):  # the flow is over: nothing more is sent
        next(flow)


def counting_nonces() -> Callable[[], str]:
    counter = itertools.count()
    return lambda: f"NONCE{next(counter):027d}"


def test_v3_5xx_with_retries_sleeps_then_signs_a_fresh_second_request() -> None:
    flow = v3(v3_config(retries=NO_JITTER, nonce=counting_nonces()), "post", "v3/x", {"json": {"out_trade_no": "A1"}})
    first_nonce, second_nonce = "NONCE000000000000000000000000000", "NONCE000000000000000000000000001"
    body = '{"out_trade_no":"A1"}'
    first_message = f"POST\n/v3/x\n{NOW}\n{first_nonce}\n{body}\n"
    first_signature = offloaded_sign(next(flow), first_message)
    first = flow.send(first_signature)
    assert isinstance(first, Request) and first.signed == first_message
    assert first.headers["Authorization"] == authorization(first_signature, first_nonce)
    busy = signed_response(b'{"code":"SYSTEM_ERROR","message":"busy"}', key=PLATFORM, serial=PUB_ID,
                           timestamp=NOW, status=503)
    pause = flow.send(busy)
    assert pause == Sleep(0.5 * 0.2)
    second_message = f"POST\n/v3/x\n{NOW}\n{second_nonce}\n{body}\n"
    second_signature = offloaded_sign(flow.send(None), second_message)
    assert second_signature != first_signature
    second = flow.send(second_signature)
    assert isinstance(second, Request) and second.signed == second_message
    assert second.headers["Authorization"] == authorization(second_signature, second_nonce)
    assert (second.method, second.url, second.body) == (first.method, first.url, first.body) == (
        "POST", ORIGIN + "/v3/x", body.encode())
    reply = token()
    assert finish(flow, reply) == reply  # the verified answer (a copy marked with `verified_by`)


def test_v3_transport_error_thrown_in_is_retried_then_the_last_5xx_raises() -> None:
    flow = v3(v3_config(retries=NO_JITTER, backup_base_uri=None), "get", "v3/certificates", {})  # no failover
    assert isinstance(flow.send(offloaded_sign(next(flow), vector("get.msg"))), Request)
    assert flow.throw(TransportError("refused", "connect")) == Sleep(0.1)  # what a driver does on a failed send
    assert isinstance(flow.send(offloaded_sign(flow.send(None), vector("get.msg"))), Request)
    busy = signed_response(b'{"code":"SYSTEM_ERROR","message":"busy"}', key=PLATFORM, serial=PUB_ID,
                           timestamp=NOW, status=503)
    with pytest.raises(ServerError) as info:  # retries exhausted: the last answer is raised
        flow.send(busy)
    assert (info.value.status_code, info.value.code) == (503, "SYSTEM_ERROR")


def test_v3_without_retries_a_transport_error_leaves_the_flow() -> None:
    flow = v3(v3_config(backup_base_uri=None), "get", "v3/certificates", {})  # no failover to api2
    assert isinstance(flow.send(offloaded_sign(next(flow), vector("get.msg"))), Request)
    with pytest.raises(TransportError, match="refused"):
        flow.throw(TransportError("refused", "connect"))


# --- APIv2: signed once, no Offload (no RSA), verified XML -----------------------------------------------

V2_MCHID = "1230000109"
V2_NONCE = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"


def v2(method: str, template: str, options: Mapping[str, Any], **extra: Any) -> Flow:
    config = build_config({"mchid": V2_MCHID, "secret": V2_SECRET, "nonce": lambda: V2_NONCE, **extra})
    opts, variables = split_options(template, options)
    return v2_flow(config, method, template, opts, variables, UA)


ORDERQUERY: Dict[str, Any] = {"appid": "wx8888888888888888", "mch_id": V2_MCHID, "out_trade_no": "1415659990"}
V2_OK = {"return_code": "SUCCESS", "result_code": "SUCCESS", "mch_id": V2_MCHID, "trade_state": "SUCCESS"}


def test_v2_request_xml_and_md5_sign_for_the_pinned_nonce() -> None:
    flow = v2("post", "pay/orderquery", {"xml": ORDERQUERY})
    request = next(flow)  # APIv2 signs with the secret in place: the first step is the request
    assert isinstance(request, Request)
    sign = md5_sign(dict(ORDERQUERY, nonce_str=V2_NONCE))
    assert sign == md5_sign({"appid": "wx8888888888888888", "mch_id": V2_MCHID, "nonce_str": V2_NONCE,
                             "out_trade_no": "1415659990"})
    assert request.method == "POST"
    assert request.url == ORIGIN + "/pay/orderquery" and request.target == "/pay/orderquery"
    assert request.body == (
        f"<xml><appid>wx8888888888888888</appid><mch_id>{V2_MCHID}</mch_id><out_trade_no>1415659990</out_trade_no>"
        f"<nonce_str>{V2_NONCE}</nonce_str><sign>{sign}</sign></xml>"
    ).encode()
    assert request.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert request.headers["Accept"] == "text/xml, text/plain, application/x-gzip"
    assert request.headers["User-Agent"] == UA and "Authorization" not in request.headers
    reply = xml_reply(v2_signed(V2_OK))
    assert finish(flow, reply) == reply  # the verified answer (a copy marked with `verified_by`)


def test_v2_hmac_sha256_sign_by_sign_type() -> None:
    payload = dict(ORDERQUERY, sign_type="HMAC-SHA256")
    request = next(v2("post", "pay/orderquery", {"xml": payload}))
    assert isinstance(request, Request) and isinstance(request.body, bytes)
    sent = Transformer.to_array(request.body.decode())
    assert sent["sign"] == hmac_sign(dict(payload, nonce_str=V2_NONCE)) and len(sent["sign"]) == 64


@pytest.mark.parametrize("forge", [
    lambda data: data.update(trade_state="REFUND"),  # tampered after signing
    lambda data: data.pop("sign"),  # unsigned
    lambda data: data.update(sign=md5_sign(data, "another_secret_another_secret_12")),  # another secret
])
def test_v2_tampered_reply_raises_verification_error(forge: Callable[[Dict[str, Any]], Any]) -> None:
    flow = v2("post", "pay/orderquery", {"xml": ORDERQUERY})
    assert isinstance(next(flow), Request)
    data = v2_signed(V2_OK)
    forge(data)
    with pytest.raises(VerificationError):
        flow.send(xml_reply(data))


def test_v2_5xx_with_retries_sleeps_then_resends_the_same_signed_request() -> None:
    flow = v2("post", "pay/orderquery", {"xml": ORDERQUERY}, retries=NO_JITTER)
    first = next(flow)
    assert isinstance(first, Request)
    assert flow.send(xml_reply({"return_code": "FAIL", "return_msg": "busy"}, 503)) == Sleep(0.1)
    second = flow.send(None)
    assert second is first  # APIv2 signs no timestamp: the retry sends the very same request
    reply = xml_reply(v2_signed(V2_OK))
    assert finish(flow, reply) == reply  # the verified answer (a copy marked with `verified_by`)
