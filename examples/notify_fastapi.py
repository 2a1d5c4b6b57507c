"""WeChat Pay APIv3 payment callback endpoint on FastAPI (any ASGI server, e.g. uvicorn).

    WECHATPAY_APIV3_KEY=... WECHATPAY_PLATFORM_SERIAL=PUB_KEY_ID_... \\
    WECHATPAY_PLATFORM_KEY=file:///path/pub_key.pem  python examples/notify_fastapi.py

The route takes the bare ``Request`` so it can verify ``await request.body()`` byte for byte;
a pydantic model would re-serialise the JSON and break the signature.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional, Union

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from wechatpay_chain import Keyring, WeChatPayError
from wechatpay_chain.notify import ReplayGuard, parse_notification

log = logging.getLogger("notify_fastapi")

Handler = Callable[[Dict[str, Any]], Awaitable[None]]


def create_app(
    *,
    certs: Union[Keyring, Mapping[str, Any]],
    apiv3_key: str,
    on_notification: Handler,
    replay_guard: Optional[ReplayGuard] = None,
) -> FastAPI:
    """POST /notify: 200 SUCCESS after ``await on_notification(notification)``; 400/500 FAIL otherwise."""
    keyring = certs if isinstance(certs, Keyring) else Keyring(certs)
    guard = replay_guard or ReplayGuard()
    app = FastAPI()

    @app.post("/notify")
    async def notify(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            # pure CPU (one RSA verify, one AES-GCM decrypt): fine to run on the event loop
            notification = parse_notification(
                request.headers, body, certs=keyring, apiv3_key=apiv3_key, replay_guard=guard
            )
        except WeChatPayError as exc:
            # WeChat Pay's signature probe (WECHATPAY/SIGNTEST/, `exc.probe`) lands here too: this failure answer
            # is what it expects. Log it quietly; any other refusal is worth a look.
            level = logging.INFO if getattr(exc, "probe", False) else logging.WARNING
            log.log(level, "refused a WeChat Pay callback: %s", exc)
            return JSONResponse({"code": "FAIL", "message": str(exc)}, status_code=400)
        try:
            await on_notification(notification)
        except Exception:
            log.exception("handling WeChat Pay notification %s failed", notification.get("id"))
            return JSONResponse({"code": "FAIL", "message": "handler failed"}, status_code=500)
        return JSONResponse({"code": "SUCCESS"})

    return app


async def _handle(notification: Dict[str, Any]) -> None:
    tx = notification["resource"]
    print(notification["event_type"], tx.get("out_trade_no"), tx.get("trade_state"))


if __name__ == "__main__":  # pragma: no cover
    import uvicorn

    application = create_app(
        certs={os.environ["WECHATPAY_PLATFORM_SERIAL"]: os.environ["WECHATPAY_PLATFORM_KEY"]},
        apiv3_key=os.environ["WECHATPAY_APIV3_KEY"],
        on_notification=_handle,
    )
    uvicorn.run(application, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
