"""`wechatpay-chain certificates download` and `request`, and the helpers `doctor` shares (cli_doctor).

Each failure is one line on stderr (no traceback, never a key); progress for network steps goes to
stderr too, so stdout carries only the result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, TextIO, Tuple

from wechatpay_chain.client._chain import Builder
from wechatpay_chain.client._config import DEFAULT_BASE_URI, DEFAULT_TIMEOUT, build_config, user_agent
from wechatpay_chain.client._driver import run
from wechatpay_chain.client.settings import ENVIRONMENT, parse_timeout, read_settings, settings_from_env
from wechatpay_chain.crypto._pem import PemUtil
from wechatpay_chain.crypto._rsa import Rsa
from wechatpay_chain.crypto._symmetric import check_apiv3_key
from wechatpay_chain.errors import (
    ApiError,
    DecryptionError,
    InvalidArgumentError,
    TransportError,
    VerificationError,
    WeChatPayError,
)
from wechatpay_chain.keys._auto_keyring import write_certificates
from wechatpay_chain.keys._certificates import certificates_flow
from wechatpay_chain.keys._keyring import Keyring

__all__ = [
    "add_certificates",
    "cmd_certificates",
    "add_request",
    "cmd_request",
    "one_line",
    "say",
    "fetch",
    "load_settings",
    "ENV_HELP",
    "DOWNLOAD_EXIT",
    "REQUEST_EXIT",
]

DOWNLOAD_EXIT = "exit codes: 0 saved; 1 download, decryption or verification failed (nothing written); 2 usage"
REQUEST_EXIT = (
    "exit codes: 0 HTTP 2xx; 1 API error (4xx/5xx, APIv2 FAIL); 2 usage or config error; "
    "3 verification or transport error (a timeout too)"
)
ENV_HELP = (
    "without --config: WECHATPAY_MCHID, WECHATPAY_SERIAL, WECHATPAY_PRIVATE_KEY (path), WECHATPAY_CERTS "
    "('SERIAL=path,...'), WECHATPAY_APIV3_KEY, WECHATPAY_SECRET, WECHATPAY_BASE_URI, "
    "WECHATPAY_MERCHANT_CERTIFICATE (path), WECHATPAY_TIMEOUT (seconds or 'CONNECT,READ')"
)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def say(message: str) -> None:
    print(f"wechatpay-chain: {message}", file=sys.stderr, flush=True)


def fetch(config: Any, flow_of: Any) -> Any:
    """Run a flow over a fresh requests transport (closed afterwards)."""
    from wechatpay_chain.transports._requests import RequestsTransport  # requests loads on first use

    transport = RequestsTransport(config.transport_options)
    try:
        return run(flow_of(user_agent(transport.user_agent)), transport.send)
    finally:
        transport.close()


# -- certificates download --------------------------------------------------------------------------
def add_certificates(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    dl = sub.add_parser(
        "download",
        help="download, decrypt and verify the platform certificates (PHP's CertificateDownloader)",
        description="Download v3/certificates, decrypt each with the APIv3 key, verify the answer, then write "
        "wechatpay_<SERIAL>.pem per certificate into the output directory.",
        epilog=DOWNLOAD_EXIT,
    )
    dl.add_argument("-m", "--mchid", required=True, help="merchant id (商户号)")
    dl.add_argument("-s", "--serialno", required=True, help="merchant certificate serial (商户证书的序列号)")
    dl.add_argument("-f", "--privatekey", required=True, metavar="FILE",
                    help="merchant private key file (商户的私钥文件)")
    dl.add_argument("-k", "--key", required=True, help="APIv3 key (APIv3密钥)")
    dl.add_argument("-o", "--output", metavar="DIR",
                    help="directory to save into (default: a private directory under the system temp dir)")
    dl.add_argument("-u", "--baseuri", default=DEFAULT_BASE_URI, help=f"endpoint (default {DEFAULT_BASE_URI})")
    dl.add_argument("-c", "--certificate", action="append", metavar="CERT",
                    help="a platform certificate already trusted, or PUB_KEY_ID_...=pub_key.pem: the answer must "
                    "verify with it instead of with a downloaded certificate (repeatable)")
    parser.set_defaults(certificates_parser=parser)


def _private_dir() -> Path:
    """PHP's createPrivateDir: <tmp>/wechatpay-<uid>, owned by us and not writable by others."""
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    path = Path(tempfile.gettempdir()) / f"wechatpay-{uid if uid is not None else os.urandom(8).hex()}"
    try:
        path.mkdir(mode=0o755)
    except FileExistsError:
        st = path.lstat()
        if not path.is_dir() or path.is_symlink() or st.st_mode & 0o022 or (uid is not None and st.st_uid != uid):
            raise InvalidArgumentError(f"refused to reuse {path}: not our private directory; give -o DIR") from None
    say(f"the certificate(s) will be saved into the private directory {path}")
    return path


def cmd_certificates(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) != "download":
        args.certificates_parser.print_help(sys.stderr)
        return 2
    try:
        check_apiv3_key(args.key, "the APIv3 key (-k)")
        trusted: Dict[str, Any] = {}
        for item in args.certificate or ():
            name, sep, path = item.partition("=")
            if sep and name.startswith("PUB_KEY_ID_"):
                trusted[name] = Rsa.from_(_file_url(path), Rsa.KEY_TYPE_PUBLIC)
            else:
                cert = PemUtil.load_certificate(item)
                trusted[cert.serial_no] = cert
        config = build_config({
            "mchid": args.mchid,
            "serial": args.serialno,
            "privateKey": Rsa.from_(_file_url(args.privatekey), Rsa.KEY_TYPE_PRIVATE),
            "certs": Keyring(),
            "apiv3_key": args.key,
            "base_uri": args.baseuri,
        })
        say(f"downloading {config.base_uri}v3/certificates ...")
        download = fetch(config, lambda ua: certificates_flow(config, ua, trusted=trusted, self_signed=not trusted))
        output = Path(args.output) if args.output else _private_dir()
        saved = write_certificates(output, download.certificates)
    except (WeChatPayError, OSError) as exc:
        return _fail("certificates download", exc)
    for cert in download.skipped:
        say(f"skipped certificate {cert.serial_no}: outside its validity window "
             f"({cert.not_before.isoformat()} .. {cert.not_after.isoformat()})")
    for index, (cert, path) in enumerate(zip(download.certificates, saved)):
        print(f"Certificate #{index} {{")
        print(f"    Serial Number: {cert.serial_no}")
        print(f"    Not Before: {cert.not_before.isoformat()}")
        print(f"    Not After: {cert.not_after.isoformat()}")
        print(f"    Saved to: {path}")
        print(f"    You may confirm it with: openssl x509 -in {path} -noout -serial -dates")
        print("}")
    return 0


def _fail(what: str, exc: BaseException, code: int = 1) -> int:
    if isinstance(exc, OSError) and not isinstance(exc, WeChatPayError):
        say(f"{what}: {exc.strerror or type(exc).__name__}{f': {exc.filename}' if exc.filename else ''}")
    else:
        say(f"{what}: {one_line(exc)}")
    return code


# -- request ----------------------------------------------------------------------------------------
def add_request(parser: argparse.ArgumentParser) -> None:
    parser.epilog = f"{REQUEST_EXIT}. {ENV_HELP}."
    parser.add_argument("method", metavar="METHOD", type=str.upper,
                        choices=("GET", "POST", "PUT", "PATCH", "DELETE"), help="GET, POST, PUT, PATCH or DELETE")
    parser.add_argument("uri", metavar="URI", help="e.g. v3/pay/transactions/id/4200... or v2/pay/orderquery; "
                        "sent as given: capitals and %%XX escapes are kept (no chain normalisation), "
                        "no {template} variables")
    parser.add_argument("--json", metavar="JSON|@FILE", help="the JSON body (APIv3)")
    parser.add_argument("--xml", metavar="JSON|@FILE", help="the APIv2 fields as a JSON object (sent as signed XML)")
    parser.add_argument("--query", action="append", metavar="K=V|JSON", help="query parameters (repeatable)")
    parser.add_argument("--header", action="append", metavar="K:V", help="an extra request header (repeatable)")
    parser.add_argument("--security", action="store_true",
                        help="APIv2: send the merchant certificate (mTLS); needs merchant_certificate and "
                        "private_key (WECHATPAY_MERCHANT_CERTIFICATE, WECHATPAY_PRIVATE_KEY)")
    parser.add_argument("--timeout", metavar="SECONDS|CONNECT,READ",
                        help="give up after this many seconds (e.g. 5, or 3,10 for connect and read); default: the "
                        f"config's `timeout` (WECHATPAY_TIMEOUT), else {DEFAULT_TIMEOUT[0]:g},{DEFAULT_TIMEOUT[1]:g}")
    parser.add_argument("--config", metavar="FILE", help="credentials file (TOML or INI); default: environment")


def _document(text: str, what: str) -> Any:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise InvalidArgumentError(f"{what}: cannot read {text[1:]!r}: {reason}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidArgumentError(f"{what} is not valid JSON: {exc}") from None


def _options(args: argparse.Namespace) -> Dict[str, Any]:
    options: Dict[str, Any] = {}
    if args.json is not None:
        options["json"] = _document(args.json, "--json")
    if args.xml is not None:
        xml = _document(args.xml, "--xml")
        if not isinstance(xml, dict):
            raise InvalidArgumentError("--xml must be a JSON object of the APIv2 fields")
        options["xml"] = {k: v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)
                          for k, v in xml.items()}
    if args.security:
        options["security"] = True
    if args.timeout is not None:
        options["timeout"] = parse_timeout(args.timeout, "--timeout")
    query = _query(args.query or ())
    if query:
        options["query"] = query
    headers = _headers(args.header or ())
    if headers:
        options["headers"] = headers
    return options


def _query(items: Sequence[str]) -> Dict[str, Any]:
    query: Dict[str, Any] = {}
    for item in items:
        if item.lstrip().startswith("{"):
            doc = _document(item, "--query")
            if not isinstance(doc, dict):
                raise InvalidArgumentError("--query JSON must be an object")
            query.update(doc)
        else:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise InvalidArgumentError(f"--query {item!r}: expected K=V or a JSON object")
            query[key] = value
    return query


def _headers(items: Sequence[str]) -> Dict[str, str]:
    headers: Dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise InvalidArgumentError(f"--header {item!r}: expected K:V")
        headers[key.strip()] = value.strip()
    return headers


def _literal_path(uri: str) -> Tuple[str, str]:
    """(chain key, its `path` variable) that send `uri` as given: PHP's FAQ form `client['{+path}']`, whose
    reserved expansion keeps capitals, `/`, `?` and %XX escapes, where `client.chain(uri)` would apply the chain's
    segment normalisation (`CLI-1` -> `c-l-i-1`). A `v2/` prefix stays in the key: it routes to APIv2."""
    path = uri.lstrip("/")
    if "{" in path or "}" in path:
        raise InvalidArgumentError(
            "the URI has a '{' or '}': the CLI sends the path as given and takes no URI-template variables; "
            "write the value itself into the path (a literal brace as %7B or %7D)"
        )
    prefix = path[:3] if path[:3].lower() == "v2/" else ""
    return prefix + "{+path}", path[len(prefix):]


_ENV_OF = {setting: variable for variable, setting in ENVIRONMENT.items()}
_MTLS_FILES = (("merchant_certificate", "apiclient_cert.pem"), ("private_key", "apiclient_key.pem"))


def _check_security(settings: Any) -> None:
    """`--security` (APIv2 mTLS) needs the merchant certificate and its key, named as this CLI user sets them: the
    config-file keys with --config (the environment is not read then), else the WECHATPAY_* variables."""
    missing = [(name, file) for name, file in _MTLS_FILES if getattr(settings, name) is None]
    if not missing:
        return
    keys = " and ".join(f"`{name} = /path/{file}`" for name, file in missing)
    if settings.source == "environment":
        variables = " and ".join(f"{_ENV_OF[name]}=/path/{file}" for name, file in missing)
        where = f"set {variables} (or give --config FILE with {keys} under [wechatpay])"
    else:
        where = f"set {keys} under [wechatpay] in {settings.source}"
    raise InvalidArgumentError(f"--security (APIv2 mTLS) needs the merchant certificate and its key: {where}")


def load_settings(path: Optional[str]) -> Any:
    return read_settings(path) if path else settings_from_env()


def _print_response(response: Any, out: TextIO) -> None:
    print(f"HTTP {response.status_code} {response.reason}".rstrip(), file=out)
    if response.request_id:
        print(f"Request-ID: {response.request_id}", file=out)
    if not response.content:
        return
    body: Any
    ctype = response.headers.get("Content-Type", "")
    try:
        body = response.json()
    except ValueError:
        if "xml" in ctype or response.content.lstrip().startswith(b"<xml"):
            from wechatpay_chain.protocol._transformer import Transformer  # the XML parser loads on first use

            try:
                body = Transformer.to_array(response.text)
            except Exception:
                body = None
        else:
            body = None
    print(json.dumps(body, ensure_ascii=False, indent=2) if body is not None else response.text, file=out)


def cmd_request(args: argparse.Namespace) -> int:
    try:
        options = _options(args)
        key, options["path"] = _literal_path(args.uri)
        settings = load_settings(args.config)
        if args.security and key.startswith(("v2/", "V2/")):  # APIv3 calls take no client certificate
            _check_security(settings)
        client = Builder.factory(settings.factory_config())
    except InvalidArgumentError as exc:
        return _fail("request", exc, 2)
    driver = client.get_driver()
    say(f"{args.method} {driver.config.base_uri}{args.uri.lstrip('/')} ...")
    try:
        response = getattr(client[key], args.method.lower())(options)
    except ApiError as exc:
        if exc.response is not None:
            _print_response(exc.response, sys.stdout)
        detail = f" detail={json.dumps(exc.detail, ensure_ascii=False)}" if exc.detail is not None else ""
        return _fail("request", WeChatPayError(f"{exc}{detail}"))
    except InvalidArgumentError as exc:
        return _fail("request", exc, 2)
    except (VerificationError, TransportError, DecryptionError, WeChatPayError) as exc:
        return _fail("request", exc, 3)
    finally:
        driver.close()
    _print_response(response, sys.stdout)
    return 0


def _file_url(path: str) -> str:
    """A path or a file:// URL (PHP's file_get_contents takes both) as the file:// URL Rsa.from_ reads."""
    return path if path.startswith("file://") else "file://" + path
