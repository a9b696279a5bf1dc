"""rank_agreement against scipy (spearmanr, friedmanchisquare) and hand-worked rankings."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from fairnotes.metrics import per_class_over_seeds, rank_agreement


def _acc(values, over="seed"):
    values = np.asarray(values, dtype=float)
    return xr.DataArray(values, dims=(over, "label"),
                        coords={"label": np.arange(values.shape[1]),
                                "class_name": ("label", [f"c{i}" for i in range(values.shape[1])])})


def _random_raters(seed, m=5, n=12, noise=0.1, ties=False):
    """m raters who share a per-class difficulty plus their own noise."""
    rng = np.random.default_rng(seed)
    acc = rng.uniform(0.3, 0.95, n)[None, :] + rng.normal(0, noise, (m, n))
    return np.round(acc, 1) if ties else acc  # rounding to 0.1 makes plenty of ties


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_matches_scipy_friedman_and_spearman(seed, ties):
    values = _random_raters(seed, ties=ties)
    m, n = values.shape
    ds = rank_agreement(_acc(values), over="seed")
    # friedmanchisquare takes one sample per treatment (class), each measured by every block (rater);
    # its tie-corrected statistic is m (n - 1) W with W tie-corrected the same way.
    fr = stats.friedmanchisquare(*values.T)
    assert float(ds["chi2"]) == pytest.approx(fr.statistic)
    assert float(ds["p_value"]) == pytest.approx(fr.pvalue)
    assert float(ds["kendall_w"]) == pytest.approx(fr.statistic / (m * (n - 1)))
    assert int(ds["df"]) == n - 1
    rho = stats.spearmanr(values, axis=1).statistic
    np.testing.assert_allclose(ds["spearman"], rho)
    assert float(ds["mean_spearman"]) == pytest.approx(rho[np.triu_indices(m, 1)].mean())


def test_tie_correction_is_exercised():
    # The tied case above must actually need the correction: uncorrected W is smaller.
    values = _random_raters(0, ties=True)
    m, n = values.shape
    totals = stats.rankdata(values, axis=1).sum(axis=0)
    w_uncorrected = 12 * ((totals - m * (n + 1) / 2) ** 2).sum() / (m**2 * (n**3 - n))
    w = float(rank_agreement(_acc(values), over="seed")["kendall_w"])
    assert w > w_uncorrected + 1e-3


def test_identical_rankings_give_w_one():
    base = np.array([0.9, 0.2, 0.5, 0.7, 0.4])
    ds = rank_agreement(_acc([base, base - 0.1, base * 0.5]), over="seed")
    assert float(ds["kendall_w"]) == pytest.approx(1.0)
    np.testing.assert_allclose(ds["spearman"], 1.0)
    assert float(ds["chi2"]) == pytest.approx(3 * 4)
    assert float(ds["p_value"]) == pytest.approx(stats.chi2.sf(12, 4))


def test_two_reversed_raters_give_w_zero():
    up = np.linspace(0.1, 0.9, 6)
    ds = rank_agreement(_acc([up, up[::-1]], over="model"), over="model")
    assert float(ds["kendall_w"]) == pytest.approx(0.0, abs=1e-12)
    assert float(ds["p_value"]) == pytest.approx(1.0)
    np.testing.assert_allclose(ds["spearman"], [[1, -1], [-1, 1]])
    assert float(ds["mean_spearman"]) == pytest.approx(-1.0)


def test_hand_worked_w_with_ties():
    # Rater A ranks 1, 2, 3, 4; rater B ties the first two: 1.5, 1.5, 3, 4.
    # Rank sums 2.5, 3.5, 6, 8; mean 5; S = 6.25 + 2.25 + 1 + 9 = 18.5.
    # Ties: B has one pair, t^3 - t = 6. W = 12 * 18.5 / (4 * 60 - 2 * 6) = 222 / 228.
    ds = rank_agreement(_acc([[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.6, 0.7]]), over="seed")
    assert float(ds["kendall_w"]) == pytest.approx(222 / 228)
    assert float(ds["chi2"]) == pytest.approx(2 * 3 * 222 / 228)


def test_dims_coords_and_descriptions():
    acc = _acc(_random_raters(1, m=3, n=6), over="model").assign_coords(model=["a", "b", "c"])
    ds = rank_agreement(acc, over="model")
    assert ds["spearman"].dims == ("model", "model_other")
    assert ds["model"].values.tolist() == ["a", "b", "c"] == ds["model_other"].values.tolist()
    assert ds.attrs == {"over": "model", "n_raters": 3, "n_classes": 6, "n_dropped": 0}
    for name, v in ds.data_vars.items():
        assert v.attrs["description"], name
    # the transposed input gives the same answer
    xr.testing.assert_identical(rank_agreement(acc.T, over="model"), ds)


def test_nan_labels_are_dropped():
    values = _random_raters(2, m=4, n=8)
    with_nan = values.copy()
    with_nan[1, 3] = np.nan
    ds = rank_agreement(_acc(with_nan), over="seed")
    ref = rank_agreement(_acc(np.delete(values, 3, axis=1)), over="seed")
    xr.testing.assert_allclose(ds.drop_attrs(), ref.drop_attrs())
    assert ds.attrs["n_dropped"] == 1 and ds.attrs["n_classes"] == 7


def test_takes_per_class_over_seeds_output():
    rng = np.random.default_rng(3)
    y_true = np.repeat(np.arange(6), 50)
    p = np.linspace(0.4, 0.95, 6)[y_true]
    y_pred = np.where(rng.random((4, y_true.size)) < p, y_true, (y_true + 1) % 6)
    by_seed = per_class_over_seeds(y_true, y_pred, labels=range(7), n_boot=10)["accuracy_by_seed"]
    ds = rank_agreement(by_seed, over="seed")  # label 6 has no support: NaN, dropped
    assert ds.attrs["n_dropped"] == 1
    assert float(ds["kendall_w"]) > 0.7 and float(ds["p_value"]) < 0.01


def test_constant_rater_gives_nan_spearman():
    ds = rank_agreement(_acc([[0.5, 0.5, 0.5], [0.1, 0.2, 0.3], [0.2, 0.1, 0.3]]), over="seed")
    assert np.isnan(ds["spearman"][0, 1]) and np.isnan(ds["mean_spearman"])
    assert np.isfinite(ds["kendall_w"])
    ds = rank_agreement(_acc([[0.5, 0.5, 0.5], [0.2, 0.2, 0.2]]), over="seed")
    assert np.isnan(ds["kendall_w"]) and np.isnan(ds["p_value"])


@pytest.mark.parametrize(
    "acc, over, match",
    [
        (xr.DataArray(np.zeros((2, 3, 4)), dims=("seed", "model", "label")), "seed",
         "extra dims \\['model'\\]; select or average"),
        (xr.DataArray(np.zeros((2, 3)), dims=("seed", "label")), "model", "missing \\['model'\\]"),
        (xr.DataArray(np.zeros((2, 3)), dims=("seed", "label")), "label", "not 'label'"),
        (xr.DataArray(np.zeros((1, 3)), dims=("seed", "label")), "seed", "at least 2 raters"),
        (xr.DataArray([[0.1, np.nan], [0.2, 0.3]], dims=("seed", "label")), "seed", "at least 2 labels"),
        (np.zeros((2, 3)), "seed", "xr.DataArray"),
    ],
)
def test_bad_input(acc, over, match):
    with pytest.raises(ValueError, match=match):
        rank_agreement(acc, over=over)
