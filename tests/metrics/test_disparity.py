"""disparity against hand-worked values, numpy/scipy, and a per-slice loop."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from fairnotes.metrics import disparity, per_class

NUMERIC = ["mean", "best", "worst", "gap", "std", "cv", "gini", "worst_k_mean", "min_max_ratio"]


def _gini_double_sum(x):
    """Textbook definition: mean absolute difference over all ordered pairs / (2 * mean)."""
    x = np.asarray(x, dtype=float)
    return sum(abs(a - b) for a in x for b in x) / (2 * len(x) ** 2 * x.mean())


def _oracle(acc, worst_fraction=0.1):
    a = np.asarray([v for v in acc if not math.isnan(v)], dtype=float)
    k = max(1, math.ceil(Fraction(str(worst_fraction)) * len(a)))  # exact decimal arithmetic
    return {
        "mean": a.mean(), "best": a.max(), "worst": a.min(), "gap": a.max() - a.min(),
        "std": np.std(a), "cv": stats.variation(a), "gini": _gini_double_sum(a),
        "worst_k_mean": np.sort(a)[:k].mean(), "min_max_ratio": a.min() / a.max(),
    }


def test_hand_worked_zero_zero_one():
    ds = disparity(xr.DataArray([0.0, 0.0, 1.0], dims="label",
                                coords={"class_name": ("label", ["ant", "bee", "cow"])}),
                   worst_fraction=0.5)
    assert float(ds["mean"]) == pytest.approx(1 / 3)
    assert float(ds["best"]) == 1.0 and float(ds["worst"]) == 0.0 and float(ds["gap"]) == 1.0
    # deviations -1/3, -1/3, 2/3 -> variance (1/9 + 1/9 + 4/9) / 3 = 2/9
    assert float(ds["std"]) == pytest.approx(math.sqrt(2 / 9))
    assert float(ds["cv"]) == pytest.approx(math.sqrt(2 / 9) * 3)
    # ordered pairs with |diff| = 1: (ant,cow),(cow,ant),(bee,cow),(cow,bee) -> 4 / (2 * 9 * 1/3)
    assert float(ds["gini"]) == pytest.approx(2 / 3)
    assert float(ds["worst_k_mean"]) == 0.0  # ceil(0.5 * 3) = 2 worst classes: 0, 0
    assert float(ds["min_max_ratio"]) == 0.0
    assert str(ds["best_class"].values) == "cow"
    assert str(ds["worst_class"].values) == "ant"  # first on ties
    assert int(ds["n_classes"]) == 3


def test_gini_limits():
    assert float(disparity([0.7, 0.7, 0.7, 0.7])["gini"]) == pytest.approx(0.0)
    assert float(disparity([0.0, 0.0, 0.0, 1.0])["gini"]) == pytest.approx(3 / 4)  # (K-1)/K
    assert float(disparity([0.0, 0.0])["gini"]) == 0.0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("worst_fraction", [0.1, 0.25, 1.0])
def test_random_vectors_match_oracle(seed, worst_fraction):
    rng = np.random.default_rng(seed)
    acc = rng.uniform(0.05, 1.0, rng.integers(2, 40))
    acc[rng.random(acc.size) < 0.2] = np.nan
    acc[0] = 0.5  # at least one defined class
    ds = disparity(acc, worst_fraction=worst_fraction)
    for name, expected in _oracle(acc, worst_fraction).items():
        assert float(ds[name]) == pytest.approx(expected, rel=1e-12), name
    assert int(ds["n_classes"]) == np.sum(~np.isnan(acc))


def test_worst_fraction_is_robust_to_float_rounding():
    acc = np.arange(30) / 30  # 0.1 * 30 = 3.0000000000000004 in floating point
    assert float(disparity(acc, worst_fraction=0.1)["worst_k_mean"]) == pytest.approx((0 + 1 + 2) / 30 / 3)


def test_per_class_dataset_input_skips_absent_classes():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 0, 1, 1, 0, 2, 2, 2, 0]
    ds = per_class(y_true, y_pred, labels=[0, 1, 2, 5], class_names=["a", "b", "c", "ghost"])
    out = disparity(ds)
    for name, expected in _oracle([2 / 3, 1 / 2, 3 / 4]).items():
        assert float(out[name]) == pytest.approx(expected), name
    assert str(out["best_class"].values) == "c" and str(out["worst_class"].values) == "b"
    assert int(out["n_classes"]) == 3


def test_extra_dims_are_vectorised_and_kept():
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 1, (3, 4, 6))
    values[0, 1, 2] = np.nan
    values[2, 3, :] = np.nan  # a slice with no defined class
    names = [f"c{i}" for i in range(6)]
    da = xr.DataArray(values, dims=("model", "seed", "label"),
                      coords={"model": ["m0", "m1", "m2"], "seed": [0, 1, 2, 3], "label": np.arange(6),
                              "class_name": ("label", names)})
    out = disparity(da.transpose("label", "model", "seed"), worst_fraction=0.3)
    assert set(out["gap"].dims) == {"model", "seed"}
    assert out["model"].values.tolist() == ["m0", "m1", "m2"]
    for m in range(3):
        for s in range(4):
            cell = out.isel(model=m, seed=s)
            if m == 2 and s == 3:
                assert all(np.isnan(float(cell[v])) for v in NUMERIC)
                assert str(cell["best_class"].values) == ""
                continue
            row = values[m, s]
            for name, expected in _oracle(row, 0.3).items():
                assert float(cell[name]) == pytest.approx(expected), (m, s, name)
            assert str(cell["best_class"].values) == names[int(np.nanargmax(row))]
            assert str(cell["worst_class"].values) == names[int(np.nanargmin(row))]


def test_every_variable_is_described():
    out = disparity([0.2, 0.9, 0.5])
    for v in out.data_vars:
        assert out[v].attrs.get("long_name") and out[v].attrs.get("description"), v
    assert "ddof=0" in out["std"].attrs["description"]
    assert isinstance(out, xr.Dataset)


def test_zero_mean_and_zero_best_give_nan_ratios():
    out = disparity([0.0, 0.0, np.nan])
    assert np.isnan(float(out["cv"])) and np.isnan(float(out["min_max_ratio"]))


@pytest.mark.parametrize(
    "arg, kwargs, match",
    [
        ([0.5, 0.6], {"worst_fraction": 0.0}, "worst_fraction"),
        ([0.5, 0.6], {"worst_fraction": 1.5}, "worst_fraction"),
        (xr.DataArray([0.5], dims="klass"), {}, "'label' dim"),
        (xr.Dataset({"recall": ("label", [0.5])}), {}, "'accuracy'"),
        (np.zeros((2, 2)), {}, "1-D"),
        ([], {}, "1-D and non-empty"),
    ],
)
def test_bad_input(arg, kwargs, match):
    with pytest.raises(ValueError, match=match):
        disparity(arg, **kwargs)
