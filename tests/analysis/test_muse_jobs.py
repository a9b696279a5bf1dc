"""The laptop data path of the MuSE chapter on tiny synthetic emoji and the tiniest LiT settings (offline)."""
from __future__ import annotations

import numpy as np
import pytest

from emoji_fakes import SHAPES, make
from fairnotes.analysis import _muse_jobs as mj

STYLES = ("google", "twitter", "openmoji", "fluent")

# four styles, each with its own mark; only every other emoji has skin-tone variants
fake_captions, fake_emojiprof = make(style_order=STYLES, style_bar=4, tones_every=2)


@pytest.fixture()
def fake_data(monkeypatch):
    from fairnotes import data
    monkeypatch.setattr(data, "emoji_captions", fake_captions)
    monkeypatch.setattr(data, "load", fake_emojiprof)


def tiny_cfg(seed=0):
    from fairnotes.zeroshot.lit import LitConfig
    return LitConfig(image_size=32, epochs=2, batch_size=16, lr=3e-3, n_boot=20, holdout_fraction=0.5,
                     eval_styles=("google", "twitter"), progress=False, seed=seed)


def test_heldout_groups_match_lit_holdout(fake_data):
    from fairnotes.zeroshot._lit_eval import holdout_mask
    cfg = tiny_cfg()
    caps = fake_captions(cfg.styles)
    held = holdout_mask(caps.labels, cfg.holdout_fraction, cfg.seed)
    assert mj.heldout_groups(cfg) == tuple(sorted({SHAPES[i] for i in caps.labels[held]}))
    assert len(mj.heldout_groups(cfg)) == 3


def test_roles_disjoint_and_deterministic():
    r = mj.assign_roles(STYLES, seed=3)
    assert mj.assign_roles(STYLES, seed=3) == r
    flat = [s for v in r.values() for s in v]
    assert sorted(flat) == sorted(STYLES) and len(r["query"]) == len(r["validation"]) == 1
    r = mj.assign_roles(STYLES, query=["google"], support=["openmoji", "fluent"])
    assert r == {"query": ("google",), "validation": ("twitter",), "support": ("openmoji", "fluent")}
    with pytest.raises(ValueError, match="disjoint"):
        mj.assign_roles(STYLES, query=["google"], support=["google"])
    with pytest.raises(ValueError, match="no style left"):
        mj.assign_roles(("google", "twitter"), query=["google"], validation=["twitter"])


def test_split_styles_never_shared(fake_data):
    cfg = tiny_cfg()
    split = mj.laptop_split(cfg, seed=1)
    by_role = {r: set(split["style"].values[split["role"].values == r]) for r in mj.ROLES}
    assert all(by_role.values())
    assert not (by_role["query"] & by_role["support"]) and not (by_role["validation"] & by_role["support"])
    assert not (by_role["query"] & by_role["validation"])
    assert set(split["class_name"].values) == set(mj.heldout_groups(cfg))
    caps = fake_captions(STYLES)
    np.testing.assert_array_equal(np.asarray(caps.class_names)[caps.labels[split["index"].values]],
                                  split["class_name"].values[split["label"].values])
    again = mj.laptop_split(cfg, seed=1)
    assert again.identical(split)
    capped = mj.laptop_split(cfg, seed=1, max_per_class=1)
    for r in mj.ROLES:
        lab = capped["label"].values[capped["role"].values == r]
        assert np.bincount(lab).max() == 1


def test_retrieval_precision_by_hand():
    text = np.array([[1.0, 0.0], [0.0, 1.0]])
    pool = np.array([[1.0, 0.1], [0.9, 0.5], [0.1, 1.0], [0.6, 0.8]])
    pool_labels = np.array([0, 1, 1, -1])
    se, sl, idx, prec = mj.retrieved_supports(text, pool, pool_labels, k=2)
    # class 0 retrieves rows 0 (class 0) and 1 (class 1): 1/2; class 1 rows 2 (class 1) and 3 (no class): 1/2
    np.testing.assert_array_equal(idx, [[0, 1], [2, 3]])
    np.testing.assert_allclose(prec, [0.5, 0.5])
    np.testing.assert_array_equal(sl, [0, 0, 1, 1])
    np.testing.assert_allclose(se, pool[[0, 1, 2, 3]])
    _, _, _, prec = mj.retrieved_supports(text, pool, np.array([0, 0, 1, 1]), k=2)
    np.testing.assert_allclose(prec, [1.0, 1.0])
    np.testing.assert_allclose(mj.retrieval_precision(np.array([[0, 0, 1], [0, 1, 1]]), 2), [2 / 3, 2 / 3])


def test_supports_and_summarize_end_to_end(fake_data, one_torch_thread):
    from fairnotes.analysis import muse
    cfg = tiny_cfg()
    split = mj.laptop_split(cfg, query=["google"], validation=["twitter"], support=["openmoji", "fluent"])
    emb = mj.laptop_embeddings(cfg, split, progress=False)
    assert emb["embedding"].shape[0] == split.sizes["image"] and emb["text"].shape[0] == split.sizes["class"]
    np.testing.assert_allclose(np.linalg.norm(emb["embedding"].values, axis=1), 1, atol=1e-5)
    again = mj.laptop_embeddings(cfg, split, progress=False)  # the re-run reads the cache
    assert again.attrs["image_cache"].startswith("hit") and again.attrs["text_cache"].startswith("hit")
    lab = mj.supports("labelled", emb)
    sup_rows = emb["role"].values == "support"
    assert (lab["label"].values == lab["true_label"].values).all()
    np.testing.assert_array_equal(lab["label"].values, emb["label"].values[sup_rows])
    assert set(emb["style"].values[sup_rows]) == {"openmoji", "fluent"}
    ret = mj.supports("retrieved", emb, k=3)
    p = ret["precision"].values
    assert ((p >= 0) & (p <= 1)).all() and (ret["n_supports"].values == 3).all()
    np.testing.assert_allclose(p, [(ret["true_label"].values[ret["label"].values == c] == c).mean()
                                   for c in range(emb.sizes["class"])])
    ws = [0.0, 0.5, 1.0]
    vp, yv, tp, yt, names, info = mj.predictions_for([0, 1], cfg, kind="labelled", vary="supports", ws=ws,
                                                     split_kw={"query": ["google"], "validation": ["twitter"],
                                                               "support": ["openmoji", "fluent"]},
                                                     support_kw={"per_class": 1})
    assert vp.dims == ("seed", "w", "sample") and tp.shape == (2, 3, yt.size)
    assert (info["n_supports"].values == 1).all() and (info["precision"].values == 1).all()
    ds = muse.summarize(vp, yv, tp, yt, names, n_boot=30)
    assert set(ds["entry"].values) == set(muse.ENTRIES)
    # w = 1 is text-only zero-shot
    text_pred = (emb["embedding"].values[emb["role"].values == "query"] @ emb["text"].values.T).argmax(1)
    np.testing.assert_array_equal(tp.sel(w=1.0).values[0], text_pred)
    vp, yv, tp, yt, names, info = mj.predictions_for([0], cfg, kind="retrieved", ws=ws,
                                                     split_kw={"query": ["google"], "validation": ["twitter"],
                                                               "support": ["openmoji", "fluent"]},
                                                     support_kw={"k": 2})
    assert ((info["precision"] >= 0) & (info["precision"] <= 1)).all()
    muse.summarize(vp, yv, tp, yt, names, n_boot=30)


def test_lit_seeds_share_held_out_emoji(fake_data):
    cfgs = mj.lit_seed_configs(tiny_cfg(3), [3, 4, 5])
    assert [c.seed for c in cfgs] == [3, 4, 5] and len({c.key() for c in cfgs}) == 3
    assert {mj.heldout_groups(c) for c in cfgs} == {mj.heldout_groups(tiny_cfg(3))}
    assert cfgs[0].key() == tiny_cfg(3).key()  # seed 3 holding out its own draw is the plain seed-3 run
    with pytest.raises(ValueError, match="kind must be one of"):
        mj.laptop_predictions([0], tiny_cfg(), {"x": {"kind": "painted"}})


def test_wider_pool_and_lit_seeds_sharing_classes(fake_data, one_torch_thread):
    from fairnotes.analysis import muse
    roles = {"query": ["google"], "validation": ["twitter"], "support": ["openmoji", "fluent"]}
    settings = {"r2": {"kind": "retrieved", "k": 2}, "l1": {"kind": "labelled", "per_class": 1}}
    res = mj.laptop_predictions([0, 1], tiny_cfg(0), settings, pool="styles", ws=[0.0, 1.0], split_kw=roles)
    vp, yv, tp, yt, names, info = res["r2"]
    assert list(info["seed"].values) == [0, 1] and len(names) == 3
    assert ((info["precision"] >= 0) & (info["precision"] <= 1)).all()
    assert info["retrieved_row"].shape == (2, 3, 2) and info.attrs["retrieved_from"] == ["openmoji", "fluent"]
    split = mj.laptop_split(tiny_cfg(0), **roles)
    pool = mj.pool_embeddings(tiny_cfg(0), split)
    # the rows name the pool images that were retrieved: their labels are the recorded true labels
    np.testing.assert_array_equal(pool["label"].values[info["retrieved_row"].values], info["retrieved_true"].values)
    assert pool.sizes["pool"] == len(fake_captions(("openmoji", "fluent")))
    assert set(pool["style"].values) == {"openmoji", "fluent"}
    assert (pool["label"].values == -1).sum() > 0 and set(pool["label"].values) == {-1, 0, 1, 2}
    muse.summarize(vp, yv, tp, yt, names, n_boot=30)
    # two LiT seeds are two models on the same images: the trunk features are computed once, for both
    c0, c1 = mj.lit_seed_configs(tiny_cfg(0), [0, 1])
    e0, e1 = mj.laptop_embeddings(c0, split), mj.laptop_embeddings(c1, split)
    assert e0.attrs["image_cache"].startswith("hit") and e1.attrs["image_cache"].startswith("hit")
    assert not np.allclose(e0["embedding"].values, e1["embedding"].values)
    lab = res["l1"][5]
    assert (lab["n_supports"].values == 1).all() and "retrieved_row" not in lab


def test_laptop_chapter_end_to_end_on_fakes(fake_data, one_torch_thread, monkeypatch):
    """muse.run on synthetic emoji with a tiny LiT: settings stacked, claims per kind, glue, views."""
    from fairnotes.analysis import VERDICTS, ParamError, _muse_views as views, muse
    p = muse.Params(profile="tiny", seeds=(0, 1), images_per_class=(1, 3), main_images=3, n_boot=30,
                    lit_epochs=2, lit_image_size=32, lit_holdout_fraction=0.5, retrieval_pool="styles")
    # the tiny LiT of these tests (the fakes have four emoji styles with their own marks)
    monkeypatch.setattr(muse.Params, "lit_config", lambda self: tiny_cfg(self.seeds[0]))
    ds = muse.run(p, progress=False)
    assert list(ds["setting"].values) == ["labelled-1", "labelled-3", "retrieved-1", "retrieved-3"]
    assert list(ds["kind"].values) == ["labelled", "labelled", "retrieved", "retrieved"]
    assert ds.sizes["seed"] == 2 and ds.sizes["label"] == 3 and ds.sizes["w"] == len(muse.W_GRID)
    # labelled supports are right by construction; retrieval precision is measured
    np.testing.assert_allclose(ds["precision"].sel(setting=["labelled-1", "labelled-3"]).values, 1.0)
    assert 0 <= float(ds["precision"].sel(setting="retrieved-3")) <= 1
    # retrieved rows: k columns used, the rest padded with −1; labelled settings hold none
    rows = ds["retrieved_row"]
    assert (rows.sel(setting="retrieved-1").values[:, 1:] == -1).all()
    assert (rows.sel(setting="retrieved-3").values >= 0).all() and (rows.sel(setting="labelled-1").values == -1).all()
    # the text-only entry is the same classifier in every setting
    np.testing.assert_allclose(ds["recall"].sel(entry="text").values, float(ds["recall"].sel(
        setting="labelled-1", entry="text")))
    c = muse.claims(ds)
    assert {str(i).split(":")[1] for i in c["claim"].values} == {"labelled", "retrieved"}
    assert c.sizes["claim"] == 8 and set(c["verdict"].values) <= set(VERDICTS)
    g = muse.glue_values(ds)
    assert {"mu_v_labelled_improves_accuracy", "mu_v_retrieved_narrows_disparity", "mu_labelled_gain_recall_heldout",
            "mu_retrieved_precision", "mu_answer"} <= set(g)
    assert g["mu_labelled_setting"] == "labelled-3" and "labelled" in g["mu_answer"] and "retrieved" in g["mu_answer"]
    t = views.settings_table(ds)
    assert len(t) == 4 and "inflation" in t.columns
    f = views.curve_frame(ds)
    assert len(f) == 2 * len(muse.W_GRID) and (f["lower"] <= f["value"] + 1e-12).all()
    assert len(views.class_frame(ds, "labelled-3")) == 3
    imgs, labels, names = views.example_images(ds, "retrieved-3", [str(ds["class_name"].values[0])])
    assert imgs.ndim == 4 and len(names) == 2 and np.bincount(labels).tolist() == [1, 3]
    assert "ours (this run)" in views.reference_table(ds).index
    with pytest.raises(ParamError, match="must not share a style"):
        muse.Params(query_styles=("google",), support_styles=("google", "fluent"))
    with pytest.raises(ParamError, match="emoji-heldout"):
        muse.Params(dataset="flowers102")
