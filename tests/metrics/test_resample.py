from __future__ import annotations

import numpy as np

from fairnotes.metrics._resample import within_class_counts


def test_image_resampling_keeps_class_sizes():
    y = np.array([2, 0, 1, 0, 2, 2, 1, 0, 0])
    w = within_class_counts(y, 50, 0)
    assert w.shape == (50, 9) and (w.sum(1) == 9).all()
    for c in range(3):
        assert (w[:, y == c].sum(1) == (y == c).sum()).all()


def test_draws_match_their_expectation():
    # each image of a class of size n is drawn n * (1/n) = 1 time on average
    y = np.repeat([0, 1], [3, 7])
    w = within_class_counts(y, 4000, 1)
    np.testing.assert_allclose(w.mean(0), 1.0, atol=0.06)
    assert not np.array_equal(w[0], w[1])
