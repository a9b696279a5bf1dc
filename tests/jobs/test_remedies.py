from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from sklearn.metrics import recall_score

from fairnotes import augment, data, models, summary
from fairnotes.jobs import remedies, train


@pytest.fixture
def base(tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRNOTES_CACHE", str(tmp_path / "cache"))
    return train.TrainConfig(dataset="digits", model="cnn", model_kwargs={"width": 4}, epochs=1, batch_size=32,
                             lr=0.05, train_per_class=40, augment="crop", device="cpu", progress=False,
                             profile="tiny")


def test_parse_fills_defaults_and_names_valid_choices():
    assert remedies.parse("mixup") == ("mixup", {"alpha": 0.2})
    assert remedies.parse("focal:gamma=1") == ("focal", {"gamma": 1})
    with pytest.raises(ValueError, match="valid: baseline, mixup"):
        remedies.parse("dropout")
    with pytest.raises(ValueError, match="valid settings: alpha"):
        remedies.parse("cutmix:beta=2")


def test_plan_maps_each_remedy_onto_the_train_config(base):
    p = partial(remedies.plan, base, seed=3)
    assert p("baseline") == train.TrainConfig(**{**base.__dict__, "seed": 3})
    assert p("baseline").key() == train.TrainConfig(**{**base.__dict__, "seed": 3}).key()
    assert (p("mixup").mixup, p("cutmix:alpha=0.5").cutmix) == (0.2, 0.5)
    assert p("label-smoothing").label_smoothing == 0.1
    assert p("randaugment").augment == "crop-randaugment"
    assert remedies.plan(train.TrainConfig(**{**base.__dict__, "augment": "none"}), "trivialaugment", 0).augment \
        == "trivialaugment"
    assert (p("focal").loss, p("focal").focal_gamma) == ("focal", 2.0)
    ft = p("simclr-finetune:epochs=3")
    assert ft.pretrain["epochs"] == 3 and ft.pretrain["seed"] == 3 and ft.pretrain["train_per_class"] == 40
    probe = p("simclr-probe:C=0.5")
    assert isinstance(probe, remedies.LinearProbeConfig) and probe.C == 0.5 and probe.pretrain == \
        {**ft.pretrain, "epochs": 10}


def test_weights_from_accuracy():
    w = remedies.weights_from_accuracy([0.2, 0.4, 0.8])
    np.testing.assert_allclose(w, np.array([5, 2.5, 1.25]) / (8.75 / 3))
    assert w.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(remedies.weights_from_accuracy([0.0, 1.0], floor=0.5), [4 / 3, 2 / 3])
    np.testing.assert_allclose(remedies.weights_from_accuracy([0.3, 0.9], power=0), [1, 1])
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        remedies.weights_from_accuracy([1.2, 0.5])


def test_heldout_images_are_disjoint_from_the_training_subset():
    pool = data.load("digits", "train")
    a = pool.per_class(40, seed=5)
    b = pool.per_class(30, seed=5, skip=40)
    key = lambda s: {x.tobytes() for x in s.images}  # noqa: E731
    assert pool.counts().min() >= 70 and len(b) == 300 and not key(a) & key(b)


def test_heldout_accuracy_and_reweight_plan(base, one_torch_thread):
    acc = remedies.heldout_accuracy(base, per_class=30)
    # oracle: the run's network on the held-out images, scored by scikit-learn
    from fairnotes.jobs.features import run_model
    net, size = run_model(base)
    held = data.load("digits", "train").per_class(30, seed=0, skip=40)
    mean, std = models.normalization(net, 1)
    x = augment.to_float(torch.from_numpy(held.images), mean, std, size=size)
    with torch.no_grad():
        pred = net.eval()(x).argmax(1).numpy()
    np.testing.assert_allclose(acc, recall_score(held.labels, pred, average=None, labels=range(10)))
    cfg = remedies.plan(base, "reweight:heldout_per_class=30", 0)
    np.testing.assert_allclose(cfg.class_weights, remedies.weights_from_accuracy(acc), atol=1e-6)
    with pytest.raises(ValueError, match="train_per_class"):
        remedies.heldout_accuracy(train.TrainConfig(**{**base.__dict__, "train_per_class": None}))


def test_run_stacks_remedies_paired_with_the_baseline(base, one_torch_thread):
    ds = remedies.run(base, remedies=["label-smoothing", "simclr-probe:epochs=1,flip=false,batch_size=64"],
                      seeds=[0, 1], progress=False)
    assert ds["remedy"].values.tolist()[0] == "baseline" and ds.sizes == {**ds.sizes, "remedy": 3, "seed": 2}
    assert ds["prediction"].dims == ("remedy", "seed", "sample")
    # the baseline is the very run train.run gives for that config (same cache entry)
    from fairnotes.results import cached
    b1 = cached(train.run, remedies.plan(base, "baseline", 1))
    np.testing.assert_array_equal(ds["prediction"].sel(remedy="baseline", seed=1), b1["prediction"])
    assert (ds["pretrain_time_s"].sel(remedy="baseline") == 0).all()
    assert (ds["pretrain_time_s"].isel(remedy=2) > 0).all()
    assert 0.3 < float(ds["overall_accuracy"].isel(remedy=2).mean()) <= 1  # a probe on 64 features beats chance
    p = summary.paired_deltas(ds, n_boot=50)
    assert p["delta_accuracy"].sel(remedy="baseline").values.tolist() == [0.0] * 10


def _sweep(pred, y, names=("a", "b")):
    import xarray as xr
    return xr.Dataset({"prediction": (("remedy", "seed", "sample"), np.asarray(pred)),
                       "target": ("sample", np.asarray(y))},
                      coords={"remedy": list(names), "label": np.arange(3),
                              "class_name": ("label", ["x", "y", "z"])})


def test_paired_deltas_against_sklearn_and_hand_cases():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    ref = np.where(rng.random((3, 120)) < 0.7, y, rng.integers(0, 3, (3, 120)))
    other = ref.copy()
    other[:, y == 0] = 1  # the remedy gets every class-0 image wrong
    p = summary.paired_deltas(_sweep([ref, other], y), groups={"first": [0], "rest": [1, 2]}, n_boot=300)
    rec = lambda pr: np.mean([recall_score(y, s, average=None) for s in pr], axis=0)  # noqa: E731
    np.testing.assert_allclose(p["accuracy"].sel(remedy="a"), rec(ref))
    np.testing.assert_allclose(p["delta_accuracy"].sel(remedy="b"), rec(other) - rec(ref))
    assert bool(p["hurt"].sel(remedy="b", label=0)) and not p["hurt"].sel(remedy="a").any()
    assert float(p["delta_worst"].sel(remedy="b")) == pytest.approx(0 - rec(ref).min())
    assert float(p["delta_group"].sel(remedy="b", group="first")) == pytest.approx(-rec(ref)[0])
    for v in ("delta_accuracy", "delta_gap", "delta_mean"):
        lo, hi, mid = p[f"{v}_lower"].sel(remedy="b"), p[f"{v}_upper"].sel(remedy="b"), p[v].sel(remedy="b")
        assert bool((lo <= hi).all()) and bool(((lo - 1e-9 <= mid) & (mid <= hi + 1e-9)).all())
    # identical predictions: delta exactly 0 with a zero-width interval
    same = summary.paired_deltas(_sweep([ref, ref], y), n_boot=100)
    assert float(abs(same["delta_accuracy_lower"]).max()) == 0 == float(abs(same["delta_gap_upper"]).max())
    with pytest.raises(ValueError, match="valid: a, b"):
        summary.paired_deltas(_sweep([ref, ref], y), reference="c")
