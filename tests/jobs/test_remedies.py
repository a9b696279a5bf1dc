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
    # the control: the same probe fields as simclr-probe's, on the baseline run of the same seed
    ctl, sim = p("baseline-probe"), p("simclr-probe")
    assert isinstance(ctl, remedies.LinearProbeConfig) and ctl.pretrain == {} and sim.features_of is None
    assert (ctl.dataset, ctl.train_per_class, ctl.seed, ctl.C, ctl.profile) == \
        (sim.dataset, sim.train_per_class, sim.seed, sim.C, sim.profile) == ("digits", 40, 3, 1.0, "tiny")
    assert ctl.run_config() == p("baseline") and ctl.run_config().key() == p("baseline").key()
    assert p("baseline-probe:C=0.5").C == 0.5 and p("baseline-probe:C=0.5").key() != ctl.key() != sim.key()
    assert remedies.plan(base, "baseline-probe", 4).key() != ctl.key()  # another seed, another baseline run
    with pytest.raises(ValueError, match="not both"):
        remedies.LinearProbeConfig(pretrain=sim.pretrain, features_of=ctl.features_of)


# cache keys of every remedy before baseline-probe existed (seeds 0 and 2; "key/pretraining key"): unchanged
PINNED_KEYS = {
    ("tiny", "baseline"): ['cc9fc1a5806b', '49aa1e179733'],
    ("tiny", "mixup"): ['0ee6d88ecdcd', '00d7e964ee73'],
    ("tiny", "cutmix"): ['6b5b5db96983', '59dd5b7c9ef5'],
    ("tiny", "label-smoothing"): ['607440094fac', '02b6e01d86b3'],
    ("tiny", "randaugment"): ['3b890d208043', 'd7221565a035'],
    ("tiny", "trivialaugment"): ['b7a439d336b0', '5911295eb657'],
    ("tiny", "reweight"): ['5cf66fca2cf9', '12bfdccde1b0'],
    ("tiny", "focal"): ['966280550931', '44db77161459'],
    ("tiny", "simclr-finetune:epochs=8"): ['bbeff92db55e/19a6cf6fb514', 'dc0afdbcb171/3870229e185e'],
    ("tiny", "simclr-probe:epochs=8"): ['90330653b72a/19a6cf6fb514', 'a8c41ed1ff3a/3870229e185e'],
    ("tiny", "simclr-probe:C=0.5"): ['63ced75df4f5/8f2f4f91b7b5', 'b919a6ee3d8a/f2f48b2bda63'],
    ("laptop", "baseline"): ['4adb8b180004', '145673256543'],
    ("laptop", "mixup"): ['764ec2af903f', 'f8f54a321f88'],
    ("laptop", "cutmix"): ['854f52fbc03c', 'ed741780954e'],
    ("laptop", "label-smoothing"): ['da9a38ef65fd', '1dbb202bd485'],
    ("laptop", "randaugment"): ['38689a3066ba', '41ade740b806'],
    ("laptop", "trivialaugment"): ['bd1a9a1e41ee', '1c02227d22d9'],
    ("laptop", "reweight"): ['f7312dd9bce7', '085750dc7734'],
    ("laptop", "focal"): ['3fd8e63b7c0c', '9065229db9f8'],
    ("laptop", "simclr-finetune:epochs=8"): ['c2c1b566f5f0/8baf4a55be93', 'd3a2f20926a1/dd9bdf03379c'],
    ("laptop", "simclr-probe:epochs=8"): ['3a47e0839a14/8baf4a55be93', '2d12ff925888/dd9bdf03379c'],
    ("laptop", "simclr-probe:C=0.5"): ['10681baee7df/e856d1c2e8ae', 'aa4bb522fe98/7c4a7bc019b7'],
}


def test_existing_remedies_keep_their_cache_keys(base, monkeypatch):
    from fairnotes.analysis import remedies as chapter
    from fairnotes.jobs import contrastive
    # reweight's weights come from a trained baseline; a fixed held-out accuracy pins the rest of its config
    monkeypatch.setattr(remedies, "heldout_accuracy", lambda cfg, per_class=500: np.linspace(0.5, 0.95, 10))
    bases = {"tiny": base, "laptop": chapter.base_config(chapter.Params())}
    for (tag, spec), want in PINNED_KEYS.items():
        got = []
        for seed in (0, 2):
            cfg = remedies.plan(bases[tag], spec, seed)
            pre = getattr(cfg, "pretrain", None)
            got.append(cfg.key() + (f"/{contrastive.ContrastiveConfig(**pre).key()}" if pre else ""))
        assert got == want, (tag, spec)


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
    ds = remedies.run(base, remedies=["label-smoothing", "simclr-probe:epochs=1,flip=false,batch_size=64",
                                      "baseline-probe"], seeds=[0, 1], progress=False)
    assert ds["remedy"].values.tolist()[0] == "baseline" and ds.sizes == {**ds.sizes, "remedy": 4, "seed": 2}
    assert ds["prediction"].dims == ("remedy", "seed", "sample")
    # the baseline is the very run train.run gives for that config (same cache entry)
    from fairnotes.results import cached
    b1 = cached(train.run, remedies.plan(base, "baseline", 1))
    np.testing.assert_array_equal(ds["prediction"].sel(remedy="baseline", seed=1), b1["prediction"])
    assert (ds["pretrain_time_s"].sel(remedy="baseline") == 0).all()
    assert (ds["pretrain_time_s"].isel(remedy=2) > 0).all()
    assert 0.3 < float(ds["overall_accuracy"].isel(remedy=2).mean()) <= 1  # a probe on 64 features beats chance
    # the control: the same probe on the baseline's own frozen features, of exactly the probe's training images
    from fairnotes.heads import linear_head
    from fairnotes.jobs import features, training_subset
    assert (ds["pretrain_time_s"].sel(remedy="baseline-probe") == 0).all()
    ctl = remedies.plan(base, "baseline-probe", 1)
    tr, te = (features.extract(remedies.plan(base, "baseline", 1), split=sp) for sp in ("train", "test"))
    sub = training_subset(remedies.plan(base, "simclr-probe", 1))
    np.testing.assert_array_equal(tr["labels"].values, sub.labels)
    assert len(tr["labels"]) == 400 and len(te["labels"]) == len(data.load("digits", "test"))
    np.testing.assert_allclose(tr["features"].values[:5], _baseline_features(base, 1, sub.images[:5]), atol=1e-4)
    want = linear_head(tr["features"].values, tr["labels"].values, te["features"].values, num_classes=10, C=ctl.C)
    np.testing.assert_array_equal(ds["prediction"].sel(remedy="baseline-probe", seed=1), want.argmax(1))
    assert 0.3 < float(ds["overall_accuracy"].sel(remedy="baseline-probe").mean()) <= 1
    p = summary.paired_deltas(ds, n_boot=50)
    assert p["delta_accuracy"].sel(remedy="baseline").values.tolist() == [0.0] * 10


def _baseline_features(base, seed, images):
    """The baseline network's classifier input for ``images``, by a forward hook (independent of features.extract)."""
    from fairnotes.jobs.features import run_model
    net, size = run_model(remedies.plan(base, "baseline", seed))
    seen = []
    hook = net.get_classifier().register_forward_pre_hook(lambda m, a: seen.append(a[0].detach()))
    mean, std = models.normalization(net, 1)
    with torch.no_grad():
        net.eval()(augment.to_float(torch.from_numpy(images), mean, std, size=size))
    hook.remove()
    return seen[0].numpy()


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
