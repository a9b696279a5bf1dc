"""per_class against scikit-learn and a hand-worked example."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr
from sklearn.metrics import (
    accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, precision_score, recall_score,
)

from fairnotes.metrics import per_class


def _random_case(seed: int, n: int = 500, k: int = 7):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    # Mostly right, with class-dependent error, and one class (k) that is only ever predicted.
    wrong = rng.random(n) < rng.uniform(0.1, 0.6, k)[y_true]
    y_pred = np.where(wrong, rng.integers(0, k + 1, n), y_true)
    return y_true, y_pred


def _sk(fn, y_true, y_pred, labels):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)


@pytest.mark.parametrize("seed", range(5))
def test_matches_sklearn_on_random_cases(seed):
    y_true, y_pred = _random_case(seed)
    ds = per_class(y_true, y_pred)
    labels = np.union1d(y_true, y_pred)
    np.testing.assert_array_equal(ds["label"].values, labels)
    np.testing.assert_allclose(ds["accuracy"], _sk(recall_score, y_true, y_pred, labels), equal_nan=True)
    np.testing.assert_allclose(ds["precision"], _sk(precision_score, y_true, y_pred, labels), equal_nan=True)
    np.testing.assert_allclose(ds["f1"], _sk(f1_score, y_true, y_pred, labels), equal_nan=True)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    np.testing.assert_array_equal(ds["tp"], np.diag(cm))
    np.testing.assert_array_equal(ds["support"], cm.sum(axis=1))
    np.testing.assert_array_equal(ds["predicted"], cm.sum(axis=0))
    np.testing.assert_array_equal(ds["fp"], cm.sum(axis=0) - np.diag(cm))
    np.testing.assert_array_equal(ds["fn"], cm.sum(axis=1) - np.diag(cm))
    assert ds.attrs["n"] == y_true.size
    assert ds.attrs["overall_accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about the predicted-only class, then skips it
        expected_bal = balanced_accuracy_score(y_true, y_pred)
    assert ds.attrs["balanced_accuracy"] == pytest.approx(expected_bal)


def test_hand_worked_three_classes():
    # true: cat cat cat dog dog eel ; pred: cat cat dog dog cat cat
    y_true = ["cat", "cat", "cat", "dog", "dog", "eel"]
    y_pred = ["cat", "cat", "dog", "dog", "cat", "cat"]
    ds = per_class(y_true, y_pred)
    assert ds["label"].values.tolist() == ["cat", "dog", "eel"]
    assert ds["support"].values.tolist() == [3, 2, 1]
    assert ds["predicted"].values.tolist() == [4, 2, 0]
    assert ds["tp"].values.tolist() == [2, 1, 0]
    assert ds["fp"].values.tolist() == [2, 1, 0]
    assert ds["fn"].values.tolist() == [1, 1, 1]
    np.testing.assert_allclose(ds["accuracy"], [2 / 3, 1 / 2, 0.0])
    np.testing.assert_allclose(ds["precision"], [2 / 4, 1 / 2, np.nan])
    np.testing.assert_allclose(ds["f1"], [4 / 7, 2 / 4, 0.0])  # 2tp / (2tp + fp + fn)
    assert ds.attrs["overall_accuracy"] == pytest.approx(3 / 6)
    assert ds.attrs["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    for v in ("support", "predicted", "tp", "fp", "fn"):
        assert ds[v].dtype == np.int64
    assert ds["class_name"].values.tolist() == ["cat", "dog", "eel"]
    assert all("long_name" in ds[v].attrs for v in ds.data_vars)


def test_labels_fix_order_and_admit_absent_classes():
    y_true, y_pred = _random_case(1, k=4)
    labels = [3, 9, 0, 2, 1]  # 9 never occurs; 4 (predicted only) is left out
    ds = per_class(y_true, y_pred, labels=labels)
    assert ds["label"].values.tolist() == labels
    row9 = ds.sel(label=9)
    assert int(row9["support"]) == 0 and np.isnan(row9["accuracy"])
    np.testing.assert_allclose(ds["accuracy"], _sk(recall_score, y_true, y_pred, labels), equal_nan=True)
    np.testing.assert_allclose(ds["precision"], _sk(precision_score, y_true, y_pred, labels), equal_nan=True)


def test_labels_subset_semantics_match_sklearn():
    # True labels outside `labels` get no row; their predictions still count as false positives.
    y_true, y_pred = _random_case(2, k=6)
    labels = [0, 2, 4]
    ds = per_class(y_true, y_pred, labels=labels)
    np.testing.assert_allclose(ds["accuracy"], _sk(recall_score, y_true, y_pred, labels))
    np.testing.assert_allclose(ds["precision"], _sk(precision_score, y_true, y_pred, labels))
    np.testing.assert_allclose(ds["f1"], _sk(f1_score, y_true, y_pred, labels))
    for lab in labels:
        assert int(ds["support"].sel(label=lab)) == np.sum(y_true == lab)
        assert int(ds["predicted"].sel(label=lab)) == np.sum(y_pred == lab)


def test_integer_fast_path_equals_general_path():
    y_true, y_pred = _random_case(3)
    dense = per_class(y_true, y_pred)
    for shift in (10**12, -(10**12)):  # range too wide for the bincount path
        sparse = per_class(y_true + shift, y_pred + shift)
        for v in ("support", "predicted", "tp", "accuracy", "precision", "f1"):
            np.testing.assert_array_equal(sparse[v].values, dense[v].values)
    strings = per_class(y_true.astype(str), y_pred.astype(str), labels=np.arange(8).astype(str))
    np.testing.assert_array_equal(strings["tp"].values, dense["tp"].values)


def test_class_names_sequence_mapping_and_torchvision_convention():
    y_true, y_pred = [0, 0, 2], [0, 2, 2]
    ds = per_class(y_true, y_pred, class_names=["a", "b", "c"])  # label 1 never occurs
    assert ds["label"].values.tolist() == [0, 1, 2]
    assert ds["class_name"].values.tolist() == ["a", "b", "c"]
    assert int(ds["support"].sel(label=1)) == 0
    ds = per_class(y_true, y_pred, labels=[2, 0], class_names={0: "zero", 2: "two", 7: "x"})
    assert ds["class_name"].values.tolist() == ["two", "zero"]
    assert per_class(y_true, y_pred)["class_name"].values.tolist() == ["0", "2"]
    with pytest.raises(ValueError, match="class_names has 2 names"):
        per_class(y_true, y_pred, labels=[0, 1, 2], class_names=["a", "b"])


@pytest.mark.parametrize(
    "y_true, y_pred, kwargs, match",
    [
        ([0, 1, 2], [0, 1], {}, "different lengths"),
        ([], [], {}, "empty"),
        (np.zeros((3, 2)), np.zeros((3, 2)), {}, "1-D"),
        ([0, 1], [[0], [1]], {}, "1-D"),
        ([0, 1], [0, 1], {"labels": [0, 0, 1]}, "duplicates"),
        ([0, 1], [0, 1], {"labels": []}, "non-empty"),
    ],
)
def test_bad_input_raises_one_clear_error(y_true, y_pred, kwargs, match):
    with pytest.raises(ValueError, match=match):
        per_class(y_true, y_pred, **kwargs)


def test_round_trips_through_netcdf(tmp_path):
    y_true, y_pred = _random_case(4)
    ds = per_class(y_true, y_pred, class_names=[f"class {i}" for i in range(8)])
    path = tmp_path / "per_class.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    back = xr.load_dataset(path, engine="h5netcdf")
    xr.testing.assert_equal(back, ds)
    assert back.attrs["overall_accuracy"] == ds.attrs["overall_accuracy"]


def test_import_does_not_pull_in_torch():
    code = "import fairnotes.metrics, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
