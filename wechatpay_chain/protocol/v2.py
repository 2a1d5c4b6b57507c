"""The APIv2 (XML) protocol, free of I/O: PHP's ``ClientXmlTrait`` transformRequest / transformResponse.

``v2_flow`` signs the ``xml`` payload (or a GET ``query``) with the APIv2 ``secret``, yields the
request, and returns the response only when its ``sign`` verifies and ``return_code``/``result_code``
say SUCCESS. The merchant client certificate for ``security=True`` (mTLS) comes from ``keys._mtls``
(``merchant_cert``, re-exported here), which makes it, once per config, into files the two transports load.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from wechatpay_chain import atlas
from wechatpay_chain.client._config import Config, Secret
from wechatpay_chain.crypto._rsa import shown_value
from wechatpay_chain.crypto._symmetric import Hash
from wechatpay_chain.errors import ApiError, InvalidArgumentError, VerificationError
from wechatpay_chain.keys._mtls import merchant_cert
from wechatpay_chain.models import Request, Response
from wechatpay_chain.protocol._formatter import Formatter, php_string
from wechatpay_chain.protocol._retry import attempts, ready
from wechatpay_chain.protocol._sensitive import Sensitive
from wechatpay_chain.protocol._transformer import INVALID_XML_CHARS, Transformer, is_element_name_valid
from wechatpay_chain.protocol._v3 import (
    Flow,
    Options,
    api_path,
    backup_request,
    build_url,
    raise_for_status,
    request_headers,
    request_timeout,
    signing_body,
)

__all__ = [
    "v2_flow",
    "prepare_v2",
    "verify_v2",
    "sign_v2",
    "sign_type_of",
    "parse",
    "merchant_cert",
    "NONE_SIGNATURE_RESPOND",
    "BILLS",
    "SUCCESS",
    "V2_ACCEPT",
    "V2_CONTENT_TYPE",
]

_log = logging.getLogger("wechatpay_chain")

V2_ACCEPT = "text/xml, text/plain, application/x-gzip"
V2_CONTENT_TYPE = "text/xml; charset=utf-8"
SUCCESS = "SUCCESS"

#: PHP ``ClientXmlTrait::$noneSignatureRespond``: endpoints designed to answer without a ``sign``.
NONE_SIGNATURE_RESPOND = frozenset(
    {
        "/mchrisk/querymchrisk",
        "/mchrisk/setmchriskcallback",
        "/mchrisk/syncmchriskresult",
        "/mmpaymkttransfers/gethbinfo",
        "/mmpaymkttransfers/gettransferinfo",
        "/mmpaymkttransfers/pay_bank",
        "/mmpaymkttransfers/promotion/paywwsptrans2pocket",
        "/mmpaymkttransfers/promotion/querywwsptrans2pocket",
        "/mmpaymkttransfers/promotion/transfers",
        "/mmpaymkttransfers/query_bank",
        "/mmpaymkttransfers/sendgroupredpack",
        "/mmpaymkttransfers/sendminiprogramhb",
        "/mmpaymkttransfers/sendredpack",
        "/papay/entrustweb",
        "/papay/h5entrustweb",
        "/papay/partner/entrustweb",
        "/papay/partner/h5entrustweb",
        "/pay/downloadbill",
        "/pay/downloadfundflow",
        "/payitil/report",
        "/risk/getpublickey",
        "/risk/getviolation",
        "/sandboxnew/pay/downloadbill",
        "/sandboxnew/pay/getsignkey",
        "/secapi/mch/submchmanage",
        "/xdc/apiv2getsignkey/sign/getsignkey",
    }
)
#: Bill downloads answer CSV or gzip on success, an XML document on failure.
BILLS = frozenset({"/pay/downloadbill", "/pay/downloadfundflow", "/sandboxnew/pay/downloadbill"})
_MCHID_KEYS = ("mch_id", "mchid", "combine_mch_id")


def sign_v2(data: Mapping[str, Any], secret: Union[str, Secret[str]], sign_type: str) -> str:
    """PHP: ``Hash::sign($type, Formatter::queryStringLike(Formatter::ksort($data)), $secret)``.

    ``secret`` may be the config's ``Secret``: it is revealed last, after every check, so no failing frame
    holds it as a local.
    """
    if sign_type not in (Hash.ALGO_MD5, Hash.ALGO_HMAC_SHA256):
        raise InvalidArgumentError(f"sign_type {shown_value(sign_type)} is neither MD5 nor HMAC-SHA256")
    message = Formatter.query_string_like(Formatter.ksort(data))
    _log.debug("APIv2 %s string to sign, key not shown: %r", sign_type, message)
    sign = Hash.sign(sign_type, message, secret.reveal() if isinstance(secret, Secret) else secret)
    assert sign is not None  # the sign_type was checked above
    return sign


def sign_type_of(data: Mapping[str, Any], sign: str) -> str:
    """The algorithm of a `sign` to verify: the `sign_type` the document declares, else HMAC-SHA256 for a
    64-digit sign and MD5 for any other (PHP's verifier guesses the same way)."""
    declared = data.get("sign_type")
    if declared in (None, ""):
        return Hash.ALGO_HMAC_SHA256 if len(sign) == 64 else Hash.ALGO_MD5
    if declared not in (Hash.ALGO_MD5, Hash.ALGO_HMAC_SHA256):
        raise VerificationError(f"sign_type {shown_value(declared)} is not MD5 or HMAC-SHA256")
    return str(declared)


def _payload(opts: Options) -> Tuple[Dict[str, Any], bool]:
    """(the dict to sign, whether it travels as the XML body); the query is signed for a bodiless GET."""
    xml, query = opts.get("xml"), opts.get("query")
    if xml is not None:
        if not isinstance(xml, Mapping):
            raise InvalidArgumentError("`xml` must be a dict (the APIv2 request fields)")
        return dict(xml), True
    if isinstance(query, Mapping):
        return dict(query), False
    return {}, True


def _security(config: Config, method: str, template: str, opts: Options) -> bool:
    """`security=True`; unless the call says `security=False`, also an operation the atlas marks as needing the
    merchant certificate (mTLS), which then must be configured."""
    given = opts.get("security")
    if given is not None:
        return given is True
    op = atlas.lookup(method, "v2/" + template.lstrip("/"))
    if op is None or not op.mtls:
        return False
    if not config.merchant:
        raise InvalidArgumentError(
            f"{op.template} needs the merchant certificate (mTLS): configure `merchant={{'cert': "
            "'/path/apiclient_cert.pem', 'key': '/path/apiclient_key.pem'}` (a config file: `merchant_certificate` "
            "and `private_key`), or pass security=False if something else presents it"
        )
    return True


def prepare_v2(
    config: Config, method: str, template: str, opts: Options, variables: Mapping[str, Any], ua: str
) -> Request:
    """Build and sign one APIv2 request; every check happens here, before any I/O."""
    for name in ("json", "encrypt"):
        if opts.get(name) is not None:
            raise InvalidArgumentError(f"`{name}` is an APIv3 option; APIv2 (v2/...) takes `xml`")
    for name in ("xml", "query"):
        fields = opts.get(name)
        for key, value in fields.items() if isinstance(fields, Mapping) else ():
            if isinstance(value, Sensitive):
                raise InvalidArgumentError(
                    f"APIv2 field {str(key)[:40]!r} is a Sensitive value: APIv2 has no automatic field "
                    "encryption, and it would be sent as the text \"Sensitive('***')\"; encrypt it as that API "
                    "documents (e.g. Rsa.encrypt with the key it names) and pass the result as a str"
                )
    if not config.secret:
        raise InvalidArgumentError("APIv2 (v2/...) needs the config `secret` (the 32-byte APIv2 key)")
    cert = merchant_cert(config) if _security(config, method, template, opts) else None
    headers = request_headers(config, opts, V2_ACCEPT, V2_CONTENT_TYPE, ua)
    if opts.get("body") is not None and opts.get("xml") is None:
        # a pre-built body (multipart secapi/mch/uploadmedia), as PHP with `transform_request` removed
        url = build_url(config, template, variables, opts.get("query"))
        return Request(method.upper(), url, headers, signing_body(opts)[1], request_timeout(config, opts), cert)
    data, as_body = _payload(opts)
    given = next((data[k] for k in _MCHID_KEYS if data.get(k) is not None), None)
    # PHP: `$mchid !== ($data['mch_id'] ?? $data['mchid'] ?? $data['combine_mch_id'] ?? null)`
    if given != config.mchid:
        raise InvalidArgumentError(
            f"the payload's mch_id/mchid/combine_mch_id ({shown_value(given)}) does not match the configured "
            f"mchid ({config.mchid!r}); give it as the same str"
        )
    for key, value in data.items():
        if isinstance(value, (Mapping, list, tuple, set)):
            raise InvalidArgumentError(f"APIv2 field {key!r} must be a scalar (JSON-encode nested data)")
        # One text per field, signed and sent alike: PHP's cast (True -> '1', False/None -> '', 0.1 + 0.2 ->
        # '0.3'), never Python's str() or a float repr, so query, body and signature agree. An empty one is
        # left out of the signature, as the service leaves it out.
        text = php_string(value)
        if INVALID_XML_CHARS.search(text):  # XML 1.0 cannot carry them, even escaped
            raise InvalidArgumentError(f"APIv2 field {str(key)[:40]!r} holds a control character XML cannot carry")
        if as_body and not (isinstance(key, str) and is_element_name_valid(key)):
            raise InvalidArgumentError(
                f"APIv2 field name {str(key)[:40]!r} is not an XML element name (it would be sent as <item>)"
            )
        data[key] = text
    sign_type = data.get("sign_type")
    sign_type = Hash.ALGO_MD5 if sign_type is None else sign_type
    nonceless = opts.get("nonceless")
    if nonceless is None or nonceless is False:
        if data.get("nonce_str") is None:
            data["nonce_str"] = config.nonce()
    data["sign"] = sign_v2(data, config.secret, str(sign_type))
    if as_body:
        url = build_url(config, template, variables, opts.get("query"))
        body: Optional[bytes] = Transformer.to_xml(data).encode("utf-8")
    else:
        url = build_url(config, template, variables, data)
        body = None
    return Request(method.upper(), url, headers, body, request_timeout(config, opts), cert)


def _endpoint(config: Config, request: Request) -> Tuple[str, str]:
    return request.target.split("?", 1)[0], api_path(config, request.target)


def _fail(data: Dict[str, Any], response: Response) -> None:
    """return_code, then result_code, must be SUCCESS when present; else an ApiError carrying the dict."""
    for field, text in (("return_code", "return_msg"), ("result_code", "err_code_des")):
        value = data.get(field)
        if value is not None and value != SUCCESS:
            code = data.get("err_code") or data.get("error_code") or data.get("return_code")
            message = data.get(text) or data.get("return_msg") or f"{field} {value}"
            raise ApiError(
                str(message),
                status_code=response.status_code,
                code=str(code),
                request_id=response.request_id,
                response=response,
                data=data,
            )


def parse(response: Response) -> Dict[str, Any]:
    """The reply as a dict (PHP: ``Transformer::toArray((string) $response->getBody())``)."""
    return Transformer.to_array(response.content)


def verify_v2(config: Config, request: Request, response: Response) -> Response:
    """PHP's transformResponse, stricter: HTTP status, hostile-XML refusal, FAIL codes and the ``sign``."""
    try:
        raise_for_status(response)
    except ApiError as exc:
        if exc.data is None and response.content.lstrip()[:1] == b"<":
            try:
                exc.data = parse(response)
            except InvalidArgumentError:
                pass
        raise
    if response.status_code >= 300:
        raise VerificationError(f"unexpected HTTP {response.status_code} from WeChat Pay", response)
    path, rel = _endpoint(config, request)
    if (path in BILLS or rel in BILLS) and response.content.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] != b"<":
        return response  # CSV or gzip, untouched
    try:
        data = parse(response)
    except InvalidArgumentError as exc:
        raise VerificationError(f"refused the APIv2 reply: {exc}", response) from None
    if data.get("return_code") not in (None, SUCCESS):
        _fail(data, response)  # an unsigned FAIL: the request never reached the business logic
    if path not in NONE_SIGNATURE_RESPOND and rel not in NONE_SIGNATURE_RESPOND:
        sign = data.get("sign")
        if not isinstance(sign, str) or not sign:
            raise VerificationError("the APIv2 reply carries no `sign`", response)
        try:
            sign_type = sign_type_of(data, sign)
        except VerificationError as exc:
            raise VerificationError(f"refused the APIv2 reply: {exc}", response) from None
        assert config.secret is not None
        if not Hash.equals(sign_v2(data, config.secret, sign_type), sign):
            raise VerificationError(f"the APIv2 reply's {sign_type} `sign` does not verify", response)
    _fail(data, response)
    return response


def v2_flow(config: Config, method: str, template: str, opts: Options, variables: Mapping[str, Any], ua: str) -> Flow:
    """Build and sign once (APIv2 signs no timestamp); then the shared retry loop; return the verified response."""
    request = prepare_v2(config, method, template, opts, variables, ua)
    backup = backup_request(config, request)  # APIv2 signs the fields, not the target: the same request, moved
    return (
        yield from attempts(
            config.retry,
            lambda: ready(request),
            lambda sent, response: verify_v2(config, sent, response),
            None if backup is None else lambda: ready(backup),
        )
    )

