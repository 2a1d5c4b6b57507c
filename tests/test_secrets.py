"""Secrets audit: with KNOWN key material, drive every error path we can and assert that no private key (PEM or
any of its base64 lines), APIv3 key, APIv2 secret or Sensitive plaintext shows in str/repr of the error, its
`__dict__` (recursively, chained causes included), the DEBUG logs, or repr/vars dumps of public objects."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any, Callable, Dict, Iterator, List, Set, Tuple

import pytest

from wechatpay_chain import AesEcb, AesGcm, Builder, Hash, Rsa, Sensitive
from wechatpay_chain.errors import InvalidArgumentError, WeChatPayError
from wechatpay_chain.notify import parse_notification, parse_notification_v2
from wechatpay_chain.protocol._v3 import prepare_v3, split_options
from wechatpay_chain.sandbox import Sandbox
from wechatpay_chain.sandbox._protocol import sign_headers

SEED = "v3/payroll-card/authentications/pre-order-with-auth"
NAME, ID_NUMBER = "张三", "110101199003071234"
KNOWN_APIV3 = "S3cr3tAPIv3KeyS3cr3tAPIv3Key0001"
KNOWN_SECRET = "S3cr3tAPIv2SecretS3cr3tAPIv20002"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox() as box:
        box.identity = dataclasses.replace(box.identity, apiv3_key=KNOWN_APIV3, secret=KNOWN_SECRET)
        yield box


@pytest.fixture(scope="module")
def secrets(sb: Sandbox) -> Set[str]:
    pem = sb.merchant_private_key_pem
    lines = [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]
    return {pem, *lines, KNOWN_APIV3, KNOWN_SECRET, NAME, ID_NUMBER, "".join(lines)[:40]}


def dump(obj: Any, depth: int = 0, seen: Any = None) -> Iterator[str]:
    """str/repr of obj, and recursively of its __dict__ values, chained causes and exception args."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 4:
        return
    seen.add(id(obj))
    yield repr(obj)
    try:
        yield str(obj)
    except Exception:  # noqa: BLE001 - a str() that refuses is not a leak
        pass
    children: List[Any] = []
    if isinstance(obj, BaseException):
        children += [obj.__cause__, obj.__context__, *obj.args]
    if isinstance(obj, dict):
        children += list(obj.keys()) + list(obj.values())
    elif isinstance(obj, (list, tuple, set)):
        children += list(obj)
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict) and not isinstance(obj, type):
        children += list(attrs.values())
    for child in children:
        if child is not None and not isinstance(child, (str, bytes, int, float, bool)):
            yield from dump(child, depth + 1, seen)
        elif isinstance(child, (str, bytes)):
            yield repr(child)


def assert_clean(secrets: Set[str], *things: Any) -> None:
    for thing in things:
        for text in dump(thing):
            for s in secrets:
                assert s not in text, f"secret {s[:12]!r}... appears in {type(thing).__name__}: {text[:200]!r}"


@pytest.fixture(autouse=True)
def all_logs(caplog: pytest.LogCaptureFixture, secrets: Set[str]) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="wechatpay_chain")
    yield
    for record in caplog.records:
        text = record.getMessage() + (str(record.exc_info[1]) if record.exc_info else "")
        for s in secrets:
            assert s not in text, f"secret {s[:12]!r}... in a {record.levelname} log line: {text[:200]!r}"


def raised(fn: Callable[[], Any]) -> WeChatPayError:
    with pytest.raises(WeChatPayError) as info:
        fn()
    return info.value


def seed(number: str) -> Dict[str, Any]:
    return {"openid": "o1", "appid": "wxa1111111", "sub_mchid": "1900000109", "sub_appid": "wxa1111111",
            "authenticate_number": number, "project_name": "某项目", "employer_name": "某用工企业",
            "user_name": Sensitive(NAME), "id_card_number": Sensitive(ID_NUMBER),
            "employment_type": "LONG_TERM_EMPLOYMENT", "authenticate_type": "SIGN_IN"}


def config(sb: Sandbox, **overrides: Any) -> Dict[str, Any]:
    """The sandbox client config with the private key given as its PEM text (the known material)."""
    return sb.client_config(**{"privateKey": sb.merchant_private_key_pem, **overrides})


# -- configuration and options ------------------------------------------------------------------------------
def test_bad_config_of_each_kind(sb: Sandbox, secrets: Set[str]) -> None:
    pem = sb.merchant_private_key_pem
    body_lines = [ln for ln in pem.splitlines() if not ln.startswith("-----")]
    corrupted = pem.replace(body_lines[3], body_lines[3][::-1])
    bad = [
        config(sb, mchid=None),
        config(sb, privateKey=corrupted),
        config(sb, privateKey="".join(body_lines)),  # the base64 body without its armour
        config(sb, privateKey="private.pkcs8://" + "".join(body_lines)[:-8]),
        config(sb, privateKey=sb.platform_public_key_pem),
        config(sb, privateKey=(pem.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"), KNOWN_SECRET)),
        config(sb, privateKey="file:///nonexistent/apiclient_key.pem"),
        config(sb, certs={"PUB_KEY_ID_X": pem}),  # the private key where a public one belongs
        config(sb, certs={sb.merchant_serial: sb.platform_public_key_pem}),
        config(sb, apiv3_key=KNOWN_APIV3.encode()),
        config(sb, secret=123),
        config(sb, apikey=KNOWN_SECRET),  # an unknown key holding a secret
        config(sb, headers={"X-Secret": 1}),
        config(sb, timeout=-1),
        config(sb, retries={"total": -1}),
        config(sb, base_uri="ftp://x"),
    ]
    for cfg in bad:
        assert_clean(secrets, raised(lambda c=cfg: Builder.factory(c)))


def test_bad_options(sb: Sandbox, secrets: Set[str]) -> None:
    with Builder.factory(config(sb)) as client:
        node = client[SEED]
        cases: List[Callable[[], Any]] = [
            lambda: node.post(json=seed("a"), body=b"x"),
            lambda: node.post(json={**seed("a"), "bad": object()}),
            lambda: node.post(json={"a": {"b": [Sensitive(NAME)]}}, encrypt=["a.b"]),
            lambda: node.post(json={"n": 5, "user_name": Sensitive(NAME)}, encrypt=["n"]),
            lambda: node.post(json=seed("a"), secret_value=KNOWN_SECRET),
            lambda: node.post(json=seed("a"), headers={"Wechatpay-Serial": "PUB_KEY_ID_UNKNOWN"}),
            lambda: node.post(json=seed("a"), query={"k": Sensitive(NAME)}),
            lambda: node.post(json=seed("a"), timeout=0),
            lambda: client.v2.pay.orderquery.post(xml={"mch_id": "1", "name": NAME}),
            lambda: client.v2.pay.orderquery.post(xml={"mch_id": sb.mchid, "sign_type": "SHA1"}),
            lambda: client.v2.pay.orderquery.post(xml={"mch_id": sb.mchid, "nested": {"n": NAME}}),
            lambda: Sensitive(123),  # type: ignore[arg-type]
        ]
        for case in cases:
            assert_clean(secrets, raised(case))


# -- every verification failure, 4xx/5xx, transport errors, SIGN_ERROR, through both transports ------------
FAULTS = [("bad_signature", {}), ("tampered_body", {}), ("unknown_serial", {}), ("clock_skew", {"seconds": 900}),
          ("missing_header", {"name": "Wechatpay-Signature"}), ("status", {"code": 500}),
          ("status", {"code": 400}), ("non_json", {"status": 200}), ("drop", {}), ("truncate", {}),
          ("delay", {"seconds": 2.0})]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_failure_through_both_transports(sb: Sandbox, secrets: Set[str], mode: str) -> None:
    client = Builder.factory(config(sb, timeout=0.5))
    errors: List[Any] = []

    def call(number: str) -> Any:
        node = client[SEED]
        if mode == "sync":
            return node.post(json=seed(number))
        return asyncio.run(node.post_async(json=seed(number)))

    try:
        for fault, params in FAULTS:
            sb.inject(fault, path="/" + SEED, **params)
            errors.append(raised(lambda f=fault: call(f"secret-{f}")))
        ok = call("secret-ok")
        wrong_key = Builder.factory(config(sb, privateKey=Rsa.generate(2048)))  # -> 401 SIGN_ERROR, diagnosed
        if mode == "sync":
            errors.append(raised(lambda: wrong_key[SEED].post(json=seed("secret-sign"))))
        else:
            errors.append(raised(lambda: asyncio.run(wrong_key[SEED].post_async(json=seed("secret-sign")))))
        wrong_key.get_driver().close()
        refused = Builder.factory(config(sb, base_uri="http://127.0.0.1:9/", timeout=0.5))
        errors.append(raised(lambda: refused[SEED].post(json=seed("secret-refused"))))
        assert_clean(secrets, *errors, ok, client, client.get_driver().config.certs)
        assert any(getattr(e, "diagnosis", None) for e in errors)
    finally:
        sb.clear_faults()
        client.get_driver().close()


def test_sign_error_diagnosis_never_echoes_the_body(sb: Sandbox, secrets: Set[str]) -> None:
    """The service's truncated_sign_message carries the first bytes of the body; ours is ciphertext there."""
    with Builder.factory(config(sb, privateKey=Rsa.generate(2048))) as client:
        exc = raised(lambda: client[SEED].post(json={"user_name": Sensitive(NAME), "id": Sensitive(ID_NUMBER)}))
        assert "diagnosis" in vars(exc) and exc.diagnosis  # type: ignore[attr-defined]
        assert_clean(secrets, exc)


# -- notifications, v2 signatures, mTLS configuration, crypto failures ---------------------------------------
def test_notification_failures(sb: Sandbox, secrets: Set[str]) -> None:
    from wechatpay_chain.sandbox._protocol import notification_body

    certs = {sb.platform_public_key_id: sb.platform_public_key_pem}
    body = notification_body({"payer": {"name": NAME, "id": ID_NUMBER}}, KNOWN_APIV3, "2024-01-01T00:00:00+08:00")
    headers = sign_headers(sb.identity.platform_key, sb.platform_public_key_id, body, int(__import__("time").time()))
    good = parse_notification(headers, body, certs=certs, apiv3_key=KNOWN_APIV3)
    assert good["resource"]["payer"]["name"] == NAME
    wrong_key = "0" * 32
    cases: List[Callable[[], Any]] = [
        lambda: parse_notification(headers, body, certs=certs, apiv3_key=wrong_key),
        lambda: parse_notification(headers, body, certs=certs, apiv3_key=KNOWN_APIV3[:-1]),
        lambda: parse_notification({**headers, "Wechatpay-Signature": "x"}, body, certs=certs, apiv3_key=KNOWN_APIV3),
        lambda: parse_notification(headers, body + b" ", certs=certs, apiv3_key=KNOWN_APIV3),
        lambda: parse_notification({}, body, certs=certs, apiv3_key=KNOWN_APIV3),
        lambda: parse_notification_v2("<xml><a>1</a><sign>X</sign></xml>", secret=KNOWN_SECRET),
        lambda: parse_notification_v2("<xml><req_info>" + AesEcb.encrypt(NAME, Hash.md5("other-secret"))
                                      + "</req_info></xml>", secret=KNOWN_SECRET),
        lambda: parse_notification_v2("<xml><req_info>" + AesEcb.encrypt(f"<root>{NAME}", Hash.md5(KNOWN_SECRET))
                                      + "</req_info></xml>", secret=KNOWN_SECRET),
        lambda: parse_notification_v2(b"\xff", secret=KNOWN_SECRET),
    ]
    for case in cases:
        assert_clean(secrets, raised(case))


def test_v2_failures(sb: Sandbox, secrets: Set[str]) -> None:
    with Builder.factory(config(sb)) as client:
        sb.inject("tampered_body", path="/pay/orderquery")
        e1 = raised(lambda: client.v2.pay.orderquery.post(xml={"mch_id": sb.mchid, "out_trade_no": "nope"}))
        with Builder.factory(config(sb, secret="wrong-secret-wrong-secret-000000")) as wrong:
            e2 = raised(lambda: wrong.v2.pay.orderquery.post(xml={"mch_id": sb.mchid, "out_trade_no": "x"}))
        with Builder.factory(config(sb, secret=None)) as none:
            e3 = raised(lambda: none.v2.pay.orderquery.post(xml={"mch_id": sb.mchid}))
        assert_clean(secrets, e1, e2, e3)
    sb.clear_faults()


def test_mtls_config_errors(sb: Sandbox, secrets: Set[str]) -> None:
    pem = sb.merchant_private_key_pem
    merchants = [
        {"cert": None},
        {"cert": "/nonexistent/apiclient_cert.pem", "key": pem},
        {"cert": sb.platform_certificate_pem},
        {"cert": b"not a p12 at all", "key": pem},
        {"cert": sb.platform_certificate_pem, "key": "-----BEGIN ENCRYPTED PRIVATE KEY-----\nxx\n"
                                                     "-----END ENCRYPTED PRIVATE KEY-----"},
        {"cert": sb.platform_certificate_pem, "key": "-----BEGIN ENCRYPTED PRIVATE KEY-----\nxx\n"
                                                     "-----END ENCRYPTED PRIVATE KEY-----", "passphrase": KNOWN_SECRET},
        {"cert": sb.platform_certificate_pem, "key": 12},
    ]
    for merchant in merchants:
        with Builder.factory(config(sb, merchant=merchant)) as client:
            exc = raised(lambda c=client: c.v2.secapi.pay.refund.post(xml={"mch_id": sb.mchid}, security=True))
            assert_clean(secrets, exc)


def test_mtls_key_body_without_armour_is_not_echoed(sb: Sandbox, secrets: Set[str]) -> None:
    body = "".join(ln for ln in sb.merchant_private_key_pem.splitlines() if not ln.startswith("-----"))
    with Builder.factory(config(sb, merchant={"cert": sb.platform_certificate_pem, "key": body})) as client:
        exc = raised(lambda: client.v2.secapi.pay.refund.post(xml={"mch_id": sb.mchid}, security=True))
        assert_clean(secrets, exc)


def test_crypto_failures_and_bad_key_material(sb: Sandbox, secrets: Set[str]) -> None:
    pem = sb.merchant_private_key_pem
    key = sb.identity.merchant_key
    lines = [ln for ln in pem.splitlines() if not ln.startswith("-----")]
    ciphertext = Rsa.encrypt(NAME, key.public_key())
    gcm = AesGcm.encrypt(ID_NUMBER, KNOWN_APIV3, "nonce1234567", "aad")
    cases: List[Callable[[], Any]] = [
        lambda: Rsa.decrypt(ciphertext, sb.identity.platform_key),
        lambda: Rsa.decrypt(ciphertext[:-4] + "AAAA", key),
        lambda: Rsa.encrypt(NAME * 200, key.public_key()),
        lambda: AesGcm.decrypt(gcm, "1" * 32, "nonce1234567", "aad"),
        lambda: AesGcm.decrypt(gcm, KNOWN_APIV3, "nonce1234567", "other"),
        lambda: AesGcm.decrypt(gcm, KNOWN_APIV3 + "x", "nonce1234567", "aad"),
        lambda: AesEcb.decrypt(AesEcb.encrypt(NAME, KNOWN_APIV3), "2" * 32),
        lambda: Rsa.from_(pem, Rsa.KEY_TYPE_PUBLIC),
        lambda: Rsa.from_(pem.replace(lines[5], lines[5][:10])),
        lambda: Rsa.from_("private.pkcs1://" + "".join(lines)[:-20]),  # (whole, a PKCS#8 body loads, as in PHP)
        lambda: Rsa.from_pkcs8("".join(lines)[:-20]),
        lambda: Rsa.from_((pem.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"), KNOWN_SECRET)),
        lambda: Rsa.from_(pem.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")),
        lambda: Rsa.from_("\n".join(lines)),
        lambda: Rsa.from_(pem.encode("utf-16")),
        lambda: Rsa.from_((pem, KNOWN_SECRET, "extra")),
        lambda: Hash.hmac("x", KNOWN_SECRET, KNOWN_APIV3),
    ]
    for case in cases:
        assert_clean(secrets, raised(case))


# -- repr/vars of the public objects ------------------------------------------------------------------------
def test_public_objects_repr(sb: Sandbox, secrets: Set[str]) -> None:
    with Builder.factory(config(sb)) as client:
        response = client[SEED].post(json=seed("secret-repr"))
        driver = client.get_driver()
        opts, variables = split_options(SEED, {"json": seed("secret-req")})
        request = prepare_v3(driver.config, "POST", SEED, opts, variables, "ua")
        things = [client, client.v3.pay, driver, driver.config, driver.config.certs, driver.config.private_key,
                  sb.identity.merchant_key, Sensitive(NAME), [Sensitive(ID_NUMBER)], response, request]
        for thing in things:
            for s in secrets:
                assert s not in repr(thing) and s not in str(thing), (type(thing).__name__, s[:12])
        assert repr(Sensitive(NAME)) == str(Sensitive(NAME)) == "Sensitive('***')"
        assert_clean(secrets, response, request, client, driver.config.certs, Sensitive(NAME))
        assert NAME not in request.body.decode() and NAME not in request.signed  # ciphertext only


def test_public_objects_vars_dump(sb: Sandbox, secrets: Set[str]) -> None:
    with Builder.factory(config(sb)) as client:
        driver = client.get_driver()
        assert_clean(secrets, vars(driver), vars(driver.config))


# -- secrets given in the wrong place, and exception chains (`raise ... from None` still sets __context__) ----
def chain(exc: BaseException) -> List[BaseException]:
    """exc and every exception reachable through __cause__ / __context__."""
    out: List[BaseException] = []
    todo: List[Any] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is seen for seen in out):
            continue
        out.append(e)
        todo += [e.__cause__, e.__context__]
    return out


def holders(exc: BaseException, needle: Any) -> List[str]:
    """The exceptions in exc's chain whose message, repr, args or attributes hold `needle` (str: any case)."""
    found = []
    for e in chain(exc):
        texts: List[Any] = [str(e), repr(e), *e.args, *vars(e).values()]
        texts += [getattr(e, name, None) for name in ("object", "line", "errors", "doc", "filename", "message")]
        for text in list(texts):
            if isinstance(text, (list, tuple)):
                texts += [part for item in text for part in (item if isinstance(item, tuple) else (item,))]
        for text in texts:
            if isinstance(needle, str) and isinstance(text, str) and needle.lower() in text.lower():
                found.append(type(e).__name__)
            elif isinstance(needle, bytes) and isinstance(text, (bytes, bytearray)) and needle in text:
                found.append(type(e).__name__)
    return found


def test_pem_where_a_path_goes_is_refused_without_echoing_it(sb: Sandbox, secrets: Set[str], tmp_path: Any,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from wechatpay_chain.cli import main
    from wechatpay_chain.client.settings import load_config, settings_from_env

    pem = sb.merchant_private_key_pem
    body = "".join(ln for ln in pem.splitlines() if not ln.startswith("-----"))
    (tmp_path / "inline.toml").write_text(f'[wechatpay]\nmchid = "1"\nprivate_key = """{pem}"""\n')
    (tmp_path / "inline.ini").write_text("[wechatpay]\nmchid = 1\nprivate_key = " + pem.replace("\n", "\n  ") + "\n")
    (tmp_path / "certs.toml").write_text(f'[wechatpay]\nmchid = "1"\n[certs]\napiv3_key = "{KNOWN_APIV3}"\n')
    cases: List[Callable[[], Any]] = [
        lambda: settings_from_env({"WECHATPAY_MCHID": "1", "WECHATPAY_PRIVATE_KEY": pem}),
        lambda: settings_from_env({"WECHATPAY_MCHID": "1", "WECHATPAY_PRIVATE_KEY": body}),
        lambda: load_config(tmp_path / "inline.toml"),
        lambda: load_config(tmp_path / "inline.ini"),
        lambda: load_config(tmp_path / "certs.toml"),
        lambda: Rsa.from_("file://" + pem),
        lambda: Rsa.from_("file://" + body),
        lambda: Builder.factory(config(sb, privateKey="file://" + pem)),
    ]
    for case in cases:
        exc = raised(case)
        assert_clean(secrets, exc)
        assert not holders(exc, body[:40]) and not holders(exc, KNOWN_APIV3), str(exc)[:120]
    assert "looks like PEM text, not a file path" in str(raised(cases[0]))
    assert "looks like PEM text" in str(raised(cases[5]))

    for name in [n for n in __import__("os").environ if n.startswith("WECHATPAY")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WECHATPAY_MCHID", "1230000109")
    monkeypatch.setenv("WECHATPAY_SERIAL", "ABC")
    monkeypatch.setenv("WECHATPAY_PRIVATE_KEY", pem)
    monkeypatch.setenv("WECHATPAY_BASE_URI", "http://127.0.0.1:9/")
    key_file = tmp_path / "apiclient_key.pem"
    key_file.write_text(pem)
    for argv in (["doctor", "--offline"], ["request", "GET", "v3/certificates"],
                 ["certificates", "download", "-m", "1", "-s", "S", "-f", pem, "-k", KNOWN_APIV3,
                  "-u", "http://127.0.0.1:9/", "-o", str(tmp_path / "out")]):
        assert main(argv) != 0
        out, err = capsys.readouterr()
        for s in secrets:
            assert s not in out + err, (argv[0], s[:12])


def test_der_and_pkcs12_key_bytes_ride_in_no_exception_chain(sb: Sandbox, secrets: Set[str], tmp_path: Any) -> None:
    import base64

    from wechatpay_chain.client.settings import load_config

    pem = sb.merchant_private_key_pem
    der = base64.b64decode("".join(ln for ln in pem.splitlines() if not ln.startswith("-----")))
    (tmp_path / "apiclient_key.der").write_bytes(der)
    (tmp_path / "wechatpay.toml").write_text('[wechatpay]\nmchid = "1"\nprivate_key = "apiclient_key.der"\n')
    files = [tmp_path / "apiclient_key.der"]
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12
    except ImportError:  # pragma: no cover - the optional backend is absent
        pass
    else:
        import datetime as dt

        from wechatpay_chain.crypto._pem import build_certificate

        now = dt.datetime.now(dt.timezone.utc)
        own = build_certificate(subject_key=sb.identity.merchant_key, issuer_key=sb.identity.merchant_key, serial=7,
                                subject_cn=sb.mchid, not_before=now - dt.timedelta(days=1),
                                not_after=now + dt.timedelta(days=9))
        p12 = pkcs12.serialize_key_and_certificates(
            b"m", serialization.load_pem_private_key(pem.encode(), None),
            x509.load_pem_x509_certificate(own.pem.encode()), None,
            serialization.BestAvailableEncryption(sb.mchid.encode()))  # as WeChat Pay ships apiclient_cert.p12
        (tmp_path / "apiclient_cert.p12").write_bytes(p12)
        files.append(tmp_path / "apiclient_cert.p12")
    cases: List[Callable[[], Any]] = [
        lambda: Rsa.from_(der),
        lambda: Builder.factory(config(sb, privateKey=der)),
        lambda: load_config(tmp_path / "wechatpay.toml"),
        *[lambda f=f: Rsa.from_(f"file://{f}") for f in files],  # type: ignore[misc]
        *[lambda f=f: Builder.factory(config(sb, privateKey=f"file://{f}")) for f in files],  # type: ignore[misc]
    ]
    for case in cases:
        exc = raised(case)
        assert_clean(secrets, exc)
        assert not [e for e in chain(exc) if isinstance(e, UnicodeError)], str(exc)
        for f in files:
            assert not holders(exc, f.read_bytes()[200:260]), str(exc)


def test_config_file_parse_errors_name_the_line_number_only(secrets: Set[str], tmp_path: Any) -> None:
    from wechatpay_chain.client.settings import read_settings

    files = {
        "no_section.ini": f"apiv3_key = {KNOWN_APIV3}\nsecret = {KNOWN_SECRET}\n",
        "bad_line.ini": f"[wechatpay]\nmchid = 1\napiv3_key {KNOWN_APIV3}\nsecret {KNOWN_SECRET}\n",
        "twice.ini": f"[wechatpay]\napiv3_key = {KNOWN_APIV3}\napiv3_key = {KNOWN_APIV3}\n",
        "unquoted.toml": f"[wechatpay]\napiv3_key = {KNOWN_APIV3}\n",
        "unterminated.toml": f'[wechatpay]\nsecret = "{KNOWN_SECRET}\n',
        "binary.ini": f"[wechatpay]\nsecret = {KNOWN_SECRET}\n\xff",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.write_bytes(text.encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
        exc = raised(lambda p=path: read_settings(p))
        assert_clean(secrets, exc)
        assert not holders(exc, KNOWN_APIV3) and not holders(exc, KNOWN_SECRET), (name, str(exc))
        assert exc.__context__ is None and exc.__cause__ is None, name
        assert len(str(exc).splitlines()) == 1 and ("line" in str(exc) or name == "binary.ini"), str(exc)


def test_codec_errors_keep_no_value_in_the_chain(sb: Sandbox, secrets: Set[str]) -> None:
    from wechatpay_chain.paysign import decrypt_field

    key = sb.identity.merchant_key
    bad_name = NAME + "\ud800"
    gbk = NAME.encode("gbk") + ID_NUMBER.encode()
    rsa_gbk = Rsa.encrypt(gbk, key.public_key())
    gcm_gbk = AesGcm.encrypt(gbk, KNOWN_APIV3, "nonce1234567")
    sent: List[Any] = []
    client = Builder.factory(config(sb, handler=sent.append))
    threaded = Builder.factory(config(sb, handler=sent.append, crypto_threads=2))
    body = {"user_name": Sensitive(bad_name), "id_card_number": Sensitive(ID_NUMBER)}
    cases: List[Tuple[Callable[[], Any], Any]] = [
        (lambda: Rsa.encrypt(Sensitive(bad_name).reveal(), key.public_key()), NAME),
        (lambda: client[SEED].post(json=body), NAME),
        (lambda: asyncio.run(client[SEED].post_async(json=body)), NAME),
        (lambda: asyncio.run(threaded[SEED].post_async(json=body)), NAME),
        (lambda: client[SEED].post(json={"note": "x" + bad_name}), NAME),  # a plain field: InvalidArgumentError
        (lambda: client[SEED].post(body='{"n":"' + bad_name + '"}'), NAME),
        (lambda: client["v3/x/{id}"].get(id=bad_name), NAME),
        (lambda: AesGcm.decrypt("A" * 40, KNOWN_APIV3 + "\ud800", "n" * 12), KNOWN_APIV3),
        (lambda: AesGcm.encrypt(bad_name, KNOWN_APIV3, "nonce1234567"), NAME),
        (lambda: Hash.sign("MD5", "a=1", KNOWN_SECRET + "\ud800"), KNOWN_SECRET),
        (lambda: Hash.sign("HMAC-SHA256", "a=1", KNOWN_SECRET + "\ud800"), KNOWN_SECRET),
        (lambda: parse_notification_v2("<xml><a>1</a><sign>X</sign></xml>", secret=KNOWN_SECRET + "\ud800"),
         KNOWN_SECRET),
        (lambda: parse_notification({}, '{"n":"' + bad_name + '"}', certs={"S": sb.platform_public_key_pem},
                                    apiv3_key=KNOWN_APIV3), NAME),
        (lambda: decrypt_field(rsa_gbk, key), ID_NUMBER.encode()),
        (lambda: AesGcm.decrypt(gcm_gbk, KNOWN_APIV3, "nonce1234567"), ID_NUMBER.encode()),
    ]
    for case, needle in cases:
        exc = raised(case)
        assert_clean(secrets, exc)
        assert not holders(exc, needle), (str(exc), holders(exc, needle))
        assert not [e for e in chain(exc) if isinstance(e, UnicodeError)], str(exc)
    assert not sent


def test_hmac_with_the_key_where_the_algorithm_goes_echoes_none_of_it(secrets: Set[str]) -> None:
    exc = raised(lambda: Hash.hmac("appid=wx1&mch_id=1", "sha256", KNOWN_SECRET))  # PHP's hash_hmac order
    assert_clean(secrets, exc)
    for i in range(len(KNOWN_SECRET) - 15):
        assert not holders(exc, KNOWN_SECRET[i:i + 16]), (KNOWN_SECRET[i:i + 16], holders(exc, KNOWN_SECRET[i:i + 16]))
    assert "sha256" in str(exc)  # it says what would work
    assert Hash.hmac("a=1", KNOWN_SECRET, "SHA512") == Hash.hmac("a=1", KNOWN_SECRET, "sha512")


def test_settings_and_merchant_hold_their_secrets_wrapped(sb: Sandbox, secrets: Set[str]) -> None:
    import pickle

    from wechatpay_chain.client.settings import settings_from_env
    from wechatpay_chain.protocol.v2 import merchant_cert

    settings = settings_from_env({"WECHATPAY_MCHID": "1", "WECHATPAY_APIV3_KEY": KNOWN_APIV3,
                                  "WECHATPAY_SECRET": KNOWN_SECRET})
    for text in (repr(settings), str(vars(settings)), str(dataclasses.asdict(settings))):
        assert KNOWN_APIV3 not in text and KNOWN_SECRET not in text, text
    with pytest.raises(TypeError):
        pickle.dumps(settings)
    factory = settings.factory_config()
    assert factory["apiv3_key"] == KNOWN_APIV3 and factory["secret"] == KNOWN_SECRET

    pem = sb.merchant_private_key_pem
    lines = [ln for ln in pem.splitlines() if not ln.startswith("-----")]
    for merchant in ({"cert": sb.platform_certificate_pem, "key": pem, "passphrase": KNOWN_SECRET},
                     {"cert": (sb.platform_certificate_pem, KNOWN_SECRET), "key": (pem, KNOWN_SECRET)}):
        with Builder.factory(config(sb, secret=None, apiv3_key=None, merchant=merchant)) as client:
            cfg = client.get_driver().config
            for text in (str(vars(cfg)), repr(cfg.merchant), str(dataclasses.asdict(cfg)),
                         str(vars(client.get_driver()))):
                assert KNOWN_SECRET not in text and not any(ln in text for ln in lines), text[:200]
            with pytest.raises(TypeError):
                pickle.dumps(cfg.merchant)
            _, key_file = merchant_cert(cfg)  # unwrapped where the key file is made
            with open(key_file) as fh:
                assert fh.read() == pem


def test_a_sign_type_typo_leaves_the_secret_in_no_frame(sb: Sandbox, secrets: Set[str]) -> None:
    import traceback

    with Builder.factory(config(sb)) as client:
        exc = raised(lambda: client.v2.pay.orderquery.post(xml={"mch_id": sb.mchid, "sign_type": "SHA1"}))
    assert "SHA1" in str(exc)
    te: Any = traceback.TracebackException.from_exception(exc, capture_locals=True)
    while te is not None:
        for frame in te.stack:
            for name, value in (frame.locals or {}).items():
                assert KNOWN_SECRET not in value, f"{frame.name}():{name}"
        te = te.__cause__ or te.__context__


def test_a_sensitive_value_in_an_apiv2_body_is_refused_before_io(sb: Sandbox, secrets: Set[str]) -> None:
    sent: List[Any] = []
    with Builder.factory(config(sb, handler=sent.append)) as client:
        for fields in ({"mch_id": sb.mchid, "name": Sensitive(NAME)},):
            exc = raised(lambda f=fields: client.v2.pay.orderquery.post(xml=f))
            assert isinstance(exc, InvalidArgumentError)
            assert "Sensitive" in str(exc) and "no automatic field encryption" in str(exc), str(exc)
            assert_clean(secrets, exc)
        exc = raised(lambda: client.v2.pay.orderquery.get(query={"mch_id": sb.mchid, "name": Sensitive(NAME)}))
        assert "no automatic field encryption" in str(exc)
    assert not sent


def test_a_secret_typed_as_sign_type_or_mch_id_is_not_echoed() -> None:
    """Those fields are echoed in their errors; a 32-character key typed there would be too."""
    from wechatpay_chain.notify import parse_notification_v2 as parse_v2
    from wechatpay_chain.protocol._transformer import Transformer

    secret = "ABCDEFGHijklmnopQRSTUVWXyz012345"
    handler = lambda request: None  # noqa: E731 - never reached
    client = Builder.factory({"mchid": "1230000109", "secret": secret, "handler": handler})
    for xml in ({"mch_id": "1230000109", "sign_type": secret}, {"mch_id": secret}):
        with pytest.raises(InvalidArgumentError) as info:
            client.v2.pay.micropay.post(xml=xml)
        assert secret not in str(info.value) and "not shown" in str(info.value)
    body = Transformer.to_xml({"return_code": "SUCCESS", "sign_type": secret, "sign": "X" * 32})
    with pytest.raises(WeChatPayError) as caught:
        parse_v2(body, secret=secret)
    assert secret not in str(caught.value)


def test_an_xml_document_rides_in_no_exception_chain() -> None:
    """A reply or notification body that is not UTF-8 (or not XML) held the whole document in __context__."""
    from wechatpay_chain.protocol._transformer import Transformer

    secretish = b"<xml><bank_no>6222020202020202</bank_no><x>\xff</x></xml>"
    for body in (secretish, secretish.replace(b"\xff", b"<"), b"<xml><a>6222020202020202</b></xml>"):
        with pytest.raises(InvalidArgumentError) as info:
            Transformer.to_array(body)
        assert not holders(info.value, b"6222020202020202") and not holders(info.value, "6222020202020202")
