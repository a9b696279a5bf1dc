from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import recall_score

from fairnotes import data, results
from fairnotes.jobs import diversity, sweep, train

CLASSES, TARGET, SOURCE, SEEDS, MODEL = [0, 1, 2], 0, 8, [0, 1], "mlp:width=16"


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """One tiny experiment (2 designs × 2 seeds, 1 epoch of a 16-wide MLP on 3 digit classes), run once."""
    root = tmp_path_factory.mktemp("diversity")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRNOTES_CACHE", str(root / "cache"))
        cfg = train.TrainConfig(dataset="digits", model="mlp", epochs=1, batch_size=32, optimizer="adamw", lr=3e-3,
                                augment="none", device="cpu", profile="tiny", track=True, keep_checkpoint=False)
        ds = diversity.run(cfg, base="digits", classes=CLASSES, targets=[TARGET], sources=[SOURCE], fraction=0.5,
                           seeds=SEEDS, models=[MODEL], store=root / "store", progress=False, n_boot=300)
        # the per-run results, read back from the cache (an independent path to the same numbers)
        names = diversity.designs("digits", CLASSES, targets=[TARGET], source_for=SOURCE)
        runs = {(name, c.seed): results.cached(train.run, dataclasses.replace(c, progress=False), store=root / "store")
                for name in names
                for c in sweep.configs(dataclasses.replace(cfg, dataset=name), models=[MODEL], seeds=SEEDS)}
        yield ds, names, runs


def test_designs_names():
    assert diversity.designs("fashion-mnist", range(5), targets=[0, 2], source_for={0: 9, 2: 8}, fraction=0.25) == [
        "fashion-mnist|classes=0,1,2,3,4", "fashion-mnist|classes=0,1,2,3,4|mix=0:9@0.25",
        "fashion-mnist|classes=0,1,2,3,4|mix=2:8@0.25"]
    assert diversity.designs("digits", [0, 1], targets=[1], source_for=[5])[1] == "digits|classes=0,1|mix=1:5@0.5"
    with pytest.raises(ValueError, match="not labels of the 2-class problem"):
        diversity.designs("digits", [0, 1], targets=[2], source_for=5)
    with pytest.raises(ValueError, match="one source per target"):
        diversity.designs("digits", [0, 1], targets=[0, 1], source_for=[5])
    with pytest.raises(ValueError, match="among classes="):
        diversity.designs("digits", [0, 1], targets=[0], source_for=1)


def test_schema(experiment):
    ds, names, _ = experiment
    assert dict(ds.sizes) == {"design": 2, "model": 1, "seed": 2, "label": 3, "sample": 162, "treated": 1}
    assert ds.design.values.tolist() == ["control", "mix 0:8@0.5"] and ds.dataset.values.tolist() == names
    assert ds.treated.values.tolist() == [TARGET] and ds.treated_class_name.values.tolist() == ["0 + 8"]
    for v in ("accuracy", "predicted", "fp", "track_fp", "track_predicted", "track_gn", "track_gp",
              "feature_variance"):
        assert ds[v].dims == ("design", "model", "seed", "label"), v
    for v in ("accuracy", "predicted", "fp", "accuracy_kept", "track_fp", "track_gn"):
        assert ds[f"delta_{v}"].dims == ("model", "seed", "treated"), v
        for suffix in ("mean", "seed_lower", "seed_upper"):
            assert ds[f"delta_{v}_{suffix}"].dims == ("model", "treated")
    for v in ("accuracy", "predicted", "fp", "accuracy_kept"):
        lo, mean, hi = (ds[f"delta_{v}{s}"].values for s in ("_lower", "_mean", "_upper"))
        assert (lo <= mean + 1e-12).all() and (mean <= hi + 1e-12).all()
        assert (ds[f"delta_{v}_image_lower"] <= ds[f"delta_{v}_image_upper"]).all()
        per_seed = ds[f"delta_{v}"].values
        # two seeds: the seed bootstrap of their mean stays between them
        assert per_seed.min() - 1e-12 <= ds[f"delta_{v}_seed_lower"].item() <= ds[f"delta_{v}_seed_upper"].item() \
            <= per_seed.max() + 1e-12
    assert int(ds.replaced.sel(design="mix 0:8@0.5").sum()) == 27 and not ds.replaced.sel(design="control").any()
    assert ds.attrs["n_boot"] == 300 and "percentile bootstrap" in ds.attrs["ci_method"]


def test_deltas_are_treatment_minus_control_of_the_per_run_results(experiment):
    ds, (control, treatment), runs = experiment
    replaced = data.load(treatment, "test").attributes["replaced"].to_numpy()
    for i, s in enumerate(SEEDS):
        c, t = runs[(control, s)], runs[(treatment, s)]
        y = c.target.values
        np.testing.assert_array_equal(y, t.target.values)
        acc = {k: recall_score(r.target.values, r.prediction.values, labels=range(3), average=None, zero_division=0)
               for k, r in (("c", c), ("t", t))}
        pred = {k: np.bincount(r.prediction.values, minlength=3) for k, r in (("c", c), ("t", t))}
        fp = {k: np.bincount(r.prediction.values[y != TARGET], minlength=3) for k, r in (("c", c), ("t", t))}
        got = ds.sel(model=MODEL, seed=s, treated=TARGET)
        assert got.delta_accuracy.item() == pytest.approx(acc["t"][TARGET] - acc["c"][TARGET])
        assert got.delta_predicted.item() == pred["t"][TARGET] - pred["c"][TARGET]
        assert got.delta_fp.item() == fp["t"][TARGET] - fp["c"][TARGET]
        kept = (y == TARGET) & ~replaced
        assert got.delta_accuracy_kept.item() == pytest.approx(
            (t.prediction.values[kept] == TARGET).mean() - (c.prediction.values[kept] == TARGET).mean())
        for v in ("track_fp", "track_gn", "track_predicted"):
            assert got[f"delta_{v}"].item() == pytest.approx(
                float(t[v].isel(epoch=-1)[TARGET] - c[v].isel(epoch=-1)[TARGET]))
        # the stacked per-label values are the runs' own
        np.testing.assert_allclose(ds.accuracy.sel(design="control", model=MODEL, seed=s).values, acc["c"])
        np.testing.assert_array_equal(ds.prediction.sel(design="mix 0:8@0.5", model=MODEL, seed=s).values,
                                      t.prediction.values)
    assert ds.delta_accuracy_mean.item() == pytest.approx(ds.delta_accuracy.mean().item())


def test_one_seed_has_no_seed_interval_but_an_image_interval(experiment):
    ds = experiment[0]
    stacked = ds.drop_dims("treated")  # the stacked runs, before compare
    one = diversity.compare(stacked.isel(seed=[0]), n_boot=200)
    assert np.isnan(one.delta_accuracy_seed_lower).all()
    assert np.isfinite(one.delta_fp_image_lower).all() and np.isfinite(one.delta_fp_lower).all()
    assert one.delta_fp.item() == ds.delta_fp.isel(seed=0).item()
