"""D3G's numbers, torch-free: per-group accuracy with intervals for one setting, and the protocol audit's null
simulation.

:func:`summarize_setting` takes, per seed, the per-image correctness of the four classifiers (text-only, image-only,
D3G with w chosen on held-out data, D3G with w tuned on the test set) and the stacked predictions behind them, and
returns every per-group number: point estimates from fairlearn's ``MetricFrame``
(:func:`fairnotes.metrics.by_group`), intervals from resampling test images within group and seeds
(:func:`fairnotes.metrics._resample.replicate_accuracy`, :func:`~fairnotes.metrics._resample.two_source_interval`),
paired between classifiers.

:func:`null_tuning` simulates the paper's protocol on a method that does nothing.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import xarray as xr

__all__ = ["ENTRIES", "GROUP_STATS", "summarize_setting", "null_tuning", "SMALL_GROUP"]

ENTRIES = ("text", "image", "heldout", "tuned")
#: between-group statistics of per-group accuracy (fairlearn's names: group_min, difference, ratio)
GROUP_STATS = ("worst", "difference", "ratio")
#: groups smaller than this are flagged wherever they appear (the issue's n < 30)
SMALL_GROUP = 30


def _stats(acc: np.ndarray) -> dict[str, np.ndarray]:
    lo, hi = np.nanmin(acc, axis=-1), np.nanmax(acc, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"worst": lo, "difference": hi - lo, "ratio": np.where(hi > 0, lo / hi, np.nan)}


def summarize_setting(combined: Sequence[Mapping[str, np.ndarray]], y: np.ndarray, groups: Mapping[str, np.ndarray],
                      *, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> xr.Dataset:
    """Every number of one setting.

    ``combined``: per seed, a mapping with ``text``, ``image``, ``heldout``, ``tuned`` (per-image correctness,
    possibly averaged over several evaluations: floats in [0, 1]), ``pred_<entry>`` and ``pos`` (every evaluation's
    prediction and the image it was for), ``w_heldout`` / ``w_tuned`` (the chosen w's). ``y``: the images' classes;
    ``groups``: ``{attribute: group label per image}``.

    Returns a Dataset with coord ``entry`` and, overall: ``accuracy`` (mean per-class accuracy; the classes are
    balanced in EmojiProf) with bounds, ``gain`` (minus text-only, paired bounds), ``inflation`` (tuned minus
    held-out, paired bounds); per attribute ``a``: ``a_accuracy`` (entry × ``a``) from fairlearn with bounds,
    ``a_count`` (``a``), ``a_small`` (``a``: fewer than :data:`SMALL_GROUP` images), and for each of
    :data:`GROUP_STATS` ``a_<stat>`` (entry) with bounds and ``delta_a_<stat>`` (entry, minus text-only's, paired
    bounds); ``a_change_min`` (entry): the smallest per-group change from text-only, with bounds. ``w_heldout`` /
    ``w_tuned`` (seed × pair).
    """
    from ..metrics import by_group
    from ..metrics._resample import replicate_accuracy, two_source_interval

    combined = list(combined)
    s = len(combined)
    y = np.asarray(y, np.int64)
    hits = np.stack([[np.asarray(c[e], float) for c in combined] for e in ENTRIES])  # (E, S, N)
    ne = len(ENTRIES)

    def iv(o, bi, bs, lo=-1.0, hi=1.0):
        a, b = two_source_interval(o, bi, bs, n_seeds=s, confidence=confidence)
        return np.clip(a, lo, hi), np.clip(b, lo, hi)

    ds = xr.Dataset(coords={"entry": list(ENTRIES)})
    obs, bi, bs = replicate_accuracy(y, hits, n_boot=n_boot, seed=seed)
    acc = [x.mean(axis=-1) for x in (obs, bi, bs)]
    lo, hi = iv(*acc, 0, 1)
    ds["accuracy"] = ("entry", acc[0], {"description": "mean per-class test accuracy, mean over seeds"})
    ds["accuracy_lower"], ds["accuracy_upper"] = ("entry", lo), ("entry", hi)
    d = [x - x[..., :1] for x in acc]
    lo, hi = iv(*d)
    ds["gain"] = ("entry", d[0], {"description": "accuracy minus text-only's"})
    ds["gain_lower"], ds["gain_upper"] = ("entry", lo), ("entry", hi)
    d = [x[..., 3] - x[..., 2] for x in acc]
    lo, hi = iv(*d)
    ds["inflation"] = ((), float(d[0]), {"description": "accuracy with w tuned on the test set minus with w chosen "
                                                        "on held-out data"})
    ds["inflation_lower"], ds["inflation_upper"] = float(lo), float(hi)

    pos = np.concatenate([np.asarray(c["pos"]) for c in combined])
    for attr, g in groups.items():
        g = np.asarray(g).astype(str)
        names, codes = np.unique(g, return_inverse=True)
        obs, bi, bs = replicate_accuracy(codes, hits, n_boot=n_boot, seed=seed)  # (E, G)
        # the point estimates from fairlearn's MetricFrame on every evaluation (seeds × pairs) stacked
        fl = np.stack([by_group(np.tile(y, 1)[pos], np.concatenate([np.asarray(c[f"pred_{e}"]) for c in combined]),
                                sensitive_features=g[pos])["accuracy"].sel(group=names).values for e in ENTRIES])
        if not np.allclose(fl, obs, atol=1e-9):
            raise AssertionError(f"fairlearn and the bootstrap disagree on the {attr} accuracies")  # pragma: no cover
        dim = attr
        lo, hi = iv(fl, bi, bs, 0, 1)
        ds = ds.assign_coords({dim: names})
        ds[f"{attr}_accuracy"] = (("entry", dim), fl, {"description": f"accuracy per {attr} group (fairlearn "
                                                                      f"MetricFrame), mean over seeds"})
        ds[f"{attr}_accuracy_lower"], ds[f"{attr}_accuracy_upper"] = (("entry", dim), lo), (("entry", dim), hi)
        count = np.bincount(codes, minlength=names.size)
        ds[f"{attr}_count"] = (dim, count, {"description": "test images in the group"})
        ds[f"{attr}_small"] = (dim, count < SMALL_GROUP, {"description": f"fewer than {SMALL_GROUP} images"})
        st = [_stats(x) for x in (fl, bi, bs)]
        for k in GROUP_STATS:
            lo, hi = iv(st[0][k], st[1][k], st[2][k], 0, 1)
            ds[f"{attr}_{k}"] = ("entry", st[0][k])
            ds[f"{attr}_{k}_lower"], ds[f"{attr}_{k}_upper"] = ("entry", lo), ("entry", hi)
            d = [x[k] - x[k][..., :1] for x in st]
            lo, hi = iv(*d)
            ds[f"delta_{attr}_{k}"] = ("entry", d[0], {"description": f"{k} minus text-only's"})
            ds[f"delta_{attr}_{k}_lower"], ds[f"delta_{attr}_{k}_upper"] = ("entry", lo), ("entry", hi)
        ch = [np.min(x - x[..., :1, :], axis=-1) for x in (fl, bi, bs)]
        lo, hi = iv(*ch)
        ds[f"{attr}_change_min"] = ("entry", ch[0], {"description": "smallest per-group change from text-only"})
        ds[f"{attr}_change_min_lower"], ds[f"{attr}_change_min_upper"] = ("entry", lo), ("entry", hi)
    wh = np.stack([np.asarray(c["w_heldout"], float) for c in combined])
    wt = np.stack([np.asarray(c["w_tuned"], float) for c in combined])
    ds["w_heldout"] = (("seed", "pair"), wh, {"description": "w chosen on each pair's validation images"})
    ds["w_tuned"] = (("seed", "pair"), wt, {"description": "w tuned on each pair's test images (D3G's protocol)"})
    ds.attrs.update(n_boot=int(n_boot), n_seeds=s, n_test=int(y.size), confidence=float(confidence))
    return ds


def null_tuning(group_sizes: Sequence[int], accuracy: float | Sequence[float], *, n_w: int = 101,
                changed: float = 0.3, n_sims: int = 2000, seed: int = 0) -> xr.Dataset:
    """How much "gain" tuning w on the test set manufactures for a method that truly does nothing.

    Each of G groups has ``group_sizes[g]`` test images and true accuracy ``accuracy`` (a number or one per group),
    the same at every w: the method does nothing. Along the sweep from w = 1 (text-only) to w = 0, predictions
    change as mixing weights do: at each of the ``n_w − 1`` steps every image's correctness is redrawn (from the same
    accuracy) with the probability that makes a share ``changed`` of the images redrawn by w = 0. The reported
    "gain" of the paper's protocol is the best mean-over-groups accuracy over the sweep minus the text-only one
    (w = 1), on the same images; a w chosen on other images of the same size gains nothing in expectation.

    Returns ``gain_tuned`` and ``gain_heldout`` (sim) and their ``mean`` / ``q95`` summaries (attrs record the
    inputs).
    """
    sizes = np.asarray(group_sizes, np.int64)
    p = np.broadcast_to(np.asarray(accuracy, float), sizes.shape)
    if sizes.min(initial=1) < 1 or not (0 <= p).all() or not (p <= 1).all():
        raise ValueError("group sizes must be positive and accuracies in [0, 1]")
    if not 0 <= changed <= 1 or n_w < 2:
        raise ValueError(f"changed must lie in [0, 1] and n_w ≥ 2; got {changed}, {n_w}")
    rng = np.random.default_rng(seed)
    q = 1 - (1 - changed) ** (1 / (n_w - 1))  # per-step redraw probability
    n = int(sizes.sum())
    grp = np.repeat(np.arange(sizes.size), sizes)
    pp = p[grp]

    def sweep(k: int) -> np.ndarray:
        """(k, n_w) mean-over-groups accuracy along the sweep, for k independent test sets."""
        c = rng.random((k, n)) < pp
        out = np.empty((k, n_w))
        onehot = (grp[:, None] == np.arange(sizes.size)[None, :]).astype(float) / sizes
        for i in range(n_w):
            if i:
                redraw = rng.random((k, n)) < q
                c = np.where(redraw, rng.random((k, n)) < pp, c)
            out[:, i] = (c @ onehot).mean(axis=1)
        return out

    test = sweep(n_sims)
    val = sweep(n_sims)
    gain_tuned = test.max(axis=1) - test[:, 0]
    best_val = np.argmax(val, axis=1)  # ties to the first (w nearest 1)
    gain_held = test[np.arange(n_sims), best_val] - test[:, 0]
    ds = xr.Dataset({"gain_tuned": ("sim", gain_tuned), "gain_heldout": ("sim", gain_held)})
    for k, v in (("gain_tuned", gain_tuned), ("gain_heldout", gain_held)):
        ds[f"{k}_mean"] = float(v.mean())
        ds[f"{k}_q95"] = float(np.quantile(v, 0.95))
    ds.attrs.update(group_sizes=[int(x) for x in sizes], accuracy=[float(x) for x in p], n_w=int(n_w),
                    changed=float(changed), n_sims=int(n_sims), seed=int(seed))
    return ds
