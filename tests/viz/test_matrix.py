from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fairnotes import viz


def test_heatmap_cells_follow_the_array():
    da = xr.DataArray(np.array([[1.0, 0.5], [0.5, 1.0]]), dims=("model", "model_other"),
                      coords={"model": ["a", "b"], "model_other": ["a", "b"]}, name="spearman")
    spec = viz.heatmap(da, title="agreement").to_dict()
    values = spec["datasets"][next(iter(spec["datasets"]))]
    assert len(values) == 4
    assert {(v["model"], v["model_other"], v["spearman"]) for v in values} == {
        ("a", "a", 1.0), ("a", "b", 0.5), ("b", "a", 0.5), ("b", "b", 1.0)}
    with pytest.raises(ValueError, match="2-D"):
        viz.heatmap(da.isel(model=0))


def test_interval_chart_has_bars_and_points():
    df = pd.DataFrame({"params": [1e3, 1e4], "gap": [0.3, 0.2], "lo": [0.25, 0.15], "hi": [0.35, 0.25]})
    spec = viz.interval_chart(df, "params", "gap", "lo", "hi", log_x=True).to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]]
    assert marks == ["rule", "point"]
    with pytest.raises(KeyError, match="nope"):
        viz.interval_chart(df, "params", "nope", "lo", "hi")


def test_lines_one_per_group_with_reference_rule():
    df = pd.DataFrame({"epoch": [1, 2, 1, 2], "bias": [1.2, 1.1, 0.8, 0.9], "class": ["a", "a", "b", "b"]})
    spec = viz.lines(df, "epoch", "bias", color="class", rule=1.0).to_dict()
    assert [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
            for layer in spec["layer"]] == ["line", "point", "rule"]
    with pytest.raises(KeyError, match="nope"):
        viz.lines(df, "epoch", "nope", color="class")


def test_forest_has_bars_points_and_a_zero_rule_per_panel(tmp_path):
    df = pd.DataFrame({"class": ["a", "b", "a", "b"], "remedy": ["m", "m", "n", "n"], "d": [0.1, -0.2, 0.0, 0.05],
                       "lo": [0.05, -0.3, -0.1, -0.02], "hi": [0.15, -0.1, 0.1, 0.1],
                       "verdict": ["helped", "hurt", "unclear", "unclear"]})
    chart = viz.forest(df, "d", "class", "lo", "hi", facet="remedy", color="verdict")
    spec = chart.to_dict()
    layers = spec["spec"]["layer"]
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in layers]
    assert marks == ["rule", "point", "rule"] and spec["facet"]["field"] == "remedy"
    assert layers[2]["encoding"]["x"]["datum"] == 0.0
    png = viz.spec_to_png(spec)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(KeyError, match="nope"):
        viz.forest(df, "d", "nope", "lo", "hi")
