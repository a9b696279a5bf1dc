"""The MuSE chapter's pure core: predictions over w, the choice of w, the summary, claims and glue."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fairnotes.analysis import AGREES, CANNOT_TELL, DISAGREES, muse

K, D, PER_CLASS = 8, 16, 15
WS = tuple(round(i / 10, 1) for i in range(11))


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _queries(rng, noise=0.15):
    y = np.repeat(np.arange(K), PER_CLASS)
    x = np.eye(D)[y] + noise * rng.standard_normal((y.size, D))
    return x, y


def _text(rng, n_right=K // 2, noise=0.05):
    """Text prototypes right (along the class's direction) for the first ``n_right`` classes and pointing into
    unused dimensions for the rest: text-only is right on the first classes, at chance-or-worse on the rest."""
    t = np.zeros((K, D))
    t[:n_right, :n_right] = np.eye(n_right)
    for j, k in enumerate(range(n_right, K)):
        t[k, K + j] = 1.0
    return t + noise * rng.standard_normal(t.shape)


def _experiment(seeds=(0, 1, 2), same_val=False, n_right=K // 2):
    """Per-seed predictions (seed × w × sample) on a validation and a test split; seeds redraw the text noise."""
    rng = np.random.default_rng(0)
    xs, ys = _queries(rng, noise=0.05)  # supports: close to the class direction (a good "generator")
    xs, ys = xs[::5], ys[::5]
    xv, yv = _queries(rng)
    xt, yt = (xv, yv) if same_val else _queries(rng)
    vp, tp = [], []
    for s in seeds:
        t = _text(np.random.default_rng(100 + s), n_right)
        vp.append(muse.mixed_predictions(xv, t, xs, ys, WS))
        tp.append(muse.mixed_predictions(xt, t, xs, ys, WS))

    def da(p):
        return xr.DataArray(np.stack(p), dims=("seed", "w", "sample"), coords={"seed": list(seeds), "w": list(WS)})
    return da(vp), yv, da(tp), yt


@pytest.fixture(scope="module")
def summary():
    vp, yv, tp, yt = _experiment()
    return muse.summarize(vp, yv, tp, yt, [f"c{k}" for k in range(K)], n_boot=200)


def test_w_grid_spans_text_and_image_only():
    assert muse.W_GRID[0] == 0 and muse.W_GRID[-1] == 1 and len(muse.W_GRID) == 101
    assert np.allclose(np.diff(muse.W_GRID), 0.01)


def test_perfect_supports_and_wrong_text_known_by_construction():
    rng = np.random.default_rng(1)
    x, y = _queries(rng)
    supports = np.eye(D)[:K]  # one perfect support per class
    wrong_text = np.roll(np.eye(D)[:K], 1, axis=0)  # class k's text points at class k−1's direction
    pred = muse.mixed_predictions(x, wrong_text, supports, np.arange(K), [0.0, 1.0])
    assert pred.shape == (2, y.size) and pred.dtype == np.int64
    assert (pred[0] == y).mean() == 1.0  # image-only: perfect
    assert (pred[1] == y).mean() == 0.0  # text-only: wrong by construction
    assert np.array_equal(pred[1], (y + 1) % K)  # a class-k image matches class k+1's text


def test_prototype_matches_a_direct_computation():
    text = np.array([[1.0, 0.0], [0.0, 1.0]])
    supports = np.array([[0.0, 2.0], [3.0, 0.0], [0.0, 1.0]])  # class 0: mean of (0,1) and (1,0); class 1: (0,1)
    labels = [0, 0, 1]
    q = np.array([[0.9, 0.3], [0.3, 0.9], [0.2, 1.0], [0.7, 0.65]])
    ws = [0.0, 0.3, 0.5, 1.0]
    got = muse.mixed_predictions(q, text, supports, labels, ws)
    img0 = np.array([0.5, 0.5]) / np.linalg.norm([0.5, 0.5])
    img = np.stack([img0, [0.0, 1.0]])
    for i, w in enumerate(ws):
        protos = _unit(w * text + (1 - w) * img)
        assert np.array_equal(got[i], (_unit(q) @ protos.T).argmax(axis=1)), w
    # by hand at w = 0.5: class 0's prototype is normalise(0.854, 0.354) = (0.924, 0.383), class 1's (0, 1);
    # (0.3, 0.9) has cosine 0.655 with the first and 0.949 with the second
    assert got[2].tolist() == [0, 1, 1, 0]


def test_choose_w_is_the_argmax_and_ties_go_to_text():
    rng = np.random.default_rng(3)
    ws = np.linspace(0, 1, 11)
    c = rng.random((11, 200)) < rng.random((11, 1))
    acc = c.mean(axis=1)
    if np.sum(acc == acc.max()) == 1:
        assert muse.choose_w(c, ws, "accuracy") == ws[acc.argmax()]
    tie = np.zeros((11, 10), bool)
    tie[[2, 5, 7]] = True
    assert muse.choose_w(tie, ws, "accuracy") == pytest.approx(0.7)
    assert muse.choose_w(np.ones((11, 10), bool), ws, "accuracy") == 1.0


def test_choose_w_by_mean_recall_differs_from_accuracy():
    y = np.array([0] * 9 + [1])
    c = np.zeros((2, 10), bool)
    c[0, :9] = True  # w=0: the big class right, the small one wrong: accuracy 0.9, recall 0.5
    c[1, :5] = True
    c[1, 9] = True  # w=1: half of the big class and the small one: accuracy 0.6, recall 0.78
    assert muse.choose_w(c, [0.0, 1.0], "accuracy") == 0.0
    assert muse.choose_w(c, [0.0, 1.0], "mean_recall", targets=y) == 1.0
    with pytest.raises(ValueError, match="targets"):
        muse.choose_w(c, [0.0, 1.0], "mean_recall")
    with pytest.raises(ValueError, match="metric"):
        muse.score_by_w(c, y, "top5")


def test_summary_shapes_and_known_answers(summary):
    ds = summary
    assert set(ds["entry"].values) == set(muse.ENTRIES) and ds.sizes["label"] == K and ds.sizes["w"] == len(WS)
    assert float(ds["curve_accuracy"].sel(w=1.0)) == pytest.approx(float(ds["accuracy"].sel(entry="text")))
    assert float(ds["curve_recall"].sel(w=0.0)) == pytest.approx(float(ds["recall"].sel(entry="image")))
    assert float(ds["accuracy"].sel(entry="image")) > 0.95  # supports separate the classes
    assert float(ds["accuracy"].sel(entry="text")) < 0.6  # text right on half the classes
    assert ((ds["w_heldout"] > 0) & (ds["w_heldout"] < 1)).all()  # a mix beats either alone
    for v in ("accuracy", "recall", "curve_accuracy", "gain_recall", "class_gain", "disparity", "delta_disparity"):
        lo, hi = ds[f"{v}_lower"].values, ds[f"{v}_upper"].values
        assert np.all(lo <= hi + 1e-12), v
    assert float(ds["gain_recall_lower"].sel(entry="heldout")) > 0
    assert float(ds["gain_recall"].sel(entry="text")) == 0
    # the classes text misses gain, those it gets do not: a negative rho between gain and text accuracy
    assert float(ds["rho_gain_difficulty"]) < 0
    assert float(ds["delta_disparity_upper"].sel(entry="heldout", stat="gap")) < 0
    # difficulty from validation: text is right on the first half of the classes there too
    assert list(ds["hard"].values) == [False] * (K // 2) + [True] * (K // 2)
    gg = ds["group_gain"].sel(entry="heldout")
    assert float(gg.sel(group="hard")) > 0.3 and float(ds["delta_easy_hard_upper"].sel(entry="heldout")) < 0
    # by hand: easy − hard of text-only from its per-class accuracies
    ca = ds["class_accuracy"].sel(entry="text").values
    assert float(ds["easy_hard"].sel(entry="text")) == pytest.approx(ca[: K // 2].mean() - ca[K // 2:].mean())
    assert int(ds["class_support"].sum()) == ds.attrs["n_test"] == K * PER_CLASS


def test_inflation_is_zero_on_the_same_data_and_never_negative():
    vp, yv, tp, yt = _experiment(same_val=True)
    ds = muse.summarize(vp, yv, tp, yt, list("abcdefgh"), n_boot=50)
    assert np.array_equal(ds["w_heldout"].values, ds["w_tuned"].values)
    assert float(ds["inflation_recall"]) == pytest.approx(0.0)
    for metric in ("mean_recall", "accuracy"):
        vp, yv, tp, yt = _experiment(seeds=(0, 1, 2, 3))
        ds = muse.summarize(vp, yv, tp, yt, list("abcdefgh"), metric=metric, n_boot=50)
        key = "inflation_recall" if metric == "mean_recall" else "inflation_accuracy"
        assert float(ds[key]) >= -1e-12  # tuned maximises the test metric seed by seed


def test_summarize_refuses_a_sweep_without_text_only():
    vp, yv, tp, yt = _experiment(seeds=(0,))
    with pytest.raises(ValueError, match="include 0"):
        muse.summarize(vp.isel(w=slice(0, -1)), yv, tp.isel(w=slice(0, -1)), yt, list("abcdefgh"), n_boot=20)


def _with(ds, gain, w_seeds, dgap):
    ds = ds.copy(deep=True)
    for suffix, v in zip(("", "_lower", "_upper"), gain):
        ds[f"gain_recall{suffix}"].loc[{"entry": "heldout"}] = v
    ds["w_heldout"].values[:] = w_seeds
    for suffix, v in zip(("", "_lower", "_upper"), dgap):
        ds[f"delta_easy_hard{suffix}"].loc[{"entry": "heldout"}] = v
    return ds


def test_claims_reach_every_verdict(summary):
    ids = ["muse.improves_accuracy", "muse.w_mostly_text", "muse.gain_3pct", "muse.narrows_disparity"]
    c = muse.claims(_with(summary, (0.05, 0.04, 0.06), [0.8, 0.85, 0.9], (-0.2, -0.3, -0.1)))
    assert list(c["claim"].values) == ids
    assert set(c["verdict"].values) == {AGREES}
    c = muse.claims(_with(summary, (-0.02, -0.03, -0.01), [0.1, 0.15, 0.2], (0.2, 0.1, 0.3)))
    assert set(c["verdict"].values) == {DISAGREES}
    c = muse.claims(_with(summary, (0.02, -0.01, 0.05), [0.1, 0.9, 0.5], (0.0, -0.1, 0.1)))
    assert set(c["verdict"].values) == {CANNOT_TELL}
    # a positive gain below 3 points: improves agrees, +3 % disagrees
    c = muse.claims(_with(summary, (0.01, 0.005, 0.015), [0.8, 0.85, 0.9], (-0.2, -0.3, -0.1)))
    assert c["verdict"].sel(claim="muse.improves_accuracy") == AGREES
    assert c["verdict"].sel(claim="muse.gain_3pct") == DISAGREES
    assert float(c["paper_value"].sel(claim="muse.gain_3pct")) == 0.03
    assert "Hickmon" in str(c["paper"].sel(claim="muse.improves_accuracy"))


def test_claims_on_the_synthetic_experiment(summary):
    c = muse.claims(summary)
    assert c["verdict"].sel(claim="muse.improves_accuracy") == AGREES
    assert c["verdict"].sel(claim="muse.narrows_disparity") == AGREES


def test_glue_keys_complete(summary):
    g = muse.glue_values(summary)
    assert all(k.startswith("mu_") for k in g)
    need = {"mu_acc_text", "mu_acc_heldout", "mu_acc_tuned", "mu_recall_text", "mu_recall_heldout",
            "mu_gain_acc_heldout", "mu_gain_acc_heldout_lo", "mu_gain_acc_heldout_hi", "mu_gain_acc_tuned",
            "mu_gain_recall_heldout", "mu_inflation_acc", "mu_inflation_recall", "mu_w_heldout", "mu_w_tuned",
            "mu_gap_text", "mu_gap_heldout", "mu_delta_gap", "mu_delta_gap_lo", "mu_delta_gap_hi",
            "mu_delta_std", "mu_delta_worst_k_mean", "mu_rho", "mu_n_seeds", "mu_n_classes", "mu_metric",
            "mu_delta_easy_hard", "mu_gain_hard", "mu_gain_easy", "mu_n_hard", "mu_n_easy",
            "mu_most_helped", "mu_most_hurt", "mu_n_helped", "mu_n_hurt"}
    assert need <= set(g)
    assert g["mu_n_seeds"] == 3 and g["mu_n_classes"] == K and g["mu_metric"] == "mean_recall"
    assert all(np.isfinite(v) for k, v in g.items() if isinstance(v, float) and not k.startswith("mu_rho"))


def test_module_imports_without_torch():
    import subprocess
    import sys
    code = ("import sys; import fairnotes.analysis.muse as m; import numpy as np; "
            "m.mixed_predictions(np.eye(3), np.eye(3), np.eye(3), [0, 1, 2], [0.0, 1.0]); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
