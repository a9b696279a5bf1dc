"""The representation chapter's analysis on small hand-made head results, against independent oracles."""
from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from sklearn.metrics import recall_score

from fairnotes import data, results
from fairnotes.analysis import AGREES, CANNOT_TELL, DISAGREES, ParamError
from fairnotes.analysis import representation as chapter

ROOT = Path(__file__).resolve().parents[2]
K, PER_CLASS = 5, 20
NAMES = ["a", "b", "c", "d", "e"]
BASE = np.array([0.95, 0.85, 0.70, 0.55, 0.40])
# per head: (family, param, per-class accuracy); accuracies are multiples of 1/20, exact by construction
HEADS = {
    "linear": ("linear", math.nan, BASE),
    "crt": ("crt", math.nan, np.array([0.90, 0.85, 0.75, 0.60, 0.45])),
    "knn(k=3)": ("knn", 3.0, np.array([0.90, 0.85, 0.75, 0.65, 0.55])),
    "ncm": ("ncm", math.nan, np.array([0.90, 0.80, 0.75, 0.50, 0.45])),
    "classifier": ("classifier", math.nan, BASE),
    # τ = 0 and τ = 2 rank the classes backwards: only the τ chosen on held-out images (1) may count towards W;
    # τ = 2 has the smallest gap and the best accuracy on the test set, but a candidate is never "the best head"
    "tau_norm(tau=0)": ("tau_norm", 0.0, BASE[::-1]),
    "tau_norm(tau=1)": ("tau_norm", 1.0, np.array([0.95, 0.80, 0.70, 0.60, 0.45])),
    "tau_norm(tau=2)": ("tau_norm", 2.0, np.array([0.65, 0.70, 0.75, 0.80, 0.85])),
    "tau_norm(selected)": ("tau_norm_selected", 1.0, np.array([0.95, 0.80, 0.70, 0.60, 0.45])),
}
# balanced accuracy on the held-out training images: τ = 1 wins there
VAL = {"tau_norm(tau=0)": 0.6, "tau_norm(tau=1)": 0.8, "tau_norm(tau=2)": 0.7, "tau_norm(selected)": 0.8}
VAL_PER_CLASS = 20
SEED_SHIFT = {0: np.zeros(K), 1: np.array([-0.05, 0, 0, 0, 0.05]), 2: np.array([0, 0.05, 0, -0.05, 0])}
NORMS = np.array([1.0, 1.3, 0.9, 1.1, 1.2])


def _predict(acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Targets and predictions with exactly ``acc[c]`` of class ``c`` right (the rest called c + 1)."""
    target = np.repeat(np.arange(K), PER_CLASS)
    pred = target.copy()
    for c in range(K):
        idx = np.flatnonzero(target == c)
        wrong = idx[int(round(acc[c] * PER_CLASS)):]
        pred[wrong] = (c + 1) % K
    return target, pred


def _heads_result(seed: int, heads=HEADS, norms=NORMS, n_train=500, n_val: int | None = VAL_PER_CLASS) -> xr.Dataset:
    """One seed's heads as :func:`fairnotes.heads.evaluate_heads` and :func:`probe.on_run` return them (the
    variables read here); ``n_val``: held-out images per class that chose τ (0: none, the fallback τ = 1)."""
    preds, accs = [], []
    for fam, _, acc in heads.values():
        target, pred = _predict(np.clip(acc + SEED_SHIFT[seed % 3], 0, 1))
        preds.append(pred)
        accs.append(recall_score(target, pred, average=None, labels=np.arange(K)))
    preds, accs = np.array(preds), np.array(accs)
    ds = xr.Dataset({"prediction": (("head", "sample"), preds), "target": ("sample", target),
                     "accuracy": (("head", "label"), accs),
                     "overall_accuracy": ("head", (preds == target).mean(1)),
                     "balanced_accuracy": ("head", accs.mean(1))},
                    coords={"head": list(heads), "head_family": ("head", [v[0] for v in heads.values()]),
                            "head_param": ("head", [v[1] for v in heads.values()]), "label": np.arange(K),
                            "class_name": ("label", NAMES), "sample": np.arange(K * PER_CLASS)})
    if norms is not None:
        ds["weight_norm"] = ("label", norms)
    ds.attrs["n_train"] = n_train
    if "tau_norm(selected)" in heads:
        ds.attrs.update(val_per_class=VAL_PER_CLASS, tau_selected=1.0, selection="...",
                        validation="up to 20 training images per class that the run never trained on" if n_val else
                        "none, because the run trained on every image of the toy training split: ...",
                        validation_missing="" if n_val else "the run trained on every image of the toy training split")
        if n_val:
            ds["val_balanced_accuracy"] = ("head", [VAL.get(h, math.nan) for h in heads])
            ds.attrs["n_val_min_per_class"] = n_val
    return ds


def _etf_run(seed: int) -> xr.Dataset:
    target, pred = _predict(np.clip(np.array([0.90, 0.80, 0.70, 0.60, 0.50]) + SEED_SHIFT[seed], 0, 1))
    return xr.Dataset({"prediction": ("sample", pred), "target": ("sample", target)})


PRETRAINED = {h: HEADS[h] for h in ("linear", "crt", "knn(k=3)", "ncm")}
LT_NORMS = np.array([2.0, 1.5, 1.6, 1.1, 0.8])
# the well-trained backbone (one seed, trained on every image: τ not chosen): its own classifier differs from the
# briefly trained one; the linear probe equals it (Δgap 0), kNN keeps 0.90 - 0.55 against 0.95 - 0.55
WT = "toy / cnn, all images, 20 epochs"
WT_CLASSIFIER = np.array([0.95, 0.90, 0.80, 0.70, 0.55])
WT_HEADS = HEADS | {"classifier": ("classifier", math.nan, WT_CLASSIFIER),
                    "linear": ("linear", math.nan, WT_CLASSIFIER)}


def _settings(etf: bool = True, well: bool = True) -> dict[str, xr.Dataset]:
    seeds = [0, 1, 2]
    trained = chapter.stack_heads([_heads_result(s) for s in seeds], seeds,
                                  etf=[_etf_run(s) for s in seeds] if etf else None, dataset="toy", backbone="cnn")
    pre = chapter.stack_heads([_heads_result(0, heads=PRETRAINED, norms=None)], [0], dataset="toy",
                              backbone="lite0", pretrained=True)
    out = {"toy / cnn": trained, "toy / lite0 (pretrained, frozen)": pre}
    if well:
        out[WT] = chapter.stack_heads([_heads_result(0, heads=WT_HEADS, n_val=0)], [0], dataset="toy",
                                      backbone="cnn, all images, 20 epochs")
    return out


def _summarize(etf: bool = True, well: bool = True, **kw) -> xr.Dataset:
    settings = _settings(etf, well)
    lt = _heads_result(0, norms=LT_NORMS, n_train=int(data.long_tail_counts(100, 10.0, K).sum()))
    return chapter.summarize(settings, main="toy / cnn", taus=(0.0, 1.0, 2.0), n_boot=200, long_tail=lt,
                             long_tail_balanced=settings["toy / cnn"], long_tail_n_max=100, long_tail_ratio=10.0,
                             well_trained=WT if well else None, **kw)


@pytest.fixture(scope="module")
def ds() -> xr.Dataset:
    return _summarize()


def _oracle_acc(head: str, seeds=(0, 1, 2)) -> np.ndarray:
    """Seed-mean per-class accuracy by sklearn's recall."""
    per_seed = []
    for s in seeds:
        target, pred = _predict(np.clip(HEADS[head][2] + SEED_SHIFT[s], 0, 1)) if head in HEADS else \
            (_etf_run(s)["target"].values, _etf_run(s)["prediction"].values)
        per_seed.append(recall_score(target, pred, average=None))
    return np.mean(per_seed, axis=0)


# ------------------------------------------------------------------------------------------ params


def test_params_defaults_match_the_notebook():
    from fairnotes.runner import parameters
    cell = {k: v["default"] for k, v in parameters("representation", ROOT).items()}
    p = chapter.Params()
    assert set(cell) == set(chapter.Params.names())
    for k, v in cell.items():
        got = getattr(p, k)
        assert (list(got) if isinstance(got, tuple) else got) == v, k
    assert chapter.Params.from_mapping(cell) == p


def test_wrong_type_names_the_parameter():
    with pytest.raises(ParamError, match="'seeds'"):
        chapter.Params.from_mapping({"seeds": 0.5})
    with pytest.raises(ParamError, match="'epochs'"):
        chapter.Params.from_mapping({"epochs": "4"})
    p = chapter.Params.from_mapping({"epochs": 2, "taus": [0, 1], "train_per_class": None})
    assert p.epochs == 2 and p.taus == (0.0, 1.0) and p.train_per_class is None


def test_module_imports_without_torch():
    code = "import sys, fairnotes.analysis.representation as r; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------ pieces


def test_stack_heads_appends_the_etf_twin_and_checks_targets():
    sw = _settings()["toy / cnn"]
    assert sw["prediction"].dims == ("head", "seed", "sample")
    assert list(sw["head"].values) == list(HEADS) + [chapter.ETF_HEAD]
    # what the held-out images chose travels along; the selected head's τ is per seed, not a head_param
    assert sw["tau_selected"].values.tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(float(sw["head_param"].sel(head="tau_norm(selected)")))
    assert sw.attrs["val_min_per_class"] == VAL_PER_CLASS and sw.attrs["val_per_class"] == VAL_PER_CLASS
    np.testing.assert_allclose(sw["val_balanced_accuracy"].sel(head="tau_norm(tau=2)"), 0.7)
    assert np.isnan(sw["val_balanced_accuracy"].sel(head=chapter.ETF_HEAD)).all()
    assert str(sw["head_family"].sel(head=chapter.ETF_HEAD).values) == "etf"
    np.testing.assert_array_equal(sw["prediction"].sel(head=chapter.ETF_HEAD, seed=1), _etf_run(1)["prediction"])
    np.testing.assert_allclose(sw["weight_norm"], NORMS)
    bad = _etf_run(0)
    bad["target"] = ("sample", bad["target"].values[::-1])
    with pytest.raises(ValueError, match="same test images"):
        chapter.stack_heads([_heads_result(0)], [0], etf=[bad])


def test_the_heads_chosen_on_heldout_images_replace_their_candidates_for_agreement():
    heads = ["classifier", "knn(k=3)", "knn(k=5)", "knn(selected)", "tau_norm(tau=0)", "tau_norm(tau=1)",
             "tau_norm(selected)"]
    fam = ["classifier", "knn", "knn", "knn_selected", "tau_norm", "tau_norm", "tau_norm_selected"]
    got = chapter.distinct_heads(heads, fam, [math.nan, 3.0, 5.0, math.nan, 0.0, 1.0, math.nan], (0.0, 1.0))
    assert got == ["classifier", "knn(selected)", "tau_norm(selected)"]


@pytest.mark.parametrize("taus, tau", [((0.0, 0.5, 1.0, 1.5, 2.0), 1.0), ((0.0, 1.0), 1.0), ((0.0, 0.5), 0.5),
                                       ((2.0, 0.0, 1.5, 0.5), 1.5), ((0.5,), 0.5)])
def test_without_selection_one_tau_fixed_in_advance_counts_for_agreement(taus, tau):
    assert chapter.chosen_tau(taus) == tau
    heads = ["classifier", "knn(k=3)"] + [f"tau_norm(tau={t:g})" for t in taus]
    fam = ["classifier", "knn"] + ["tau_norm"] * len(taus)
    got = chapter.distinct_heads(heads, fam, [math.nan, 3.0, *taus], taus)
    assert got == ["classifier", "knn(k=3)", f"tau_norm(tau={tau:g})"]


# ------------------------------------------------------------------------------------------ summarize


def test_gaps_and_paired_deltas_match_sklearn(ds):
    s = ds.sel(setting="toy / cnn")
    ref = _oracle_acc("classifier")
    for h in list(HEADS) + [chapter.ETF_HEAD]:
        acc = _oracle_acc(h)
        gap = acc.max() - acc.min()
        assert np.isclose(float(s["gap"].sel(head=h)), gap), h
        assert np.isclose(float(s["worst"].sel(head=h)), acc.min()), h
        assert str(s["worst_class"].sel(head=h).values) == NAMES[acc.argmin()]
        assert float(s["gap_lower"].sel(head=h)) <= gap <= float(s["gap_upper"].sel(head=h))
        d = float(s["delta_gap"].sel(head=h))
        assert np.isclose(d, gap - (ref.max() - ref.min())), h
        assert float(s["delta_gap_lower"].sel(head=h)) <= d + 1e-12
        assert d - 1e-12 <= float(s["delta_gap_upper"].sel(head=h))
        assert np.isclose(float(s["delta_mean"].sel(head=h)), acc.mean() - ref.mean())
    # the linear probe equals the classifier on every seed and image: a paired delta of exactly zero
    lin = s.sel(head="linear")
    assert float(lin["delta_gap_lower"]) == float(lin["delta_gap_upper"]) == 0.0
    assert str(s["reference"].values) == "classifier"


def test_pretrained_deltas_are_against_the_linear_probe(ds):
    s = ds.sel(setting="toy / lite0 (pretrained, frozen)")
    assert str(s["reference"].values) == "linear"
    assert list(s["head"].values[s["present"].values]) == list(PRETRAINED)
    acc = {h: recall_score(*_predict(PRETRAINED[h][2]), average=None) for h in PRETRAINED}
    gap = {h: a.max() - a.min() for h, a in acc.items()}
    assert np.isclose(float(s["delta_gap"].sel(head="knn(k=3)")), gap["knn(k=3)"] - gap["linear"])
    assert np.isnan(float(s["gap"].sel(head="classifier")))
    assert np.isnan(float(s["rho_norm_accuracy"]))


def test_kendall_w_over_distinct_heads_matches_mean_spearman_identity(ds):
    s = ds.sel(setting="toy / cnn")
    raters = [h for h in list(HEADS) + [chapter.ETF_HEAD] if not h.startswith("tau_norm(tau=")]
    assert list(s["head"].values[s["in_agreement"].values]) == raters
    acc = np.array([_oracle_acc(h, seeds=(0,)) for h in raters])
    m = len(raters)
    rho = stats.spearmanr(acc.T).statistic
    mean_rho = rho[~np.eye(m, dtype=bool)].mean()
    # with no ties within a rater, W = (1 + (m - 1) * mean Spearman) / m
    assert all(len(set(a)) == K for a in acc)
    assert np.isclose(float(s["kendall_w"]), (1 + (m - 1) * mean_rho) / m)
    assert int(s["n_heads_agreement"]) == m
    assert float(s["kendall_w_lower"]) <= float(s["kendall_w"]) <= float(s["kendall_w_upper"])


def test_norm_correlations_match_scipy_with_fisher_intervals(ds):
    s = ds.sel(setting="toy / cnn")
    acc0 = _oracle_acc("classifier", seeds=(0,))
    rho = stats.spearmanr(NORMS, acc0).statistic
    assert np.isclose(float(s["rho_norm_accuracy"]), rho)
    z, se = math.atanh(rho), math.sqrt((1 + rho ** 2 / 2) / (K - 3))
    assert np.isclose(float(s["rho_norm_accuracy_lower"]), math.tanh(z - stats.norm.ppf(0.975) * se))
    counts = np.array([100, 56, 32, 18, 10])  # 100 · 10^(-c/4), rounded: the hand-worked long tail
    np.testing.assert_array_equal(ds["train_images_long_tail"], counts)
    assert int(ds["n_train_long_tail"]) == counts.sum() == int(ds["n_train_long_tail_seen"])
    assert np.isclose(float(ds["rho_long_tail_frequency"]), stats.spearmanr(LT_NORMS, counts).statistic)
    assert np.isclose(float(ds["rho_long_tail_accuracy"]), stats.spearmanr(LT_NORMS, acc0).statistic)
    np.testing.assert_allclose(ds["accuracy_balanced"], acc0)
    np.testing.assert_allclose(ds["norm_balanced"], NORMS)


def test_long_tail_counts_come_from_the_data_module(monkeypatch):
    monkeypatch.setattr(data, "long_tail_counts", lambda n, r, k: np.arange(k)[::-1] + 1)
    got = _summarize()
    np.testing.assert_array_equal(got["train_images_long_tail"], [5, 4, 3, 2, 1])
    assert int(got["n_train_long_tail"]) == 15


def test_long_tail_head_table(ds):
    acc = ds["long_tail_accuracy"]
    assert np.isclose(float(acc.sel(head="classifier")), BASE.mean())
    assert np.isnan(float(acc.sel(head=chapter.ETF_HEAD)))
    g = chapter.glue_values(ds)
    # the τ-normalised head of the long-tailed run is the one chosen on held-out images, not the test set's best
    assert g["lt_tau_head"] == "tau_norm(selected)"
    assert np.isclose(g["lt_tau_acc"], HEADS["tau_norm(selected)"][2].mean())
    assert float(acc.sel(head="tau_norm(tau=2)")) > g["lt_tau_acc"]  # what choosing on the test set would pick
    assert g["lt_tau_text"] == "τ = 1, chosen by balanced accuracy on 20 training images per class that the " \
                               "long-tailed subset left out"
    assert chapter.tables(ds)["long_tail_heads"].loc["tau_norm(tau=2)", "held-out balanced accuracy"] == 0.7


def test_saves_and_reloads(ds, tmp_path):
    back = results.load(results.save(ds, tmp_path / "a.nc"))
    assert list(back["head"].values) == list(ds["head"].values)
    assert list(chapter.claims(back)["verdict"].values) == list(chapter.claims(ds)["verdict"].values)
    assert chapter.glue_values(back) == chapter.glue_values(ds)


# ------------------------------------------------------------------------------------------ claims


def _set(ds: xr.Dataset, var: str, values: tuple[float, float, float], **at) -> xr.Dataset:
    ds = ds.copy(deep=True)
    for name, v in zip((var, f"{var}_lower", f"{var}_upper"), values):
        if at:
            ds[name].loc[at] = v
        else:
            ds[name] = v
    return ds


MAIN = {"setting": "toy / cnn"}
CASES = {
    "cui.knn_keeps_gap": ("delta_gap", MAIN | {"head": "knn(k=3)"},
                          {AGREES: (0.01, -0.02, 0.04), DISAGREES: (-0.2, -0.3, -0.1), CANNOT_TELL: (-0.04, -0.09, 0.01)}),
    "cui.etf_keeps_gap": ("delta_gap", MAIN | {"head": chapter.ETF_HEAD},
                          {AGREES: (0.0, -0.05, 0.05), DISAGREES: (0.2, 0.06, 0.3), CANNOT_TELL: (0.05, 0.0, 0.1)}),
    "cui.retrain_keeps_gap": ("delta_gap", MAIN | {"head": "linear"},
                              {AGREES: (0.0, -0.01, 0.01), DISAGREES: (-0.1, -0.15, -0.06),
                               CANNOT_TELL: (-0.05, -0.1, 0.0)}),
    chapter.WELL_TRAINED_ID: ("delta_gap", {"setting": WT, "head": "linear"},
                              {AGREES: (0.02, -0.03, 0.04), DISAGREES: (-0.2, -0.25, -0.12),
                               CANNOT_TELL: (-0.03, -0.08, 0.02)}),
    "cui.heads_agree": ("kendall_w", MAIN, {AGREES: (0.9, 0.8, 0.95), DISAGREES: (0.5, 0.4, 0.6),
                                            CANNOT_TELL: (0.7, 0.6, 0.8)}),
    "cui.norms_do_not_explain": ("rho_norm_accuracy", MAIN, {AGREES: (0.1, -0.3, 0.4), DISAGREES: (0.9, 0.6, 0.97),
                                                             CANNOT_TELL: (0.4, -0.2, 0.8)}),
    "kang.norms_track_frequency": ("rho_long_tail_frequency", {}, {AGREES: (0.8, 0.3, 0.95),
                                                                   DISAGREES: (-0.8, -0.95, -0.3),
                                                                   CANNOT_TELL: (0.2, -0.4, 0.7)}),
}


@pytest.mark.parametrize("claim", list(CASES))
@pytest.mark.parametrize("verdict", [AGREES, DISAGREES, CANNOT_TELL])
def test_each_claim_reaches_each_verdict(ds, claim, verdict):
    var, at, cases = CASES[claim]
    found = chapter.claims(_set(ds, var, cases[verdict], **at))
    c = found.sel(claim=claim)
    assert str(c["verdict"].values) == verdict
    assert np.isclose(float(c["ours"]), cases[verdict][0])
    assert str(c["section"].values) in (ROOT / "book" / "representation.md").read_text()


def test_claims_on_the_synthetic_data(ds):
    found = chapter.claims(ds)
    assert list(found["claim"].values) == list(CASES)
    # the linear probe equals the classifier here: Δgap = 0 with a zero-width paired interval
    assert str(found["verdict"].sel(claim="cui.retrain_keeps_gap").values) == AGREES
    assert (found["chapter"].values == "representation").all()
    # the well-trained backbone: the same paper claim and rule, its own id, its own classifier as reference
    wt = found.sel(claim=chapter.WELL_TRAINED_ID)
    assert str(wt["verdict"].values) == AGREES and float(wt["ours"]) == 0.0
    same = found.sel(claim="cui.retrain_keeps_gap")
    assert str(wt["statement"].values) == str(same["statement"].values)
    assert str(wt["paper"].values) == str(same["paper"].values)
    acc = (WT_CLASSIFIER * PER_CLASS).sum() / (K * PER_CLASS)
    assert str(wt["measure"].values) == (f"Δgap, linear probe − classifier (well-trained backbone {WT}; overall "
                                         f"accuracy {acc:.3f}; 1 seed, paired)")
    assert str(wt["section"].values) == "A well-trained backbone"
    assert "one seed: the interval covers the test images only" in str(wt["note"].values)


def test_without_the_well_trained_backbone_there_is_no_such_claim():
    found = chapter.claims(_summarize(well=False))
    assert chapter.WELL_TRAINED_ID not in list(found["claim"].values)
    assert list(found["claim"].values) == [c for c in CASES if c != chapter.WELL_TRAINED_ID]


def test_without_etf_there_is_no_etf_claim():
    found = chapter.claims(_summarize(etf=False))
    assert "cui.etf_keeps_gap" not in list(found["claim"].values)
    g = chapter.glue_values(_summarize(etf=False))
    assert math.isnan(g["d_etf"]) and g["gap_etf_text"] == g["share_etf_text"] == "–"


# ------------------------------------------------------------------------------------------ glue, tables


def test_glue_values_cover_the_notebook(ds):
    text = (ROOT / "book" / "representation.md").read_text()
    used = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", text))
    g = chapter.glue_values(ds)
    assert used and used <= set(g), sorted(used - set(g))
    for cid in chapter.claims(ds)["claim"].values:
        assert "verdict_" + re.sub(r"[^A-Za-z0-9]", "_", str(cid)) in g
    # smallest gap among distinct heads: 0.90 - 0.55 on seed 0, the seeds' mean alike; the candidate τ = 2 has a
    # smaller gap on the test set, but it is not a head the chapter chose
    assert g["rep_min_head"] == "knn(k=3)"
    assert np.ptp(_oracle_acc("tau_norm(tau=2)")) < g["rep_min_gap"]
    assert np.isclose(g["rep_min_gap"], np.ptp(_oracle_acc("knn(k=3)")))
    assert np.isclose(g["rep_classifier_gap"], np.ptp(_oracle_acc("classifier")))
    assert g["rep_n_heads"] == len(HEADS) + 1 and g["rep_n_distinct"] == len(HEADS) + 1 - 3
    assert g["w_tau_head"] == "tau_norm(selected)"
    assert g["w_tau_text"] == ("τ = 1, 1, 1 (seeds 0, 1, 2), chosen by balanced accuracy on 20 held-out training "
                               "images per class")
    # the well-trained run left no image out: its τ is not chosen, and the chapter says so
    assert g["selection_text"] == "; ".join([
        "toy / cnn: " + g["w_tau_text"], f"{WT}: τ = 1 (seed 0): Kang et al.'s default, not chosen, because the "
        "run trained on every image of the toy training split"])
    assert g["no_selection_text"] == WT
    # the share of the classifier's gap each head removes
    for key, head in (("knn", "knn(k=3)"), ("etf", chapter.ETF_HEAD)):
        gap, ref = np.ptp(_oracle_acc(head)), np.ptp(_oracle_acc("classifier"))
        assert np.isclose(g[f"gap_{key}"], gap) and np.isclose(g[f"share_{key}"], (ref - gap) / ref)
        assert g[f"share_{key}_text"] == f"{(ref - gap) / ref:.0%}"


def test_without_heldout_images_tau_is_one_and_the_chapter_says_why():
    seeds = [0, 1]
    sw = chapter.stack_heads([_heads_result(s, n_val=0) for s in seeds], seeds, dataset="full", backbone="cnn")
    assert sw.attrs["val_min_per_class"] == 0 and "val_balanced_accuracy" not in sw
    out = chapter.summarize({"full / cnn": sw}, taus=(0.0, 1.0, 2.0), n_boot=50)
    g = chapter.glue_values(out)
    assert g["w_tau_head"] == "tau_norm(selected)"
    assert g["w_tau_text"] == ("τ = 1, 1 (seeds 0, 1): Kang et al.'s default, not chosen, because the run trained on "
                               "every image of the toy training split")
    assert g["no_selection_text"] == "full / cnn"
    role = chapter.head_tables(out)["full / cnn"]["setting chosen"]
    assert role["tau_norm(selected)"] == "τ = 1, 1, not chosen (no held-out images)"
    assert role["tau_norm(tau=0)"].startswith("candidate")


def test_without_selection_asked_the_fixed_tau_is_read():
    """Heads fitted without ``val_per_class`` (no selected head): τ = 1, fixed in advance, never the test's best."""
    plain = {h: v for h, v in HEADS.items() if h != "tau_norm(selected)"}
    seeds = [0, 1]
    sw = chapter.stack_heads([_heads_result(s, heads=plain) for s in seeds], seeds, dataset="toy", backbone="cnn")
    assert sw.attrs["val_min_per_class"] == -1 and np.isnan(sw["tau_selected"]).all()
    out = chapter.summarize({"toy / cnn": sw}, taus=(0.0, 1.0, 2.0), n_boot=50)
    g = chapter.glue_values(out)
    assert g["w_tau_head"] == "tau_norm(tau=1)"
    assert g["w_tau_text"] == "τ = 1, fixed in advance (no held-out images asked for)"
    assert list(out["head"].values[out.sel(setting="toy / cnn")["in_agreement"].values]) == \
        [h for h in plain if h not in ("tau_norm(tau=0)", "tau_norm(tau=2)")]


def test_tables_and_frames(ds):
    ht = chapter.head_tables(ds)
    assert list(ht) == ["toy / cnn", "toy / lite0 (pretrained, frozen)"]
    assert list(ht["toy / cnn"].index) == list(HEADS) + [chapter.ETF_HEAD]
    assert "Δgap vs classifier [paired 95% CI]" in ht["toy / cnn"].columns
    assert "Δgap vs linear probe [paired 95% CI]" in ht["toy / lite0 (pretrained, frozen)"].columns
    t = chapter.tables(ds)
    assert set(t) >= {"agreement", "long_tail_heads", "ours_accuracy", "kang"}
    f = chapter.chart_frames(ds)
    assert "classifier" not in set(f["delta_gap"]["head"])
    assert {"tau_norm(tau=0) (candidate)", "tau_norm(selected)", "knn(k=3)"} <= set(f["delta_gap"]["head"])
    role = ht["toy / cnn"]["setting chosen"]
    assert role["tau_norm(tau=2)"].startswith("candidate") and role["linear"] == "–"
    assert role["tau_norm(selected)"] == "τ = 1, 1, 1 chosen on held-out training images"
    assert ht["toy / cnn"].loc["tau_norm(tau=0)", "held-out balanced accuracy"] == "0.600"
    assert len(f["norms"]) == 2 * K


# ------------------------------------------------------------------------------------------ job configs


def test_compute_builds_the_notebooks_job_configs(monkeypatch):
    """The analysis asks for exactly the jobs the notebook asked for (so the job cache is shared)."""
    from dataclasses import replace

    from fairnotes.jobs import probe, sweep, train
    asked = []

    def on_run(cfg, *, knn_k, taus, seed, val_per_class):
        asked.append(("probe", cfg.key(), knn_k, tuple(taus), seed, val_per_class))
        return _heads_result(seed % 3, norms=LT_NORMS if cfg.train_imbalance else NORMS)

    def on_pretrained(model, name, *, train_per_class, knn_k):
        asked.append(("pretrained", model, name, train_per_class, knn_k))
        return _heads_result(0, heads=PRETRAINED, norms=None)

    def cached(job, cfg):
        asked.append(("etf", cfg.key()))
        return _etf_run(cfg.seed % 3)

    monkeypatch.setattr(probe, "on_run", on_run)
    monkeypatch.setattr(probe, "on_pretrained", on_pretrained)
    monkeypatch.setattr(results, "cached", cached)
    p = chapter.Params(datasets=("digits",), backbones=("cnn:width=8",), seeds=(0, 1), n_boot=20, taus=(0.0, 1.0),
                       knn_k=3, long_tail_dataset="digits", long_tail_ratio=5.0, pretrained_train_per_class=5,
                       val_per_class=20)
    out = chapter._compute(p)

    # the old notebook's own construction, written out
    base = train.TrainConfig(dataset="digits", model="mlp", epochs=30, batch_size=128, optimizer="adamw", lr=0.002,
                             weight_decay=0.05, augment="crop", train_per_class=None, profile="laptop")
    want = []
    for seed in (0, 1):
        cfg = sweep.configs(base, models=["cnn:width=8"], seeds=[seed])[0]
        want += [("probe", cfg.key(), 3, (0.0, 1.0), seed, 20),
                 ("etf", replace(cfg, head="etf", progress=False).key())]
    want.append(("pretrained", "efficientnet_lite0", "digits", 5, 3))
    lt = replace(sweep.configs(base, models=["cnn:width=8"], seeds=[0])[0], train_imbalance=5.0, train_per_class=1000)
    want.append(("probe", lt.key(), 3, (0.0, 1.0), 0, 20))
    assert asked == want
    assert int(out["n_train_long_tail"]) == int(data.long_tail_counts(1000, 5.0, K).sum())
    assert lt.key() in out.attrs["jobs"]["train"]
    assert len(out.attrs["jobs"]["probe.heads"]) == 4
    # the prevalence chapter's laptop full-data model trains on fashion-mnist, not digits: no well-trained setting
    assert out.attrs["well_trained_setting"] == "" and "not on digits" in out.attrs["well_trained_missing"]
    # the logged heads keys are those of the heads asked for, validation split included
    assert probe.HeadsConfig(source=lt, knn_k=[3], taus=[0.0, 1.0], seed=0, val_per_class=20).key() in \
        out.attrs["jobs"]["probe.heads"]


# ------------------------------------------------------------------------------------------ the well-trained backbone


def test_the_well_trained_backbone_is_one_more_setting(ds):
    """Summarised like the others (paired against its own classifier), never the main setting, and kept out of the
    agreement table and of the smallest W over settings."""
    assert list(ds["setting"].values) == ["toy / cnn", "toy / lite0 (pretrained, frozen)", WT]
    assert ds.attrs["main_setting"] == "toy / cnn" and ds.attrs["well_trained_setting"] == WT
    assert ds["well_trained"].values.tolist() == [False, False, True]
    s = ds.sel(setting=WT)
    assert str(s["reference"].values) == "classifier" and int(s["n_seeds"]) == 1
    assert int(s["val_min_per_class"]) == 0  # trained on every image: τ = 1, not chosen
    assert not bool(s["present"].sel(head=chapter.ETF_HEAD))
    ref = recall_score(*_predict(WT_CLASSIFIER), average=None)
    knn = recall_score(*_predict(HEADS["knn(k=3)"][2]), average=None)
    assert np.isclose(float(s["gap"].sel(head="classifier")), np.ptp(ref))
    assert np.isclose(float(s["overall_accuracy"].sel(head="classifier")), ref.mean())
    assert np.isclose(float(s["delta_gap"].sel(head="knn(k=3)")), np.ptp(knn) - np.ptp(ref))
    assert float(s["delta_gap_lower"].sel(head="knn(k=3)")) <= float(s["delta_gap"].sel(head="knn(k=3)")) <= \
        float(s["delta_gap_upper"].sel(head="knn(k=3)"))
    # the rest of the chapter reads as it did without it
    plain = _summarize(well=False)
    g, g0 = chapter.glue_values(ds), chapter.glue_values(plain)
    for key in ("rep_main", "rep_classifier_gap", "d_linear", "d_knn", "w_main", "w_main_lo", "agree_w_min",
                "agree_w_lo_min", "rho_bal", "rho_lt_freq", "lt_tau_acc", "verdict_cui_heads_agree"):
        assert g[key] == g0[key], key
    assert g["agree_w_min"] == float(plain["kendall_w"].min())
    t, t0 = chapter.tables(ds), chapter.tables(plain)
    assert t["agreement"].equals(t0["agreement"])
    assert list(chapter.head_tables(ds)) == list(chapter.head_tables(plain))
    assert list(chapter.head_tables(ds, well_trained=True)) == [WT]
    assert "Δgap vs classifier [paired 95% CI]" in t["well_trained"].columns
    assert "well_trained" not in t0
    with pytest.raises(ValueError, match="well-trained setting"):
        chapter.summarize(_settings(), main="toy / cnn", well_trained="toy / cnn")


def test_well_trained_glue_both_ways(ds, tmp_path):
    text = (ROOT / "book" / "representation.md").read_text()
    used = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", text))
    assert {k for k in used if k.startswith("wt_")} >= {"wt_text", "wt_classifier_acc_text", "wt_classifier_gap_text",
                                                        "wt_d_linear_text", "wt_d_knn_text", "wt_verdict"}
    g = chapter.glue_values(ds)
    ref = recall_score(*_predict(WT_CLASSIFIER), average=None)
    knn = recall_score(*_predict(HEADS["knn(k=3)"][2]), average=None)
    assert g["wt_present"] == 1 and g["wt_setting"] == WT and g["wt_n_seeds"] == 1
    assert np.isclose(g["wt_classifier_acc"], ref.mean()) and g["wt_classifier_acc_text"] == f"{ref.mean():.3f}"
    assert np.isclose(g["wt_classifier_gap"], np.ptp(ref))
    assert g["wt_classifier_gap_lo"] <= g["wt_classifier_gap"] <= g["wt_classifier_gap_hi"]
    assert g["wt_classifier_gap_text"] == f"{np.ptp(ref):.3f} [{g['wt_classifier_gap_lo']:.3f}, " \
                                          f"{g['wt_classifier_gap_hi']:.3f}]"
    assert g["wt_d_linear"] == g["wt_d_linear_lo"] == g["wt_d_linear_hi"] == 0.0
    assert np.isclose(g["wt_d_knn"], np.ptp(knn) - np.ptp(ref))
    assert g["wt_verdict"] == AGREES == g["verdict_cui_retrain_keeps_gap_well_trained"]
    assert g["wt_tau_text"].startswith("τ = 1 (seed 0): Kang et al.'s default, not chosen")
    assert g["wt_text"].startswith(WT) and WT in g["profile_text"]
    # not run: every key the prose reads is still there, as NaN, "–" or "not run"
    off = _summarize(well=False)
    off.attrs["well_trained_missing"] = "not asked for (`well_trained = False`)"
    g0 = chapter.glue_values(off)
    assert used <= set(g0), sorted(used - set(g0))
    assert {k for k in g if k.startswith("wt_")} == {k for k in g0 if k.startswith("wt_")}
    assert g0["wt_present"] == 0 and g0["wt_verdict"] == "not run" and g0["wt_setting"] == "not run"
    assert g0["wt_text"] == "not run in this profile: not asked for (`well_trained = False`)"
    assert all(math.isnan(g0[k]) for k in ("wt_classifier_acc", "wt_classifier_gap", "wt_d_linear", "wt_d_knn"))
    assert g0["wt_d_linear_text"] == g0["wt_classifier_gap_text"] == g0["wt_classifier_acc_text"] == "–"
    assert "verdict_cui_retrain_keeps_gap_well_trained" not in g0
    # saved and reloaded, the same
    back = results.load(results.save(ds, tmp_path / "wt.nc"))
    assert chapter.glue_values(back) == g


def test_well_trained_configs_are_prevalences_laptop_full_data_runs():
    """The laptop run is cached under exactly these keys: the configs must be the prevalence chapter's own."""
    from dataclasses import replace

    from fairnotes import runner
    from fairnotes.analysis import prevalence
    from fairnotes.jobs import train
    p = chapter.Params()
    assert p.well_trained is True
    spec, cfgs, why = chapter.well_trained_configs(p)
    pp = prevalence.Params.from_mapping({**runner.profile_parameters("prevalence", "laptop"), "profile": "laptop"})
    want = prevalence.full_data_configs(pp)
    assert spec == "cnn" and why == "" and len(cfgs) == 1
    assert [c.key() for c in cfgs] == [c.key() for c in want] and cfgs == want
    # written out: cnn on all 60,000 Fashion-MNIST images, 20 epochs, seed 0, the prevalence chapter's optimiser
    own = train.TrainConfig(dataset="fashion-mnist", model="cnn", epochs=20, batch_size=128, optimizer="adamw",
                            lr=0.002, weight_decay=0.05, augment="crop", train_per_class=None, pretrained=False,
                            profile="laptop", seed=0)
    assert cfgs[0].key() == own.key() and replace(cfgs[0], progress=None) == replace(own, progress=None)
    assert chapter._well_trained_backbone(spec, cfgs[0]) == "cnn, all images, 20 epochs"
    # why not
    assert chapter.well_trained_configs(replace(p, well_trained=False)) == \
        (None, [], "not asked for (`well_trained = False`)")
    spec, cfgs, why = chapter.well_trained_configs(replace(p, datasets=("mnist-5k",)))
    assert cfgs == [] and why == ("the prevalence chapter's laptop profile trains its full-data model on "
                                  "fashion-mnist, not on mnist-5k")


def test_compute_reads_the_full_data_run_through_the_job_cache(monkeypatch):
    """Tiny profile: the prevalence chapter's tiny full-data run (its sweep's own) gets the heads, logged, τ = 1."""
    from fairnotes import runner
    from fairnotes.analysis import prevalence
    from fairnotes.jobs import probe
    asked = []

    def on_run(cfg, *, knn_k, taus, seed, val_per_class):
        asked.append((cfg.key(), seed, val_per_class))
        return _heads_result(seed % 3, norms=LT_NORMS if cfg.train_imbalance else NORMS,
                             n_train=1437 if cfg.train_per_class is None else 500,
                             n_val=0 if cfg.train_per_class is None else VAL_PER_CLASS)

    monkeypatch.setattr(probe, "on_run", on_run)
    monkeypatch.setattr(probe, "on_pretrained", lambda *a, **k: _heads_result(0, heads=PRETRAINED, norms=None))
    monkeypatch.setattr(results, "cached", lambda job, cfg: _etf_run(cfg.seed % 3))
    p = chapter.Params.from_mapping({**runner.profile_parameters("representation", "tiny"), "profile": "tiny",
                                     "n_boot": 20})
    assert p.well_trained
    pp = prevalence.Params.from_mapping({**runner.profile_parameters("prevalence", "tiny"), "profile": "tiny"})
    want = prevalence.full_data_configs(pp)
    assert want and want[0].dataset == p.datasets[0] == "digits" and want[0].train_per_class is None
    out = chapter._compute(p)
    name = f"digits / {prevalence.full_data_spec(pp)}, all images, {pp.full_data_epochs} epoch" + \
        ("" if pp.full_data_epochs == 1 else "s")
    assert out.attrs["well_trained_setting"] == name and name in list(out["setting"].values)
    assert out.attrs["main_setting"] == "digits / cnn:width=8"
    assert [(c.key(), c.seed, p.val_per_class) for c in want] == [a for a in asked if a[0] in {c.key() for c in want}]
    assert {c.key() for c in want} <= set(out.attrs["jobs"]["train"])
    assert out.attrs["well_trained_n_train"] == 1437 and out.attrs["well_trained_missing"] == ""
    g = chapter.glue_values(out)
    assert g["wt_present"] == 1 and g["wt_verdict"] in (AGREES, DISAGREES, CANNOT_TELL)
    assert name in g["no_selection_text"]
    # switched off: nothing of it is asked for
    asked.clear()
    off = chapter._compute(replace_params(p, well_trained=False))
    assert not {c.key() for c in want} & {a[0] for a in asked}
    assert off.attrs["well_trained_setting"] == "" and chapter.glue_values(off)["wt_verdict"] == "not run"


def replace_params(p, **kw):
    from dataclasses import replace
    return replace(p, **kw)
