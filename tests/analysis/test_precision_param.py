"""Every chapter that trains or embeds takes ``precision = "fp32" | "bf16"`` and hands it to its jobs.

fp32 is the default and leaves every job's cache key as it was before the parameter existed (the keys below
were computed with the chapters' default ``Params()`` before it was added); bf16 joins the keys.
"""
from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest
import xarray as xr

from fairnotes import analysis
from fairnotes.analysis import (ParamError, d3g, multilabel, muse, prediction_bias, prevalence, remedies,
                                representation)

CHAPTERS = ("prevalence", "representation", "prediction_bias", "remedies", "multilabel", "muse", "d3g")

# job keys of the default Params() before `precision` existed (the laptop profile = the notebooks' defaults)
PREVALENCE_BASE = {"fashion-mnist": "8fbca5e96b67", "mnist-5k": "315134fb4a0c", "digits": "2e4561d641aa"}
PREVALENCE_BUDGET = ["e05a40f76112", "ba4db19a192d", "91619b0bd464"]
PREVALENCE_FULL = ["50819615e2c2"]
PRETRAINED_HEADS = "c0897a63e3b9"  # representation: efficientnet_lite0 heads on fashion-mnist
PREDICTION_BIAS = {"base": "cb9d7cc873a0", "long_tail_0": "73df9e3ee3eb", "diversity_base": "a87a51b345c2"}
REMEDIES = {"base": "4adb8b180004", "long_base": "1426cc549807"}
MULTILABEL_TRAIN_FEATURES = "efficientnet_lite0-emoji-scenes-train-0cf8557f4d3d.nc"
LIT = {"muse": "26e5ccb37567", "d3g_seed0_drop0": "26e5ccb37567", "d3g_seed0_drop0.5": "85ebed79d1b9"}


# ------------------------------------------------------------------------------------------- the parameter

@pytest.mark.parametrize("chapter", CHAPTERS)
def test_default_is_fp32_and_only_the_two_choices_pass(chapter):
    cls = analysis.params_class(chapter)
    assert cls().precision == "fp32"
    assert analysis.check_params(chapter, {"precision": "bf16"}) == {"precision": "bf16"}
    with pytest.raises(ParamError, match=r"parameter 'precision' must be one of 'fp32', 'bf16'; got 'fp16'"):
        analysis.check_params(chapter, {"precision": "fp16"})
    assert cls.from_mapping({"precision": "bf16"}).precision == "bf16"


# ------------------------------------------------------------------------------------------- training jobs

def test_prevalence_configs_carry_precision_and_fp32_keys_are_unchanged():
    p = prevalence.Params()
    assert {d: prevalence.base_config(p, d).key() for d in p.datasets} == PREVALENCE_BASE
    assert [c.key() for c in prevalence.budget_configs(p)] == PREVALENCE_BUDGET
    assert [c.key() for c in prevalence.full_data_configs(p)] == PREVALENCE_FULL
    assert prevalence.base_config(p, "digits").precision == "fp32"

    q = prevalence.Params(precision="bf16")
    assert prevalence.base_config(q, "digits").precision == "bf16"
    from fairnotes.jobs import sweep
    runs = [c for d in q.datasets for c in sweep.configs(prevalence.base_config(q, d),
                                                          models=prevalence.architectures(q, d), seeds=q.seeds)]
    every = runs + prevalence.budget_configs(q) + prevalence.full_data_configs(q)
    assert every and {c.precision for c in every} == {"bf16"}
    assert prevalence.base_config(q, "fashion-mnist").key() != PREVALENCE_BASE["fashion-mnist"]
    # the same config with precision left out (the field's default) has the fp32 key
    assert dataclasses.replace(prevalence.base_config(q, "fashion-mnist"), precision="fp32").key() == \
        PREVALENCE_BASE["fashion-mnist"]


def test_prevalence_describe_says_precision_only_when_not_fp32():
    assert prevalence._precision_text("fp32") == ""
    assert "precision `bf16`" in prevalence._precision_text("bf16")


def test_representation_configs_carry_precision():
    p, q = representation.Params(), representation.Params(precision="bf16")
    for d in p.datasets:
        assert representation._base_config(p, d).key() == PREVALENCE_BASE[d]  # the prevalence chapter's runs
        assert representation._base_config(q, d).precision == "bf16"
    a = {"profile_name": "laptop", "datasets": "fashion-mnist", "long_tail_ratio": 10.0, "n_boot": 10}
    assert "Precision" not in representation._profile_text(xr.Dataset(attrs=a))
    assert "Precision `bf16`" in representation._profile_text(xr.Dataset(attrs={**a, "precision_asked": "bf16"}))


def test_representation_asks_the_pretrained_probe_in_its_precision(monkeypatch):
    from fairnotes.jobs import probe
    got = []

    def fake_on_pretrained(model, dataset, **kw):
        got.append(kw.get("precision", "fp32"))
        raise _Stop

    monkeypatch.setattr(probe, "on_pretrained", fake_on_pretrained)
    for precision in ("fp32", "bf16"):
        with pytest.raises(_Stop):
            representation._compute(representation.Params(backbones=(), precision=precision), progress=False)
    assert got == ["fp32", "bf16"]


def test_pretrained_heads_key_unchanged_at_fp32_and_precision_reaches_the_features(monkeypatch):
    from fairnotes import _torch
    from fairnotes.jobs import features, probe
    p = representation.Params()
    kw = dict(source=p.pretrained_model, dataset="fashion-mnist", train_per_class=p.pretrained_train_per_class,
              knn_k=[p.knn_k])
    assert probe.HeadsConfig(**kw).key() == PRETRAINED_HEADS
    assert probe.HeadsConfig(**kw, precision="fp32").key() == PRETRAINED_HEADS
    # the precision that runs joins the key: bf16 where the device has it, else the fp32 heads are shared
    monkeypatch.setattr(_torch, "resolve_precision", lambda prec, device: (prec, None))
    assert probe.HeadsConfig(**kw, precision="bf16").key() != PRETRAINED_HEADS
    monkeypatch.setattr(_torch, "resolve_precision", lambda prec, device: ("fp32", "no native bf16"))
    assert probe.HeadsConfig(**kw, precision="bf16").key() == PRETRAINED_HEADS

    asked = []

    def fake_extract(source, dataset=None, split="train", **k):
        asked.append(k.get("precision", "fp32"))
        return xr.Dataset({"features": (("sample", "feature"), np.zeros((2, 3)))},
                          attrs={"precision_ran": k.get("precision", "fp32")})

    monkeypatch.setattr(features, "extract", fake_extract)
    monkeypatch.setattr(probe, "_evaluate", lambda *a, **k: xr.Dataset())
    ds = probe._on_pretrained(probe.HeadsConfig(**kw, precision="bf16"))
    assert asked == ["bf16", "bf16"] and ds.attrs["precision_ran"] == "bf16"
    asked.clear()
    ds = probe._on_pretrained(probe.HeadsConfig(**kw))
    assert asked == ["fp32", "fp32"] and "precision_ran" not in ds.attrs


def test_prediction_bias_configs_carry_precision():
    p = prediction_bias.Params()
    base = prediction_bias.base_config(p)
    div = dataclasses.replace(base, track=False, epochs=p.diversity_epochs, train_per_class=p.train_per_class)
    assert {"base": base.key(), "long_tail_0": prediction_bias.long_tail_config(p, 0).key(),
            "diversity_base": div.key()} == PREDICTION_BIAS
    q = prediction_bias.Params(precision="bf16")
    assert prediction_bias.base_config(q).precision == "bf16"
    assert prediction_bias.long_tail_config(q, 1).precision == "bf16"
    ds = xr.Dataset(coords={"seed": [0]}, attrs={"profile": "laptop", "train_minutes": 1.0})
    assert "precision" not in prediction_bias._profile_text(ds)
    assert "precision `bf16`" in prediction_bias._profile_text(ds.assign_attrs(precision_asked="bf16"))


def test_remedies_configs_carry_precision_simclr_pretraining_stays_fp32():
    from fairnotes.jobs import remedies as rem
    p = remedies.Params()
    assert {"base": remedies.base_config(p).key(), "long_base": remedies.long_base_config(p).key()} == REMEDIES
    q = remedies.Params(precision="bf16")
    base = remedies.base_config(q)
    assert base.precision == "bf16" and remedies.long_base_config(q).precision == "bf16"
    for spec in ("mixup", "cutmix", "focal", "simclr-finetune:epochs=8"):
        assert rem.plan(base, spec, 0).precision == "bf16"
    assert "precision" not in rem.plan(base, "simclr-finetune:epochs=8", 0).pretrain  # no such option there
    assert rem.plan(base, "baseline-probe", 0).run_config().precision == "bf16"


def test_remedies_profile_text_says_precision_only_when_not_fp32():
    from .test_remedies import _ranking, _runs
    ds = remedies.summarize(_runs(), _ranking(), n_boot=20)
    assert "precision" not in remedies.profile_text(ds)
    assert "precision `bf16`" in remedies.profile_text(ds.assign_attrs(precision_asked="bf16"))


# ------------------------------------------------------------------------------------------- features, LiT

def test_multilabel_features_carry_precision(monkeypatch):
    from fairnotes import data
    from fairnotes.jobs import features
    p = multilabel.Params()
    assert features.cache_path(p.backbone, p.dataset, "train", image_size=p.image_size,
                               max_per_class=p.max_per_class).name == MULTILABEL_TRAIN_FEATURES
    asked = []

    def fake_extract(source, dataset=None, split="train", **k):
        asked.append(k.get("precision", "fp32"))
        return xr.Dataset({"features": (("sample", "feature"), np.zeros((2, 3)))})

    monkeypatch.setattr(features, "extract", fake_extract)
    monkeypatch.setattr(data, "load", lambda *a, **k: [0, 1])
    multilabel._split(p, "train", False)
    multilabel._split(multilabel.Params(precision="bf16"), "val", False)
    assert asked == ["fp32", "bf16"]


def test_lit_configs_carry_precision_and_fp32_keys_are_unchanged():
    assert muse.Params().lit_config().key() == LIT["muse"]
    assert d3g.Params().lit_config(0, 0.0).key() == LIT["d3g_seed0_drop0"]
    assert d3g.Params().lit_config(0, 0.5).key() == LIT["d3g_seed0_drop0.5"]
    assert muse.Params().lit_config().precision == "fp32"
    m, d = muse.Params(precision="bf16").lit_config(), d3g.Params(precision="bf16").lit_config(0, 0.5)
    assert m.precision == "bf16" and d.precision == "bf16"
    assert m.key() != LIT["muse"] and d.key() != LIT["d3g_seed0_drop0.5"]
    from fairnotes.analysis._muse_jobs import lit_seed_configs
    assert {c.precision for c in lit_seed_configs(m, (0, 1, 2))} == {"bf16"}


class _Stop(Exception):
    pass


def _capture_create_embedder(monkeypatch):
    from fairnotes import data, zeroshot
    got = {}

    def fake(name, pretrained=None, **kw):
        got.update(kw, name=name)
        raise _Stop

    monkeypatch.setattr(zeroshot, "create_embedder", fake)
    monkeypatch.setattr(data, "load", lambda *a, **k: types.SimpleNamespace(class_names=["a", "b"]))
    return got


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_paper_profiles_build_the_open_clip_embedder_in_that_precision(monkeypatch, precision):
    from fairnotes.analysis._muse_paper import paper_predictions
    got = _capture_create_embedder(monkeypatch)
    p = muse.Params(model="ViT-B-32", dataset="flowers102", precision=precision)
    with pytest.raises(_Stop):
        paper_predictions(p, {"generated-1": {"kind": "generated", "per_class": 1}})
    assert got == {"name": "ViT-B-32", "precision": precision}
    got.clear()
    with pytest.raises(_Stop):
        d3g._paper_compute(d3g.Params(model="ViT-B-32", precision=precision))
    assert got == {"name": "ViT-B-32", "precision": precision}


def _trunk_key(monkeypatch, embedder) -> tuple[dict, str]:
    """The key fields and file tag :func:`image_embeddings` caches the LiT trunk features of two images under."""
    from fairnotes.analysis import _muse_jobs as mj
    from fairnotes.zeroshot import _cache, lit
    seen = {}

    def fake_cached(folder, tag, key, compute, **kw):
        seen.update(folder=folder, tag=tag, key=key)
        return xr.Dataset({"features": (("sample", "feature"), np.zeros((2, 3), np.float32))})

    monkeypatch.setattr(_cache, "cached_dataset", fake_cached)
    monkeypatch.setattr(lit, "_project", lambda emb, img=None, txt=None: img)
    images = np.arange(2 * 3 * 32 * 32, dtype=np.uint8).reshape(2, 3, 32, 32)
    mj.image_embeddings(embedder, images, lit_cfg=muse.Params().lit_config(), tag="muse-heldout",
                        selection={"muse": "held-out emoji"})
    return seen["key"], seen["tag"]


def _lit_like(**attrs):
    return types.SimpleNamespace(model=types.SimpleNamespace(visual=types.SimpleNamespace(trunk=object())), **attrs)


def test_muse_trunk_feature_key_holds_the_precision_that_ran_only_when_not_fp32(monkeypatch):
    from fairnotes.results import config_hash
    from fairnotes.zeroshot._cache import data_identity
    from fairnotes.zeroshot._lit_model import towers_identity
    images = np.arange(2 * 3 * 32 * 32, dtype=np.uint8).reshape(2, 3, 32, 32)
    before = {"towers": towers_identity(), "stage": "image trunk (pooled)", "image_size": 128,
              "data": data_identity(images, name="emoji-captions", split="muse-heldout",
                                    selection={"muse": "held-out emoji"})}  # the key as it was
    for emb in (_lit_like(), _lit_like(precision="fp32")):  # fp32, or bf16 asked where it fell back to fp32
        key, tag = _trunk_key(monkeypatch, emb)
        assert key == before and config_hash(key) == config_hash(before) and tag == "lite0-128px-muse-heldout"
    key, _ = _trunk_key(monkeypatch, _lit_like(precision="bf16"))
    assert key["towers"] == {**towers_identity(), "precision": "bf16"}
    assert config_hash(key) != config_hash(before)
