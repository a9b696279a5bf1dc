from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_score, recall_score

from fairnotes.heads import evaluate_heads, knn_head, linear_head, ncm_head, tau_norm_head

NAMES = list("abcdef")


def test_schema_and_per_class_values(split):
    xtr, ytr, xte, yte = split
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(6, 24)), rng.normal(size=6)
    ds = evaluate_heads(xtr, ytr, xte, yte, class_names=NAMES, knn_k=(1, 5), taus=(0, 1), weight=w, bias=b,
                        head_kwargs={"crt": {"epochs": 2, "min_steps": 20}})
    heads = ["linear", "crt", "knn(k=1)", "knn(k=5)", "ncm", "classifier", "tau_norm(tau=0)", "tau_norm(tau=1)"]
    assert ds["head"].values.tolist() == heads
    assert ds["head_family"].values.tolist() == ["linear", "crt", "knn", "knn", "ncm", "classifier",
                                                 "tau_norm", "tau_norm"]
    np.testing.assert_array_equal(ds["head_param"].values[2:4], [1, 5])
    assert ds["accuracy"].dims == ("head", "label") and ds["prediction"].dims == ("head", "sample")
    assert ds["class_name"].values.tolist() == NAMES
    expected = {"linear": linear_head(xtr, ytr, xte).argmax(1), "knn(k=5)": knn_head(xtr, ytr, xte, k=5),
                "ncm": ncm_head(xtr, ytr, xte).argmax(1), "tau_norm(tau=1)": tau_norm_head(xte, w, tau=1).argmax(1)}
    for h, pred in expected.items():
        np.testing.assert_array_equal(ds["prediction"].sel(head=h), pred)
    for h in heads:  # per-class numbers: recomputed with sklearn from the head's predictions
        pred = ds["prediction"].sel(head=h).values
        np.testing.assert_allclose(ds["accuracy"].sel(head=h), recall_score(yte, pred, average=None,
                                                                            labels=range(6)))
        np.testing.assert_allclose(ds["precision"].sel(head=h).fillna(0),
                                   precision_score(yte, pred, average=None, labels=range(6), zero_division=0))
        assert ds["overall_accuracy"].sel(head=h) == pytest.approx((pred == yte).mean())
    np.testing.assert_allclose(ds["weight_norm"], np.linalg.norm(w, axis=1))
    np.testing.assert_array_equal(ds["target"], yte)


def test_default_heads_and_errors(split):
    xtr, ytr, xte, yte = split
    ds = evaluate_heads(xtr, ytr, xte, yte, class_names=NAMES, head_kwargs={"crt": {"min_steps": 10, "epochs": 1}})
    assert ds["head"].values.tolist() == ["linear", "crt", "knn(k=10)", "ncm"]
    with pytest.raises(ValueError, match="weight"):
        evaluate_heads(xtr, ytr, xte, yte, class_names=NAMES, heads=("tau_norm",))
    with pytest.raises(ValueError, match="unknown heads"):
        evaluate_heads(xtr, ytr, xte, yte, class_names=NAMES, heads=("svm",))
    with pytest.raises(ValueError, match="num_classes"):
        evaluate_heads(xtr, ytr, xte, yte, class_names=NAMES[:3], heads=("knn",))
