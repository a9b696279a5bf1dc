from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

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


# --- bf16 candidate search + exact re-rank: identical to scikit-learn, ties included --------------

PRECISIONS = ["bf16", "fp32"]


@pytest.fixture
def replica_rows(monkeypatch):
    """The test rows answered by scikit-learn's own steps (ties across labels, too many candidates)."""
    from fairnotes.heads import _knn
    seen: list[np.ndarray] = []
    original = _knn._replica

    def spy(a_te, rows, *args, **kwargs):
        seen.append(np.asarray(rows))
        return original(a_te, rows, *args, **kwargs)
    monkeypatch.setattr(_knn, "_replica", spy)
    return seen


def _neighbour_distances(xtr, xte, n):
    return NearestNeighbors(n_neighbors=n, algorithm="brute", metric="cosine").fit(xtr).kneighbors(xte)[0]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("k", [1, 5, 10])
def test_identical_on_clustered_data(clustered, k, precision):
    # 400 × 3000 × 32 is above the small-problem size: the search, groups of 64 and the re-rank run
    xtr, ytr = clustered(3000, 10, 32, seed=3, spread=2.5)
    xte, _ = clustered(400, 10, 32, seed=4, spread=2.5)
    np.testing.assert_array_equal(knn_head(xtr, ytr, xte, k=k, precision=precision), _sklearn(xtr, ytr, xte, k))


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("f", [48, 1024])
def test_no_neighbour_is_lost_by_the_search(clustered, precision, f):
    """The candidate set holds every sample at least as near as the k-th (the bound's claim)."""
    from fairnotes.heads import _knn
    xtr, ytr = clustered(4000, 10, f, seed=8, spread=3.0 * np.sqrt(f / 48))
    xte, _ = clustered(300, 10, f, seed=9, spread=3.0 * np.sqrt(f / 48))
    k = 10
    a_tr, a_te = _knn._sk_normalize(xtr), _knn._sk_normalize(xte)
    rows, cols, full = _knn._Search(a_tr, k, precision, None).run(a_te)
    assert not len(full)
    dist = _knn._sk_distances(a_te, a_tr)
    kth = np.sort(dist, axis=1)[:, k - 1:k]
    cand = np.zeros(dist.shape, dtype=bool)
    cand[rows, cols] = True
    assert cand[dist <= kth].all()
    assert cand.sum(1).mean() < 200  # and the search does prune


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_identical_with_duplicate_training_points_of_different_labels(clustered, replica_rows, k, precision):
    base, _ = clustered(400, 6, 16, seed=5, spread=1.5)
    rng = np.random.default_rng(6)
    xtr = base[rng.integers(0, len(base), 2400)]  # each point about 6 times, under random labels
    ytr = rng.integers(0, 6, len(xtr))
    xte = np.concatenate([base[:150], clustered(250, 6, 16, seed=7, spread=1.5)[0]])
    np.testing.assert_array_equal(knn_head(xtr, ytr, xte, k=k, precision=precision), _sklearn(xtr, ytr, xte, k))
    d = _neighbour_distances(xtr, xte, k + 1)
    assert (d[:, k - 1] == d[:, k]).sum() > 100  # equal distances at the k-th place are common
    assert sum(len(r) for r in replica_rows) > 0  # and the mixed-label ones took scikit-learn's steps


@pytest.mark.parametrize("precision", PRECISIONS)
def test_exact_vote_tie_goes_to_the_smallest_label_not_the_nearest(precision):
    rng = np.random.default_rng(10)
    f = 8
    angles = np.array([0.1, 0.2, 0.3, 0.4])  # labels 7, 7 nearer than 3, 3
    near = np.zeros((4, f), np.float32)
    near[:, 0], near[:, 1] = np.cos(angles), np.sin(angles)
    background = rng.normal(size=(3000, f)).astype(np.float32)
    background[:, 0] = -np.abs(background[:, 0]) - 1  # all far from e0
    xtr = np.concatenate([near, background])
    ytr = np.concatenate([[7, 7, 3, 3], rng.integers(0, 9, len(background))])
    xte = np.tile(np.eye(f, dtype=np.float32)[:1], (200, 1))  # 200 duplicate queries along e0
    ours, votes = knn_head(xtr, ytr, xte, k=4, return_votes=True, precision=precision)
    assert (votes[:, [3, 7]] == 2).all() and (ours == 3).all()
    np.testing.assert_array_equal(ours, _sklearn(xtr, ytr, xte, 4))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_duplicate_queries_get_the_same_answer(clustered, precision):
    xtr, ytr = clustered(2000, 8, 24, seed=12, spread=2.0)
    xte, _ = clustered(100, 8, 24, seed=13, spread=2.0)
    xte = np.concatenate([xte, xte[::-1], xte])
    ours = knn_head(xtr, ytr, xte, k=6, precision=precision)
    np.testing.assert_array_equal(ours[:100], ours[200:])
    np.testing.assert_array_equal(ours, _sklearn(xtr, ytr, xte, 6))


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("f", "n", "m"), [(1, 6000, 800), (3, 3000, 500), (7, 3000, 300), (33, 1500, 300),
                                           (257, 1200, 200)])
def test_identical_in_odd_dimensions(clustered, f, n, m, precision):
    # f = 1: every cosine is ±1, so nearly every test row has a tie across labels
    xtr, ytr = clustered(n, 5, f, seed=14, spread=1.0)
    xte, _ = clustered(m, 5, f, seed=15, spread=1.0)
    for k in (1, 4, 9):
        np.testing.assert_array_equal(knn_head(xtr, ytr, xte, k=k, precision=precision),
                                      _sklearn(xtr, ytr, xte, k))


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("train_dtype", "test_dtype"), [(np.float64, np.float64), (np.float32, np.float64),
                                                         (np.float64, np.float32), (np.float16, np.float16)])
def test_identical_with_float64_and_mixed_input(clustered, train_dtype, test_dtype, precision):
    # scikit-learn computes the distances in float64 unless both sides are float32: so do we
    xtr, ytr = clustered(2500, 7, 40, seed=16, spread=2.0, dtype=train_dtype)
    xte, _ = clustered(300, 7, 40, seed=17, spread=2.0, dtype=test_dtype)
    for k in (1, 5, 10):
        np.testing.assert_array_equal(knn_head(xtr, ytr, xte, k=k, precision=precision),
                                      _sklearn(xtr, ytr, xte, k))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_tiny_training_sets(precision):
    rng = np.random.default_rng(18)
    xte = rng.normal(size=(50, 5)).astype(np.float32)
    for n, ytr in [(1, [4]), (2, [1, 0]), (3, [2, 1, 1]), (5, [0, 1, 2, 3, 4])]:
        xtr = rng.normal(size=(n, 5)).astype(np.float32)
        for k in range(1, n + 1):  # k == n: every training sample votes
            np.testing.assert_array_equal(knn_head(xtr, ytr, xte, k=k, precision=precision),
                                          _sklearn(xtr, np.asarray(ytr), xte, k))
        with pytest.raises(ValueError, match="k must be"):  # scikit-learn refuses k > n too
            knn_head(xtr, ytr, xte, k=n + 1, precision=precision)
        with pytest.raises(ValueError, match="n_neighbors"):
            _sklearn(xtr, np.asarray(ytr), xte, n + 1)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_zero_rows_as_in_sklearn(clustered, precision):
    xtr, ytr = clustered(2000, 4, 12, seed=19)
    xte, _ = clustered(400, 4, 12, seed=20)
    xtr[:30] = 0  # zero rows stay zero: cosine distance 1 to everything
    xte[:20] = 0  # a zero query is at distance 1 from every sample: all tie
    xte[20:25] = 1e-9  # norms below 10 epsilons are left unscaled, as scikit-learn's normalize does
    np.testing.assert_array_equal(knn_head(xtr, ytr, xte, k=5, precision=precision), _sklearn(xtr, ytr, xte, 5))


def test_rerank_repairs_the_bf16_order_of_near_equal_similarities():
    """30 samples per query at cosines 0.6, 0.6 + 2e-5, ...: bf16 cannot order them (its scores
    near 0.6 are 2**-8 apart, its inputs carry about 2**-9 of error), the exact re-rank does."""
    import torch
    rng = np.random.default_rng(21)
    f, m, per, k = 64, 60, 30, 5
    q = rng.normal(size=(m, f))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    cos = 0.6 + 2e-5 * np.arange(per)
    r = rng.normal(size=(m, per, f))
    r -= np.einsum("mpf,mf->mp", r, q)[..., None] * q[:, None]  # orthogonal to the query
    r /= np.linalg.norm(r, axis=2, keepdims=True)
    near = cos[None, :, None] * q[:, None] + np.sqrt(1 - cos ** 2)[None, :, None] * r
    xtr = np.concatenate([near.reshape(-1, f), rng.normal(size=(3000, f))]).astype(np.float32)
    xtr = xtr[rng.permutation(len(xtr))]  # spread over the groups of 64 columns: m is then tight
    ytr = rng.integers(0, 3, len(xtr))
    xte = q.astype(np.float32)
    expected = _sklearn(xtr, ytr, xte, k)
    # a search in bf16 alone picks other neighbours and often another label
    unit = xtr / np.linalg.norm(xtr, axis=1, keepdims=True)
    lo = torch.from_numpy(xte).bfloat16() @ torch.from_numpy(unit).bfloat16().T
    top = torch.topk(lo.float(), k, dim=1).indices.numpy()
    naive = np.array([np.bincount(ytr[t], minlength=3).argmax() for t in top])
    assert (naive != expected).sum() >= 5
    np.testing.assert_array_equal(knn_head(xtr, ytr, xte, k=k, precision="bf16"), expected)


def test_rows_with_too_many_candidates_take_sklearns_steps(clustered, replica_rows, monkeypatch):
    from fairnotes.heads import _knn
    monkeypatch.setattr(_knn, "_MAX_CANDIDATES", 0)
    xtr, ytr = clustered(2000, 6, 24, seed=22, spread=2.0)
    xte, _ = clustered(300, 6, 24, seed=23, spread=2.0)
    np.testing.assert_array_equal(knn_head(xtr, ytr, xte, k=7), _sklearn(xtr, ytr, xte, 7))
    assert sum(len(r) for r in replica_rows) == len(xte)


@pytest.mark.parametrize("extra", [1, 5])
def test_sklearns_small_last_chunk_is_repeated_in_its_shape(clustered, replica_rows, extra):
    # working_memory=1 MiB: chunks of 2**20 / (8 × 3000) = 43 test rows; the last one holds `extra`
    import sklearn
    xtr, ytr = clustered(3000, 6, 32, seed=24, spread=2.0)
    xte, _ = clustered(43 * 3 + extra, 6, 32, seed=25, spread=2.0)
    with sklearn.config_context(working_memory=1):
        np.testing.assert_array_equal(knn_head(xtr, ytr, xte, k=5), _sklearn(xtr, ytr, xte, 5))
    assert set(range(43 * 3, len(xte))) <= set(np.concatenate(replica_rows).tolist())


def test_precision_choices(split):
    from fairnotes.heads import bf16_supported
    xtr, ytr, xte, _ = split
    assert isinstance(bf16_supported(), bool)
    auto = knn_head(xtr, ytr, xte, k=5)
    np.testing.assert_array_equal(auto, knn_head(xtr, ytr, xte, k=5, precision="fp32"))
    np.testing.assert_array_equal(auto, knn_head(xtr, ytr, xte, k=5, precision="bf16"))
    with pytest.raises(ValueError, match="precision"):
        knn_head(xtr, ytr, xte, k=5, precision="fp16")
