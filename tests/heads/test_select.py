"""Head settings (τ, k) are chosen on a validation split, never on the test set."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from fairnotes.heads import FALLBACK_TAU, balanced_accuracy, choose, evaluate_heads, knn_head, tau_norm_head

# two classes, weight norms 2 and 1: τ-normalisation shrinks class 0's logits by 2**τ
W = np.array([[2.0, 0.0], [0.0, 1.0]])
XTR, YTR = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32), np.array([0, 1])
# validation: (1, 0.7) is class 1, which only τ = 2 gets right (0.5 < 0.7; τ = 1: 1 > 0.7; τ = 0: 2 > 0.7)
XVAL, YVAL = np.array([[1.0, 0.7], [1.0, 0.0]], np.float32), np.array([1, 0])
# test: (1, 1.5) is class 0, which only τ = 0 gets right (2 > 1.5; τ = 1: 1 < 1.5; τ = 2: 0.5 < 1.5)
XTE, YTE = np.array([[1.0, 1.5], [0.0, 1.0]], np.float32), np.array([0, 1])


def _scores(x, y, taus):
    return [balanced_accuracy_score(y, tau_norm_head(x, W, tau=t).argmax(1)) for t in taus]


def test_tau_is_chosen_on_the_validation_split_not_the_test_set():
    taus = (0.0, 1.0, 2.0)
    assert _scores(XVAL, YVAL, taus) == [0.5, 0.5, 1.0]  # the hand-worked validation scores: τ = 2 wins
    assert _scores(XTE, YTE, taus) == [1.0, 0.5, 0.5]    # on the test set τ = 0 would win
    ds = evaluate_heads(XTR, YTR, XTE, YTE, class_names=["a", "b"], heads=("tau_norm",), taus=(2.0, 0.0, 1.0),
                        weight=W, val_feats=XVAL, val_labels=YVAL)
    assert ds["head"].values.tolist() == ["tau_norm(tau=2)", "tau_norm(tau=0)", "tau_norm(tau=1)",
                                          "tau_norm(selected)"]
    assert ds.attrs["tau_selected"] == 2.0
    sel = ds.sel(head="tau_norm(selected)")
    assert str(sel["head_family"].values) == "tau_norm_selected" and float(sel["head_param"]) == 2.0
    # its test predictions are τ = 2's; every candidate's test predictions are kept
    np.testing.assert_array_equal(sel["prediction"], ds["prediction"].sel(head="tau_norm(tau=2)"))
    np.testing.assert_array_equal(ds["prediction"].sel(head="tau_norm(tau=0)"), YTE)
    np.testing.assert_allclose(ds["val_balanced_accuracy"].sel(head=["tau_norm(tau=0)", "tau_norm(tau=1)",
                                                                     "tau_norm(tau=2)", "tau_norm(selected)"]),
                               [0.5, 0.5, 1.0, 1.0])
    assert "never on the test set" in ds.attrs["selection"] and ds.attrs["n_val"] == 2


def test_ties_go_to_the_smaller_tau_and_the_first_k(split):
    xtr, ytr, xte, yte = split
    rng = np.random.default_rng(1)
    w = rng.normal(size=(6, 24))
    w /= np.linalg.norm(w, axis=1, keepdims=True)  # unit rows: every τ gives the same classifier
    ds = evaluate_heads(xtr, ytr, xte, yte, class_names=list("abcdef"), heads=("tau_norm", "knn"),
                        taus=(1.5, 0.5, 1.0), knn_k=(7, 3), weight=w, val_feats=xte[:5], val_labels=yte[:5])
    assert ds.attrs["tau_selected"] == 0.5
    # kNN: scored by sklearn's balanced accuracy; the best k, the first listed on a tie
    sc = [balanced_accuracy_score(yte[:5], knn_head(xtr, ytr, xte[:5], k=k, num_classes=6)) for k in (7, 3)]
    want = (7, 3)[int(np.flatnonzero(np.isclose(sc, max(sc)))[0])]
    assert ds.attrs["knn_k_selected"] == want
    np.testing.assert_array_equal(ds["prediction"].sel(head="knn(selected)"),
                                  ds["prediction"].sel(head=f"knn(k={want})"))
    np.testing.assert_allclose(ds["val_balanced_accuracy"].sel(head=["knn(k=7)", "knn(k=3)"]), sc)
    assert choose([0.8, 0.9, 0.9]) == 1 and choose([0.5, 0.5]) == 0


def test_no_validation_split_falls_back_to_tau_one_and_the_first_k(split):
    xtr, ytr, xte, yte = split
    w = np.random.default_rng(2).normal(size=(6, 24))
    ds = evaluate_heads(xtr, ytr, xte, yte, class_names=list("abcdef"), heads=("tau_norm", "knn"),
                        taus=(0.0, 2.0), knn_k=(5, 1), weight=w, select=True)
    assert FALLBACK_TAU == 1.0 and ds.attrs["tau_selected"] == 1.0 and ds.attrs["knn_k_selected"] == 5
    assert "no validation split: nothing selected" in ds.attrs["selection"]
    np.testing.assert_array_equal(ds["prediction"].sel(head="tau_norm(selected)"),
                                  tau_norm_head(xte, w, tau=1.0).argmax(1))
    np.testing.assert_array_equal(ds["prediction"].sel(head="knn(selected)"), ds["prediction"].sel(head="knn(k=5)"))
    assert "val_balanced_accuracy" not in ds


def test_without_selection_the_heads_are_as_before(split):
    xtr, ytr, xte, yte = split
    w = np.random.default_rng(3).normal(size=(6, 24))
    ds = evaluate_heads(xtr, ytr, xte, yte, class_names=list("abcdef"), heads=("tau_norm", "knn"), taus=(0.0, 1.0),
                        knn_k=(1, 5), weight=w)
    assert ds["head"].values.tolist() == ["tau_norm(tau=0)", "tau_norm(tau=1)", "knn(k=1)", "knn(k=5)"]
    assert "selection" not in ds.attrs and "val_balanced_accuracy" not in ds
    # one k: nothing to choose, no knn(selected)
    one = evaluate_heads(xtr, ytr, xte, yte, class_names=list("abcdef"), heads=("knn",), knn_k=3,
                         val_feats=xte[:10], val_labels=yte[:10])
    assert one["head"].values.tolist() == ["knn(k=3)"]
    with pytest.raises(ValueError, match="nothing would use them"):
        evaluate_heads(xtr, ytr, xte, yte, class_names=list("abcdef"), heads=("knn",), val_feats=xte[:10],
                       val_labels=yte[:10], select=False)


def test_balanced_accuracy_matches_sklearn():
    rng = np.random.default_rng(4)
    y, p = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    assert balanced_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, p))
