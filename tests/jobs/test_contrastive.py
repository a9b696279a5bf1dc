from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from fairnotes.jobs import contrastive, train


def _tiny(tmp_path, **kw):
    base = dict(dataset="digits", model="cnn", model_kwargs={"width": 4}, epochs=2, batch_size=32,
                train_per_class=10, flip=False, device="cpu", profile="tiny", progress=False,
                checkpoint_dir=str(tmp_path / "pre"))
    base.update(kw)
    return contrastive.ContrastiveConfig(**base)


def test_nt_xent_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 4, generator=g)
    tau = 0.5
    u = z / z.norm(dim=1, keepdim=True)
    total = 0.0
    for i in range(6):
        j = (i + 3) % 6
        sims = [math.exp(float(u[i] @ u[k]) / tau) for k in range(6) if k != i]
        total += -math.log(math.exp(float(u[i] @ u[j]) / tau) / sum(sims))
    assert float(contrastive.nt_xent(z, tau)) == pytest.approx(total / 6, rel=1e-5)


def test_bad_config_names_the_problem(tmp_path):
    with pytest.raises(ValueError, match="crop_scale"):
        _tiny(tmp_path, crop_scale=[0.5, 0.2])
    with pytest.raises(ValueError, match="temperature"):
        _tiny(tmp_path, temperature=0)
    with pytest.raises(ValueError, match="unknown model"):
        _tiny(tmp_path, model="bogusnet")


class _Killed(Exception):
    pass


def test_run_saves_an_encoder_and_resumes_bit_identically(tmp_path, one_torch_thread):
    full = contrastive.run(_tiny(tmp_path, checkpoint_dir=str(tmp_path / "full")))
    assert full["loss"].dims == ("epoch",) and np.isfinite(full["loss"]).all()
    assert full.attrs["n_train"] == 100 and full.attrs["resumed_from_epoch"] == 0
    cfg = _tiny(tmp_path, checkpoint_dir=str(tmp_path / "killed"))

    def kill(epoch, history):
        if epoch == 1:
            raise _Killed

    with pytest.raises(_Killed):
        contrastive.run(cfg, on_epoch_end=kill)
    resumed = contrastive.run(cfg)
    assert resumed.attrs["resumed_from_epoch"] == 1
    np.testing.assert_array_equal(resumed["loss"], full["loss"])
    a = contrastive.encoder_state(_tiny(tmp_path, checkpoint_dir=str(tmp_path / "full")))
    b = contrastive.encoder_state(cfg)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_finetune_starts_from_the_encoder_but_keeps_its_own_classifier(tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.setenv("FAIRNOTES_CACHE", str(tmp_path / "cache"))
    pre = _tiny(tmp_path, epochs=1, checkpoint_dir=None)
    state = contrastive.encoder_state(pre)  # pre-trains through the results cache
    from fairnotes import models
    net = models.create("cnn", 10, 1, 8, width=4)
    fc_before = net.fc.weight.detach().clone()
    contrastive.load_backbone(net, state)
    assert torch.equal(net.body[0].weight, state["body.0.weight"])
    assert torch.equal(net.fc.weight, fc_before)
    pre_dict = {k: v for k, v in dataclasses.asdict(pre).items() if k not in ("checkpoint_dir", "progress")}
    cfg = train.TrainConfig(dataset="digits", model="cnn", model_kwargs={"width": 4}, epochs=1, batch_size=32,
                            train_per_class=10, device="cpu", progress=False, pretrain=pre_dict,
                            checkpoint_dir=str(tmp_path / "ft"))
    ds = train.run(cfg)
    assert ds.attrs["n_train"] == 100 and np.isfinite(ds["train_loss"]).all()
    with pytest.raises(ValueError, match="does not fit"):
        contrastive.load_backbone(models.create("cnn", 10, 1, 8, width=8), state)
