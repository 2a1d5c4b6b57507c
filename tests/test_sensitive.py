"""`protocol/sensitive.py`: the `Sensitive` marker and `encrypt_fields` (markers and `encrypt=[paths]`), with a
stand-in encryptor, so that what is encrypted, and where, is visible in the output."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any, Dict, List

import pytest

from wechatpay_chain.errors import InvalidArgumentError
from wechatpay_chain.protocol._sensitive import Sensitive, encrypt_fields

PLAIN = "110101199003070000"


def enc(value: str) -> str:
    """A visible stand-in for RSA-OAEP: what went through it is wrapped."""
    return f"ENC({value})"


class Counting:
    def __init__(self) -> None:
        self.seen: List[str] = []

    def __call__(self, value: str) -> str:
        self.seen.append(value)
        return enc(value)


# ---- Sensitive ------------------------------------------------------------------------------------


def test_repr_and_str_are_redacted() -> None:
    s = Sensitive(PLAIN)
    assert repr(s) == str(s) == "Sensitive('***')"
    assert PLAIN not in f"{s} {s!r} {[s]} {({'k': s})}"
    assert s.reveal() == PLAIN


def test_a_sensitive_of_a_sensitive_is_the_same_plaintext() -> None:
    assert Sensitive(Sensitive(PLAIN)).reveal() == PLAIN


@pytest.mark.parametrize("value", [123, b"bytes", None, ["a"]])
def test_only_str_is_taken(value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="Sensitive takes a str"):
        Sensitive(value)


def test_pickling_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Sensitive(PLAIN))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps({"nested": [Sensitive(PLAIN)]})


def test_it_is_not_json_serialisable_and_has_no_dict() -> None:
    with pytest.raises(TypeError):
        json.dumps({"id": Sensitive(PLAIN)})
    assert not hasattr(Sensitive(PLAIN), "__dict__")


# ---- encrypt_fields: markers ---------------------------------------------------------------------


def test_markers_anywhere_are_encrypted() -> None:
    doc = {"name": Sensitive("张三"), "payer": {"ids": [Sensitive("a"), "plain"]}, "pair": (Sensitive("b"), 1)}
    out, hit = encrypt_fields(doc, [], enc)
    assert hit is True
    assert out == {"name": "ENC(张三)", "payer": {"ids": ["ENC(a)", "plain"]}, "pair": ["ENC(b)", 1]}
    json.dumps(out)  # nothing left that cannot be sent


def test_a_document_without_markers_or_paths_is_returned_as_is() -> None:
    doc = {"a": 1, "b": [1, 2.5, True, None, {"c": "d"}]}
    out, hit = encrypt_fields(doc, [], enc)
    assert out is doc and hit is False


def test_a_bare_sensitive_document_is_encrypted() -> None:
    assert encrypt_fields(Sensitive("x"), [], enc) == ("ENC(x)", True)


# ---- encrypt_fields: paths ------------------------------------------------------------------------


def test_a_dotted_path_encrypts_that_string() -> None:
    doc = {"payer": {"name": "张三", "phone": "138"}, "other": "x"}
    out, hit = encrypt_fields(doc, ["payer.name"], enc)
    assert hit is True
    assert out == {"payer": {"name": "ENC(张三)", "phone": "138"}, "other": "x"}


def test_a_list_path_encrypts_the_field_in_every_item() -> None:
    doc = {"receivers": [{"name": "a", "account": "1"}, {"name": "b", "account": "2"}, {"account": "3"}]}
    out, hit = encrypt_fields(doc, ["receivers[].name"], enc)
    assert hit is True
    assert out == {"receivers": [{"name": "ENC(a)", "account": "1"}, {"name": "ENC(b)", "account": "2"},
                                 {"account": "3"}]}


def test_nested_list_levels_and_a_list_of_strings() -> None:
    doc = {"grid": [[{"v": "a"}], [{"v": "b"}, {"v": "c"}]], "tags": ["x", "y"]}
    out, _ = encrypt_fields(doc, ["grid[][].v", "tags[]"], enc)
    assert out == {"grid": [[{"v": "ENC(a)"}], [{"v": "ENC(b)"}, {"v": "ENC(c)"}]], "tags": ["ENC(x)", "ENC(y)"]}


def test_a_path_to_a_null_or_an_empty_list_encrypts_nothing() -> None:
    """The field is there, but holds nothing to encrypt: no error, no ciphertext, no `Wechatpay-Serial`."""
    doc = {"none": None, "list": None, "empty": [], "parent": None}
    out, hit = encrypt_fields(doc, ["none", "list[].x", "empty[].x", "parent.child"], enc)
    assert out == doc and hit is False


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("user_nme", "'user_nme' is not in the `json` body (its fields are: payer, user_name)"),
        ("payer.name", "'name' is not in 'payer' (its fields are: phone)"),
        ("absent.deeper", "'absent' is not in the `json` body"),
        ("user_name.x", "'x' is not in 'user_name' (it is a str)"),
    ],
)
def test_a_path_that_matches_no_field_is_refused_naming_it(path: str, said: str) -> None:
    """Issue 16: a typo in `encrypt=` was ignored and the real field went out in plaintext."""
    count = Counting()
    with pytest.raises(InvalidArgumentError) as caught:
        encrypt_fields({"payer": {"phone": "138"}, "user_name": "张三"}, [path], count)
    assert f"encrypt path {path!r} matches no field" in str(caught.value) and said in str(caught.value)
    assert "张三" not in str(caught.value) and "138" not in str(caught.value)  # names, never values


def test_a_path_named_twice_or_beside_a_marker_is_encrypted_once() -> None:
    """Issue 16: `Sensitive` plus the same path twice encrypted a ciphertext ("at most 214 bytes fit")."""
    count = Counting()
    out, hit = encrypt_fields({"user_name": Sensitive("张三")}, ["user_name", "user_name"], count)
    assert hit is True and out == {"user_name": "ENC(张三)"} and count.seen == ["张三"]


def test_a_path_over_a_marker_encrypts_it_once() -> None:
    """DESIGN: a sensitive field is encrypted exactly once, whatever else marked it."""
    count = Counting()
    out, hit = encrypt_fields({"name": Sensitive("a")}, ["name"], count)
    assert hit is True and out == {"name": "ENC(a)"} and count.seen == ["a"]


def test_markers_and_paths_together() -> None:
    doc = {"a": Sensitive("1"), "b": {"c": "2"}, "d": "3"}
    out, hit = encrypt_fields(doc, ["b.c"], enc)
    assert hit is True and out == {"a": "ENC(1)", "b": {"c": "ENC(2)"}, "d": "3"}


# ---- the input is never mutated --------------------------------------------------------------------


def test_the_input_is_never_mutated() -> None:
    inner = {"name": "a"}
    receivers = [inner, {"name": "b"}]
    payer = {"name": "p"}
    marker = Sensitive("m")
    doc: Dict[str, Any] = {"receivers": receivers, "id": marker, "payer": payer}
    before = copy.deepcopy({"receivers": receivers, "payer": payer})
    out, _ = encrypt_fields(doc, ["receivers[].name", "payer.name"], enc)
    assert doc["id"] is marker and doc["receivers"] is receivers and doc["payer"] is payer and receivers[0] is inner
    assert {"receivers": receivers, "payer": payer} == before
    assert out is not doc and out["receivers"] is not receivers and out["receivers"][0] is not inner
    assert out == {"receivers": [{"name": "ENC(a)"}, {"name": "ENC(b)"}], "id": "ENC(m)", "payer": {"name": "ENC(p)"}}


def test_untouched_branches_are_shared_not_copied() -> None:
    untouched = {"deep": ["x"]}
    marker = Sensitive("s")
    doc = {"keep": untouched, "id": marker}
    out, _ = encrypt_fields(doc, [], enc)
    assert out == {"keep": {"deep": ["x"]}, "id": "ENC(s)"}
    assert out["keep"] is untouched and doc["id"] is marker


# ---- bad paths are refused -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", "a..b", ".a", "a.", "a[]b", "a[", "a]", "[]", "a[x]", "a b.[]"])
def test_a_malformed_path_is_refused(path: str) -> None:
    with pytest.raises(InvalidArgumentError, match="encrypt path"):
        encrypt_fields({"a": {"b": "c"}}, [path], enc)


@pytest.mark.parametrize("path", [None, 5, b"a"])
def test_a_path_that_is_not_a_str_is_refused(path: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="non-empty str"):
        encrypt_fields({"a": "b"}, [path], enc)


def test_a_path_to_something_other_than_a_string_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="names a int, expected str"):
        encrypt_fields({"n": 5}, ["n"], enc)
    with pytest.raises(InvalidArgumentError, match="names a dict"):
        encrypt_fields({"n": {"m": "x"}}, ["n"], enc)


def test_a_list_marker_on_a_non_list_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="'receivers' is not a list"):
        encrypt_fields({"receivers": {"name": "a"}}, ["receivers[].name"], enc)


def test_a_bad_path_is_refused_before_anything_is_encrypted() -> None:
    count = Counting()
    with pytest.raises(InvalidArgumentError):
        encrypt_fields({"a": Sensitive("x"), "b": "y"}, ["b", "bad..path"], count)
    assert count.seen == []
