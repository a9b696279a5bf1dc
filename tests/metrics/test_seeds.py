"""per_class_over_seeds against per_class, per_class_ci and slow literal bootstraps."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fairnotes.metrics import per_class, per_class_ci, per_class_over_seeds


def _seed_case(seed: int, counts=(40, 120, 80, 60), p=(0.5, 0.9, 0.7, 0.8), s: int = 5):
    """S models on one test set; each image has its own difficulty, shared by every seed."""
    rng = np.random.default_rng(seed)
    k = len(counts)
    y_true = np.repeat(np.arange(k), counts)
    # Image difficulty drawn per image, so seeds are correlated: easy images are right for most.
    p_img = np.clip(np.asarray(p)[y_true] + rng.normal(0, 0.3, y_true.size), 0, 1)
    right = rng.random((s, y_true.size)) < p_img
    y_pred = np.where(right, y_true, (y_true + 1) % k)
    return y_true, y_pred


def test_one_seed_point_estimate_is_per_class():
    y_true, y_pred = _seed_case(0, s=1)
    ds = per_class_over_seeds(y_true, y_pred, labels=[0, 1, 2, 3, 4], n_boot=200)
    base = per_class(y_true, y_pred[0], labels=[0, 1, 2, 3, 4])
    xr.testing.assert_equal(ds["accuracy"].drop_attrs(), base["accuracy"].drop_attrs())
    xr.testing.assert_equal(ds["support"].drop_attrs(), base["support"].drop_attrs())
    assert np.isnan(ds["accuracy_seed_std"]).all()
    assert np.isnan(ds["accuracy_lower"][4]) and np.isnan(ds["accuracy_upper"][4])


def test_one_seed_ci_is_close_to_per_class_ci():
    # Both resample test images within class; per_class_ci draws binomial counts, we draw indices.
    y_true, y_pred = _seed_case(1, s=1)
    ds = per_class_over_seeds(y_true, y_pred, n_boot=4000, seed=0)
    ref = per_class_ci(y_true, y_pred[0], n_boot=4000, seed=0)
    np.testing.assert_allclose(ds["accuracy_lower"], ref["accuracy_lower"], atol=0.03)
    np.testing.assert_allclose(ds["accuracy_upper"], ref["accuracy_upper"], atol=0.03)


def test_point_estimate_is_mean_of_per_seed_per_class():
    y_true, y_pred = _seed_case(2, s=4)
    ds = per_class_over_seeds(y_true, y_pred, n_boot=50)
    per_seed = np.stack([per_class(y_true, row)["accuracy"].values for row in y_pred])
    np.testing.assert_allclose(ds["accuracy_by_seed"], per_seed)
    np.testing.assert_allclose(ds["accuracy"], per_seed.mean(axis=0))
    np.testing.assert_allclose(ds["accuracy_seed_std"], per_seed.std(axis=0, ddof=1))
    assert ds["accuracy_by_seed"].dims == ("seed", "label")
    np.testing.assert_array_equal(ds["seed"], np.arange(4))
    assert ds.attrs["n_seeds"] == 4 and ds.attrs["n"] == y_true.size


def test_labels_and_names_follow_per_class():
    y_true = np.array(["cat", "cat", "dog", "eel"])
    y_pred = np.array([["cat", "dog", "dog", "cat"], ["cat", "cat", "fox", "eel"]])
    ds = per_class_over_seeds(y_true, y_pred, n_boot=20)
    assert ds["label"].values.tolist() == ["cat", "dog", "eel", "fox"]  # union over every seed
    np.testing.assert_allclose(ds["accuracy"], [0.75, 0.5, 0.5, np.nan])
    np.testing.assert_array_equal(ds["support"], [2, 1, 1, 0])
    ds = per_class_over_seeds([0, 1, 1], [[0, 1, 0]], class_names=["a", "b", "c"], n_boot=20)
    assert ds["class_name"].values.tolist() == ["a", "b", "c"]  # class 2 never occurs, keeps its row
    for name, v in ds.data_vars.items():
        assert v.attrs["description"], name


def _literal_bootstrap(y_true, y_pred, n_boot, draw):
    """Slow oracle: per replicate and class, resample images, recompute the seed-mean accuracy."""
    classes = np.unique(y_true)
    acc = np.empty((n_boot, classes.size))
    for b in range(n_boot):
        for j, c in enumerate(classes):
            idx = np.flatnonzero(y_true == c)
            pick = idx[draw(b, j, idx.size)]
            acc[b, j] = np.mean(y_pred[:, pick] == c)  # all S models on the same images
    return acc


def test_same_draws_as_a_literal_loop():
    # With one chunk, the function draws rng.integers(0, n_c, (n_boot, N)) over images sorted
    # by class; replaying those draws through the literal loop must give the same bounds.
    y_true, y_pred = _seed_case(3, counts=(7, 12, 5), p=(0.6, 0.8, 0.4), s=3)
    n_boot = 300
    sizes = np.bincount(y_true)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    u = np.random.default_rng(11).integers(0, np.repeat(sizes, sizes), size=(n_boot, y_true.size))
    acc = _literal_bootstrap(y_true, y_pred, n_boot,
                             lambda b, j, n: u[b, starts[j]:starts[j] + n])
    ds = per_class_over_seeds(y_true, y_pred, n_boot=n_boot, confidence=0.9, seed=11)
    lo, hi = np.quantile(acc, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(ds["accuracy_lower"], lo)
    np.testing.assert_allclose(ds["accuracy_upper"], hi)


def test_agrees_with_independent_rng_choice_bootstrap():
    y_true, y_pred = _seed_case(4)
    rng = np.random.default_rng(99)
    acc = _literal_bootstrap(y_true, y_pred, 1000, lambda b, j, n: rng.choice(n, size=n))
    ds = per_class_over_seeds(y_true, y_pred, n_boot=4000, seed=0)
    lo, hi = np.quantile(acc, [0.025, 0.975], axis=0)
    np.testing.assert_allclose(ds["accuracy_lower"], lo, atol=0.03)
    np.testing.assert_allclose(ds["accuracy_upper"], hi, atol=0.03)
    assert (ds["accuracy_lower"] <= ds["accuracy"]).all() and (ds["accuracy"] <= ds["accuracy_upper"]).all()


def test_interval_is_wider_than_pretending_predictions_are_independent():
    # Seeds share hard images, so S * n predictions are not S * n independent trials. With
    # identical seeds (the extreme) the interval is that of one model, about sqrt(S) wider.
    y_true, y_pred = _seed_case(5, counts=(300, 300), p=(0.7, 0.8), s=1)
    y_pred = np.tile(y_pred, (10, 1))
    ds = per_class_over_seeds(y_true, y_pred, n_boot=2000)
    naive = per_class_ci(np.tile(y_true, 10), y_pred.reshape(-1), n_boot=2000)
    width = ds["accuracy_upper"] - ds["accuracy_lower"]
    assert (width > 2 * (naive["accuracy_upper"] - naive["accuracy_lower"])).all()
    np.testing.assert_allclose(ds["accuracy_seed_std"], 0.0, atol=1e-12)


def test_same_seed_same_output_other_seed_differs():
    y_true, y_pred = _seed_case(6)
    a = per_class_over_seeds(y_true, y_pred, n_boot=300, seed=7)
    xr.testing.assert_identical(a, per_class_over_seeds(y_true, y_pred, n_boot=300, seed=7))
    assert not a.equals(per_class_over_seeds(y_true, y_pred, n_boot=300, seed=8))
    assert a.attrs["seed"] == 7 and a.attrs["n_boot"] == 300


def test_chunking_does_not_change_the_answer(monkeypatch):
    import fairnotes.metrics._seeds as seeds_mod

    y_true, y_pred = _seed_case(7, counts=(10, 20), p=(0.5, 0.8), s=2)
    whole = per_class_over_seeds(y_true, y_pred, n_boot=100)
    monkeypatch.setattr(seeds_mod, "_CHUNK_CELLS", 7 * y_true.size)  # 15 chunks, the last short
    chunked = per_class_over_seeds(y_true, y_pred, n_boot=100)
    # rng.integers with array bounds draws element by element in C order, so splitting the
    # (n_boot, N) draw into row chunks replays the same stream.
    xr.testing.assert_identical(chunked, whole)


@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [
        ([0, 1, 1], [0, 1, 1], "2-D"),
        ([0, 1, 1], [[[0, 1, 1]]], "2-D"),
        ([[0, 1, 1]], [[0, 1, 1]], "y_true must be 1-D"),
        ([0, 1, 1], [[0, 1], [1, 0]], "same test set"),
        ([], np.zeros((2, 0)), "at least one"),
        ([0, 1], np.zeros((0, 2)), "at least one"),
    ],
)
def test_bad_shapes(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        per_class_over_seeds(y_true, y_pred)


@pytest.mark.parametrize("kwargs, match", [({"n_boot": 0}, "n_boot"), ({"confidence": 1.0}, "confidence")])
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        per_class_over_seeds([0, 1], [[0, 1]], **kwargs)


def test_replicates_reproduce_the_bounds():
    from fairnotes.metrics import per_class_over_seeds
    rng = np.random.default_rng(5)
    yt = rng.integers(0, 4, 400)
    yp = np.where(rng.random((3, 400)) < 0.7, yt, rng.integers(0, 4, (3, 400)))
    ds = per_class_over_seeds(yt, yp, n_boot=300, seed=2, keep_replicates=True)
    reps = ds["accuracy_replicates"]
    assert reps.dims == ("replicate", "label") and reps.sizes["replicate"] == 300
    np.testing.assert_allclose(reps.quantile(0.025, dim="replicate").values, ds["accuracy_lower"].values)
    np.testing.assert_allclose(reps.quantile(0.975, dim="replicate").values, ds["accuracy_upper"].values)
    assert "accuracy_replicates" not in per_class_over_seeds(yt, yp, n_boot=10)
