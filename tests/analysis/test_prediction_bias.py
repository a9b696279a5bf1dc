"""The prediction-bias chapter's analysis on small synthetic tracked runs, against independent oracles."""
from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from sklearn.metrics import confusion_matrix, recall_score

from fairnotes import bias, results
from fairnotes.analysis import AGREES, CANNOT_TELL, DISAGREES, ParamError, seed_interval
from fairnotes.analysis import prediction_bias as chapter

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["a", "b", "c", "d", "e", "f"]


def _run(seed: int, k: int = 6, e: int = 3, per_class: int = 40, skill=None, names=NAMES) -> xr.Dataset:
    """One tracked run as the train job returns it (only the variables the chapter reads)."""
    rng = np.random.default_rng(seed)
    skill = np.linspace(0.3, 0.9, k) if skill is None else np.asarray(skill)
    target = np.repeat(np.arange(k), per_class)
    right = rng.random(target.size) < skill[target]
    pred = np.where(right, target, (target + 1 + rng.integers(0, k - 1, target.size)) % k)
    support = np.full((e, k), 100)
    lab = ("epoch", "label")
    ds = xr.Dataset({
        "track_predicted": (lab, support + rng.integers(-40, 40, (e, k))), "track_support": (lab, support),
        "track_gp": (lab, rng.uniform(0.2, 0.9, (e, k))), "track_gn": (lab, rng.uniform(0.01, 0.2, (e, k))),
        "track_grad_pos": (lab, rng.uniform(1, 2, (e, k))), "track_grad_neg": (lab, rng.uniform(0.5, 3, (e, k))),
        "step_predicted": (("step", "label"), 10 + rng.integers(-5, 5, (4, k))),
        "step_support": (("step", "label"), np.full((4, k), 10)),
        "feature_variance": (("feature_epoch", "label"), rng.uniform(1, 5, (1, k))),
        "nearest_mean_distance": (("feature_epoch", "label"), rng.uniform(1, 5, (1, k))),
        "accuracy": ("label", recall_score(target, pred, average=None)),
        "prediction": ("sample", pred), "target": ("sample", target)},
        coords={"epoch": np.arange(1, e + 1), "label": np.arange(k), "step": [10, 20, 30, 40],
                "feature_epoch": [e], "class_name": ("label", names[:k])})
    return ds


def _div(deltas: dict[str, list[tuple[float, float, float]]], names=("b + x", "d + x")) -> xr.Dataset:
    """A diversity result with given (mean, lower, upper) per treated label for each delta."""
    t = len(next(iter(deltas.values())))
    ds = xr.Dataset(coords={"model": ["cnn"], "seed": [0, 1, 2], "label": np.arange(4),
                            "class_name": ("label", ["A", "B", "C", "D"]), "treated": [1, 3][:t],
                            "treated_class_name": ("treated", list(names[:t]))})
    rng = np.random.default_rng(0)
    for v in ("accuracy_kept", "predicted", "fp"):
        vals = np.array(deltas.get(v, [(0.0, -1.0, 1.0)] * t), float)
        ds[f"delta_{v}"] = (("model", "seed", "treated"), vals[None, None, :, 0] + rng.normal(0, 0.01, (1, 3, t)))
        for j, s in enumerate(("mean", "lower", "upper")):
            ds[f"delta_{v}_{s}"] = (("model", "treated"), vals[None, :, j])
    ds.attrs.update(n_boot=100, fraction=0.5)
    return ds


@pytest.fixture(scope="module")
def stacked():
    runs = [_run(s) for s in (0, 1, 2)]
    return bias.stack_seeds(runs, [0, 1, 2]).assign_coords(class_name=runs[0]["class_name"])


@pytest.fixture(scope="module")
def lt_stacked():
    runs = [_run(s + 10) for s in (0, 1, 2)]
    return bias.stack_seeds(runs, [0, 1, 2]).assign_coords(class_name=runs[0]["class_name"])


FREQ = [100, 60, 36, 22, 13, 8]


@pytest.fixture(scope="module")
def ds(stacked, lt_stacked):
    div = _div({"accuracy_kept": [(-0.05, -0.08, -0.02), (0.01, -0.02, 0.04)],
                "predicted": [(12.0, 4.0, 20.0), (-3.0, -9.0, -1.0)]})
    return chapter.summarize(stacked, div, model="cnn", train_minutes=1.5, long_tail=lt_stacked,
                             long_tail_frequency=FREQ, long_tail_ratio=12.5)


# ------------------------------------------------------------------------------------------ params


def test_params_defaults_match_the_notebook():
    from fairnotes.runner import parameters
    cell = {k: v["default"] for k, v in parameters("prediction_bias", ROOT).items()}
    p = chapter.Params()
    assert chapter.Params.names() == list(cell)
    norm = lambda v: list(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    assert {k: norm(getattr(p, k)) for k in cell} == {k: norm(v) for k, v in cell.items()}


def test_params_type_errors_name_the_parameter():
    with pytest.raises(ParamError, match="'seeds'"):
        chapter.Params.from_mapping({"seeds": 0.5})
    with pytest.raises(ParamError, match="'optimizer'"):
        chapter.Params.from_mapping({"optimizer": "lion"})
    with pytest.raises(ParamError, match="'long_tail_ratio'"):
        chapter.Params.from_mapping({"long_tail_ratio": "ten"})
    p = chapter.Params.from_mapping({"seeds": [3, 4], "train_per_class": None, "diversity_source": [8, 9],
                                     "long_tail_ratio": None})
    assert p.seeds == (3, 4) and p.train_per_class is None and p.diversity_source == (8, 9)
    assert p.long_tail_ratio is None and chapter.Params.from_mapping({"long_tail_ratio": 3}).long_tail_ratio == 3.0


def test_base_config_is_the_notebooks_config():
    pytest.importorskip("torch")
    from fairnotes.jobs import train
    p = chapter.Params()
    cfg = chapter.base_config(p)
    old = train.TrainConfig(dataset="fashion-mnist", model="cnn", epochs=4, batch_size=128, optimizer="adamw",
                            lr=0.002, weight_decay=0.05, augment="crop", train_per_class=1000, profile="laptop",
                            track=True, track_every_steps=10, progress=False)
    assert cfg == old and cfg.key() == old.key()
    lt = chapter.long_tail_config(p, 2)
    assert lt == dataclasses.replace(old, train_imbalance=10.0, seed=2) and lt.key() != old.key()
    with pytest.raises(ValueError, match="long_tail_ratio"):
        chapter.long_tail_config(dataclasses.replace(p, long_tail_ratio=None), 0)


def test_long_tail_frequency_is_what_the_run_trains_on():
    """The tiny profile (digits, all images: n_max = the smallest class count) at ratio 3."""
    pytest.importorskip("torch")
    from fairnotes import data
    from fairnotes.jobs import training_subset
    p = chapter.Params(profile="tiny", dataset="digits", train_per_class=None, long_tail_ratio=3.0)
    freq = chapter.long_tail_frequency(p)
    assert freq.tolist() == training_subset(chapter.long_tail_config(p, 1)).counts().tolist()
    n_max = int(data.load("digits", "train").counts().min())
    assert freq.tolist() == data.long_tail_counts(n_max, 3.0, 10).tolist() and freq[0] == n_max


# ------------------------------------------------------------------------------------------ summarize


def test_bias_groups_and_claim_measures_match_numpy(stacked, ds):
    acc_s = stacked["accuracy"].values  # seed × label
    acc = acc_s.mean(0)
    order = np.lexsort((np.arange(6), acc))
    hard, easy = order[:2], order[-2:]  # 6 classes: 2 hard, 2 medium, 2 easy
    assert sorted(np.flatnonzero(ds["difficulty"].values == "hard")) == sorted(hard)
    b = stacked["track_predicted"].values / stacked["track_support"].values  # seed × epoch × label
    np.testing.assert_allclose(ds["bias"].values, b.mean(0))
    np.testing.assert_allclose(ds["group_bias"].sel(group="hard").values, b.mean(0)[:, hard].mean(1))
    np.testing.assert_allclose(ds["group_bias"].sel(group="easy").values, b.mean(0)[:, easy].mean(1))
    per_seed = b[:, :, hard].mean((1, 2))
    half = stats.t.ppf(0.975, 2) * per_seed.std(ddof=1) / np.sqrt(3)
    assert np.isclose(float(ds["hard_bias"]), per_seed.mean())
    assert np.isclose(float(ds["hard_bias_lower"]), per_seed.mean() - half)
    assert np.isclose(float(ds["hard_bias_upper"]), per_seed.mean() + half)
    gn, gp = stacked["track_grad_neg"].values, stacked["track_grad_pos"].values
    share = (gn / (gn + gp))[:, -1][:, hard].mean(1)
    assert np.isclose(float(ds["hard_neg_share"]), share.mean())
    step = stacked["step_predicted"].values / stacked["step_support"].values
    np.testing.assert_allclose(ds["step_bias"].values, step.mean(0))


def test_correlations_match_scipy_with_fisher_interval(stacked, ds):
    acc_s = stacked["accuracy"].values
    b = stacked["track_predicted"].values / stacked["track_support"].values
    x = b.mean((0, 1))
    rho = stats.spearmanr(x, acc_s.mean(0)).statistic
    se = math.sqrt((1 + rho ** 2 / 2) / (6 - 3))
    c = ds.sel(correlation="bias_mean")
    assert np.isclose(float(c["rho"]), rho)
    assert np.isclose(float(c["rho_lower"]), math.tanh(math.atanh(rho) - 1.959964 * se), atol=1e-6)
    assert np.isclose(float(c["rho_upper"]), math.tanh(math.atanh(rho) + 1.959964 * se), atol=1e-6)
    per_seed = [stats.spearmanr(b[s].mean(0), acc_s[s]).statistic for s in range(3)]
    np.testing.assert_allclose(c["rho_by_seed"].values, per_seed)
    assert np.isclose(float(c["rho_seed_mean"]), np.mean(per_seed))
    # a mean of correlations lies in [-1, 1]; the t-interval is clipped there
    assert (ds["rho_seed_lower"].values >= -1).all() and (ds["rho_seed_upper"].values <= 1).all()
    fv = stacked["feature_variance"].values[:, -1].mean(0)
    rho_fv = stats.spearmanr(fv, acc_s.mean(0)).statistic
    assert np.isclose(float(ds["rho"].sel(correlation="feature_variance")), rho_fv)
    gngp = (stacked["track_gn"].values / stacked["track_gp"].values)[:, -1].mean(0)
    assert np.isclose(float(ds["rho"].sel(correlation="gn_over_gp")), stats.spearmanr(gngp, acc_s.mean(0)).statistic)


def test_confusion_and_false_positive_sources_match_sklearn(stacked, ds):
    y = stacked["target"].values
    cms = np.array([confusion_matrix(y, p, labels=range(6)) for p in stacked["prediction"].values])
    np.testing.assert_array_equal(ds["confusion"].values, cms)
    mean = cms.mean(0)
    np.testing.assert_allclose(ds["confusion_share"].values, mean / mean.sum(1, keepdims=True))
    h = int(np.argmin(stacked["accuracy"].values.mean(0)))
    assert str(ds["hardest"].values) == NAMES[h]
    col = cms[:, :, h].astype(float)
    col[:, h] = 0
    share = (col / col.sum(1, keepdims=True)).mean(0)
    np.testing.assert_allclose(ds["fp_source_share"].values, share)
    assert str(ds["top_sender"].values) == NAMES[int(np.argmax(share))]
    assert np.isclose(float(ds["top_sender_share"]), share.max())
    assert np.isclose(float(ds["hardest_fp"]), col.sum(1).mean())


def test_false_positive_share_is_not_the_row_share():
    """By hand: class 0 is hardest; of the 3 images wrongly predicted as 0, 2 are b's and 1 is c's
    (share 2/3 from b), while b's own row sends half its images (2 of 4) to class 0."""
    target = np.repeat([0, 1, 2], 4)
    pred = np.array([0, 1, 2, 2, 0, 0, 1, 1, 0, 2, 2, 2])
    run = _run(0, k=3, per_class=4, names=["a", "b", "c"])
    run["prediction"], run["target"] = ("sample", pred), ("sample", target)
    run["accuracy"] = ("label", recall_score(target, pred, average=None))  # 0.25, 0.5, 0.75
    stacked = bias.stack_seeds([run, run], [0, 1]).assign_coords(class_name=run["class_name"])
    ds = chapter.summarize(stacked, None)
    assert str(ds["hardest"].values) == "a" and str(ds["top_sender"].values) == "b"
    assert np.isclose(float(ds["top_sender_share"]), 2 / 3)
    assert np.isclose(float(ds["top_sender_row_share"]), 0.5)
    np.testing.assert_allclose(ds["fp_source_share"].values, [0, 2 / 3, 1 / 3])
    assert float(ds["hardest_fp"]) == 3


def _lt_run(seed: int, bias_by_class, acc, freq=FREQ) -> xr.Dataset:
    """A long-tailed tracked run whose prediction bias, mean over its 3 epochs, is ``bias_by_class`` exactly
    (epochs: bias + 0.1, bias − 0.1, bias; support 10 × frequency), with final accuracy ``acc``."""
    run = _run(seed)
    support = np.array(freq) * 10
    b = np.asarray(bias_by_class, float)
    run["track_support"] = (("epoch", "label"), np.stack([support] * 3))
    run["track_predicted"] = (("epoch", "label"), np.rint(np.stack([(b + 0.1) * support, (b - 0.1) * support,
                                                                    b * support])).astype(int))
    run["accuracy"] = ("label", np.asarray(acc, float))
    return run


def _fisher(rho: float, k: int = 6) -> tuple[float, float]:
    se = math.sqrt((1 + rho ** 2 / 2) / (k - 3))
    return math.tanh(math.atanh(rho) - 1.959964 * se), math.tanh(math.atanh(rho) + 1.959964 * se)


def test_long_tail_correlations_by_hand(stacked):
    """Bias [1.3, 1.2, 1.0, 0.9, 0.7, 0.8] ranks 6 5 4 3 1 2 against frequency ranks 6 5 4 3 2 1:
    Σd² = 2, rho = 1 − 6·2 / (6·35) = 0.942857. Accuracy [0.9, 0.5, 0.8, 0.6, 0.7, 0.4] ranks 6 2 5 3 4 1:
    Σd² = 20, rho = 1 − 120/210 = 0.428571. Every seed the same: the per-seed interval has no width."""
    bias_c, acc = [1.3, 1.2, 1.0, 0.9, 0.7, 0.8], [0.9, 0.5, 0.8, 0.6, 0.7, 0.4]
    runs = [_lt_run(s, bias_c, acc) for s in (0, 1, 2)]
    lt = bias.stack_seeds(runs, [0, 1, 2]).assign_coords(class_name=runs[0]["class_name"])
    ds = chapter.summarize(stacked, None, long_tail=lt, long_tail_frequency=FREQ, long_tail_ratio=12.5)
    np.testing.assert_allclose(ds["lt_bias_mean"].values, bias_c)
    np.testing.assert_allclose(ds["lt_bias"].isel(epoch=0).values, np.array(bias_c) + 0.1)
    assert ds["lt_frequency"].values.tolist() == FREQ and ds.attrs["long_tail_n_train"] == sum(FREQ)
    for name, rho in (("frequency", 1 - 12 / 210), ("accuracy", 1 - 120 / 210)):
        c = ds.sel(lt_correlation=name)
        assert np.isclose(float(c["lt_rho"]), rho)
        lo, hi = _fisher(rho)
        assert np.isclose(float(c["lt_rho_lower"]), lo, atol=1e-6) and np.isclose(float(c["lt_rho_upper"]), hi,
                                                                                  atol=1e-6)
        np.testing.assert_allclose(c["lt_rho_by_seed"].values, [rho] * 3)
        assert np.isclose(float(c["lt_rho_seed_lower"]), rho) and np.isclose(float(c["lt_rho_seed_upper"]), rho)
    found = chapter.claims(ds)
    row = found.sel(claim="longtail.bias_tracks_frequency")
    assert str(row["verdict"].values) == AGREES and str(row["paper"].values) == "Cui et al. 2024"
    assert str(row["statement"].values).startswith("Under long-tailed training, prediction bias follows class")
    assert "balanced" in str(row["note"].values) and str(row["section"].values) in chapter.SECTIONS.values()
    t = chapter.tables(ds)["long_tail"]
    assert t.iloc[0, 0] == f"+0.94 [{lo_str(1 - 12 / 210)}]"
    assert t.index[-1] == "balanced: with final test accuracy"
    g = chapter.glue_values(ds)
    assert (g["pb_lt_head"], g["pb_lt_head_n"], g["pb_lt_tail"], g["pb_lt_tail_n"]) == ("a", 100, "f", 8)
    assert np.isclose(g["pb_lt_head_bias"], 1.3) and np.isclose(g["pb_lt_tail_bias"], 0.8)
    assert g["pb_lt_ratio"] == 12.5 and g["verdict_long_tail"] == AGREES


def lo_str(rho: float) -> str:
    lo, hi = _fisher(rho)
    return f"{lo:+.2f}, {hi:+.2f}"


def test_long_tail_against_scipy_per_seed(stacked, lt_stacked, ds):
    b = (lt_stacked["track_predicted"].values / lt_stacked["track_support"].values).mean(1)  # seed × label
    acc = lt_stacked["accuracy"].values
    c = ds.sel(lt_correlation="accuracy")
    assert np.isclose(float(c["lt_rho"]), stats.spearmanr(b.mean(0), acc.mean(0)).statistic)
    per_seed = [stats.spearmanr(b[s], acc[s]).statistic for s in range(3)]
    np.testing.assert_allclose(c["lt_rho_by_seed"].values, per_seed)
    m, lo, hi = seed_interval(per_seed)
    assert np.isclose(float(c["lt_rho_seed_mean"]), m)
    assert np.isclose(float(c["lt_rho_seed_lower"]), max(lo, -1)) and np.isclose(float(c["lt_rho_seed_upper"]),
                                                                                  min(hi, 1))
    f = ds.sel(lt_correlation="frequency")
    assert np.isclose(float(f["lt_rho"]), stats.spearmanr(b.mean(0), FREQ).statistic)


def test_long_tail_inputs_are_checked(stacked, lt_stacked):
    with pytest.raises(ValueError, match="long_tail_frequency"):
        chapter.summarize(stacked, None, long_tail=lt_stacked)
    with pytest.raises(ValueError, match="seeds"):
        chapter.summarize(stacked, None, long_tail=lt_stacked.isel(seed=[0, 1]), long_tail_frequency=FREQ)
    with pytest.raises(ValueError, match="one frequency per label"):
        chapter.summarize(stacked, None, long_tail=lt_stacked, long_tail_frequency=FREQ[:5])
    with pytest.raises(ValueError, match="epochs"):
        chapter.summarize(stacked, None, long_tail=lt_stacked.isel(epoch=[0, 1]), long_tail_frequency=FREQ)


def test_without_the_long_tail_nothing_is_missing(stacked, ds):
    plain = chapter.summarize(stacked, None)
    assert "lt_rho" not in plain and "longtail.bias_tracks_frequency" not in chapter.claims(plain)["claim"].values
    g = chapter.glue_values(plain)
    assert set(chapter.glue_values(ds)) - set(g) <= {"pb_div_acc_words", "pb_div_pred_words", "pb_div_fp_words",
                                                     "pb_div_fraction", "pb_div_n_seeds", "pb_div_n_classes"}
    assert math.isnan(g["pb_lt_rho_freq"]) and g["verdict_long_tail"] == "not tested"
    assert "skipped" in g["pb_profile_text"] and "long_tail" not in chapter.tables(plain)


def test_overlap_by_hand():
    """Variance [1, 8, 9, 2, 4, 3] over distance² [1, 4, 1, 4, 1, 9]: overlap [1, 2, 9, 0.5, 4, 1/3], ranks
    3 4 6 2 5 1; accuracy [0.9, 0.6, 0.3, 0.8, 0.5, 0.95] ranks 5 3 1 4 2 6: Σd² = 68, rho = 1 − 408/210."""
    var, dist = np.array([1, 8, 9, 2, 4, 3.]), np.array([1, 2, 1, 2, 1, 3.])
    acc = [0.9, 0.6, 0.3, 0.8, 0.5, 0.95]
    runs = []
    for s in (0, 1):
        r = _run(s)
        r["feature_variance"] = (("feature_epoch", "label"), var[None] * (1 + s))  # a rescaled feature space
        r["nearest_mean_distance"] = (("feature_epoch", "label"), dist[None] * math.sqrt(1 + s))
        r["accuracy"] = ("label", np.array(acc))
        runs.append(r)
    st = bias.stack_seeds(runs, [0, 1]).assign_coords(class_name=runs[0]["class_name"])
    ds = chapter.summarize(st, None)
    np.testing.assert_allclose(ds["overlap"].isel(feature_epoch=-1).values, [1, 2, 9, 0.5, 4, 1 / 3])
    np.testing.assert_allclose(ds["overlap_by_seed"].isel(seed=1, feature_epoch=-1).values, [1, 2, 9, 0.5, 4, 1 / 3])
    c = ds.sel(correlation="overlap")
    rho = 1 - 408 / 210
    assert np.isclose(float(c["rho"]), rho)
    lo, hi = _fisher(rho)
    assert np.isclose(float(c["rho_lower"]), lo, atol=1e-6) and np.isclose(float(c["rho_upper"]), hi, atol=1e-6)
    np.testing.assert_allclose(c["rho_by_seed"].values, [rho, rho])
    found = chapter.claims(ds)
    row = found.sel(claim="overlap.tracks_difficulty")
    assert str(row["verdict"].values) == AGREES and float(row["ours"]) == pytest.approx(rho)
    assert str(row["statement"].values) == "Hard classes have more diverse and overlapping features"
    assert str(row["section"].values) == chapter.SECTIONS["features"]
    assert chapter.glue_values(ds)["verdict_overlap"] == AGREES
    assert chapter.tables(ds)["features"]["feature overlap"].tolist() == pytest.approx([1, 2, 9, 0.5, 4, 1 / 3])


def test_overlap_against_numpy_and_scipy(stacked, ds):
    ov = stacked["feature_variance"].values[:, -1] / stacked["nearest_mean_distance"].values[:, -1] ** 2
    acc = stacked["accuracy"].values
    np.testing.assert_allclose(ds["overlap"].isel(feature_epoch=-1).values, ov.mean(0))
    c = ds.sel(correlation="overlap")
    assert np.isclose(float(c["rho"]), stats.spearmanr(ov.mean(0), acc.mean(0)).statistic)
    np.testing.assert_allclose(c["rho_by_seed"].values, [stats.spearmanr(ov[s], acc[s]).statistic for s in range(3)])
    assert np.isclose(float(chapter.overlap(xr.DataArray(2.0), xr.DataArray(0.5))), 8.0)


def test_diversity_deltas_and_direction_words(ds):
    assert ds["delta_accuracy_kept_direction"].values.tolist() == ["decreased", "no clear change"]
    assert ds["delta_predicted_direction"].values.tolist() == ["increased", "decreased"]
    assert ds["treated_label_name"].values.tolist() == ["B", "D"]
    assert ds["delta_accuracy_kept_by_seed"].dims == ("diversity_seed", "treated")
    g = chapter.glue_values(ds)
    assert g["pb_div_n_classes"] == 4 and g["pb_div_fraction"] == 0.5 and g["pb_div_n_seeds"] == 3
    assert chapter.direction(-2, -1) == "decreased" and chapter.direction(1, 2) == "increased"
    assert chapter.direction(-1, 1) == chapter.direction(0, 1) == chapter.direction(math.nan, 1) == "no clear change"


def test_result_and_claims_are_saveable(ds, tmp_path):
    back = results.load(results.save(ds, tmp_path / "a.nc"))
    np.testing.assert_allclose(back["bias"].values, ds["bias"].values)
    assert str(back["top_sender"].values) == str(ds["top_sender"].values)
    found = chapter.claims(back)
    results.save(found, tmp_path / "c.nc")
    assert chapter.glue_values(back) == pytest.approx(chapter.glue_values(ds), nan_ok=True)


# ------------------------------------------------------------------------------------------ claims


CORRELATION_ROWS = {"rho": ("correlation", "bias_mean", "rho"), "overlap": ("correlation", "overlap", "rho"),
                    "lt_frequency": ("lt_correlation", "frequency", "lt_rho")}


def _with(ds: xr.Dataset, **values: tuple[float, float, float]) -> xr.Dataset:
    ds = ds.copy()
    for name, (m, lo, hi) in values.items():
        if name in CORRELATION_ROWS:
            dim, row, var = CORRELATION_ROWS[name]
            for v, x in ((var, m), (f"{var}_lower", lo), (f"{var}_upper", hi)):
                ds[v] = ds[v].copy()
                ds[v].loc[{dim: row}] = x
        else:
            ds[name], ds[f"{name}_lower"], ds[f"{name}_upper"] = m, lo, hi
    return ds


@pytest.mark.parametrize("key, name, cases", [
    ("cui.hard_overpredicted", "hard_bias", {AGREES: (1.3, 1.1, 1.5), DISAGREES: (0.66, 0.62, 0.71),
                                             CANNOT_TELL: (1.0, 0.8, 1.2)}),
    ("cui.bias_tracks_difficulty", "rho", {AGREES: (-0.8, -0.95, -0.4), DISAGREES: (0.7, 0.2, 0.9),
                                           CANNOT_TELL: (-0.3, -0.8, 0.4)}),
    ("cui.fp_dominate_gradient", "hard_neg_share", {AGREES: (0.7, 0.6, 0.8), DISAGREES: (0.3, 0.2, 0.4),
                                                    CANNOT_TELL: (0.5, 0.4, 0.6)}),
    ("overlap.tracks_difficulty", "overlap", {AGREES: (-0.8, -0.95, -0.4), DISAGREES: (0.7, 0.2, 0.9),
                                              CANNOT_TELL: (-0.3, -0.8, 0.4)}),
    ("longtail.bias_tracks_frequency", "lt_frequency", {AGREES: (0.9, 0.6, 0.98), DISAGREES: (-0.7, -0.9, -0.2),
                                                        CANNOT_TELL: (0.3, -0.5, 0.8)}),
])
def test_claims_each_verdict(ds, key, name, cases):
    for verdict, triple in cases.items():
        found = chapter.claims(_with(ds, **{name: triple}))
        c = found.sel(claim=key)
        assert str(c["verdict"].values) == verdict, (key, triple)
        assert float(c["ours"]) == triple[0]


def test_diversity_claims_one_row_per_label_each_verdict(stacked):
    div = _div({"accuracy_kept": [(-0.05, -0.08, -0.02), (0.03, 0.01, 0.05)],
                "predicted": [(12.0, 4.0, 20.0), (-3.0, -9.0, -1.0)]})
    found = chapter.claims(chapter.summarize(stacked, div))
    v = lambda c: str(found["verdict"].sel(claim=c).values)  # noqa: E731
    assert v("cui.diversity_hurts:B") == AGREES and v("cui.diversity_hurts:D") == DISAGREES
    assert v("cui.diversity_attracts:B") == AGREES and v("cui.diversity_attracts:D") == DISAGREES
    div = _div({"accuracy_kept": [(0.0, -0.02, 0.02)], "predicted": [(1.0, -3.0, 5.0)]})
    found = chapter.claims(chapter.summarize(stacked, div))
    assert {str(found["verdict"].sel(claim=c).values) for c in ("cui.diversity_hurts:B",
                                                               "cui.diversity_attracts:B")} == {CANNOT_TELL}
    assert "cui.diversity_hurts:D" not in found["claim"].values
    assert set(found["section"].values) <= set(chapter.SECTIONS.values())


# ------------------------------------------------------------------------------------------ glue, notebook


def test_glue_values_cover_the_notebook(ds):
    g = chapter.glue_values(ds)
    text = (ROOT / "book" / "prediction_bias.md").read_text()
    used = set(re.findall(r"\{glue:text\}`([^`:]+)", text)) | set(re.findall(r"g\[\"([^\"]+)\"\]", text))
    assert used and used <= set(g), used - set(g)
    assert g["verdict_diversity_hurts"] == f"B: {AGREES}; D: {CANNOT_TELL}"
    assert g["pb_div_acc_words"] == "b + x — decreased, d + x — no clear change"


def test_disagreements_are_said_plainly(ds):
    g = chapter.glue_values(_with(ds, hard_bias=(0.66, 0.62, 0.71)))
    assert g["verdict_hard_overpredicted"] == DISAGREES
    assert g["pb_disagreements"].startswith("We disagree with the paper on:")
    assert "Hard classes receive more predictions" in g["pb_disagreements"]


def test_tables(ds):
    t = chapter.tables(ds)
    assert t["group_bias"].index.tolist() == ["hard", "medium", "easy"]
    assert t["diversity"].loc["b + x", "Δ accuracy: direction"] == "decreased"
    assert t["diversity"].loc["b + x", "Δ test predictions"] == "+12.0 [+4.0, +20.0]"
    assert len(t["correlations"]) == len(chapter.CORRELATIONS)
    assert str(ds["hardest"].values) not in t["fp_sources"].index
    assert chapter.confusion(ds).dims == ("true class", "predicted as")


def test_notebook_code_is_short():
    text = (ROOT / "book" / "prediction_bias.md").read_text()
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, flags=re.S)
    code = [c for c in cells if "tags: [parameters]" not in c]
    lines = [ln for c in code for ln in c.splitlines() if ln.strip() and not ln.startswith(":")]
    assert len(lines) <= 60, len(lines)
