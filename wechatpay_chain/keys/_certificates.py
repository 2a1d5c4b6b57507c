"""Platform certificates from `v3/certificates`: download, decrypt, check, verify. Pure flows, no I/O.

Shared by `AutoKeyring` (refresh in code) and `wechatpay-chain certificates download` (PHP's
`bin/CertificateDownloader.php`). The download is decrypted with the APIv3 key (AEAD_AES_256_GCM),
each certificate's serial and validity window are checked, and the response itself must verify with
a certificate in the download (as PHP's downloader does) or with an already-trusted key.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, List, Optional, Tuple, Union

from wechatpay_chain.crypto._pem import Certificate, PemUtil
from wechatpay_chain.crypto._symmetric import WRONG_APIV3_KEY, AesGcm
from wechatpay_chain.errors import ClientError, DecryptionError, InvalidArgumentError, VerificationError
from wechatpay_chain.keys._keyring import Keyring
from wechatpay_chain.models import FlowOf, Request, Response
from wechatpay_chain.protocol._signature import SERIAL, SIGNED_HEADERS, TIMESTAMP, keyring_verifier, verify_signature
from wechatpay_chain.protocol._v3 import prepare_v3_flow, raise_for_status, verify_v3

if TYPE_CHECKING:  # pragma: no cover - only a type here
    from wechatpay_chain.client._config import Config

__all__ = [
    "CERTIFICATES_PATH",
    "PUBLIC_KEY_MODE_HINT",
    "PublicKeyModeError",
    "Download",
    "certificates_flow",
    "decrypt_certificates",
    "verify_download",
    "pack_answer",
    "verify_answer",
]

CERTIFICATES_PATH = "v3/certificates"
PUBLIC_KEY_MODE_HINT = (
    "this merchant uses the WeChat Pay public key (PUB_KEY_ID_...) mode: configure "
    "certs={'PUB_KEY_ID_...': public key} instead of downloading platform certificates (in a config file for "
    "the CLI: `PUB_KEY_ID_... = pub_key.pem` under [certs]; the key is in the merchant platform, API security)"
)
#: a flow that yields requests (and sleeps) and returns T


class PublicKeyModeError(ClientError):
    """`v3/certificates` answered 404 RESOURCE_NOT_EXISTS: the merchant has no platform certificate.

    A ClientError (so `except ApiError` still catches it) whose message says what to configure instead.
    """


@dataclass(frozen=True)
class Download:
    """A verified download: the usable certificates, those skipped (outside their validity window), the response."""

    certificates: List[Certificate]
    skipped: List[Certificate]
    response: Response = dataclasses.field(repr=False)


def _public_key_mode(exc: ClientError) -> PublicKeyModeError:
    return PublicKeyModeError(
        PUBLIC_KEY_MODE_HINT,
        status_code=exc.status_code,
        code=exc.code,
        detail=exc.detail,
        request_id=exc.request_id,
        response=exc.response,
        data=exc.data,
    )


def decrypt_certificates(
    response: Response, apiv3_key: str, now: Optional[datetime] = None
) -> Tuple[List[Certificate], List[Certificate]]:
    """(valid now, outside their validity window) certificates of a `v3/certificates` body.

    Raises DecryptionError for a wrong APIv3 key and VerificationError for a malformed row or a
    certificate whose serial is not the row's `serial_no` (a swapped or tampered certificate).
    """
    try:
        rows = response.json().get("data")
    except (ValueError, AttributeError):
        rows = None
    if not isinstance(rows, list) or not rows:
        raise VerificationError("v3/certificates answered no certificate (`data` is empty or missing)", response)
    moment = now or datetime.now(timezone.utc)
    usable: List[Certificate] = []
    skipped: List[Certificate] = []
    for index, row in enumerate(rows):
        serial = row.get("serial_no") if isinstance(row, dict) else None
        box = row.get("encrypt_certificate") if isinstance(row, dict) else None
        if not isinstance(serial, str) or not isinstance(box, dict):
            raise VerificationError(f"v3/certificates row #{index} has no serial_no/encrypt_certificate", response)
        try:
            ciphertext, nonce = str(box.get("ciphertext", "")), str(box.get("nonce", ""))
            pem = AesGcm.decrypt(ciphertext, apiv3_key, nonce, str(box.get("associated_data", "")))
        except DecryptionError:
            raise DecryptionError(
                f"certificate {serial} does not decrypt with the APIv3 key: {WRONG_APIV3_KEY}"
            ) from None
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"apiv3_key: {exc}") from None
        try:
            cert = PemUtil.load_certificate_from_string(pem)
        except InvalidArgumentError as exc:
            raise VerificationError(f"certificate {serial}: {exc}", response) from None
        if cert.serial_no.upper() != serial.upper():
            raise VerificationError(
                f"v3/certificates row serial_no {serial} holds a certificate with serial {cert.serial_no}", response
            )
        (usable if cert.not_before <= moment < cert.not_after else skipped).append(cert)
    return usable, skipped


def verify_download(
    config: Config,
    request: Request,
    response: Response,
    certificates: List[Certificate],
    trusted: Any = None,
    self_signed: bool = True,
) -> None:
    """Verify the download's own signature (`verify_v3`, so `protocol.signature.verify_signature`): with a
    downloaded certificate when `self_signed` (PHP's downloader), and/or with a `trusted` key (`-c CERT`, an
    existing keyring)."""

    keys = Keyring()
    for serial in list(trusted or ()):  # a dict or a Keyring: serial -> key
        key = trusted.get(serial)
        if key is not None:
            keys.add(serial, key)
    if self_signed:
        for cert in certificates:
            keys.add(cert.serial_no, cert)
    if not len(keys):
        raise InvalidArgumentError("no key to verify the download with: give a trusted key or allow self_signed")

    signer = response.headers.get(SERIAL, "")
    if signer and signer not in keys:
        shown = signer[:64]
        hint = (f" (trust the WeChat Pay public key: certs={{'{shown}': key}}, or -c {shown}=pub_key.pem)"
                if signer.startswith("PUB_KEY_ID_") else "")
        raise VerificationError(
            f"v3/certificates is signed by {shown}, neither a downloaded certificate nor a trusted key{hint}",
            response,
        )

    checking = dataclasses.replace(config, certs=keys, verifier=keyring_verifier(keys), custom_verifier=False)
    verify_v3(checking, request, response)


def certificates_flow(
    config: Config,
    ua: str,
    *,
    apiv3_key: Optional[str] = None,
    trusted: Any = None,
    self_signed: bool = True,
) -> FlowOf[Download]:
    """GET v3/certificates (signed like any call), then decrypt, check and verify it; returns a Download.

    A 404 RESOURCE_NOT_EXISTS becomes PublicKeyModeError; nothing is trusted until all of it verified.
    """

    key = apiv3_key if apiv3_key is not None else (config.apiv3_key.reveal() if config.apiv3_key else None)
    if not key:
        raise InvalidArgumentError("downloading platform certificates needs the APIv3 key (`apiv3_key`)")
    request = yield from prepare_v3_flow(config, "GET", CERTIFICATES_PATH, {}, {}, ua)
    response = yield request
    try:
        raise_for_status(response, request.signed)
    except ClientError as exc:
        if exc.status_code == 404 and exc.code == "RESOURCE_NOT_EXISTS":
            raise _public_key_mode(exc) from None
        raise
    usable, skipped = decrypt_certificates(response, key, datetime.fromtimestamp(config.clock(), timezone.utc))
    if not usable:
        dates = ", ".join(f"{c.serial_no} ({c.not_before:%Y-%m-%d}..{c.not_after:%Y-%m-%d})" for c in skipped)
        raise VerificationError(f"no downloaded certificate is valid now: {dates}", response)
    verify_download(config, request, response, usable, trusted, self_signed)
    return Download(usable, skipped, response)


# -- a download kept for other processes (a SharedCertificateStore) -------------------------------------
#: the answer headers a stored download keeps: the signed ones and the request id (no secret among them)
_KEPT = (*SIGNED_HEADERS, "Request-ID")


def pack_answer(response: Response) -> Optional[bytes]:
    """The signed `v3/certificates` answer as stored for other processes: its signature headers and body, as JSON.

    Only what the service sent: the certificates stay encrypted under the APIv3 key, and nothing secret is kept.
    None for a body that is not UTF-8 text (never a real answer): such an answer is not shared.
    """
    try:
        body = response.content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    headers = {name: str(response.headers[name]) for name in _KEPT if response.headers.get(name)}
    return json.dumps({"v": 1, "headers": headers, "body": body}, separators=(",", ":")).encode("utf-8")


def _unpack_answer(entry: Union[str, bytes]) -> Response:
    try:
        doc = json.loads(entry)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or doc.get("v") != 1:
        raise VerificationError("the stored v3/certificates answer is not one this version wrote")
    headers, body = doc.get("headers"), doc.get("body")
    if not isinstance(headers, dict) or not isinstance(body, str):
        raise VerificationError("the stored v3/certificates answer lacks its headers or body")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise VerificationError("the stored v3/certificates answer has headers that are not text")
    return Response.build(200, headers, body.encode("utf-8"))


def verify_answer(
    entry: Union[str, bytes], apiv3_key: str, *, now: float, trusted: Any = None, max_skew: int = 300
) -> Tuple[List[Certificate], float]:
    """(certificates valid now, the answer's signed time) of a stored `v3/certificates` answer, verified as a download.

    A stored answer is data, not trust: what the service signed is checked again exactly as `certificates_flow`
    checks a download (each certificate decrypts with the APIv3 key, holds its row's serial and is valid now; the
    answer's signature verifies with a certificate in it or a `trusted` key), except the clock window: its
    signed `Wechatpay-Timestamp` is its age, which the caller judges (and returned), not a sign of a replay.
    An answer timestamped more than `max_skew` ahead of `now` is refused. Raises VerificationError or
    DecryptionError (a wrong APIv3 key, a tampered certificate), never returns a partial result.
    """
    response = _unpack_answer(entry)
    try:
        signed_at = int(response.headers.get(TIMESTAMP, ""))
    except ValueError:
        raise VerificationError("the stored v3/certificates answer has no valid Wechatpay-Timestamp") from None
    if signed_at > now + max_skew:
        raise VerificationError("the stored v3/certificates answer is timestamped in the future")
    usable, _ = decrypt_certificates(response, apiv3_key, datetime.fromtimestamp(now, timezone.utc))
    if not usable:
        raise VerificationError("the stored v3/certificates answer holds no certificate valid now")
    keys = Keyring()
    for serial in list(trusted or ()):
        key = trusted.get(serial)
        if key is not None:
            keys.add(serial, key)
    for cert in usable:
        keys.add(cert.serial_no, cert)
    text = response.content.decode("utf-8")
    verify_signature(response.headers, text, now=float(signed_at), max_skew=max_skew, keys=keys,
                     subject="stored v3/certificates answer", response=response)
    return usable, float(signed_at)
