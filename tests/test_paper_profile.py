"""The paper profile's parameter sets, exercised with random-weight models (no downloads, CPU)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fairnotes import models
from fairnotes.jobs import evaluate, sweep, train
from fairnotes.runner import parameters

ROOT = Path(__file__).resolve().parents[1]
PROFILES = yaml.safe_load((ROOT / "book" / "profiles.yaml").read_text())


def test_every_profile_names_only_real_parameters():
    for chapter, profiles in PROFILES.items():
        known = set(parameters(chapter, ROOT))
        for profile, params in profiles.items():
            assert set(params or {}) <= known, f"{chapter}/{profile}: {set(params) - known}"


@pytest.mark.parametrize("spec", sorted(set(PROFILES["prevalence"]["paper"]["models"]
                                            + PROFILES["prevalence"]["paper"]["capacity"])))
def test_paper_training_models_build_and_run_on_cifar_shapes(spec):
    p = PROFILES["prevalence"]["paper"]
    name, kwargs = sweep.parse_model(spec)
    cfg = train.TrainConfig(dataset=p["datasets"][0], model=name, model_kwargs=kwargs, epochs=p["epochs"],
                            optimizer=p["optimizer"], lr=p["lr"], augment=p["augment"], profile="paper")
    assert cfg.model == name  # config validation accepted the timm name
    torch.manual_seed(0)
    net = models.create(name, num_classes=100, in_chans=3, image_size=32, **kwargs).eval()
    with torch.inference_mode():
        out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 100) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", PROFILES["prevalence"]["paper"]["imagenet_models"])
def test_paper_imagenet_models_evaluate_on_an_imagefolder(name, tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for cls in ("n01440764", "n01443537"):
        (tmp_path / "val" / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "val" / cls / f"{i}.png")
    cfg = evaluate.EvalConfig(dataset="imagenet", split="val", model=name, pretrained=False, image_size=64,
                              data_root=str(tmp_path), batch_size=4, num_workers=0, progress=False)
    ds = evaluate.run(cfg)
    # random weights over 1,000 ImageNet classes, scored against our two folders' labels
    assert ds.sizes["sample"] == 4 and ds["logits"].shape[0] == 4
    assert set(ds["target"].values) == {0, 1}
