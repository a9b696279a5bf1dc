"""Derived data sets, named by a plain string: a class subset of a registered set, some classes mixed.

A derived name is ``"<base>|classes=<i,j,...>|mix=<label>:<source>@<fraction>|mix=..."``:

- ``classes=`` keeps the base classes ``i, j, ...`` (base label numbers), relabelled ``0, 1, ...``
  in the order written; class names are kept. Left out, every base class is kept.
- ``mix=L:S@F`` replaces a fraction ``F`` (in (0, 1)) of the images of *new* label ``L``, in every
  split, by images of base class ``S``, which must not be among ``classes``. Label ``L`` keeps its
  size: ``round(F * n_L)`` of its images leave and as many images of ``S`` take their places, so
  every class has exactly the size it has in the control (the same name without ``mix=``). Its
  class name becomes ``"<name of L> + <name of S>"``. One ``mix=`` per label, each with its own
  source class.

``"fashion-mnist|classes=0,1,2,3,4|mix=0:9@0.5"`` is a 5-class problem (T-shirt/top ... Coat) in
which half of the T-shirt/top images, train and test, are ankle boots.

Each split is derived from the same split of the base, so train/test disjointness carries over.
The selection is deterministic: which images of ``L`` leave and which of ``S`` come in are drawn
from generators seeded by ``(base, split, base class of L, S)``. The fraction is not in the seed,
so the replaced images at a smaller fraction are a subset of those at a larger one. Replacements
take the places of the images they replace, so the ``i``-th test image is the same in a mixed set
and its control unless it was replaced: sample-by-sample comparisons across designs are paired.
``attributes`` has ``base_index`` (index in the base split), ``base_label`` and ``replaced``.

Different spellings of one derivation (spaces, the order of ``mix=`` parts) load the same data
but are different strings, hence different cache keys; :func:`derived_name` writes the canonical one.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["FORM", "Derivation", "is_derived", "parse", "derived_name", "load"]

FORM = ("derived names look like '<base>|classes=<i,j,...>|mix=<label>:<source>@<fraction>' "
        "(e.g. 'fashion-mnist|classes=0,1,2,3,4|mix=0:9@0.5'; mix= is optional, one per label; "
        "classes= may be left out only without mix=)")


@dataclass(frozen=True)
class Derivation:
    """A parsed derived name: base data set, kept base classes, and ``{label: (source, fraction)}``."""

    base: str
    classes: tuple[int, ...] | None
    mix: tuple[tuple[int, int, float], ...]  # (label, source, fraction), sorted by label

    @property
    def name(self) -> str:
        """The canonical spelling."""
        return derived_name(self.base, classes=self.classes, mix={lab: (s, f) for lab, s, f in self.mix})


def is_derived(name: str) -> bool:
    return "|" in str(name)


def _fail(name: str, problem: str) -> ValueError:
    return ValueError(f"bad derived data set name {name!r}: {problem}; {FORM}")


def _ints(name: str, text: str, what: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise _fail(name, f"{what} must be integers separated by commas; got {text!r}") from None


def _int(name: str, text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _fail(name, f"{what} must be one integer; got {text!r}") from None


def parse(name: str, num_classes: int | None = None) -> Derivation:
    """Parse a derived name; with ``num_classes`` (of the base) also check the class numbers.

    Raises ``ValueError`` naming the problem and the valid form.
    """
    base, *parts = [p.strip() for p in str(name).split("|")]
    if not base:
        raise _fail(name, "the base data set is missing")
    classes: list[int] | None = None
    mix: dict[int, tuple[int, float]] = {}
    for part in parts:
        key, eq, value = (t.strip() for t in part.partition("="))
        if not eq or key not in ("classes", "mix"):
            raise _fail(name, f"unknown part {part!r} (expected classes=... or mix=...)")
        if key == "classes":
            if classes is not None:
                raise _fail(name, "classes= is given twice")
            classes = _ints(name, value, "classes")
            if len(classes) < 2 or len(set(classes)) != len(classes):
                raise _fail(name, f"classes= needs at least two distinct classes; got {value!r}")
            continue
        label_src, at, frac = value.partition("@")
        label, colon, src = label_src.partition(":")
        if not (at and colon):
            raise _fail(name, f"mix= must be <label>:<source>@<fraction>; got {value!r}")
        label, src = _int(name, label, "mix label"), _int(name, src, "mix source")
        try:
            fraction = float(frac)
        except ValueError:
            raise _fail(name, f"mix fraction must be a number; got {frac!r}") from None
        if not 0 < fraction < 1:
            raise _fail(name, f"mix fraction must be in (0, 1); got {fraction}")
        if label in mix:
            raise _fail(name, f"label {label} is mixed twice (one mix= per label)")
        if any(s == src for s, _ in mix.values()):
            raise _fail(name, f"source class {src} feeds two labels (give each mix= its own source)")
        mix[label] = (src, fraction)
    if mix and classes is None:
        raise _fail(name, "mix= needs classes= (its source must be a base class left out of classes=)")
    if classes is not None and any(s in classes for s, _ in mix.values()):
        src = next(s for s, _ in mix.values() if s in classes)
        raise _fail(name, f"mix source {src} is among classes= {classes}; a source must be a base class "
                          "left out of classes=")
    d = Derivation(base, None if classes is None else tuple(classes),
                   tuple((lab, s, f) for lab, (s, f) in sorted(mix.items())))
    if num_classes is not None:
        _check_numbers(name, d, num_classes)
    return d


def _check_numbers(name: str, d: Derivation, k: int) -> None:
    kept = d.classes if d.classes is not None else tuple(range(k))
    bad = [c for c in kept if not 0 <= c < k]
    if bad:
        raise _fail(name, f"classes {bad} are not base classes of {d.base!r} (0..{k - 1})")
    for label, src, _ in d.mix:
        if not 0 <= label < len(kept):
            raise _fail(name, f"mix label {label} is not one of the {len(kept)} new labels (0..{len(kept) - 1})")
        if not 0 <= src < k:
            raise _fail(name, f"mix source {src} is not a base class of {d.base!r} (0..{k - 1})")


def derived_name(base: str, *, classes: Sequence[int] | None = None,
                 mix: Mapping[int, tuple[int, float]] | None = None) -> str:
    """The canonical derived name (``mix`` maps a new label to ``(source class, fraction)``).

    >>> derived_name("fashion-mnist", classes=range(5), mix={0: (9, 0.5)})
    'fashion-mnist|classes=0,1,2,3,4|mix=0:9@0.5'
    """
    parts = [str(base)]
    if classes is not None:
        parts.append("classes=" + ",".join(str(int(c)) for c in classes))
    for label, (src, fraction) in sorted((mix or {}).items()):
        parts.append(f"mix={int(label)}:{int(src)}@{float(fraction):g}")
    name = "|".join(parts)
    parse(name)  # the same checks as for a hand-written name
    return name


def _rng(*parts: Any) -> np.random.Generator:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def load(name: str, split: str, base_loader: Any, **kwargs: Any) -> Any:
    """Build split ``split`` of derived set ``name`` from ``base_loader(split, **kwargs)`` (an ImageSet)."""
    import pandas as pd

    from ._types import ImageSet
    base = base_loader(split, **kwargs)
    d = parse(name, base.num_classes)
    kept = list(d.classes) if d.classes is not None else list(range(base.num_classes))
    pos = {c: np.flatnonzero(base.labels == c) for c in kept}
    control = np.sort(np.concatenate(list(pos.values())))  # the control: kept classes, in base order
    index = control.copy()
    replaced = np.zeros(len(index), bool)
    names = [base.class_names[c] for c in kept]
    notes = []
    for label, src, fraction in d.mix:
        orig = kept[label]
        n = len(pos[orig])
        m = int(round(fraction * n))
        pool = np.flatnonzero(base.labels == src)
        if not 0 < m < n or m > len(pool):
            raise _fail(name, f"in split {split!r}, a fraction {fraction:g} of the {n} images of label {label} "
                              f"is {m}; need 0 < {m} < {n} and at most the {len(pool)} images of source {src}")
        # the generators see neither the fraction nor the other parts: smaller fractions nest in larger
        leave = _rng(d.base, split, orig, src, "leave").permutation(n)[:m]
        come = np.sort(_rng(d.base, split, orig, src, "come").permutation(pool)[:m])
        slots = np.sort(np.searchsorted(control, pos[orig][leave]))
        index[slots] = come
        replaced[slots] = True
        names[label] = f"{names[label]} + {base.class_names[src]}"
        notes.append(f"{m}/{n} images of label {label} ({base.class_names[orig]}) replaced by {base.class_names[src]} "
                     f"(base class {src})")
    sub = base.subset(index)
    relabel = np.full(base.num_classes, -1, np.int64)
    relabel[kept] = np.arange(len(kept))
    labels = relabel[base.labels[control]]  # a replacement carries the label of the slot it fills
    attrs = pd.DataFrame({"base_index": index, "base_label": base.labels[index], "replaced": replaced})
    if sub.attributes is not None:
        attrs = pd.concat([sub.attributes.reset_index(drop=True), attrs], axis=1)
    source = (f"{base.source}; derived as {d.name!r}: base classes {kept} relabelled 0..{len(kept) - 1}"
              + "".join(f"; {n}" for n in notes))
    meta = {**sub.meta, "base": d.base, "base_classes": kept,
            "mix": [{"label": lab, "source": s, "fraction": f} for lab, s, f in d.mix]}
    return ImageSet(str(name), split, sub.images, labels, tuple(names), source, base.license, attrs, meta)
