"""`crypto/codec.py`: text and base64 as PHP's crypto functions take and give them.

`str` in is UTF-8 (bytes carried by 'surrogateescape' come back exactly), bytes-likes pass as they are, base64 is
decoded leniently as PHP's non-strict `base64_decode` does (foreign characters and `=` anywhere skipped, a lone
trailing character dropped), and a plaintext that is not UTF-8 is a `DecryptionError` that carries none of it.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import pytest

from wechatpay_chain.crypto._codec import b64decode, b64encode, to_bytes, utf8
from wechatpay_chain.errors import DecryptionError, InvalidArgumentError

# ---- to_bytes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("abc", b"abc"),
        ("张三", "张三".encode()),
        ("", b""),
        (b"\x00\xff", b"\x00\xff"),
        (bytearray(b"ab"), b"ab"),
        (memoryview(b"xyz"), b"xyz"),
    ],
)
def test_to_bytes_takes_str_as_utf8_and_bytes_likes_as_they_are(value: Any, expected: bytes) -> None:
    out = to_bytes(value)
    assert out == expected and type(out) is bytes


def test_bytes_carried_in_a_str_by_surrogateescape_come_back_exactly() -> None:
    raw = b"\xff\xfe GBK \xd5\xc5\xc8\xfd" + secrets.token_bytes(32)
    assert to_bytes(raw.decode("utf-8", "surrogateescape")) == raw


def test_a_lone_surrogate_is_refused_without_the_text_in_the_chain() -> None:
    text = "secret-name\ud800"
    with pytest.raises(InvalidArgumentError, match="lone surrogate") as info:
        to_bytes(text, "plaintext")
    assert "plaintext" in str(info.value) and "secret-name" not in str(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize("value", [None, 5, 1.5, ["a"], {"a": 1}])
def test_to_bytes_refuses_other_types_and_names_what(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=f"The message must be str or bytes, got {type(value).__name__}"):
        to_bytes(value, "message")


# ---- b64decode: lenient, as PHP's base64_decode($s) (strict=false) -----------------------------------


@pytest.mark.parametrize(
    "encoded, expected",
    [
        ("SGVsbG8gV29ybGQ=", b"Hello World"),
        (b"SGVsbG8gV29ybGQ=", b"Hello World"),
        ("SGVsbG8gV29ybGQ", b"Hello World"),  # padding is optional
        ("SGVs\nbG8g\r\nV29y bGQ=\t", b"Hello World"),  # line breaks and spaces are skipped
        ("SGVsbG8*!gV29ybGQ", b"Hello World"),  # so is any foreign character
        ("SGVs-bG8_", b"Hello"),  # URL-safe characters are foreign to the standard alphabet: skipped
        ("SGVs=bG8=", b"Hello"),  # `=` anywhere is skipped, not an end
        ("SGVsbG8中文", b"Hello"),  # non-ASCII text, too
        ("YWJjZA", b"abcd"),
        ("YWJjZ", b"abc"),  # a lone trailing character (6 bits, no byte) is dropped
        ("Y", b""),
        ("", b""),
        ("====", b""),
        ("YR==", b"a"),  # non-zero trailing bits are ignored
    ],
)
def test_b64decode_is_lenient_like_php(encoded: Any, expected: bytes) -> None:
    assert b64decode(encoded) == expected


def test_b64decode_round_trips_any_bytes() -> None:
    for size in range(0, 40):
        data = secrets.token_bytes(size)
        encoded = base64.b64encode(data).decode()
        assert b64decode(encoded) == data
        assert b64decode("\n".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))) == data  # wrapped as PEM


def test_b64decode_refuses_what_is_not_text() -> None:
    with pytest.raises(InvalidArgumentError, match="must be str or bytes"):
        b64decode(12345)


# ---- b64encode ---------------------------------------------------------------------------------------


def test_b64encode_gives_standard_padded_str() -> None:
    assert b64encode(b"Hello World") == "SGVsbG8gV29ybGQ="
    assert b64encode(b"") == ""
    assert b64encode(b"\xfb\xff") == "+/8="
    data = secrets.token_bytes(100)
    assert isinstance(b64encode(data), str) and b64decode(b64encode(data)) == data


# ---- utf8 -----------------------------------------------------------------------------------------


def test_utf8_decodes_text() -> None:
    assert utf8("张三 ok".encode()) == "张三 ok"
    assert utf8(b"") == ""


def test_a_plaintext_that_is_not_utf8_is_a_decryption_error_that_keeps_none_of_it() -> None:
    plaintext = "张三-110101199003070000".encode("gbk")
    with pytest.raises(DecryptionError, match="not UTF-8") as info:
        utf8(plaintext)
    err = info.value
    # a UnicodeDecodeError holds the whole input (`.object`): it must not ride along as context or cause
    assert err.__context__ is None and err.__cause__ is None
    assert all(isinstance(arg, str) for arg in err.args) and not vars(err)  # no bytes held anywhere on it
    assert "110101199003070000" not in str(err) and "110101199003070000" not in repr(err)
    assert not isinstance(err, UnicodeDecodeError)
