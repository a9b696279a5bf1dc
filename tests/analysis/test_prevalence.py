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


# data set "A": two architectures plus a capacity sweep (cnn:width=4 small, cnn large); "B": 3 classes, no capacity
SKILLS_A = {"mlp": [0.95, 0.8, 0.6, 0.4, 0.9], "cnn": [0.95, 0.85, 0.8, 0.75, 0.9],
            "cnn:width=4": [0.9, 0.5, 0.3, 0.3, 0.9]}
SKILLS_B = {"mlp": [0.9, 0.5, 0.7], "cnn": [0.95, 0.6, 0.8]}


@pytest.fixture(scope="module")
def sweeps():
    return {"A": fake_sweep(SKILLS_A, n_params=[5000, 800, 100]), "B": fake_sweep(SKILLS_B, rng=1)}


@pytest.fixture(scope="module")
def ds(sweeps):
    return P.summarize(sweeps, models=["mlp", "cnn"], capacity=["cnn:width=4", "cnn"], capacity_datasets=["A"],
                       n_boot=N_BOOT, n_sim=N_SIM)


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
    """``run`` with the training replaced by synthetic sweeps: the job keys are the sweep's configs."""
    from fairnotes.jobs import sweep

    def fake_run(base, *, models, seeds, progress=True, store=None):
        skills = {m: SKILLS_A[m] for m in models}
        return fake_sweep(skills, seeds=tuple(seeds))

    monkeypatch.setattr(sweep, "run", fake_run)
    p = P.Params(datasets=("digits",), models=("mlp", "cnn"), capacity=("cnn:width=4", "cnn"),
                 capacity_datasets=("digits",), seeds=(0, 1), n_boot=50, epochs=1)
    ds = P.run(p, progress=False)
    want = [c.key() for c in sweep.configs(P.base_config(p, "digits"), models=P.architectures(p, "digits"),
                                           seeds=p.seeds)]
    assert ds.attrs["jobs"]["train"] == want
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
    assert len(t["beside_paper"]) == 3 and t["beside_paper"].iloc[0]["gap"] == 0.84


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


def test_module_imports_without_torch():
    import subprocess
    import sys
    code = ("import sys; import fairnotes.analysis.prevalence as p; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)

