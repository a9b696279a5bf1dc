from __future__ import annotations

import numpy as np
import pytest
import torch

from fairnotes import augment, data, models, results
from fairnotes.jobs import features, train, training_subset


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def run_cfg(tmp_path):
    return train.TrainConfig(dataset="digits", model="cnn", model_kwargs={"width": 4}, epochs=2, batch_size=32,
                             lr=0.05, train_per_class=12, augment="crop", device="cpu", progress=False,
                             profile="tiny", save_features=True, checkpoint_dir=str(tmp_path / "ckpt"))


def test_run_features_match_the_train_job(run_cfg, tmp_path):
    # no checkpoint yet: extract trains the run (through the results cache), then reads last.pt
    te = features.extract(run_cfg, split="test", progress=False)
    assert (tmp_path / "ckpt" / "last.pt").exists()
    job = results.cached(train.run, run_cfg)
    assert job.attrs["cache"].startswith("hit")
    assert te["features"].dims == ("sample", "feature") and te.sizes["feature"] == 8
    np.testing.assert_allclose(te["features"], job["features"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(te["labels"], job["target"])
    assert te["class_name"].values.tolist() == job["class_name"].values.tolist()
    # the run's classifier comes along: features @ W.T + b are the job's logits
    logits = te["features"].values @ te["classifier_weight"].values.T + te["classifier_bias"].values
    np.testing.assert_allclose(logits, job["logits"], rtol=1e-4, atol=1e-4)
    state = torch.load(tmp_path / "ckpt" / "last.pt", weights_only=True)["model"]
    np.testing.assert_array_equal(te["classifier_weight"], state["fc.weight"].numpy())


def test_train_split_is_the_runs_training_subset(run_cfg):
    tr = features.extract(run_cfg, split="train", progress=False)
    seen = train._load_data(run_cfg)[0]
    np.testing.assert_array_equal(tr["labels"], seen.labels)
    assert tr.sizes["sample"] == 120
    capped = features.extract(run_cfg, split="train", max_per_class=3, progress=False)
    assert capped.sizes["sample"] == 30


def test_train_split_of_a_long_tailed_run_is_its_long_tailed_subset(run_cfg):
    lt = train.TrainConfig(**{**run_cfg.__dict__, "train_imbalance": 10.0, "epochs": 1})
    tr = features.extract(lt, split="train", progress=False)
    sub = training_subset(lt)
    # 12 · 10^(−c/9) by hand: 12, 9.29, 7.19, 5.57, 4.31, 3.34, 2.59, 2.00, 1.55, 1.2
    assert sub.counts().tolist() == data.long_tail_counts(12, 10.0, 10).tolist() == [12, 9, 7, 6, 4, 3, 3, 2, 2, 1]
    np.testing.assert_array_equal(tr["labels"], sub.labels)
    assert tr.sizes["sample"] == 49 == results.cached(train.run, lt).attrs["n_train"]
    # the same images as the train job saw: the run's network on them gives these features
    seen = train._load_data(lt)[0]
    net, size = features.run_model(lt)
    mean, std = models.normalization(net, 1)
    net.eval()
    store = []
    hook = net.get_classifier().register_forward_pre_hook(lambda m, args: store.append(args[0].flatten(1)))
    with torch.no_grad():
        net(augment.to_float(torch.from_numpy(seen.images), mean, std, size=size))
    hook.remove()
    np.testing.assert_allclose(tr["features"].values, store[0].numpy(), rtol=1e-5, atol=1e-5)
    # the same run on the balanced 12 per class would have given 120 images
    assert features.cache_path(lt, split="train") != features.cache_path(run_cfg, split="train")


def test_cache_names_of_existing_runs_are_unchanged():
    # names of files cached before long-tailed runs read their own subset; balanced ones must still be found
    pc = train.TrainConfig(dataset="digits", model="cnn", epochs=1, train_per_class=40, seed=3)
    assert features.cache_path(pc, split="train").name == "cnn-run-digits-train-500a1d43c7d5.nc"
    assert features.cache_path(pc, split="test").name == "cnn-run-digits-test-0c5b869d01e8.nc"
    full = train.TrainConfig(dataset="digits", model="cnn", epochs=1)
    assert features.cache_path(full, split="train").name == "cnn-run-digits-train-eb74bf5af270.nc"
    assert features.cache_path("cnn", "digits", "train", pretrained=False, max_per_class=5).name == \
        "cnn-digits-train-75663d7a166f.nc"
    # a long-tailed run's train features were extracted on the balanced subset under this name: not reused
    lt = train.TrainConfig(dataset="digits", model="cnn", epochs=1, train_per_class=40, train_imbalance=10.0, seed=1)
    assert features.cache_path(lt, split="train").name != "cnn-run-digits-train-448571d0b59a.nc"
    assert features.cache_path(lt, split="test").name == "cnn-run-digits-test-fa7575b07366.nc"


def test_cache_hit_key_and_corrupt_file(run_cfg):
    first = features.extract("cnn", "digits", "test", pretrained=False, model_kwargs={"width": 4},
                             max_per_class=5, progress=False)
    path = features.cache_path("cnn", "digits", "test", pretrained=False, model_kwargs={"width": 4},
                               max_per_class=5)
    assert first.attrs["cache"] == f"miss {path}" and path.exists()
    again = features.extract("cnn", "digits", "test", pretrained=False, model_kwargs={"width": 4},
                             max_per_class=5, progress=False)
    assert again.attrs["cache"] == f"hit {path}"
    np.testing.assert_array_equal(again["features"], first["features"])
    others = [features.cache_path("cnn", "digits", "train", pretrained=False, model_kwargs={"width": 4},
                                  max_per_class=5),
              features.cache_path("cnn", "digits", "test", pretrained=False, model_kwargs={"width": 4}),
              features.cache_path("cnn", "digits", "test", pretrained=False, model_kwargs={"width": 4},
                                  max_per_class=5, image_size=16),
              features.cache_path("cnn", "digits", "test", pretrained=False, model_kwargs={"width": 8},
                                  max_per_class=5),
              features.cache_path("cnn", "digits", "test", pretrained=False, model_kwargs={"width": 4},
                                  max_per_class=5, dtype="float16"),
              features.cache_path(run_cfg, split="test", max_per_class=5)]
    assert len({path, *others}) == 7
    path.write_bytes(b"not a netCDF file")
    with pytest.warns(UserWarning, match="unreadable"):
        redone = features.extract("cnn", "digits", "test", pretrained=False, model_kwargs={"width": 4},
                                  max_per_class=5, progress=False)
    np.testing.assert_array_equal(redone["features"], first["features"])
    assert results.load(path)["features"].shape == (50, 8)


def test_float16_storage():
    ds = features.extract("cnn", "digits", "test", pretrained=False, model_kwargs={"width": 4}, max_per_class=2,
                          dtype="float16", progress=False)
    assert results.load(features.cache_path("cnn", "digits", "test", pretrained=False, model_kwargs={"width": 4},
                                            max_per_class=2, dtype="float16"))["features"].dtype == np.float16
    assert ds["features"].dtype == np.float16


def test_pretrained_efficientnet_lite0_on_grey_digits():
    ds = features.extract("efficientnet_lite0", "digits", "test", max_per_class=2, progress=False)
    assert ds["features"].shape == (20, 1280) and np.isfinite(ds["features"]).all()
    assert ds.attrs["image_size"] == 64 and "pretrained" in ds.attrs["source"]
    assert "classifier_weight" not in ds


def test_bad_arguments(run_cfg):
    with pytest.raises(ValueError, match="dataset="):
        features.extract("cnn")
    with pytest.raises(ValueError, match="no split"):
        features.extract("cnn", "digits", "val")
    with pytest.raises(ValueError, match="dtype"):
        features.extract("cnn", "digits", dtype="int8")
    with pytest.raises(TypeError, match="TrainConfig or a model name"):
        features.extract(42, "digits")
