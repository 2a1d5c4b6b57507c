"""Port of PHP's tests/Crypto/RsaTest.php, plus openssl known-answer vectors and secret hygiene."""

from __future__ import annotations

import base64
import copy
import functools
import json
import pickle
import re
import secrets
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from tests.keys import (
    CRYPTO_FIXTURES,
    mock_contents,
    mock_path,
    mock_text,
    openssl,
    platform_certificate,
    requires_openssl,
)
from wechatpay_chain.crypto._pem import PemUtil
from wechatpay_chain.crypto._rsa import Rsa, RsaKey
from wechatpay_chain.errors import DecryptionError, InvalidArgumentError

pytestmark = requires_openssl

BASE64_EXPRESSION = re.compile(r"^[a-zA-Z0-9+/]+={0,2}$")
VECTORS = json.loads((CRYPTO_FIXTURES / "vectors.json").read_text(encoding="utf-8"))
FIXED_PKCS8 = (CRYPTO_FIXTURES / "rsa.pkcs8.key").read_text()


def random_text(n: int) -> str:
    """PHP feeds random_bytes(n); our decrypt returns UTF-8 text, so feed n random text bytes."""
    return secrets.token_urlsafe(n)[:n]


def test_class_constants() -> None:
    assert isinstance(Rsa.KEY_TYPE_PRIVATE, str) and isinstance(Rsa.KEY_TYPE_PUBLIC, str)
    assert Rsa.backend in ("cryptography", "pycryptodome")


def test_from_pkcs8() -> None:
    thing = mock_contents("pkcs8", "key")
    assert BASE64_EXPRESSION.match(thing)
    assert isinstance(Rsa.from_pkcs8(thing), RsaKey)


def key_phrases() -> Dict[str, Tuple[Any, str]]:
    """PHP's keyPhrasesDataProvider, in the same order; key objects become RsaKey/Certificate."""
    pri, pub = Rsa.KEY_TYPE_PRIVATE, Rsa.KEY_TYPE_PUBLIC
    pkcs1, pkcs8, spki, crt = (
        f"file://{mock_path('pkcs1', 'key')}",
        f"file://{mock_path('pkcs8', 'key')}",
        f"file://{mock_path('spki', 'pem')}",
        f"file://{mock_path('sha256', 'crt')}",
    )
    encrypted = f"file://{mock_path('encrypted.pkcs8', 'key')}"
    pwd = mock_text("pwd", "txt").rstrip()
    return {
        "`private.pkcs1://` string": ("private.pkcs1://" + mock_contents("pkcs1", "key"), pri),
        "`private.pkcs8://` string": ("private.pkcs8://" + mock_contents("pkcs8", "key"), pri),
        "`public.spki://` string": ("public.spki://" + mock_contents("spki", "pem"), pub),
        "`public.pkcs1://` string": ("public.pkcs1://" + mock_contents("pkcs1", "pem"), pub),
        "`file://` PKCS#1 privateKey path string": (pkcs1, pri),
        "RsaKey(private)1": (Rsa.from_(pkcs1), pri),
        "PKCS#1 privateKey contents": (mock_text("pkcs1", "key"), pri),
        "RsaKey(private)2": (Rsa.from_(mock_text("pkcs1", "key")), pri),
        "`file://` PKCS#8 privateKey path string": (pkcs8, pri),
        "RsaKey(private)3": (Rsa.from_(pkcs8), pri),
        "PKCS#8 privateKey contents": (mock_text("pkcs8", "key"), pri),
        "RsaKey(private)4": (Rsa.from_(mock_text("pkcs8", "key")), pri),
        "`file://` SPKI publicKey path string": (spki, pub),
        "RsaKey(public)1": (Rsa.from_(spki, pub), pub),
        "SKPI publicKey contents": (mock_text("spki", "pem"), pub),
        "RsaKey(public)2": (Rsa.from_(mock_text("spki", "pem"), pub), pub),
        "pkcs1 publicKey contents": (mock_text("pkcs1", "pem"), pub),
        "`file://` x509 certificate string": (crt, pub),
        "x509 certificate contents string": (mock_text("sha256", "crt"), pub),
        "Certificate": (PemUtil.load_certificate(crt), pub),
        "`file://` PKCS#8 encrypted privateKey": ((encrypted, pwd), pri),
        "PKCS#8 encrypted privateKey contents": ((mock_text("encrypted.pkcs8", "key"), pwd), pri),
        "bytes PKCS#8 privateKey contents": (mock_text("pkcs8", "key").encode(), pri),
        "[contents, passphrase] list": ([mock_text("encrypted.pkcs8", "key"), pwd.encode()], pri),
    }


PHRASE_NAMES = [
    "`private.pkcs1://` string", "`private.pkcs8://` string", "`public.spki://` string",
    "`public.pkcs1://` string", "`file://` PKCS#1 privateKey path string", "RsaKey(private)1",
    "PKCS#1 privateKey contents", "RsaKey(private)2", "`file://` PKCS#8 privateKey path string",
    "RsaKey(private)3", "PKCS#8 privateKey contents", "RsaKey(private)4",
    "`file://` SPKI publicKey path string", "RsaKey(public)1", "SKPI publicKey contents", "RsaKey(public)2",
    "pkcs1 publicKey contents", "`file://` x509 certificate string", "x509 certificate contents string",
    "Certificate", "`file://` PKCS#8 encrypted privateKey", "PKCS#8 encrypted privateKey contents",
    "bytes PKCS#8 privateKey contents", "[contents, passphrase] list",
]


@functools.cache
def phrases() -> Dict[str, Tuple[Any, str]]:
    found = key_phrases()
    assert list(found) == PHRASE_NAMES
    return found


@pytest.mark.parametrize("name", PHRASE_NAMES)
def test_from(name: str) -> None:
    thing, kind = phrases()[name]
    key = Rsa.from_(thing, kind)
    assert isinstance(key, RsaKey)
    assert key.is_private is (kind == Rsa.KEY_TYPE_PRIVATE)
    assert key.public_key() == Rsa.from_(f"file://{mock_path('spki', 'pem')}", Rsa.KEY_TYPE_PUBLIC)


def test_pkcs1_to_spki() -> None:
    spki, pkcs1 = phrases()["`public.spki://` string"][0], phrases()["`public.pkcs1://` string"][0]
    assert spki.startswith("public.spki://") and pkcs1.startswith("public.pkcs1://")
    assert spki[14:] == Rsa.pkcs1_to_spki(pkcs1[15:])
    assert Rsa.pkcs1_to_spki(pkcs1[15:].encode()) == spki[14:]


@pytest.mark.parametrize("kind, suffix, is_public", [("pkcs1", "key", False), ("pkcs1", "pem", True)])
def test_from_pkcs1(kind: str, suffix: str, is_public: bool) -> None:
    thing = mock_contents(kind, suffix)
    assert BASE64_EXPRESSION.match(thing)
    key = Rsa.from_pkcs1(thing, is_public)
    assert key.is_private is not is_public
    assert Rsa.from_pkcs1(thing, Rsa.KEY_TYPE_PUBLIC if is_public else Rsa.KEY_TYPE_PRIVATE) == key


def test_from_spki() -> None:
    thing = mock_contents("spki", "pem")
    assert BASE64_EXPRESSION.match(thing)
    assert not Rsa.from_spki(thing).is_private


def keys_provider() -> Dict[str, Tuple[str, Callable[[], Any], Callable[[], Any]]]:
    """PHP's keysProvider: (plaintext, publicKey, privateKey); keys resolved lazily."""
    p = phrases
    pri, pub = Rsa.KEY_TYPE_PRIVATE, Rsa.KEY_TYPE_PUBLIC
    spki = lambda: Rsa.from_spki(p()["`public.spki://` string"][0][14:])  # noqa: E731
    pub_pkcs1 = lambda: Rsa.from_pkcs1(p()["`public.pkcs1://` string"][0][15:], True)  # noqa: E731
    pri_pkcs1 = lambda: Rsa.from_pkcs1(p()["`private.pkcs1://` string"][0][16:])  # noqa: E731
    pri_pkcs8 = lambda: Rsa.from_pkcs8(p()["`private.pkcs8://` string"][0][16:])  # noqa: E731
    pub7 = lambda: Rsa.from_(p()["pkcs1 publicKey contents"][0], pub)  # noqa: E731
    pub3 = lambda: p()["`file://` SPKI publicKey path string"][0]  # noqa: E731
    pub5 = lambda: p()["SKPI publicKey contents"][0]  # noqa: E731
    keys: Dict[str, Tuple[str, Callable[[], Any], Callable[[], Any]]] = {
        "plaintext, `public.spki://`, `private.pkcs1://`": (random_text(8), spki, pri_pkcs1),
        "plaintext, `public.spki://`, `private.pkcs8://`": (random_text(16), spki, pri_pkcs8),
        "plaintext, `public.pkcs1://`, `private.pkcs1://`": (random_text(24), pub_pkcs1, pri_pkcs1),
        "plaintext, `public.pkcs1://`, `private.pkcs8://`": (random_text(32), pub_pkcs1, pri_pkcs8),
        "plaintext, `pkcs#1 pubkey content`, `private.pkcs1://`": (random_text(40), pub7, pri_pkcs1),
        "plaintext, `pkcs#1 pubkey content`, `private.pkcs8://`": (random_text(48), pub7, pri_pkcs8),
        "txt, `SPKI file://pubkey`, [`file://`,``] privateKey": (
            random_text(64), pub3, lambda: (p()["`file://` PKCS#1 privateKey path string"][0], "")),
        "txt, `SPKI pubkey content`, [`contents`,``] privateKey": (
            random_text(72), pub5, lambda: (p()["PKCS#1 privateKey contents"][0], "")),
        "str, `SPKI file://pubkey`, [`file://`privateKey, pwd]": (
            random_text(64), pub3, lambda: p()["`file://` PKCS#8 encrypted privateKey"][0]),
        "str, `SPKI pubkey content`, [`encrypted contents`,pwd]": (
            random_text(72), pub5, lambda: p()["PKCS#8 encrypted privateKey contents"][0]),
        "hello wechatpay 你好 微信支付": ("hello wechatpay 你好 微信支付", spki, pri_pkcs8),
    }
    pubs = ["`file://` SPKI publicKey path string", "RsaKey(public)1", "SKPI publicKey contents",
            "RsaKey(public)2", "`file://` x509 certificate string", "x509 certificate contents string",
            "Certificate"]
    pris = PHRASE_NAMES[4:12]
    pris += ["`file://` PKCS#8 encrypted privateKey", "PKCS#8 encrypted privateKey contents"]
    for i, pub_name in enumerate(pubs):
        for j, pri_name in enumerate(pris):
            keys[f"plaintext, publicKey{i}, privateKey{j}"] = (
                random_text(56),
                functools.partial(lambda n: Rsa.from_(p()[n][0], pub), pub_name),
                functools.partial(lambda n: Rsa.from_(p()[n][0], pri), pri_name),
            )
    return keys


KEYS = keys_provider()


@pytest.mark.parametrize("name", list(KEYS))
def test_encrypt_decrypt_sign_verify(name: str) -> None:
    plaintext, public_key, private_key = KEYS[name][0], KEYS[name][1](), KEYS[name][2]()
    ciphertext = Rsa.encrypt(plaintext, public_key)
    assert isinstance(ciphertext, str) and ciphertext != plaintext
    assert BASE64_EXPRESSION.match(ciphertext)
    assert Rsa.decrypt(ciphertext, private_key) == plaintext
    signature = Rsa.sign(plaintext, private_key)
    assert isinstance(signature, str) and signature != plaintext
    assert BASE64_EXPRESSION.match(signature)
    assert Rsa.verify(plaintext, signature, public_key) is True


@pytest.mark.parametrize(
    "encrypt_padding, decrypt_padding, ok",
    [
        (Rsa.OPENSSL_PKCS1_OAEP_PADDING, Rsa.OPENSSL_PKCS1_PADDING, False),
        (Rsa.OPENSSL_PKCS1_PADDING, Rsa.OPENSSL_PKCS1_OAEP_PADDING, False),
        (Rsa.OPENSSL_PKCS1_OAEP_PADDING, Rsa.OPENSSL_PKCS1_OAEP_PADDING, True),
        (Rsa.OPENSSL_PKCS1_PADDING, Rsa.OPENSSL_PKCS1_PADDING, False),
        (Rsa.OAEP, Rsa.OAEP, True),
        (Rsa.OAEP, Rsa.OPENSSL_PKCS1_OAEP_PADDING, True),
        (True, Rsa.OAEP, False),
        ("PKCS1", Rsa.OAEP, False),
    ],
)
def test_cross_encrypt_decrypt_with_different_padding(encrypt_padding: Any, decrypt_padding: Any, ok: bool) -> None:
    """PHP 1.4.12 accepts only OPENSSL_PKCS1_OAEP_PADDING(4); PKCS#1 v1.5 is refused up front."""
    plaintext = random_text(32)
    public_key = phrases()["SKPI publicKey contents"][0]
    private_key = phrases()["RsaKey(private)3"][0]
    if ok:
        ciphertext = Rsa.encrypt(plaintext, public_key, encrypt_padding)
        assert Rsa.decrypt(ciphertext, private_key, decrypt_padding) == plaintext
        return
    with pytest.raises(InvalidArgumentError, match="OPENSSL_PKCS1_OAEP_PADDING"):
        Rsa.decrypt(Rsa.encrypt(plaintext, public_key, encrypt_padding), private_key, decrypt_padding)


# ---- known answers from the openssl CLI (tests/fixtures/crypto/make_vectors.py) ----

FIXED_KEYS = {
    "pkcs8": lambda: Rsa.from_(FIXED_PKCS8),
    "pkcs1": lambda: Rsa.from_(f"file://{CRYPTO_FIXTURES / 'rsa.pkcs1.key'}"),
}
FIXED_PUBLIC = {
    "spki": lambda: Rsa.from_((CRYPTO_FIXTURES / "rsa.spki.pem").read_text(), Rsa.KEY_TYPE_PUBLIC),
    "pkcs1": lambda: Rsa.from_(f"file://{CRYPTO_FIXTURES / 'rsa.pkcs1.pem'}", Rsa.KEY_TYPE_PUBLIC),
}


@pytest.mark.parametrize("vector", VECTORS["sign"], ids=lambda v: repr(v["message"][:12]))
@pytest.mark.parametrize("key_form", list(FIXED_KEYS))
def test_sign_matches_openssl_byte_for_byte(vector: Dict[str, str], key_form: str) -> None:
    assert Rsa.sign(vector["message"], FIXED_KEYS[key_form]()) == vector["signature"]
    assert Rsa.sign(vector["message"].encode("utf-8"), FIXED_KEYS[key_form]()) == vector["signature"]
    for public in FIXED_PUBLIC.values():
        assert Rsa.verify(vector["message"], vector["signature"], public())
        assert not Rsa.verify(vector["message"] + " ", vector["signature"], public())


@pytest.mark.parametrize("vector", VECTORS["oaep"], ids=lambda v: repr(v["plaintext"][:8]))
def test_decrypt_openssl_oaep_ciphertext(vector: Dict[str, str]) -> None:
    assert Rsa.decrypt(vector["ciphertext"], FIXED_KEYS["pkcs1"]()) == vector["plaintext"]
    assert Rsa.decrypt(vector["ciphertext"].encode(), FIXED_PKCS8) == vector["plaintext"]


@pytest.mark.parametrize("plaintext", ["hello wechatpay 你好 微信支付", "13800138000", "x" * 214])
def test_openssl_decrypts_our_oaep_ciphertext(plaintext: str, tmp_path: Path) -> None:
    ciphertext = Rsa.encrypt(plaintext, FIXED_PUBLIC["spki"]())
    source = tmp_path / "ct.bin"
    source.write_bytes(base64.b64decode(ciphertext))
    opened = openssl("pkeyutl", "-decrypt", "-inkey", str(CRYPTO_FIXTURES / "rsa.pkcs8.key"),
                     "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1", "-in", str(source))
    assert opened.decode("utf-8") == plaintext


def test_openssl_verifies_our_signature(tmp_path: Path) -> None:
    message = VECTORS["sign"][0]["message"]
    (tmp_path / "sig").write_bytes(base64.b64decode(Rsa.sign(message, FIXED_PKCS8)))
    (tmp_path / "msg").write_bytes(message.encode())
    out = openssl("dgst", "-sha256", "-verify", str(CRYPTO_FIXTURES / "rsa.spki.pem"),
                  "-signature", str(tmp_path / "sig"), str(tmp_path / "msg"))
    assert b"Verified OK" in out


def test_encrypt_too_long_plaintext() -> None:
    with pytest.raises(InvalidArgumentError, match="214 bytes"):
        Rsa.encrypt("x" * 215, FIXED_PUBLIC["spki"]())


# ---- verify never raises for a bad signature ----

@pytest.mark.parametrize("signature", ["", "not base64 at all!!", "=====", "AAAA", "😀", b"\x00\xff", "Zm9v"])
def test_verify_is_false_for_garbage_signatures(signature: Any) -> None:
    assert Rsa.verify("message", signature, FIXED_PUBLIC["spki"]()) is False


def test_verify_is_false_for_other_keys_signature_and_none() -> None:
    other = Rsa.generate(1024)
    signature = Rsa.sign("message", other)
    assert Rsa.verify("message", signature, other.public_key()) is True
    assert Rsa.verify("message", signature, FIXED_PUBLIC["spki"]()) is False
    assert Rsa.verify("message", None, FIXED_PUBLIC["spki"]()) is False  # type: ignore[arg-type]


def test_decrypt_failure_is_decryption_error() -> None:
    ciphertext = Rsa.encrypt("secret plaintext 秘密", FIXED_PUBLIC["spki"]())
    with pytest.raises(DecryptionError) as info:
        Rsa.decrypt(ciphertext, Rsa.generate(2048))
    assert "secret plaintext" not in str(info.value)
    with pytest.raises(DecryptionError):
        Rsa.decrypt("garbage", FIXED_PKCS8)


# ---- RsaKey ----

def test_rsa_key_is_opaque_and_immutable() -> None:
    key = Rsa.from_(FIXED_PKCS8)
    assert repr(key) == str(key) == "<RsaKey private 2048-bit>"
    assert repr(key.public_key()) == "<RsaKey public 2048-bit>"
    assert key.size_in_bits == 2048 and key.is_private and not key.public_key().is_private
    assert not hasattr(key, "__dict__")
    with pytest.raises(AttributeError):
        key.is_private = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        key._key = None
    with pytest.raises(TypeError):
        pickle.dumps(key)
    assert copy.copy(key) is key and copy.deepcopy(key) is key
    assert key == Rsa.from_(f"file://{CRYPTO_FIXTURES / 'rsa.pkcs1.key'}") and key != key.public_key()
    assert hash(key) == hash(Rsa.from_(FIXED_PKCS8)) and len({key, key.public_key()}) == 2
    public = key.public_key()
    assert public.public_key() is public and key.public_key() is public


def test_export_pem_round_trips() -> None:
    key = Rsa.from_(FIXED_PKCS8)
    assert key.export_pem().startswith("-----BEGIN PRIVATE KEY-----")
    assert key.export_pem().strip() == FIXED_PKCS8.strip()
    public = key.public_key().export_pem()
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    assert public.strip() == (CRYPTO_FIXTURES / "rsa.spki.pem").read_text().strip()
    assert Rsa.from_(public, Rsa.KEY_TYPE_PUBLIC) == key.public_key()


def test_generate() -> None:
    key = Rsa.generate(1024)
    assert key.is_private and key.size_in_bits == 1024
    assert Rsa.verify("x", Rsa.sign("x", key), key.public_key())
    with pytest.raises(InvalidArgumentError):
        Rsa.generate(512)


def test_loaded_keys_and_certificates_pass_through() -> None:
    key = Rsa.from_(FIXED_PKCS8)
    assert Rsa.from_(key) is key
    assert Rsa.from_(key, Rsa.KEY_TYPE_PUBLIC) is key  # PHP hands a key object through as is
    cert = platform_certificate()
    assert Rsa.from_(cert, Rsa.KEY_TYPE_PUBLIC) is cert.public_key


# ---- refusals, and no key material in any message ----

def _secret_chunks() -> List[str]:
    chunks = []
    for name in ("rsa.pkcs8.key", "rsa.pkcs1.key", "rsa.spki.pem"):
        body = "".join((CRYPTO_FIXTURES / name).read_text().splitlines()[1:-1])
        chunks += [body[i:i + 16] for i in range(16, len(body) - 16, 97)]
    return chunks


def _ec_pem() -> str:
    return openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256").decode()


def _bad_loads() -> List[Tuple[str, Callable[[], Any]]]:
    pri, pub = Rsa.KEY_TYPE_PRIVATE, Rsa.KEY_TYPE_PUBLIC
    spki = (CRYPTO_FIXTURES / "rsa.spki.pem").read_text()
    pkcs1_body = "".join((CRYPTO_FIXTURES / "rsa.pkcs1.key").read_text().splitlines()[1:-1])
    pkcs8_body = "".join(FIXED_PKCS8.splitlines()[1:-1])
    return [
        ("public PEM as private", lambda: Rsa.from_(spki, pri)),
        ("private PEM as public", lambda: Rsa.from_(FIXED_PKCS8, pub)),
        ("certificate as private", lambda: Rsa.from_(mock_text("sha256", "crt"), pri)),
        ("Certificate object as private", lambda: Rsa.from_(platform_certificate(), pri)),
        ("public RsaKey as private", lambda: Rsa.from_(Rsa.from_(spki, pub), pri)),
        ("garbage", lambda: Rsa.from_(f"-----BEGIN PRIVATE KEY-----\n{pkcs8_body[:300]}\n-----END PRIVATE KEY-----")),
        ("not base64", lambda: Rsa.from_("private.pkcs8://" + pkcs8_body[:100] + "*&^%")),
        ("pkcs1 body under pkcs8 protocol", lambda: Rsa.from_pkcs8(pkcs1_body)),
        ("private protocol as public", lambda: Rsa.from_("private.pkcs1://" + pkcs1_body, pub)),
        ("spki protocol as private", lambda: Rsa.from_spki(pkcs1_body)),
        ("pkcs1 body labelled PKCS#8", lambda: Rsa.from_(FIXED_PKCS8.replace(pkcs8_body[:64], pkcs1_body[:64]))),
        ("wrong passphrase", lambda: Rsa.from_((mock_text("encrypted.pkcs8", "key"), "wrong"))),
        ("missing passphrase", lambda: Rsa.from_(mock_text("encrypted.pkcs8", "key"))),
        ("non-RSA key", lambda: Rsa.from_(_ec_pem())),
        ("random text", lambda: Rsa.from_("hello " + pkcs8_body[:40])),
        ("wrong type", lambda: Rsa.from_(12345)),
        ("bad key type", lambda: Rsa.from_(FIXED_PKCS8, "secret")),
        ("missing file", lambda: Rsa.from_("file:///nonexistent/apiclient_key.pem")),
        ("binary bytes", lambda: Rsa.from_(base64.b64decode(pkcs8_body))),
        ("triple", lambda: Rsa.from_((FIXED_PKCS8, "a", "b"))),
        ("sign with public", lambda: Rsa.sign("m", spki)),
        ("decrypt with public key text", lambda: Rsa.decrypt("AAAA", spki)),
        ("bad AES message type", lambda: Rsa.sign(3.14, FIXED_PKCS8)),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("case", range(23))
def test_bad_input_is_invalid_argument_without_key_material(case: int) -> None:
    name, call = _bad_loads()[case]
    with pytest.raises(InvalidArgumentError) as info:
        call()
    message = f"{info.value!s} {info.value!r}"
    assert "privateKey" in message or "publicKey" in message or "must" in message or name == "missing passphrase"
    for chunk in _secret_chunks():
        assert chunk not in message
    assert "MII" not in message and "-----BEGIN" not in message and "d=" not in message


def test_legacy_encrypted_pkcs1_and_pem_bundles(tmp_path: Path) -> None:
    legacy = openssl("rsa", "-in", str(CRYPTO_FIXTURES / "rsa.pkcs8.key"), "-traditional", "-aes256",
                     "-passout", "pass:p@ss").decode()
    assert "Proc-Type: 4,ENCRYPTED" in legacy
    assert Rsa.from_((legacy, "p@ss")) == Rsa.from_(FIXED_PKCS8)
    with pytest.raises(InvalidArgumentError):
        Rsa.from_((legacy, "nope"))
    # openssl picks the first block of the wanted kind from a key + certificate bundle
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(mock_text("sha256", "crt") + mock_text("pkcs8", "key"))
    assert Rsa.from_(f"file://{bundle}").is_private
    assert Rsa.from_(f"file://{bundle}", Rsa.KEY_TYPE_PUBLIC) == Rsa.from_(f"file://{bundle}").public_key()
    # a passphrase given for an unencrypted key is ignored, as openssl does
    assert Rsa.from_((FIXED_PKCS8, "unused")) == Rsa.from_(FIXED_PKCS8)


def test_a_relabelled_plain_key_is_not_an_encrypted_one() -> None:
    """Both backends refuse an unencrypted PKCS#8 key wearing the ENCRYPTED PRIVATE KEY label (OpenSSL does)."""
    from wechatpay_chain import InvalidArgumentError, Rsa

    pem = Rsa.generate().export_pem().replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")
    with pytest.raises(InvalidArgumentError, match="not a valid ENCRYPTED PRIVATE KEY"):
        Rsa.from_((pem, "passphrase"))
    with pytest.raises(InvalidArgumentError):
        Rsa.from_(pem)
