"""WeChat Pay APIv3 payment callback endpoint on Django, as one self-contained file.

    WECHATPAY_APIV3_KEY=... WECHATPAY_PLATFORM_SERIAL=PUB_KEY_ID_... \\
    WECHATPAY_PLATFORM_KEY=file:///path/pub_key.pem  python examples/notify_django.py

In a real project only ``notify`` (the view) and ``configure_notify`` move into your app; the
settings block below stands in for ``settings.py``. The view reads ``request.body`` (the raw bytes
that were signed) and ``request.headers``.
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any, Callable, Dict, Mapping, Optional, Union

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from wechatpay_chain import Keyring, WeChatPayError
from wechatpay_chain.notify import ReplayGuard, parse_notification

log = logging.getLogger("notify_django")

Handler = Callable[[Dict[str, Any]], None]
_state: Dict[str, Any] = {}


def configure_notify(
    *,
    certs: Union[Keyring, Mapping[str, Any]],
    apiv3_key: str,
    on_notification: Handler,
    replay_guard: Optional[ReplayGuard] = None,
) -> None:
    """Keys parsed once at start-up; ``on_notification(notification)`` gets the decrypted callback."""
    _state.update(
        keyring=certs if isinstance(certs, Keyring) else Keyring(certs),
        apiv3_key=apiv3_key,
        handler=on_notification,
        guard=replay_guard or ReplayGuard(),
    )


@csrf_exempt  # WeChat Pay cannot send a CSRF token; the RSA signature is what authenticates it
@require_POST
def notify(request: HttpRequest) -> JsonResponse:
    """POST /notify: 200 SUCCESS when handled; 400 FAIL when untrusted; 500 FAIL when the handler failed."""
    try:
        notification = parse_notification(
            request.headers, request.body,
            certs=_state["keyring"], apiv3_key=_state["apiv3_key"], replay_guard=_state["guard"],
        )
    except WeChatPayError as exc:
        # WeChat Pay's signature probe (WECHATPAY/SIGNTEST/, `exc.probe`) lands here too: this failure answer
        # is what it expects. Log it quietly; any other refusal is worth a look.
        level = logging.INFO if getattr(exc, "probe", False) else logging.WARNING
        log.log(level, "refused a WeChat Pay callback: %s", exc)
        return JsonResponse({"code": "FAIL", "message": str(exc)}, status=400)
    try:
        _state["handler"](notification)
    except Exception:
        log.exception("handling WeChat Pay notification %s failed", notification.get("id"))
        return JsonResponse({"code": "FAIL", "message": "handler failed"}, status=500)
    return JsonResponse({"code": "SUCCESS"})


urlpatterns = [path("notify", notify)]


def get_application(**config: Any) -> Any:
    """Configure Django (once per process) with this module as the URLconf; return the WSGI app."""
    configure_notify(**config)
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY=secrets.token_urlsafe(32),
            ALLOWED_HOSTS=["127.0.0.1", "localhost"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def _handle(notification: Dict[str, Any]) -> None:
    tx = notification["resource"]
    print(notification["event_type"], tx.get("out_trade_no"), tx.get("trade_state"))


if __name__ == "__main__":  # pragma: no cover
    from wsgiref.simple_server import make_server

    application = get_application(
        certs={os.environ["WECHATPAY_PLATFORM_SERIAL"]: os.environ["WECHATPAY_PLATFORM_KEY"]},
        apiv3_key=os.environ["WECHATPAY_APIV3_KEY"],
        on_notification=_handle,
    )
    make_server("127.0.0.1", int(os.environ.get("PORT", "8000")), application).serve_forever()
