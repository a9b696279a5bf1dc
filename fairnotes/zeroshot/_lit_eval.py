"""What the LiT job measures: held-out caption retrieval and zero-shot EmojiProf accuracy per group.

Retrieval recall@k counts a query as a hit when any of its ``k`` nearest candidates is one of its
positives; chance is the same figure for a uniformly random ranking, ``1 - C(n-p, k) / C(n, k)``
averaged over queries (``p`` positives among ``n`` candidates).

Group accuracies come with :func:`fairnotes.metrics.per_class_ci`'s bootstrap interval, with the
group playing the class: a sample's "true label" is its group and its "prediction" is that group
when the zero-shot prediction is right (another value otherwise), so the per-class recall it
reports is the group's accuracy, resampled within each group (group sizes fixed).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["holdout_mask", "recall_at_k", "group_accuracy", "TASKS"]

TASKS = ("profession", "skin_tone", "gender")


def holdout_mask(groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """True for samples whose group is held out: ``round(fraction · G)`` random groups (at least one)."""
    if not 0 < fraction < 1:
        raise ValueError(f"holdout_fraction must lie in (0, 1); got {fraction!r}")
    uniq = np.unique(groups)
    n = max(1, int(round(fraction * len(uniq))))
    held = np.random.default_rng(seed).choice(uniq, size=n, replace=False)
    return np.isin(groups, held)


def _chance(n: int, p: np.ndarray, k: int) -> float:
    """Mean over queries of P(a random k-subset of n candidates holds one of p positives)."""
    from scipy.special import gammaln
    p = np.asarray(p, np.float64)
    if k >= n:
        return float(np.mean(p > 0))
    miss = np.where(n - p >= k, np.exp(gammaln(n - p + 1) - gammaln(n - p - k + 1) - gammaln(n + 1)
                                       + gammaln(n - k + 1)), 0.0)
    return float(np.mean(1 - miss))


def recall_at_k(query: np.ndarray, cand: np.ndarray, positive: np.ndarray, ks: Sequence[int]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Recall@k of each ``k`` for queries against candidates (both unit rows); ``positive`` is
    ``Q × C`` boolean. Returns ``(recall, chance)`` arrays over ``ks``; queries without positives are skipped."""
    pos = np.asarray(positive, bool)
    keep = pos.any(axis=1)
    sims = query[keep] @ cand.T
    pos = pos[keep]
    order = np.argsort(-sims, axis=1, kind="stable")
    ranked = np.take_along_axis(pos, order, axis=1)
    first = np.where(ranked.any(axis=1), ranked.argmax(axis=1), ranked.shape[1])
    rec = np.array([np.mean(first < k) for k in ks])
    chance = np.array([_chance(cand.shape[0], pos.sum(axis=1), k) for k in ks])
    return rec, chance


def group_accuracy(correct: np.ndarray, group: np.ndarray, groups: Sequence[str], *, n_boot: int, seed: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy, lower and upper bootstrap bounds and count for each of ``groups`` (NaN where empty)."""
    from ..metrics import per_class_ci
    groups = list(groups)
    pos = {g: i for i, g in enumerate(groups)}
    code = np.array([pos.get(str(g), -1) for g in group], np.int64)
    ok = code >= 0
    code, hit = code[ok], np.asarray(correct, bool)[ok]
    if code.size == 0:
        nan = np.full(len(groups), np.nan)
        return nan, nan, nan, np.zeros(len(groups), np.int64)
    pred = np.where(hit, code, len(groups))  # a wrong answer is a "class" outside the groups
    ci = per_class_ci(code, pred, labels=np.arange(len(groups)), n_boot=n_boot, seed=seed)
    n = np.bincount(code, minlength=len(groups))
    acc = np.where(n > 0, ci["accuracy"].values, np.nan)
    return acc, ci["accuracy_lower"].values, ci["accuracy_upper"].values, n


def cross_style_supports(x: np.ndarray, y: np.ndarray, style: np.ndarray, text_w: np.ndarray,
                         ws: Sequence[float]) -> np.ndarray:
    """Correctness ``W × N`` of MuSE-style prototypes whose image part comes from the *other* styles.

    For the images of each style, the support images are every image of the other styles (their
    true labels known), mixed with the text prototypes at each text weight ``w``
    (:func:`fairnotes.zeroshot.mix_prototypes`).
    """
    from ._classifier import predict
    from ._prototypes import mix_prototypes
    correct = np.zeros((len(ws), len(y)), bool)
    for s in np.unique(style):
        here, other = style == s, style != s
        for i, w in enumerate(ws):
            protos = mix_prototypes(text_w, x[other], y[other], w)
            correct[i, here] = predict(x[here], protos) == y[here]
    return correct
