from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from fairnotes.heads import crt_head, linear_head


def test_linear_probe_matches_sklearn_logistic_regression(split):
    xtr, ytr, xte, yte = split
    ours = linear_head(xtr, ytr, xte)
    scaler = StandardScaler().fit(xtr)
    sk = LogisticRegression(C=1.0, tol=1e-8, max_iter=5000).fit(scaler.transform(xtr), ytr)
    theirs = sk.predict(scaler.transform(xte))
    assert ours.shape == (len(xte), 6) and ours.dtype == np.float32
    assert abs((ours.argmax(1) == yte).mean() - (theirs == yte).mean()) <= 0.02
    assert (ours.argmax(1) == theirs).mean() >= 0.99
    # same objective, same minimiser: the logits agree up to the shared softmax shift
    d = ours - sk.decision_function(scaler.transform(xte))
    assert np.abs(d - d.mean(1, keepdims=True)).max() < 0.02


def test_linear_probe_is_deterministic_and_respects_num_classes(split):
    xtr, ytr, xte, _ = split
    np.testing.assert_array_equal(linear_head(xtr, ytr, xte), linear_head(xtr, ytr, xte))
    assert linear_head(xtr, ytr, xte, num_classes=8, max_iter=20).shape == (len(xte), 8)


def test_crt_close_to_the_probe_on_balanced_data(split):
    xtr, ytr, xte, yte = split
    probe = (linear_head(xtr, ytr, xte).argmax(1) == yte).mean()
    crt = crt_head(xtr, ytr, xte, seed=0)
    assert crt.shape == (len(xte), 6)
    assert abs((crt.argmax(1) == yte).mean() - probe) <= 0.05
    np.testing.assert_array_equal(crt, crt_head(xtr, ytr, xte, seed=0))
    assert not np.array_equal(crt, crt_head(xtr, ytr, xte, seed=1))


def test_crt_balanced_sampling_helps_the_rare_class(clustered):
    # class 0 has 5% of the training set: the plain probe under-predicts it, cRT much less
    x, y = clustered(4000, 3, 6, seed=3, spread=1.6)
    keep = (y != 0) | (np.arange(len(y)) % 10 == 0)
    xtr, ytr = x[keep][:1500], y[keep][:1500]
    xte, yte = clustered(3000, 3, 6, seed=3, spread=1.6)
    recall = [((h.argmax(1) == 0) & (yte == 0)).sum() / (yte == 0).sum()
              for h in (linear_head(xtr, ytr, xte), crt_head(xtr, ytr, xte))]
    assert recall[1] > recall[0] + 0.05
