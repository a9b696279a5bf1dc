"""Explicit bootstrap resamples of test images within each true class, for paired comparisons.

The binomial shortcut of :mod:`._bootstrap` draws each class's correct count directly, which is
exact for one classifier but cannot keep two classifiers paired. Paired deltas (the same test
images drawn for both, as in :func:`fairnotes.summary.paired_deltas` and
:mod:`fairnotes.jobs.diversity`) need the draws themselves: here, as counts per image.
"""
from __future__ import annotations

import numpy as np

_CHUNK_CELLS = 1 << 22


def within_class_counts(y: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, N) counts of each test image in a resample drawn within each true class."""
    order = np.argsort(y, kind="stable")
    _, starts, sizes = np.unique(y[order], return_index=True, return_counts=True)
    offset, size = np.repeat(starts, sizes), np.repeat(sizes, sizes)
    n = y.size
    rng = np.random.default_rng([seed, 0])
    w = np.zeros((n_boot, n))
    step = max(1, _CHUNK_CELLS // max(n, 1))
    for b in range(0, n_boot, step):
        m = min(step, n_boot - b)
        idx = order[offset + rng.integers(0, size, size=(m, n))]  # positions in the original order
        w[b:b + m] = np.bincount((np.arange(m)[:, None] * n + idx).ravel(), minlength=m * n).reshape(m, n)
    return w


def replicate_accuracy(y: np.ndarray, hits: np.ndarray, *, n_boot: int,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class accuracy: observed, and bootstrap replicates of its two sources of variation.

    ``hits`` is (R, S, N): for R entries (models, heads, remedies...) and S training seeds, whether
    each of the N test images (true classes ``y``) was classified right. Returns

    - ``observed`` (R, K): the seed-mean per-class accuracy;
    - ``by_images`` (B, R, K): test images resampled within each true class (class sizes fixed),
      the seeds kept;
    - ``by_seeds`` (B, R, K): the seeds resampled with replacement, the test images kept.

    The same draws serve every entry, so differences between entries stay paired. Combine a
    statistic's two replicate sets with :func:`two_source_interval`.
    """
    y = np.asarray(y, dtype=np.int64)
    hits = np.asarray(hits, dtype=np.float64)
    if hits.ndim != 3 or hits.shape[2] != y.size:
        raise ValueError(f"hits must be (entries, seeds, images) with {y.size} images; got {hits.shape}")
    r, s, n = hits.shape
    labels = np.unique(y)
    sizes = np.bincount(y)[labels].astype(float)
    onehot = (y[:, None] == labels[None, :]).astype(np.float64)  # (N, K)
    per_seed = (hits.reshape(r * s, n) @ onehot / sizes).reshape(r, s, -1)  # (R, S, K)
    observed = per_seed.mean(axis=1)
    w = within_class_counts(y, n_boot, seed)  # (B, N)
    mean_hits = hits.mean(axis=1)  # (R, N): averaging seeds first is exact for a seed-mean accuracy
    by_images = np.stack([w[:, onehot[:, c] > 0] @ mean_hits[:, onehot[:, c] > 0].T / sizes[c]
                          for c in range(labels.size)], axis=-1)  # (B, R, K)
    s_idx = np.random.default_rng([seed, 1]).integers(0, s, size=(n_boot, s))
    by_seeds = per_seed[:, s_idx, :].mean(axis=2).transpose(1, 0, 2)  # (B, R, K)
    return observed, by_images, by_seeds


def _two_source_t(observed: np.ndarray, by_images: np.ndarray, by_seeds: np.ndarray, *, n_seeds: int,
                  image_var_floor: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The t-construction behind :func:`two_source_interval` and :func:`two_source_p_value`:
    ``(centre, se, df)`` — the bias-corrected centre, its standard error over both sources, and the
    Welch–Satterthwaite degrees of freedom (``inf`` when the seed part is 0)."""
    import warnings

    observed = np.asarray(observed, dtype=float)
    with warnings.catch_warnings():  # a statistic undefined in every replicate (cv at zero accuracy) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        v_img = np.nanvar(by_images, axis=0, ddof=1)
        if image_var_floor is not None:
            v_img = np.maximum(v_img, image_var_floor)
        v_seed = np.nanvar(by_seeds, axis=0, ddof=1) * n_seeds / (n_seeds - 1) if n_seeds > 1 else 0.0 * v_img
        total = v_img + v_seed
        with np.errstate(divide="ignore", invalid="ignore"):
            df = np.where(v_seed > 0, total ** 2 / (v_seed ** 2 / max(n_seeds - 1, 1)), np.inf)
        centre = 2 * observed - np.nanmean(by_images, axis=0)
    return centre, np.sqrt(total), np.maximum(df, 1)


def two_source_interval(observed: np.ndarray, by_images: np.ndarray, by_seeds: np.ndarray, *, n_seeds: int,
                        confidence: float = 0.95, image_var_floor: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """A bias-corrected t-interval for a statistic of per-class accuracy, from its two replicate sets.

    The statistic's variance is the sum of a test-image part (the variance of ``by_images``) and a
    seed part (the variance of ``by_seeds``, times S/(S−1): a mean of S seeds drawn with
    replacement varies (S−1)/S times as much as one of S new seeds). The centre is corrected by the
    image bootstrap's bias estimate (``2·observed − mean(by_images)``), which removes most of the
    upward bias of max − min. The quantile is Student's t with the Welch–Satterthwaite degrees of
    freedom, ``(v_img + v_seed)² / (v_seed² / (S−1))`` — so three seeds are not treated like thirty.
    Coverage is checked by simulation in ``tests/metrics/test_coverage.py``. ``image_var_floor`` is a
    lower bound on the image part (see :func:`stat_intervals`). :func:`two_source_p_value` is the
    matching test.
    """
    from scipy.stats import t

    centre, se, df = _two_source_t(observed, by_images, by_seeds, n_seeds=n_seeds, image_var_floor=image_var_floor)
    half = t.ppf(0.5 + confidence / 2, df) * se
    return centre - half, centre + half


def rerun_half_width(by_seeds: np.ndarray, *, n_seeds: int, confidence: float = 0.95) -> np.ndarray:
    """How far a re-run with the same seeds and test images may move a statistic: the half-width of a
    ``confidence`` prediction interval for the re-run's value around this run's.

    Runs are bit-identical only on one machine (``benchmarks/determinism.py``): on another CPU or thread
    count the floating-point order changes and training diverges as if from new seeds, while the test images
    stay the same. So a re-run redraws only the seed part of the variance: the difference of two runs'
    S-seed means has variance ``2 · v_seed`` (``v_seed`` = the variance of ``by_seeds`` × S/(S−1), as in
    :func:`two_source_interval`), and the half-width is Student's t with S−1 degrees of freedom times its
    square root. NaN with one seed (nothing to estimate the seed part from). Checked by simulation in
    ``tests/metrics/test_coverage.py``.
    """
    from scipy.stats import t

    if n_seeds < 2:
        return np.full(np.shape(by_seeds)[1:], np.nan)
    v_seed = np.nanvar(by_seeds, axis=0, ddof=1) * n_seeds / (n_seeds - 1)
    return t.ppf(0.5 + confidence / 2, n_seeds - 1) * np.sqrt(2 * v_seed)


def two_source_p_value(observed: np.ndarray, by_images: np.ndarray, by_seeds: np.ndarray, *, n_seeds: int,
                       image_var_floor: np.ndarray | None = None) -> np.ndarray:
    """The two-sided p-value of "the statistic is 0", from the same t-construction as :func:`two_source_interval`.

    ``t = centre / se`` with the Welch–Satterthwaite degrees of freedom, ``p = 2·P(T_df > |t|)``; so
    the ``confidence`` interval excludes 0 exactly when ``p < 1 − confidence``. A zero-width interval
    gives ``p = 0`` off 0 and ``p = 1`` at 0.
    """
    from scipy.stats import t

    centre, se, df = _two_source_t(observed, by_images, by_seeds, n_seeds=n_seeds, image_var_floor=image_var_floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(centre == 0, 0.0, np.abs(centre) / se)
    return np.where(np.isnan(centre) | np.isnan(se), np.nan, 2 * t.sf(stat, df))


def stat_intervals(observed: np.ndarray, by_images: np.ndarray, by_seeds: np.ndarray, *, n_seeds: int,
                   worst_fraction: float = 0.1, worst_min: int = 3, confidence: float = 0.95,
                   support: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every disparity statistic of per-class accuracy with its :func:`two_source_interval`.

    ``observed`` (..., K) and the replicates (B, ..., K) come from :func:`replicate_accuracy`. Returns
    ``{stat: (value, lower, upper)}`` for ``accuracy`` (per class) and each statistic of
    :func:`fairnotes.metrics._disparity.disparity_stats` (``worst_k_mean`` over at least ``worst_min``
    classes). Bounds are clipped to the statistic's range. With ``support`` (images per class), a class
    whose images were all right (or all wrong) still gets an interval: the image part of the variance of
    a per-class accuracy, and of ``best``, ``worst`` and ``gap``, is at least the Agresti–Coull variance
    of the classes they are read from.
    """
    from ._disparity import disparity_stats

    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    floor = None
    if support is not None:
        n = np.asarray(support, dtype=float)
        p_ac = (observed * n + 2) / (n + 4)
        floor = p_ac * (1 - p_ac) / (n + 4)  # (..., K)
    lo, hi = two_source_interval(observed, by_images, by_seeds, n_seeds=n_seeds, confidence=confidence,
                                 image_var_floor=floor)
    out["accuracy"] = (observed, np.clip(lo, 0, 1), np.clip(hi, 0, 1))
    so, worst_i, best_i = disparity_stats(observed, worst_fraction, worst_min)
    si = disparity_stats(by_images, worst_fraction, worst_min)[0]
    ss = disparity_stats(by_seeds, worst_fraction, worst_min)[0]
    ranges = {"mean": (0, 1), "best": (0, 1), "worst": (0, 1), "gap": (0, 1), "std": (0, 0.5), "cv": (0, np.inf),
              "gini": (0, 1), "worst_k_mean": (0, 1), "min_max_ratio": (0, 1)}
    for stat, (a, b) in ranges.items():
        f = None
        if floor is not None and stat in ("best", "worst", "gap"):
            fw = np.take_along_axis(floor, worst_i[..., None], axis=-1)[..., 0]
            fb = np.take_along_axis(floor, best_i[..., None], axis=-1)[..., 0]
            f = {"best": fb, "worst": fw, "gap": fb + fw}[stat]
        lo, hi = two_source_interval(so[stat], si[stat], ss[stat], n_seeds=n_seeds, confidence=confidence,
                                     image_var_floor=f)
        out[stat] = (so[stat], np.clip(lo, a, b), np.clip(hi, a, b))
    return out


def stat_rerun(by_seeds: np.ndarray, *, n_seeds: int, worst_fraction: float = 0.1, worst_min: int = 3,
               confidence: float = 0.95) -> dict[str, np.ndarray]:
    """:func:`rerun_half_width` of per-class ``accuracy`` and of every statistic :func:`stat_intervals` returns,
    from the seed replicates ``by_seeds`` (B, ..., K) of :func:`replicate_accuracy`."""
    from ._disparity import disparity_stats

    out = {"accuracy": rerun_half_width(by_seeds, n_seeds=n_seeds, confidence=confidence)}
    for stat, reps in disparity_stats(by_seeds, worst_fraction, worst_min)[0].items():
        out[stat] = rerun_half_width(reps, n_seeds=n_seeds, confidence=confidence)
    return out
