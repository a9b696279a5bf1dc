"""The remedies chapter's analysis on small synthetic sweeps with hand-worked answers (no training)."""
from __future__ import annotations

import math
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from sklearn.metrics import recall_score

from fairnotes.analysis import AGREES, CANNOT_TELL, DISAGREES, ParamError
from fairnotes.analysis import remedies as rm

ROOT = Path(__file__).resolve().parents[2]
K, PER_CLASS, SEEDS = 6, 100, (0, 1, 2)
NAMES = ["ant", "bee", "cat", "dog", "eel", "fox"]
SPECS = ["baseline", "mixup", "cutmix", "reweight", "randaugment", "baseline-probe", "simclr-finetune:epochs=8",
         "simclr-probe:epochs=8", "focal"]
# the ranking runs' mean accuracy per class: hard = labels 1, 4 (a tie at 0.3, the lower label harder),
# medium = 2, 3, easy = 0, 5 (⌊6/3⌋ = 2 at each end); rank 0..5 = labels 1, 4, 2, 3, 0, 5
RANKING = np.array([0.9, 0.3, 0.6, 0.8, 0.3, 0.95])
RANK = [4, 0, 2, 3, 1, 5]


def _runs(seed: int = 0) -> xr.Dataset:
    """remedy × seed × sample predictions: each remedy has its own per-class skill."""
    rng = np.random.default_rng(seed)
    target = np.repeat(np.arange(K), PER_CLASS)
    base = np.array([0.9, 0.5, 0.7, 0.8, 0.45, 0.95])
    skill = {s: base.copy() for s in SPECS}
    skill["mixup"] = base + np.array([0.0, -0.25, 0.0, 0.0, -0.25, 0.0])   # hurts the hard classes
    skill["reweight"] = base + np.array([-0.3, 0.3, 0.0, 0.0, 0.3, -0.3])  # lifts hard, costs easy
    skill["simclr-probe:epochs=8"] = base + np.array([0.0, 0.2, 0.0, 0.0, 0.2, 0.0])
    skill["baseline-probe"] = base + np.array([-0.1, 0.3, 0.0, 0.0, 0.3, 0.0])  # the control: a probe's own change
    preds = []
    for s in SPECS:
        per_seed = []
        for _ in SEEDS:
            right = rng.random(target.size) < np.clip(skill[s], 0, 1)[target]
            per_seed.append(np.where(right, target, (target + 1 + rng.integers(0, K - 1, target.size)) % K))
        preds.append(per_seed)
    pre = np.zeros((len(SPECS), len(SEEDS)))
    for s in ("simclr-finetune:epochs=8", "simclr-probe:epochs=8"):  # one shared pre-training per seed
        pre[SPECS.index(s)] = [120.0, 121.0, 122.0]
    return xr.Dataset(
        {"prediction": (("remedy", "seed", "sample"), np.array(preds, dtype=np.int16)),
         "target": ("sample", target.astype(np.int16)),
         "train_time_s": (("remedy", "seed"), np.full((len(SPECS), len(SEEDS)), 60.0)),
         "pretrain_time_s": (("remedy", "seed"), pre)},
        coords={"remedy": SPECS, "seed": list(SEEDS), "label": np.arange(K), "class_name": ("label", NAMES),
                "description": ("remedy", [f"what {s} does" for s in SPECS])})


def _ranking() -> xr.Dataset:
    acc = np.stack([np.stack([RANKING + d] * 2) for d in (0.05, -0.05)])  # model × seed × label, mean = RANKING
    ds = xr.Dataset({"accuracy": (("model", "seed", "label"), acc)},
                    coords={"model": ["mlp", "vit"], "seed": [0, 1], "label": np.arange(K),
                            "class_name": ("label", NAMES)})
    ds.attrs["chapter"] = "prevalence"
    return ds


@pytest.fixture(scope="module")
def summary_ds() -> xr.Dataset:
    return rm.summarize(_runs(), _ranking(), n_boot=200)


# ---------------------------------------------------------------------------------------------------------------
# parameters


def test_params_defaults_are_the_notebook_cell():
    from fairnotes.runner import parameters
    cell = {k: v["default"] for k, v in parameters("remedies", ROOT).items()}
    assert set(cell) == set(rm.Params.names())
    p = rm.Params()
    for name, value in cell.items():
        ours = getattr(p, name)
        assert (list(ours) if isinstance(ours, tuple) else ours) == value, name
    assert rm.Params.from_mapping(cell) == p


def test_params_wrong_type_names_the_parameter():
    with pytest.raises(ParamError, match="'seeds'"):
        rm.Params.from_mapping({"seeds": 0.5})
    with pytest.raises(ParamError, match="'n_boot'"):
        rm.Params.from_mapping({"n_boot": "1000"})


def test_difficulty_chapter_must_be_prevalence():
    with pytest.raises(ParamError, match="difficulty_chapter.*'prevalence'"):
        rm.Params.from_mapping({"difficulty_chapter": "representation"})
    with pytest.raises(ParamError, match="difficulty_chapter.*'prevalence'"):
        rm.Params(difficulty_chapter="representation")  # built directly, unchecked: still refused
    assert rm.Params.from_mapping({"difficulty_chapter": "prevalence"}).difficulty_chapter == "prevalence"


def test_every_profile_is_valid():
    from fairnotes.runner import profile_parameters
    for profile in ("laptop", "tiny", "paper"):
        rm.Params.from_mapping({**profile_parameters("remedies", profile, ROOT), "profile": profile})


def test_base_config_is_the_notebooks():
    from fairnotes.jobs import train
    p = rm.Params()
    want = train.TrainConfig(dataset="fashion-mnist", model="cnn", model_kwargs={"width": 16}, epochs=4,
                             batch_size=128, optimizer="adamw", lr=0.002, weight_decay=0.05, augment="crop",
                             train_per_class=1000, profile="laptop", progress=False)
    assert rm.base_config(p) == want and rm.base_config(p).key() == want.key()


def test_difficulty_runs_use_the_prevalence_jobs_without_the_own_model(monkeypatch):
    """The ranking is chapter 1's sweep for the same profile, minus this chapter's model; no fallback."""
    import fairnotes.analysis as pkg
    from fairnotes.jobs import sweep, train
    seen = {}

    class FakeParams:
        seeds = (0, 1)

        @classmethod
        def from_mapping(cls, values):
            seen["mapping"] = dict(values)
            return cls()

    base = train.TrainConfig(dataset="digits", model="mlp", epochs=1)
    fake = types.SimpleNamespace(Params=FakeParams, base_config=lambda pp, d: seen.setdefault("dataset", d) and base,
                                 architectures=lambda pp, d: ["mlp:width=16", "cnn:width=8", "cnn: width=8"])
    monkeypatch.setitem(sys.modules, "fairnotes.analysis.prevalence", fake)
    monkeypatch.setattr(pkg, "prevalence", fake, raising=False)

    def fake_run(b, *, models, seeds, progress=True):
        seen["run"] = (b, list(models), list(seeds))
        return xr.Dataset(attrs={})

    monkeypatch.setattr(sweep, "run", fake_run)
    p = rm.Params(profile="tiny", dataset="digits", model="cnn:width=8")
    log = rm.JobLog()
    out = rm.difficulty_runs(p, log=log, progress=False)
    assert seen["mapping"]["profile"] == "tiny" and seen["mapping"]["models"] == ["mlp:width=16", "cnn:width=4"]
    assert seen["dataset"] == "digits"
    assert seen["run"] == (base, ["mlp:width=16"], [0, 1])  # both spellings of cnn:width=8 dropped
    assert out.attrs["chapter"] == "prevalence"
    assert len(log.keys["train"]) == 2  # one job per seed of the one other model
    fake.architectures = lambda pp, d: ["cnn:width=8"]
    with pytest.raises(ValueError, match="no architecture"):
        rm.difficulty_runs(p, progress=False)


# ---------------------------------------------------------------------------------------------------------------
# summarize


def test_summarize_matches_independent_computations(summary_ds):
    runs, ds = _runs(), summary_ds
    y = runs["target"].values
    acc = {s: np.mean([recall_score(y, runs["prediction"].sel(remedy=s).values[i], average=None)
                       for i in range(len(SEEDS))], axis=0) for s in SPECS}
    for s in SPECS:
        np.testing.assert_allclose(ds["accuracy"].sel(remedy=s).values, acc[s])
        np.testing.assert_allclose(ds["delta_accuracy"].sel(remedy=s).values, acc[s] - acc["baseline"])
        d = acc[s] - acc["baseline"]
        assert math.isclose(float(ds["delta_group"].sel(remedy=s, group="hard")), d[[1, 4]].mean())
        assert math.isclose(float(ds["delta_group"].sel(remedy=s, group="easy")), d[[0, 5]].mean())
        gap = acc[s].max() - acc[s].min()
        assert math.isclose(float(ds["delta_gap"].sel(remedy=s)), gap - (acc["baseline"].max() - acc["baseline"].min()))
        assert math.isclose(float(ds["delta_mean"].sel(remedy=s)), acc[s].mean() - acc["baseline"].mean())
    assert ds["difficulty"].values.tolist() == ["easy", "hard", "medium", "medium", "hard", "easy"]
    assert ds["difficulty_rank"].values.tolist() == RANK
    np.testing.assert_allclose(ds["difficulty_accuracy"].values, RANKING)
    assert ds.attrs["groups"] == "hard: 1, 4; easy: 0, 5"
    assert "2 other architectures (mlp, vit) × 2 seeds in chapter 'prevalence'" in ds.attrs["ranked_by"]
    assert ds["kind"].values.tolist() == ["baseline", "mixup", "cutmix", "reweight", "randaugment", "baseline-probe",
                                          "simclr-finetune", "simclr-probe", "focal"]
    # 9 entries × 3 seeds × 60 s, plus one shared pre-training per seed (120 + 121 + 122 s)
    assert math.isclose(float(ds["train_minutes"]), (9 * 3 * 60 + 363) / 60)


def test_vs_probe_is_simclr_probe_minus_baseline_probe_per_replicate(summary_ds):
    """Δ gap (simclr-probe − baseline-probe): the point is the difference of the two deltas from the baseline, and
    the interval is the engine's on the per-replicate differences of the two entries' gaps."""
    from fairnotes.metrics._resample import replicate_accuracy, two_source_interval
    ds, runs = summary_ds, _runs()
    sim, ctl = "simclr-probe:epochs=8", "baseline-probe"
    assert ds.attrs["probe_reference"] == ctl
    assert math.isclose(float(ds["delta_gap_vs_probe"].sel(remedy=sim)),
                        float(ds["delta_gap"].sel(remedy=sim) - ds["delta_gap"].sel(remedy=ctl)), abs_tol=1e-12)
    assert float(ds["delta_gap_vs_probe"].sel(remedy=ctl)) == 0.0
    y = runs["target"].values.astype(int)
    hits = runs["prediction"].transpose("remedy", "seed", "sample").values == y
    obs, bi, bs = replicate_accuracy(y, hits, n_boot=200, seed=0)
    i, j = SPECS.index(sim), SPECS.index(ctl)
    gap = [a.max(-1) - a.min(-1) for a in (obs, bi, bs)]
    lo, hi = two_source_interval(gap[0][i] - gap[0][j], gap[1][:, i] - gap[1][:, j], gap[2][:, i] - gap[2][:, j],
                                 n_seeds=3)
    assert math.isclose(float(ds["delta_gap_vs_probe_lower"].sel(remedy=sim)), float(lo), rel_tol=1e-9)
    assert math.isclose(float(ds["delta_gap_vs_probe_upper"].sel(remedy=sim)), float(hi), rel_tol=1e-9)
    # without the control there is no such variable, and no such claim
    no_ctl = rm.summarize(runs.sel(remedy=[s for s in SPECS if s != ctl]), _ranking(), n_boot=50)
    assert "delta_gap_vs_probe" not in no_ctl and "probe_reference" not in no_ctl.attrs
    assert not [c for c in rm.claims(no_ctl)["claim"].values if "vs-probe" in str(c)]


def test_verdict_is_benjamini_hochberg_across_classes(summary_ds):
    v = summary_ds["verdict"].values
    np.testing.assert_array_equal(v == "hurt", summary_ds["hurt_fdr"].values)
    np.testing.assert_array_equal(v == "helped", summary_ds["helped_fdr"].values)
    # hand BH (step-up at q = 0.05) on each remedy's p-values, the sign from the change
    for i, s in enumerate(SPECS):
        p = summary_ds["delta_accuracy_p"].sel(remedy=s).values
        order = np.argsort(p)
        ok = np.flatnonzero(p[order] <= 0.05 * np.arange(1, K + 1) / K)
        rej = np.zeros(K, bool)
        rej[order[: ok[-1] + 1] if ok.size else []] = True
        d = summary_ds["delta_accuracy"].sel(remedy=s).values
        np.testing.assert_array_equal(v[i] == "hurt", rej & (d < 0), err_msg=s)
    assert (v[SPECS.index("baseline")] == "unclear").all()  # a zero change: p = 1
    assert set(v[SPECS.index("mixup"), [1, 4]]) == {"hurt"}
    assert rm.class_verdict(True, False) == "hurt" and rm.class_verdict(False, True) == "helped"
    assert rm.class_verdict(False, False) == "unclear"
    with pytest.raises(ValueError, match="both"):
        rm.class_verdict(True, True)
    assert rm.direction(-0.2, -0.1) == "decreased" and rm.direction(0.1, 0.2) == "increased"
    assert rm.direction(-0.1, 0.1) == "no clear change"


def test_summarize_refuses_mismatched_labels():
    bad = _ranking().isel(label=slice(0, 5))
    with pytest.raises(ValueError, match="same data set"):
        rm.summarize(_runs(), bad, n_boot=20)


def test_result_saves_and_loads(summary_ds, tmp_path):
    from fairnotes import results
    ds = summary_ds.copy()
    ds.attrs["jobs"] = {"train": ["abc", "def"]}
    back = results.load(results.save(ds, tmp_path / "a.nc"))
    assert back["verdict"].values.tolist() == ds["verdict"].values.tolist()
    assert back["difficulty"].values.tolist() == ds["difficulty"].values.tolist()
    c = rm.claims(ds)
    back = results.load(results.save(c, tmp_path / "c.nc"))
    assert back["verdict"].values.tolist() == c["verdict"].values.tolist()


# ---------------------------------------------------------------------------------------------------------------
# claims


def _set(ds: xr.Dataset, var: str, v: float, lo: float, hi: float, **sel) -> xr.Dataset:
    ds = ds.copy(deep=True)
    for name, x in ((var, v), (f"{var}_lower", lo), (f"{var}_upper", hi)):
        ds[name].loc[sel] = x
    return ds


OUTCOMES = {"lower": (-0.05, -0.08, -0.02), "higher": (0.05, 0.02, 0.08), "straddles": (0.0, -0.03, 0.03)}


@pytest.mark.parametrize("claim_id,var,sel,want", [
    ("cui.mixup_fairer", "delta_gap", {"remedy": "mixup"}, {"lower": AGREES, "higher": DISAGREES}),
    ("cui.cutmix_fairer", "delta_gap", {"remedy": "cutmix"}, {"lower": AGREES, "higher": DISAGREES}),
    ("cui.representation_learning_fairer:simclr-probe", "delta_gap", {"remedy": "simclr-probe:epochs=8"},
     {"lower": AGREES, "higher": DISAGREES}),
    ("cui.representation_learning_fairer:simclr-finetune", "delta_gap", {"remedy": "simclr-finetune:epochs=8"},
     {"lower": AGREES, "higher": DISAGREES}),
    ("cui.representation_learning_fairer:vs-probe", "delta_gap_vs_probe", {"remedy": "simclr-probe:epochs=8"},
     {"lower": AGREES, "higher": DISAGREES}),
    ("cui.reweight_lifts_hard", "delta_group", {"remedy": "reweight", "group": "hard"},
     {"lower": DISAGREES, "higher": AGREES}),
    ("cui.reweight_hurts_easy", "delta_group", {"remedy": "reweight", "group": "easy"},
     {"lower": AGREES, "higher": DISAGREES}),
])
@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_claim_verdicts(summary_ds, claim_id, var, sel, want, outcome):
    ds = _set(summary_ds, var, *OUTCOMES[outcome], **sel)
    c = rm.claims(ds).sel(claim=claim_id)
    assert str(c["verdict"].values) == want.get(outcome, CANNOT_TELL)
    assert float(c["ours"]) == OUTCOMES[outcome][0]
    assert (float(c["lower"]), float(c["upper"])) == OUTCOMES[outcome][1:]


@pytest.mark.parametrize("interval,want", [((-0.02, -0.03, 0.005), AGREES), ((0.03, 0.02, 0.05), DISAGREES),
                                           ((0.01, -0.01, 0.03), CANNOT_TELL), ((0.005, -0.01, 0.01), CANNOT_TELL)])
def test_reweight_no_gain_is_below_one_point(summary_ds, interval, want):
    ds = _set(summary_ds, "delta_mean", *interval, remedy="reweight")
    c = rm.claims(ds).sel(claim="cui.reweight_no_gain")
    assert str(c["verdict"].values) == want
    assert "0.01" in str(c["rule"].values) and "0.01" in str(c["note"].values)


def _fdr_case(ds, centre, p_adj):
    """randaugment's per-class changes (interval centres) and BH-adjusted p, with the flags they imply."""
    ds = ds.copy(deep=True)
    sel = {"remedy": "randaugment"}
    centre, p_adj = np.asarray(centre, float), np.asarray(p_adj, float)
    ds["delta_accuracy"].loc[sel] = centre
    ds["delta_accuracy_lower"].loc[sel], ds["delta_accuracy_upper"].loc[sel] = centre - 0.05, centre + 0.05
    ds["delta_accuracy_p_adjusted"].loc[sel] = p_adj
    ds["hurt_fdr"].loc[sel] = (p_adj <= 0.05) & (centre < 0)
    ds["helped_fdr"].loc[sel] = (p_adj <= 0.05) & (centre > 0)
    return ds


@pytest.mark.parametrize("centre,p_adj,want,n,p_min,names", [
    # two classes fell at FDR 5 % (eel is harder than dog by chapter 1): agrees, p = the smallest adjusted p of a fall
    ([0.1, 0.0, 0.1, -0.2, -0.1, 0.1], [0.9, 0.9, 0.9, 0.004, 0.03, 0.9], AGREES, 2, 0.004, "eel, dog"),
    # only a class that rose is flagged: its p does not count
    ([0.3, 0.0, 0.0, -0.01, 0.0, 0.0], [0.001, 0.9, 0.9, 0.6, 0.9, 0.9], CANNOT_TELL, 0, 0.6, "none"),
    # nothing flagged; a test that does not reject never disagrees
    ([-0.02, 0.01, 0.0, -0.03, 0.01, 0.02], [0.4, 0.8, 1.0, 0.2, 0.8, 0.6], CANNOT_TELL, 0, 0.2, "none"),
    # no class fell at all: p = 1
    ([0.02, 0.01, 0.05, 0.03, 0.01, 0.02], [0.4, 0.8, 0.01, 0.2, 0.8, 0.6], CANNOT_TELL, 0, 1.0, "none"),
])
def test_augmentation_hurts_some_counts_classes_at_fdr(summary_ds, centre, p_adj, want, n, p_min, names):
    ds = _fdr_case(summary_ds, centre, p_adj)
    c = rm.claims(ds).sel(claim="lee.augmentation_hurts_some:randaugment")
    assert str(c["verdict"].values) == want
    assert float(c["ours"]) == n and math.isclose(float(c["p_value"]), p_min)
    assert math.isnan(float(c["lower"])) and "p < 0.05" in str(c["rule"].values)
    assert "Benjamini–Hochberg across the K = 6 classes" in str(c["note"].values)
    assert "5 % false-discovery rate" in str(c["measure"].values)
    g = rm.glue_values(ds)
    assert g["rm_c_aug_randaugment_classes"] == names and g["rm_c_aug_randaugment"] == n
    assert math.isclose(g["rm_p_aug_randaugment"], p_min)


def test_claims_cover_the_remedies_that_ran(summary_ds):
    c = rm.claims(summary_ds)
    assert c["claim"].values.tolist() == [
        "cui.mixup_fairer", "cui.cutmix_fairer", "cui.representation_learning_fairer:simclr-probe",
        "cui.representation_learning_fairer:simclr-finetune", "cui.representation_learning_fairer:vs-probe",
        "cui.reweight_lifts_hard", "cui.reweight_hurts_easy",
        "cui.reweight_no_gain", "lee.augmentation_hurts_some:mixup", "lee.augmentation_hurts_some:cutmix",
        "lee.augmentation_hurts_some:randaugment"]
    # the synthetic mixup hurts the hard classes: its most-hurt class is one of them, clearly
    assert str(c["verdict"].sel(claim="lee.augmentation_hurts_some:mixup").values) == AGREES
    assert str(c["verdict"].sel(claim="cui.reweight_lifts_hard").values) == AGREES
    assert str(c["verdict"].sel(claim="cui.reweight_hurts_easy").values) == AGREES
    sections = set(re.findall(r"^## (.+)$", (ROOT / "book" / "remedies.md").read_text(), flags=re.M))
    assert set(c["section"].values.tolist()) <= sections
    only = summary_ds.sel(remedy=["baseline", "focal"])
    assert rm.claims(only).sizes["claim"] == 0


def test_two_specs_of_one_remedy_get_their_own_ids(summary_ds):
    ds = summary_ds.assign_coords(remedy=[s.replace("cutmix", "mixup:alpha=1.0") for s in SPECS])
    ds = ds.assign_coords(kind=("remedy", [str(k).replace("cutmix", "mixup") for k in ds["kind"].values]))
    ids = rm.claims(ds)["claim"].values.tolist()
    assert "cui.mixup_fairer:mixup" in ids and "cui.mixup_fairer:mixup:alpha=1.0" in ids
    assert "lee.augmentation_hurts_some:mixup:alpha=1.0" in ids


# ---------------------------------------------------------------------------------------------------------------
# glue, tables, chart


def test_glue_values_cover_the_notebook(summary_ds):
    g = rm.glue_values(summary_ds)
    used = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", (ROOT / "book" / "remedies.md").read_text()))
    assert used and not used - set(g), sorted(used - set(g))
    assert g["rm_n_remedies"] == len(SPECS) - 2  # neither the baseline nor the control
    assert g["rm_v_simclr_vs_probe"] in (AGREES, DISAGREES, CANNOT_TELL)
    assert math.isclose(g["rm_c_simclr_vs_probe"], float(summary_ds["delta_gap_vs_probe"].sel(
        remedy="simclr-probe:epochs=8")))
    assert g["rm_hard_classes"] == "bee, eel" and g["rm_easy_classes"] == "ant, fox"
    assert g["rm_v_mixup"] in (AGREES, DISAGREES, CANNOT_TELL)
    assert g["rm_v_aug_trivialaugment"] == rm.NOT_TESTED and math.isnan(g["rm_trivialaugment_dgap"])
    assert g["rm_n_claims"] == g["rm_n_agrees"] + g["rm_n_disagrees"] + g["rm_n_cannot_tell"] == 11
    remedies = [s for s in SPECS[1:] if s != "baseline-probe"]
    hurting = [s for s in remedies if summary_ds["hurt_fdr"].sel(remedy=s).any()]
    assert g["rm_n_hurting"] == len(hurting)
    best = min(remedies, key=lambda s: float(summary_ds["delta_gap"].sel(remedy=s)))
    assert g["rm_best_gap_remedy"] == best


def test_tables_and_chart(summary_ds):
    t = rm.tables(summary_ds)
    assert list(t["values"].index) == SPECS and list(t["deltas"].index) == SPECS[1:]
    cls = t["classes"]
    assert cls[cls["remedy"] == "mixup"]["class"].tolist() == ["bee", "eel", "cat", "dog", "ant", "fox"]
    assert set(cls["verdict"]) <= set(rm.VERDICT_COLOURS)
    assert len(t["stat_deltas"]) == 5 * (len(SPECS) - 1) and len(t["groups"]) == 2 * (len(SPECS) - 1)
    assert "bee" in t["hurt"].loc["mixup", "classes hurt"]
    spec = rm.class_forest(cls).to_dict()
    scales = [layer["encoding"]["color"]["scale"] for layer in spec["spec"]["layer"] if "color" in layer["encoding"]]
    assert scales and all(s == {"domain": ["hurt", "helped", "unclear"], "range": ["#d62728", "#1f77b4", "#9e9e9e"]}
                          for s in scales)


def test_profile_text(summary_ds):
    ds = summary_ds.assign_attrs(profile="tiny", model="cnn:width=8", dataset="digits", epochs=3, seeds="0, 1, 2")
    text = rm.profile_text(ds)
    assert "**Profile `tiny`.** cnn:width=8 on digits" in text
    assert "7 remedies and 1 control (baseline-probe) plus the baseline = 27 runs" in text


def test_module_imports_without_torch():
    import subprocess
    code = "import sys; import fairnotes.analysis.remedies; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
