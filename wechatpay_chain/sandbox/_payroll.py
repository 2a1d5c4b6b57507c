"""The sandbox's payroll-card (微工卡) endpoints, home of the seed call `pre-order-with-auth`.

`user_name` and `id_card_number` are sensitive: the server decrypts them with the platform key named
by `Wechatpay-Serial` before these handlers run (a plaintext value is refused with 400 PARAM_ERROR).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

from wechatpay_chain.sandbox._endpoints import CST, param_error, require, require_query, rfc3339
from wechatpay_chain.sandbox._protocol import Call, Endpoint, Rejection, Reply, json_reply

if TYPE_CHECKING:  # pragma: no cover
    from wechatpay_chain.sandbox._server import Sandbox

__all__ = ["PayrollCard", "SENSITIVE"]

SENSITIVE = ("user_name", "id_card_number")
_BASE = "/v3/payroll-card"
_EMPLOYMENT = ("LONG_TERM_EMPLOYMENT", "SHORT_TERM_EMPLOYMENT", "COOPERATION_EMPLOYMENT")
_AUTH_TYPES = ("SIGN_IN", "INSURANCE", "CONTRACT")


class PayrollCard:
    """Authentications (by authenticate_number) and tokens, in memory."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.authentications: Dict[str, Dict[str, Any]] = {}
        self.tokens: Dict[str, Dict[str, Any]] = {}

    def endpoints(self) -> List[Endpoint]:
        return [
            Endpoint("POST", f"{_BASE}/authentications/pre-order-with-auth", self.pre_order_with_auth, SENSITIVE),
            Endpoint("POST", f"{_BASE}/authentications/pre-order", self.pre_order),
            Endpoint("GET", _BASE + "/authentications/{authenticate_number}", self.authentication),
            Endpoint("POST", f"{_BASE}/tokens", self.token, SENSITIVE),
        ]

    @staticmethod
    def _enum(doc: Dict[str, Any], name: str, allowed: Tuple[str, ...]) -> None:
        if doc.get(name) not in allowed:
            raise param_error(f"/{name}", f"{name} 取值须为 {' | '.join(allowed)} 之一")

    def _token(self, openid: str) -> str:
        token = secrets.token_hex(20)
        self.tokens[token] = {"openid": openid}
        return token

    def pre_order_with_auth(self, call: Call) -> Reply:
        doc = call.json
        require(doc, "openid", "appid", "sub_mchid", "authenticate_number", "project_name", "employer_name",
                 "user_name", "id_card_number", "employment_type", "authenticate_type")
        self._enum(doc, "employment_type", _EMPLOYMENT)
        self._enum(doc, "authenticate_type", _AUTH_TYPES)
        if not re.fullmatch(r"[0-9A-Za-z_\-|*@]{1,64}", doc["authenticate_number"]):
            raise param_error("/authenticate_number", "authenticate_number 须为 1-64 位数字、字母或 _-|*@")
        self._authentication(doc, "FROM_MINIPROGRAM")
        return self._pre_order_reply(doc)

    def pre_order(self, call: Call) -> Reply:
        doc = call.json
        require(doc, "openid", "appid", "sub_mchid", "authenticate_number", "project_name", "employer_name")
        self._authentication(doc, "FROM_MINIPROGRAM")
        return self._pre_order_reply(doc)

    def _pre_order_reply(self, doc: Dict[str, Any]) -> Reply:
        """The documented answer of both pre-order calls: the request's ids, the sandbox merchant, a token."""
        return json_reply({
            "authenticate_number": doc["authenticate_number"], "openid": doc["openid"], "mchid": self.sb.mchid,
            "sub_mchid": doc["sub_mchid"], "token": self._token(doc["openid"]), "expires_in": 1800,
        })

    def _authentication(self, doc: Dict[str, Any], source: str) -> None:
        self.authentications[doc["authenticate_number"]] = {
            "mchid": self.sb.mchid, "sub_mchid": doc["sub_mchid"], "openid": doc["openid"],
            "authenticate_scene": "FROM_MINI_APP", "authenticate_source": source,
            "project_name": doc["project_name"], "employer_name": doc["employer_name"],
            "authenticate_state": "AUTHENTICATE_PROCESSING", "authenticate_time": rfc3339(datetime.now(CST)),
            "authenticate_number": doc["authenticate_number"],
        }

    def authentication(self, call: Call) -> Reply:
        require_query(call, "sub_mchid")
        record = self.authentications.get(call.params["authenticate_number"])
        if record is None or record["sub_mchid"] != call.query["sub_mchid"]:
            raise Rejection(404, "NOT_FOUND", "核身记录不存在")
        return json_reply(record)

    def token(self, call: Call) -> Reply:
        doc = call.json
        require(doc, "openid", "appid", "sub_mchid", "user_name", "id_card_number", "employment_type")
        self._enum(doc, "employment_type", _EMPLOYMENT)
        return json_reply({
            "openid": doc["openid"], "mchid": self.sb.mchid, "sub_mchid": doc["sub_mchid"], "appid": doc["appid"],
            "sub_appid": doc.get("sub_appid", ""), "auth_state": "UNAUTHORIZED",
            "token": self._token(doc["openid"]), "expires_in": 1800,
        })
