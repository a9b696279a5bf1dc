"""Claims of the papers, our measure of each, and a verdict computed by one shared rule set.

A claim is tested by a *rule* on our measure's confidence interval (or, for a test, its p-value):

- ``above(t)``: the paper says the quantity exceeds ``t``. *agrees* when the whole interval lies above
  ``t``, *disagrees* when it lies wholly below ``t``, otherwise *cannot tell at this scale*.
- ``below(t)``: the mirror image.
- ``near(t, margin)``: the paper says there is no (meaningful) effect: *agrees* when the whole
  interval lies within ``t ± margin`` (an equivalence test), *disagrees* when it lies wholly
  outside that band, otherwise *cannot tell*.
- ``significant(alpha)``: the paper says an effect exists and ours is a test: *agrees* when
  ``p < alpha``; otherwise *cannot tell* (a test that fails to reject does not show equality, so it
  can never *disagree*).

Intervals are closed: a bound exactly on the threshold is not "beyond" it. A missing measure (NaN)
is *cannot tell*.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np
import xarray as xr

__all__ = ["AGREES", "DISAGREES", "CANNOT_TELL", "VERDICTS", "Rule", "above", "below", "near", "significant",
           "Claim", "claims_dataset", "verdict_counts"]

AGREES, DISAGREES, CANNOT_TELL = "agrees", "disagrees", "cannot tell at this scale"
VERDICTS = (AGREES, DISAGREES, CANNOT_TELL)


@dataclass(frozen=True)
class Rule:
    """One decision rule; :meth:`decide` gives the verdict, :meth:`words` says it in a sentence."""

    kind: Literal["above", "below", "near", "significant"]
    threshold: float = 0.0
    margin: float = 0.0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.kind not in ("above", "below", "near", "significant"):
            raise ValueError(f"unknown rule kind {self.kind!r}; valid: above, below, near, significant")
        if self.margin < 0 or (self.kind == "near" and self.margin == 0):
            raise ValueError("near() needs a positive margin")
        if self.kind == "significant" and not 0 < self.threshold < 1:
            raise ValueError("significant() needs 0 < alpha < 1")

    def decide(self, lower: float, upper: float, p_value: float = math.nan) -> str:
        if self.kind == "significant":
            return AGREES if p_value < self.threshold else CANNOT_TELL
        if not (np.isfinite(lower) and np.isfinite(upper)):
            return CANNOT_TELL
        if lower > upper:
            raise ValueError(f"interval [{lower}, {upper}] has lower > upper")
        t, m = self.threshold, self.margin
        if self.kind == "above":
            return AGREES if lower > t else DISAGREES if upper < t else CANNOT_TELL
        if self.kind == "below":
            return AGREES if upper < t else DISAGREES if lower > t else CANNOT_TELL
        if t - m <= lower and upper <= t + m:
            return AGREES
        return DISAGREES if lower > t + m or upper < t - m else CANNOT_TELL

    def words(self) -> str:
        ci = f"the {self.confidence:.0%} interval"
        t = _num(self.threshold)
        if self.kind == "above":
            return f"agrees if {ci} lies above {t}, disagrees if it lies below {t}, else cannot tell"
        if self.kind == "below":
            return f"agrees if {ci} lies below {t}, disagrees if it lies above {t}, else cannot tell"
        if self.kind == "near":
            band = f"[{_num(self.threshold - self.margin)}, {_num(self.threshold + self.margin)}]"
            return f"agrees if {ci} lies within {band}, disagrees if it lies wholly outside it, else cannot tell"
        return f"agrees if p < {_num(self.threshold)}, else cannot tell (a test cannot show that there is no effect)"


def _num(x: float) -> str:
    return f"{x:g}"


def above(threshold: float = 0.0, *, confidence: float = 0.95) -> Rule:
    return Rule("above", threshold, confidence=confidence)


def below(threshold: float = 0.0, *, confidence: float = 0.95) -> Rule:
    return Rule("below", threshold, confidence=confidence)


def near(threshold: float = 0.0, *, margin: float, confidence: float = 0.95) -> Rule:
    return Rule("near", threshold, margin=margin, confidence=confidence)


def significant(alpha: float = 0.01) -> Rule:
    return Rule("significant", alpha)


@dataclass
class Claim:
    """One claim of a paper, as the chapter tests it.

    ``paper_value`` is the paper's own figure (NaN when it reports the claim only in words) and
    ``paper_figure`` says it in words; ``ours`` / ``lower`` / ``upper`` is our measure with its
    interval (``p_value`` for a test); ``measure`` names what ours is.
    """

    id: str
    paper: str
    statement: str
    measure: str
    ours: float
    rule: Rule
    lower: float = math.nan
    upper: float = math.nan
    p_value: float = math.nan
    paper_value: float = math.nan
    paper_figure: str = ""
    section: str = ""
    note: str = ""
    verdict: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.verdict = self.rule.decide(float(self.lower), float(self.upper), float(self.p_value))


def claims_dataset(claims: Sequence[Claim], *, chapter: str) -> xr.Dataset:
    """The chapter's claims as a Dataset with dim ``claim``: text columns as strings, figures as floats."""
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise ValueError(f"claim ids must be unique; got {ids}")

    def col(name: str, dtype: type = str) -> tuple[str, np.ndarray]:
        vals = [getattr(c, name) for c in claims]
        return "claim", np.array([float(v) for v in vals] if dtype is float else [str(v) for v in vals],
                                 dtype=float if dtype is float else object)

    ds = xr.Dataset(
        {name: col(name) for name in ("paper", "statement", "measure", "paper_figure", "section", "note", "verdict")}
        | {name: col(name, float) for name in ("ours", "lower", "upper", "p_value", "paper_value")}
        | {"rule": ("claim", np.array([c.rule.words() for c in claims], dtype=object))},
        coords={"claim": np.array(ids, dtype=object)})
    ds["chapter"] = ("claim", np.array([chapter] * len(claims), dtype=object))
    ds.attrs["verdicts"] = ", ".join(VERDICTS)
    return ds


def verdict_counts(claims: xr.Dataset) -> dict[str, int]:
    """How many claims got each verdict (every verdict listed, zeros included)."""
    v = [str(x) for x in claims["verdict"].values]
    return {k: v.count(k) for k in VERDICTS}
