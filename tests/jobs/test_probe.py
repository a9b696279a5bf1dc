from __future__ import annotations

import numpy as np
from sklearn.metrics import recall_score

from fairnotes.jobs import probe, train


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
