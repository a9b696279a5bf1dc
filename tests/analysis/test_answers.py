"""Each chapter's short answer (``answer``).

(a) On the committed results it quotes the numbers it should — each recomputed here from the chapter's Dataset by a
hand rule (a seed mean, a difference of two gaps, a best minus a worst class), the interval bounds read beside it.
(b) Its wording follows the verdicts: each claim's verdict is set in turn to every value its rule can give (by
monkeypatching the module's ``claims``), and each verdict's words appear in that answer and in no other. These do
not depend on which verdicts the committed run happens to have.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from fairnotes import results
from fairnotes.analysis import AGREES, CANNOT_TELL, DISAGREES, module

ROOT = Path(__file__).resolve().parents[2]


def _committed(chapter: str, name: str = "analysis.nc") -> xr.Dataset:
    path = ROOT / "papermill_runs" / chapter / "laptop" / name
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} is not committed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return results.load(path)


@pytest.fixture(scope="module")
def committed():
    cache: dict[str, xr.Dataset] = {}

    def get(chapter: str) -> xr.Dataset:
        if chapter not in cache:
            cache[chapter] = _committed(chapter)
        return cache[chapter]
    return get


def _ci(v: float, lo: float, hi: float, fmt: str) -> str:
    return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def _answer_with(mod, ds: xr.Dataset, changes: dict[str, str]) -> str:
    """``mod.answer(ds)`` with ``mod.claims`` returning the verdicts of ``changes`` (claim id → verdict) instead of
    its own; every other column of the claims is kept."""
    original = mod.claims

    def claims(d):
        c = original(d)
        ids = [str(i) for i in c["claim"].values]
        v = np.array([str(x) for x in c["verdict"].values], dtype=object)
        for cid, verdict in changes.items():
            assert cid in ids, f"no claim {cid!r}; claims: {ids}"
            v[ids.index(cid)] = verdict
        return c.assign(verdict=("claim", v))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mod, "claims", claims)
        return mod.answer(ds)


def _follows(mod, ds: xr.Dataset, cid: str, words: dict[str, str], fixed: dict[str, str] | None = None) -> None:
    """For each verdict of ``words``: its words are in the answer with that verdict, and in no other's (``fixed``:
    verdicts of other claims, set in every answer)."""
    texts = {v: _answer_with(mod, ds, {**(fixed or {}), cid: v}) for v in words}
    for v, w in words.items():
        assert w in texts[v], f"{cid} = {v}: {w!r} missing from {texts[v]!r}"
        for u in words:
            if u != v:
                assert w not in texts[u], f"{cid} = {u}: {w!r} (the words of {v}) in {texts[u]!r}"


def _claim_ci(mod, ds: xr.Dataset, cid: str, fmt: str = "+.3f") -> str:
    r = mod.claims(ds).sel(claim=cid)
    return _ci(float(r["ours"]), float(r["lower"]), float(r["upper"]), fmt)


def _sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?:\s|$)", text))


# ------------------------------------------------------------------------------------------------ prevalence

def test_prevalence_answer_quotes_the_numbers(committed):
    ds, mod = committed("prevalence"), module("prevalence")
    text = mod.answer(ds)
    main = str(ds["dataset"].values[0])
    trained = [str(m) for m in ds["model"].values if bool(ds["trained"].sel(dataset=main, model=m))]
    best = max(trained, key=lambda m: float(ds["overall_accuracy"].sel(dataset=main, model=m)))  # by hand
    acc = ds["accuracy"].sel(dataset=main, model=best)
    b = ds.sel(dataset=main, model=best)
    assert f"{float(acc.max() - acc.min()):.3f} [{float(b['gap_lower']):.3f}, {float(b['gap_upper']):.3f}]" in text
    assert f"on {main} the most accurate model" in text
    if "full_accuracy" in ds:
        fa = ds["full_accuracy"]
        assert f"{float(fa.max() - fa.min()):.3f} [{float(ds['full_gap_lower']):.3f}" in text
        assert f"all {int(ds['full_n_train']):,} training images" in text
    w = ds.sel(dataset=main)
    assert _ci(float(w["models_kendall_w"]), float(w["models_kendall_w_lower"]), float(w["models_kendall_w_upper"]),
               ".2f") in text
    assert 1 <= _sentences(text) <= 3


@pytest.mark.parametrize("cid, words", [
    ("cui.balanced_disparity", {AGREES: "Unequal beyond sampling noise", CANNOT_TELL: "Not shown at this scale"}),
    ("cui.balanced_disparity:converged", {AGREES: "still beyond sampling noise",
                                          CANNOT_TELL: "which its test set cannot tell from sampling noise"}),
    ("cui.shared_hard_classes", {AGREES: "The architectures agree on which classes are hard",
                                 DISAGREES: "The architectures do not agree on which classes are hard",
                                 CANNOT_TELL: "Whether the architectures agree on which classes are hard, this run "
                                              "cannot tell"}),
])
def test_prevalence_answer_follows_the_verdict(committed, cid, words):
    _follows(module("prevalence"), committed("prevalence"), cid, words)


# -------------------------------------------------------------------------------------------- representation

def test_representation_answer_quotes_the_numbers(committed):
    ds, mod = committed("representation"), module("representation")
    text = mod.answer(ds)
    s = ds.sel(setting=str(ds.attrs["main_setting"]))
    for family in ("linear", "knn"):
        head = [str(h) for h, f, ok in zip(s["head"].values, s["head_family"].values, s["present"].values)
                if str(f) == family and bool(ok)][0]
        d = float(s["gap"].sel(head=head) - s["gap"].sel(head="classifier"))  # Δ of the seed-mean gaps, by hand
        assert _ci(d, float(s["delta_gap_lower"].sel(head=head)), float(s["delta_gap_upper"].sel(head=head)),
                   "+.3f") in text
    assert _ci(float(s["kendall_w"]), float(s["kendall_w_lower"]), float(s["kendall_w_upper"]), ".2f") in text
    assert str(ds.attrs["main_setting"]) in text and 1 <= _sentences(text) <= 3


@pytest.mark.parametrize("cid, words", [
    ("cui.retrain_keeps_gap", {AGREES: "frozen features leaves the best–worst gap within ±0.05",
                               DISAGREES: "frozen features narrows the best–worst gap by more than 0.05",
                               CANNOT_TELL: "frozen features changes the best–worst gap by"}),
    ("cui.retrain_keeps_gap:well-trained", {AGREES: "after full training a re-trained classifier no longer changes",
                                            DISAGREES: "even after full training the classifier changes the gap",
                                            CANNOT_TELL: "which this run cannot tell from a change within ±0.05."}),
    ("cui.heads_agree", {AGREES: "the same classes stay hardest", DISAGREES: "do not agree on which classes are "
                         "hardest", CANNOT_TELL: "agree on which classes are hardest, this run cannot tell"}),
])
def test_representation_answer_follows_the_verdict(committed, cid, words):
    ds = committed("representation")
    if cid == "cui.retrain_keeps_gap":  # its Δ is negative in the committed run: "narrows"
        assert float(module("representation").claims(ds)["ours"].sel(claim=cid)) < 0
    _follows(module("representation"), ds, cid, words)


def test_representation_conclusion_needs_every_head_to_agree(committed):
    ds, mod = committed("representation"), module("representation")
    both = _answer_with(mod, ds, {"cui.retrain_keeps_gap": AGREES, "cui.knn_keeps_gap": AGREES})
    assert "the disparity is in the representation, as the paper says" in both and "sits in the classifier" not in both
    one = _answer_with(mod, ds, {"cui.retrain_keeps_gap": AGREES, "cui.knn_keeps_gap": CANNOT_TELL})
    assert "in the representation" not in one and "sits in the classifier" not in one
    narrowed = _answer_with(mod, ds, {"cui.retrain_keeps_gap": DISAGREES, "cui.knn_keeps_gap": AGREES})
    assert "part of the disparity sits in the classifier, against the paper" in narrowed


# ------------------------------------------------------------------------------------------- prediction_bias

def test_prediction_bias_answer_quotes_the_numbers(committed):
    ds, mod = committed("prediction_bias"), module("prediction_bias")
    text = mod.answer(ds)
    b = float(ds["hard_bias_by_seed"].mean("seed"))  # the seeds' mean, by hand
    assert _ci(b, float(ds["hard_bias_lower"]), float(ds["hard_bias_upper"]), ".2f") in text
    assert ds.sizes.get("treated", 0) >= 1
    for i in range(ds.sizes["treated"]):
        r = ds.isel(treated=i)
        assert str(r["treated_label_name"].values) in text
        acc = float(r["delta_accuracy_kept_by_seed"].mean("diversity_seed"))
        pred = float(r["delta_predicted_by_seed"].mean("diversity_seed"))
        assert _ci(acc, float(r["delta_accuracy_kept_lower"]), float(r["delta_accuracy_kept_upper"]), "+.3f") in text
        assert _ci(pred, float(r["delta_predicted_lower"]), float(r["delta_predicted_upper"]), "+.1f") in text


def test_prediction_bias_answer_follows_the_verdict(committed):
    ds, mod = committed("prediction_bias"), module("prediction_bias")
    _follows(mod, ds, "cui.hard_overpredicted", {AGREES: "Yes: over training the hard classes are predicted more",
                                                 DISAGREES: "No: over training the hard classes are predicted less",
                                                 CANNOT_TELL: "Not measurably"})
    label = str(ds["treated_label_name"].values[0])
    _follows(mod, ds, f"cui.diversity_hurts:{label}", {AGREES: f"{label} loses accuracy",
                                                        DISAGREES: f"{label} gains accuracy",
                                                        CANNOT_TELL: f"{label} keeps its accuracy within the noise"})
    words = {AGREES: "draws more predictions", DISAGREES: "draws fewer predictions",
             CANNOT_TELL: "draws no measurably different number"}
    others = {f"cui.diversity_attracts:{x}": AGREES for x in ds["treated_label_name"].values if str(x) != label}
    texts = {v: _answer_with(mod, ds, {**others, f"cui.diversity_attracts:{label}": v}) for v in words}
    for v, w in words.items():  # the label's own clause: "<label> ... and <words> (...)"
        clause = texts[v].split(f"{label} ", 1)[1].split(";")[0]
        assert w in clause and all(words[u] not in clause for u in words if u != v)


# -------------------------------------------------------------------------------------------------- remedies

def test_remedies_answer_quotes_the_numbers(committed):
    ds, mod = committed("remedies"), module("remedies")
    text = mod.answer(ds)
    for spec in ("mixup", "cutmix"):
        d = float(ds["gap"].sel(remedy=spec) - ds["gap"].sel(remedy="baseline"))  # by hand
        assert _ci(d, float(ds["delta_gap_lower"].sel(remedy=spec)), float(ds["delta_gap_upper"].sel(remedy=spec)),
                   "+.3f") in text
    hard = ds["difficulty"].values == "hard"
    d = float(ds["delta_accuracy"].sel(remedy="reweight").values[hard].mean())  # the hard classes' mean change
    r = ds.sel(remedy="reweight", group="hard")
    assert _ci(d, float(r["delta_group_lower"]), float(r["delta_group_upper"]), "+.3f") in text
    assert f"At {int(ds.attrs['epochs'])} epochs" in text and f"at {int(ds.attrs['long_epochs'])} epochs" in text
    assert _sentences(text) <= 3


def test_remedies_answer_follows_the_verdict(committed):
    ds, mod = committed("remedies"), module("remedies")
    e, long = int(ds.attrs["epochs"]), int(ds.attrs["long_epochs"])
    _follows(mod, ds, "cui.mixup_fairer", {AGREES: f"At {e} epochs Mixup narrows",
                                           DISAGREES: f"At {e} epochs Mixup widens",
                                           CANNOT_TELL: f"At {e} epochs Mixup does not measurably change"})
    short = {"cui.mixup_fairer": CANNOT_TELL, "cui.cutmix_fairer": CANNOT_TELL, "cui.mixup_fairer:long": CANNOT_TELL}
    _follows(mod, ds, "cui.cutmix_fairer:long", {AGREES: f"epochs Mixup does not measurably change it ("
                                                         f"{_claim_ci(mod, ds, 'cui.mixup_fairer:long')}) and CutMix "
                                                         f"narrows it",
                                                 DISAGREES: "and CutMix widens it"}, fixed=short)
    assert f"; at {long} epochs Mixup" in mod.answer(ds)
    _follows(mod, ds, "cui.reweight_lifts_hard", {AGREES: "lifts the hard classes",
                                                  DISAGREES: "lowers the hard classes it weights up",
                                                  CANNOT_TELL: "does not measurably change the hard classes"})
    _follows(mod, ds, "cui.reweight_hurts_easy", {AGREES: "costs the easy ones", DISAGREES: "lifts the easy ones too",
                                                  CANNOT_TELL: "leaves the easy ones unchanged within the noise"})
    _follows(mod, ds, "cui.reweight_no_gain", {AGREES: "brings no overall gain",
                                               DISAGREES: "raises balanced accuracy by more than 0.01",
                                               CANNOT_TELL: "may or may not raise balanced accuracy"})


def test_remedies_hurt_classes_follow_the_verdicts(committed):
    ds, mod = committed("remedies"), module("remedies")
    ids = [str(i) for i in mod.claims(ds)["claim"].values if str(i).startswith("lee.augmentation_hurts_some:")]
    assert len(ids) == 4
    none = _answer_with(mod, ds, {i: CANNOT_TELL for i in ids})
    assert "Under Mixup, CutMix, RandAugment or TrivialAugment no class falls significantly" in none
    assert "significantly worse" not in none
    one = _answer_with(mod, ds, {**{i: CANNOT_TELL for i in ids}, "lee.augmentation_hurts_some:cutmix": AGREES})
    n = int(ds["hurt_fdr"].sel(remedy="cutmix").sum())  # classes hurt, by hand
    assert f"CutMix makes {n} class" in one and "while under Mixup, RandAugment or TrivialAugment no class falls" in one


# ------------------------------------------------------------------------------------------------ multilabel

def test_multilabel_answer_quotes_the_numbers(committed):
    ds, mod = committed("multilabel"), module("multilabel")
    text = mod.answer(ds)
    d = float(ds["map"].sel(loss="bce") - ds["map"].sel(loss="multilabel-softmax"))  # by hand
    assert _ci(d, float(ds["delta_map_lower"]), float(ds["delta_map_upper"]), "+.3f") in text
    attr = str(ds.attrs["group_attr"])
    for ev in ("person", "profession", "wrong_gender"):
        g = ds[f"{ev}_gap_{attr}"]
        d = float(g.sel(loss="bce") - g.sel(loss="multilabel-softmax"))
        assert _ci(d, float(ds[f"{ev}_delta_gap_{attr}_lower"]), float(ds[f"{ev}_delta_gap_{attr}_upper"]),
                   "+.3f") in text
    assert f"Between {attr.replace('_', '-')} groups" in text and _sentences(text) == 2


def test_multilabel_answer_follows_the_verdicts(committed):
    ds, mod = committed("multilabel"), module("multilabel")
    _follows(mod, ds, "ml.same_map", {AGREES: "The two losses reach the same mAP, within one point",
                                      DISAGREES: "The two losses do not reach the same mAP",
                                      CANNOT_TELL: "this run cannot tell"})
    ct = {f"ml.bce_narrows_{e}_gap": CANNOT_TELL for e in ("person", "profession", "wrong_gender")}
    text = _answer_with(mod, ds, {**ct, "ml.bce_narrows_person_gap": AGREES,
                                  "ml.bce_narrows_wrong_gender_gap": DISAGREES})
    assert "BCE narrows the largest gap in recognising the person" in text
    assert "it widens it in outputting the wrong gender's label" in text
    assert "it does not measurably change it in recognising the profession" in text
    text = _answer_with(mod, ds, ct)
    assert "BCE does not measurably change the largest gap in recognising the person" in text
    assert "narrows" not in text and "widens" not in text


# ------------------------------------------------------------------------------------------------------ data

def _cards(imbalance: list[float]) -> xr.Dataset:
    names = [f"set{i}" for i in range(len(imbalance))]
    return xr.Dataset({"imbalance": ("dataset", imbalance), "n_images": ("dataset", [1000] * len(imbalance))},
                      coords={"dataset": names})


def test_data_answer_quotes_the_committed_cards():
    from fairnotes.analysis import data as D
    cards = _committed("data", "cards.nc")
    text = D.answer(cards)
    ratio = cards["max_class_count"] / cards["min_class_count"]  # by hand
    worst = str(cards["dataset"].values[int(np.argmax(ratio.values))])
    assert text.startswith("Yes:") and f"{float(ratio.max()):.3f} times" in text and f"(in {worst})" in text
    assert f"{int(cards['n_images'].sum()):,} images" in text


def test_data_answer_names_an_unbalanced_set():
    from fairnotes.analysis import data as D
    assert D.answer(_cards([1.0, 1.05])).startswith("Yes:")
    text = D.answer(_cards([1.0, 2.5]))
    assert text.startswith("No:") and "set1 (2.500)" in text and "set0" not in text


def test_data_answer_on_emojiprof_cells_and_twins():
    import pandas as pd

    from fairnotes.analysis import data as D
    from fairnotes.data import ImageSet
    rows = [dict(profession=p, gender=g, skin_tone="none", style=s) for p in ("cook", "judge")
            for g in ("person", "man") for s in ("a", "b")]
    img = (np.arange(len(rows))[:, None, None, None] * np.ones((1, 3, 2, 2))).astype(np.uint8)
    twin = rows.index(dict(profession="cook", gender="man", skin_tone="none", style="b"))
    img[twin] = img[rows.index(dict(profession="cook", gender="person", skin_tone="none", style="b"))]
    prof = ImageSet("emojiprof", "test", img, np.zeros(len(rows), int), ("x",), "synthetic", "none",
                    pd.DataFrame(rows), {})
    text = D.answer(_cards([1.0]), prof)
    assert "fills all 8 cells" in text and "in b 1 profession draws two forms (man and person) identically" in text
    rest = D.answer(_cards([1.0]), prof.subset(np.delete(np.arange(len(rows)), twin)))
    assert "fills 7 of its 8 cells" in rest and "no two forms are drawn identically" in rest


# ------------------------------------------------------------------------------------------------ scoreboard

def _board(verdicts: dict[str, list[str]]) -> xr.Dataset:
    ch = [c for c, vs in verdicts.items() for _ in vs]
    v = [x for vs in verdicts.values() for x in vs]
    return xr.Dataset({"chapter": ("claim", ch), "verdict": ("claim", v)},
                      coords={"claim": [f"{c}/{i}" for i, c in enumerate(ch)]})


def test_scoreboard_answer_counts_by_hand():
    from fairnotes.analysis import scoreboard
    board = scoreboard.collect(ROOT)
    text = scoreboard.answer(board)
    v = [str(x) for x in board["verdict"].values]
    assert text.startswith(f"Of {len(v)} claims tested, {v.count(AGREES)} agree with the papers, "
                           f"{v.count(DISAGREES)} disagree and {v.count(CANNOT_TELL)} cannot be told")


def test_scoreboard_answer_follows_the_counts():
    from fairnotes.analysis import scoreboard
    text = scoreboard.answer(_board({"a": [AGREES, DISAGREES], "b": [CANNOT_TELL], "c": [DISAGREES, DISAGREES]}))
    assert "Of 5 claims tested, 1 agree with the papers, 3 disagree and 1 cannot" in text
    assert "The disagreements are in a (1), c (2)" in text
    text = scoreboard.answer(_board({"a": [AGREES], "b": [CANNOT_TELL]}))
    assert "No result of this run contradicts the papers." in text and "disagreements are in" not in text


# ---------------------------------------------------------------------------------------------- every chapter

@pytest.mark.parametrize("chapter", ["prevalence", "representation", "prediction_bias", "remedies", "multilabel",
                                     "muse", "d3g"])
def test_every_analysis_chapter_has_a_short_answer(committed, chapter):
    text = module(chapter).answer(committed(chapter))
    assert isinstance(text, str) and 40 < len(text) < 1500 and text.endswith(".")
    assert not re.search(r"\bnan\b", text)
