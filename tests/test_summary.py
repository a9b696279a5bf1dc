from __future__ import annotations

import numpy as np
import xarray as xr
from sklearn.metrics import recall_score

from fairnotes import summary
from fairnotes.metrics import noise_floor, rank_agreement


def _fake_sweep(seed=0, n=600, k=4):
    rng = np.random.default_rng(seed)
    target = np.repeat(np.arange(k), n // k)
    skill = {"a": np.array([0.95, 0.8, 0.6, 0.4]), "b": np.array([0.9, 0.85, 0.5, 0.45])}
    preds = []
    for m in ("a", "b"):
        per_seed = []
        for s in range(3):
            right = rng.random(n) < skill[m][target]
            per_seed.append(np.where(right, target, (target + 1 + rng.integers(0, k - 1, n)) % k))
        preds.append(per_seed)
    acc = xr.DataArray(np.zeros((2, 3)), dims=("model", "seed"))
    ds = xr.Dataset({"prediction": (("model", "seed", "sample"), np.array(preds)),
                     "target": ("sample", target), "overall_accuracy": acc, "n_params": ("model", [10, 20])},
                    coords={"model": ["a", "b"], "seed": [0, 1, 2], "label": np.arange(k),
                            "class_name": ("label", ["w", "x", "y", "z"])})
    ds["overall_accuracy"] = (ds.prediction == ds.target).mean("sample")
    return ds


def test_by_model_matches_independent_computations():
    sw = _fake_sweep()
    s = summary.by_model(sw, n_boot=200, n_sim=300)
    for m in ("a", "b"):
        pred = sw.prediction.sel(model=m).values
        per_seed = np.array([recall_score(sw.target.values, p, average=None) for p in pred])
        acc = per_seed.mean(0)
        np.testing.assert_allclose(s.accuracy.sel(model=m).values, acc)
        assert np.isclose(float(s.gap.sel(model=m)), acc.max() - acc.min())
        assert np.isclose(float(s["std"].sel(model=m)), acc.std())
        assert str(s.worst_class.sel(model=m).values) == ["w", "x", "y", "z"][acc.argmin()]
        assert float(s.gap_lower.sel(model=m)) <= float(s.gap.sel(model=m)) <= float(s.gap_upper.sel(model=m))
        p0 = float(noise_floor(sw.target.values, pred[0], n_sim=300, seed=0)["p_value"])
        assert np.isclose(float(s.noise_p_value.sel(model=m, seed=0)), p0)
        w = float(rank_agreement(xr.DataArray(per_seed, dims=("seed", "label")), over="seed")["kendall_w"])
        assert np.isclose(float(s.seed_kendall_w.sel(model=m)), w)
    # classes this unequal are far beyond binomial noise
    assert float(s.noise_p_value.max()) < 0.01
    np.testing.assert_allclose(s.overall_accuracy.values, sw.overall_accuracy.mean("seed").values)
