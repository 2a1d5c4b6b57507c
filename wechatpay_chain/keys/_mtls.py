"""The merchant's client certificate and key for APIv2 ``security=True`` (mTLS), as the files the transports load.

PHP's ``cert``/``ssl_key`` request options take file paths (with a passphrase); a config here may also give PEM
text, an encrypted key with its passphrase, or WeChat Pay's ``apiclient_cert.p12``. Paths OpenSSL can load as
they are are used as they are; anything else is written once per config into a private 0700 temp dir (0600
files: an unencrypted key lives only there), removed when the config is collected and at interpreter exit.
Key decryption and PKCS#12 go through the crypto backend layer (``crypto.backend``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import weakref
from typing import Any, Dict, List, Mapping, Optional, Tuple

import wechatpay_chain.crypto._backend as backends
from wechatpay_chain.client._config import Config, Secret
from wechatpay_chain.crypto._rsa import shown_path
from wechatpay_chain.errors import InvalidArgumentError

__all__ = ["merchant_cert"]

_LOCK = threading.Lock()
#: id(config) -> (a weak reference to that config, its (certfile, keyfile)). An entry answers only the config
#: its reference still resolves to, and a config's finalizer removes only its own entry, so a recycled id can
#: never be handed another config's files. (Config cannot be a WeakKeyDictionary key: it is a frozen dataclass
#: whose generated __hash__ hashes its fields, dicts among them, and equality would merge two equal configs.)
_MATERIAL: Dict[int, Tuple[weakref.ref[Config], Tuple[str, str]]] = {}

#: the first PEM private-key block (a cert+key bundle puts the certificate first)
_KEY_BLOCK = re.compile(rb"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)

_NO_PKCS12 = (
    "merchant['cert'] is a PKCS#12 (.p12) file: install the optional `cryptography` package, "
    "or convert it: openssl pkcs12 -in apiclient_cert.p12 -out apiclient_cert.pem -nodes"
)


def _split(value: Any, passphrase: Any) -> Tuple[Any, Any]:
    """PHP accepts ``[$path, $passphrase]``; Python also a ``(path_or_pem, passphrase)`` tuple."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0], value[1]
    return value, passphrase


def _read(thing: Any, what: str) -> Tuple[bytes, Optional[str]]:
    """(content, path or None when PEM text was given)."""
    if isinstance(thing, bytes) and b"-----BEGIN" in thing:
        return thing, None
    if isinstance(thing, str) and "-----BEGIN" in thing:
        return thing.encode("utf-8"), None
    if not isinstance(thing, (str, os.PathLike)):
        raise InvalidArgumentError(f"merchant[{what!r}] must be a file path or PEM text")
    path = os.fspath(thing)
    path = path[7:] if path.startswith("file://") else path
    try:
        with open(path, "rb") as fh:
            return fh.read(), path
    except OSError as exc:
        reason = exc.strerror
    except ValueError:  # an embedded NUL
        reason = "not a file path"
    # outside the handler: see errors.py. Key text given as a path (an armour-less body, several lines)
    # is never echoed.
    raise InvalidArgumentError(f"merchant[{what!r}]: cannot read {shown_path(path)}: {reason}")


def _pkcs12(content: bytes, passphrase: Any) -> Tuple[bytes, bytes]:
    """(certificate chain PEM, key PEM). Read by the cryptography backend whichever backend is active:
    pycryptodome has no PKCS#12 reader."""
    try:
        reader: Optional[backends.Backend] = backends.get("cryptography")
    except ImportError:
        reader = None
    if reader is None:
        raise InvalidArgumentError(_NO_PKCS12)
    if passphrase is not None and not isinstance(passphrase, (str, bytes)):
        raise InvalidArgumentError(f"merchant['passphrase'] must be a str, not {type(passphrase).__name__}")
    loaded: Optional[Tuple[bytes, bytes]] = None
    missing = False
    try:
        pwd = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        loaded = reader.load_pkcs12(content, pwd)
    except ImportError:  # cryptography without its PKCS#12 module
        missing = True
    except (ValueError, TypeError, UnicodeEncodeError):
        pass
    # raised below, outside the handlers: see errors.py
    if missing:
        raise InvalidArgumentError(_NO_PKCS12)
    if loaded is None:
        raise InvalidArgumentError("merchant['cert']: the PKCS#12 file does not open with this passphrase")
    if not loaded[0] or not loaded[1]:
        raise InvalidArgumentError("merchant['cert']: the PKCS#12 file holds no certificate and key")
    return loaded


def _passphrases(passphrase: Any) -> List[bytes]:
    """The bytes to try: a str as UTF-8 (as ``Rsa.from_`` and OpenSSL's CLI take it), then as Latin-1 (as
    pycryptodome took it before the backend layer did this)."""
    if isinstance(passphrase, (bytes, bytearray, memoryview)):
        return [bytes(passphrase)]
    out: List[bytes] = []
    for encoding in ("utf-8", "latin-1") if isinstance(passphrase, str) else ():
        try:
            candidate = passphrase.encode(encoding)
        except UnicodeEncodeError:
            continue
        if candidate not in out:
            out.append(candidate)
    return out


def _decrypt_key(content: bytes, passphrase: Any) -> bytes:
    """The unencrypted PKCS#8 PEM of an encrypted RSA or EC key, by the active backend."""
    found = _KEY_BLOCK.search(content)
    block = found.group(0) if found else content
    if found and b"ENCRYPTED" not in block:
        return block  # the marker was elsewhere in the file: this key needs no decrypting
    backend = backends.ACTIVE
    for pwd in _passphrases(passphrase):
        try:
            return backend.decrypt_private_pem(block, pwd)
        except (ValueError, IndexError, TypeError):
            continue
    raise InvalidArgumentError("merchant['key'] does not load (wrong passphrase, or not a private key)")


def _reveal(merchant: Mapping[str, Any], name: str) -> Any:
    """config.merchant holds the key and passphrase wrapped in a Secret (see config._hide_merchant)."""
    value = merchant.get(name)
    return value.reveal() if isinstance(value, Secret) else value


def _materialise(merchant: Mapping[str, Any]) -> Tuple[Optional[str], Optional[str], Dict[str, bytes]]:
    """(cert path, key path, files to write): paths are reused as they are whenever OpenSSL can load them."""
    passphrase = _reveal(merchant, "passphrase")
    cert, cert_pass = _split(_reveal(merchant, "cert"), passphrase)
    key, key_pass = _split(_reveal(merchant, "key"), passphrase)
    if cert is None:
        raise InvalidArgumentError(
            "security=True needs the merchant certificate: the config key `merchant`, e.g. "
            "{'cert': 'apiclient_cert.pem', 'key': 'apiclient_key.pem'} (in a config file for load_config or the "
            "CLI: `merchant_certificate`, with `private_key`)"
        )
    cert_bytes, cert_path = _read(cert, "cert")
    files: Dict[str, bytes] = {}
    if b"-----BEGIN" not in cert_bytes:
        files["cert.pem"], files["key.pem"] = _pkcs12(cert_bytes, cert_pass)
        return None, None, files
    if cert_path is None:
        files["cert.pem"] = cert_bytes
    if key is None:
        if b"PRIVATE KEY-----" not in cert_bytes:
            raise InvalidArgumentError("security=True needs the merchant key: config `merchant['key']`")
        key_bytes, key_path, key_pass = cert_bytes, cert_path, cert_pass
    else:
        key_bytes, key_path = _read(key, "key")
    if b"ENCRYPTED" in key_bytes:
        if key_pass is None:
            raise InvalidArgumentError("merchant['key'] is encrypted: give merchant['passphrase']")
        files["key.pem"] = _decrypt_key(key_bytes, key_pass)
    elif key_path is None:
        files["key.pem"] = key_bytes
    return cert_path, None if "key.pem" in files else key_path, files


def _write(files: Dict[str, bytes]) -> Optional[str]:
    """A new private temp dir (0700, mkdtemp's) holding the files (0600), or None when there are none."""
    if not files:
        return None
    directory = tempfile.mkdtemp(prefix="wechatpay-chain-mtls-")
    try:
        for name, content in files.items():
            fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)  # no half-written key left behind
        raise
    return directory


def _found(config: Config) -> Optional[Tuple[str, str]]:
    entry = _MATERIAL.get(id(config))
    return entry[1] if entry is not None and entry[0]() is config else None


def _cleanup(ident: int, ref: weakref.ref[Config], directory: Optional[str]) -> None:
    """The config is gone (or the interpreter exits): forget its entry, not a later owner's of the id, and
    remove its directory. Takes no lock: it may run from the garbage collector inside merchant_cert."""
    entry = _MATERIAL.get(ident)
    if entry is not None and entry[0] is ref:
        _MATERIAL.pop(ident, None)
    if directory:
        shutil.rmtree(directory, ignore_errors=True)


def merchant_cert(config: Config) -> Tuple[str, str]:
    """The ``(certfile, keyfile)`` pair for ``Request.cert``; PEM text, encrypted keys and PKCS#12 are written
    once per config to a private 0700 temp dir (an unencrypted key lives only there), removed with the config
    or at exit."""
    found = _found(config)
    if found is not None:
        return found
    with _LOCK:
        found = _found(config)
        if found is not None:
            return found
        cert_path, key_path, files = _materialise(config.merchant)
        directory = _write(files)
        pair = (
            cert_path or os.path.join(directory or "", "cert.pem"),
            key_path or os.path.join(directory or "", "key.pem"),
        )
        ref = weakref.ref(config)
        _MATERIAL[id(config)] = (ref, pair)
        weakref.finalize(config, _cleanup, id(config), ref, directory)
        return pair
