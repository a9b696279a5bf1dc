"""The prevalence chapter's analysis on small synthetic sweeps: parameters, every number, claims, glue, tables."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from scipy import stats
from sklearn.metrics import recall_score

from fairnotes import results
from fairnotes.analysis import AGREES, CANNOT_TELL, DISAGREES, ParamError
from fairnotes.analysis import prevalence as P
from fairnotes.metrics import noise_floor

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = (ROOT / "book" / "prevalence.md").read_text()
N_BOOT, N_SIM = 200, 300


def fake_sweep(skills: dict[str, list[float]], *, seeds=(0, 1, 2), n_per=60, n_params=None, rng=0,
               same_as: dict[str, str] | None = None) -> xr.Dataset:
    """A stacked sweep like ``sweep.run``'s: each model gets class c right with probability ``skills[m][c]``.

    ``same_as={"b": "a"}`` gives model b exactly a's predictions.
    """
    rng = np.random.default_rng(rng)
    models = list(skills)
    k = len(next(iter(skills.values())))
    target = np.repeat(np.arange(k), n_per)
    n = target.size
    preds = {}
    for m in models:
        if same_as and m in same_as:
            preds[m] = preds[same_as[m]].copy()
            continue
        sk = np.asarray(skills[m])
        per = []
        for _ in seeds:
            right = rng.random(n) < sk[target]
            per.append(np.where(right, target, (target + 1 + rng.integers(0, k - 1, n)) % k))
        preds[m] = np.array(per)
    pred = np.array([preds[m] for m in models])
    hit = pred == target
    acc = np.stack([hit[..., target == c].mean(-1) for c in range(k)], -1)
    return xr.Dataset(
        {"prediction": (("model", "seed", "sample"), pred.astype(np.int16)),
         "target": ("sample", target.astype(np.int16)),
         "accuracy": (("model", "seed", "label"), acc),
         "overall_accuracy": (("model", "seed"), hit.mean(-1)),
         "train_time_s": (("model", "seed"), np.full((len(models), len(seeds)), 30.0)),
         "n_params": ("model", n_params or [100 * (i + 1) for i in range(len(models))])},
        coords={"model": models, "seed": list(seeds), "label": np.arange(k),
                "class_name": ("label", [f"class{c}" for c in range(k)])})


def fake_run(pca, *, n_train=500, wall=10.0) -> xr.Dataset:
    """One training run's result as far as its history goes: per-class accuracy (epoch × label) after each epoch."""
    pca = np.asarray(pca, float)
    e, k = pca.shape
    return xr.Dataset(
        {"per_class_accuracy": (("epoch", "label"), pca), "test_accuracy": ("epoch", pca.mean(1)),
         "train_loss": ("epoch", np.linspace(1.0, 0.1, e))},
        coords={"epoch": np.arange(1, e + 1), "label": np.arange(k),
                "class_name": ("label", [f"class{c}" for c in range(k)])},
        attrs={"n_train": n_train, "wall_time_s": wall})


def gap_history(gaps: list[list[float]]) -> np.ndarray:
    """Per-class accuracy (epoch × 5 classes) whose best−worst gap after epoch e is ``gaps[e]`` (each >= 0.05)."""
    return np.array([[0.9, 0.85, 0.88, 0.87, 0.9 - g] for g in gaps])


# data set "A": two architectures plus a capacity sweep (cnn:width=4 small, cnn large); "B": 3 classes, no capacity
SKILLS_A = {"mlp": [0.95, 0.8, 0.6, 0.4, 0.9], "cnn": [0.95, 0.85, 0.8, 0.75, 0.9],
            "cnn:width=4": [0.9, 0.5, 0.3, 0.3, 0.9]}
SKILLS_B = {"mlp": [0.9, 0.5, 0.7], "cnn": [0.95, 0.6, 0.8]}
SKILLS_FULL = [0.99, 0.95, 0.9, 0.7, 0.97]  # cnn on all of A's training images
SHORT = 4  # the main sweep's epochs on A


@pytest.fixture(scope="module")
def sweeps():
    return {"A": fake_sweep(SKILLS_A, n_params=[5000, 800, 100]), "B": fake_sweep(SKILLS_B, rng=1)}


@pytest.fixture(scope="module")
def budget_runs():
    """cnn trained 6 epochs, seeds 0 and 1: random per-class accuracy, rising with the epoch."""
    rng = np.random.default_rng(5)
    return {("cnn", s): fake_run(np.clip(rng.uniform(0.3, 0.9, (6, 5)) + np.arange(6)[:, None] * 0.02, 0, 1),
                                 n_train=5000, wall=100.0 + s)
            for s in (0, 1)}


@pytest.fixture(scope="module")
def full_sweep():
    return fake_sweep({"cnn": SKILLS_FULL}, seeds=(0,), n_per=100, rng=3)


@pytest.fixture(scope="module")
def ds(sweeps, budget_runs, full_sweep):
    return P.summarize(sweeps, models=["mlp", "cnn"], capacity=["cnn:width=4", "cnn"], capacity_datasets=["A"],
                       n_boot=N_BOOT, n_sim=N_SIM, budget=P.stack_histories(budget_runs), budget_short_epochs=SHORT,
                       full_data=full_sweep, full_data_n_train=60000, full_data_epochs=15)


def _norm(v):
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


# ------------------------------------------------------------------------------------------ params

def test_params_defaults_are_the_notebooks_parameters_cell():
    from fairnotes.runner import parameters
    cell = parameters("prevalence", ROOT)
    assert list(cell) == P.Params.names()
    p = P.Params()
    for name, spec in cell.items():
        assert _norm(getattr(p, name)) == _norm(spec["default"]), name


def test_params_reject_a_wrong_type_naming_the_parameter():
    with pytest.raises(ParamError, match="'seeds'"):
        P.Params.from_mapping({"seeds": 0.5})
    with pytest.raises(ParamError, match="'epochs'"):
        P.Params.from_mapping({"epochs": {"digits": "3"}})
    with pytest.raises(ParamError, match="'optimizer'"):
        P.Params.from_mapping({"optimizer": "adam"})
    p = P.Params.from_mapping({"seeds": [0, 1], "epochs": 2, "train_per_class": None})
    assert p.seeds == (0, 1) and p.epochs == 2 and p.train_per_class is None


def test_every_profile_is_valid():
    profiles = yaml.safe_load((ROOT / "book" / "profiles.yaml").read_text())["prevalence"]
    for values in profiles.values():
        P.Params.from_mapping(values or {})


def _notebook_config(profile_values: dict, name: str):
    """The TrainConfig exactly as the notebook built it before this module existed."""
    from fairnotes.jobs import train
    from fairnotes.runner import parameters
    cell = {k: v["default"] for k, v in parameters("prevalence", ROOT).items()} | profile_values

    def per_dataset(value, n, default=None):
        return value.get(n, default) if isinstance(value, dict) else value

    return train.TrainConfig(
        dataset=name, epochs=per_dataset(cell["epochs"], name), batch_size=cell["batch_size"],
        optimizer=cell["optimizer"], lr=cell["lr"], weight_decay=cell["weight_decay"], augment=cell["augment"],
        train_per_class=per_dataset(cell["train_per_class"], name), pretrained=cell["pretrained"],
        profile=cell["profile"], model="mlp")


@pytest.mark.parametrize("profile", ["laptop", "tiny", "paper"])
def test_base_config_is_the_notebooks_config(profile):
    values = (yaml.safe_load((ROOT / "book" / "profiles.yaml").read_text())["prevalence"][profile] or {})
    values = values | {"profile": profile}
    p = P.Params.from_mapping(values)
    for name in p.datasets:
        got, want = P.base_config(p, name), _notebook_config(values, name)
        assert got == want
        assert got.key() == want.key()


def test_architectures_add_capacity_only_where_it_applies():
    p = P.Params(models=("mlp", "cnn"), capacity=("cnn:width=4", "cnn"), capacity_datasets=("a",))
    assert P.architectures(p, "a") == ["mlp", "cnn", "cnn:width=4"]
    assert P.architectures(p, "b") == ["mlp", "cnn"]


def test_run_logs_every_training_job_and_summarizes(monkeypatch, tmp_path):
    """``run`` with the training replaced by synthetic sweeps and histories: the job keys are the sweep's configs,
    then the long runs', then the full-data run's."""
    from fairnotes import results as res
    from fairnotes.jobs import sweep

    trained = []

    def fake_sweep_run(base, *, models, seeds, progress=True, store=None):
        skills = {m: SKILLS_FULL if base.train_per_class is None and base.epochs == 3 else SKILLS_A[m]
                  for m in models}
        return fake_sweep(skills, seeds=tuple(seeds))

    def fake_cached(job, cfg, **kw):
        trained.append(cfg)
        return fake_run(gap_history([0.3] * cfg.epochs), n_train=1797)

    monkeypatch.setattr(sweep, "run", fake_sweep_run)
    monkeypatch.setattr(res, "cached", fake_cached)
    p = P.Params(datasets=("digits",), models=("mlp", "cnn"), capacity=("cnn:width=4", "cnn"),
                 capacity_datasets=("digits",), seeds=(0, 1), n_boot=50, epochs=1, budget_models=("cnn", "vit"),
                 budget_epochs=5, budget_seeds=(0, 1), full_data_epochs=3, full_data_seeds=(0,))
    ds = P.run(p, progress=False)
    want = [c.key() for c in sweep.configs(P.base_config(p, "digits"), models=P.architectures(p, "digits"),
                                           seeds=p.seeds)]
    long = [c.key() for c in P.budget_configs(p)]
    full = [c.key() for c in P.full_data_configs(p)]
    assert len(long) == 2 and len(full) == 1  # "vit" is no model of the sweep: skipped
    assert ds.attrs["jobs"]["train"] == want + long + full
    assert [c.key() for c in trained[:2]] == long and trained[2].key() == full[0]  # then n_train, from the cache
    assert list(ds["budget_model"].values) == ["cnn"] and list(ds["epoch"].values) == [1, 2, 3, 4, 5]
    assert int(ds["full_n_train"]) == 1797 and str(ds["full_model"].values) == "cnn"
    assert list(ds["model"].values) == ["mlp", "cnn", "cnn:width=4"]
    assert str(ds.attrs["cache"]).startswith("miss")
    again = P.run(p, progress=False)  # the analysis cache
    assert str(again.attrs["cache"]).startswith("hit")
    xr.testing.assert_allclose(again["gap"], ds["gap"])


# ------------------------------------------------------------------------------------------ summarize

def test_per_class_and_disparity_equal_sklearn(ds, sweeps):
    for name, sw in sweeps.items():
        y = sw["target"].values
        for m in sw["model"].values:
            per_seed = np.array([recall_score(y, p, average=None) for p in sw["prediction"].sel(model=m).values])
            acc = per_seed.mean(0)
            got = ds["accuracy"].sel(dataset=name, model=m).values[: acc.size]
            np.testing.assert_allclose(got, acc)
            r = ds.sel(dataset=name, model=m)
            assert math.isclose(float(r["gap"]), acc.max() - acc.min())
            assert math.isclose(float(r["std"]), acc.std())
            assert float(r["gap_lower"]) <= float(r["gap"]) <= float(r["gap_upper"])
            assert str(r["worst_class"].values) == f"class{acc.argmin()}"
            np.testing.assert_allclose(r["run_gap"].values, per_seed.max(1) - per_seed.min(1))
            np.testing.assert_allclose(r["run_std"].values, per_seed.std(1))
            np.testing.assert_allclose(r["run_overall_accuracy"].values,
                                       (sw["prediction"].sel(model=m).values == y).mean(1))


def test_noise_floor_is_the_largest_p_over_seeds(ds, sweeps):
    for name, sw in sweeps.items():
        for m in sw["model"].values:
            ps = [float(noise_floor(sw["target"].values, p, n_sim=N_SIM, seed=0)["p_value"])
                  for p in sw["prediction"].sel(model=m).values]
            r = ds.sel(dataset=name, model=m)
            assert math.isclose(float(r["noise_p_max"]), max(ps))
            assert bool(r["beyond_noise"]) == (max(ps) < 0.01)


def test_agreement_across_architectures_equals_scipy_friedman(ds, sweeps):
    for name, sw in sweeps.items():
        y = sw["target"].values
        acc0 = np.array([recall_score(y, sw["prediction"].sel(model=m, seed=0).values, average=None)
                         for m in ("mlp", "cnn")])  # raters × classes, seed 0
        chi2, p = stats.friedmanchisquare(*acc0.T)
        m, k = acc0.shape
        r = ds.sel(dataset=name)
        assert math.isclose(float(r["models_kendall_w"]), chi2 / (m * (k - 1)), rel_tol=1e-9)
        assert math.isclose(float(r["models_friedman_p"]), p, rel_tol=1e-9)
        assert 0 <= float(r["models_kendall_w_lower"]) <= float(r["models_kendall_w_upper"]) <= 1
        mean = ds["accuracy"].sel(dataset=name, model=["mlp", "cnn"]).values[:, : sw.sizes["label"]]
        rho = stats.spearmanr(mean[0], mean[1]).statistic
        assert math.isclose(float(r["spearman"].sel(model="mlp", model_other="cnn")), rho)
    # the capacity-only model is no architecture: no row in the matrix
    assert np.isnan(ds["spearman"].sel(dataset="A", model="cnn:width=4")).all()


def test_accuracy_gap_correlation_over_runs_equals_scipy(ds, sweeps):
    for name in sweeps:
        r = ds.sel(dataset=name)
        keep = r["trained"].values
        x = r["run_overall_accuracy"].values[keep].ravel()
        g = r["run_gap"].values[keep].ravel()
        assert math.isclose(float(r["acc_gap_spearman"]), stats.spearmanr(x, g).statistic)
        assert float(r["acc_gap_spearman_lower"]) < float(r["acc_gap_spearman"]) < float(r["acc_gap_spearman_upper"])


def test_capacity_change_is_largest_minus_smallest_by_parameters(ds):
    a = ds.sel(dataset="A")
    # n_params: mlp 5000 (no capacity model), cnn 800, cnn:width=4 100 -> smallest width=4, largest cnn
    assert str(a["capacity_smallest"].values) == "cnn:width=4" and str(a["capacity_largest"].values) == "cnn"
    want = float(a["gap"].sel(model="cnn") - a["gap"].sel(model="cnn:width=4"))
    assert math.isclose(float(a["capacity_delta_gap"]), want)
    assert float(a["capacity_delta_gap_upper"]) < 0 and str(a["capacity_word"].values) == "narrows"
    b = ds.sel(dataset="B")
    assert str(b["capacity_word"].values) == "" and np.isnan(float(b["capacity_delta_gap"]))


@pytest.mark.parametrize("small, large, same, word", [
    ([0.95, 0.3, 0.9, 0.4, 0.9], [0.9] * 5, False, "narrows"),
    ([0.9] * 5, [0.95, 0.3, 0.9, 0.4, 0.9], False, "widens"),
    ([0.95, 0.3, 0.9, 0.4, 0.9], None, True, "does not clearly change"),
])
def test_capacity_word_follows_the_below_zero_rule(small, large, same, word):
    sw = fake_sweep({"s": small, "l": large or small}, n_params=[10, 1000], n_per=200,
                    same_as={"l": "s"} if same else None)
    out = P.summarize({"x": sw}, models=["s"], capacity=["s", "l"], capacity_datasets=["x"], n_boot=N_BOOT,
                      n_sim=N_SIM)
    assert str(out["capacity_word"].sel(dataset="x").values) == word


def test_padding_for_data_sets_with_fewer_classes_or_models(ds):
    assert list(ds["model"].values) == ["mlp", "cnn", "cnn:width=4"]
    assert list(ds["label"].values) == [0, 1, 2, 3, 4]
    assert list(ds["class_name"].sel(dataset="B").values) == ["class0", "class1", "class2", "", ""]
    assert np.isnan(ds["accuracy"].sel(dataset="B", label=[3, 4])).all()
    assert not bool(ds["trained"].sel(dataset="B", model="cnn:width=4"))
    assert str(ds["best_class"].sel(dataset="B", model="cnn:width=4").values) == ""
    assert list(ds["architecture"].values) == [True, True, False]


def test_best_model_is_the_most_accurate_architecture(ds, sweeps):
    for name, sw in sweeps.items():
        acc = sw["overall_accuracy"].sel(model=["mlp", "cnn"]).mean("seed")
        assert str(ds["best_model"].sel(dataset=name).values) == str(acc.idxmax().values)


def test_the_analysis_saves_and_loads(ds, tmp_path):
    back = results.load(results.save(ds, tmp_path / "a.nc"))
    xr.testing.assert_allclose(back[["accuracy", "gap", "spearman"]], ds[["accuracy", "gap", "spearman"]])
    assert str(back["best_model"].sel(dataset="A").values) == str(ds["best_model"].sel(dataset="A").values)
    assert list(back["class_name"].sel(dataset="B").values)[:3] == ["class0", "class1", "class2"]


def test_imagenet_evaluations_become_a_table(sweeps):
    from fairnotes.metrics import per_class
    y = np.repeat(np.arange(4), 10)
    pred = y.copy()
    pred[:5] = 1  # class 0: 5 of 10 right
    ev = per_class(y, pred)
    out = P.summarize({"B": sweeps["B"]}, models=["mlp", "cnn"], n_boot=50, n_sim=50, imagenet={"resnet50": ev})
    assert math.isclose(float(out["imagenet_gap"].sel(imagenet_model="resnet50")), 0.5)
    assert math.isclose(float(out["imagenet_worst"].sel(imagenet_model="resnet50")), 0.5)
    t = P.tables(out)["imagenet"]
    assert list(t.index) == ["resnet50"] and t.loc["resnet50", "gap"] == 0.5


# ------------------------------------------------------------------------------------------ claims

def _verdict(found: xr.Dataset, key: str) -> str:
    return str(found["verdict"].sel(claim=key).values)


def _with(ds: xr.Dataset, var: str, value: float, **sel) -> xr.Dataset:
    out = ds.copy(deep=True)
    out[var].loc[sel] = value
    return out


def test_claims_found_on_the_synthetic_sweeps(ds):
    found = P.claims(ds)
    assert list(found["claim"].values) == list(P.CLAIM_IDS)
    assert set(str(v) for v in found["section"].values) <= set(P.SECTIONS.values())
    for s in found["section"].values:
        assert f"## {s}" in NOTEBOOK
    best = str(ds["best_model"].sel(dataset="A").values)
    row = found.sel(claim="cui.balanced_disparity")
    assert math.isclose(float(row["ours"]), float(ds["gap"].sel(dataset="A", model=best)))
    assert math.isclose(float(row["p_value"]), float(ds["noise_p_max"].sel(dataset="A", model=best)))
    arch = found.sel(claim="cui.across_architectures")
    assert math.isclose(float(arch["ours"]), float(ds["gap"].sel(dataset="A", model=["mlp", "cnn"]).min()))
    assert math.isclose(float(arch["p_value"]), float(ds["noise_p_max"].sel(dataset="A", model=["mlp", "cnn"]).max()))
    cap = found.sel(claim="cui.across_capacity")
    assert math.isclose(float(cap["p_value"]),
                        float(ds["noise_p_max"].sel(dataset="A", model=["cnn:width=4", "cnn"]).max()))
    assert "0.7" in str(found["note"].sel(claim="cui.shared_hard_classes").values)


@pytest.mark.parametrize("p, verdict", [(0.001, AGREES), (0.2, CANNOT_TELL)])
def test_balanced_disparity_follows_the_largest_noise_p(ds, p, verdict):
    best = str(ds["best_model"].sel(dataset="A").values)
    assert _verdict(P.claims(_with(ds, "noise_p_max", p, dataset="A", model=best)),
                    "cui.balanced_disparity") == verdict


@pytest.mark.parametrize("p, verdict", [(0.001, AGREES), (0.05, CANNOT_TELL)])
def test_across_architectures_needs_every_architecture_beyond_noise(ds, p, verdict):
    d = _with(ds, "noise_p_max", 0.001, dataset="A", model=["mlp", "cnn"])
    d = _with(d, "noise_p_max", p, dataset="A", model="mlp")
    d = _with(d, "noise_p_max", 0.9, dataset="B", model="mlp")  # another data set does not count
    assert _verdict(P.claims(d), "cui.across_architectures") == verdict


@pytest.mark.parametrize("p, verdict", [(0.001, AGREES), (0.3, CANNOT_TELL)])
def test_across_datasets_takes_the_largest_over_data_sets(ds, p, verdict):
    d = ds
    for n in ("A", "B"):
        d = _with(d, "noise_p_max", 0.001, dataset=n, model=str(ds["best_model"].sel(dataset=n).values))
    d = _with(d, "noise_p_max", p, dataset="B", model=str(ds["best_model"].sel(dataset="B").values))
    assert _verdict(P.claims(d), "cui.across_datasets") == verdict


@pytest.mark.parametrize("p, verdict", [(0.001, AGREES), (0.02, CANNOT_TELL)])
def test_across_capacity_takes_the_largest_over_capacity_models(ds, p, verdict):
    d = _with(ds, "noise_p_max", 0.001, dataset="A", model=["cnn:width=4", "cnn"])
    d = _with(d, "noise_p_max", p, dataset="A", model="cnn:width=4")
    assert _verdict(P.claims(d), "cui.across_capacity") == verdict


@pytest.mark.parametrize("lo, hi, verdict", [(0.75, 0.9, AGREES), (0.2, 0.5, DISAGREES), (0.6, 0.8, CANNOT_TELL)])
def test_shared_hard_classes_is_above_the_strong_agreement_line(ds, lo, hi, verdict):
    d = _with(ds, "models_kendall_w_lower", lo, dataset="A")
    d = _with(d, "models_kendall_w_upper", hi, dataset="A")
    d = _with(d, "models_kendall_w", (lo + hi) / 2, dataset="A")
    assert _verdict(P.claims(d), "cui.shared_hard_classes") == verdict


def test_claims_that_cannot_be_computed_are_left_out(sweeps):
    one = P.summarize({"B": sweeps["B"].sel(model=["cnn"])}, models=["cnn"], n_boot=50, n_sim=50)
    found = P.claims(one)
    assert list(found["claim"].values) == ["cui.balanced_disparity"]
    g = P.glue_values(one)
    assert g["verdict_balanced_disparity"] in (AGREES, CANNOT_TELL)
    for short in ("across_architectures", "across_datasets", "across_capacity", "shared_hard_classes"):
        assert g[f"verdict_{short}"].startswith("not tested")
    assert g["cap_word"] == "not measured" and g["cap_change"] == "no capacity sweep in this run"
    # one capacity model is no sweep
    cap1 = P.summarize({"A": sweeps["A"]}, models=["mlp", "cnn"], capacity=["cnn"], capacity_datasets=["A"],
                       n_boot=50, n_sim=50)
    assert "cui.across_capacity" not in list(P.claims(cap1)["claim"].values)


# ------------------------------------------------------------------------------------------ glue, tables

def test_every_glue_name_the_notebook_uses_exists(ds, sweeps):
    used = set(re.findall(r"\{glue:text\}`([^`:]+)", NOTEBOOK))
    assert used
    for d in (ds, P.summarize({"B": sweeps["B"].sel(model=["cnn"])}, models=["cnn"], n_boot=50, n_sim=50)):
        g = P.glue_values(d)
        assert used <= set(g), used - set(g)
        assert all(isinstance(v, (str, int, float)) for v in g.values())


def test_glue_values_match_the_dataset(ds):
    g = P.glue_values(ds)
    assert g["main_dataset"] == "A"
    assert g["noise_n_pairs"] == 5  # 3 models on A, 2 on B
    assert g["n_runs"] == 15
    assert math.isclose(g["train_minutes"], 15 * 30 / 60)
    gaps = [float(ds["gap"].sel(dataset=n, model=m)) for n in "AB" for m in ("mlp", "cnn")]
    assert math.isclose(g["min_gap_all"], min(gaps)) and math.isclose(g["max_gap_all"], max(gaps))
    assert g["cap_small"] == "cnn (width=4)" and g["cap_large"] == "cnn" and g["cap_word"] == "narrows"
    assert g["cap_change"] == "the gap narrows"
    assert math.isclose(g["cap_gap_ratio"], g["cap_gap_large"] / g["cap_gap_small"])
    assert math.isclose(g["cap_gap_large"] - g["cap_gap_small"], g["cap_delta"])
    assert g["n_classes_text"] == "3–5"
    assert math.isclose(g["paper_gap"], 0.84)


def test_tables_the_notebook_shows(ds):
    t = P.tables(ds)
    used = set(re.findall(r'tables\["([^"]+)"\]', NOTEBOOK))
    assert used - {"imagenet"} <= set(t)
    assert {"disparity:A", "disparity:B"} <= set(t)
    assert list(t["disparity:A"].index) == ["mlp", "cnn"]
    assert len(t["noise"]) == 5 and len(t["runs"]) == 15
    assert list(t["capacity"]["model"]) == ["cnn (width=4)", "cnn"]
    assert len(t["beside_paper"]) == 4 and t["beside_paper"].iloc[0]["gap"] == 0.84  # paper, A, B, full data


def test_long_model_specs_get_distinct_short_names():
    specs = ["vit:embed_dim=64,depth=4,num_heads=2,patch_size=4", "vit:embed_dim=64,depth=6,num_heads=2,patch_size=4"]
    names = P._display_names(specs)
    assert len(set(names)) == 2 and all(len(n) < len(s) for n, s in zip(names, specs))


def test_charts_data(ds):
    c = P.curves(ds, "B")
    assert list(c["model"].values) == ["mlp", "cnn"] and c.sizes["label"] == 3
    m = P.spearman_matrices(ds)
    assert set(m) == {"A", "B"} and m["A"].dims == ("model", "model_other")


def test_describe_says_the_setting(ds):
    text = P.describe(P.Params(), ds)
    assert "Profile `laptop`" in text and "15 training runs" in text
    assert "cnn for 30 epochs on the same fashion-mnist images (seeds [0, 1, 2])" in text
    assert "cnn for 20 epochs on the whole fashion-mnist training set (seeds [0])" in text
    assert "t-intervals over test images and seeds" in text and "percentile" not in text
    assert "no long runs; no full-data model" in P.describe(P.Params(budget_models=(), full_data_model="x"), ds)


def test_module_imports_without_torch():
    import subprocess
    import sys
    code = ("import sys; import fairnotes.analysis.prevalence as p; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)



# ------------------------------------------------------------------------------------------ undertraining

def test_budget_and_full_data_configs_are_the_briefs(monkeypatch):
    """The long runs: the first data set's base config with the long budget; the full-data run: no subset."""
    from dataclasses import replace

    from fairnotes.jobs import sweep
    p = P.Params()
    base = P.base_config(p, "fashion-mnist")
    want = [replace(base, model="cnn", model_kwargs={}, seed=s, epochs=30, progress=False) for s in (0, 1, 2)]
    assert P.budget_configs(p) == want
    assert [c.key() for c in P.budget_configs(p)] == [c.key() for c in want]
    assert all(c.train_per_class == 1000 for c in want)
    full = P.full_data_configs(p)
    assert full == sweep.configs(replace(base, train_per_class=None, epochs=20), models=["cnn"], seeds=[0])
    # a spec with arguments is parsed as sweep.configs does; models the sweep does not train are skipped
    q = P.Params(budget_models=("cnn:width=8", "cnn"), capacity=("cnn:width=8",), budget_seeds=(3,))
    assert [(c.model, c.model_kwargs, c.seed) for c in P.budget_configs(q)] == [("cnn", {"width": 8}, 3),
                                                                              ("cnn", {}, 3)]
    assert P.budget_specs(P.Params(budget_models=("resnet50",))) == []
    assert P.budget_specs(P.Params(budget_seeds=())) == []
    assert P.full_data_spec(P.Params(full_data_model="resnet50")) is None
    assert P.full_data_configs(P.Params(full_data_seeds=())) == []


def test_stack_histories_keeps_every_run(budget_runs):
    h = P.stack_histories(budget_runs)
    assert h["per_class_accuracy"].dims == ("budget_model", "budget_seed", "epoch", "label")
    np.testing.assert_array_equal(h["per_class_accuracy"].sel(budget_model="cnn", budget_seed=1).values,
                                  budget_runs[("cnn", 1)]["per_class_accuracy"].values)
    assert list(h["train_time_s"].sel(budget_model="cnn").values) == [100.0, 101.0] and int(h["n_train"]) == 5000
    with pytest.raises(ValueError, match="missing"):
        P.stack_histories({("a", 0): budget_runs[("cnn", 0)], ("b", 1): budget_runs[("cnn", 1)]})


def test_budget_curve_statistics_equal_numpy(ds, budget_runs):
    acc = np.array([budget_runs[("cnn", s)]["per_class_accuracy"].values for s in (0, 1)])  # seed × epoch × class
    srt = np.sort(acc, axis=-1)
    want = {"gap": acc.max(-1) - acc.min(-1), "std": acc.std(-1), "worst_k_mean": srt[..., :3].mean(-1),
            "overall_accuracy": acc.mean(-1)}
    b = ds.sel(budget_model="cnn")
    for name, w in want.items():
        got = b[f"budget_{name}"].transpose("budget_seed", "epoch").values
        np.testing.assert_allclose(got, w, err_msg=name)
        np.testing.assert_allclose(b[f"budget_{name}_mean"].values, w.mean(0), err_msg=name)
        np.testing.assert_allclose(b[f"budget_{name}_min"].values, w.min(0), err_msg=name)
        np.testing.assert_allclose(b[f"budget_{name}_max"].values, w.max(0), err_msg=name)
    names = np.array([f"class{c}" for c in range(5)])
    assert (b["budget_worst_class"].transpose("budget_seed", "epoch").values == names[acc.argmin(-1)]).all()
    assert list(b["budget_mean_worst_class"].values) == list(names[acc.mean(0).argmin(-1)])
    assert int(ds["budget_worst_k"]) == 3
    # the change: gap after the last epoch (6) minus after the main sweep's epoch count (4), t over the 2 seeds
    d = want["gap"][:, 5] - want["gap"][:, 3]
    np.testing.assert_allclose(b["budget_delta_gap_by_seed"].values, d)
    h = stats.t.ppf(0.975, 1) * d.std(ddof=1) / math.sqrt(2)
    assert math.isclose(float(b["budget_delta_gap"]), d.mean())
    assert math.isclose(float(b["budget_delta_gap_lower"]), d.mean() - h)
    assert math.isclose(float(b["budget_delta_gap_upper"]), d.mean() + h)
    assert int(ds["budget_ref_epoch"]) == 4 and int(ds["budget_last_epoch"]) == 6
    # the sweep's own short runs of the same model, for comparison
    assert math.isclose(float(b["budget_short_run_gap"]), float(ds["run_gap"].sel(dataset="A", model="cnn").mean()))
    assert list(ds["label"].values) == [0, 1, 2, 3, 4] and str(b["budget_display_name"].values) == "cnn"


def test_the_reference_epoch_is_capped_by_the_long_runs():
    h = P.stack_histories({("cnn", 0): fake_run(gap_history([0.3, 0.2]))})
    out = P.budget_summary(h, short_epochs=4)
    assert int(out["budget_ref_epoch"]) == 2 and float(out["budget_delta_gap"].item()) == 0.0


# (gaps at epochs 1..4 per seed; the reference is epoch 2): hand-worked deltas, t-interval with 1 df (t = 12.706)
@pytest.mark.parametrize("per_seed, word, verdict", [
    # deltas 0.010, 0.012: mean 0.011 ± 0.0127 -> [-0.002, 0.024] inside ±0.05
    ([[0.3, 0.3, 0.3, 0.31], [0.3, 0.3, 0.3, 0.312]], "stays", AGREES),
    # deltas -0.20, -0.21: [-0.269, -0.141] wholly below -0.05
    ([[0.5, 0.4, 0.3, 0.2], [0.5, 0.4, 0.3, 0.19]], "narrows", DISAGREES),
    # deltas +0.20, +0.21: wholly above +0.05
    ([[0.1, 0.1, 0.2, 0.3], [0.1, 0.1, 0.2, 0.31]], "widens", DISAGREES),
    # deltas 0.0, 0.1: mean 0.05 ± 0.635: straddles the band's edges
    ([[0.3, 0.3, 0.3, 0.3], [0.3, 0.3, 0.3, 0.4]], "unclear", CANNOT_TELL),
    # one seed: no interval
    ([[0.3, 0.3, 0.3, 0.3]], "unclear", CANNOT_TELL),
])
def test_gap_survives_is_near_zero_within_the_margin(sweeps, per_seed, word, verdict):
    runs = {("cnn", s): fake_run(gap_history(g)) for s, g in enumerate(per_seed)}
    out = P.summarize({"A": sweeps["A"]}, models=["mlp", "cnn"], n_boot=50, n_sim=50,
                      budget=P.stack_histories(runs), budget_short_epochs=2)
    d = [g[3] - g[1] for g in per_seed]
    assert math.isclose(float(out["budget_delta_gap"].sel(budget_model="cnn")), float(np.mean(d)), abs_tol=1e-12)
    assert str(out["budget_word"].sel(budget_model="cnn").values) == word
    found = P.claims(out)
    assert _verdict(found, P.BUDGET_ID) == verdict
    row = found.sel(claim=P.BUDGET_ID)
    assert str(row["paper"].values) == "ours (test of the paper's premise)" and np.isnan(float(row["paper_value"]))
    assert "epoch 4 minus after epoch 2" in str(row["measure"].values)
    assert "cosine" in str(row["note"].values)
    g = P.glue_values(out)
    assert g["verdict_gap_survives"] == verdict and g["budget_word"] == word
    assert g["verdict_balanced_disparity_converged"].startswith("not tested")


def test_a_second_long_run_model_gets_its_own_claim(sweeps):
    runs = {(m, 0): fake_run(gap_history([0.3, 0.3])) for m in ("cnn", "mlp")}
    out = P.summarize({"A": sweeps["A"]}, models=["mlp", "cnn"], n_boot=50, n_sim=50,
                      budget=P.stack_histories(runs), budget_short_epochs=1)
    assert [str(c) for c in P.claims(out)["claim"].values][-2:] == [P.BUDGET_ID, f"{P.BUDGET_ID}:mlp"]


def test_full_data_model_equals_by_model(ds, full_sweep):
    from fairnotes import summary
    s = summary.by_model(full_sweep, n_boot=N_BOOT, n_sim=N_SIM).sel(model="cnn")
    y = full_sweep["target"].values
    acc = recall_score(y, full_sweep["prediction"].sel(model="cnn", seed=0).values, average=None)
    np.testing.assert_allclose(ds["full_accuracy"].values, acc)
    for v in ("gap", "gap_lower", "gap_upper", "worst", "std", "accuracy_lower", "accuracy_upper"):
        np.testing.assert_allclose(ds[f"full_{v}"].values, s[v].values, err_msg=v)
    assert math.isclose(float(ds["full_gap"]), acc.max() - acc.min())
    assert str(ds["full_worst_class"].values) == f"class{acc.argmin()}"
    assert math.isclose(float(ds["full_noise_p_max"]), float(s["noise_p_value"].max()))
    assert math.isclose(float(ds["full_overall_accuracy"]), float((full_sweep["prediction"].values == y).mean()))
    assert int(ds["full_n_train"]) == 60000 and int(ds["full_epochs"]) == 15 and np.isnan(float(ds["full_target"]))


@pytest.mark.parametrize("p, verdict", [(0.001, AGREES), (0.2, CANNOT_TELL)])
def test_converged_claim_is_the_balanced_disparity_of_the_full_data_model(ds, p, verdict):
    found = P.claims(_with(ds, "full_noise_p_max", p))
    assert _verdict(found, P.CONVERGED_ID) == verdict
    row = found.sel(claim=P.CONVERGED_ID)
    assert math.isclose(float(row["ours"]), float(ds["full_gap"]))
    assert (float(row["lower"]), float(row["upper"])) == (float(ds["full_gap_lower"]), float(ds["full_gap_upper"]))
    assert "well-trained on all 60,000" in str(row["measure"].values)
    assert str(row["statement"].values) == str(found["statement"].sel(claim="cui.balanced_disparity").values)
    assert str(row["section"].values) == P.SECTIONS["undertraining"]


@pytest.mark.parametrize("skill, reached", [(0.97, "yes"), (0.8, "no")])
def test_full_data_accuracy_is_reported_against_the_target(skill, reached):
    sw = fake_sweep({"cnn": [0.95, 0.9, 0.9]}, seeds=(0,))
    full = fake_sweep({"cnn": [skill] * 3}, seeds=(0,), n_per=300)
    out = P.summarize({"fashion-mnist": sw}, models=["cnn"], n_boot=50, n_sim=50, full_data=full,
                      full_data_n_train=60000, full_data_epochs=15)
    assert float(out["full_target"]) == 0.92
    g = P.glue_values(out)
    assert g["full_reached"] == reached
    assert "0.92" in g["full_target_sentence"] and "60,000" in g["full_target_sentence"]
    assert ("which meets" in g["full_target_sentence"]) == (reached == "yes")
    assert ("not fully trained" in g["undertraining_answer"]) == (reached == "no")


@pytest.mark.parametrize("converged, word, starts, has", [
    (AGREES, "stays", "No — the disparity survives convergence", "leaves the gap within ±0.05"),
    (AGREES, "narrows", "No — the disparity survives convergence", "part of the short runs' gap is undertraining"),
    (AGREES, None, "No — the disparity survives convergence", "beyond sampling noise"),
    (CANNOT_TELL, "widens", "Not shown at this scale", "widens the gap by more than 0.05"),
    (None, "stays", "Not on this evidence", "no full-data model was trained"),
    (None, "unclear", "We cannot tell", "the seeds cannot tell"),
    (None, None, "Not tested in this run", ""),
])
def test_undertraining_answer_follows_the_verdicts(converged, word, starts, has):
    text = P.undertraining_answer(converged, word, last=30, ref=4)
    assert text.startswith(starts) and has in text and not text.endswith(".")
    if word is not None:
        assert "training 30 epochs instead of 4" in text


def test_undertraining_glue_and_tables(ds):
    g = P.glue_values(ds)
    b = ds.sel(budget_model="cnn")
    assert g["budget_epochs"] == 6 and g["budget_ref_epoch"] == 4 and g["budget_short_epochs"] == SHORT
    assert math.isclose(g["budget_gap_ref"], float(b["budget_gap_mean"].sel(epoch=4)))
    assert math.isclose(g["budget_gap_last"], float(b["budget_gap_mean"].sel(epoch=6)))
    assert g["budget_n_train"] == 5000 and g["budget_n_seeds"] == 2
    assert g["full_n_train"] == 60000 and g["full_model_name"] == "cnn"
    assert g["full_reached"] == "no target" and "sets no accuracy target for A" in g["full_target_sentence"]
    assert math.isclose(g["full_subset_gap"], float(ds["gap"].sel(dataset="A", model="cnn")))
    worst = str(ds["worst_class"].sel(dataset="A", model="cnn").values)
    assert g["full_subset_worst_class"] == worst
    assert math.isclose(g["full_subset_worst_full"], float(ds["full_accuracy"].sel(label=int(worst[-1]))))
    assert g["undertraining_answer"].startswith(("No —", "Not shown"))
    t = P.tables(ds)
    assert len(t["budget_runs"]) == 2 * 6 and len(t["budget_curve"]) == 3 * 6
    assert set(t["budget_curve"]["series"]) == {"gap", "std", "worst-3 mean"}
    gap4 = t["budget_curve"].query("epoch == 4 and statistic == 'gap'")["value"].item()
    assert math.isclose(gap4, round(g["budget_gap_ref"], 4))
    f = t["full_data"]
    assert list(f.index) == [f"class{c}" for c in range(5)]
    assert list(f.columns) == ["all 60,000 images, 15 epochs", "95% CI lower", "95% CI upper", "main run (same model)"]
    assert (f["95% CI lower"] <= f["all 60,000 images, 15 epochs"]).all()
    assert "all 60,000 training images" in t["beside_paper"].index[-1]


def test_without_long_runs_or_full_data_the_glue_still_reads(sweeps):
    one = P.summarize({"B": sweeps["B"]}, models=["mlp", "cnn"], n_boot=50, n_sim=50)
    g = P.glue_values(one)
    assert g["budget_change"].startswith("was not measured") and g["undertraining_answer"] == "Not tested in this run"
    assert g["full_target_sentence"].startswith("No full-data model")
    t = P.tables(one)
    assert t["budget_curve"].empty and t["budget_runs"].empty and t["full_data"].empty
    assert not [c for c in P.claims(one)["claim"].values if str(c) in (P.CONVERGED_ID, P.BUDGET_ID)]


def test_the_undertraining_variables_save_and_load(ds, tmp_path):
    back = results.load(results.save(ds, tmp_path / "u.nc"))
    for v in ("budget_gap", "budget_delta_gap", "full_accuracy", "full_gap_lower"):
        xr.testing.assert_allclose(back[v], ds[v])
    assert (back["budget_worst_class"].values == ds["budget_worst_class"].values).all()
    assert str(back["full_model"].values) == "cnn"
