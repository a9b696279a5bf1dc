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


def _draw(rng, target, skills):
    """Predictions (entry × seed × sample): each image right with its entry's per-class skill, else a wrong class."""
    return [[np.where(rng.random(target.size) < np.clip(sk, 0, 1)[target], target,
                      (target + 1 + rng.integers(0, K - 1, target.size)) % K) for _ in SEEDS] for sk in skills]


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
    preds = _draw(rng, target, [skill[s] for s in SPECS])
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


LONG_SPECS = ["baseline", "mixup", "cutmix"]
LONG_BASE = np.array([0.93, 0.6, 0.75, 0.85, 0.55, 0.96])
# at the long budget mixup lifts the hard classes (bee, eel) and narrows the gap; cutmix hurts eel
LONG_SKILL = {"baseline": LONG_BASE, "mixup": LONG_BASE + np.array([0.0, 0.25, 0.0, 0.0, 0.3, -0.02]),
              "cutmix": LONG_BASE + np.array([0.0, 0.0, 0.0, 0.0, -0.3, 0.0])}
HARD_EASY = {"hard": [1, 4], "easy": [0, 5]}  # by RANKING, hardest first


def _long_runs(seed: int = 1) -> xr.Dataset:
    """The long budget's remedy × seed × sample predictions (the long baseline first)."""
    rng = np.random.default_rng(seed)
    target = np.repeat(np.arange(K), PER_CLASS)
    preds = _draw(rng, target, [LONG_SKILL[s] for s in LONG_SPECS])
    return xr.Dataset(
        {"prediction": (("remedy", "seed", "sample"), np.array(preds, dtype=np.int16)),
         "target": ("sample", target.astype(np.int16)),
         "train_time_s": (("remedy", "seed"), np.full((3, len(SEEDS)), 450.0)),
         "pretrain_time_s": (("remedy", "seed"), np.zeros((3, len(SEEDS))))},
        coords={"remedy": LONG_SPECS, "seed": list(SEEDS), "label": np.arange(K), "class_name": ("label", NAMES),
                "description": ("remedy", [f"what {s} does" for s in LONG_SPECS])})


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


@pytest.fixture(scope="module")
def long_ds() -> xr.Dataset:
    """The chapter's Dataset with a long budget of 30 epochs (short budget: 4 epochs, as _compute records)."""
    ds = rm.summarize(_runs(), _ranking(), n_boot=200, long_runs=_long_runs(), long_epochs=30)
    return ds.assign_attrs(epochs=4)


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
# the long budget


def test_long_params_and_config():
    from fairnotes.jobs import train
    p = rm.Params()
    assert p.long_epochs == 30 and p.long_remedies == ("mixup", "cutmix") and rm.has_long_budget(p)
    want = train.TrainConfig(dataset="fashion-mnist", model="cnn", model_kwargs={"width": 16}, epochs=30,
                             batch_size=128, optimizer="adamw", lr=0.002, weight_decay=0.05, augment="crop",
                             train_per_class=1000, profile="laptop", progress=False)
    assert rm.long_base_config(p) == want and rm.long_base_config(p).key() == want.key()
    for q in (rm.Params(long_epochs=None), rm.Params(long_epochs=4), rm.Params(long_epochs=2),
              rm.Params(long_remedies=())):
        assert not rm.has_long_budget(q) and rm.long_base_config(q) is None
    assert rm.Params.from_mapping({"long_epochs": None}).long_epochs is None
    with pytest.raises(ParamError, match="'long_epochs'"):
        rm.Params.from_mapping({"long_epochs": 3.5})


@pytest.mark.parametrize("spec,match", [("bogus", "unknown remedy 'bogus'; valid: baseline, mixup, cutmix"),
                                        ("mixup:beta=1", "remedy 'mixup' has no setting beta; valid settings: alpha")])
def test_bad_long_remedy_spec_is_refused_with_the_valid_choices(spec, match):
    with pytest.raises(ParamError, match=f"parameter 'long_remedies': {re.escape(match)}"):
        rm.Params.from_mapping({"long_remedies": ["mixup", spec]})
    with pytest.raises(ParamError, match="parameter 'long_remedies'"):
        rm.Params(long_remedies=(spec,))  # built directly: refused too
    with pytest.raises(ParamError, match="parameter 'remedies'"):
        rm.Params(remedies=(spec,))


def _fake_jobs(monkeypatch, calls):
    """difficulty_runs and jobs.remedies.run replaced by synthetic results; every call recorded."""
    from fairnotes.jobs import remedies as jobs

    def fake_run(base, *, remedies, seeds, progress=True):
        calls.append((base, tuple(remedies), tuple(seeds)))
        if base.epochs == 30:
            return _long_runs().sel(remedy=["baseline", *remedies])
        return _runs().sel(remedy=["baseline", *remedies])

    monkeypatch.setattr(rm, "difficulty_runs", lambda p, log=None, progress=True: calls.append("ranking") or
                        _ranking())
    monkeypatch.setattr(jobs, "run", fake_run)


def test_bad_long_spec_fails_before_any_training(monkeypatch):
    calls: list = []
    _fake_jobs(monkeypatch, calls)
    p = rm.Params(remedies=("mixup",), n_boot=20)
    object.__setattr__(p, "long_remedies", ("mixup", "bogus"))  # past the constructor's check
    with pytest.raises(ParamError, match="parameter 'long_remedies': unknown remedy 'bogus'; valid: baseline"):
        rm._compute(p, progress=False)
    assert calls == []  # nothing ranked, nothing trained


def test_compute_trains_the_long_configs_and_logs_them(monkeypatch):
    import dataclasses

    from fairnotes.jobs import remedies as jobs
    calls: list = []
    _fake_jobs(monkeypatch, calls)
    p = rm.Params(remedies=("mixup", "cutmix"), n_boot=20)
    ds = rm._compute(p, progress=False)
    base, long = rm.base_config(p), dataclasses.replace(rm.base_config(p), epochs=30)
    assert calls == ["ranking", (base, ("mixup", "cutmix"), (0, 1, 2)), (long, ("mixup", "cutmix"), (0, 1, 2))]
    want = {jobs.plan(b, s, seed).key() for b in (base, long) for s in ("baseline", "mixup", "cutmix")
            for seed in (0, 1, 2)}
    assert set(ds.attrs["jobs"]["train"]) == want and len(want) == 18
    assert ds.attrs["long_epochs"] == 30 and ds["long_remedy"].values.tolist() == LONG_SPECS
    calls.clear()
    ds = rm._compute(dataclasses.replace(p, long_epochs=None), progress=False)
    assert len(calls) == 2 and "long_remedy" not in ds.dims and len(ds.attrs["jobs"]["train"]) == 9


def test_long_summary_matches_paired_deltas(long_ds, summary_ds):
    from fairnotes import summary
    oracle = summary.paired_deltas(_long_runs(), groups=HARD_EASY, n_boot=200, seed=0)
    for v in oracle.data_vars:
        np.testing.assert_array_equal(long_ds[f"long_{v}"].values, oracle[v].values, err_msg=v)
        assert long_ds[f"long_{v}"].dims == tuple("long_remedy" if d == "remedy" else d for d in oracle[v].dims)
    # and against sklearn, by hand
    runs = _long_runs()
    y = runs["target"].values
    acc = {s: np.mean([recall_score(y, runs["prediction"].sel(remedy=s).values[i], average=None)
                       for i in range(len(SEEDS))], axis=0) for s in LONG_SPECS}
    for s in LONG_SPECS:
        d = acc[s] - acc["baseline"]
        np.testing.assert_allclose(long_ds["long_delta_accuracy"].sel(long_remedy=s).values, d)
        assert math.isclose(float(long_ds["long_delta_group"].sel(long_remedy=s, group="hard")), d[[1, 4]].mean())
        gap = np.ptp(acc[s]) - np.ptp(acc["baseline"])
        assert math.isclose(float(long_ds["long_delta_gap"].sel(long_remedy=s)), gap, abs_tol=1e-12)
    assert math.isclose(float(long_ds["long_gap"].sel(long_remedy="baseline")), np.ptp(acc["baseline"]))
    assert math.isclose(float(long_ds["long_mean"].sel(long_remedy="baseline")), acc["baseline"].mean())
    v = long_ds["long_verdict"]
    assert v.dims == ("long_remedy", "label")
    np.testing.assert_array_equal(v.values == "hurt", oracle["hurt_fdr"].values)
    np.testing.assert_array_equal(v.values == "helped", oracle["helped_fdr"].values)
    assert set(v.sel(long_remedy="mixup").values[[1, 4]]) == {"helped"}
    assert v.sel(long_remedy="cutmix").values[4] == "hurt"
    assert long_ds["long_kind"].values.tolist() == LONG_SPECS
    assert math.isclose(float(long_ds["long_train_minutes"]), 9 * 450 / 60)
    assert long_ds.attrs["long_epochs"] == 30 and long_ds.attrs["long_reference"] == "baseline"
    assert long_ds.sizes["remedy"] == len(SPECS) and long_ds.sizes["group"] == 2
    for name in summary_ds.data_vars:  # the short budget is untouched
        xr.testing.assert_identical(long_ds[name], summary_ds[name])
    view = rm.long_view(long_ds)
    assert view["remedy"].values.tolist() == LONG_SPECS and view.attrs == {
        "reference": "baseline", "epochs": 30, "n_seeds": 3, "n_test": K * PER_CLASS}
    assert rm.long_view(summary_ds) is None


def test_long_summary_refuses_other_labels():
    with pytest.raises(ValueError, match="long runs' labels"):
        rm.summarize(_runs(), _ranking(), n_boot=20, long_runs=_long_runs().isel(label=slice(0, 5)), long_epochs=30)
    with pytest.raises(ValueError, match="long_epochs"):
        rm.summarize(_runs(), _ranking(), n_boot=20, long_runs=_long_runs())


def test_long_claims(long_ds, summary_ds):
    c = rm.claims(long_ds)
    ids = c["claim"].values.tolist()
    assert ids[: rm.claims(summary_ds).sizes["claim"]] == rm.claims(summary_ds)["claim"].values.tolist()
    assert ids[-2:] == ["cui.mixup_fairer:long", "cui.cutmix_fairer:long"]
    for kind in ("mixup", "cutmix"):
        long, short = c.sel(claim=f"cui.{kind}_fairer:long"), c.sel(claim=f"cui.{kind}_fairer")
        assert str(long["rule"].values) == str(short["rule"].values)
        assert str(long["statement"].values) == str(short["statement"].values)
        assert "30 epochs" in str(long["measure"].values) and str(long["section"].values) == rm.SECTION_LONG
        assert float(long["ours"]) == float(long_ds["long_delta_gap"].sel(long_remedy=kind))
    # the synthetic long mixup narrows the gap clearly
    assert str(c["verdict"].sel(claim="cui.mixup_fairer:long").values) == AGREES
    # two specs of one kind at the long budget: each gets its own id and slug
    two = long_ds.assign_coords(long_remedy=["baseline", "mixup", "mixup:alpha=1.0"],
                                long_kind=("long_remedy", ["baseline", "mixup", "mixup"]))
    rows = {slug: c.id for slug, c, _ in rm._claim_rows(two)}
    assert rows["mixup_long"] == "cui.mixup_fairer:long:mixup"
    assert rows["mixup_alpha_1_0_long"] == "cui.mixup_fairer:long:mixup:alpha=1.0"


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
@pytest.mark.parametrize("outcome,want", [("lower", AGREES), ("higher", DISAGREES), ("straddles", CANNOT_TELL)])
def test_long_claim_verdicts(long_ds, kind, outcome, want):
    ds = _set(long_ds, "long_delta_gap", *OUTCOMES[outcome], long_remedy=kind)
    c = rm.claims(ds).sel(claim=f"cui.{kind}_fairer:long")
    assert str(c["verdict"].values) == want
    assert (float(c["ours"]), float(c["lower"]), float(c["upper"])) == OUTCOMES[outcome]
    assert rm.glue_values(ds)[f"rm_v_{kind}_long"] == want


def test_long_glue_values(long_ds, summary_ds):
    g, no = rm.glue_values(long_ds), rm.glue_values(summary_ds)
    assert set(g) == set(no)  # the same keys whether or not the long part ran
    assert g["rm_long_epochs"] == 30 and math.isnan(no["rm_long_epochs"])
    assert g["rm_n_claims"] == no["rm_n_claims"] + 2 == 13
    for kind in ("mixup", "cutmix"):
        v, lo, hi = (float(long_ds[f"long_delta_gap{b}"].sel(long_remedy=kind)) for b in ("", "_lower", "_upper"))
        assert (g[f"rm_long_{kind}_dgap"], g[f"rm_long_{kind}_dgap_lo"], g[f"rm_long_{kind}_dgap_hi"]) == (v, lo, hi)
        assert g[f"rm_long_{kind}_dworst"] == float(long_ds["long_delta_worst"].sel(long_remedy=kind))
        assert g[f"rm_long_{kind}_dhard"] == float(long_ds["long_delta_group"].sel(long_remedy=kind, group="hard"))
        assert g[f"rm_long_{kind}_n_hurt"] == int(long_ds["long_hurt_fdr"].sel(long_remedy=kind).sum())
        assert g[f"rm_long_{kind}_n_helped"] == int(long_ds["long_helped_fdr"].sel(long_remedy=kind).sum())
        assert g[f"rm_{kind}_n_hurt"] == int(long_ds["hurt_fdr"].sel(remedy=kind).sum())
        assert g[f"rm_v_{kind}_long"] in (AGREES, DISAGREES, CANNOT_TELL)
        assert math.isclose(g[f"rm_c_{kind}_long"], v)
        assert no[f"rm_v_{kind}_long"] == rm.NOT_TESTED_LONG
        for key in (f"rm_long_{kind}_dgap", f"rm_long_{kind}_dgap_lo", f"rm_long_{kind}_n_hurt",
                    f"rm_long_{kind}_n_helped", f"rm_c_{kind}_long"):
            assert math.isnan(no[key]), key
        assert no[f"rm_long_{kind}_hurt_classes"] == "–"
    assert g["rm_long_mixup_helped_classes"].startswith("bee, eel")  # hardest first
    assert g["rm_long_cutmix_hurt_classes"].startswith("eel")
    assert g["rm_long_baseline_gap"] == float(long_ds["long_gap"].sel(long_remedy="baseline"))
    assert "30 epochs instead of 4" in g["rm_long_note"] and "not above epochs" in no["rm_long_note"]
    assert g["rm_long_n_runs"] == 9 and no["rm_long_n_runs"] == 0
    # a long part without cutmix: its keys are "not tested (remedy not in this run)"
    only = long_ds.sel(long_remedy=["baseline", "mixup"])
    assert rm.glue_values(only)["rm_v_cutmix_long"] == rm.NOT_TESTED
    assert math.isnan(rm.glue_values(only)["rm_long_cutmix_dgap"])


def test_long_tables_and_chart(long_ds, summary_ds):
    t = rm.tables(long_ds)
    long = t["long"]
    assert list(long.index) == LONG_SPECS
    assert list(long.columns.get_level_values(0).unique()) == ["4 epochs", "30 epochs"]
    assert long.loc["mixup", ("30 epochs", "Δ gap [95% CI]")] == rm._fmt(
        *(float(long_ds[f"long_delta_gap{b}"].sel(long_remedy="mixup")) for b in ("", "_lower", "_upper")),
        signed=True)
    assert long.loc["mixup", ("4 epochs", "gap")] == f"{float(long_ds['gap'].sel(remedy='mixup')):.3f}"
    assert long.loc["baseline", ("30 epochs", "Δ gap [95% CI]")] == "–"
    assert long.loc["cutmix", ("30 epochs", "classes hurt")] == int(long_ds["long_hurt_fdr"].sel(
        long_remedy="cutmix").sum())
    cls = t["long_classes"]
    assert list(dict.fromkeys(cls["remedy"])) == ["mixup, 4 epochs", "mixup, 30 epochs", "cutmix, 4 epochs",
                                                  "cutmix, 30 epochs"]
    m = cls[cls["remedy"] == "mixup, 30 epochs"]
    assert m["class"].tolist() == ["bee", "eel", "cat", "dog", "ant", "fox"]
    hardest_first = [1, 4, 2, 3, 0, 5]
    np.testing.assert_allclose(m["Δ accuracy"], long_ds["long_delta_accuracy"].sel(long_remedy="mixup")[hardest_first])
    np.testing.assert_allclose(m["baseline accuracy"], long_ds["long_accuracy"].sel(long_remedy="baseline")[
        hardest_first])
    assert rm.class_forest(cls, columns=2).to_dict()["spec"]["layer"]
    none = rm.tables(summary_ds)
    assert none["long"].empty and none["long_classes"].empty
    assert "Nothing to draw" in rm.class_forest(none["long_classes"]).data
    assert "Long budget: the baseline, mixup and cutmix again at 30 epochs, 9 more runs" in rm.profile_text(long_ds)
    assert "Long budget" not in rm.profile_text(summary_ds)


def test_long_result_saves_and_loads(long_ds, tmp_path):
    from fairnotes import results
    back = results.load(results.save(long_ds, tmp_path / "a.nc"))
    assert back["long_verdict"].values.tolist() == long_ds["long_verdict"].values.tolist()
    assert back.attrs["long_epochs"] == 30
    assert rm.glue_values(back)["rm_v_mixup_long"] == rm.glue_values(long_ds)["rm_v_mixup_long"]


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


def test_glue_values_cover_the_notebook(summary_ds, long_ds):
    g = rm.glue_values(summary_ds)
    used = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", (ROOT / "book" / "remedies.md").read_text()))
    assert used and not used - set(g), sorted(used - set(g))
    assert not used - set(rm.glue_values(long_ds))
    assert {"rm_long_epochs", "rm_v_mixup_long", "rm_v_cutmix_long", "rm_long_mixup_dgap"} <= used
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
