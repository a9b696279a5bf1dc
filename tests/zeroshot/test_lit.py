"""The laptop LiT model (real frozen EfficientNet-Lite0 + MiniLM towers) on tiny synthetic emoji stand-ins."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fairnotes.zeroshot import _lit_eval as ev

from emoji_fakes import make

fake_captions, fake_emojiprof = make()


@pytest.fixture()
def fake_data(monkeypatch):
    from fairnotes import data
    monkeypatch.setattr(data, "emoji_captions", fake_captions)
    monkeypatch.setattr(data, "load", fake_emojiprof)


def test_train_save_reload(fake_data, one_torch_thread, tmp_path, capsys):
    from safetensors.torch import load_file

    from fairnotes.results import cached
    from fairnotes.zeroshot import lit
    cfg = lit.LitConfig(image_size=32, epochs=12, batch_size=16, lr=3e-3, n_boot=50, holdout_fraction=0.34,
                        eval_styles=("google", "twitter"), progress=False)
    ds = cached(lit.run, cfg)
    loss = ds["train_loss"].values
    assert loss[-1] < 0.8 * loss[0]  # the projections learn the captions
    assert set(ds["task"].values) == {"profession", "skin_tone", "gender"}
    np.testing.assert_allclose(ds["chance"].values, [1 / 4, 1 / 5, 1 / 2])
    acc = ds["accuracy"]
    assert ((acc >= 0) & (acc <= 1) | acc.isnull()).all()
    assert int(ds["n"].sel(task="skin_tone", group="all")) == 4 * 3 * 5 * 2  # no-tone images excluded
    assert int(ds["n"].sel(task="gender", group="all")) == 4 * 2 * 6 * 2  # person excluded
    assert np.isnan(float(acc.sel(task="gender", group="gender=person")))
    assert np.isnan(float(acc.sel(task="skin_tone", group="skin_tone=none")))
    assert (ds["accuracy_lower"] <= acc + 1e-12).where(acc.notnull(), True).all()
    assert ds.attrs["n_heldout_groups"] == 2 and ds.attrs["n_train_pairs"] > 0
    # text weight 1 is plain zero-shot
    assert float(ds["support_accuracy"].sel(w=1.0)) == pytest.approx(float(acc.sel(task="profession", group="all")))
    # recall@k is monotone in k and beats nothing less than zero
    assert np.all(np.diff(ds["recall"].values, axis=1) >= 0)
    # projections: only the trained keys, and the reloaded embedder reproduces the trained one
    state = load_file(str(lit.projections_path(cfg)))
    assert set(state) == {"logit_scale", "visual.head.mlp.fc1.weight", "visual.head.mlp.fc1.bias",
                          "visual.head.mlp.fc2.weight", "text.proj.0.weight", "text.proj.2.weight"}
    emb = lit.load_embedder(cfg)
    from fairnotes.zeroshot._lit_model import image_trunk_features, load_projections, text_tower_features
    # the reloaded embedder applies exactly the saved projections to the frozen towers' features
    gelu = lambda v: 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2)))  # noqa: E731
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    w = {k: v.numpy().astype(np.float64) for k, v in state.items()}
    f = text_tower_features(emb, ["red square", "dark skin tone"])
    hand = unit(gelu(f @ w["text.proj.0.weight"].T) @ w["text.proj.2.weight"].T)
    np.testing.assert_allclose(emb.encode_text(["red square", "dark skin tone"]), hand, atol=1e-5)
    imgs = fake_captions().images[:3]
    g = image_trunk_features(emb, imgs)
    hand = unit(gelu(g @ w["visual.head.mlp.fc1.weight"].T + w["visual.head.mlp.fc1.bias"])
                @ w["visual.head.mlp.fc2.weight"].T)
    np.testing.assert_allclose(emb.encode_images(imgs), hand, atol=1e-5)
    assert emb.identity()["weights_tag"] == f"lit:{cfg.key()}"
    bad = dict(state)
    bad.pop("logit_scale")
    from safetensors.torch import save_file
    save_file(bad, str(lit.projections_path(cfg).with_name("bad.safetensors")))
    with pytest.raises(RuntimeError, match="do not match"):
        load_projections(emb.model, lit.projections_path(cfg).with_name("bad.safetensors"))
    # the second call is a cache hit; the command line builds the same config and writes the result
    assert cached(lit.run, cfg).attrs["cache"].startswith("hit")
    out = tmp_path / "lit.nc"
    sets = ["image_size=32", "epochs=12", "batch_size=16", "lr=0.003", "n_boot=50", "holdout_fraction=0.34",
            "eval_styles=[google, twitter]", "progress=false"]
    assert lit.main([a for kv in sets for a in ("--set", kv)] + ["--out", str(out)]) == 0
    from fairnotes.results import load
    written = load(out)
    assert written.attrs["config_hash"] == ds.attrs["config_hash"] and "cache" not in written.attrs
    assert "zero-shot profession" in capsys.readouterr().out


def test_lit_model_is_open_clip_with_frozen_towers(one_torch_thread):
    import open_clip

    from fairnotes.zeroshot._lit_model import LIT_NAME, create_lit_model
    model, tok, name = create_lit_model(image_size=32)
    assert name == LIT_NAME and name in open_clip.list_models()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"logit_scale", "visual.head.mlp.fc1.weight", "visual.head.mlp.fc1.bias",
                         "visual.head.mlp.fc2.weight", "text.proj.0.weight", "text.proj.2.weight"}
    assert type(model).__name__ == "CustomTextCLIP"
    assert model.visual.preprocess_cfg["mean"] == (0.5, 0.5, 0.5)


def test_config_checks():
    from fairnotes.zeroshot.lit import LitConfig
    with pytest.raises(ValueError, match="image_size"):
        LitConfig(image_size=16)
    with pytest.raises(ValueError, match="templates keys"):
        LitConfig(templates={"race": "{}"})
    assert LitConfig().key() == LitConfig(progress=True).key()
    assert LitConfig().key() != LitConfig(seed=1).key()


def test_recall_at_k_matches_brute_force():
    rng = np.random.default_rng(0)
    q, c = rng.normal(size=(9, 4)), rng.normal(size=(13, 4))
    pos = rng.random((9, 13)) < 0.15
    pos[0] = False  # a query without positives is skipped
    rec, chance = ev.recall_at_k(q, c, pos, (1, 3, 13))
    keep = pos.any(1)
    sims = q @ c.T
    for j, k in enumerate((1, 3, 13)):
        hits = [pos[i, np.argsort(-sims[i])[:k]].any() for i in np.flatnonzero(keep)]
        assert rec[j] == pytest.approx(np.mean(hits))
        n = 13
        ch = [1 - math.comb(n - p, k) / math.comb(n, k) for p in pos[keep].sum(1)]
        assert chance[j] == pytest.approx(np.mean(ch))


def test_group_accuracy_matches_masks():
    rng = np.random.default_rng(1)
    correct = rng.random(200) < 0.6
    group = rng.choice(["a", "b", "c"], size=200)
    acc, lo, hi, n = ev.group_accuracy(correct, group, ["a", "b", "c", "d"], n_boot=200, seed=0)
    for i, g in enumerate("abc"):
        assert acc[i] == pytest.approx(correct[group == g].mean())
        assert n[i] == (group == g).sum()
        assert lo[i] <= acc[i] <= hi[i]
    assert np.isnan(acc[3]) and n[3] == 0


def test_holdout_is_by_group():
    groups = np.repeat(np.arange(10), 7)
    m = ev.holdout_mask(groups, 0.2, seed=3)
    assert len(np.unique(groups[m])) == 2
    assert not set(groups[m]) & set(groups[~m])


def test_cross_style_supports_is_nearest_mean_of_other_styles_at_w0():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 6))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.tile(np.arange(4), 10)
    style = np.repeat(["a", "b"], 20)
    text = rng.normal(size=(4, 6))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    got = ev.cross_style_supports(x, y, style, text, [0.0, 1.0])
    for s, o in (("a", "b"), ("b", "a")):
        means = np.stack([x[(style == o) & (y == c)].mean(0) for c in range(4)])
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        here = style == s
        np.testing.assert_array_equal(got[0, here], (x[here] @ means.T).argmax(1) == y[here])
        np.testing.assert_array_equal(got[1, here], (x[here] @ text.T).argmax(1) == y[here])
