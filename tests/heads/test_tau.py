from __future__ import annotations

import numpy as np
import pytest

from fairnotes.heads import classifier_head, tau_norm_head, weight_norms


@pytest.fixture
def clf():
    rng = np.random.default_rng(0)
    return rng.normal(size=(50, 8)), rng.normal(size=(4, 8)) * [[1.0], [2.0], [0.5], [3.0]], rng.normal(size=4)


def test_classifier_head_is_the_linear_map(clf):
    x, w, b = clf
    np.testing.assert_allclose(classifier_head(x, w, b), x @ w.T + b, rtol=1e-5, atol=1e-5)


def test_tau_zero_is_the_classifier_without_bias(clf):
    x, w, b = clf
    np.testing.assert_allclose(tau_norm_head(x, w, tau=0.0), x @ w.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tau_norm_head(x, w, b, tau=0.0), x @ w.T + b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_tau_divides_each_row_by_its_norm_to_the_tau(clf, tau):
    x, w, _ = clf
    n = np.linalg.norm(w, axis=1)
    np.testing.assert_allclose(tau_norm_head(x, w, tau=tau), x @ (w / n[:, None] ** tau).T, rtol=1e-5, atol=1e-5)


def test_weight_norms(clf):
    _, w, _ = clf
    da = weight_norms(w, class_names=list("abcd"))
    assert da.dims == ("label",) and da["class_name"].values.tolist() == list("abcd")
    np.testing.assert_allclose(da.values, np.linalg.norm(w, axis=1))
    with pytest.raises(ValueError, match="class names"):
        weight_norms(w, class_names=["a"])
