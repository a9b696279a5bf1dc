"""``precision="fp32" | "bf16"``: the train job, feature extraction and the open_clip embedders.

fp32 is the default and must leave every cache key and every number as they were before the field existed;
bf16 runs under autocast where the device computes bf16 natively (else fp32, and the result says so).
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from fairnotes import _torch
from fairnotes.jobs import features, train
from fairnotes.jobs.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

needs_bf16 = pytest.mark.skipif(not _torch.cpu_bf16_supported(), reason="this CPU has no native bf16")

# keys computed before the precision field existed (same configs)
_TINY = dict(dataset="digits", model="cnn", model_kwargs={"width": 4}, epochs=2, batch_size=32, lr=0.05,
             train_per_class=12, augment="crop", device="cpu", progress=False, profile="tiny")
_KEYS = [
    ({}, "dc14a2d1d1c4"),
    (_TINY, "cf099cebdef4"),
    (dict(model="cnn", epochs=4, optimizer="adamw", lr=0.002, weight_decay=0.05, train_per_class=1000,
          augment="crop"), "a87a51b345c2"),
    (dict(model="vit", model_kwargs={"embed_dim": 16}, track=True, seed=3), "111fcc7a9d65"),
]
_FEATURE_FILES = [  # features.cache_path(...).name before the precision argument existed
    (("run", dict(split="train")), "cnn-run-digits-train-9744515f9f45.nc"),
    (("run", dict(split="test", dtype="float16")), "cnn-run-digits-test-5aaa34dff689.nc"),
    (("cnn", dict(dataset="digits", split="test", pretrained=False, model_kwargs={"width": 4})),
     "cnn-digits-test-c55bda05ca74.nc"),
]
_LIT_KEYS = [({}, "26e5ccb37567"), (dict(seed=3, tone_drop=0.5), "37dd388d876a"),
             (dict(image_size=32, epochs=2), "79cc7760429a")]

# the tiny runs of `_TINY` (+ save_features, one torch thread) before this change: sha256 of the logits /
# features bytes (16 hex), the float64 sum of the logits and the per-epoch training losses
_BEFORE = {
    "cnn": dict(kw={}, logits="fcac9ff12584f1b1", features="8c65fc2a53b24028", logit_sum=-415.0971731469035,
                train_loss=[2.3966835657755534, 2.3135554631551107]),
    "vit": dict(kw=dict(model="vit", model_kwargs={"embed_dim": 16, "depth": 1, "num_heads": 2},
                        optimizer="adamw", lr=1e-3),
                logits="03874c024821d418", features="4f1d3837a91e89b9", logit_sum=-152.00466726860031,
                train_loss=[2.31253555615743, 2.306918223698934]),
}
_BEFORE_MACHINE = ("2.14.1", "AVX512")  # torch version, CPU capability where the hashes were taken


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize("bad", ["fp16", "bfloat16", None, "FP32"])
def test_bad_precision_names_the_choices(bad):
    with pytest.raises(ValueError, match="precision must be one of 'fp32', 'bf16'"):
        TrainConfig(precision=bad)
    with pytest.raises(ValueError, match="precision must be one of 'fp32', 'bf16'"):
        features.extract("cnn", "digits", "test", pretrained=False, precision=bad)
    from fairnotes.zeroshot.lit import LitConfig
    with pytest.raises(ValueError, match="precision must be one of 'fp32', 'bf16'"):
        LitConfig(precision=bad)


@pytest.mark.parametrize("kw, key", _KEYS)
def test_fp32_keeps_the_keys_and_bf16_gets_its_own(kw, key):
    assert TrainConfig(**kw).key() == key
    assert TrainConfig(**kw, precision="fp32").key() == key
    assert TrainConfig(**kw, precision="bf16").key() != key


@pytest.mark.parametrize("args, name", _FEATURE_FILES)
def test_fp32_feature_files_keep_their_names(args, name):
    source, kw = args
    source = TrainConfig(**_TINY) if source == "run" else source
    assert features.cache_path(source, **kw).name == name
    assert features.cache_path(source, **kw, precision="fp32").name == name
    # the precision that runs names the file: bf16 where the CPU has it, the fp32 file where it falls back
    bf16 = features.cache_path(source, **kw, precision="bf16", device="cpu").name
    assert (bf16 != name) == _torch.cpu_bf16_supported()


@pytest.mark.parametrize("kw, key", _LIT_KEYS)
def test_lit_fp32_keeps_its_keys(kw, key):
    from fairnotes.zeroshot.lit import LitConfig
    assert LitConfig(**kw).key() == key
    assert LitConfig(**kw, precision="fp32").key() == key
    assert LitConfig(**kw, precision="bf16").key() != key


# -------------------------------------------------------------------------------------------- train


@pytest.mark.parametrize("name", sorted(_BEFORE))
def test_fp32_results_are_those_from_before(name, tmp_path):
    ref = _BEFORE[name]
    ds = train.run(TrainConfig(**{**_TINY, **ref["kw"]}, save_features=True, checkpoint_dir=str(tmp_path)))
    assert (ds.attrs["precision_asked"], ds.attrs["precision_ran"]) == ("fp32", "fp32")
    assert "precision_note" not in ds.attrs
    logits = ds["logits"].values
    # elsewhere (another instruction set, torch) float32 kernels round differently: close, not equal
    np.testing.assert_allclose(float(logits.astype(np.float64).sum()), ref["logit_sum"], rtol=1e-4)
    np.testing.assert_allclose(ds["train_loss"].values, ref["train_loss"], rtol=1e-4)
    if (torch.__version__.split("+")[0], torch.backends.cpu.get_cpu_capability()) == _BEFORE_MACHINE:
        assert _sha(logits) == ref["logits"]  # bit for bit, where the reference was taken
        assert _sha(ds["features"].values) == ref["features"]
        assert ds["train_loss"].values.tolist() == ref["train_loss"]


@needs_bf16
def test_bf16_runs_and_records_its_precision(tiny, tmp_path):
    fp32 = train.run(tiny(checkpoint_dir=str(tmp_path / "fp32")))
    bf16 = train.run(tiny(precision="bf16", checkpoint_dir=str(tmp_path / "bf16"), save_features=True))
    assert (bf16.attrs["precision_asked"], bf16.attrs["precision_ran"]) == ("bf16", "bf16")
    assert "precision_note" not in bf16.attrs
    assert bf16["logits"].dtype == np.float32 and bf16["features"].dtype == np.float32
    assert np.isfinite(bf16["logits"]).all() and np.isfinite(bf16["train_loss"]).all()
    assert not np.array_equal(bf16["logits"], fp32["logits"])  # bf16 did run
    # the same run, only rounded differently: the losses agree to bf16's precision
    np.testing.assert_allclose(bf16["train_loss"], fp32["train_loss"], rtol=0.05)
    # the optimizer state and the weights stay float32
    state = torch.load(tmp_path / "bf16" / "last.pt", weights_only=True)
    assert {v.dtype for v in state["model"].values() if v.is_floating_point()} == {torch.float32}
    assert {v.dtype for s in state["optimizer"]["state"].values() for v in s.values()
            if torch.is_tensor(v) and v.is_floating_point()} == {torch.float32}


def test_bf16_falls_back_to_fp32_where_unsupported(tiny, tmp_path, monkeypatch, caplog):
    fp32 = train.run(tiny(checkpoint_dir=str(tmp_path / "fp32")))
    monkeypatch.setattr(_torch, "bf16_supported", lambda device: False)
    with caplog.at_level("WARNING", logger="fairnotes"):
        ds = train.run(tiny(precision="bf16", checkpoint_dir=str(tmp_path / "bf16")))
    assert (ds.attrs["precision_asked"], ds.attrs["precision_ran"]) == ("bf16", "fp32")
    assert "no native bf16" in ds.attrs["precision_note"]
    assert "no native bf16" in caplog.text
    np.testing.assert_array_equal(ds["logits"], fp32["logits"])  # plain float32
    np.testing.assert_array_equal(ds["train_loss"], fp32["train_loss"])
    assert ds.attrs["config_hash"] != fp32.attrs["config_hash"]  # asked bf16: its own key


class _Killed(Exception):
    pass


@needs_bf16
@pytest.mark.parametrize("kw", [
    dict(model="cnn", augment="flip-crop", optimizer="sgd", schedule="cosine", warmup_epochs=0.5),
    dict(model="vit", model_kwargs={"embed_dim": 16, "depth": 1, "num_heads": 2, "drop_rate": 0.2},
         augment="crop", optimizer="adamw", lr=1e-3, schedule="step"),  # dropout uses the global RNG
])
def test_bf16_resume_equals_uninterrupted(tiny, tmp_path, kw):
    full = train.run(tiny(epochs=3, precision="bf16", checkpoint_dir=str(tmp_path / "full"), **kw))

    def kill_after_first(epoch, history):
        if epoch == 1:
            raise _Killed

    cfg = tiny(epochs=3, precision="bf16", checkpoint_dir=str(tmp_path / "killed"), **kw)
    with pytest.raises(_Killed):
        train.run(cfg, on_epoch_end=kill_after_first)
    resumed = train.run(cfg)
    assert resumed.attrs["resumed_from_epoch"] == 1 and resumed.attrs["precision_ran"] == "bf16"
    np.testing.assert_array_equal(resumed["logits"], full["logits"])
    np.testing.assert_array_equal(resumed["train_loss"], full["train_loss"])
    np.testing.assert_array_equal(resumed["per_class_accuracy"], full["per_class_accuracy"])


# ---------------------------------------------------------------------------------- features, embedders


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@needs_bf16
def test_features_bf16_close_to_fp32():
    kw = dict(dataset="digits", split="test", pretrained=False, model_kwargs={"width": 8}, max_per_class=10,
              device="cpu", progress=False)
    fp32 = features.extract("cnn", **kw)
    bf16 = features.extract("cnn", **kw, precision="bf16")
    assert (fp32.attrs["precision_ran"], bf16.attrs["precision_ran"]) == ("fp32", "bf16")
    assert bf16.attrs["precision_asked"] == "bf16"
    assert bf16.attrs["features_key"] != fp32.attrs["features_key"]
    assert bf16["features"].dtype == np.float32
    assert not np.array_equal(bf16["features"], fp32["features"])
    assert _cosine(bf16["features"].values, fp32["features"].values).min() > 0.99
    again = features.extract("cnn", **kw, precision="bf16")  # read back from its own file
    assert again.attrs["cache"].startswith("hit")


_TINY_CLIP = {"embed_dim": 16,
              "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
              "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    import open_clip
    path = tmp_path_factory.mktemp("open_clip_configs") / "fairnotes-test-precision-clip.json"
    path.write_text(json.dumps(_TINY_CLIP))
    open_clip.add_model_config(path)
    return path.stem


@needs_bf16
def test_embedder_bf16_close_to_fp32_with_its_own_identity(tiny_clip):
    from fairnotes.zeroshot import create_embedder
    images = np.random.default_rng(0).integers(0, 256, size=(12, 3, 20, 20), dtype=np.uint8)
    torch.manual_seed(0)
    fp32 = create_embedder(tiny_clip, None, device="cpu")
    torch.manual_seed(0)
    bf16 = create_embedder(tiny_clip, None, device="cpu", precision="bf16")
    assert (fp32.precision, bf16.precision, bf16.precision_asked) == ("fp32", "bf16", "bf16")
    assert "precision" not in fp32.identity() and bf16.identity()["precision"] == "bf16"
    assert next(bf16.model.parameters()).dtype == torch.float32  # autocast, not bf16 weights
    a, b = fp32.encode_images(images), bf16.encode_images(images)
    assert b.dtype == np.float32 and _cosine(a, b).min() > 0.99
    ta, tb = fp32.encode_text(["a nurse", "a cook"]), bf16.encode_text(["a nurse", "a cook"])
    assert _cosine(ta, tb).min() > 0.99


def test_embedder_falls_back_to_fp32(tiny_clip, monkeypatch):
    from fairnotes.zeroshot import create_embedder
    monkeypatch.setattr(_torch, "bf16_supported", lambda device: False)
    emb = create_embedder(tiny_clip, None, device="cpu", precision="bf16")
    assert (emb.precision, emb.precision_asked) == ("fp32", "bf16") and "no native bf16" in emb.precision_note
    assert "precision" not in emb.identity()  # the float32 embeddings, under their float32 key


@needs_bf16
def test_lit_bf16_runs_its_towers_in_bf16_and_caches_them_apart(monkeypatch, tmp_path):
    from dataclasses import replace

    from emoji_fakes import make

    from fairnotes import data
    from fairnotes.zeroshot import lit
    captions, emojiprof = make()
    monkeypatch.setattr(data, "emoji_captions", captions)
    monkeypatch.setattr(data, "load", emojiprof)
    monkeypatch.setenv("FAIRNOTES_CACHE", str(tmp_path))
    cfg = lit.LitConfig(image_size=32, epochs=2, batch_size=16, lr=3e-3, n_boot=20, holdout_fraction=0.34,
                        eval_styles=("google", "twitter"), progress=False)
    fp32 = lit.run(cfg)
    folder = tmp_path / "zeroshot" / "lit_features"
    files = set(folder.glob("*.nc"))
    bf16 = lit.run(replace(cfg, precision="bf16"))
    assert (fp32.attrs["precision_ran"], bf16.attrs["precision_asked"], bf16.attrs["precision_ran"]) == \
        ("fp32", "bf16", "bf16")
    new = set(folder.glob("*.nc")) - files
    assert len(new) == len(files) == 3  # caption images, EmojiProf images, captions: each once per precision
    assert np.isfinite(bf16["train_loss"]).all()
    emb = lit.load_embedder(replace(cfg, precision="bf16"))
    assert emb.precision == "bf16" and emb.identity()["precision"] == "bf16"
