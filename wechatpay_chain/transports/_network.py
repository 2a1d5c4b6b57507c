"""One resolution of trust, proxies and content decoding, which both transports apply alike.

requests makes these decisions for the sync transport (its adapter: the certifi bundle or
`REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE`, `verify=` a file, a directory or False, the client certificate;
proxies from the config or the environment). The async transport takes the same inputs through the same
functions and hands aiohttp an `ssl.SSLContext` built as requests' adapter builds its own (urllib3's
`create_urllib3_context`), so one environment gives one trust decision on every path.
"""

from __future__ import annotations

import io
import os
import ssl
import threading
from typing import Any, Dict, Mapping, Optional, Tuple

from wechatpay_chain.errors import InvalidArgumentError, TransportError
from wechatpay_chain.models import Request, origin_of
from wechatpay_chain.transports._base import describe

__all__ = ["Network", "decode_content", "unverified"]

#: proxy schemes both transports can carry (aiohttp speaks HTTP to a proxy; SOCKS needs extras on either side)
_PROXY_SCHEMES = ("http://", "https://")


class Network:
    """The trust and proxy settings of one client, resolved once (the environment is read when it is made).

    `verify` is what requests' `Session.request` would use: the config's `verify`; if that is True or not given
    and the environment is trusted, `REQUESTS_CA_BUNDLE` or `CURL_CA_BUNDLE` when set; else a caller's
    session's `verify`, else True. A CA path that does not exist or does not load is an InvalidArgumentError
    here, before any I/O, on both transports.
    """

    def __init__(self, options: Mapping[str, Any], trust_env: bool = True) -> None:
        session = options.get("session")  # a caller's requests.Session: its `verify`, `trust_env` and proxies
        self._session = session
        self.trust_env = trust_env = session.trust_env if session is not None else trust_env
        verify: Any = options.get("verify")
        if trust_env and (verify is True or verify is None):  # as `Session.merge_environment_settings`
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
        if verify is None:
            verify = session.verify if session is not None else True
        if not isinstance(verify, (bool, str, os.PathLike)):
            raise InvalidArgumentError("`verify` must be True, False or the path of a CA bundle file or directory")
        if not isinstance(verify, bool):
            verify = os.fspath(verify)
            self._check_ca(verify)
        self.verify: Any = verify
        self._configured: Optional[Mapping[str, Optional[str]]] = options.get("proxies")
        #: whether any proxy can apply at all (else every call goes direct, with nothing to resolve per origin)
        self._proxied = bool(
            (self._configured and any(self._configured.values()))
            or (self._configured is None and trust_env and _environ_has_proxies())
            or (session is not None and any(session.proxies.values()))
        )
        self._routes: Dict[str, Dict[str, str]] = {}
        self._chosen: Dict[str, Optional[str]] = {}
        self._contexts: Dict[Optional[Tuple[str, str]], ssl.SSLContext] = {}
        self._lock = threading.Lock()

    # -- trust ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _check_ca(path: str) -> None:
        if not os.path.exists(path):
            raise InvalidArgumentError(f"`verify` (or REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE): no CA bundle at {path!r}")
        try:
            _context(path, None)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise InvalidArgumentError(
                f"`verify` (or REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE): {path!r} holds no CA certificate that loads "
                f"({type(exc).__name__})"
            ) from None

    def ssl_context(self, cert: Optional[Tuple[str, str]]) -> ssl.SSLContext:
        """The TLS context requests' adapter would build for `verify` and a client certificate (built once each).

        A client certificate and key that do not load (a key that is not the certificate's, say) raise
        `ssl.SSLError` / `OSError`, as they do inside requests; the transports report them alike."""
        found = self._contexts.get(cert)
        if found is None:
            found = _context(self.verify, cert)
            with self._lock:
                self._contexts[cert] = found
        return found

    def tls_for(self, request: Request) -> ssl.SSLContext:
        """`ssl_context` for a request's client certificate; one that does not load (a key that is not the
        certificate's, say) is a TransportError of kind `connect` on both transports: nothing was sent."""
        try:
            return self.ssl_context(request.cert)
        except (ssl.SSLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or "does not load"
            problem = f"{type(exc).__name__}: {reason}"
        raise TransportError(
            f"{describe(request)} failed: the client certificate and key do not load ({problem})", "connect"
        )

    # -- proxies -------------------------------------------------------------------------------------------------
    def proxies(self, url: str) -> Dict[str, str]:
        """The proxies for `url`: the config's `proxies` if given (`{}`: none), else the environment's
        (`HTTP(S)_PROXY`, `ALL_PROXY`, honouring `NO_PROXY`), resolved once per origin."""
        if not self._proxied:
            return {}
        origin = origin_of(url)
        found = self._routes.get(origin)
        if found is None:
            import requests.utils

            given: Dict[str, Any] = dict(self._configured or {})
            if self._session is not None:  # as `Session.merge_environment_settings`, then the session's own
                found = given
                if self.trust_env:
                    for scheme, proxy in requests.utils.get_environ_proxies(url, found.get("no_proxy")).items():
                        found.setdefault(scheme, proxy)
                found = {**self._session.proxies, **found}
            elif self._configured is not None:
                found = given
            elif self.trust_env:
                found = dict(requests.utils.get_environ_proxies(url))
            else:
                found = {}
            found = {k: v for k, v in found.items() if v}
            chosen = requests.utils.select_proxy(url, found)
            if chosen and not chosen.lower().startswith(_PROXY_SCHEMES):
                raise InvalidArgumentError(
                    f"proxy for {origin}: only http:// and https:// proxies are supported, not {chosen.split(':')[0]}"
                )
            with self._lock:
                self._routes[origin] = found
        return found

    def proxy(self, url: str) -> Optional[str]:
        """The one proxy URL requests would pick for `url` from `proxies(url)` (`requests.utils.select_proxy`)."""
        if not self._proxied:
            return None
        origin = origin_of(url)
        try:
            return self._chosen[origin]
        except KeyError:
            import requests.utils

            chosen: Optional[str] = requests.utils.select_proxy(url, self.proxies(url))
            self._chosen[origin] = chosen
            return chosen


def _environ_has_proxies() -> bool:
    """Whether the environment names any proxy (what `requests.utils.get_environ_proxies` reads)."""
    from urllib.request import getproxies

    return any(v for k, v in getproxies().items() if k != "no")


def _context(verify: Any, cert: Optional[Tuple[str, str]]) -> ssl.SSLContext:
    """As requests' adapter: urllib3's context; certifi's bundle for True, a file or a directory of CAs, or no
    verification for False; the client certificate chain if any."""
    from urllib3.util import create_urllib3_context

    ctx = create_urllib3_context()
    if verify is False:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        if verify is True:
            from requests.utils import DEFAULT_CA_BUNDLE_PATH, extract_zipped_paths

            ctx.load_verify_locations(cafile=extract_zipped_paths(DEFAULT_CA_BUNDLE_PATH))  # type: ignore[no-untyped-call]
        elif os.path.isdir(verify):
            ctx.load_verify_locations(capath=verify)
        else:
            ctx.load_verify_locations(cafile=verify)
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def decode_content(content: bytes, encoding: str, status: int) -> bytes:
    """Undo a `Content-Encoding` as urllib3's `decode_content=True` does, for both transports alike: gzip,
    deflate, stacked codings, br/zstd when their packages are installed; unknown codings are left as they are,
    and a corrupt body is urllib3's `DecodeError`. A gzip stream cut short decodes to what it holds, without an
    error (urllib3 does not check for the end of the stream): on a 2xx the signature then fails to verify."""
    import urllib3

    r = urllib3.HTTPResponse(
        body=io.BytesIO(content),
        headers={"Content-Encoding": encoding},
        status=status,
        preload_content=True,
        decode_content=True,
    )
    return bytes(r.data)


def unverified(url: str) -> None:
    """urllib3's warning for an HTTPS request whose certificate is not checked (`verify=False`), which the sync
    transport gets from urllib3 itself: the async transport gives the same one, so `-W error` treats both alike."""
    import warnings

    from urllib3.exceptions import InsecureRequestWarning

    host = origin_of(url).split("://", 1)[-1]
    warnings.warn(
        f"Unverified HTTPS request is being made to host '{host}'. Adding certificate verification is strongly "
        "advised (`verify` is False).",
        InsecureRequestWarning,
        stacklevel=2,
    )
