from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.metrics import recall_score

from fairnotes.metrics import rank_agreement, rank_agreement_ci


def _raters(seed=0, n=900, k=6, r=3):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n // k)
    skill = np.linspace(0.4, 0.95, k)
    preds = [np.where(rng.random(n) < skill[y] + rng.normal(0, 0.05, k)[y], y, (y + 1) % k) for _ in range(r)]
    return y, np.array(preds)


def test_point_estimate_equals_rank_agreement_on_sklearn_recalls():
    y, p = _raters()
    acc = xr.DataArray(np.array([recall_score(y, q, average=None) for q in p]), dims=("head", "label"))
    expected = rank_agreement(acc, over="head")
    got = rank_agreement_ci(y, p, raters=["a", "b", "c"], over="head", n_boot=100)
    assert np.isclose(float(got["kendall_w"]), float(expected["kendall_w"]))
    assert np.isclose(float(got["mean_spearman"]), float(expected["mean_spearman"]))
    assert float(got["kendall_w_lower"]) <= float(got["kendall_w"]) <= float(got["kendall_w_upper"])
    assert list(got["head"].values) == ["a", "b", "c"]


def test_interval_narrows_with_more_test_images_and_is_seeded():
    small = rank_agreement_ci(*_raters(n=120), n_boot=200, seed=1)
    large = rank_agreement_ci(*_raters(n=6000), n_boot=200, seed=1)
    width = lambda d: float(d["kendall_w_upper"] - d["kendall_w_lower"])  # noqa: E731
    assert width(large) < width(small)
    again = rank_agreement_ci(*_raters(n=120), n_boot=200, seed=1)
    assert float(again["kendall_w_lower"]) == float(small["kendall_w_lower"])


def test_bad_input():
    with pytest.raises(ValueError, match="raters >= 2"):
        rank_agreement_ci([0, 1], [[0, 1]])
