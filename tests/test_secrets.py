"""Secrets audit: with KNOWN key material, drive every error path we can and assert that no private key (PEM or
any of its base64 lines), APIv3 key, APIv2 secret or Sensitive plaintext shows in str/repr of the error, its
`__dict__` (recursively, chained causes included), the DEBUG logs, or repr/vars dumps of public objects."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any, Callable, Dict, Iterator, List, Set

import pytest

from wechatpay_chain import AesEcb, AesGcm, Builder, Hash, Rsa, Sensitive
from wechatpay_chain.core import prepare_v3, split_options
from wechatpay_chain.errors import WeChatPayError
from wechatpay_chain.notify import parse_notification, parse_notification_v2
from wechatpay_chain.sandbox import Sandbox
from wechatpay_chain.sandbox.protocol import sign_headers

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
    from wechatpay_chain.sandbox.protocol import notification_body

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
        lambda: Rsa.from_("private.pkcs1://" + "".join(lines)),
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
