"""Issue 17: the atlas' encrypted fields are encrypted without `Sensitive` or `encrypt=`, exactly once; PHP ports
that encrypt by hand keep their bytes; `decrypt_response` undoes the answer's encrypted fields.

Pure checks go through a recording `handler` (the bytes built, signed and sent); end-to-end ones through the
sandbox over loopback HTTP, with `post` and `post_async`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict

import pytest

from tests.support import Recorder
from tests.test_core import MERCHANT, PLATFORM, PLATFORM_PUB, PUB_ID, TOKEN, make, signed
from wechatpay_chain import Rsa, Sensitive
from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.models import Response
from wechatpay_chain.paysign import decrypt_response
from wechatpay_chain.sandbox import Sandbox

MODES = ["sync", "async"]
SEED = "v3/payroll-card/authentications/pre-order-with-auth"


def seed(**fields: Any) -> Dict[str, Any]:
    body = {
        "openid": "onqOjjmo8wmTOOtSKwXtGjg9Gb58", "appid": "wxa1111111", "sub_mchid": "1111111",
        "authenticate_number": "mcdhehfgisdhfjghed39384564i83", "project_name": "某项目", "employer_name": "某用工企业",
        "user_name": "张三", "id_card_number": "110101199003070000", "employment_type": "LONG_TERM_EMPLOYMENT",
        "authenticate_type": "SIGN_IN",
    }
    body.update(fields)
    return body


def run(node: Any, verb: str, mode: str, *args: Any, **kwargs: Any) -> Response:
    if mode == "sync":
        return getattr(node, verb)(*args, **kwargs)  # type: ignore[no-any-return]

    async def go() -> Response:
        return await getattr(node, verb + "_async")(*args, **kwargs)  # type: ignore[no-any-return]

    return asyncio.run(go())


def sent(rec: Recorder) -> Dict[str, Any]:
    return json.loads(rec.requests[-1].body)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", MODES)
def test_plain_strings_at_atlas_fields_are_encrypted_once_with_the_platform_key(mode: str) -> None:
    rec = Recorder(TOKEN)
    client = make(rec)
    run(client.v3.payrollCard.authentications.preOrderWithAuth, "post", mode, json=seed())
    body, headers = sent(rec), rec.requests[-1].headers
    assert headers["Wechatpay-Serial"] == PUB_ID
    assert Rsa.decrypt(body["user_name"], PLATFORM) == "张三"
    assert Rsa.decrypt(body["id_card_number"], PLATFORM) == "110101199003070000"
    assert body["project_name"] == "某项目" and "张三" not in rec.requests[-1].body.decode()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "marks",
    [
        {"json": seed(user_name=Sensitive("张三"))},
        {"json": seed(), "encrypt": ["user_name"]},
        {"json": seed(user_name=Sensitive("张三")), "encrypt": ["user_name", "id_card_number"]},
    ],
    ids=["sensitive", "encrypt-path", "both"],
)
def test_whatever_the_caller_also_marked_each_field_is_encrypted_once(marks: Dict[str, Any]) -> None:
    rec = Recorder(TOKEN)
    make(rec)[SEED].post(**marks)
    body = sent(rec)
    assert Rsa.decrypt(body["user_name"], PLATFORM) == "张三"  # one layer: the plaintext, not a ciphertext
    assert Rsa.decrypt(body["id_card_number"], PLATFORM) == "110101199003070000"


def test_a_php_port_that_encrypts_by_hand_keeps_its_bytes() -> None:
    """PHP's README: encrypt with the platform key, send `Wechatpay-Serial` yourself. Nothing more is encrypted."""
    by_hand = seed(user_name=Rsa.encrypt("张三", PLATFORM_PUB), id_card_number=Rsa.encrypt("1101", PLATFORM_PUB))
    rec = Recorder(TOKEN)
    make(rec)[SEED].post({"json": by_hand, "headers": {"Wechatpay-Serial": PUB_ID}})
    assert rec.requests[-1].body == json.dumps(by_hand, ensure_ascii=False, separators=(",", ":")).encode()
    assert rec.requests[-1].headers["Wechatpay-Serial"] == PUB_ID


def test_encrypt_false_turns_automatic_encryption_off() -> None:
    rec = Recorder(TOKEN)
    make(rec)[SEED].post(json=seed(), encrypt=False)
    assert sent(rec)["user_name"] == "张三"  # (the request still names the config's public key: issue 18)


def test_encrypt_false_still_encrypts_what_the_caller_marked() -> None:
    rec = Recorder(TOKEN)
    make(rec)[SEED].post(json=seed(user_name=Sensitive("张三")), encrypt=False)
    body = sent(rec)
    assert Rsa.decrypt(body["user_name"], PLATFORM) == "张三" and body["id_card_number"] == "110101199003070000"


@pytest.mark.parametrize("bad", [True, 1, {"user_name": True}])
def test_encrypt_takes_paths_or_false(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="`encrypt` takes field paths"):
        make(Recorder(TOKEN))[SEED].post(json=seed(), encrypt=bad)


def test_paths_not_in_the_atlas_behave_as_before() -> None:
    rec = Recorder(TOKEN)
    make(rec).v3.no.such.endpoint.post(json={"user_name": "张三"})
    assert sent(rec) == {"user_name": "张三"}


def test_optional_atlas_fields_that_are_absent_null_or_not_text_are_left_alone() -> None:
    rec = Recorder(TOKEN)
    body = seed()
    del body["id_card_number"]
    body["user_name"] = None
    make(rec)[SEED].post(json=body)
    assert sent(rec)["user_name"] is None and "id_card_number" not in sent(rec)


def test_the_literal_path_form_is_looked_up_by_its_expansion() -> None:
    rec = Recorder(TOKEN)
    make(rec)["{+path}"].post(path=SEED, json=seed())
    assert Rsa.decrypt(sent(rec)["user_name"], PLATFORM) == "张三"


def test_encrypted_query_parameters() -> None:
    """`GET v3/smartguide/guides` takes `mobile` encrypted in the query: it is, and `Wechatpay-Serial` names the key."""
    rec = Recorder(signed(b'{"data":[],"total_count":0}'))
    make(rec).v3.smartguide.guides.get(query={"store_id": "1234", "mobile": "13900000000"})
    request = rec.requests[-1]
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(request.url).query)
    assert query["store_id"] == ["1234"] and Rsa.decrypt(query["mobile"][0], PLATFORM) == "13900000000"
    assert request.headers["Wechatpay-Serial"] == PUB_ID


@pytest.fixture(scope="module")
def sb() -> Any:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.mark.parametrize("mode", MODES)
def test_the_seed_call_with_plain_strings_succeeds_against_the_sandbox(sb: Sandbox, mode: str) -> None:
    """Issue 17, done when: the seed call with plain `user_name` and `id_card_number` is encrypted automatically."""
    with sb.client() as client:
        resp = run(client.v3.payrollCard.authentications.preOrderWithAuth, "post", mode, json=seed())
    assert resp.status_code == 200 and resp.json()["token"]
    assert sb.requests[-1].decrypted == {"user_name": "张三", "id_card_number": "110101199003070000"}


@pytest.mark.parametrize("mode", MODES)
def test_the_php_port_that_encrypts_by_hand_still_succeeds(sb: Sandbox, mode: str) -> None:
    key = Rsa.from_(sb.platform_public_key_pem, Rsa.KEY_TYPE_PUBLIC)
    by_hand = seed(user_name=Rsa.encrypt("张三", key), id_card_number=Rsa.encrypt("110101199003070000", key))
    with sb.client() as client:
        resp = run(client[SEED], "post", mode, {"json": by_hand,
                                                "headers": {"Wechatpay-Serial": sb.platform_public_key_id}})
    assert resp.status_code == 200
    assert sb.requests[-1].body == json.dumps(by_hand, ensure_ascii=False, separators=(",", ":")).encode()
    assert sb.requests[-1].decrypted == {"user_name": "张三", "id_card_number": "110101199003070000"}


def test_decrypt_response_decrypts_the_fields_the_atlas_marks() -> None:
    """`GET v3/smartguide/guides` answers `data[].mobile` encrypted with the merchant key."""
    merchant_public = Rsa.from_(MERCHANT, Rsa.KEY_TYPE_PRIVATE).public_key()
    answer = {"data": [{"guide_id": "g1", "name": Rsa.encrypt("李四", merchant_public),
                        "mobile": Rsa.encrypt("13900000000", merchant_public)}], "total_count": 1}
    resp = Response.build(200, {}, json.dumps(answer).encode(), url="https://api.mch.weixin.qq.com/v3/smartguide/guides")
    out = decrypt_response(resp, MERCHANT)
    assert out["data"][0]["mobile"] == "13900000000" and out["data"][0]["guide_id"] == "g1"
    assert resp.json() == answer  # the response is untouched
    gateway = Response.build(200, {}, json.dumps(answer).encode(), url="https://gw.example/wxpay/v3/smartguide/guides")
    assert decrypt_response(gateway, MERCHANT, method="GET")["data"][0]["mobile"] == "13900000000"
    plain = Response.build(200, {}, b'{"a":"b"}', url="https://api.mch.weixin.qq.com/v3/no/such")
    assert decrypt_response(plain, MERCHANT) == {"a": "b"}
