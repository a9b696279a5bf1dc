"""The multi-label chapter's per-scene events by hand, its claims' rules, and bad input (the chapter runs end to
end on real emoji scenes in the tiny profile of tests/test_book.py)."""
from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fairnotes.analysis import AGREES, CANNOT_TELL, DISAGREES, ParamError
from fairnotes.analysis import multilabel as ml


def _scenes():
    names = ["person", "man", "woman", "mechanic", "teacher", "cook"]
    attrs = pd.DataFrame({"profession": ["mechanic", "mechanic", "teacher", "cook", "teacher"],
                          "gender": ["woman", "man", "man", "person", "woman"],
                          "skin_tone": ["none", "6", "1-2", "3", "5"]})
    return types.SimpleNamespace(meta={"label_names": names}, attributes=attrs)


def test_events_by_hand():
    te = _scenes()
    #                 person man woman mech teach cook
    pred = np.array([[1, 1, 0, 0, 0, 0],   # woman mechanic: labelled man (wrong gender, stereotype), profession missed
                     [1, 1, 0, 1, 0, 0],   # man mechanic: right
                     [0, 0, 1, 0, 1, 0],   # man teacher: person missed, labelled woman (wrong, stereotype)
                     [1, 0, 0, 0, 0, 1],   # person cook: not gendered
                     [1, 0, 1, 0, 0, 0]])  # woman teacher: profession missed; stereotypical, so not counted
    ev = ml.events(te, pred)
    np.testing.assert_array_equal(ev["person"][1], [True, True, False, True, True])
    np.testing.assert_array_equal(ev["profession"][1], [False, True, True, True, False])
    np.testing.assert_array_equal(ev["wrong_gender"][0], [True, True, True, False, True])
    np.testing.assert_array_equal(ev["wrong_gender"][1], [True, False, True, False, False])
    # counter-stereotypical: a woman mechanic and a man teacher (mechanic → man, teacher → woman)
    np.testing.assert_array_equal(ev["stereotype"][0], [True, False, True, False, False])
    np.testing.assert_array_equal(ev["stereotype"][1], [True, False, True, False, False])


def _result(dmap, dgap):
    ds = xr.Dataset()
    for name, (v, lo, hi) in [("delta_map", dmap)] + [(f"{ev}_delta_gap_skin_tone", dgap)
                                                      for ev in ("person", "profession", "wrong_gender")]:
        ds[name], ds[f"{name}_lower"], ds[f"{name}_upper"] = v, lo, hi
    return ds


def test_claims_reach_every_verdict():
    c = ml.claims(_result((0.002, -0.004, 0.008), (-0.05, -0.08, -0.02)))
    assert c["verdict"].sel(claim="ml.same_map") == AGREES
    assert c["verdict"].sel(claim="ml.bce_narrows_person_gap") == AGREES
    c = ml.claims(_result((0.05, 0.04, 0.06), (0.05, 0.02, 0.08)))
    assert c["verdict"].sel(claim="ml.same_map") == DISAGREES
    assert c["verdict"].sel(claim="ml.bce_narrows_profession_gap") == DISAGREES
    c = ml.claims(_result((0.01, -0.01, 0.03), (0.0, -0.03, 0.03)))
    assert set(c["verdict"].values) == {CANNOT_TELL}


def test_bad_parameters():
    with pytest.raises(ParamError, match="epochs"):
        ml.Params(epochs=0)
    with pytest.raises(ParamError, match="seeds is empty"):
        ml.Params(seeds=())
