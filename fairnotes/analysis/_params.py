"""A chapter's parameters as a frozen dataclass, checked by name *and type* before any work starts.

The notebook's ``parameters`` cell maps one to one onto the dataclass; the runner checks a
run's overrides against it before a kernel starts, so ``-p seeds 0.5`` is one clear error.

Written by hand (about 80 lines) because the values arrive as YAML (lists where the dataclass
says ``tuple``) and the error must name the chapter's parameter in words a reader of the book
understands; pydantic would coerce ``"3"`` to ``3`` and report in its own vocabulary.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Mapping, Union

__all__ = ["ParamError", "ChapterParams", "check_value", "describe"]


class ParamError(ValueError):
    """A chapter parameter is unknown or has the wrong type (a usage error: the CLI exits with 2)."""


def describe(tp: Any) -> str:
    """A type annotation in words: ``tuple[int, ...]`` → ``"a list of int"``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "any value"
    if tp is type(None):
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin in (tuple, list):
        return f"a list of {describe(args[0]) if args else 'values'}"
    if origin in (dict, Mapping) or tp is dict:
        return f"a mapping of {describe(args[0])} to {describe(args[1])}" if args else "a mapping"
    return getattr(tp, "__name__", str(tp))


def check_value(value: Any, tp: Any, name: str) -> Any:
    """``value`` converted to ``tp`` (lists become tuples where ``tp`` says tuple) or a :class:`ParamError`.

    Strict where YAML could mislead: ``True`` is not an int, ``"3"`` is not a number; an int is a
    valid float.
    """
    ok, out = _match(value, tp)
    if not ok:
        raise ParamError(f"parameter {name!r} must be {describe(tp)}; got {value!r} ({type(value).__name__})")
    return out


def _match(value: Any, tp: Any) -> tuple[bool, Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True, value
    if tp is type(None):
        return value is None, value
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args), value
    if origin in (Union, types.UnionType):
        for a in args:
            ok, out = _match(value, a)
            if ok:
                return True, out
        return False, value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False, value
        item = args[0] if args else Any
        got = [_match(v, item) for v in value]
        if not all(ok for ok, _ in got):
            return False, value
        return True, (tuple if origin is tuple else list)(v for _, v in got)
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            return False, value
        kt, vt = args if args else (Any, Any)
        got = {k: (_match(k, kt), _match(v, vt)) for k, v in value.items()}
        if not all(a[0] and b[0] for a, b in got.values()):
            return False, value
        return True, {a[1]: b[1] for a, b in got.values()}
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if tp is str:
        return isinstance(value, str), value
    return isinstance(value, tp), value


@dataclasses.dataclass(frozen=True)
class ChapterParams:
    """Base of every chapter's parameters; subclasses add fields with defaults = the notebook's cell."""

    profile: Literal["laptop", "tiny", "paper"] = "laptop"

    #: the chapter's name (a class attribute, not a parameter)
    chapter: typing.ClassVar[str] = ""

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def check(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Checked and converted values; unknown names and wrong types raise one :class:`ParamError`
        naming every problem and the valid choices."""
        hints = typing.get_type_hints(cls)
        names = cls.names()
        unknown = sorted(set(values) - set(names))
        problems = []
        if unknown:
            problems.append(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                            f"for chapter {cls.chapter!r}; valid: {', '.join(sorted(names))}")
        out = {}
        for k, v in values.items():
            if k in unknown:
                continue
            try:
                out[k] = check_value(v, hints[k], k)
            except ParamError as e:
                problems.append(f"{e} (chapter {cls.chapter!r})")
        if problems:
            raise ParamError("; ".join(problems))
        return out

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]):
        """The parameters from a mapping (YAML, papermill's injected values), checked."""
        return cls(**cls.check(values))

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]):
        """The parameters from a notebook's globals: every field found there, checked.

        >>> from fairnotes.analysis import prevalence
        >>> p = prevalence.Params.from_namespace(globals())   # doctest: +SKIP
        """
        return cls.from_mapping({k: namespace[k] for k in cls.names() if k in namespace})

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **type(self).check(changes))
