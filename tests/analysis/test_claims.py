"""The shared verdict rules: every rule on cases that must agree, disagree and cannot tell."""
from __future__ import annotations

import math

import pytest

from fairnotes.analysis import AGREES, CANNOT_TELL, DISAGREES, Claim, Rule, above, below, claims_dataset, near, \
    significant, verdict_counts


@pytest.mark.parametrize("lo, hi, expected", [
    (0.1, 0.3, AGREES),          # wholly above
    (-0.3, -0.1, DISAGREES),     # wholly below
    (-0.1, 0.2, CANNOT_TELL),    # straddles
    (0.0, 0.2, CANNOT_TELL),     # a bound on the threshold is not beyond it
    (math.nan, 0.2, CANNOT_TELL),
])
def test_above(lo, hi, expected):
    assert above(0).decide(lo, hi) == expected


@pytest.mark.parametrize("lo, hi, expected", [
    (0.75, 0.9, AGREES), (0.4, 0.65, DISAGREES), (0.6, 0.8, CANNOT_TELL)])
def test_above_threshold(lo, hi, expected):
    assert above(0.7).decide(lo, hi) == expected


@pytest.mark.parametrize("lo, hi, expected", [
    (-0.3, -0.1, AGREES), (0.1, 0.3, DISAGREES), (-0.1, 0.1, CANNOT_TELL), (-0.2, 0.0, CANNOT_TELL)])
def test_below(lo, hi, expected):
    assert below(0).decide(lo, hi) == expected


@pytest.mark.parametrize("lo, hi, expected", [
    (-0.03, 0.04, AGREES),       # inside the band: equivalent
    (-0.05, 0.05, AGREES),       # the band is closed
    (0.06, 0.2, DISAGREES),      # wholly above the band
    (-0.3, -0.06, DISAGREES),    # wholly below the band
    (0.01, 0.03, AGREES),        # significant but negligible: within the band is what "no effect" means
    (-0.02, 0.09, CANNOT_TELL),  # leaves the band on one side only
    (-0.2, 0.2, CANNOT_TELL),    # too wide to tell
])
def test_near(lo, hi, expected):
    assert near(0, margin=0.05).decide(lo, hi) == expected


@pytest.mark.parametrize("p, expected", [(0.001, AGREES), (0.5, CANNOT_TELL), (math.nan, CANNOT_TELL),
                                         (0.01, CANNOT_TELL)])
def test_significant_never_disagrees(p, expected):
    assert significant(0.01).decide(math.nan, math.nan, p) == expected


def test_bad_rules_and_intervals():
    with pytest.raises(ValueError, match="positive margin"):
        near(0, margin=0)
    with pytest.raises(ValueError, match="unknown rule kind"):
        Rule("sideways")
    with pytest.raises(ValueError, match="alpha"):
        significant(1.5)
    with pytest.raises(ValueError, match="lower > upper"):
        above(0).decide(0.3, 0.1)


def test_words_state_the_rule():
    assert above(0.7).words() == ("agrees if the 95% interval lies above 0.7, disagrees if it lies below 0.7, "
                                  "else cannot tell")
    assert "within [-0.05, 0.05]" in near(0, margin=0.05).words()
    assert "p < 0.01" in significant(0.01).words()


def test_claims_dataset_and_counts():
    cs = [Claim("a", "P", "s", "m", 0.2, above(0), lower=0.1, upper=0.3),
          Claim("b", "P", "s", "m", -0.2, above(0), lower=-0.3, upper=-0.1, paper_value=0.84),
          Claim("c", "P", "s", "m", 0.0, above(0), lower=-0.1, upper=0.1)]
    ds = claims_dataset(cs, chapter="toy")
    assert list(ds["verdict"].values) == [AGREES, DISAGREES, CANNOT_TELL]
    assert float(ds["paper_value"].sel(claim="b")) == 0.84 and math.isnan(float(ds["paper_value"].sel(claim="a")))
    assert verdict_counts(ds) == {AGREES: 1, DISAGREES: 1, CANNOT_TELL: 1}
    with pytest.raises(ValueError, match="unique"):
        claims_dataset(cs + cs[:1], chapter="toy")


def test_claims_dataset_round_trips_through_netcdf(tmp_path):
    from fairnotes import results
    ds = claims_dataset([Claim("a", "P", "s", "m", 0.2, near(0, margin=0.5), lower=-0.1, upper=0.3)], chapter="t")
    back = results.load(results.save(ds, tmp_path / "c.nc"))
    assert str(back["verdict"].values[0]) == AGREES and str(back["chapter"].values[0]) == "t"
