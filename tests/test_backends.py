"""The two crypto backends (cryptography/OpenSSL and pycryptodome) agree byte for byte and interoperate.

Every other crypto test runs against the active backend only; CI runs the suite once per backend
(``WECHATPAY_CHAIN_CRYPTO=pycryptodome`` / ``=cryptography``). Here both are loaded in one process.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

import wechatpay_chain.crypto._backend as backends
import wechatpay_chain.crypto._rsa as crypto
from tests.keys import CRYPTO_FIXTURES, MOCK_PASSWORD, mock_contents, mock_path, mock_text, requires_openssl
from wechatpay_chain.crypto._rsa import Rsa, RsaKey
from wechatpay_chain.crypto._symmetric import AesEcb, AesGcm
from wechatpay_chain.errors import DecryptionError, InvalidArgumentError

pytest.importorskip("cryptography")

NAMES = list(backends.BACKENDS)
FIXED_PKCS8 = (CRYPTO_FIXTURES / "rsa.pkcs8.key").read_text()
ROOT = Path(__file__).resolve().parent.parent
MESSAGES = ["", "POST\n/v3/x\n1700000000\nNONCE\n{}\n", "中文 😀" * 50, "x" * 10_000]


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """`use('pycryptodome')`: make that backend the active one for the rest of the test."""

    def switch(backend: str) -> None:
        monkeypatch.setattr(backends, "ACTIVE", backends.get(backend))

    yield switch


def keys() -> Dict[str, RsaKey]:
    """The fixed private key held by each backend."""
    base = Rsa.from_(FIXED_PKCS8)
    return {n: crypto._rekey(base, backends.get(n)) for n in NAMES}


def test_active_backend_is_named() -> None:
    assert Rsa.backend == backends.BACKEND == backends.ACTIVE.name
    assert backends.BACKEND in NAMES
    expected = os.environ.get(backends.ENV_VAR, "").strip().lower() or "cryptography"
    assert backends.BACKEND == expected


def test_key_properties_and_exports_agree() -> None:
    k = keys()
    a, b = k["cryptography"], k["pycryptodome"]
    assert a._backend.name == "cryptography" and b._backend.name == "pycryptodome"
    assert a == b and hash(a) == hash(b) and a.public_key() == b.public_key()
    assert repr(a) == repr(b) == "<RsaKey private 2048-bit>"
    assert a.export_pem() == b.export_pem() and a.export_pem().strip() == FIXED_PKCS8.strip()
    assert a.public_key().export_pem() == b.public_key().export_pem()
    assert b.export_pem() == b._key.export_key(format="PEM", pkcs=8).decode()  # pycryptodome's own PEM
    assert b.public_key().export_pem() == b._key.public_key().export_key(format="PEM").decode()


@pytest.mark.parametrize("message", MESSAGES)
def test_signatures_are_byte_identical_and_cross_verify(message: str) -> None:
    k = keys()
    sigs = {n: Rsa.sign(message, k[n]) for n in NAMES}
    assert sigs["cryptography"] == sigs["pycryptodome"]
    for signer in NAMES:
        for verifier in NAMES:
            assert Rsa.verify(message, sigs[signer], k[verifier].public_key()) is True
            assert Rsa.verify(message + "!", sigs[signer], k[verifier].public_key()) is False
            assert Rsa.verify(message, sigs[signer], k[verifier]) is True  # a private key verifies too


@pytest.mark.parametrize("signature", ["", "AAAA", "not base64!!", "Zm9v" * 100, b"\x00\xff"])
def test_garbage_signatures_are_false_in_both(signature: Any) -> None:
    for key in keys().values():
        assert Rsa.verify("message", signature, key.public_key()) is False


@pytest.mark.parametrize("plaintext", ["", "张三", "x" * 214])
def test_oaep_interoperates_both_ways(plaintext: str) -> None:
    k = keys()
    for encryptor in NAMES:
        ciphertext = Rsa.encrypt(plaintext, k[encryptor].public_key())
        for decryptor in NAMES:
            assert Rsa.decrypt(ciphertext, k[decryptor]) == plaintext


def test_oaep_errors_agree() -> None:
    for key in keys().values():
        with pytest.raises(InvalidArgumentError, match="214 bytes"):
            Rsa.encrypt("x" * 215, key)
        with pytest.raises(DecryptionError):
            Rsa.decrypt("garbage", key)
        with pytest.raises(DecryptionError):
            Rsa.decrypt(Rsa.encrypt("x", key)[:-8] + "AAAAAAA=", key)


@pytest.mark.parametrize("size", [1, 7, 8, 12, 16, 32, 128, 129, 200])
def test_aes_gcm_byte_identical_and_interoperates(name: str, use: Callable[[str], None], size: int) -> None:
    key, iv, aad = secrets.token_bytes(32), secrets.token_bytes(size), secrets.token_bytes(size % 20)
    plain = "这是一段明文 plaintext " * size
    out: Dict[str, str] = {}
    for n in NAMES:
        use(n)
        out[n] = AesGcm.encrypt(plain, key, iv, aad)
    assert out["cryptography"] == out["pycryptodome"]
    use(name)
    assert AesGcm.decrypt(out["cryptography"], key, iv, aad) == plain
    tampered = out["cryptography"][:-4] + ("AAA=" if not out["cryptography"].endswith("AAA=") else "BBB=")
    for bad in ((tampered, key, iv, aad), (out[name], key, iv, aad + b"!"), (out[name], bytes(32), iv, aad)):
        with pytest.raises(DecryptionError):
            AesGcm.decrypt(*bad)


@pytest.mark.parametrize("plain", ["", "a", "x" * 15, "y" * 16, "退款通知 req_info " * 9])
def test_aes_ecb_byte_identical_and_interoperates(name: str, use: Callable[[str], None], plain: str) -> None:
    key = secrets.token_bytes(32)
    out: Dict[str, str] = {}
    for n in NAMES:
        use(n)
        out[n] = AesEcb.encrypt(plain, key)
    assert out["cryptography"] == out["pycryptodome"]
    use(name)
    assert AesEcb.decrypt(out["pycryptodome"], key) == plain


@pytest.mark.parametrize("ciphertext", ["", "AAAA", "A" * 24, "A" * 44])
def test_aes_ecb_bad_input_is_decryption_error_in_both(name: str, use: Callable[[str], None], ciphertext: str) -> None:
    use(name)
    with pytest.raises(DecryptionError):
        AesEcb.decrypt(ciphertext, bytes(32))


def php_forms() -> Dict[str, Any]:
    """Every input PHP's Rsa::from takes, as (thing, type)."""
    pri, pub = Rsa.KEY_TYPE_PRIVATE, Rsa.KEY_TYPE_PUBLIC
    return {
        "private.pkcs1://": ("private.pkcs1://" + mock_contents("pkcs1", "key"), pri),
        "private.pkcs8://": ("private.pkcs8://" + mock_contents("pkcs8", "key"), pri),
        "public.spki://": ("public.spki://" + mock_contents("spki", "pem"), pub),
        "public.pkcs1://": ("public.pkcs1://" + mock_contents("pkcs1", "pem"), pub),
        "file:// pkcs1": (f"file://{mock_path('pkcs1', 'key')}", pri),
        "pkcs8 text": (mock_text("pkcs8", "key"), pri),
        "spki text": (mock_text("spki", "pem"), pub),
        "pkcs1 public text": (mock_text("pkcs1", "pem"), pub),
        "certificate": (mock_text("sha256", "crt"), pub),
        "encrypted pkcs8": ((f"file://{mock_path('encrypted.pkcs8', 'key')}", MOCK_PASSWORD), pri),
    }


@requires_openssl
def test_every_php_form_loads_the_same_key_in_both(use: Callable[[str], None]) -> None:
    loaded: Dict[str, List[RsaKey]] = {}
    for n in NAMES:
        use(n)
        for label, (thing, kind) in php_forms().items():
            key = Rsa.from_(thing, kind)
            assert key._backend.name == n, label
            loaded.setdefault(label, []).append(key)
    for label, (a, b) in loaded.items():
        assert a == b and a.export_pem() == b.export_pem(), label
    public = loaded["spki text"][0]
    for label in loaded:
        assert loaded[label][0].public_key() == public, label


@requires_openssl
def test_load_errors_agree(use: Callable[[str], None]) -> None:
    bad = {
        "wrong passphrase": ((mock_text("encrypted.pkcs8", "key"), "nope"), Rsa.KEY_TYPE_PRIVATE),
        "no passphrase": (mock_text("encrypted.pkcs8", "key"), Rsa.KEY_TYPE_PRIVATE),
        "corrupted": ("private.pkcs8://" + mock_contents("pkcs8", "key")[:-40], Rsa.KEY_TYPE_PRIVATE),
        "label mismatch": ("public.spki://" + mock_contents("pkcs1", "pem"), Rsa.KEY_TYPE_PUBLIC),
    }
    messages: Dict[str, List[str]] = {}
    for n in NAMES:
        use(n)
        for label, (thing, kind) in bad.items():
            with pytest.raises(InvalidArgumentError) as info:
                Rsa.from_(thing, kind)
            messages.setdefault(label, []).append(str(info.value))
    for label, (a, b) in messages.items():
        assert a == b, label


def test_generated_keys_work_across_backends(name: str, use: Callable[[str], None]) -> None:
    use(name)
    key = Rsa.generate(1024)
    assert key._backend.name == name and key.size_in_bits == 1024
    for other in NAMES:
        twin = crypto._rekey(key, backends.get(other))
        assert twin == key and Rsa.sign("x", twin) == Rsa.sign("x", key)
        assert Rsa.decrypt(Rsa.encrypt("秘密", key.public_key()), twin) == "秘密"
    for bits in (512, 1023, 16385, "2048", True):
        with pytest.raises(InvalidArgumentError):
            Rsa.generate(bits)  # type: ignore[arg-type]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != backends.ENV_VAR}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True)


PRINT_BACKEND = "import sys, wechatpay_chain as w; print(w.Rsa.backend, 'Crypto' in sys.modules)"
BLOCK_CRYPTOGRAPHY = "import sys; sys.modules['cryptography'] = None; "


@pytest.mark.parametrize(
    ("value", "backend"),
    [("", "cryptography False"), ("auto", "cryptography False"), ("cryptography", "cryptography False"),
     (" Cryptography ", "cryptography False"), ("pycryptodome", "pycryptodome False")],
)
def test_env_var_picks_the_backend_at_import(value: str, backend: str) -> None:
    env = {backends.ENV_VAR: value} if value else {}
    done = run_python(PRINT_BACKEND, **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == backend.split()  # either backend's library loads on first use, not at import


def test_auto_falls_back_to_pycryptodome_without_cryptography() -> None:
    done = run_python(BLOCK_CRYPTOGRAPHY + PRINT_BACKEND)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "pycryptodome"


def test_forcing_a_missing_cryptography_fails_at_import() -> None:
    done = run_python(BLOCK_CRYPTOGRAPHY + PRINT_BACKEND, **{backends.ENV_VAR: "cryptography"})
    assert done.returncode != 0
    assert "ImportError" in done.stderr and "wechatpay-chain[fast]" in done.stderr


def test_unknown_env_value_fails_at_import() -> None:
    done = run_python(PRINT_BACKEND, **{backends.ENV_VAR: "openssl3"})
    assert done.returncode != 0
    assert "InvalidArgumentError" in done.stderr and "cryptography, pycryptodome" in done.stderr


def _des_cbc_pem(passphrase: bytes) -> str:
    """A traditional `RSA PRIVATE KEY` PEM encrypted with single DES-CBC (OpenSSL's EVP_BytesToKey, MD5): a legacy
    cipher OpenSSL 3 refuses ("Key encrypted with unknown cipher"), which old merchant keys may still use."""
    import base64
    import hashlib
    import textwrap

    from Crypto.Cipher import DES
    from Crypto.PublicKey import RSA
    from Crypto.Util.Padding import pad

    der = RSA.generate(1024).export_key(format="DER", pkcs=1)
    iv = bytes(range(8))
    key = hashlib.md5(passphrase + iv).digest()[:8]
    body = base64.b64encode(DES.new(key, DES.MODE_CBC, iv).encrypt(pad(der, 8))).decode()
    return ("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: DES-CBC," + iv.hex().upper()
            + "\n\n" + "\n".join(textwrap.wrap(body, 64)) + "\n-----END RSA PRIVATE KEY-----\n")


def test_a_des_cbc_encrypted_key_loads_on_both_backends(use: Callable[[str], None], name: str) -> None:
    pem = _des_cbc_pem(b"secret123")
    use(name)
    assert Rsa.from_((pem, "secret123")).size_in_bits == 1024
    with pytest.raises(InvalidArgumentError, match="wrong passphrase"):
        Rsa.from_((pem, "wrong"))
