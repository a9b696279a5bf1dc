from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from fairnotes.heads import knn_head


def _sklearn(xtr, ytr, xte, k):
    return KNeighborsClassifier(n_neighbors=k, algorithm="brute", metric="cosine").fit(xtr, ytr).predict(xte)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 10, 25])
def test_identical_to_sklearn_brute_cosine(split, k):
    xtr, ytr, xte, _ = split
    np.testing.assert_array_equal(knn_head(xtr, ytr, xte, k=k, chunk_size=37), _sklearn(xtr, ytr, xte, k))


def test_identical_with_many_vote_ties(clustered):
    # 12 classes, k even and small: equal votes are common, and both break them to the smallest label
    xtr, ytr = clustered(500, 12, 8, seed=1, spread=2.0)
    xte, _ = clustered(400, 12, 8, seed=2, spread=2.0)
    for k in (2, 4, 6):
        ours, votes = knn_head(xtr, ytr, xte, k=k, return_votes=True)
        top = votes.max(1, keepdims=True)
        assert ((votes == top).sum(1) > 1).sum() > 20  # ties do happen
        np.testing.assert_array_equal(ours, _sklearn(xtr, ytr, xte, k))


def test_tie_goes_to_the_smallest_label():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    # nearest two are labels 5 and 2 (one vote each): 2 wins
    assert knn_head(train, [5, 2, 0], np.array([[1.0, 1.0]], np.float32), k=2).tolist() == [2]


def test_chunking_does_not_change_the_answer(split):
    xtr, ytr, xte, _ = split
    a = knn_head(xtr, ytr, xte, k=5, chunk_size=1)
    b = knn_head(xtr, ytr, xte, k=5, chunk_size=10_000)
    c, votes = knn_head(xtr, ytr, xte, k=5, return_votes=True)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert votes.shape == (len(xte), 6) and (votes.sum(1) == 5).all()


def test_cosine_ignores_scale(split):
    xtr, ytr, xte, _ = split
    scale = np.random.default_rng(0).uniform(0.1, 10, (len(xtr), 1)).astype(np.float32)
    np.testing.assert_array_equal(knn_head(xtr * scale, ytr, xte, k=7), knn_head(xtr, ytr, xte, k=7))


@pytest.mark.parametrize("k", [0, 601, 2.5])
def test_bad_k(split, k):
    xtr, ytr, xte, _ = split
    with pytest.raises(ValueError, match="k must be"):
        knn_head(xtr, ytr, xte, k=k)


def test_bad_shapes(split):
    xtr, ytr, xte, _ = split
    with pytest.raises(ValueError, match="features"):
        knn_head(xtr, ytr, xte[:, :5])
    with pytest.raises(ValueError, match="train_labels"):
        knn_head(xtr, ytr[:-1], xte)
