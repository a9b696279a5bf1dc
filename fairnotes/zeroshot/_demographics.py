"""D3G's prompt strategies (Hickmon 2024): one prompt per demographic group and class, as data.

The groups and wording live in ``demographics.json`` next to this module, with their ``source``
(github.com/jjhickmon/D3G). Strategy ``"none"`` is the plain prompt, one per class.

>>> demographic_groups("gender")
('male', 'female')
>>> demographic_prompts(["doctor"], "gender")
{'doctor': ['A photo of a male doctor', 'A photo of a female doctor']}
>>> demographic_prompts(["doctor"], "race4", template="a photo of a {group} {class}.")["doctor"][2]
'a photo of a asian doctor.'
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Iterable

__all__ = ["demographic_prompts", "demographic_strategies", "demographic_groups"]


@lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(Path(__file__).with_name("demographics.json").read_text(encoding="utf-8"))


def _strategy(name: str) -> dict:
    strategies = _data()["strategies"]
    if name not in strategies:
        raise KeyError(f"unknown demographic prompt strategy {name!r}; valid: {', '.join(demographic_strategies())}")
    return strategies[name]


def demographic_strategies() -> tuple[str, ...]:
    """Names of D3G's prompt strategies: ``none``, ``profession``, ``race7``, ``race4``, ``gender``, ``age``."""
    return tuple(_data()["strategies"])


def demographic_groups(strategy: str) -> tuple[str, ...]:
    """The groups of ``strategy`` in D3G's order and wording (``()`` for ``"none"``).

    Raises
    ------
    KeyError
        For an unknown strategy, listing the valid ones.
    """
    return tuple(_strategy(strategy)["groups"])


def demographic_prompts(classes: Iterable[str], strategy: str, *, template: str | None = None
                        ) -> dict[str, list[str]]:
    """One prompt per group of ``strategy`` for each class (a single plain prompt for ``"none"``).

    Parameters
    ----------
    classes
        Class names as they go into the prompts.
    strategy
        One of :func:`demographic_strategies`.
    template
        A format string with ``{class}`` and ``{group}`` (e.g. ``"a photo of a {group} {class}."``)
        instead of D3G's own wording; for ``"none"`` ``{group}`` is left empty. Whitespace is collapsed.

    Returns
    -------
    dict
        ``{class: [prompt, ...]}`` in the order of ``classes``, the prompts in group order.
    """
    entry = _strategy(strategy)
    if template is None:
        wording = entry["prompts"]
        return {c: [_fill(t, c, "") for t in wording] for c in classes}
    groups = entry["groups"] or [""]
    return {c: [_fill(template, c, g) for g in groups] for c in classes}


def _fill(template: str, cls: str, group: str) -> str:
    return " ".join(template.format(**{"class": cls, "group": group}).split())
