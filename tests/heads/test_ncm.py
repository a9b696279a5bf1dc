from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestCentroid
from sklearn.preprocessing import normalize

from fairnotes.heads import ncm_head


@pytest.mark.parametrize("norm", [True, False])
def test_identical_to_sklearn_nearest_centroid(split, norm):
    xtr, ytr, xte, _ = split
    prep = normalize if norm else (lambda a: a)
    theirs = NearestCentroid().fit(prep(xtr), ytr).predict(prep(xte))
    np.testing.assert_array_equal(ncm_head(xtr, ytr, xte, normalize=norm).argmax(1), theirs)


def test_logits_are_negative_squared_distances_and_absent_classes_never_win():
    xtr = np.array([[2.0, 0.0], [0.0, 3.0]])
    out = ncm_head(xtr, [0, 2], np.array([[1.0, 1.0]]), normalize=False)
    np.testing.assert_allclose(out[0, [0, 2]], [-2.0, -5.0])
    assert out[0, 1] == -np.inf
