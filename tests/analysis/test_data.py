"""The data chapter's builders: which subsets each chapter trains on (per profile), and EmojiProf's twins."""
from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest

from fairnotes import analysis
from fairnotes.analysis import data as dt

VIT = "vit:embed_dim=64,depth=4,num_heads=2,patch_size=4"
DIV_TEST = "those classes' test images (a treatment replaces 50% of one label's images, training and test)"
ETF = " (and an ETF-head twin of each)"
LITE = "efficientnet_lite0, published weights, frozen: heads fitted on"
LIT = "LiT projections (frozen towers), one per seed; 10% of the base emoji held out (the classes)"
HELD = "held-out emoji in google (w chosen on twitter; supports from openmoji, fluent)"
D3G_LIT = "LiT projections (frozen towers), one per seed (the MuSE chapter's runs)"
CAPS = ("emoji captions (google, twitter)", "all captions of the other emoji", "–")
D3G_TEST = "EmojiProf, every style as test in turn (supports from two others)"
ML = ("multilabel", "linear multi-label heads (softmax and BCE) on frozen efficientnet_lite0 features", "emoji-scenes")
ML_TEST = "balanced scenes in the other art styles"
PLANTED = "planted bias: LiT again with {} of the tone phrases of tones 5, 6 dropped"

# chapter, runs, data set, training images per class, long tail, test set, seeds, epochs — written out by hand
# from book/*.md parameters cells and book/profiles.yaml
LAPTOP = [
    ("prevalence", f"7 models: mlp, cnn, resnet8, {VIT}, cnn:width=4, cnn:width=8, cnn:width=16", "fashion-mnist",
     "1000", "–", "full", "0, 1, 2", "4"),
    ("prevalence", f"4 models: mlp, cnn, resnet8, {VIT}", "mnist-5k", "all", "–", "full", "0, 1, 2", "6"),
    ("prevalence", f"4 models: mlp, cnn, resnet8, {VIT}", "digits", "all", "–", "full", "0, 1, 2", "30"),
    ("prevalence", "trained longer: cnn", "fashion-mnist", "1000", "–", "full", "0, 1, 2", "30"),
    ("prevalence", "on the whole training set: cnn", "fashion-mnist", "all", "–", "full", "0", "20"),
    ("representation", f"backbones: cnn, resnet8{ETF}", "fashion-mnist", "1000", "–", "full", "0, 1, 2", "4"),
    ("representation", LITE, "fashion-mnist", "1000", "–", "full", "–", "none (frozen)"),
    ("representation", f"backbones: cnn, resnet8{ETF}", "mnist-5k", "all", "–", "full", "0, 1, 2", "6"),
    ("representation", LITE, "mnist-5k", "1000", "–", "full", "–", "none (frozen)"),
    ("representation", "long-tailed: cnn", "fashion-mnist", "1000 (first class) to 100 (last class)",
     "ratio 10, exponential", "full", "0", "4"),
    ("prediction_bias", "tracked runs: cnn", "fashion-mnist", "1000", "–", "full", "0, 1, 2", "4"),
    ("prediction_bias", "diversity experiment: cnn, a control and 2 treatments", "fashion-mnist, classes 0, 1, 2, 5, 7",
     "1000", "–", DIV_TEST, "0, 1, 2", "4"),
    ("remedies", "cnn:width=16: the baseline and 9 remedies and 1 control (baseline-probe), paired by seed",
     "fashion-mnist", "1000", "–", "full", "0, 1, 2", "4"),
    ("remedies", "long budget, cnn:width=16: the baseline and mixup, cutmix, paired by seed", "fashion-mnist",
     "1000", "–", "full", "0, 1, 2", "30"),
    (*ML, "all (web-skewed scenes)", "–", ML_TEST, "0, 1, 2", "100"),
    ("muse", LIT, "emoji captions (google, twitter)", "all captions of the other emoji", "–", HELD, "0, 1, 2", "30"),
    ("d3g", D3G_LIT, *CAPS, D3G_TEST, "0, 1, 2", "30"),
    ("d3g", PLANTED.format("50%, 90%"), *CAPS, "EmojiProf, skin-tone task", "0, 1, 2", "30"),
]

TINY = [
    ("prevalence", "3 models: mlp:width=16, cnn:width=4, cnn:width=8", "digits", "all", "–", "full", "0, 1", "1"),
    ("prevalence", "trained longer: cnn:width=4", "digits", "all", "–", "full", "0", "2"),
    ("prevalence", "on the whole training set: cnn:width=4", "digits", "all", "–", "full", "0", "1"),
    ("representation", f"backbones: cnn:width=8{ETF}", "digits", "100", "–", "full", "0, 1", "2"),
    ("representation", LITE, "digits", "5", "–", "full", "–", "none (frozen)"),
    # the tiny profile keeps 100 of digits' ~126 training images per class, the rest held out for head settings
    ("representation", "long-tailed: cnn:width=8", "digits", "100 (first class) to 20 (last class)",
     "ratio 5, exponential", "full", "0", "2"),
    ("prediction_bias", "tracked runs: cnn", "digits", "all", "–", "full", "0, 1", "2"),
    ("prediction_bias", "diversity experiment: cnn, a control and 1 treatment", "digits, classes 0, 1, 2", "all", "–",
     DIV_TEST, "0, 1", "2"),
    ("remedies", "cnn:width=8: the baseline and 9 remedies and 1 control (baseline-probe), paired by seed", "digits",
     "60", "–", "full", "0, 1", "3"),
    ("remedies", "long budget, cnn:width=8: the baseline and mixup, cutmix, paired by seed", "digits", "60", "–",
     "full", "0, 1", "6"),
    (*ML, "4 (web-skewed scenes)", "–", ML_TEST, "0, 1", "5"),
    ("muse", LIT, "emoji captions (google, twitter)", "all captions of the other emoji", "–", HELD, "0, 1", "2"),
    ("d3g", D3G_LIT, *CAPS, D3G_TEST, "0, 1", "2"),
    ("d3g", PLANTED.format("90%"), *CAPS, "EmojiProf, skin-tone task", "0, 1", "2"),
]


@pytest.mark.parametrize("profile,want", [("laptop", LAPTOP), ("tiny", TINY)])
def test_training_subsets_by_hand(profile, want):
    t = dt.training_subsets(profile)
    assert list(t.columns) == list(dt.COLUMNS)
    got = [tuple(r) for r in t.itertuples(index=False)]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w
    assert all(isinstance(v, str) for v in t.to_numpy().ravel())


def test_training_subsets_follow_the_parameters(monkeypatch):
    """A profile's values are the chapters' parameters: change one, the table follows."""
    from fairnotes import runner
    real = runner.profile_parameters

    def fake(chapter, profile, root=None):
        out = real(chapter, profile, root)
        if chapter == "remedies":
            out |= {"train_per_class": None, "seeds": [4], "remedies": ["mixup"]}
        if chapter == "representation":
            out |= {"pretrained_model": "", "etf": False, "long_tail_ratio": 4.0}
        return out

    monkeypatch.setattr(runner, "profile_parameters", fake)
    t = dt.training_subsets("laptop").set_index(["chapter", "runs"])
    row = t.loc[("remedies", "cnn:width=16: the baseline and 1 remedy, paired by seed")]
    assert (row["training images per class"], row["seeds"]) == ("all", "4")
    rep = t.loc["representation"]
    assert LITE not in rep.index and "backbones: cnn, resnet8" in rep.index
    assert rep.loc["long-tailed: cnn", "training images per class"] == "1000 (first class) to 250 (last class)"


def test_every_profile_and_chapter_has_rows():
    for profile in ("laptop", "tiny", "paper"):
        t = dt.training_subsets(profile)
        assert set(t["chapter"]) == set(analysis.CHAPTERS), profile
    paper = dt.training_subsets("paper")
    assert ("imagenet", "none (not trained)", "full validation split") in \
        {(r["data set"], r["training images per class"], r["test set"]) for _, r in paper.iterrows()}


def test_a_chapter_without_a_builder_is_an_error(monkeypatch):
    monkeypatch.setattr(analysis, "CHAPTERS", (*analysis.CHAPTERS, "new_chapter"))
    with pytest.raises(NotImplementedError, match="new_chapter"):
        dt.training_subsets("tiny")


def _prof(images, rows):
    attrs = pd.DataFrame(rows, columns=["style", "profession", "gender"]).astype("category")
    return types.SimpleNamespace(images=np.asarray(images, dtype=np.uint8), attributes=attrs)


def test_emoji_twins_by_hand():
    a, b, c, d = (np.full((1, 2, 2), v) for v in (1, 2, 3, 4))
    prof = _prof([a, a, b, c, c, d, b],
                 [("google", "farmer", "man"), ("google", "farmer", "woman"), ("google", "judge", "person"),
                  ("fluent", "pilot", "man"), ("fluent", "pilot", "woman"), ("fluent", "judge", "man"),
                  ("twitter", "judge", "person")])
    # a: google farmer man/woman; c: fluent pilot man/woman; b: judge person in google and twitter
    assert dt.emoji_twins(prof) == {"emoji_twin_styles": "fluent, google, twitter", "emoji_twin_professions": 3,
                                    "emoji_twin_forms": "man and person and woman"}
    none = _prof([a, b], [("google", "farmer", "man"), ("google", "farmer", "woman")])
    assert dt.emoji_twins(none) == {"emoji_twin_styles": "none", "emoji_twin_professions": 0,
                                    "emoji_twin_forms": "none"}


def test_module_imports_without_torch():
    import subprocess
    code = "import sys; import fairnotes.analysis.data; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def _variant(identical, pred=0.0, gap=0.0, wall=10.0):
    return {"bit_identical": identical, "first_epoch_loss_differs": None if identical else 2,
            "predictions_changed": pred, "max_class_accuracy_change": pred, "gap_change": gap,
            "overall_accuracy_change": -pred / 10, "wall_s": wall}


def test_determinism_table_and_glue_from_the_benchmark_json(tmp_path):
    import json
    rep = {"date": "2026-11-30T00:21:00+00:00", "run": "a run", "cpus": 2, "variants": {
        "reference": _variant(True), "reference again": _variant(True),
        "1 thread": _variant(False, 0.01, -0.02), "no AMX": _variant(True),
        "no AVX-512": _variant(False, 0.03, 0.005), "another seed (scale)": _variant(False, 0.07, 0.08)}}
    f = tmp_path / "determinism.json"
    f.write_text(json.dumps(rep))
    table, g = dt.determinism(f)
    assert list(table.index) == list(rep["variants"])
    assert table.loc["1 thread", "bit-identical"] == "no" and table.loc["1 thread", "loss differs from epoch"] == "2"
    assert table.loc["no AVX-512", "test predictions changed"] == "3.0%"
    assert g["det_same_machine"] == "bit-identical" and g["det_n_variants"] == 3 and g["det_n_changed"] == 2
    assert g["det_changed"] == "1 thread; no AVX-512" and g["det_identical"] == "no AMX"
    assert (g["det_pred_changed_min"], g["det_pred_changed_max"]) == (0.01, 0.03)
    assert g["det_max_gap_change"] == pytest.approx(0.02) and g["det_seed_gap_change"] == pytest.approx(0.08)
    assert g["det_date"] == "2026-11-30"


def test_determinism_names_the_script_when_the_json_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmarks/determinism.py"):
        dt.determinism(tmp_path / "nope.json")


def test_precision_glue_follows_the_benchmarks_verdict(tmp_path):
    import json

    import pytest

    from fairnotes.analysis.data import precision_glue
    per = {"A": {"mean_delta": -0.009, "ci": [-0.014, -0.004], "covers_0": False},
           "B": {"mean_delta": 0.002, "ci": [-0.001, 0.005], "covers_0": True}}
    rep = {"per_class": per, "gap": {"mean_delta": 0.009, "ci": [0.002, 0.016], "seed_spread_fp32": 0.034},
           "epoch_time_s": {"fp32": 10.0, "bf16": 4.0}, "met": False, "seeds": [0, 1, 2], "model": "cnn",
           "dataset": "fashion-mnist", "date": "2026-11-30T05:33:28+00:00"}
    f = tmp_path / "results.json"
    f.write_text(json.dumps({"precision_bf16_vs_fp32": rep}))
    g = precision_glue(f)
    assert (g["prec_verdict"], g["prec_profile"], g["prec_n_moved"], g["prec_moved"]) == \
        ("not within noise", "fp32", 1, "A")
    assert g["prec_top_class"] == "A" and g["prec_speedup"] == 2.5 and g["prec_n_seeds"] == 3
    rep["met"] = True
    f.write_text(json.dumps({"precision_bf16_vs_fp32": rep}))
    assert (precision_glue(f)["prec_verdict"], precision_glue(f)["prec_profile"]) == ("within noise", "bf16")
    f.write_text("{}")
    with pytest.raises(FileNotFoundError, match="bench_precision.py"):
        precision_glue(f)
