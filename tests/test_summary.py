from __future__ import annotations

import numpy as np
import xarray as xr
from sklearn.metrics import recall_score

from fairnotes import summary
from fairnotes.metrics import noise_floor, rank_agreement


def _fake_sweep(seed=0, n=600, k=4):
    rng = np.random.default_rng(seed)
    target = np.repeat(np.arange(k), n // k)
    skill = {"a": np.array([0.95, 0.8, 0.6, 0.4]), "b": np.array([0.9, 0.85, 0.5, 0.45])}
    preds = []
    for m in ("a", "b"):
        per_seed = []
        for s in range(3):
            right = rng.random(n) < skill[m][target]
            per_seed.append(np.where(right, target, (target + 1 + rng.integers(0, k - 1, n)) % k))
        preds.append(per_seed)
    acc = xr.DataArray(np.zeros((2, 3)), dims=("model", "seed"))
    ds = xr.Dataset({"prediction": (("model", "seed", "sample"), np.array(preds)),
                     "target": ("sample", target), "overall_accuracy": acc, "n_params": ("model", [10, 20])},
                    coords={"model": ["a", "b"], "seed": [0, 1, 2], "label": np.arange(k),
                            "class_name": ("label", ["w", "x", "y", "z"])})
    ds["overall_accuracy"] = (ds.prediction == ds.target).mean("sample")
    return ds


def test_by_model_matches_independent_computations():
    sw = _fake_sweep()
    s = summary.by_model(sw, n_boot=200, n_sim=300)
    for m in ("a", "b"):
        pred = sw.prediction.sel(model=m).values
        per_seed = np.array([recall_score(sw.target.values, p, average=None) for p in pred])
        acc = per_seed.mean(0)
        np.testing.assert_allclose(s.accuracy.sel(model=m).values, acc)
        assert np.isclose(float(s.gap.sel(model=m)), acc.max() - acc.min())
        assert np.isclose(float(s["std"].sel(model=m)), acc.std())
        assert str(s.worst_class.sel(model=m).values) == ["w", "x", "y", "z"][acc.argmin()]
        assert float(s.gap_lower.sel(model=m)) <= float(s.gap.sel(model=m)) <= float(s.gap_upper.sel(model=m))
        p0 = float(noise_floor(sw.target.values, pred[0], n_sim=300, seed=0)["p_value"])
        assert np.isclose(float(s.noise_p_value.sel(model=m, seed=0)), p0)
        w = float(rank_agreement(xr.DataArray(per_seed, dims=("seed", "label")), over="seed")["kendall_w"])
        assert np.isclose(float(s.seed_kendall_w.sel(model=m)), w)
    # classes this unequal are far beyond binomial noise
    assert float(s.noise_p_value.max()) < 0.01
    np.testing.assert_allclose(s.overall_accuracy.values, sw.overall_accuracy.mean("seed").values)


# ---------------------------------------------------------------------------------------------------------------
# paired deltas: p-values from the interval's own t, and Benjamini-Hochberg across classes


def _remedy_sweep(seed=0, n_per=60, k=6, shifts=None, n_seeds=3):
    """A reference and two entries, paired: every entry starts from the reference's hits and flips some."""
    rng = np.random.default_rng(seed)
    target = np.repeat(np.arange(k), n_per)
    base = rng.uniform(0.5, 0.9, k)
    shifts = shifts if shifts is not None else {"a": np.zeros(k), "b": rng.normal(0, 0.15, k),
                                                "c": rng.normal(0, 0.05, k)}
    preds = []
    for name, d in shifts.items():
        per_seed = []
        for s in range(n_seeds):
            u = np.random.default_rng([seed, s]).random(target.size)  # shared draws: the entries are paired
            skill = np.clip(base + d, 0.02, 0.98)[target]
            noise = rng.random(target.size) < 0.1
            right = (u < skill) ^ (noise & (name != "a"))
            per_seed.append(np.where(right, target, (target + 1) % k))
        preds.append(per_seed)
    return xr.Dataset({"prediction": (("remedy", "seed", "sample"), np.array(preds)), "target": ("sample", target)},
                      coords={"remedy": list(shifts), "seed": np.arange(n_seeds), "label": np.arange(k),
                              "class_name": ("label", [f"c{i}" for i in range(k)])})


def test_delta_p_value_is_the_hand_t_of_the_interval():
    from scipy.stats import t

    from fairnotes.metrics._resample import replicate_accuracy, two_source_p_value

    sw = _remedy_sweep()
    p = summary.paired_deltas(sw, n_boot=300, seed=4)
    y = sw["target"].values
    hits = sw["prediction"].values == y
    obs, bi, bs = replicate_accuracy(y, hits, n_boot=300, seed=4)
    d_obs, d_img, d_seed = obs - obs[:1], bi - bi[:, :1], bs - bs[:, :1]
    # by hand: the two variance parts, Welch-Satterthwaite df, bias-corrected centre
    s = 3
    v_img = d_img.var(axis=0, ddof=1)
    v_seed = d_seed.var(axis=0, ddof=1) * s / (s - 1)
    centre = 2 * d_obs - d_img.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(v_seed > 0, (v_img + v_seed) ** 2 / (v_seed ** 2 / (s - 1)), np.inf)
        t_stat = centre / np.sqrt(v_img + v_seed)
    hand = 2 * t.sf(np.abs(t_stat), np.maximum(df, 1))
    hand[0] = 1.0  # the reference against itself: a zero delta with a zero-width interval
    np.testing.assert_allclose(p["delta_accuracy_p"].values, hand, rtol=1e-10)
    np.testing.assert_allclose(two_source_p_value(d_obs, d_img, d_seed, n_seeds=s), hand, rtol=1e-10)
    # the interval's half-width is t_{0.975, df} x se around the same centre
    half = t.ppf(0.975, np.maximum(df, 1)) * np.sqrt(v_img + v_seed)
    np.testing.assert_allclose(p["delta_accuracy_lower"].values[1:], (centre - half)[1:], rtol=1e-10)
    assert p.attrs["fdr_q"] == 0.05 and "Benjamini-Hochberg" in p.attrs["fdr_method"]


def test_interval_excludes_zero_exactly_when_p_is_below_alpha():
    from fairnotes.metrics._resample import two_source_interval, two_source_p_value

    both = {True: 0, False: 0}
    for case in range(40):  # random cases: the two ways of deciding agree, in both directions
        rng = np.random.default_rng(case)
        obs = rng.normal(0, 0.05, 20)
        by_img = obs + rng.normal(0, rng.uniform(0.005, 0.04), (200, 20))
        by_seed = obs + rng.normal(0, rng.uniform(0, 0.04), (200, 20))
        n_seeds = int(rng.integers(2, 6))
        for conf in (0.95, 0.9):
            lo, hi = two_source_interval(obs, by_img, by_seed, n_seeds=n_seeds, confidence=conf)
            pv = two_source_p_value(obs, by_img, by_seed, n_seeds=n_seeds)
            excludes = (hi < 0) | (lo > 0)
            np.testing.assert_array_equal(excludes, pv < 1 - conf)
            for e in excludes:
                both[bool(e)] += 1
    assert both[True] > 50 and both[False] > 50  # both outcomes were exercised
    # the same through paired_deltas
    p = summary.paired_deltas(_remedy_sweep(seed=7), n_boot=200)
    excl = (p["delta_accuracy_upper"] < 0) | (p["delta_accuracy_lower"] > 0)
    np.testing.assert_array_equal(excl.values, (p["delta_accuracy_p"] < 0.05).values)
    np.testing.assert_array_equal(p["hurt"].values, excl.values & (p["delta_accuracy_upper"] < 0).values)
    assert bool(excl.any()) and not bool(excl.all())


def _hand_bh(p, q=0.05):
    """Benjamini-Hochberg by hand: reject the k smallest, k = the largest i with p_(i) <= i q / m."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p)
    below = np.flatnonzero(p[order] <= np.arange(1, m + 1) * q / m)
    reject = np.zeros(m, dtype=bool)
    if below.size:
        reject[order[: below[-1] + 1]] = True
    return reject


def test_bh_hand_example_and_step_up():
    # m = 6: thresholds 0.0083, 0.0167, 0.025, 0.0333, 0.0417, 0.05. Sorted p 0.001, 0.012, 0.03, 0.031, 0.2, 0.9:
    # p_(4) = 0.031 <= 0.0333, so the four smallest are rejected (0.03 > 0.025 too, but step-up keeps it)
    p = np.array([0.2, 0.031, 0.001, 0.9, 0.03, 0.012])
    want = np.array([False, True, True, False, True, True])
    np.testing.assert_array_equal(_hand_bh(p), want)
    np.testing.assert_array_equal(summary.benjamini_hochberg(p) <= 0.05, want)
    np.testing.assert_array_equal(summary.benjamini_hochberg(np.array([0.02, 0.04, 0.045])) <= 0.05, [True] * 3)
    assert not (summary.benjamini_hochberg(np.array([0.01, 0.3, 0.4, 0.5, 0.6, 0.7])) <= 0.05).any()  # 0.01 > 0.05/6
    adj = summary.benjamini_hochberg(np.array([[0.01, np.nan, 0.04], [0.5, 0.5, 0.5]]))
    np.testing.assert_allclose(adj[0], [0.02, np.nan, 0.04])  # NaN is no hypothesis: m = 2
    np.testing.assert_allclose(adj[1], [0.5] * 3)


def test_fdr_flags_are_hand_bh_on_each_entry():
    shifts = {"a": np.zeros(6), "b": np.array([-0.3, -0.12, 0.0, 0.05, 0.12, 0.3]),
              "c": np.array([-0.06, -0.05, 0.05, 0.06, 0.0, -0.04])}
    sw = _remedy_sweep(seed=3, n_per=150, shifts=shifts, n_seeds=4)
    p = summary.paired_deltas(sw, n_boot=400)
    for r in ("a", "b", "c"):
        pv = p["delta_accuracy_p"].sel(remedy=r).values
        rej = _hand_bh(pv)
        d = p["delta_accuracy"].sel(remedy=r).values
        np.testing.assert_array_equal(p["hurt_fdr"].sel(remedy=r).values, rej & (d < 0))
        np.testing.assert_array_equal(p["helped_fdr"].sel(remedy=r).values, rej & (d > 0))
        # BH never flags a class the uncorrected interval leaves unclear
        assert not (p["hurt_fdr"].sel(remedy=r) & ~p["hurt"].sel(remedy=r)).any()
    assert bool(p["hurt_fdr"].sel(remedy="b", label=0)) and bool(p["helped_fdr"].sel(remedy="b", label=5))
    assert not p["hurt_fdr"].sel(remedy="a").any() and (p["delta_accuracy_p"].sel(remedy="a") == 1).all()
