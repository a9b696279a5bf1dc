"""Multi-label AP, operating points and rates against scikit-learn, by-hand examples and hand counts."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, confusion_matrix, f1_score, precision_score, recall_score

from fairnotes.metrics import (
    OperatingPoint, average_precision, multilabel_by_group, multilabel_rates, predict_multilabel,
    threshold_operating_point, topk_operating_point,
)


def _case(seed: int, n: int = 300, k: int = 6):
    """Multi-hot truth and noisy scores that track it (column 5 has no positive)."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < np.linspace(0.05, 0.5, k)).astype(np.int64)
    y[:, -1] = 0
    scores = y + rng.normal(scale=0.8, size=(n, k))
    return y, scores


# ---------------------------------------------------------------------------------------------- AP


@pytest.mark.parametrize("seed", range(3))
def test_average_precision_matches_sklearn_per_column(seed):
    y, s = _case(seed)
    ds = average_precision(y, s, labels=list("abcdef"))
    assert ds["label"].values.tolist() == list("abcdef")
    assert ds["positives"].values.tolist() == y.sum(0).tolist()
    expected = [average_precision_score(y[:, j], s[:, j]) for j in range(5)]
    np.testing.assert_allclose(ds["ap"].values[:5], expected, rtol=1e-12)
    assert np.isnan(ds["ap"].values[5])  # no positives: undefined, left out of the mean
    assert float(ds["map"]) == pytest.approx(np.mean(expected), rel=1e-12)
    assert float(ds["map"]) == pytest.approx(average_precision_score(y[:, :5], s[:, :5], average="macro"), rel=1e-12)
    assert ds.attrs["labels_with_positives"] == 5


def test_average_precision_rejects_bad_input():
    y, s = _case(0, n=10, k=3)
    with pytest.raises(ValueError, match="expected"):
        average_precision(y, s[:, :2])
    with pytest.raises(ValueError, match="multi-hot"):
        average_precision(y * 2, s)
    with pytest.raises(ValueError, match="NaN"):
        average_precision(y, np.where(y == 1, np.nan, s))
    with pytest.raises(ValueError, match="name the 3 columns"):
        average_precision(y, s, labels=["a", "b"])


# ---------------------------------------------------------------------------------------------- top-k

# four images, one true label each (0, 1, 2, 3); the true label ranks 1st, 1st, 2nd, 3rd
_TOPK_TRUE = np.eye(4, dtype=int)
_TOPK_SCORES = np.array([[0.90, 0.05, 0.03, 0.02],
                         [0.10, 0.60, 0.20, 0.10],
                         [0.50, 0.10, 0.30, 0.10],
                         [0.40, 0.35, 0.05, 0.20]])


def test_topk_hand_example_ties_go_to_the_smaller_k():
    # micro-F1 = 2 TP / (predicted + positives), positives = 4:
    #   k=1: TP 2, predicted 4  → 4/8  = 0.5
    #   k=2: TP 3, predicted 8  → 6/12 = 0.5
    #   k=3: TP 4, predicted 12 → 8/16 = 0.5
    #   k=4: TP 4, predicted 16 → 8/20 = 0.4
    op = topk_operating_point(_TOPK_SCORES, _TOPK_TRUE, ks=(4, 3, 2, 1))
    assert op.kind == "topk" and op.k == 1
    assert op.val_f1 == {1: 0.5, 2: 0.5, 3: 0.5, 4: 0.4}
    assert topk_operating_point(_TOPK_SCORES, _TOPK_TRUE, ks=(2, 3)).k == 2
    for k, f1 in op.val_f1.items():  # the oracle: sklearn's micro-F1 of the same predictions
        pred = predict_multilabel(_TOPK_SCORES, OperatingPoint("topk", k=k))
        assert f1 == pytest.approx(f1_score(_TOPK_TRUE, pred, average="micro"))


def test_topk_picks_two_when_images_have_two_labels():
    y = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 1]])
    s = np.where(y == 1, 0.4, 0.1) + np.array([0.0, 0.01, 0.02, 0.03])
    # k=1: TP 3 → 6/(3+6) = 0.667; k=2: TP 6 → 12/(6+6) = 1; k=3: TP 6 → 12/(9+6) = 0.8
    op = topk_operating_point(s, y, ks=(1, 2, 3))
    assert op.k == 2 and op.val_f1[2] == 1.0
    np.testing.assert_array_equal(predict_multilabel(s, op), y)


def test_topk_equal_scores_go_to_the_lower_label_index():
    pred = predict_multilabel([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4]], OperatingPoint("topk", k=1))
    np.testing.assert_array_equal(pred, [[1, 0, 0], [0, 1, 0]])
    assert pred.dtype == np.int8


@pytest.mark.parametrize("seed", range(2))
def test_topk_matches_a_brute_force_over_ks(seed):
    y, s = _case(seed, n=120, k=6)
    op = topk_operating_point(s, y)
    f1 = {}
    for k in range(1, 6):
        top = np.argsort(-s, axis=1, kind="stable")[:, :k]
        pred = np.zeros_like(y)
        np.put_along_axis(pred, top, 1, axis=1)
        f1[k] = f1_score(y, pred, average="micro")
    best = max(f1.values())
    assert op.k == min(k for k, v in f1.items() if v == best)
    assert op.val_f1 == pytest.approx(f1)


def test_topk_rejects_bad_ks():
    with pytest.raises(ValueError, match=r"1\.\.4"):
        topk_operating_point(_TOPK_SCORES, _TOPK_TRUE, ks=(1, 5))
    with pytest.raises(ValueError, match="exceeds"):
        predict_multilabel(_TOPK_SCORES, OperatingPoint("topk", k=5))
    with pytest.raises(ValueError, match="'topk', 'threshold'"):
        OperatingPoint("top-k", k=1)


# ---------------------------------------------------------------------------------------------- thresholds

_THR_TRUE = np.array([[1, 1, 0, 1],
                      [0, 0, 0, 0],
                      [1, 0, 0, 0],
                      [0, 1, 0, 0]])
_THR_SCORES = np.array([[0.9, 0.6, 0.3, 0.5],
                        [0.8, 0.4, 0.2, 0.5],
                        [0.7, 0.3, 0.9, 0.1],
                        [0.2, 0.1, 0.1, 0.1]])


def test_threshold_hand_example():
    # F1 = 2 TP / (predicted + positives), label predicted where score >= t, t over its unique scores:
    # label 0 (positives at .9, .7): t=.9 → 2/3, .8 → 2/4, .7 → 4/5 (best), .2 → 4/6      → 0.7
    # label 1 (positives at .6, .1): t=.6 → 2/3, .4 → 2/4, .3 → 2/5, .1 → 4/6 (tie with .6) → 0.6, the higher
    # label 2: no positive → +inf, never predicted, reported
    # label 3 (positive at .5, tied with a negative): t=.5 → 2/(2+1) = 2/3, .1 → 2/5       → 0.5
    with pytest.warns(UserWarning, match=r"1 of 4 labels .* columns \[2\]"):
        op = threshold_operating_point(_THR_SCORES, _THR_TRUE)
    assert op.kind == "threshold"
    assert op.thresholds.tolist() == [0.7, 0.6, np.inf, 0.5]
    np.testing.assert_allclose(op.val_f1, [0.8, 2 / 3, np.nan, 2 / 3])
    assert op.no_positive == (2,)
    test = np.array([[0.75, 0.55, 1.0, 0.5], [0.69, 0.6, 0.99, 0.49]])
    np.testing.assert_array_equal(predict_multilabel(test, op), [[1, 0, 0, 1], [0, 1, 0, 0]])


def test_threshold_grid_and_its_ties():
    # grid (.25, .5, .75), label 0: .75 → TP 1 of 2 predicted → 2/4; .5 and .25 → TP 2 of 3 → 4/5: tie → .5
    with pytest.warns(UserWarning):
        op = threshold_operating_point(_THR_SCORES, _THR_TRUE, grid=[0.75, 0.25, 0.5])
    assert op.thresholds[0] == 0.5 and op.val_f1[0] == pytest.approx(0.8)


@pytest.mark.parametrize("seed", range(2))
def test_thresholds_match_a_brute_force_with_sklearn_f1(seed):
    y, s = _case(seed, n=80, k=6)
    s = np.round(s, 1)  # many tied scores
    with pytest.warns(UserWarning):
        op = threshold_operating_point(s, y)
    assert op.no_positive == (5,) and op.thresholds[5] == np.inf
    for j in range(5):
        cands = np.unique(s[:, j])
        f1 = np.array([f1_score(y[:, j], s[:, j] >= t) for t in cands])
        best = cands[np.flatnonzero(f1 == f1.max()).max()]
        assert op.thresholds[j] == best
        assert op.val_f1[j] == pytest.approx(f1.max())


# ---------------------------------------------------------------------------------------------- rates


@pytest.mark.parametrize("seed", range(3))
def test_rates_match_sklearn_per_column(seed):
    y, s = _case(seed)
    pred = (s > 0.5).astype(int)
    pred[:, 2] = 0  # a label never predicted: precision undefined
    ds = multilabel_rates(y, pred)
    assert ds["label"].values.tolist() == list(range(6))
    for j in range(6):
        tn, fp, fn, tp = confusion_matrix(y[:, j], pred[:, j], labels=[0, 1]).ravel()
        assert ds["positives"].values[j] == tp + fn and ds["negatives"].values[j] == tn + fp
        assert ds["fpr"].values[j] == pytest.approx(fp / (fp + tn))
        np.testing.assert_equal(ds["recall"].values[j], recall_score(y[:, j], pred[:, j], zero_division=np.nan))
        np.testing.assert_equal(ds["precision"].values[j],
                                precision_score(y[:, j], pred[:, j], zero_division=np.nan))
    assert np.isnan(ds["recall"].values[5]) and np.isnan(ds["precision"].values[2])


def test_rates_reject_mismatched_predictions():
    y, _ = _case(0, n=10, k=3)
    with pytest.raises(ValueError, match="expected"):
        multilabel_rates(y, y[:, :2])
    with pytest.raises(ValueError, match="multi-hot"):
        multilabel_rates(y, y - 1)


def test_by_group_of_one_label_equals_a_hand_count():
    y_true = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1], [1, 1, 1], [0, 0, 0], [1, 1, 0], [0, 0, 1]])
    y_pred = np.array([[1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 1, 1], [0, 0, 1], [1, 1, 0], [1, 1, 0], [0, 0, 0]])
    group = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    # label 1, group a: truth (1, 1, 0, 0), pred (1, 0, 1, 1) → TPR 1/2, FPR 2/2
    #          group b: truth (1, 0, 1, 0), pred (0, 1, 1, 0) → TPR 1/2, FPR 1/2
    ds = multilabel_by_group(y_true, y_pred, 1, group)
    assert ds["group"].values.tolist() == ["a", "b"]
    assert ds["tpr"].values.tolist() == [0.5, 0.5]
    assert ds["fpr"].values.tolist() == [1.0, 0.5]
    assert ds["count"].values.tolist() == [4, 4]
    assert float(ds["fpr_difference"]) == 0.5 and ds.attrs["label_index"] == 1 and ds.attrs["pos_label"] == "1"
    with pytest.raises(ValueError, match=r"0\.\.2"):
        multilabel_by_group(y_true, y_pred, 3, group)
