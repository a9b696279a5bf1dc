"""Small pieces every chapter's analysis shares: per-data-set parameters, two interval methods, claims.

The intervals here are for statistics that the test-image bootstrap does not cover:

- :func:`spearman_ci`: a correlation over K classes (K points), by the Fisher z-transform with
  Bonett & Wright's (2000) standard error for Spearman's rho, ``sqrt((1 + rho²/2) / (K − 3))``;
  its coverage is checked by simulation in ``tests/analysis/test_common.py``.
- :func:`seed_interval`: a t-interval over training seeds (seed-to-seed variation only).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from ._claims import Claim, Rule

__all__ = ["per_dataset", "spearman_ci", "seed_interval", "rerun_band", "paper_claim", "glue_all", "short_name",
           "ci_text"]


def per_dataset(value: Any, name: str, default: Any = None) -> Any:
    """``value[name]`` for a per-data-set mapping (``default`` when absent), else ``value`` itself."""
    return value.get(name, default) if isinstance(value, Mapping) else value


def spearman_ci(x: Sequence[float], y: Sequence[float], *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Spearman's rho of ``x`` and ``y`` with a Fisher-z interval (Bonett & Wright 2000).

    Returns ``(rho, lower, upper)``; NaN bounds for fewer than 4 points or a constant input.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = x.size
    if n != y.size:
        raise ValueError(f"x and y differ in length ({n} vs {y.size})")
    if n < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return (math.nan,) * 3
    rho = float(stats.spearmanr(x, y).statistic)
    if abs(rho) >= 1:
        return rho, math.nan, math.nan  # the transform is infinite; no interval
    z = math.atanh(rho)
    se = math.sqrt((1 + rho ** 2 / 2) / (n - 3))
    q = stats.norm.ppf(0.5 + confidence / 2)
    return rho, math.tanh(z - q * se), math.tanh(z + q * se)


def seed_interval(values: Sequence[float], *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of per-seed values with a Student-t interval: ``(mean, lower, upper)`` (NaN bounds for one seed)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (math.nan,) * 3
    m = float(v.mean())
    if v.size < 2:
        return m, math.nan, math.nan
    h = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return m, m - h, m + h


def rerun_band(values: Sequence[float], *, confidence: float = 0.95) -> float:
    """How far a re-run with the same seeds on another machine may move the mean of per-seed ``values``: the
    half-width of a prediction interval for another S-seed mean, ``t_{S−1} · sd · √(2/S)`` (NaN for one seed).

    Another CPU or thread count changes the floating-point order and training diverges as from new seeds
    (``benchmarks/determinism.json``), so a re-run redraws the seed part; the statistics of
    :mod:`fairnotes.summary` carry the same band as ``*_rerun``
    (:func:`fairnotes.metrics._resample.rerun_half_width`).
    """
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) * math.sqrt(2 / v.size))


def paper_claim(key: str, *, measure: str, ours: float, rule: Rule, lower: float = math.nan,
                upper: float = math.nan, p_value: float = math.nan, section: str = "", note: str = "",
                id: str | None = None) -> Claim:
    """A :class:`Claim` whose paper, statement and figure come from :data:`fairnotes.reference.PAPER_CLAIMS`."""
    from ..reference import paper_claim as ref
    r = ref(key)
    return Claim(id=id or key, paper=r["paper"], statement=r["statement"], measure=measure, ours=float(ours),
                 rule=rule, lower=float(lower), upper=float(upper), p_value=float(p_value),
                 paper_value=math.nan if r["value"] is None else float(r["value"]), paper_figure=r["figure"],
                 section=section, note=note)


def ci_text(v: float, lo: float, hi: float, fmt: str = ".3f") -> str:
    """``"0.679 [0.606, 0.746]"`` (``fmt`` for all three); the bare value when the interval is missing."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{v:{fmt}}"
    return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def glue_all(values: Mapping[str, Any]) -> None:
    """``myst_nb.glue`` every value (not displayed), for the prose's ``{glue:text}`` roles."""
    from myst_nb import glue
    for k, v in values.items():
        glue(k, v, display=False)


def short_name(spec: str, width: int = 24) -> str:
    """A display name for a model spec: ``vit:embed_dim=64,depth=4,...`` → ``vit (embed_dim=64, …)``."""
    name, _, args = str(spec).partition(":")
    if not args:
        return name
    text = f"{name} ({args.replace(',', ', ')})"
    return text if len(text) <= width else text[: width - 2].rstrip(", ") + "…)"
