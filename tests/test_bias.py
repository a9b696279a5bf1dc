from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fairnotes import bias


def _run(seed):
    rng = np.random.default_rng(seed)
    k, e = 4, 3
    support = np.full((e, k), 100)
    predicted = support + rng.integers(-30, 30, (e, k))
    ds = xr.Dataset({"track_predicted": (("epoch", "label"), predicted), "track_support": (("epoch", "label"), support),
                     "track_gp": (("epoch", "label"), rng.random((e, k))), "track_gn": (("epoch", "label"), rng.random((e, k))),
                     "track_grad_pos": (("epoch", "label"), rng.random((e, k))),
                     "track_grad_neg": (("epoch", "label"), rng.random((e, k))),
                     "accuracy": ("label", np.array([0.9, 0.3, 0.6, 0.8])),
                     "target": ("sample", np.arange(8) % 4)},
                    coords={"epoch": [1, 2, 3], "label": np.arange(k)})
    return ds


def test_by_class_by_hand():
    runs = [_run(0), _run(1)]
    out = bias.by_class(bias.stack_seeds(runs, [0, 1]))
    expected = np.mean([r.track_predicted.values / r.track_support.values for r in runs], axis=0)
    np.testing.assert_allclose(out["bias"].values, expected)
    share = np.mean([r.track_grad_neg.values / (r.track_grad_neg.values + r.track_grad_pos.values) for r in runs], 0)
    np.testing.assert_allclose(out["grad_neg_share"].values, share)
    # accuracies 0.9, 0.3, 0.6, 0.8 -> ranking 1 < 2 < 3 < 0; 4 classes: 1 hard, 2 medium, 1 easy
    assert list(out["difficulty"].values) == ["easy", "hard", "medium", "medium"]


def test_untracked_runs_are_refused():
    with pytest.raises(ValueError, match="track=True"):
        bias.stack_seeds([xr.Dataset({"accuracy": ("label", [0.5])})], [0])
