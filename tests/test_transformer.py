"""Port of wechatpay-php tests/TransformerTest.php plus byte-exact, shape and hostile-XML checks."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.protocol._transformer import MAX_XML_SIZE, Transformer

FIXTURES = Path(__file__).parent / "fixtures" / "xml"
XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>'


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- PHP testToArray


@pytest.mark.parametrize(
    "name, keys",
    [
        ("sendredpack.sample.xml", [
            "sign", "mch_billno", "mch_id", "wxappid", "send_name", "re_openid", "total_amount",
            "total_num", "wishing", "client_ip", "act_name", "remark", "scene_id", "nonce_str", "risk_info",
        ]),
        ("paysuccess.notification.sample.xml", [
            "appid", "attach", "bank_type", "fee_type", "is_subscribe", "mch_id", "nonce_str", "openid",
            "out_trade_no", "result_code", "return_code", "sign", "time_end", "total_fee", "coupon_fee",
            "coupon_count", "coupon_type", "coupon_id", "trade_type", "transaction_id",
        ]),
        ("unifiedorder.sample.xml", [
            "appid", "attach", "body", "mch_id", "detail", "nonce_str", "notify_url", "openid",
            "out_trade_no", "spbill_create_ip", "total_fee", "trade_type", "sign",
        ]),
        ("refund.notification.req_info.sample.xml", [
            "out_refund_no", "out_trade_no", "refund_account", "refund_fee", "refund_id",
            "refund_recv_accout",
            "refund_request_source", "refund_status", "settlement_refund_fee", "settlement_total_fee",
            "success_time", "total_fee", "transaction_id",
        ]),
        ("getpublickey.response.sample.xml",
         ["return_code", "return_msg", "result_code", "mch_id", "pub_key"]),
    ],
)
def test_to_array(name: str, keys: List[str]) -> None:
    array = Transformer.to_array(fixture(name))
    assert isinstance(array, dict) and array
    for key in keys:
        assert key in array
        assert isinstance(array[key], str)
        assert "<![CDATA[" not in array[key]
        assert "]]>" not in array[key]
    assert list(array) == keys  # document order, nothing else


def test_to_array_values() -> None:
    order = Transformer.to_array(fixture("unifiedorder.sample.xml"))
    assert order["attach"] == "支付测试"
    assert order["total_fee"] == "1"
    assert json.loads(order["detail"])["goods_detail"][1]["body"] == "苹果手机"
    redpack = Transformer.to_array(fixture("sendredpack.sample.xml").encode("utf-8"))
    assert redpack["wishing"] == "恭喜发财"
    assert redpack["risk_info"] == (
        "posttime%3d123123412%26clientversion%3d234134%26mobile%3d122344545%26deviceid%3dIOS"
    )
    key = Transformer.to_array(fixture("getpublickey.response.sample.xml"))["pub_key"]
    assert key.startswith("-----BEGIN RSA PUBLIC KEY-----\nMIIBCgKCAQEArT82k67")
    assert key.endswith("-----END RSA PUBLIC KEY-----\n")


def test_to_array_default() -> None:
    assert Transformer.to_array() == {}


# ---------------------------------------------------------------- PHP testToArrayBadPhrases


def test_to_array_fragment_injection_is_plain_data() -> None:
    array = Transformer.to_array(fixture("fragment_injection.sample.xml"))
    assert array == {
        "payment": [
            {"account": "5678-attacker", "rcpt": "206-1234", "amount": "100.00", "comment": ""},
            {"account": "1234-victim", "rcpt": "206-1234", "amount": "100.00", "comment": "Hacked"},
        ]
    }


@pytest.mark.parametrize(
    "name",
    ["invalid.xxe_injection.sample.xml", "invalid.bad_entity.sample.xml", "invalid.normal_404.sample.html"],
)
def test_to_array_bad_phrases(name: str) -> None:
    # PHP returns [] (or, for the XXE sample, the unexpanded tree) and leaves a warning; we raise.
    with pytest.raises(InvalidArgumentError, match=r"^Parsing the xml failed"):
        Transformer.to_array(fixture(name))


# ---------------------------------------------------------------- PHP testToXml

DETAIL_JSON = json.dumps([{"goods_detail": "华为手机", "url": "https://huawei.com"}], ensure_ascii=False,
                         separators=(",", ":"))
FLAT = {"appid": "wx2421b1c4370ec43b", "body": "dummybot", "mch_id": "10000100", "detail": DETAIL_JSON}
NESTED = {**FLAT, "detail": [{"goods_detail": "华为手机", "url": "https://huawei.com"}]}

TO_XML_CASES: Dict[str, Any] = {
    "normal 1-depth array with extra default options": (
        FLAT, True, False, "xml", "item",
        '<xml><appid>wx2421b1c4370ec43b</appid><body>dummybot</body><mch_id>10000100</mch_id>'
        '<detail><![CDATA[[{"goods_detail":"华为手机","url":"https://huawei.com"}]]]></detail></xml>',
    ),
    "normal 1-depth array with headless=false and indent=true": (
        FLAT, False, True, "xml", "item",
        XML_DECL + "\n<xml>\n <appid>wx2421b1c4370ec43b</appid>\n <body>dummybot</body>\n"
        " <mch_id>10000100</mch_id>\n"
        ' <detail><![CDATA[[{"goods_detail":"华为手机","url":"https://huawei.com"}]]]></detail>\n</xml>\n',
    ),
    "2-depth array with extra default options": (
        NESTED, True, False, "xml", "item",
        "<xml><appid>wx2421b1c4370ec43b</appid><body>dummybot</body><mch_id>10000100</mch_id>"
        "<detail><item><goods_detail>华为手机</goods_detail><url>https://huawei.com</url></item></detail></xml>",
    ),
    "2-depth array with headless=false, indent=true and root=qqpay": (
        NESTED, False, True, "qqpay", "item",
        XML_DECL + "\n<qqpay>\n <appid>wx2421b1c4370ec43b</appid>\n <body>dummybot</body>\n"
        " <mch_id>10000100</mch_id>\n <detail>\n  <item>\n   <goods_detail>华为手机</goods_detail>\n"
        "   <url>https://huawei.com</url>\n  </item>\n </detail>\n</qqpay>\n",
    ),
}


@pytest.mark.parametrize(
    "data, headless, indent, root, item, expected", list(TO_XML_CASES.values()), ids=list(TO_XML_CASES)
)
def test_to_xml(
    data: Dict[str, Any], headless: bool, indent: bool, root: str, item: str, expected: str
) -> None:
    xml = Transformer.to_xml(data, headless, indent, root, item)
    assert isinstance(xml, str) and xml
    if headless:
        assert XML_DECL not in xml
    else:
        assert xml.startswith(XML_DECL)
    if indent:
        assert xml.count("\n") >= 2
    else:
        assert xml.count("\n") <= (0 if headless else 2)
    tag = re.escape(root)
    assert re.search(r"(?:<\?xml[^>]+\?>\n?)?<" + tag + ">.*</" + tag + r">\n?", xml, re.S)
    assert xml == expected
    # and it reads back
    back = Transformer.to_array(xml)
    assert back["appid"] == "wx2421b1c4370ec43b"


def test_to_xml_defaults_and_headed_no_indent() -> None:
    assert Transformer.to_xml({"a": "1"}) == "<xml><a>1</a></xml>"
    assert Transformer.to_xml({"a": "1"}, False) == XML_DECL + "\n<xml><a>1</a></xml>\n"
    assert Transformer.to_xml({"a": "1"}, True, True) == "<xml>\n <a>1</a>\n</xml>\n"
    assert Transformer.to_xml({}) == "<xml/>"
    assert Transformer.to_xml({}, False) == XML_DECL + "\n<xml/>\n"
    assert Transformer.to_xml({}, True, True) == "<xml/>\n"


def test_to_xml_php_rules() -> None:
    data = {
        "lt": "a<b", "gt": "a>b", "amp": "a&b", "quot": 'say "hi"', "apos": "it's", "cr": "a\r\nb",
        "int": 1, "true": True, "false": False, "none": None, "float": 0.1 + 0.2, "empty": "",
        "zero": "0", "list": ["x", "y"], "empty_list": [], "empty_dict": {},
        "has space": "v", "9digit": "v", "中文": "v", "_ok.name-1:x": "v", 3: "v",
    }
    assert Transformer.to_xml(data) == (
        "<xml><lt><![CDATA[a<b]]></lt><gt><![CDATA[a>b]]></gt><amp><![CDATA[a&b]]></amp>"
        '<quot><![CDATA[say "hi"]]></quot><apos>it\'s</apos><cr>a&#13;\nb</cr>'
        "<int>1</int><true>1</true><false></false><none></none><float>0.3</float><empty></empty>"
        "<zero>0</zero><list><item>x</item><item>y</item></list><empty_list/><empty_dict/>"
        "<item>v</item><item>v</item><中文>v</中文><_ok.name-1:x>v</_ok.name-1:x><item>v</item></xml>"
    )


def test_to_xml_indent_empty_and_cdata() -> None:
    data = {"a": "", "b": [], "c": "x&y", "d": {"e": {}}}
    assert Transformer.to_xml(data, True, True, "root", "node") == (
        "<root>\n <a></a>\n <b/>\n <c><![CDATA[x&y]]></c>\n <d>\n  <e/>\n </d>\n</root>\n"
    )


def test_to_xml_custom_item_and_tuples() -> None:
    assert Transformer.to_xml({"l": ("a", {"k": "v"})}, item="li") == (
        "<xml><l><li>a</li><li><k>v</k></li></l></xml>"
    )


def test_to_xml_cdata_terminator_cannot_inject() -> None:
    evil = "]]><sign>forged</sign><![CDATA["
    xml = Transformer.to_xml({"attach": evil, "sign": "real"})
    assert Transformer.to_array(xml) == {"attach": evil, "sign": "real"}


def test_to_xml_rejects_invalid_root_or_item() -> None:
    with pytest.raises(InvalidArgumentError):
        Transformer.to_xml({"a": "1"}, root="bad root")
    with pytest.raises(InvalidArgumentError):
        Transformer.to_xml({"a": "1"}, item="1item")


def test_round_trip() -> None:
    data = {
        "appid": "wx2421b1c4370ec43b", "attach": "支付测试", "detail": '{"a":"<b>&"}', "total_fee": "1",
        "blank": "  ", "sign": "0CB01533B8C1EF103065174F50BCA001",
    }
    assert Transformer.to_array(Transformer.to_xml(data)) == data
    assert Transformer.to_array(Transformer.to_xml(data, False, True)) == data


# ---------------------------------------------------------------- SimpleXML shape


def test_to_array_shape_matches_simplexml_cast() -> None:
    xml = (
        "<xml><a>1</a><b><![CDATA[x<y]]></b><c/><d>  </d><leaf k=\"v\">t</leaf><attr k=\"v\"/>"
        "<e k=\"v\" ns:z=\"q\" xmlns:ns=\"urn:x\"><f>1</f><f><g>2</g></f><f/></e>"
        "<mixed>t<j>1</j>u</mixed><tail><j>1</j>u</tail>"
        "<ent>&lt;&amp;&gt;&quot;&apos;&#x4e2d;&#25991;</ent></xml>"
    )
    assert Transformer.to_array(xml) == {
        "a": "1",
        "b": "x<y",
        "c": "",
        "d": "  ",
        "leaf": "t",  # a leaf's attributes are dropped, as SimpleXML's cast does
        "attr": "",
        "e": {"@attributes": {"k": "v"}, "f": ["1", {"g": "2"}, ""]},
        "mixed": "tu",
        "tail": {"j": "1"},
        "ent": "<&>\"'中文",
    }


def test_to_array_root_attributes_and_text() -> None:
    assert Transformer.to_array('<xml a="1"><b>2</b></xml>') == {"@attributes": {"a": "1"}, "b": "2"}
    assert Transformer.to_array("<xml>hello</xml>") == {0: "hello"}
    assert Transformer.to_array("<xml>  \n </xml>") == {}
    assert Transformer.to_array("<root/>") == {}


def test_to_array_declarations_and_whitespace() -> None:
    assert Transformer.to_array(XML_DECL + "\n<xml>\n  <a>1</a>\n</xml>\n") == {"a": "1"}
    assert Transformer.to_array(XML_DECL.encode() + b"<xml><a>\xe4\xb8\xad</a></xml>") == {"a": "中"}
    assert Transformer.to_array("<xml><a>x\r\ny</a></xml>") == {"a": "x\ny"}


def test_to_array_sanitizes_invalid_characters() -> None:
    assert Transformer.to_array("<xml><a>A\x00B\x08C\x1fD\ufffeE</a></xml>") == {"a": "ABCDE"}


def test_sanitize() -> None:
    assert Transformer.sanitize("a\x00\x01\x0b\x0c\x1f\tb\nc\rd") == "a\tb\nc\rd"
    assert Transformer.sanitize("\ud800x\udfff\ufffe\uffff\ufffd\U0001f600") == "x\ufffd\U0001f600"
    assert Transformer.sanitize("<xml>中文</xml>") == "<xml>中文</xml>"
    assert Transformer.sanitize("") == ""


@pytest.mark.parametrize(
    "xml",
    ["", "   ", "not xml", "<xml>", "<xml></xmll>", "<a/><b/>", "<xml>&undefined;</xml>", "<xml><a>1</a>"],
)
def test_to_array_malformed(xml: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^Parsing the xml failed"):
        Transformer.to_array(xml)


def test_to_array_rejects_bad_input_types() -> None:
    with pytest.raises(InvalidArgumentError, match="UTF-8"):
        Transformer.to_array(b"<xml><a>\xff\xfe</a></xml>")
    with pytest.raises(InvalidArgumentError):
        Transformer.to_array(123)  # type: ignore[arg-type]


# ---------------------------------------------------------------- hostile XML


def test_xxe_file_never_leaks(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER-8d1f")
    for target in (secret.as_uri(), "file:///etc/passwd"):
        xml = (
            f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "{target}">]>'
            "<xml><return_code>&xxe;</return_code></xml>"
        )
        with pytest.raises(InvalidArgumentError) as info:
            Transformer.to_array(xml)
        text = f"{info.value} {info.value!r} {info.value.__cause__!r}"
        assert "TOP-SECRET-MARKER" not in text
        assert "root:" not in text
        assert "ENTITY" not in text and "<xml>" not in text  # the document is not echoed
        assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    "xml",
    [
        # billion laughs
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
        )
        + "]><lolz>&lol9;</lolz>",
        # quadratic blowup
        '<!DOCTYPE x [<!ENTITY a "' + "A" * 50000 + '">]><x>' + "&a;" * 50000 + "</x>",
        # external DTD
        '<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:1/evil.dtd"><xml><a>1</a></xml>',
        '<!DOCTYPE xml PUBLIC "-//X//EN" "file:///etc/passwd"><xml/>',
        # parameter entities (out-of-band exfiltration shape)
        '<!DOCTYPE xml [<!ENTITY % file SYSTEM "file:///etc/passwd">'
        '<!ENTITY % dtd SYSTEM "http://127.0.0.1:1/x.dtd">%dtd;]><xml>&send;</xml>',
        # internal subset without entities is still refused
        "<!DOCTYPE xml []><xml><a>1</a></xml>",
        # XXE via the PHP fixture
        fixture("invalid.xxe_injection.sample.xml"),
    ],
    ids=[
        "billion-laughs", "quadratic", "external-dtd", "public-dtd",
        "parameter-entities", "empty-dtd", "php-xxe",
    ],
)
def test_hostile_xml_refused_quickly(xml: str) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidArgumentError, match=r"^Parsing the xml failed") as info:
        Transformer.to_array(xml)
    assert time.perf_counter() - started < 1.0
    assert "lol" not in str(info.value) and "passwd" not in str(info.value)


def test_hostile_xml_bytes_form() -> None:
    with pytest.raises(InvalidArgumentError):
        Transformer.to_array(fixture("invalid.xxe_injection.sample.xml").encode("utf-8"))


def test_huge_input_refused_before_parsing() -> None:
    huge = "<xml><a>" + "x" * MAX_XML_SIZE + "</a></xml>"
    started = time.perf_counter()
    with pytest.raises(InvalidArgumentError, match="larger than"):
        Transformer.to_array(huge)
    with pytest.raises(InvalidArgumentError, match="larger than"):
        Transformer.to_array(huge.encode())
    assert time.perf_counter() - started < 1.0


def test_deep_nesting_refused() -> None:
    depth = 5000
    with pytest.raises(InvalidArgumentError, match="nested too deeply"):
        Transformer.to_array("<a>" * depth + "x" + "</a>" * depth)
