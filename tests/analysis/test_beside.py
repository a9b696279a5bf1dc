"""Your run beside the book's: rows, per-model verdicts and guard rails (fairnotes.analysis.beside)."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from fairnotes import analysis
from fairnotes.analysis import beside

ROOT = Path(__file__).resolve().parents[2]


def committed(chapter: str) -> xr.Dataset:
    path = ROOT / "papermill_runs" / chapter / "laptop" / "analysis.nc"
    if not path.exists():
        pytest.skip(f"no committed run of {chapter}")
    return xr.load_dataset(path)


@pytest.mark.parametrize("n", [4, 10, 52, 96, 97, 1000])
def test_class_half_width_is_scipys_wilson_interval_at_one_half(n):
    lo, hi = stats.binomtest(n // 2, 2 * (n // 2)).proportion_ci(0.95, method="wilson")
    assert beside.class_half_width(2 * (n // 2)) == pytest.approx((hi - lo) / 2, rel=1e-6)


def test_class_half_width_flags_fewer_than_93_images():
    assert beside.class_half_width(92) > beside.CLASS_HALF_WIDTH > beside.class_half_width(93)


def _rows():
    common = dict(accuracy_lower=math.nan, accuracy_upper=math.nan, disparity=0.3, disparity_lower=0.2,
                  disparity_upper=0.4, chance=0.1, dataset="d")
    return [dict(common, setting="d", model="new", source="yours", accuracy=0.15, n_class_min=1000),
            dict(common, setting="d", model="ok", source="yours", accuracy=0.85, n_class_min=1000),
            dict(common, setting="d", model="weak", source="yours", accuracy=0.78, n_class_min=1000),
            dict(common, setting="d", model="b1", source="book", accuracy=0.80, n_class_min=1000),
            dict(common, setting="d", model="b2", source="book", accuracy=0.88, n_class_min=1000),
            dict(common, setting="d", model="b3", source="book", accuracy=0.90, n_class_min=1000),
            dict(common, setting="small", model="ok", source="yours", accuracy=0.85, n_class_min=20),
            dict(common, setting="small", model="b1", source="book", accuracy=0.87, n_class_min=20)]


def _side(rows):
    p = analysis.profile_params("prevalence", "tiny")
    ad = beside.ADAPTERS["prevalence"]
    claims = xr.Dataset({"verdict": ("claim", ["agrees"])}, coords={"claim": ["x"]})
    return beside._assemble(p, ad, rows, {r["model"]: claims for r in rows}, ("b1", "b2", "b3"), p)


def test_guard_rails_follow_the_stated_thresholds():
    side = _side(_rows())
    flags = {(str(m), str(s)): (bool(a), bool(b)) for m, s, a, b in
             zip(side["model"].values, side["setting"].values, side["near_chance"].values,
                 side["below_baseline"].values)}
    # baseline on "d" = median(0.80, 0.88, 0.90) = 0.88
    assert float(side["book_baseline"].values[0]) == pytest.approx(0.88)
    assert flags[("new", "d")] == (True, True)          # 0.15 < chance 0.1 + 0.10
    assert flags[("ok", "d")] == (False, False)         # 0.85 > 0.88 − 0.10
    assert flags[("weak", "d")] == (False, True)        # 0.78 ≤ 0.88 − 0.10
    assert flags[("b1", "d")] == (False, False)         # the book's own rows are never flagged
    text = beside.warnings_of(side)
    assert sum("within 0.10 of chance" in t for t in text) == 1
    assert sum("below the book's baseline" in t for t in text) == 1
    small = [t for t in text if t.startswith("small:")]
    assert len(small) == 1 and "20 test images" in small[0] and f"±{beside.class_half_width(20):.2f}" in small[0]
    assert not any(t.startswith("d:") for t in text)  # 1000 images per class: not flagged


def test_report_shows_rows_verdicts_and_warnings():
    html = beside.report(_side(_rows())).data
    assert "Your run beside the book's" in html and "near chance" in html and "far below baseline" in html
    assert html.count("<tr") == (1 + 8) + (1 + 1)  # header + 8 rows; verdicts: header + 1 claim
    assert "book's own run" in beside.report(None).data


def test_prevalence_rows_are_the_chapters_own_numbers():
    ds = committed("prevalence")
    rows = beside.ADAPTERS["prevalence"].rows(ds, "cnn")
    assert [r["setting"] for r in rows] == [str(d) for d in ds["dataset"].values]
    for r in rows:
        one = ds.sel(dataset=r["setting"], model="cnn")
        assert r["disparity"] == float(one["gap"]) and r["disparity_lower"] == float(one["gap_lower"])
        runs = one["run_overall_accuracy"].values
        assert r["accuracy"] == pytest.approx(runs.mean())
        half = stats.t.ppf(0.975, runs.size - 1) * runs.std(ddof=1) / math.sqrt(runs.size)
        assert r["accuracy_upper"] - r["accuracy"] == pytest.approx(half)
    # a capacity model trained on the first data set only has one row
    cap = [m for m in ds["model"].values if not bool(np.isfinite(ds["overall_accuracy"].sel(model=m)).all())]
    if cap:
        assert len(beside.ADAPTERS["prevalence"].rows(ds, str(cap[0]))) < ds.sizes["dataset"]


def test_prevalence_per_model_claims_match_the_chapter_on_its_best_model():
    from fairnotes.analysis import prevalence
    ds = committed("prevalence")
    best = str(ds["best_model"].sel(dataset=str(ds["dataset"].values[0])).values)
    mine = beside.ADAPTERS["prevalence"].model_claims(prevalence, ds, best)
    full = prevalence.claims(ds)
    c = "cui.balanced_disparity"
    assert str(mine["verdict"].sel(claim=c).values) == str(full["verdict"].sel(claim=c).values)
    assert float(mine["ours"].sel(claim=c)) == float(full["ours"].sel(claim=c))
    assert "cui.across_architectures" not in mine["claim"].values  # one model cannot say across architectures


def test_representation_per_backbone_claims_use_that_backbone():
    from fairnotes.analysis import representation
    ds = committed("representation")
    main = str(ds.attrs["main_setting"])
    main_backbone = str(ds["backbone"].sel(setting=main).values)
    mine = beside.ADAPTERS["representation"].model_claims(representation, ds, main_backbone)
    full = representation.claims(ds)
    for c in mine["claim"].values:
        if c in full["claim"].values and ":" not in str(c):
            assert float(mine["ours"].sel(claim=c)) == pytest.approx(float(full["ours"].sel(claim=c)), nan_ok=True)
    other = [str(b) for b in dict.fromkeys(ds["backbone"].values) if str(b) != main_backbone
             and not bool(ds["pretrained"].sel(setting=ds["backbone"] == b).any())]
    if other:
        theirs = beside.ADAPTERS["representation"].model_claims(representation, ds, other[0])
        assert "cui.knn_keeps_gap" in theirs["claim"].values
        assert other[0] in str(theirs["measure"].sel(claim="cui.knn_keeps_gap").values)
    rows = beside.ADAPTERS["representation"].rows(ds, main_backbone)
    assert rows and rows[0]["disparity"] == float(ds["gap"].sel(setting=main, head="classifier"))


@pytest.mark.parametrize("chapter,stat", [("prediction_bias", "hard_bias"), ("remedies", "gap"),
                                          ("multilabel", "person_gap_skin_tone")])
def test_single_model_rows(chapter, stat):
    ds = committed(chapter)
    ad = beside.ADAPTERS[chapter]
    rows = ad.rows(ds, "any")
    assert rows
    if chapter == "remedies":
        assert rows[0]["disparity"] == float(ds[stat].sel(remedy="baseline"))
        assert rows[0]["accuracy"] == float(ds["mean"].sel(remedy="baseline"))
    elif chapter == "multilabel":
        assert [r["disparity"] for r in rows] == [float(v) for v in ds[stat].values]
        assert [r["accuracy"] for r in rows] == [float(v) for v in ds["map"].values]
    else:
        assert rows[0]["disparity"] == float(ds[stat])
        assert rows[0]["accuracy"] == pytest.approx(float(ds["accuracy_by_seed"].mean("label").mean("seed")))


@pytest.mark.parametrize("chapter", sorted(beside.ADAPTERS))
def test_book_params_keep_your_data_and_the_books_models(chapter):
    book = analysis.profile_params(chapter, "laptop")
    ad = beside.ADAPTERS[chapter]
    name = {"prevalence": "datasets", "representation": "datasets"}.get(chapter, "dataset")
    value = ("digits",) if name == "datasets" else "digits"
    if chapter == "multilabel":
        value = "multilabel-folder"
    if chapter in ("muse", "d3g"):
        book = analysis.profile_params(chapter, "paper")
        value = "dtd" if chapter == "muse" else "fairface"
    yours = dataclasses.replace(book, **{name: value}, **({"model": "ViT-B-32"} if chapter in ("muse", "d3g") else {}))
    q = ad.book_params(book, yours)
    assert getattr(q, name) == value
    assert getattr(q, ad.models) == getattr(book, ad.models)
    assert q.seeds == book.seeds


def test_a_run_of_the_books_own_models_has_nothing_beside_it():
    p = analysis.profile_params("prevalence", "tiny")
    assert beside.compare(p, xr.Dataset()) is None
    assert beside.compare(analysis.profile_params("muse", "tiny")) is None


def test_a_clip_model_on_the_laptop_profile_says_why_nothing_is_beside_it():
    from fairnotes.analysis import muse
    p = muse.Params.from_mapping({"model": "ViT-B-32", "dataset": "flowers102", "profile": "laptop"})
    side = beside.compare(p)
    assert "unavailable" in side.attrs and "lit" in side.attrs["unavailable"]
    assert "not possible here" in beside.report(side).data


def test_muse_rows_are_the_chapters_text_only_and_claim_settings():
    ds = committed("muse")
    rows = beside.ADAPTERS["muse"].rows(ds, "lit")
    assert rows[0]["setting"] == "text only"
    assert rows[0]["accuracy"] == float(ds["accuracy"].sel(setting="labelled-5", entry="text"))
    lab = next(r for r in rows if "labelled-5" in r["setting"])
    assert lab["accuracy"] == float(ds["accuracy"].sel(setting="labelled-5", entry="heldout"))
    assert lab["disparity_upper"] == float(ds["easy_hard_upper"].sel(setting="labelled-5", entry="heldout"))
    assert lab["n_class_min"] == int(ds["class_support"].min()) and lab["chance"] == 1 / ds.sizes["label"]


def test_d3g_rows_read_the_claims_settings():
    ds = committed("d3g")
    rows = beside.ADAPTERS["d3g"].rows(ds, "lit")
    from fairnotes.analysis.d3g import RACE7
    assert [r["setting"] for r in rows][:2] == [f"{RACE7}: text only", f"{RACE7}: D3G (w on validation)"]
    assert rows[1]["disparity"] == float(ds["skin_tone_difference"].sel(setting=RACE7, entry="heldout"))
    assert rows[0]["n_class_min"] == int(ds["skin_tone_count"].sel(setting=RACE7).min())


@pytest.mark.slow
def test_tiny_prevalence_with_a_new_model_beside_the_books(tmp_path):
    """End to end on the tiny profile: an untrained model (lr 1e-7) beside the tiny profile's models."""
    from fairnotes.analysis import prevalence
    tiny = analysis.profile_params("prevalence", "tiny")
    p = dataclasses.replace(tiny, models=("cnn:width=2",), capacity=(), budget_models=(),
                            full_data_model="cnn:width=2", lr=1e-7)
    ds = prevalence.run(p, progress=False)
    side = beside.compare(p, ds, progress=False)
    assert list(side["source"].values) == ["yours", "book", "book"]
    assert list(side["model"].values) == ["cnn:width=2", *tiny.models]
    book = prevalence.run(dataclasses.replace(tiny, capacity=(), capacity_datasets=(), budget_models=(),
                                              budget_seeds=(), full_data_seeds=()), progress=False)
    for m in tiny.models:
        i = list(side["model"].values).index(m)
        assert float(side["disparity"].values[i]) == float(book["gap"].sel(dataset="digits", model=m))
    assert bool(side["near_chance"].values[0])
    text = " ".join(beside.warnings_of(side))
    assert "within 0.10 of chance" in text and "reflects training, not the classes" in text
    assert "smallest class has" in text  # digits: ~50 test images per class
    assert side["verdict"].sel(verdict_model="cnn:width=2", claim="cui.balanced_disparity").item() in \
        analysis.VERDICTS
