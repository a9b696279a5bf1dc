"""The D3G chapter: per-group numbers against fairlearn and by hand, the null simulation, supports by
demographic mix, and the chapter end to end on synthetic EmojiProf with a tiny LiT (offline)."""
from __future__ import annotations

import numpy as np
import pytest

from emoji_fakes import make
from fairnotes.analysis import _d3g_core as core
from fairnotes.analysis import _d3g_jobs as jobs

STYLES = ("google", "twitter", "openmoji", "fluent")
fake_captions, fake_emojiprof = make(style_order=STYLES, style_bar=4, tones_every=2)


def _combined(rng, n, groups, p_by_group, seeds=3, reps=2):
    """Per seed: every image evaluated ``reps`` times; entry accuracies differ by group."""
    y = rng.integers(0, 3, n)
    out = []
    for _ in range(seeds):
        c = {"pos": np.tile(np.arange(n), reps), "w_heldout": np.array([0.5, 0.6]), "w_tuned": np.array([0.4, 0.5])}
        for e, shift in zip(core.ENTRIES, (0.0, -0.1, 0.1, 0.15)):
            p = np.clip(np.array([p_by_group[g] for g in groups]) + shift, 0, 1)
            right = rng.random((reps, n)) < p
            pred = np.where(right, y, (y + 1) % 3)
            c[f"pred_{e}"] = pred.ravel()
            c[e] = right.mean(axis=0)
        out.append(c)
    return y, out


def test_summarize_setting_matches_fairlearn_and_hand():
    rng = np.random.default_rng(0)
    groups = np.array(["a"] * 40 + ["b"] * 25 + ["c"] * 60)
    y, comb = _combined(rng, groups.size, groups, {"a": 0.8, "b": 0.4, "c": 0.6})
    ds = core.summarize_setting(comb, y, {"grp": groups}, n_boot=200)
    by_hand = np.array([[np.mean([c[e][groups == g].mean() for c in comb]) for g in "abc"] for e in core.ENTRIES])
    np.testing.assert_allclose(ds["grp_accuracy"].values, by_hand, atol=1e-12)
    acc = ds["grp_accuracy"].sel(entry="heldout").values
    assert float(ds["grp_worst"].sel(entry="heldout")) == pytest.approx(acc.min())
    assert float(ds["grp_difference"].sel(entry="heldout")) == pytest.approx(acc.max() - acc.min())
    assert float(ds["grp_ratio"].sel(entry="heldout")) == pytest.approx(acc.min() / acc.max())
    assert list(ds["grp_small"].values) == [False, True, False] and list(ds["grp_count"].values) == [40, 25, 60]
    for v in ("accuracy", "grp_accuracy", "grp_difference", "gain", "delta_grp_worst", "grp_change_min"):
        assert np.all(ds[f"{v}_lower"].values <= ds[f"{v}_upper"].values + 1e-12), v
    assert float(ds["gain"].sel(entry="text")) == 0 and float(ds["gain_lower"].sel(entry="heldout")) > 0
    assert float(ds["inflation"]) > 0 and ds["w_heldout"].shape == (3, 2)
    ch = (ds["grp_accuracy"].sel(entry="image") - ds["grp_accuracy"].sel(entry="text")).min()
    assert float(ds["grp_change_min"].sel(entry="image")) == pytest.approx(float(ch))


def test_null_tuning_manufactures_gain_only_on_the_test_set():
    small = core.null_tuning([30] * 7, 0.4, n_sims=400, seed=1)
    big = core.null_tuning([3000] * 7, 0.4, n_sims=200, seed=1)
    assert (small["gain_tuned"] >= 0).all()
    assert float(small["gain_tuned_mean"]) > 0.01 and float(big["gain_tuned_mean"]) < float(small["gain_tuned_mean"]) / 5
    se = float(small["gain_heldout"].std()) / np.sqrt(400)
    assert abs(float(small["gain_heldout_mean"])) < 4 * se  # chosen on other images: nothing gained on average
    none = core.null_tuning([30] * 3, 0.5, changed=0.0, n_sims=50)
    assert float(none["gain_tuned"].max()) == 0.0
    with pytest.raises(ValueError, match="changed"):
        core.null_tuning([30], 0.5, changed=1.5)


def test_mixes_and_supports(monkeypatch):
    for mix in ("plain", "balanced", "tones", "genders", "one-gender", "skewed-6"):
        w = jobs.mix_weights("profession", mix)
        assert w.shape == (18,) and w.sum() == pytest.approx(1)
    w = jobs.mix_weights("profession", "skewed-6")
    cs = jobs.cells("profession")
    assert sum(wi for wi, c in zip(w, cs) if c[1] == "6") == pytest.approx(0.8)
    with pytest.raises(ValueError, match="valid: plain"):
        jobs.mix_weights("profession", "rainbow")
    pairs = jobs.style_pairs(STYLES)
    assert len(pairs) == 12 and all(t != v and t not in s and v not in s and len(s) == 2 for t, v, s in pairs)


def test_draw_supports_from_other_styles(monkeypatch):
    import xarray as xr
    prof = fake_emojiprof("emojiprof", styles=STYLES)
    a = prof.attributes
    emb = xr.Dataset({"embedding": (("image", "dim"), np.eye(len(a), 8)),
                      "profession": ("image", prof.labels), "gender": ("image", a["gender"].astype(str).to_numpy()),
                      "skin_tone": ("image", a["skin_tone"].astype(str).to_numpy()),
                      "style": ("image", a["style"].astype(str).to_numpy()),
                      "text_profession": (("profession_class", "dim"), np.zeros((4, 8))),
                      "text_skin_tone": (("tone_class", "dim"), np.zeros((5, 8)))},
                     coords={"profession_name": ("profession_class", list(prof.class_names)),
                             "tone_name": ("tone_class", ["1-2", "3", "4", "5", "6"])}, attrs={"styles": list(STYLES)})
    w = jobs.mix_weights("profession", "balanced")
    rows, lab, cell = jobs.draw_supports(emb, "profession", w, ("openmoji", "fluent"), n_supports=6, per_prompt=2,
                                         seed=0)
    assert set(emb["style"].values[rows]) <= {"openmoji", "fluent"}
    np.testing.assert_array_equal(emb["profession"].values[rows], lab)
    assert np.bincount(lab).tolist() == [12] * 4  # 6 cells × 2 styles per class
    rows, lab, cell = jobs.draw_supports(emb, "profession", w, ("openmoji",), n_supports=6, per_prompt=1, seed=0,
                                         stereotype_p=1.0)
    assert set(emb["gender"].values[rows]) == {"man"} and set(emb["skin_tone"].values[rows]) == {"1-2"}
    tw = jobs.mix_weights("skin_tone", "balanced", n_professions=4)
    rows, lab, _ = jobs.draw_supports(emb, "skin_tone", tw, ("fluent",), n_supports=5, per_prompt=1, seed=0)
    tones = ["1-2", "3", "4", "5", "6"]
    assert [tones[c] for c in lab] == list(emb["skin_tone"].values[rows])


@pytest.fixture()
def fake_data(monkeypatch):
    from fairnotes import data
    monkeypatch.setattr(data, "emoji_captions", fake_captions)
    monkeypatch.setattr(data, "load", fake_emojiprof)


def test_chapter_end_to_end_on_fakes(fake_data, one_torch_thread, monkeypatch):
    from fairnotes.analysis import VERDICTS, _d3g_views as views, d3g
    from fairnotes.zeroshot.lit import LitConfig

    def tiny(self, seed=None, tone_drop=0.0):
        return LitConfig(image_size=32, epochs=2, batch_size=16, lr=3e-3, n_boot=20, holdout_fraction=0.5,
                         eval_styles=("google", "twitter"), progress=False, seed=self.seeds[0] if seed is None else seed,
                         tone_drop=tone_drop, tone_drop_tones=tuple(self.planted_tones))

    monkeypatch.setattr(d3g.Params, "lit_config", tiny)
    p = d3g.Params(profile="tiny", seeds=(0, 1), n_supports=3, mixes=("plain", "balanced", "skewed-6"),
                   stereotype_ps=(0.0, 1.0), planted_drops=(0.0, 0.9), null_sims=50, n_boot=30)
    ds = d3g.run(p, progress=False)
    names = list(ds["setting"].values)
    assert "skin_tone/plain/standard" in names and "profession/skewed-6/average" in names
    assert "profession/balanced/average/stereotype-1" in names and "planted-0.9/skin_tone/balanced/average" in names
    assert set(ds["experiment"].values) == {"table", "mix", "stereotype", "planted"}
    # the text-only entry of a task does not depend on its supports
    prof = [s for s in names if s.startswith("profession/")]
    np.testing.assert_allclose(ds["accuracy"].sel(setting=prof, entry="text").values,
                               float(ds["accuracy"].sel(setting=prof[0], entry="text")))
    # the skin-tone task has no "none" tone group; the profession task has all six
    assert np.isnan(float(ds["skin_tone_accuracy"].sel(setting="skin_tone/plain/standard", entry="text",
                                                       skin_tone="none")))
    assert ds["w_heldout"].sizes["pair"] == 12
    c = d3g.claims(ds)
    assert {"d3g.race7_gain", "d3g.no_harm", "d3g.test_tuning_inflates", "d3g.closes_planted_gap"} <= \
        set(c["claim"].values)
    assert set(c["verdict"].values) <= set(VERDICTS)
    g = d3g.glue_values(ds)
    assert {"d3_race7_gain", "d3_v_no_harm", "d3_null_tuned_mean", "d3_planted_90_delta", "d3_answer"} <= set(g)
    assert "Dropping 90%" in g["d3_answer"] and "manufactures" in g["d3_answer"]
    assert g["d3_null_sizes"] == ", ".join(str(x) for x in d3g.NULL_SIZES) and g["d3_null_n"] == sum(d3g.NULL_SIZES)
    assert len(views.ours_table(ds)) == 6 and len(views.mix_table(ds)) == 5  # 4 Table-3 mixes + skewed-6
    assert len(views.planted_table(ds)) == 2 and not views.stereotype_frame(ds).empty
    assert "images" in views.group_table(ds, d3g.BALANCED_TONE).columns
