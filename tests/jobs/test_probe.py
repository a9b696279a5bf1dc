from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import recall_score

from fairnotes import data
from fairnotes.jobs import features, heldout_subset, probe, train, training_subset


def test_on_run_scores_every_head_and_reproduces_the_runs_own_classifier():
    cfg = train.TrainConfig(dataset="digits", model="cnn", model_kwargs={"width": 8}, epochs=3,
                            optimizer="adamw", lr=3e-3, progress=False)
    ds = probe.on_run(cfg, knn_k=5, taus=(0.0, 1.0))
    heads = list(ds["head"].values)
    for h in ("linear", "crt", "knn(k=5)", "ncm", "classifier", "tau_norm(tau=0)", "tau_norm(tau=1)"):
        assert h in heads
    run = train.run(cfg)  # cached checkpoint: same weights
    # the "classifier" head is the run's own classifier on the same test images
    np.testing.assert_array_equal(ds["prediction"].sel(head="classifier").values, run["prediction"].values)
    for h in heads:  # per-class accuracy is each head's recall (sklearn as the oracle)
        np.testing.assert_allclose(ds["accuracy"].sel(head=h).values,
                                   recall_score(ds["target"].values, ds["prediction"].sel(head=h).values,
                                                average=None, labels=range(10), zero_division=0))
    assert ds["weight_norm"].sizes["label"] == 10 and ds.attrs["backbone"] == "cnn"
    # the heads are cached: the same call reads them back; other head settings fit anew
    again = probe.on_run(cfg, knn_k=[5], taus=[0.0, 1.0])
    assert again.attrs["cache"].startswith("hit")
    np.testing.assert_array_equal(again["prediction"], ds["prediction"])
    assert probe.on_run(cfg, knn_k=3, taus=(0.0,)).attrs["cache"].startswith("miss")


def test_on_pretrained_uses_the_bundled_imagenet_weights():
    ds = probe.on_pretrained("efficientnet_lite0", "digits", train_per_class=20, knn_k=3, heads=["ncm", "knn"])
    assert list(ds["head"].values) == ["ncm", "knn(k=3)"]
    assert ds.attrs["n_train"] == 200 and ds.attrs["n_test"] == 540
    assert float(ds["overall_accuracy"].sel(head="ncm")) > 0.3  # ImageNet features separate digits (chance 0.1)


# ------------------------------------------------------------------ keys pinned before val_per_class existed

FM = dict(dataset="fashion-mnist", model="cnn", epochs=4, optimizer="adamw", lr=0.002, weight_decay=0.05,
          augment="crop")


def test_heads_and_features_keys_without_a_validation_split_are_unchanged():
    """Computed before ``val_per_class`` and ``heldout=`` were added: every cached heads result is still found."""
    cfg = train.TrainConfig(**FM, train_per_class=1000, seed=1)
    lt = train.TrainConfig(dataset="digits", model="cnn", epochs=2, train_per_class=100,
                           train_imbalance=5.0)
    full = train.TrainConfig(dataset="digits", model="mlp", epochs=3)
    taus = [0.0, 0.5, 1.0, 1.5, 2.0]
    for c, key in ((cfg, "fd344e15c6a4"), (lt, "a6eb4e0ee6c8"), (full, "7d243c18a3dd")):
        assert probe.HeadsConfig(source=c, knn_k=[10], taus=taus, seed=c.seed).key() == key
        assert probe.HeadsConfig(source=c, knn_k=[10], taus=taus, seed=c.seed, val_per_class=500).key() != key
    assert probe.HeadsConfig(source="efficientnet_lite0", dataset="digits", train_per_class=5,
                             knn_k=[3]).key() == "738822fc40dd"
    names = [(cfg, "train", "cnn-run-fashion-mnist-train-009705846972.nc"),
             (cfg, "test", "cnn-run-fashion-mnist-test-7169cf459fdd.nc"),
             (lt, "train", "cnn-run-digits-train-d3c39b31fe52.nc"),
             (lt, "test", "cnn-run-digits-test-9352ef097e17.nc"),
             (full, "train", "mlp-run-digits-train-1c8dae1a20cc.nc"),
             (full, "test", "mlp-run-digits-test-c26cf8cf1aea.nc")]
    for c, split, name in names:
        assert features.cache_path(c, split=split).name == name
    assert features.cache_path("efficientnet_lite0", "digits", "train", max_per_class=5).name == \
        "efficientnet_lite0-digits-train-9c521d633be8.nc"
    held = features.cache_path(cfg, split="train", heldout=500).name
    assert held.startswith("cnn-run-fashion-mnist-train-heldout-") and held != names[0][2]


# ------------------------------------------------------------------ the held-out images


def _index_pool(name="digits"):
    pool = data.load(name, "train")
    return pool, data.ImageSet(pool.name, pool.split, np.arange(len(pool)).reshape(-1, 1), pool.labels,
                               pool.class_names, pool.source, pool.license)


def test_heldout_images_of_a_balanced_run_are_the_remedies_heldout_subset():
    pool, index = _index_pool()
    cfg = train.TrainConfig(dataset="digits", model="cnn", epochs=1, train_per_class=100, seed=2)
    held = features.heldout_images(cfg, 20, index)
    want = heldout_subset(cfg, 20, index)
    np.testing.assert_array_equal(held.images, want.images)
    assert not set(held.images.ravel()) & set(training_subset(cfg, index).images.ravel())
    np.testing.assert_array_equal(held.counts(), np.minimum(pool.counts() - 100, 20))


def test_heldout_images_of_a_long_tailed_run_are_balanced_and_unseen():
    pool, index = _index_pool()
    cfg = train.TrainConfig(dataset="digits", model="cnn", epochs=1, train_per_class=100, train_imbalance=5.0)
    seen = set(training_subset(cfg, index).images.ravel())
    held = features.heldout_images(cfg, 20, index)
    assert not set(held.images.ravel()) & seen
    assert held.counts().tolist() == [20] * 10  # balanced although the training data is not


def test_a_run_on_its_whole_training_split_has_no_heldout_images():
    full = train.TrainConfig(dataset="digits", model="cnn", epochs=1)
    with pytest.raises(features.NoHeldOutImages, match="every image of the digits training split"):
        features.heldout_images(full, 20)
    with pytest.raises(features.NoHeldOutImages):
        features.cache_path(full, split="train", heldout=20)
    greedy = train.TrainConfig(dataset="digits", model="cnn", epochs=1, train_per_class=126)
    with pytest.raises(features.NoHeldOutImages, match="of class"):  # some digits have only 122-125 images
        features.heldout_images(greedy, 20)
    with pytest.raises(ValueError, match="heldout="):
        features.cache_path(full, split="test", heldout=20)


# ------------------------------------------------------------------ τ chosen on held-out images, end to end


def test_on_run_chooses_tau_on_the_heldout_images_never_the_test_set(tiny):
    from sklearn.metrics import balanced_accuracy_score

    from fairnotes.heads import tau_norm_head
    cfg = tiny(train_per_class=60, epochs=2)
    ds = probe.on_run(cfg, knn_k=(1, 3), taus=(0.0, 1.0, 2.0), val_per_class=20)
    val = features.extract(cfg, split="train", heldout=20, progress=False)
    assert val.sizes["sample"] == 200 and ds.attrs["n_val"] == 200
    held = features.heldout_images(cfg, 20)
    np.testing.assert_array_equal(val["labels"], held.labels)
    w = val["classifier_weight"].values
    sc = [balanced_accuracy_score(val["labels"], tau_norm_head(val["features"].values, w, tau=t).argmax(1))
          for t in (0.0, 1.0, 2.0)]
    best = (0.0, 1.0, 2.0)[int(np.flatnonzero(np.isclose(sc, max(sc)))[0])]
    assert ds.attrs["tau_selected"] == best
    np.testing.assert_array_equal(ds["prediction"].sel(head="tau_norm(selected)"),
                                  ds["prediction"].sel(head=f"tau_norm(tau={best:g})"))
    np.testing.assert_allclose(ds["val_balanced_accuracy"].sel(head=["tau_norm(tau=0)", "tau_norm(tau=1)",
                                                                     "tau_norm(tau=2)"]), sc)
    assert ds.attrs["knn_k_selected"] in (1, 3) and "knn(selected)" in ds["head"].values
    assert ds.attrs["validation_missing"] == "" and "never trained on" in ds.attrs["validation"]


def test_on_run_without_heldout_images_keeps_tau_one_and_says_so(tiny):
    cfg = tiny(train_per_class=None, epochs=1)
    ds = probe.on_run(cfg, knn_k=3, taus=(0.0, 2.0), val_per_class=20)
    assert ds.attrs["tau_selected"] == 1.0 and "knn(selected)" not in ds["head"].values
    assert "every image of the digits training split" in ds.attrs["validation_missing"]
    assert ds.attrs["validation"].startswith("none, because") and "val_balanced_accuracy" not in ds
    tr = features.extract(cfg, split="test", progress=False)
    from fairnotes.heads import tau_norm_head
    np.testing.assert_array_equal(ds["prediction"].sel(head="tau_norm(selected)"),
                                  tau_norm_head(tr["features"].values, tr["classifier_weight"].values).argmax(1))
    with pytest.raises(ValueError, match="val_per_class"):
        probe.on_run(cfg, val_per_class=0)
