from __future__ import annotations

import altair as alt
import numpy as np
import pytest
from viz_synthetic import CLASS_NAMES, make_per_class

from fairnotes.viz import accuracy_curve, sorted_accuracy_frame


def _dataset_values(spec: dict) -> list[dict]:
    (values,) = spec["datasets"].values()
    return values


def test_single_curve_sorted_worst_to_best_and_names_classes(per_class):
    ds = per_class.sel(model="resnet20")
    chart = accuracy_curve(ds)
    assert isinstance(chart, alt.LayerChart)
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    rows = _dataset_values(spec)
    accs = [r["accuracy"] for r in rows]
    assert accs == sorted(accs)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    # the class with no test images (NaN accuracy) cannot be ranked
    assert {r["class_name"] for r in rows} == set(CLASS_NAMES) - {"Pullover"}
    # oracle: the worst class is argmin of the raw accuracies
    worst = CLASS_NAMES[int(np.nanargmin(ds["accuracy"].values))]
    assert rows[0]["class_name"] == worst


def test_ci_band_and_tooltips(per_class):
    spec = accuracy_curve(per_class.sel(model="vit_tiny"), title="My title").to_dict()
    assert spec["title"] == "My title"
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["area", "line", "point"]
    area, _, point = spec["layer"]
    assert area["encoding"]["y"]["field"] == "accuracy_lower"
    assert area["encoding"]["y2"]["field"] == "accuracy_upper"
    fields = {t["field"] for t in point["encoding"]["tooltip"]}
    assert {"class_name", "accuracy", "accuracy_lower", "accuracy_upper", "support"} <= fields
    assert 500 <= spec["width"] <= 650


def test_no_ci_means_no_band():
    ds = make_per_class(ci=False).sel(model="resnet20")
    spec = accuracy_curve(ds).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "point"]


def test_by_model_sorts_each_curve_on_its_own(per_class):
    frame = sorted_accuracy_frame(per_class, by="model")
    for model, group in frame.groupby("model"):
        assert group["accuracy"].is_monotonic_increasing
        assert list(group["rank"]) == list(range(1, len(group) + 1))
        raw = per_class["accuracy"].sel(model=model).values
        assert np.allclose(sorted(raw[np.isfinite(raw)]), group["accuracy"])
    spec = accuracy_curve(per_class, by="model").to_dict()
    assert spec["layer"][1]["encoding"]["color"]["field"] == "model"


def test_unreduced_extra_dim_is_an_error(per_class):
    with pytest.raises(ValueError, match="model"):
        accuracy_curve(per_class)
    with pytest.raises(ValueError, match="not a dim"):
        accuracy_curve(per_class, by="seed")
