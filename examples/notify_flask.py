"""WeChat Pay APIv3 payment callback endpoint on Flask.

    WECHATPAY_APIV3_KEY=... WECHATPAY_PLATFORM_SERIAL=PUB_KEY_ID_... \\
    WECHATPAY_PLATFORM_KEY=file:///path/pub_key.pem  python examples/notify_flask.py

``create_app`` is what a real project copies: it verifies the callback over the *raw* body
(``request.get_data()``, never a re-serialised ``request.json``), decrypts it and hands it on.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Dict, Mapping, Optional, Union

from flask import Flask, jsonify, request

from wechatpay_chain import Keyring, WeChatPayError
from wechatpay_chain.notify import ReplayGuard, parse_notification

log = logging.getLogger("notify_flask")

Handler = Callable[[Dict[str, Any]], None]


def create_app(
    *,
    certs: Union[Keyring, Mapping[str, Any]],
    apiv3_key: str,
    on_notification: Handler,
    replay_guard: Optional[ReplayGuard] = None,
) -> Flask:
    """POST /notify: 200 {"code":"SUCCESS"} once ``on_notification(notification)`` returned.

    ``notification["resource"]`` is the decrypted transaction (or refund, ...). An untrusted
    callback gets 400 FAIL; a failing handler gets 500 FAIL, so WeChat Pay delivers it again.
    """
    keyring = certs if isinstance(certs, Keyring) else Keyring(certs)  # keys parsed once, at start-up
    guard = replay_guard or ReplayGuard()
    app = Flask(__name__)

    @app.post("/notify")
    def notify() -> Any:
        try:
            notification = parse_notification(
                request.headers, request.get_data(), certs=keyring, apiv3_key=apiv3_key, replay_guard=guard
            )
        except WeChatPayError as exc:
            # WeChat Pay's signature probe (WECHATPAY/SIGNTEST/, `exc.probe`) lands here too: this failure answer
            # is what it expects. Log it quietly; any other refusal is worth a look.
            level = logging.INFO if getattr(exc, "probe", False) else logging.WARNING
            log.log(level, "refused a WeChat Pay callback: %s", exc)
            return jsonify(code="FAIL", message=str(exc)), 400
        try:
            on_notification(notification)
        except Exception:
            log.exception("handling WeChat Pay notification %s failed", notification.get("id"))
            return jsonify(code="FAIL", message="handler failed"), 500
        return jsonify(code="SUCCESS")

    return app


def _handle(notification: Dict[str, Any]) -> None:
    tx = notification["resource"]
    print(notification["event_type"], tx.get("out_trade_no"), tx.get("trade_state"))


if __name__ == "__main__":  # pragma: no cover
    application = create_app(
        certs={os.environ["WECHATPAY_PLATFORM_SERIAL"]: os.environ["WECHATPAY_PLATFORM_KEY"]},
        apiv3_key=os.environ["WECHATPAY_APIV3_KEY"],
        on_notification=_handle,
    )
    application.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))

