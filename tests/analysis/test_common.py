"""Shared analysis helpers; the Spearman and seed intervals' coverage checked by simulation."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from fairnotes.analysis import paper_claim, per_dataset, seed_interval, short_name, spearman_ci, above


def test_per_dataset():
    assert per_dataset({"a": 1}, "a") == 1 and per_dataset({"a": 1}, "b", 7) == 7 and per_dataset(3, "x") == 3


def test_spearman_ci_point_matches_scipy_and_edge_cases():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=10), rng.normal(size=10)
    rho, lo, hi = spearman_ci(x, y)
    assert rho == pytest.approx(stats.spearmanr(x, y).statistic) and lo < rho < hi
    assert all(math.isnan(v) for v in spearman_ci([1, 2, 3], [1, 2, 3]))  # too few points
    assert math.isnan(spearman_ci([1, 1, 1, 1], [1, 2, 3, 4])[0])  # constant input
    with pytest.raises(ValueError, match="length"):
        spearman_ci([1, 2, 3, 4], [1, 2, 3])


@pytest.mark.parametrize("r", [0.0, 0.5])
def test_spearman_ci_coverage_by_simulation(r):
    """10 classes, bivariate normal with Pearson r: the population Spearman is (6/pi) asin(r/2);
    the 95% interval must cover it in about 95% of 2,000 draws (binomial sd 0.5%)."""
    rng = np.random.default_rng(1)
    truth = 6 / np.pi * np.arcsin(r / 2)
    cov = [[1, r], [r, 1]]
    hits = 0
    n_sim = 2000
    for _ in range(n_sim):
        x, y = rng.multivariate_normal([0, 0], cov, size=10).T
        _, lo, hi = spearman_ci(x, y)
        hits += lo <= truth <= hi
    assert 0.93 <= hits / n_sim <= 0.985


def test_seed_interval_matches_t_and_covers():
    m, lo, hi = seed_interval([1.0, 2.0, 3.0])
    assert m == 2.0 and hi - m == pytest.approx(stats.t.ppf(0.975, 2) * 1 / math.sqrt(3))
    assert math.isnan(seed_interval([1.0])[1])
    rng = np.random.default_rng(2)
    cover = np.mean([lo <= 0.7 <= hi for lo, hi in
                     (seed_interval(rng.normal(0.7, 0.05, size=3))[1:] for _ in range(4000))])
    assert 0.935 <= cover <= 0.965


def test_paper_claim_takes_the_papers_words():
    c = paper_claim("cui.balanced_disparity", measure="gap", ours=0.5, lower=0.4, upper=0.6, rule=above(0))
    assert c.paper == "Cui et al. 2024" and c.paper_value == 0.84 and c.verdict == "agrees"
    with pytest.raises(KeyError, match="known:"):
        paper_claim("nope", measure="", ours=0, rule=above(0))


def test_short_name():
    assert short_name("cnn") == "cnn"
    assert short_name("cnn:width=16") == "cnn (width=16)"
    long = short_name("vit:embed_dim=64,depth=4,num_heads=2,patch_size=4")
    assert len(long) <= 24 and long.startswith("vit (embed_dim=64")


def test_profile_params_reads_the_profile_and_names_the_chapters_with_parameters():
    from fairnotes import analysis, runner
    p = analysis.profile_params("prevalence", "tiny")
    assert p.profile == "tiny" and list(p.datasets) == runner.profile_parameters("prevalence", "tiny")["datasets"]
    with pytest.raises(ValueError, match="prevalence, representation"):
        analysis.profile_params("data", "laptop")
