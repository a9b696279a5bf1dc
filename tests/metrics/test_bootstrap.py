"""Bootstrap CIs and the noise floor: determinism, coverage, and independent resampling oracles."""
from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from fairnotes.metrics import disparity, disparity_ci, noise_floor, per_class, per_class_ci


def _exact_hits(counts, hits):
    """Labels with exactly ``hits[c]`` of ``counts[c]`` samples of class c predicted right."""
    y_true = np.repeat(np.arange(len(counts)), counts)
    correct = np.concatenate([np.arange(n) < h for n, h in zip(counts, hits)])
    y_pred = np.where(correct, y_true, (y_true + 1) % len(counts))
    return y_true, y_pred


def _simulated(rng, counts, p):
    """Labels whose class c is predicted right with probability p[c], independently."""
    y_true = np.repeat(np.arange(len(counts)), counts)
    right = rng.random(y_true.size) < np.asarray(p)[y_true]
    return y_true, np.where(right, y_true, (y_true + 1) % len(counts))


def test_same_seed_same_output_other_seed_differs():
    y_true, y_pred = _simulated(np.random.default_rng(0), [50, 80, 30], [0.6, 0.8, 0.9])
    a = per_class_ci(y_true, y_pred, n_boot=300, seed=7)
    xr.testing.assert_identical(a, per_class_ci(y_true, y_pred, n_boot=300, seed=7))
    assert not a.equals(per_class_ci(y_true, y_pred, n_boot=300, seed=8))
    d = disparity_ci(y_true, y_pred, n_boot=300, seed=7)
    xr.testing.assert_identical(d, disparity_ci(y_true, y_pred, n_boot=300, seed=7))
    assert not d.equals(disparity_ci(y_true, y_pred, n_boot=300, seed=8))
    nf = noise_floor(y_true, y_pred, n_sim=300, seed=7)
    xr.testing.assert_identical(nf, noise_floor(y_true, y_pred, n_sim=300, seed=7))


def test_ci_of_a_1000_sample_class_at_p08_has_the_normal_width():
    y_true, y_pred = _exact_hits([1000, 1000], [800, 500])
    ds = per_class_ci(y_true, y_pred, n_boot=2000, seed=0)
    lo, hi = float(ds["accuracy_lower"][0]), float(ds["accuracy_upper"][0])
    assert lo < 0.8 < hi
    normal_width = 2 * 1.96 * math.sqrt(0.8 * 0.2 / 1000)
    assert hi - lo == pytest.approx(normal_width, rel=0.3)


def test_bounds_match_exact_binomial_quantiles():
    # Stratified resampling of n_c samples with k_c hits gives Binomial(n_c, k_c/n_c) hits,
    # so the percentile bounds converge to the binomial quantiles (scipy), up to MC error.
    counts, hits = [200, 60, 500], [140, 57, 250]
    y_true, y_pred = _exact_hits(counts, hits)
    ds = per_class_ci(y_true, y_pred, n_boot=4000, confidence=0.9, seed=1)
    for c, (n, h) in enumerate(zip(counts, hits)):
        lo = stats.binom.ppf(0.05, n, h / n) / n
        hi = stats.binom.ppf(0.95, n, h / n) / n
        assert float(ds["accuracy_lower"][c]) == pytest.approx(lo, abs=2 / n + 0.005)
        assert float(ds["accuracy_upper"][c]) == pytest.approx(hi, abs=2 / n + 0.005)


def _index_bootstrap(y_true, y_pred, n_boot, rng):
    """Slow, literal oracle: resample sample indices within each true class, recompute per_class."""
    groups = [np.flatnonzero(y_true == c) for c in np.unique(y_true)]
    acc = np.empty((n_boot, len(groups)))
    for b in range(n_boot):
        for c, idx in enumerate(groups):
            pick = rng.choice(idx, size=idx.size, replace=True)
            acc[b, c] = np.mean(y_true[pick] == y_pred[pick])
    return acc


def test_agrees_with_explicit_index_resampling():
    y_true, y_pred = _simulated(np.random.default_rng(3), [40, 120, 80, 60], [0.5, 0.9, 0.7, 0.8])
    acc = _index_bootstrap(y_true, y_pred, 1500, np.random.default_rng(99))
    q = [0.025, 0.975]
    ds = per_class_ci(y_true, y_pred, n_boot=4000, seed=0)
    lo, hi = np.quantile(acc, q, axis=0)
    np.testing.assert_allclose(ds["accuracy_lower"], lo, atol=0.035)
    np.testing.assert_allclose(ds["accuracy_upper"], hi, atol=0.035)
    d = disparity_ci(y_true, y_pred, n_boot=4000, seed=0)
    std_lo, std_hi = np.quantile(acc.std(axis=1), q)
    gap_lo, gap_hi = np.quantile(acc.max(axis=1) - acc.min(axis=1), q)
    assert float(d["std_lower"]) == pytest.approx(std_lo, abs=0.02)
    assert float(d["std_upper"]) == pytest.approx(std_hi, abs=0.02)
    assert float(d["gap_lower"]) == pytest.approx(gap_lo, abs=0.04)
    assert float(d["gap_upper"]) == pytest.approx(gap_hi, abs=0.04)


def test_per_class_ci_extends_per_class_and_handles_absent_classes():
    y_true, y_pred = _simulated(np.random.default_rng(4), [30, 50], [0.7, 0.9])
    ds = per_class_ci(y_true, y_pred, labels=[0, 1, 2], n_boot=200)
    base = per_class(y_true, y_pred, labels=[0, 1, 2])
    xr.testing.assert_equal(ds[list(base.data_vars)], base)
    assert np.isnan(ds["accuracy_lower"][2]) and np.isnan(ds["accuracy_upper"][2])
    assert (ds["accuracy_lower"][:2] <= ds["accuracy"][:2]).all()
    assert (ds["accuracy"][:2] <= ds["accuracy_upper"][:2]).all()
    assert ds.attrs["n_boot"] == 200 and ds.attrs["seed"] == 0


def test_disparity_ci_point_values_and_bound_variables():
    y_true, y_pred = _simulated(np.random.default_rng(5), [100] * 8, np.linspace(0.5, 0.95, 8))
    d = disparity_ci(y_true, y_pred, n_boot=500, worst_fraction=0.25)
    point = disparity(per_class(y_true, y_pred), worst_fraction=0.25)
    xr.testing.assert_equal(d[list(point.data_vars)], point)
    for s in ["mean", "best", "worst", "gap", "std", "cv", "gini", "worst_k_mean", "min_max_ratio"]:
        assert float(d[f"{s}_lower"]) <= float(d[f"{s}_upper"]), s
        assert d[f"{s}_lower"].attrs["long_name"]
    assert float(d["mean_lower"]) < float(d["mean"]) < float(d["mean_upper"])


@pytest.mark.parametrize(
    "fn, kwargs, match",
    [
        (per_class_ci, {"n_boot": 0}, "n_boot"),
        (per_class_ci, {"confidence": 1.0}, "confidence"),
        (disparity_ci, {"worst_fraction": 2}, "worst_fraction"),
        (noise_floor, {"statistic": "iqr"}, "'std', 'gap'"),
        (noise_floor, {"n_sim": -1}, "n_sim"),
        (noise_floor, {"labels": [7]}, "no class"),
    ],
)
def test_bad_options(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn([0, 1, 1], [0, 1, 0], **kwargs)


@pytest.mark.parametrize("fn", [per_class_ci, disparity_ci, noise_floor])
def test_bad_arrays(fn):
    with pytest.raises(ValueError, match="different lengths"):
        fn([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="1-D"):
        fn(np.zeros((2, 2)), np.zeros((2, 2)))


# --- noise floor -------------------------------------------------------------------------


def test_equal_accuracy_is_not_flagged_and_p_values_are_calibrated():
    counts = [200] * 10
    ds = noise_floor(*_simulated(np.random.default_rng(0), counts, [0.8] * 10), n_sim=1000, seed=0)
    assert float(ds["p_value"]) > 0.05
    # Over 20 null data sets about 1 in 20 should fall below 0.05; 5 or more has probability ~0.3%.
    p = [float(noise_floor(*_simulated(np.random.default_rng(s), counts, [0.8] * 10), n_sim=400,
                           seed=s)["p_value"]) for s in range(1, 21)]
    assert sum(v < 0.05 for v in p) < 5


@pytest.mark.parametrize("statistic", ["std", "gap"])
def test_unequal_accuracy_is_flagged(statistic):
    y_true, y_pred = _simulated(np.random.default_rng(1), [150] * 6, [0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    ds = noise_floor(y_true, y_pred, n_sim=500, statistic=statistic)
    assert float(ds["p_value"]) < 0.01
    assert float(ds["observed"]) > float(ds["null_upper"])


def test_noise_floor_quantities_from_their_definitions():
    rng = np.random.default_rng(2)
    y_true, y_pred = _simulated(rng, [30, 80, 200, 50], [0.6, 0.7, 0.8, 0.75])
    ds = noise_floor(y_true, y_pred, labels=[0, 1, 2, 3, 4], n_sim=800, statistic="gap")
    acc = np.array([np.mean(y_pred[y_true == c] == c) for c in range(4)])  # class 4 absent: skipped
    assert float(ds["observed"]) == pytest.approx(acc.max() - acc.min())
    null = ds["null"].values
    assert null.shape == (800,) and int(ds["n_sim"]) == 800
    assert float(ds["p_value"]) == pytest.approx((1 + np.sum(null >= float(ds["observed"]))) / 801)
    assert float(ds["null_mean"]) == pytest.approx(null.mean())
    assert float(ds["null_upper"]) == pytest.approx(np.quantile(null, 0.95))
    assert ds.attrs["p_null"] == pytest.approx(np.mean(y_true == y_pred))


def test_null_std_matches_binomial_theory():
    # With K equal classes of size n and accuracy p, E[population variance] = (K-1)/K * p(1-p)/n.
    k, n, p = 20, 400, 0.7
    y_true, y_pred = _exact_hits([n] * k, [int(p * n)] * k)
    ds = noise_floor(y_true, y_pred, n_sim=4000, seed=3)
    assert float(ds["observed"]) == pytest.approx(0.0, abs=1e-12) and float(ds["p_value"]) == 1.0
    assert np.mean(ds["null"].values ** 2) == pytest.approx((k - 1) / k * p * (1 - p) / n, rel=0.05)
