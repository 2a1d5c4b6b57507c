"""Port of PHP's tests/Crypto/HashTest.php, plus openssl dgst known answers."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
from typing import Any, Dict, Optional

import pytest

from tests.keys import CRYPTO_FIXTURES
from wechatpay_chain.crypto._symmetric import Hash
from wechatpay_chain.errors import InvalidArgumentError

VECTORS = json.loads((CRYPTO_FIXTURES / "vectors.json").read_text(encoding="utf-8"))
BASE62 = string.ascii_letters + string.digits


def nonce(size: int = 32) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(size))


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def hash_hmac(algo: str, text: str, key: str) -> str:
    return hmac.new(key.encode(), text.encode(), algo).hexdigest()


def test_class_constants() -> None:
    assert Hash.ALGO_MD5 == "MD5" and Hash.ALGO_HMAC_SHA256 == "HMAC-SHA256"


MD5_CASES = {
    "without key equals to normal md5": lambda t: (t, "", "", md5(t), True),
    "input agency, but without key equals to normal md5": lambda t: (t, "", True, md5(t), True),
    "random key without agency": lambda t: (t, nonce(), "", md5(t), False),
    "random key with agency:true": lambda t: (t, nonce(), True, md5(t), False),
    "key '0' is falsy in PHP": lambda t: (t, "0", True, md5(t), True),
}


@pytest.mark.parametrize("name, size", list(zip(MD5_CASES, [30, 60, 90, 200, 10])))
def test_md5(name: str, size: int) -> None:
    thing, key, agency, expected, equal = MD5_CASES[name](nonce(size))
    digest = Hash.md5(thing, key, agency)
    assert isinstance(digest, str) and digest and digest != thing and len(digest) == 32
    assert (digest == expected) is equal


@pytest.mark.parametrize("algo, size, length", [("md5", 900, 32), ("sha256", 600, 64), ("sha384", 300, 96)])
def test_hmac_not_equal_to_plain_hash_hmac(algo: str, size: int, length: int) -> None:
    thing, key = nonce(size), nonce()
    digest = Hash.hmac(thing, key, algo)
    assert isinstance(digest, str) and digest != thing and len(digest) == length
    assert digest != hash_hmac(algo, thing, key)
    assert digest == hash_hmac(algo, f"{thing}&key={key}", key)


def test_hmac_unknown_algorithm() -> None:
    with pytest.raises(InvalidArgumentError):
        Hash.hmac("a", "b", "nope")


@pytest.mark.parametrize(
    "known, user, expected",
    [("", "", True), ("", None, False), (secrets.token_hex(16), None, False), (None, "", False),
     ("abc", "abc", True), ("abc", "abd", False), ("中文", "中文".encode(), True)],
)
def test_equals(known: Any, user: Any, expected: bool) -> None:
    result = Hash.equals(known, user)
    assert isinstance(result, bool) and result is expected


SIGN_CASES = {
    "not equals to normal Hash::md5": (900, Hash.ALGO_MD5, lambda t, k: Hash.md5(t, k), 32),
    "not equals to normal Hash::hmac": (600, Hash.ALGO_HMAC_SHA256, lambda t, k: Hash.hmac(t, k), 64),
    "not support algo sha256": (300, "sha256", None, None),
}


@pytest.mark.parametrize("name", list(SIGN_CASES))
def test_sign(name: str) -> None:
    size, kind, plain, length = SIGN_CASES[name]
    thing, key = nonce(size), nonce()
    digest: Optional[str] = Hash.sign(kind, thing, key)
    if length is None:
        assert digest is None
        return
    assert digest is not None and plain is not None
    assert len(digest) == length and digest != plain(thing, key) and digest == plain(thing, key).upper()
    assert re.search(r"[A-Z]+", digest)


@pytest.mark.parametrize("vector", VECTORS["hash"], ids=lambda v: v["thing"][:10])
def test_known_answers_from_openssl_dgst(vector: Dict[str, str]) -> None:
    thing, key = vector["thing"], vector["key"]
    assert Hash.md5(thing) == vector["md5"]
    assert Hash.md5(thing, key) == vector["md5_key"]
    assert Hash.md5(thing, key, True) == vector["md5_agency"] == Hash.md5(thing, key, "1000002")
    assert Hash.md5(thing, key, 0) == vector["md5_key"] == Hash.md5(thing, key, "0")
    assert Hash.hmac(thing, key) == vector["hmac_sha256"]
    assert Hash.sign(Hash.ALGO_MD5, thing, key) == vector["md5_key"].upper()
    assert Hash.sign(Hash.ALGO_HMAC_SHA256, thing.encode(), key.encode()) == vector["hmac_sha256"].upper()
