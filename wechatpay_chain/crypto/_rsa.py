"""RSA, AES and hash primitives: PHP's ``WeChatPay\\Crypto`` namespace (Rsa, AesGcm, AesEcb, Hash).

Two interchangeable backends run the RSA and AES work: ``cryptography`` (OpenSSL, the faster RSA; the
``wechatpay-chain[fast]`` extra) when it is importable, else ``pycryptodome`` (the default dependency).
``WECHATPAY_CHAIN_CRYPTO=cryptography|pycryptodome`` forces one; the choice is made once, at import,
and ``Rsa.backend`` names it. Forcing ``cryptography`` when it cannot be imported raises ImportError
at import time; an unknown value raises InvalidArgumentError. Outputs are byte-identical where the
algorithm is deterministic (signatures, AES), and OAEP/GCM ciphertexts interoperate both ways.
The backends live in ``_openssl`` and ``_pycryptodome``; choosing one imports nothing heavy, and its
library's modules load on the first key load or AES operation.
Text in, text out, as in PHP: ``str`` inputs are UTF-8, ``bytes`` are accepted too; signatures and
ciphertexts are base64 ``str``.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Any, Optional, Tuple, Union

import wechatpay_chain.crypto._backend as backends
from wechatpay_chain.crypto._backend import BACKEND, BACKENDS, Backend
from wechatpay_chain.crypto._codec import Text, b64decode, b64encode, to_bytes, utf8
from wechatpay_chain.crypto._pycryptodome import der_kind
from wechatpay_chain.errors import DecryptionError, InvalidArgumentError

__all__ = ["RsaKey", "Rsa", "BACKEND", "BACKENDS", "not_a_path", "shown_value", "shown_path"]

_MAX_BITS = 16384  # pycryptodome's MAX_MODULUS_BITS, enforced for both backends

_PEM_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----[ \t]*\r?\n(.*?)-----END \1-----", re.S)
_PROTOCOL_RE = re.compile(r"^(private\.pkcs1|private\.pkcs8|public\.pkcs1|public\.spki)://(.*)$", re.S)
# PEM label -> (DER kind, is private); PHP maps the protocols onto the same labels.
_LABELS = {"RSA PRIVATE KEY": ("pkcs1-private", True), "PRIVATE KEY": ("pkcs8", True),
           "ENCRYPTED PRIVATE KEY": ("encrypted", True), "PUBLIC KEY": ("spki", False),
           "RSA PUBLIC KEY": ("pkcs1-public", False), "CERTIFICATE": ("x509", False),
           "X509 CERTIFICATE": ("x509", False)}
_PROTOCOLS = {"private.pkcs1": "RSA PRIVATE KEY", "private.pkcs8": "PRIVATE KEY",
              "public.pkcs1": "RSA PUBLIC KEY", "public.spki": "PUBLIC KEY"}
_ASN1_OID_RSAENCRYPTION = bytes.fromhex("300d06092a864886f70d0101010500")


#: a line of base64 key text (PEM lines are 64 characters); a path this long with no `.`, `_` or `-` is rare,
#: and the only cost of a false match is that the path is not shown
_KEY_LINE = re.compile(r"[A-Za-z0-9+/=]{40,}")


def not_a_path(path: str) -> bool:
    """True for key text given where a file path goes: PEM, several lines, a line of base64, or too long for a
    file name (an armour-less key is ~1,600 base64 characters). Such a "path" is never echoed in a message."""
    return (
        len(path) > 255 or "-----BEGIN" in path or "\n" in path or "\r" in path or "\0" in path
        or _KEY_LINE.fullmatch(path) is not None
    )


_SHOWN_VALUE = re.compile(r"[A-Za-z0-9_.-]{0,20}")


def shown_value(value: Any) -> str:
    """A value for an error message about a field that is not secret (a sign_type, an mch_id), unless it looks
    like something typed in the wrong place: longer than 20 characters, or more than a plain word (a 32-byte
    APIv2 key given as sign_type, say)."""
    if isinstance(value, str) and _SHOWN_VALUE.fullmatch(value):
        return repr(value)
    if isinstance(value, (int, type(None))) and not isinstance(value, bool):
        return repr(value)
    return f"(a {type(value).__name__} not shown)"


def shown_path(path: str) -> str:
    """A path for an error message: its repr, unless `not_a_path` says it is key text."""
    return "(not a readable path; its text is not shown)" if not_a_path(path) else repr(path)


class RsaKey:
    """A parsed RSA key (PHP's ``OpenSSLAsymmetricKey``): immutable, never shows key material.

    It holds the key object of the backend that loaded it (the active one, for ``Rsa.from_``), parsed once.
    """

    __slots__ = ("_key", "_backend", "_public", "_private")
    _key: Any
    _backend: Backend
    _public: Optional[RsaKey]
    _private: bool

    def __init__(self, key: Any, backend: Optional[Backend] = None) -> None:
        backend = backend or backends.ACTIVE
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_backend", backend)
        object.__setattr__(self, "_public", None)
        object.__setattr__(self, "_private", backend.is_private(key))  # an ABC isinstance: do it once

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("RsaKey is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("RsaKey is immutable")

    @property
    def is_private(self) -> bool:
        return self._private

    @property
    def size_in_bits(self) -> int:
        return self._backend.size_in_bits(self._key)

    def public_key(self) -> RsaKey:
        """The public half (itself when already public), derived once."""
        if not self._private:
            return self
        if self._public is None:
            object.__setattr__(self, "_public", RsaKey(self._backend.public(self._key), self._backend))
        assert self._public is not None
        return self._public

    def export_pem(self) -> str:
        """PKCS#8 ``PRIVATE KEY`` PEM for a private key, SPKI ``PUBLIC KEY`` PEM for a public one."""
        return self._backend.export_pem(self._key)

    def _identity(self) -> Tuple[int, int, bool]:
        return (*self._backend.numbers(self._key), self.is_private)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RsaKey) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return f"<RsaKey {'private' if self.is_private else 'public'} {self.size_in_bits}-bit>"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("RsaKey cannot be pickled; use export_pem() explicitly")

    def __copy__(self) -> RsaKey:
        return self

    def __deepcopy__(self, memo: Any) -> RsaKey:
        return self


def _rekey(key: RsaKey, backend: Backend) -> RsaKey:
    """The same key held by another backend (via its PKCS#8/SPKI DER)."""
    if key._backend is backend:
        return key
    return RsaKey(backend.load_der("pkcs8" if key.is_private else "spki", key._backend.export_der(key._key)), backend)


def _import(block: str, label: str, passphrase: Optional[bytes], what: str) -> RsaKey:
    """Load one PEM block whose label was already accepted; the DER must match what the label says."""
    kind, _ = _LABELS[label]
    try:
        legacy = "Proc-Type:" in block  # old-style encrypted PKCS#1: its body is ciphertext
        body = _PEM_RE.search(block)
        der = b"" if legacy else base64.b64decode("".join((body.group(2) if body else "").split()), validate=True)
        # the DER must be what the label says (both backends refuse a relabelled key alike), except a PKCS#8
        # body under the PKCS#1 label, which OpenSSL (so PHP's Rsa::fromPkcs1 on apiclient_key.pem's body) loads
        found = None if legacy else der_kind(der)
        if kind == "pkcs1-private" and found == "pkcs8":
            kind = found
        if not legacy and found != kind:
            raise InvalidArgumentError(f"Cannot load {what}: the content is not a valid {label}.")
        if kind == "encrypted" or legacy:
            if not passphrase:
                raise InvalidArgumentError(f"Cannot load {what}: it is encrypted, pass (pem, passphrase).")
            return RsaKey(backends.ACTIVE.load_encrypted(block, passphrase))
        return RsaKey(backends.ACTIVE.load_der(kind, der))
    except InvalidArgumentError:
        raise
    except (ValueError, IndexError, TypeError, EOFError, binascii.Error):
        pass
    raise InvalidArgumentError(f"Cannot load {what}: not a valid {label}, or wrong passphrase, or corrupted.")


def _from_text(text: str, passphrase: Optional[bytes], want_private: bool, what: str) -> RsaKey:
    proto = _PROTOCOL_RE.match(text.strip())
    if proto:
        body = re.sub(r"\s", "", proto.group(2))
        label = _PROTOCOLS[proto.group(1)]
        text = f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"
    found = []
    for block in _PEM_RE.finditer(text):
        label = block.group(1)
        found.append(label)
        if label in _LABELS and _LABELS[label][1] == want_private:
            return _import(block.group(0), label, passphrase, what)
    expected = "a PKCS#1/PKCS#8 private key" if want_private else "an SPKI/PKCS#1 public key or X.509 certificate"
    got = f"got {', '.join(sorted(set(found)))}" if found else "no PEM block found"
    raise InvalidArgumentError(
        f"Cannot load {what}: expected {expected}, a file:// path or a "
        f"private.pkcs1:// private.pkcs8:// public.pkcs1:// public.spki:// string ({got})."
    )


def _pem_text(data: bytes) -> Optional[str]:
    """UTF-8 text, or None for binary (DER, PKCS#12) bytes; the UnicodeDecodeError does not outlive this."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _read_pem_file(path: str, what: str) -> str:
    """The text of a PEM file; every failure is an InvalidArgumentError with nothing chained to it."""
    if "-----BEGIN" in path:
        raise InvalidArgumentError(
            f"Cannot load {what}: the file:// path looks like PEM text, not a file path: "
            f"pass the key itself as {what} (without file://), or a path"
        )
    try:
        data = Path(path).read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: an embedded NUL
        reason = getattr(exc, "strerror", None) or "not a readable path"
    else:
        text = _pem_text(data)
        if text is not None:
            return text
        reason = "binary (DER or PKCS#12), not PEM text"
    # outside the handlers: see errors.py
    raise InvalidArgumentError(f"Cannot load {what}: cannot read the PEM file {shown_path(path)}: {reason}.")


class Rsa:
    """PHP's ``WeChatPay\\Crypto\\Rsa``: key loading, RSA-OAEP(SHA-1) and SHA256withRSA."""

    KEY_TYPE_PUBLIC = "public"
    KEY_TYPE_PRIVATE = "private"
    OAEP = "OAEP"
    OPENSSL_PKCS1_OAEP_PADDING = 4
    OPENSSL_PKCS1_PADDING = 1
    #: the active backend: 'cryptography' (OpenSSL) or 'pycryptodome'; see the module docstring
    backend = BACKEND

    @staticmethod
    def from_(thing: Any, type: str = KEY_TYPE_PRIVATE) -> RsaKey:
        """PHP ``Rsa::from``: load a key from a path, protocol string, PEM, (pem, passphrase) or key object.

        As with PHP's ``openssl_pkey_get_public``, asking for a public key from *private key text* fails
        (use ``.public_key()``); an already-loaded ``RsaKey`` is returned as is. PEM files holding several
        blocks are scanned for the first one of the wanted kind, as openssl does.
        """
        if type not in (Rsa.KEY_TYPE_PUBLIC, Rsa.KEY_TYPE_PRIVATE):
            raise InvalidArgumentError("The key type must be Rsa.KEY_TYPE_PUBLIC or Rsa.KEY_TYPE_PRIVATE.")
        want_private = type == Rsa.KEY_TYPE_PRIVATE
        what = "privateKey" if want_private else "publicKey"
        passphrase: Optional[bytes] = None
        if isinstance(thing, (tuple, list)):
            if len(thing) != 2:
                raise InvalidArgumentError(f"Cannot load {what}: expected a (key, passphrase) pair.")
            thing, phrase = thing
            passphrase = to_bytes(phrase, "passphrase") if phrase is not None else None
        if isinstance(thing, RsaKey):
            if want_private and not thing.is_private:
                raise InvalidArgumentError("Cannot load privateKey: the given RsaKey is a public key.")
            return thing
        carried = getattr(thing, "public_key", None)
        if isinstance(carried, RsaKey):  # a `pem.Certificate` (which imports this module): its parsed public key
            if want_private:
                raise InvalidArgumentError("Cannot load privateKey: a certificate holds a public key only.")
            return carried
        if isinstance(thing, (bytes, bytearray, memoryview)):
            thing = _pem_text(bytes(thing))
            if thing is None:  # DER or PKCS#12 key bytes: no UnicodeDecodeError (it holds them) is chained
                raise InvalidArgumentError(f"Cannot load {what}: expected PEM text, got binary bytes.")
        if not isinstance(thing, str):
            raise InvalidArgumentError(f"Cannot load {what} from({thing.__class__.__name__}).")
        if thing.startswith("file://"):
            thing = _read_pem_file(thing[len("file://"):], what)
        return _from_text(thing, passphrase, want_private, what)

    @staticmethod
    def from_pkcs1(thing: Text, is_public: Union[bool, str] = False) -> RsaKey:
        """PHP ``Rsa::fromPkcs1``: base64 DER of a PKCS#1 private (or, ``is_public``, public) key."""
        public = is_public is True or is_public == Rsa.KEY_TYPE_PUBLIC
        body = to_bytes(thing).decode("ascii", "replace")
        return Rsa.from_(f"{'public' if public else 'private'}.pkcs1://{body}", "public" if public else "private")

    @staticmethod
    def from_pkcs8(thing: Text) -> RsaKey:
        """PHP ``Rsa::fromPkcs8``: base64 DER of a PKCS#8 private key."""
        return Rsa.from_(f"private.pkcs8://{to_bytes(thing).decode('ascii', 'replace')}")

    @staticmethod
    def from_spki(thing: Text) -> RsaKey:
        """PHP ``Rsa::fromSpki``: base64 DER of an SPKI public key."""
        body = to_bytes(thing).decode("ascii", "replace")
        return Rsa.from_(f"public.spki://{body}", Rsa.KEY_TYPE_PUBLIC)

    @staticmethod
    def pkcs1_to_spki(thing: Text) -> str:
        """PHP ``Rsa::pkcs1ToSpki``: wrap a base64 PKCS#1 public key into base64 SPKI."""

        def length(data: bytes) -> bytes:
            n = len(data)
            if n <= 0x7F:
                return bytes([n])
            tmp = n.to_bytes(4, "big").lstrip(b"\0")
            return bytes([len(tmp) | 0x80]) + tmp

        raw = b"\0" + b64decode(thing)
        new = _ASN1_OID_RSAENCRYPTION + b"\x03" + length(raw) + raw
        return b64encode(b"\x30" + length(new) + new)

    @staticmethod
    def _check_padding(padding: Any) -> None:
        if isinstance(padding, bool) or padding not in (Rsa.OAEP, Rsa.OPENSSL_PKCS1_OAEP_PADDING):
            raise InvalidArgumentError(
                f"Here's only support the OPENSSL_PKCS1_OAEP_PADDING(4) mode, yours({padding!s:.16})."
            )

    @staticmethod
    def encrypt(plaintext: Text, public_key: Any, padding: Union[str, int] = OAEP) -> str:
        """PHP ``Rsa::encrypt``: RSAES-OAEP (SHA-1, MGF1-SHA-1), base64 output."""
        Rsa._check_padding(padding)
        key = Rsa.from_(public_key, Rsa.KEY_TYPE_PUBLIC).public_key()
        data = to_bytes(plaintext, "plaintext")
        try:
            return b64encode(key._backend.oaep_encrypt(key._key, data))
        except (ValueError, TypeError):
            raise InvalidArgumentError(
                f"Encrypting the input plaintext failed: at most {key.size_in_bits // 8 - 42} bytes fit."
            ) from None

    @staticmethod
    def decrypt(ciphertext: Text, private_key: Any, padding: Union[str, int] = OAEP) -> str:
        """PHP ``Rsa::decrypt``: base64 RSAES-OAEP (SHA-1) ciphertext to UTF-8 text."""
        Rsa._check_padding(padding)
        key = Rsa.from_(private_key, Rsa.KEY_TYPE_PRIVATE)
        try:
            data = key._backend.oaep_decrypt(key._key, b64decode(ciphertext))
        except (ValueError, TypeError, binascii.Error):
            raise DecryptionError(
                "Decrypting the input ciphertext failed, please check your privateKey whether or not correct."
            ) from None
        return utf8(data)

    @staticmethod
    def sign(message: Text, private_key: Any) -> str:
        """PHP ``Rsa::sign``: SHA256withRSA (PKCS#1 v1.5), base64 output."""
        key = Rsa.from_(private_key, Rsa.KEY_TYPE_PRIVATE)
        return b64encode(key._backend.sign(key._key, to_bytes(message, "message")))

    @staticmethod
    def verify(message: Text, signature: Text, public_key: Any) -> bool:
        """PHP ``Rsa::verify``: False (never an exception) for a wrong, malformed or non-base64 signature."""
        key = Rsa.from_(public_key, Rsa.KEY_TYPE_PUBLIC).public_key()
        data = to_bytes(message, "message")
        try:
            raw = b64decode(signature)
        except (ValueError, TypeError, binascii.Error, InvalidArgumentError):
            return False
        return key._backend.verify(key._key, data, raw)

    @staticmethod
    def generate(bits: int = 2048) -> RsaKey:
        """Python addition: a fresh private key (e = 65537), for the sandbox and tests."""
        try:
            if bits > _MAX_BITS:
                raise ValueError("too large")
            if not isinstance(bits, int) or isinstance(bits, bool) or bits < 1024:
                raise ValueError("too small")
            return RsaKey(backends.ACTIVE.generate(bits))
        except (ValueError, TypeError):
            raise InvalidArgumentError("RSA key size must be an integer of at least 1024 bits.") from None
