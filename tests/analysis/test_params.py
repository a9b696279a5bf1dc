"""Chapter parameters: names and types checked before any work starts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import pytest

from fairnotes.analysis import ChapterParams, ParamError
from fairnotes.analysis._params import check_value, describe


@dataclass(frozen=True)
class Toy(ChapterParams):
    chapter: ClassVar[str] = "toy"
    seeds: tuple[int, ...] = (0, 1)
    epochs: int | dict[str, int] = 4
    lr: float = 0.1
    name: str | None = None
    mode: Literal["a", "b"] = "a"
    flag: bool = False


def test_defaults_and_conversion():
    p = Toy.from_mapping({"seeds": [3, 4], "epochs": {"digits": 2}, "lr": 1})
    assert p.seeds == (3, 4) and isinstance(p.seeds, tuple)
    assert p.epochs == {"digits": 2}
    assert p.lr == 1.0 and isinstance(p.lr, float)  # an int is a valid float
    assert Toy().profile == "laptop"


@pytest.mark.parametrize("values, pattern", [
    ({"seeds": 0.5}, r"parameter 'seeds' must be a list of int; got 0.5 \(float\)"),
    ({"seeds": [0, "1"]}, r"'seeds' must be a list of int"),
    ({"epochs": True}, r"'epochs' must be int or a mapping of str to int; got True"),  # bool is not an int
    ({"lr": "0.1"}, r"'lr' must be float; got '0.1' \(str\)"),  # a string is not a number
    ({"mode": "c"}, r"'mode' must be one of 'a', 'b'"),
    ({"flag": 1}, r"'flag' must be bool"),
    ({"profile": "huge"}, r"'profile' must be one of 'laptop', 'tiny', 'paper'"),
])
def test_wrong_type_names_parameter_and_expected_type(values, pattern):
    with pytest.raises(ParamError, match=pattern):
        Toy.from_mapping(values)


def test_unknown_and_wrong_together_in_one_error():
    with pytest.raises(ParamError) as e:
        Toy.check({"bogus": 1, "seeds": 0.5})
    msg = str(e.value)
    assert "unknown parameter 'bogus' for chapter 'toy'; valid: epochs, flag, lr, mode, name, profile, seeds" in msg
    assert "'seeds' must be a list of int" in msg


def test_from_namespace_takes_only_fields():
    ns = {"seeds": [1], "np": object(), "lr": 0.5, "profile": "tiny"}
    p = Toy.from_namespace(ns)
    assert p == Toy(seeds=(1,), lr=0.5, profile="tiny")


def test_none_allowed_only_where_declared():
    assert Toy.from_mapping({"name": None}).name is None
    with pytest.raises(ParamError):
        Toy.from_mapping({"lr": None})


def test_describe_and_check_value_edge_cases():
    assert describe(tuple[int, ...]) == "a list of int"
    assert describe(int | None) == "int or null"
    assert check_value([], tuple[str, ...], "x") == ()
    assert check_value({"a": [1, 2]}, dict[str, tuple[int, ...]], "x") == {"a": (1, 2)}
    with pytest.raises(ParamError):
        check_value({"a": 1.5}, dict[str, int], "x")
    with pytest.raises(ParamError):
        check_value(1, Literal[True], "x")  # 1 == True, but an int is not the bool literal
