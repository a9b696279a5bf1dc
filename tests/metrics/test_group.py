"""by_group against fairlearn's MetricFrame and a hand mask computation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from fairlearn.metrics import (
    MetricFrame, demographic_parity_difference, equalized_odds_difference, true_positive_rate,
)
from sklearn.metrics import accuracy_score

from fairnotes.metrics import by_group


def _case(seed: int, n: int = 600, k: int = 4):
    rng = np.random.default_rng(seed)
    group = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    y_true = rng.integers(0, k, n)
    err = np.where(group == "east", 0.5, 0.2)
    y_pred = np.where(rng.random(n) < err, rng.integers(0, k, n), y_true)
    return y_true, y_pred, group


def _mask_rates(y_t, y_p, pos):
    t, p = y_t == pos, y_p == pos
    return {
        "count": y_t.size,
        "accuracy": accuracy_score(y_t, y_p),
        "selection_rate": p.mean(),
        "tpr": (t & p).sum() / t.sum(),
        "fpr": (~t & p).sum() / (~t).sum(),
    }


@pytest.mark.parametrize("seed", range(3))
def test_single_feature_matches_masks_and_metricframe(seed):
    y_true, y_pred, group = _case(seed)
    ds = by_group(y_true, y_pred, sensitive_features=group, pos_label=2)
    assert ds["group"].values.tolist() == ["east", "north", "south"]
    expected = {g: _mask_rates(y_true[group == g], y_pred[group == g], 2) for g in ["east", "north", "south"]}
    for g, rates in expected.items():
        for m, v in rates.items():
            assert float(ds[m].sel(group=g)) == pytest.approx(v), (g, m)
    assert ds["count"].dtype == np.int64
    for m in ["accuracy", "selection_rate", "tpr", "fpr"]:
        vals = np.array([expected[g][m] for g in expected])
        assert float(ds[f"{m}_difference"]) == pytest.approx(vals.max() - vals.min())
        assert float(ds[f"{m}_ratio"]) == pytest.approx(vals.min() / vals.max())
        assert float(ds[f"{m}_group_min"]) == pytest.approx(vals.min())
        assert float(ds[f"{m}_group_max"]) == pytest.approx(vals.max())
    assert float(ds["accuracy_overall"]) == pytest.approx(accuracy_score(y_true, y_pred))
    worst = min(expected, key=lambda g: expected[g]["accuracy"])
    assert str(ds["accuracy_worst_group"].values) == worst

    # fairlearn's own MetricFrame on the binarised labels, as a second oracle
    yt_bin, yp_bin = y_true == 2, y_pred == 2
    mf = MetricFrame(metrics={"accuracy": accuracy_score},
                     y_true=y_true, y_pred=y_pred, sensitive_features=group)
    np.testing.assert_allclose(ds["accuracy"].values, mf.by_group["accuracy"].values)
    mf_bin = MetricFrame(metrics=true_positive_rate, y_true=yt_bin, y_pred=yp_bin, sensitive_features=group)
    np.testing.assert_allclose(ds["tpr"].values, mf_bin.by_group.values)
    assert float(ds["demographic_parity_difference"]) == pytest.approx(
        demographic_parity_difference(yt_bin, yp_bin, sensitive_features=group))
    assert float(ds["equalized_odds_difference"]) == pytest.approx(
        equalized_odds_difference(yt_bin, yp_bin, sensitive_features=group))


def test_without_pos_label_only_count_and_accuracy():
    y_true, y_pred, group = _case(5)
    ds = by_group(y_true, y_pred, sensitive_features=pd.Series(group, name="region"))
    assert {"count", "accuracy"} <= set(ds.data_vars)
    assert not {"tpr", "fpr", "selection_rate", "equalized_odds_difference"} & set(ds.data_vars)
    assert ds["accuracy"].dims == ("group",)
    assert ds.attrs["sensitive_feature"] == "region"
    assert int(ds["count"].sum()) == y_true.size


def test_several_features_give_one_dim_each_on_a_dense_grid():
    y_true, y_pred, group = _case(6)
    rng = np.random.default_rng(6)
    age = rng.choice(["young", "old"], group.size)
    age[group == "east"] = "young"  # (east, old) is empty
    sf = pd.DataFrame({"region": group, "age": age})
    ds = by_group(y_true, y_pred, sensitive_features=sf, pos_label=0)
    assert ds["accuracy"].dims == ("region", "age")
    empty = ds.sel(region="east", age="old")
    assert int(empty["count"]) == 0 and np.isnan(float(empty["accuracy"]))
    accs = []
    for r in ["east", "north", "south"]:
        for a in ["old", "young"]:
            mask = (group == r) & (age == a)
            if not mask.any():
                continue
            rates = _mask_rates(y_true[mask], y_pred[mask], 0)
            assert int(ds["count"].sel(region=r, age=a)) == rates["count"]
            assert float(ds["accuracy"].sel(region=r, age=a)) == pytest.approx(rates["accuracy"])
            assert float(ds["fpr"].sel(region=r, age=a)) == pytest.approx(rates["fpr"])
            accs.append(((r, a), rates["accuracy"]))
    worst = min(accs, key=lambda x: x[1])
    assert str(ds["accuracy_worst_group"].values) == ", ".join(worst[0])
    assert float(ds["accuracy_difference"]) == pytest.approx(max(v for _, v in accs) - worst[1])
    assert ds.attrs["sensitive_feature"] == "region, age"


def test_returns_a_dataset_whatever_the_input():
    y_true, y_pred, group = _case(7, n=60)
    for sf in (group, list(group), pd.Series(group), pd.DataFrame({"g": group}), {"g": group}):
        ds = by_group(y_true, y_pred, sensitive_features=sf)
        assert isinstance(ds, xr.Dataset) and ds["accuracy"].dims == ("group",)


@pytest.mark.parametrize(
    "y_true, y_pred, sf, match",
    [
        ([0, 1, 1], [0, 1, 1], ["a", "b"], "sensitive_features has 2 rows"),
        ([0, 1, 1], [0, 1], ["a", "b", "a"], "different lengths"),
        ([], [], [], "empty"),
        (np.zeros((3, 1)), np.zeros((3, 1)), ["a", "b", "a"], "1-D"),
        ([0, 1], [0, 1], np.zeros((2, 2)), "1-D"),
    ],
)
def test_bad_input(y_true, y_pred, sf, match):
    with pytest.raises(ValueError, match=match):
        by_group(y_true, y_pred, sensitive_features=sf)
