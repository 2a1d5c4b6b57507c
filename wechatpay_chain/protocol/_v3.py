"""The APIv3 protocol, free of I/O: build + encrypt + sign a request, verify its response.

Both transports run the same generator (`v3_flow`), so the bytes that are signed are computed in
exactly one place. Mirrors PHP's `ClientJsonTrait::signer` / `::verifier`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
import logging
import re
import zlib
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import quote

from wechatpay_chain import atlas, uritemplate
from wechatpay_chain.atlas import Operation
from wechatpay_chain.client._config import V3_ACCEPT, V3_CONTENT_TYPE, Config, check_header, check_timeout
from wechatpay_chain.crypto._rsa import Rsa, RsaKey
from wechatpay_chain.errors import ClientError, InvalidArgumentError, ServerError, VerificationError, WeChatPayError
from wechatpay_chain.models import Flow, FlowOf, Headers, Offload, Request, Response, target_of
from wechatpay_chain.protocol._formatter import Formatter
from wechatpay_chain.protocol._retry import attempts
from wechatpay_chain.protocol._sensitive import Sensitive, encrypt_fields
from wechatpay_chain.protocol._signature import (
    NONCE,
    SERIAL,
    SIGNATURE,
    TIMESTAMP,
    UnknownSerialError,
    verify_signature,
)

__all__ = [
    "Options",
    "Flow",
    "split_options",
    "build_url",
    "prepare_v3",
    "prepare_v3_flow",
    "verify_v3",
    "v3_flow",
    "raise_for_status",
    "OPTION_KEYS",
    "NONCE",
    "SERIAL",
    "SIGNATURE",
    "TIMESTAMP",
    "STATEMENT_SHA1",
    "TARGET_CHARS",
    "BAD_ESCAPE",
    "encode_query",
    "canonical_target",
    "request_headers",
    "request_timeout",
    "signing_body",
    "api_path",
    "unsigned_download",
    "backup_request",
    "build_v3",
    "sign_v3",
    "sign_v3_flow",
    "diagnose_sign_error",
    "verify_statement",
]

_log = logging.getLogger("wechatpay_chain")


OPTION_KEYS = frozenset(
    {"json", "query", "headers", "body", "xml", "security", "nonceless", "timeout", "encrypt", "stream"}
)
STATEMENT_SHA1 = "Wechatpay-Statement-Sha1"
_STATEMENTS = ("/v3/global/statements", "/hk/v3/statements")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


#: the request options (PHP's `$options` array: `json`, `query`, `headers`, ...) after the URI-template
#: variables were taken out
Options = Dict[str, Any]


def split_options(template: str, options: Mapping[str, Any]) -> Tuple[Options, Dict[str, Any]]:
    """Separate request options from URI-template variables; unknown names are refused (typo guard)."""
    opts: Options = {}
    variables: Dict[str, Any] = {}
    for key, value in options.items():
        (opts if key in OPTION_KEYS else variables)[key] = value
    names = uritemplate.compile(template).variable_names
    stray = [k for k in variables if k not in names]
    if stray:
        raise InvalidArgumentError(
            f"unknown option(s) {', '.join(map(repr, stray))} for {template!r}: options are "
            f"{', '.join(sorted(OPTION_KEYS))}; URI-template variables here: {', '.join(names) or 'none'}"
        )
    absent = [n for n in names if variables.get(n) is None]
    if absent:
        raise InvalidArgumentError(f"{template!r} needs the URI-template variable(s) {', '.join(absent)}")
    return opts, variables


def _query_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise InvalidArgumentError(f"query[{key!r}] must be str, int, float or bool, not {type(value).__name__}")


def encode_query(query: Any) -> str:
    """RFC 3986 percent-encoding (PHP's PHP_QUERY_RFC3986); the encoded string is what is signed and sent."""
    if query is None or query == "":
        return ""
    if isinstance(query, str):
        if _UNSAFE.search(query):
            raise InvalidArgumentError("a `query` str must be percent-encoded: it has a space or control character")
        return query.lstrip("?")
    if not isinstance(query, (dict, Mapping)):
        raise InvalidArgumentError("`query` must be a dict (or an already-encoded str)")
    return "&".join(
        f"{quote(str(k), safe='')}={quote(_query_value(k, v), safe='')}" for k, v in query.items() if v is not None
    )


#: the characters a request target keeps as they are (RFC 3986 path and query characters); `%` only in an
#: upper-case %XX escape. urllib3 (the sync transport) re-encodes anything else before sending, yarl (aiohttp)
#: does not: only a target in this form is sent, by both transports, as the bytes it was signed as.
TARGET_CHARS = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*").fullmatch
BAD_ESCAPE = re.compile(r"%(?![0-9A-F]{2})").search
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|[^A-Za-z0-9._~!$&'()*+,;=:@/?-]")


def _escape(match: re.Match[str]) -> str:
    found = match.group(0)
    if found[0] == "%" and len(found) == 3:
        return found.upper()  # an escape: the same octet, in the one spelling every transport keeps
    return "".join(f"%{b:02X}" for b in found.encode("utf-8", "surrogateescape"))  # a lone `%` is %25


def canonical_target(target: str) -> str:
    """The request target every transport sends unchanged, so the one signed is the one received.

    Characters outside RFC 3986's path and query sets are percent-encoded (UTF-8), escapes are upper-cased
    and a `%` that starts none is `%25` (what urllib3 does on the sync paths, after we signed). A trailing
    `?` goes (requests and yarl drop it). A fragment (`#`) or a `.`/`..` path segment is refused: transports
    drop the one and proxies collapse the other, and either would send something other than what was signed
    (or address another endpoint)."""
    path, mark, query = target.partition("?")
    if "#" in target:
        raise InvalidArgumentError(
            f"request target {target[:80]!r} has a '#': a request carries no fragment; percent-encode it (%23) "
            "if it is data"
        )
    if "/." in path and any(segment in (".", "..") for segment in path.split("/")):
        raise InvalidArgumentError(
            f"request path {path[:80]!r} has a '.' or '..' segment: proxies and servers collapse it, so the call "
            "would reach another path than the one signed (check the URI-template variables)"
        )
    if mark and not query:
        target = path
    if TARGET_CHARS(target) and not ("%" in target and BAD_ESCAPE(target)):
        return target
    try:
        return _ESCAPE.sub(_escape, target)
    except UnicodeEncodeError:
        pass  # a lone surrogate; raised below, outside the handler (the error holds the target)
    raise InvalidArgumentError("the request target is not encodable text (a lone surrogate)")


def build_url(config: Config, template: str, variables: Mapping[str, Any], query: Any) -> str:
    """The full URL, fully percent-encoded: exactly what is sent and (its target) signed."""
    path = uritemplate.expand(template, variables).lstrip("/")
    qs = encode_query(query)
    if qs:
        path += ("&" if "?" in path else "?") + qs
    origin = config.base_uri[: len(config.base_uri) - len(config.base_path)]
    return origin + canonical_target(config.base_path + path)


@functools.lru_cache(maxsize=64)
def _base_headers(
    accept: str, content_type: Optional[str], ua: str, configured: Tuple[Tuple[str, str], ...]
) -> Headers:
    headers = Headers({"Accept": accept, "User-Agent": ua})
    if content_type:
        headers["Content-Type"] = content_type
    headers.update(configured)
    return headers


def request_headers(config: Config, opts: Options, accept: str, content_type: Optional[str], ua: str) -> Headers:
    """The defaults (computed once per client and user agent), then the call's own headers."""
    headers = _base_headers(accept, content_type, ua, tuple(config.headers.items())).copy()
    extra = opts.get("headers")
    if extra:
        if not isinstance(extra, (dict, Mapping)):
            raise InvalidArgumentError("`headers` must be a dict")
        for k, v in extra.items():
            if not isinstance(k, str) or not isinstance(v, (str, int)):
                raise InvalidArgumentError(f"header {k!r} must be a str")
            v = str(v)
            check_header(k, v)
            headers[k] = v
    return headers


def request_timeout(config: Config, opts: Options) -> Any:
    timeout = opts.get("timeout", config.timeout)
    check_timeout(timeout, "timeout")
    return timeout


def signing_body(opts: Options) -> Tuple[str, Any]:
    """(the text that is signed, the body that is sent) for `body=`: str, bytes, or a MediaUtil-like stream."""
    body = opts.get("body")
    if body is None:
        return "", None
    if isinstance(body, str):  # encoded as crypto encodes what it signs, so the two bytes are the same
        try:
            return body, body.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            pass  # raised below, outside the handler: the UnicodeEncodeError holds the whole body
        raise InvalidArgumentError("`body` is not encodable text (a lone surrogate)")
    if isinstance(body, (bytes, bytearray)):
        return bytes(body).decode("utf-8", "surrogateescape"), bytes(body)
    meta = getattr(body, "signing_text", None)  # MediaUtil: signed over its `meta` JSON, PHP-style
    if callable(meta):
        return str(meta()), body
    raise InvalidArgumentError("`body` must be str, bytes or a MediaUtil stream")


def api_path(config: Config, target: str) -> str:
    """The path of a request target below `base_uri` ('/v3/...'), which the service's rules name: a
    `base_uri` with a path (a gateway, '/wxpay/') is taken off, and the query too."""
    path = target.split("?", 1)[0]
    for base in (config.base_path, config.backup_base_path):  # a failed-over call went under the backup's
        if base != "/" and path.startswith(base):
            return "/" + path[len(base) :]
    return path


def backup_request(config: Config, request: Request) -> Optional[Request]:
    """`request` (unsigned for APIv3: each attempt signs its own target) sent to `backup_base_uri` instead: the
    same target below the base path, under the backup's. None without a backup, or for a body that may not be
    sendable twice (a one-pass iterator; bytes and MediaUtil's re-iterable stream are)."""
    backup, body = config.backup_base_uri, request.body
    base = canonical_target(config.base_path)
    if backup is None or isinstance(body, Iterator) or not request.target.startswith(base):
        return None
    origin = backup[: len(backup) - len(config.backup_base_path)]
    target = canonical_target(config.backup_base_path + request.target[len(base) :])
    return dataclasses.replace(request, url=origin + target)


def unsigned_download(method: str, path: str) -> bool:
    """Whether `method` `path` ('/v3/billdownload/file', below any base path) is a download the service answers
    unsigned: the atlas' one list (`Operation.unsigned`: bill files, complaint images, transfer receipts, fapiao
    files), matched case-insensitively as PHP does; its digest, where one is given, is the caller's to check."""
    if not path.lower().startswith("/v3/"):  # every unsigned download is below /v3/: no atlas walk for others
        return False
    op = atlas.at_path(path.lower()).get(method.upper())
    return op is not None and op.unsigned


def build_v3(
    config: Config, method: str, template: str, opts: Options, variables: Mapping[str, Any], ua: str
) -> Tuple[Request, str]:
    """Build and encrypt one APIv3 request (unsigned), and the body text to sign. Pure."""
    if not config.apiv3:
        raise InvalidArgumentError(
            "this client was built for APIv2 only (a `secret` without APIv3 credentials, or with wechatpay-php's "
            "placeholders such as `certs={'any': None}`): give a real `serial`, `privateKey` and `certs` to call "
            "APIv3 endpoints"
        )
    method = method.upper()
    if opts.get("xml") is not None:
        raise InvalidArgumentError("`xml` is an APIv2 option (v2/...); APIv3 takes `json`")
    payload = opts.get("json")
    if payload is not None and opts.get("body") is not None:
        raise InvalidArgumentError("give either `json` or `body`, not both")
    headers = request_headers(config, opts, V3_ACCEPT, V3_CONTENT_TYPE, ua)
    paths = _encrypt_paths(opts.get("encrypt"))
    wanted = headers.get(SERIAL)
    # the atlas' encrypted fields, unless the caller encrypts by hand (its own Wechatpay-Serial) or says not to
    op = None if wanted is not None or opts.get("encrypt") is False else _operation(method, template, variables)
    chosen: List[Tuple[str, RsaKey]] = []

    def encrypt(plaintext: str) -> str:
        if not chosen:
            chosen.append(config.certs.encryption_key(wanted or config.wechatpay_serial or None))
        return Rsa.encrypt(plaintext, chosen[0][1])

    query = opts.get("query")
    if op is not None and op.encrypt_query:
        query = _encrypt_query(query, op.encrypt_query, encrypt)
    url = build_url(config, template, variables, query)
    if payload is not None:
        doc, _ = encrypt_fields(payload, paths, encrypt, optional=op.encrypt if op else ())
        try:
            text = _JSON.encode(doc)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"`json` is not JSON-serialisable: {exc}") from None
        body: Any = None
        try:
            body = text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # raised below, outside the handler: the UnicodeEncodeError holds the whole body
        if body is None:
            raise InvalidArgumentError("`json` holds text that is not encodable (a lone surrogate)")
    else:
        if paths:
            raise InvalidArgumentError("`encrypt` applies to `json` bodies only")
        text, body = signing_body(opts)
    if chosen:  # something was encrypted: the service must know with which key
        headers[SERIAL] = chosen[0][0]
    elif config.wechatpay_serial and SERIAL not in headers:  # the public-key migration: every request names it
        headers[SERIAL] = config.wechatpay_serial
    # Only unsigned downloads may stream: a signed body must be whole before it can be verified.
    stream = bool(opts.get("stream")) and unsigned_download(method, api_path(config, target_of(url)))
    return Request(method, url, headers, body, request_timeout(config, opts), stream=stream), text


def _encrypt_paths(given: Any) -> List[str]:
    """`encrypt=`: None or False (no paths of the caller's; False also turns the atlas' off), a path, or paths."""
    if given is None or given is False:
        return []
    if isinstance(given, str):
        return [given]
    if given is True or not isinstance(given, (list, tuple, set, frozenset)):
        raise InvalidArgumentError(
            "`encrypt` takes field paths (['user_name', 'contact_info.contact_name']) or False (no automatic "
            f"encryption), not {type(given).__name__}"
        )
    return list(given)


#: a template whose expressions are not all whole-segment `{name}` (`{+path}`, `{?q}`): looked up by its expansion
_OPERATOR = re.compile(r"\{[+#./;?&]")


def _operation(method: str, template: str, variables: Mapping[str, Any]) -> Optional[Operation]:
    """The atlas entry of this call: by its template (cached), or by the path it expands to (`client['{+path}']`)."""
    if _OPERATOR.search(template):
        return atlas.lookup(method, uritemplate.expand(template, variables).split("?", 1)[0])
    return atlas.lookup(method, template)


def _encrypt_query(query: Any, names: Tuple[str, ...], encrypt: Callable[[str], str]) -> Any:
    """The query with the atlas' encrypted parameters encrypted (plain str or `Sensitive` values only)."""
    if not isinstance(query, Mapping) or not any(name in query for name in names):
        return query
    out = dict(query)
    for name in names:
        value = out.get(name)
        if isinstance(value, Sensitive):
            value = value.reveal()
        if isinstance(value, str):
            out[name] = encrypt(value)
    return out


def prepare_v3(
    config: Config, method: str, template: str, opts: Options, variables: Mapping[str, Any], ua: str
) -> Request:
    """Build, encrypt and sign one APIv3 request. Pure: the clock and nonce come from config."""
    request, text = build_v3(config, method, template, opts, variables, ua)
    return sign_v3(config, request, text)


def prepare_v3_flow(
    config: Config, method: str, template: str, opts: Options, variables: Mapping[str, Any], ua: str
) -> FlowOf[Request]:
    """`prepare_v3` as a sub-flow: its RSA sign is an `Offload` step (run off the loop with `crypto_threads`)."""
    request, text = build_v3(config, method, template, opts, variables, ua)
    return (yield from sign_v3_flow(config, request, text))


def sign_v3(config: Config, request: Request, body_text: str) -> Request:
    """Add the Authorization header over METHOD\\nTARGET\\nTIMESTAMP\\nNONCE\\nBODY\\n (fresh per attempt)."""
    timestamp, nonce, message = _string_to_sign(config, request, body_text)
    return _with_authorization(config, request, timestamp, nonce, message, config.signer(message))


def sign_v3_flow(config: Config, request: Request, body_text: str) -> FlowOf[Request]:
    """`sign_v3` as a sub-flow: the RSA sign is handed to the driver (`Offload`), which may run it off the loop."""
    timestamp, nonce, message = _string_to_sign(config, request, body_text)
    signature = yield Offload(config.signer, message)
    return _with_authorization(config, request, timestamp, nonce, message, signature)


def _string_to_sign(config: Config, request: Request, body_text: str) -> Tuple[str, str, str]:
    timestamp, nonce = str(config.clock()), config.nonce()
    message = Formatter.request(request.method, request.target, timestamp, nonce, body_text)
    _log.debug("APIv3 string to sign: %r", message)
    return timestamp, nonce, message


def _with_authorization(
    config: Config, request: Request, timestamp: str, nonce: str, message: str, signature: str
) -> Request:
    headers = request.headers.copy() if isinstance(request.headers, Headers) else Headers(request.headers)
    headers["Authorization"] = Formatter.authorization(config.mchid, nonce, signature, timestamp, config.serial)
    return dataclasses.replace(request, headers=headers, signed=message)


_PARTS = ("method", "request target", "timestamp", "nonce", "body")


def _clip(text: str, size: int = 48) -> str:
    return repr(text if len(text) <= size else text[:size] + "...")


def diagnose_sign_error(ours: str, detail: Any) -> Optional[str]:
    """Which part of our signing string differs from the one the service reports in `sign_information`."""
    info = detail.get("sign_information") if isinstance(detail, dict) else None
    theirs = info.get("truncated_sign_message") if isinstance(info, dict) else None
    if not ours or not isinstance(theirs, str):
        return None
    mine, seen = ours.split("\n", 4), theirs.split("\n", 4)
    for i, part in enumerate(_PARTS[:4]):
        if i >= len(seen) or i >= len(mine) or mine[i] != seen[i]:
            got = seen[i] if i < len(seen) else ""
            return (
                f"the {part} differs: we signed {_clip(mine[i] if i < len(mine) else '')}, the service saw {_clip(got)}"
            )
    body, prefix = (mine[4][:-1] if len(mine) == 5 else ""), (seen[4].rstrip("\n") if len(seen) == 5 else "")
    if not body.startswith(prefix):
        return f"the body differs at its start: we signed {_clip(body, 16)}, the service saw {_clip(prefix, 16)}"
    length = info.get("sign_message_length")  # type: ignore[union-attr]
    if isinstance(length, int) and length != len(ours.encode("utf-8")):
        return (
            f"the body differs: the service's signing string is {length} bytes, ours {len(ours.encode('utf-8'))} "
            "(something between us and the service re-encoded the body)"
        )
    return "our signing string is the service's: the signature is wrong (the private key does not match `serial`?)"


def raise_for_status(response: Response, signed: str = "") -> None:
    """4xx -> ClientError, 5xx -> ServerError, each carrying the service's code/message/detail.

    A 401 SIGN_ERROR also says which part of our signing string differs from the service's.
    """
    status = response.status_code
    if status < 400:
        return
    code = message = None
    detail: Any = None
    try:
        data = response.json()
        if isinstance(data, dict):
            code, message, detail = data.get("code"), data.get("message"), data.get("detail")
    except (ValueError, RecursionError):  # a hostile body: no detail to show
        data = None
    cls = ClientError if status < 500 else ServerError
    diagnosis = diagnose_sign_error(signed, detail) if code == "SIGN_ERROR" else None
    raise cls(
        str(message or response.reason or "HTTP error"),
        status_code=status,
        code=code,
        detail=detail,
        request_id=response.request_id,
        response=response,
        data=data,
        diagnosis=diagnosis,
    )


def _gunzip(data: bytes) -> Optional[bytes]:
    """Every member of a gzip stream, decompressed, as `gzip.decompress` or `gunzip` reads it; None unless
    `data` is whole gzip members and nothing else (a truncated member, or any byte after the last one)."""
    out: List[bytes] = []
    while data:
        inflate = zlib.decompressobj(wbits=31)
        try:
            out.append(inflate.decompress(data))
            out.append(inflate.flush())
        except zlib.error:
            return None
        if not inflate.eof:
            return None
        data = inflate.unused_data
    return b"".join(out)


def verify_statement(response: Response) -> Response:
    """Overseas statements: the signature covers only `Wechatpay-Statement-Sha1`; check the body against it.

    PHP leaves this to the caller; `verify_v3` does it for every statement. The digest is of the plain
    file, so a gzip body is checked after decompressing all of it: every member, with nothing after the last
    (zlib alone stops after the first member, which would let bytes be appended to a signed statement).
    """
    want = (response.headers.get("Wechatpay-Statement-Sha1") or "").strip().lower()
    if not want:
        raise VerificationError("statement response has no Wechatpay-Statement-Sha1 header", response)
    body = response.content
    candidates = [body]
    if body[:2] == b"\x1f\x8b":
        plain = _gunzip(body)
        if plain is not None:
            candidates.append(plain)
    if not any(hmac.compare_digest(want, hashlib.sha1(c).hexdigest()) for c in candidates):
        raise VerificationError("statement body does not match its Wechatpay-Statement-Sha1", response)
    return response


def verify_v3(config: Config, request: Request, response: Response) -> Response:
    """PHP's verifier: the four headers, the clock window, a known serial and a valid RSA-SHA256 signature."""
    raise_for_status(response, request.signed)
    if response.status_code >= 300:
        raise VerificationError(f"unexpected HTTP {response.status_code} from WeChat Pay", response)
    path = api_path(config, request.target)  # PHP matches the request path, case-insensitively
    if unsigned_download(request.method, path):
        return response
    h = response.headers
    full = request.target.split("?", 1)[0]  # '/hk/v3/statements' is named with its base path ('hk/')
    statement = (path.lower() in _STATEMENTS or full.lower() in _STATEMENTS) and bool(h.get(STATEMENT_SHA1))
    if statement:  # the signature covers the digest header, not the file: verify_statement checks the body
        body = '{"sha1":"' + h[STATEMENT_SHA1] + '"}'
    else:
        body = response.content.decode("utf-8", "surrogateescape")
    signed = verify_signature(
        h,
        body,
        now=config.clock(),
        max_skew=config.max_clock_offset,
        keys=None if config.custom_verifier else config.certs,  # a custom verifier knows its own serials
        verifier=config.verifier,
        response=response,
    )
    if statement:
        verify_statement(response)
    return dataclasses.replace(response, verified_by=signed.serial)


def _public_key_mode_advice(serial: str) -> str:
    return (
        f"the answer is signed by the WeChat Pay public key {serial!r}, and the AutoKeyring found no platform "
        "certificate to download (v3/certificates answered 404 RESOURCE_NOT_EXISTS): this merchant uses the public "
        f"key; configure certs={{{serial!r}: Rsa.from_('file:///path/pub_key.pem', Rsa.KEY_TYPE_PUBLIC)}} "
        "instead of an AutoKeyring (the key is in the merchant platform, API security)"
    )


def v3_flow(config: Config, method: str, template: str, opts: Options, variables: Mapping[str, Any], ua: str) -> Flow:
    """Build once; per attempt: sign, `response = yield request`; return the verified response.

    With a refreshing keyring (AutoKeyring) the certificate download runs as a sub-flow through the same
    transport: when a scheduled refresh is due (a failure there only logs: the keys held still work), and
    when a response names an unknown serial (then the response is verified once more).
    """
    request, text = build_v3(config, method, template, opts, variables, ua)
    backup = backup_request(config, request)
    certs = config.certs
    if certs.due and not config.custom_verifier:
        try:
            yield from certs.refresh_flow(config, ua)
        except WeChatPayError as exc:
            _log.warning("scheduled platform certificate refresh failed: %s", exc)
    try:
        return (
            yield from attempts(
                config.retry,
                lambda: sign_v3_flow(config, request, text),
                lambda signed, response: verify_v3(config, signed, response),
                None if backup is None else lambda: sign_v3_flow(config, backup, text),
            )
        )
    except VerificationError as exc:
        if exc.probe:  # WeChat Pay's signature probe: refused as is, never a reason to refresh certificates
            raise
        response = exc.response
        serial = response.headers.get(SERIAL, "") if response is not None else ""
        public_key_mode = getattr(certs, "public_key_mode_error", None)  # an AutoKeyring's v3/certificates 404
        if public_key_mode is not None and isinstance(exc, UnknownSerialError) and exc.serial.startswith("PUB_KEY_ID_"):
            raise UnknownSerialError(_public_key_mode_advice(exc.serial), exc.serial, response) from public_key_mode
        if response is None or config.custom_verifier or not serial or serial in certs or not certs.may_refresh(serial):
            raise
        yield from certs.refresh_flow(config, ua, serial=serial)
        return verify_v3(config, request, response)
