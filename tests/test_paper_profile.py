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


def test_imagenet_model_with_your_own_weights_on_your_validation_folder(tmp_path):
    """Evaluation only: the chapter's ImageNet config for ``NAME:weights=FILE`` loads the file (no download) and
    its logits are the in-memory model's (torch oracle)."""
    from PIL import Image
    from safetensors.torch import save_file

    from fairnotes import analysis
    from fairnotes.analysis import prevalence
    rng = np.random.default_rng(1)
    classes = ("n01440764", "n01443537")
    for cls in classes:
        (tmp_path / "val" / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "val" / cls / f"{i}.png")
    torch.manual_seed(5)  # not the job's seed 0: a random model would not match
    net = models.create("resnet10t", num_classes=2, in_chans=3, image_size=32).eval()
    ckpt = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(ckpt))
    p = analysis.check_params("prevalence", {"imagenet_models": [f"resnet10t:weights={ckpt}"],
                                             "imagenet_root": str(tmp_path)})
    cfg = prevalence.imagenet_configs(prevalence.Params(**p))[f"resnet10t:weights={ckpt}"]
    assert cfg.model == "resnet10t" and cfg.model_kwargs == {"weights": str(ckpt)}
    cfg = __import__("dataclasses").replace(cfg, image_size=32, batch_size=4, num_workers=0, progress=False,
                                           device="cpu")
    ds = evaluate.run(cfg)
    assert ds.sizes["sample"] == 4 and set(ds["target"].values) == {0, 1}
    from fairnotes import data
    from fairnotes import augment
    folder = data.load("imagenet", "val", root=str(tmp_path), size=32)
    images = np.stack([np.asarray(folder.images[i]) for i in range(len(folder))])
    mean, std = models.normalization(net, 3)
    x = augment.to_float(torch.from_numpy(np.ascontiguousarray(images)), mean, std, size=32)
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(ds["logits"].values, want, rtol=1e-4, atol=1e-4)
