"""Prompt templates, class names and CuPL-style class descriptions, as data.

Template sets live in ``prompts.json`` next to this module, except open_clip's own
``openai_imagenet`` (the 80 CLIP templates) and ``simple_imagenet`` (7), read from
``open_clip.zero_shot_metadata``. Descriptions (CuPL, Pratt et al. 2023) are per-class
sentences in a JSON file ``{"class name": ["sentence", ...], ...}``.

>>> templates("photo")
('a photo of a {}.',)
>>> classnames("gender")
{'man': 'man', 'woman': 'woman'}
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

__all__ = ["templates", "template_sets", "classnames", "load_descriptions"]

_OPEN_CLIP_SETS = {"openai_imagenet": "OPENAI_IMAGENET_TEMPLATES", "simple_imagenet": "SIMPLE_IMAGENET_TEMPLATES"}


@lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads((Path(__file__).with_name("prompts.json")).read_text(encoding="utf-8"))


def template_sets() -> tuple[str, ...]:
    """Names of the template sets: ``prompts.json``'s and open_clip's."""
    return tuple(sorted([*_data()["templates"], *_OPEN_CLIP_SETS]))


def templates(name: str) -> tuple[str | Callable[[str], str], ...]:
    """Template set ``name``: format strings with ``{}`` (or open_clip's callables for its sets)."""
    if name in _OPEN_CLIP_SETS:
        from open_clip import zero_shot_metadata
        return tuple(getattr(zero_shot_metadata, _OPEN_CLIP_SETS[name]))
    sets = _data()["templates"]
    if name not in sets:
        raise KeyError(f"unknown template set {name!r}; valid: {', '.join(template_sets())}")
    return tuple(sets[name])


def classnames(name: str) -> dict[str, str]:
    """Class-name list ``name`` as ``{label value: text}`` (e.g. skin tone ``"5"`` → ``"medium-dark skin tone"``)."""
    sets = _data()["classnames"]
    if name not in sets:
        raise KeyError(f"unknown class-name list {name!r}; valid: {', '.join(sorted(sets))}")
    return dict(sets[name])


def load_descriptions(source: str | Path | dict[str, Any], classes: list[str] | tuple[str, ...] | None = None
                      ) -> dict[str, list[str]]:
    """CuPL-style descriptions ``{class: [sentence, ...]}`` from a JSON file (or a dict), checked.

    With ``classes``, every class must have at least one sentence (extra keys are ignored) and the
    result follows the order of ``classes``.
    """
    if isinstance(source, dict):
        raw = source
        where = "descriptions"
    else:
        where = str(source)
        try:
            raw = json.loads(Path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"descriptions file {where} not found; expected JSON "
                                    '{"class": ["sentence", ...], ...}') from None
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a JSON object {{class: [sentences]}}; got {type(raw).__name__}")
    out: dict[str, list[str]] = {}
    for k, v in raw.items():
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(s, str) and s.strip() for s in v):
            raise ValueError(f"{where}: class {k!r} must map to a list of non-empty sentences")
        out[str(k)] = list(v)
    if classes is not None:
        missing = [c for c in classes if not out.get(c)]
        if missing:
            raise KeyError(f"{where}: no descriptions for {len(missing)} classes, e.g. {missing[:5]}")
        out = {c: out[c] for c in classes}
    return out
