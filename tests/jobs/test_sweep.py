from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import recall_score

from fairnotes.jobs import sweep, train


def test_parse_model_specs():
    assert sweep.parse_model("cnn") == ("cnn", {})
    assert sweep.parse_model("vit:embed_dim=64, depth=4,drop_rate=0.1") == (
        "vit", {"embed_dim": 64, "depth": 4, "drop_rate": 0.1})
    with pytest.raises(ValueError, match="NAME:key=value"):
        sweep.parse_model("cnn:width")


def test_configs_cross_models_and_seeds():
    base = train.TrainConfig(dataset="digits", epochs=1, model_kwargs={"width": 4})
    cfgs = sweep.configs(base, models=["mlp", "cnn:width=8"], seeds=[0, 3])
    assert [(c.model, c.model_kwargs, c.seed) for c in cfgs] == [
        ("mlp", {"width": 4}, 0), ("mlp", {"width": 4}, 3), ("cnn", {"width": 8}, 0), ("cnn", {"width": 8}, 3)]


def test_sweep_stacks_runs_and_reuses_the_cache(tmp_path):
    base = train.TrainConfig(dataset="digits", epochs=1, optimizer="adamw", lr=3e-3, train_per_class=30)
    kw = dict(models=["mlp:width=16", "cnn:width=4"], seeds=[0, 1], store=tmp_path, progress=False)
    ds = sweep.run(base, **kw)
    assert dict(ds.sizes) == {"model": 2, "seed": 2, "label": 10, "epoch": 1, "sample": 540}
    assert ds.attrs["dataset"] == "digits"
    # the stacked per-class accuracy is each run's own recall (sklearn as the oracle)
    for m in ds.model.values:
        for s in ds.seed.values:
            pred = ds.prediction.sel(model=m, seed=s).values
            np.testing.assert_allclose(ds.accuracy.sel(model=m, seed=s).values,
                                       recall_score(ds.target.values, pred, average=None, labels=range(10),
                                                    zero_division=0))
    assert (ds.wall_time_s > 0).all()
    again = sweep.run(base, **kw)
    assert (again.wall_time_s == 0).all()  # every run came from the cache
    np.testing.assert_array_equal(again.prediction.values, ds.prediction.values)
