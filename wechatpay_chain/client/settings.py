"""Credentials from a config file (TOML or INI) or the environment, for the CLI and for scripts.

    cfg = load_config('wechatpay.toml')          # a dict for Builder.factory
    client = Builder.factory(cfg)

Both formats hold the same keys: a `[wechatpay]` section (mchid, serial, private_key, apiv3_key,
secret, base_uri, merchant_certificate, timeout) and a `[certs]` section mapping platform serials and
`PUB_KEY_ID_...` ids to PEM files. `timeout` is seconds (`10`, `2.5`) or `CONNECT,READ` seconds (`"3,10"`;
TOML may also write `[3, 10]`). Relative paths are relative to the config file. TOML needs
Python 3.11+ (tomllib) or the `tomli` package; INI (configparser) works everywhere.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

from wechatpay_chain.client._config import MAX_TIMEOUT, Secret
from wechatpay_chain.crypto._rsa import Rsa, not_a_path, shown_path
from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.models import Timeout

__all__ = ["Settings", "read_settings", "settings_from_env", "load_config", "parse_timeout", "ENVIRONMENT"]

#: environment variable -> setting (WECHATPAY_CERTS is 'SERIAL=path,SERIAL=path')
ENVIRONMENT = {
    "WECHATPAY_MCHID": "mchid",
    "WECHATPAY_SERIAL": "serial",
    "WECHATPAY_PRIVATE_KEY": "private_key",
    "WECHATPAY_CERTS": "certs",
    "WECHATPAY_APIV3_KEY": "apiv3_key",
    "WECHATPAY_SECRET": "secret",
    "WECHATPAY_BASE_URI": "base_uri",
    "WECHATPAY_MERCHANT_CERTIFICATE": "merchant_certificate",
    "WECHATPAY_TIMEOUT": "timeout",
}
_SCALARS = ("mchid", "serial", "private_key", "apiv3_key", "secret", "base_uri", "merchant_certificate", "timeout")
_SECRET = {"apiv3_key", "secret"}


@dataclass(frozen=True)
class Settings:
    """What a config file or the environment says; file paths are resolved, keys are not loaded yet."""

    mchid: Optional[str] = None
    serial: Optional[str] = None
    private_key: Optional[Path] = None
    certs: Dict[str, Path] = field(default_factory=dict)
    apiv3_key: Optional[Secret[str]] = field(default=None, repr=False)
    secret: Optional[Secret[str]] = field(default=None, repr=False)
    base_uri: Optional[str] = None
    merchant_certificate: Optional[Path] = None
    timeout: Optional[Timeout] = None
    source: str = "environment"

    def factory_config(self) -> Dict[str, Any]:
        """The Builder.factory dict: the private key loaded, each cert/public key file read (not yet parsed)."""
        config: Dict[str, Any] = {}
        for name in ("mchid", "serial", "apiv3_key", "secret", "base_uri", "timeout"):
            value = getattr(self, name)
            if value:
                config[name] = value.reveal() if isinstance(value, Secret) else value
        if self.private_key is not None:
            config["privateKey"] = Rsa.from_(_read(self.private_key, "private_key"), Rsa.KEY_TYPE_PRIVATE)
        if self.certs:
            config["certs"] = {serial: _read(path, f"certs[{serial}]") for serial, path in self.certs.items()}
        if self.merchant_certificate is not None and self.private_key is not None:
            config["merchant"] = {"cert": str(self.merchant_certificate), "key": str(self.private_key)}
        return config


_TIMEOUT_FORMS = f"seconds (0 < s <= {MAX_TIMEOUT:g}) or CONNECT,READ seconds, e.g. 10 or 3,10"


def parse_timeout(value: Any, what: str) -> Timeout:
    """`10`, `2.5`, `"3,10"` (or a TOML `[3, 10]`) -> what `Builder.factory` takes as `timeout`: seconds, or a
    (connect, read) pair. Anything else is one InvalidArgumentError naming `what` (the value is not echoed)."""
    parts = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else [value]
    numbers: List[float] = []
    for part in parts:
        number: Optional[float] = None
        if isinstance(part, (int, float)) and not isinstance(part, bool):
            number = float(part)
        elif isinstance(part, str) and part.strip():
            try:
                number = float(part.strip())
            except ValueError:
                pass
        if number is None or not 0 < number <= MAX_TIMEOUT:  # NaN fails the comparison too
            break
        numbers.append(number)
    else:
        if len(numbers) == 1:
            return numbers[0]
        if len(numbers) == 2:
            return numbers[0], numbers[1]
    raise InvalidArgumentError(f"{what} must be {_TIMEOUT_FORMS}")


def _read_text(path: Path) -> Union[str, OSError, UnicodeDecodeError]:
    """The UTF-8 text of a file, or why not; a caller raises outside any handler, so that no UnicodeDecodeError
    (it holds the whole file: a DER key, a config with secrets) rides along as __context__."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return exc


def _reason(exc: Union[OSError, UnicodeDecodeError]) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text (a binary DER or PKCS#12 file? give the PEM file)"
    return exc.strerror or type(exc).__name__


def _read(path: Path, what: str) -> str:
    text = _read_text(path)
    if isinstance(text, str):
        return text
    raise InvalidArgumentError(f"{what}: cannot read {shown_path(str(path))}: {_reason(text)}")


def _path(value: Any, base: Optional[Path], what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} must be a file path")
    if not_a_path(value):  # PEM, several lines or too long: key text, which no message may echo
        kind = "PEM text" if "-----BEGIN" in value else "key text"
        use = "pass the key itself as privateKey to Builder.factory, or a path" if what == "private_key" else (
            "give the path of the PEM file")
        raise InvalidArgumentError(f"{what} looks like {kind}, not a file path: {use}")
    text = value[len("file://"):] if value.startswith("file://") else value
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() or base is None else base / path


def _build(values: Mapping[str, Any], certs: Mapping[str, Any], base: Optional[Path], source: str) -> Settings:
    unknown = sorted(set(values) - set(_SCALARS))
    if unknown:
        raise InvalidArgumentError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(_SCALARS)}")
    out: Dict[str, Any] = {}
    for name in _SCALARS:
        value = values.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, int) and not isinstance(value, bool) and name == "mchid":
            value = str(value)
        if name == "timeout":
            out[name] = parse_timeout(value, "WECHATPAY_TIMEOUT" if source == "environment" else f"{source}: `timeout`")
            continue
        if not isinstance(value, str):
            raise InvalidArgumentError(f"{source}: `{name}` must be a string")
        if name in ("private_key", "merchant_certificate"):
            out[name] = _path(value, base, name)
        elif name in _SECRET:
            out[name] = Secret(value.strip())
        else:
            out[name] = value.strip()
    misplaced = sorted(set(map(str, certs)) & set(_SCALARS))
    if misplaced:  # e.g. the APIv3 key under [certs]: its value is no path, and is not echoed as one
        raise InvalidArgumentError(
            f"{source}: {', '.join(misplaced)} under [certs]: settings go in [wechatpay]; "
            "[certs] maps platform serials and PUB_KEY_ID_... ids to PEM files"
        )
    out["certs"] = {str(k): _path(v, base, f"certs[{k}]") for k, v in certs.items()}
    return Settings(source=source, **out)


def _load_toml(text: str, source: str) -> Dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10 with tomli installed
        try:
            import tomli as tomllib
        except ImportError:
            raise InvalidArgumentError(
                f"{source}: TOML needs Python 3.11+ or `pip install tomli`; or write the same keys as INI"
            ) from None
    problem = ""
    try:
        return dict(tomllib.loads(text))
    except ValueError as exc:
        problem = _toml_problem(str(exc))
    # raised outside the handler: a TOMLDecodeError may hold the document (Python 3.14: `doc`)
    raise InvalidArgumentError(f"{source}: not valid TOML: {problem}")


_TOML_AT = re.compile(r"^(.*?)\s*\(at (line \d+, column \d+|end of document)\)")


def _toml_problem(message: str) -> str:
    """'Invalid value (at line 2, column 13)' -> the same; a reason quoting the text ('Illegal character ..') is cut."""
    found = _TOML_AT.match(message)
    if found is None:
        return "a syntax error"
    reason, where = found.groups()
    reason = reason if re.fullmatch(r"[A-Za-z ,]{1,60}", reason) else "a syntax error"
    return f"{reason} (at {where})"


def _ini_problem(exc: configparser.Error) -> str:
    """One line naming the line number only: a configparser error quotes the offending line (a secret, say)."""
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"no [section] header before line {exc.lineno}"
    lineno = getattr(exc, "lineno", None)
    at = f" (line {lineno})" if isinstance(lineno, int) else ""
    if isinstance(exc, configparser.ParsingError):
        lines = sorted({int(number) for number, _ in exc.errors})
        where = f" {', '.join(map(str, lines))}" if lines else at
        return f"cannot parse line{where} (expected `name = value`)"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"a setting given twice{at}"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"a section given twice{at}"
    return type(exc).__name__ + at


def _load_ini(text: str, source: str) -> Dict[str, Any]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # serials are case-sensitive
    problem = ""
    try:
        parser.read_string(text, source)
    except configparser.Error as exc:
        problem = _ini_problem(exc)
    if problem:  # raised outside the handler: the configparser error holds the offending line
        raise InvalidArgumentError(f"{source}: not valid INI: {problem}")
    return {name: dict(parser[name]) for name in parser.sections()}


def read_settings(path: Union[str, os.PathLike[str]]) -> Settings:
    """Read a `.toml` file (TOML) or any other file (INI); every problem is one InvalidArgumentError line."""
    file = Path(path)
    source = str(file)
    text = _read_text(file)
    if not isinstance(text, str):
        raise InvalidArgumentError(f"config file {shown_path(source)}: {_reason(text)}")
    doc = _load_toml(text, source) if file.suffix.lower() == ".toml" else _load_ini(text, source)
    section = doc.get("wechatpay", {})
    top = {k: v for k, v in doc.items() if not isinstance(v, dict)}  # TOML may put the keys at the top level
    certs = doc.get("certs", {})
    extra = sorted(k for k, v in doc.items() if isinstance(v, dict) and k not in ("wechatpay", "certs"))
    if extra:
        raise InvalidArgumentError(f"{source}: unknown section(s) {', '.join(extra)}; known: wechatpay, certs")
    if not isinstance(section, dict) or not isinstance(certs, dict):
        raise InvalidArgumentError(f"{source}: [wechatpay] and [certs] must be tables")
    return _build({**top, **section}, certs, file.resolve().parent, source)


def settings_from_env(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """WECHATPAY_MCHID, _SERIAL, _PRIVATE_KEY (path), _CERTS ('SERIAL=path,...'), _APIV3_KEY, _SECRET, _BASE_URI,
    _MERCHANT_CERTIFICATE (path), _TIMEOUT (seconds, or 'CONNECT,READ')."""
    env = os.environ if environ is None else environ
    values = {setting: env[name] for name, setting in ENVIRONMENT.items() if env.get(name) and setting != "certs"}
    certs: Dict[str, str] = {}
    for item in filter(None, (part.strip() for part in env.get("WECHATPAY_CERTS", "").split(","))):
        serial, sep, path = item.partition("=")
        if not sep or not serial.strip() or not path.strip():
            raise InvalidArgumentError("WECHATPAY_CERTS must look like 'SERIAL=/path/a.pem,PUB_KEY_ID_...=/path/b.pem'")
        certs[serial.strip()] = path.strip()
    return _build(values, certs, None, "environment")


def load_config(path: Union[str, os.PathLike[str]]) -> Dict[str, Any]:
    """A config file -> the dict for `Builder.factory` (keys and certificates loaded)."""
    return read_settings(path).factory_config()
