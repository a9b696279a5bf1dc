from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fairnotes import results
from fairnotes.jobs import _tracking, train

K = 10
TRACK = dict(track=True, track_every_steps=2, track_early_epochs=2)


def _linear_batch(b=24, f=5, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(b, f, generator=g)
    fc = torch.nn.Linear(f, k)
    torch.nn.init.normal_(fc.weight, generator=g)
    y = torch.randint(0, k, (b,), generator=g)
    return h, fc, y


@pytest.mark.parametrize("soft", [False, True])
def test_gradient_split_adds_up_to_autograd(soft):
    h, fc, y = _linear_batch()
    k, f = fc.out_features, fc.in_features
    target = y
    if soft:  # a Mixup-like target: 0.7 on y, 0.3 on another class
        other = (y + 1) % k
        target = 0.7 * F.one_hot(y, k).float() + 0.3 * F.one_hot(other, k).float()
    logits = fc(h)
    F.cross_entropy(logits, target, reduction="sum").backward()
    packed = _tracking.batch_stats(logits, target, h, k)
    g_pos = packed[:, 5:5 + f]
    g_neg = packed[:, 5 + f:]
    torch.testing.assert_close(g_pos + g_neg, fc.weight.grad.double(), rtol=1e-5, atol=1e-5)
    # the positive part is the gradient from the class's own samples alone (oracle: autograd on a mask)
    for c in range(k):
        fc.zero_grad()
        mine = y == c
        F.cross_entropy(fc(h)[mine], target[mine], reduction="sum").backward()
        torch.testing.assert_close(g_pos[c], fc.weight.grad[c].double(), rtol=1e-5, atol=1e-5)
    s = _tracking.summarize(packed)
    np.testing.assert_allclose(s["grad_pos"], g_pos.norm(dim=1).numpy())
    np.testing.assert_allclose(s["grad_neg"], g_neg.norm(dim=1).numpy())


def test_counts_are_consistent():
    h, fc, y = _linear_batch(b=200, k=6, seed=1)
    logits = fc(h).detach()
    s = {key: np.asarray(v) for key, v in _tracking.summarize(_tracking.batch_stats(logits, y, h, 6)).items()}
    pred = logits.argmax(1).numpy()
    assert s["predicted"].sum() == 200
    np.testing.assert_array_equal(s["tp"] + s["fn"], np.bincount(y.numpy(), minlength=6))
    np.testing.assert_array_equal(s["predicted"], s["tp"] + s["fp"])
    np.testing.assert_array_equal(s["predicted"], np.bincount(pred, minlength=6))
    np.testing.assert_array_equal(s["tp"], np.bincount(y.numpy()[pred == y.numpy()], minlength=6))


def test_gp_gn_hand_example():
    # p rows: sample 0 (class 0) [0.5, 0.5, 0]; sample 1 (class 1) [0.2, 0.6, 0.2]; sample 2 (class 1) [0.1, 0.1, 0.8]
    p = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8]])
    logits = torch.log(p.clamp_min(1e-30))
    y = torch.tensor([0, 1, 1])
    s = _tracking.summarize(_tracking.batch_stats(logits, y, torch.zeros(3, 2), 3))
    np.testing.assert_allclose(s["gp"][:2], [0.5, (0.6 + 0.1) / 2], rtol=1e-6)
    assert np.isnan(s["gp"][2])  # class 2 has no samples
    np.testing.assert_allclose(s["gn"], [(0.2 + 0.1) / 2, 0.5, (0.0 + 0.2 + 0.8) / 3], rtol=1e-6)
    np.testing.assert_allclose(s["gp_sum"], [0.5, 0.7, 0.0], atol=1e-6)
    np.testing.assert_allclose(s["gn_sum"], [0.3, 0.5, 1.0], rtol=1e-6)
    assert s["predicted"] == [1, 1, 1] and s["tp"] == [1, 1, 0]  # sample 0 ties 0/1: argmax takes 0


def test_feature_stats_hand_example():
    x = np.array([[0, 0], [2, 0], [10, 0], [10, 4], [0, 5]], dtype=float)
    y = np.array([0, 0, 1, 1, 2])
    s = _tracking.feature_stats(x, y, 4)
    np.testing.assert_allclose(s["feature_variance"][:3], [1.0, 4.0, 0.0])  # means (1,0), (10,2), (0,5)
    np.testing.assert_allclose(s["nearest_mean_distance"][:3], [np.hypot(1, 5), np.hypot(9, 2), np.hypot(1, 5)])
    assert np.isnan(s["feature_variance"][3]) and np.isnan(s["nearest_mean_distance"][3])


# computed from TrainConfig.key() before the tracking fields existed
KEY_DEFAULT, KEY_DIGITS_MLP = "dc14a2d1d1c4", "d56e252d17c2"


def test_track_false_keeps_the_cache_key():
    assert train.TrainConfig().key() == KEY_DEFAULT
    assert train.TrainConfig(dataset="digits", model="mlp").key() == KEY_DIGITS_MLP
    # tracking fields do not matter when track is off, and make a new key when it is on
    assert train.TrainConfig(track_every_steps=7, track_feature_epochs=[1]).key() == KEY_DEFAULT
    on = train.TrainConfig(track=True)
    assert on.key() != KEY_DEFAULT
    assert train.TrainConfig(track=True, track_every_steps=7).key() != on.key()


@pytest.mark.parametrize("kw", [{"track_every_steps": 0}, {"track_early_epochs": -1},
                                {"track_feature_epochs": [11]}, {"track_feature_epochs": 3}])
def test_bad_tracking_fields(kw):
    with pytest.raises(ValueError, match="track_"):
        train.TrainConfig(dataset="digits", model="mlp", epochs=10, **kw)


def test_schema_with_tracking(tiny, tmp_path):
    # 120 images, batch 32: 4 steps an epoch; intervals of 2 steps in both epochs
    ds = train.run(tiny(**TRACK, track_feature_epochs=[1, 2]))
    plain = train.run(tiny(checkpoint_dir=str(tmp_path / "plain")))
    assert set(plain.data_vars) <= set(ds.data_vars)
    assert "features" not in ds  # tracking's test features are not saved unless asked
    for name in _tracking.PER_CLASS:
        assert ds[f"track_{name}"].dims == ("epoch", "label")
        assert ds[f"step_{name}"].dims == ("step", "label")
    assert ds["step"].values.tolist() == [2, 4, 6, 8] and ds["step_epoch"].values.tolist() == [1, 1, 2, 2]
    assert ds["feature_variance"].dims == ("feature_epoch", "label")
    assert ds["feature_epoch"].values.tolist() == [1, 2]
    assert ds["track_samples"].values.tolist() == [120, 120]
    np.testing.assert_array_equal(ds["track_support"], np.full((2, K), 12))
    np.testing.assert_array_equal(ds["track_predicted"].sum("label"), [120, 120])
    np.testing.assert_array_equal(ds["track_tp"] + ds["track_fp"], ds["track_predicted"])
    # the epoch is the sum of its step intervals
    for name in ("predicted", "tp", "fp", "fn", "gp_sum", "gn_sum"):
        by_epoch = ds[f"step_{name}"].groupby(ds["step_epoch"]).sum().values
        np.testing.assert_allclose(by_epoch, ds[f"track_{name}"].values, rtol=1e-12)
    assert (ds["track_grad_pos"] > 0).all() and (ds["track_grad_neg"] > 0).all()
    assert np.isfinite(ds["feature_variance"]).all() and (ds["nearest_mean_distance"] > 0).all()
    back = results.load(results.save(ds, tmp_path / "r.nc"))
    np.testing.assert_array_equal(back["step_gp"], ds["step_gp"])


def test_tracking_does_not_change_training(tiny, tmp_path):
    a = train.run(tiny(checkpoint_dir=str(tmp_path / "a")))
    b = train.run(tiny(checkpoint_dir=str(tmp_path / "b"), **TRACK, save_features=True))
    np.testing.assert_array_equal(a["logits"], b["logits"])
    np.testing.assert_array_equal(a["train_loss"], b["train_loss"])
    # the final epoch's test-feature stats come from the saved features
    fs = _tracking.feature_stats(b["features"].values, b["target"].values, K)
    np.testing.assert_allclose(b["feature_variance"].sel(feature_epoch=2), fs["feature_variance"], rtol=1e-6)


class _Killed(Exception):
    pass


def test_resume_equals_uninterrupted_with_tracking(tiny, tmp_path):
    kw = dict(epochs=3, **TRACK, track_feature_epochs=[1, 3])
    full = train.run(tiny(checkpoint_dir=str(tmp_path / "full"), **kw))

    def kill_after_first(epoch, history):
        if epoch == 1:
            raise _Killed

    cfg = tiny(checkpoint_dir=str(tmp_path / "killed"), **kw)
    with pytest.raises(_Killed):
        train.run(cfg, on_epoch_end=kill_after_first)
    resumed = train.run(cfg)
    assert resumed.attrs["resumed_from_epoch"] == 1
    names = [v for v in full.data_vars if v.startswith(("track_", "step_", "feature_", "nearest_"))]
    assert len(names) == 2 * len(_tracking.PER_CLASS) + 5  # + samples (2), step_epoch, 2 feature stats
    for v in names:
        np.testing.assert_array_equal(resumed[v], full[v], err_msg=v)
    assert resumed["step"].values.tolist() == full["step"].values.tolist() == [2, 4, 6, 8]
