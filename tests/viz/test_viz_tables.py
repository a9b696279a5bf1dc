from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from fairnotes.viz import disparity_table


def _disparity(models=None, *, ci=False) -> xr.Dataset:
    shape, dims, coords = ((), (), {}) if models is None else ((len(models),), ("model",), {"model": models})
    vals = {"mean": 0.8123, "best": 0.9714, "worst": 0.5051, "gap": 0.4663, "std": 0.1234, "cv": 0.1519,
            "gini": 0.0712, "worst_k_mean": 0.55, "min_max_ratio": 0.52}
    data = {k: (dims, np.full(shape, v)) for k, v in vals.items()}
    data["best_class"] = (dims, np.full(shape, "Trouser", dtype=object))
    data["worst_class"] = (dims, np.full(shape, "Shirt", dtype=object))
    if ci:
        data["mean_lower"] = (dims, np.full(shape, 0.8012))
        data["mean_upper"] = (dims, np.full(shape, 0.8249))
        data["gap_lower"] = (dims, np.full(shape, np.nan))
        data["gap_upper"] = (dims, np.full(shape, 0.5))
    ds = xr.Dataset(data, coords=coords)
    ds["worst_k_mean"].attrs["k"] = 3
    return ds


def test_scalar_dataset_gives_one_row():
    table = disparity_table(_disparity())
    assert isinstance(table, pd.DataFrame)
    assert list(table.index) == ["all"]
    assert list(table.columns) == [
        "Mean accuracy", "Best-class accuracy", "Worst-class accuracy", "Best class", "Worst class",
        "Gap (best − worst)", "Std. dev.", "Coeff. of variation", "Gini", "Worst-3 mean", "Worst/best ratio"]
    assert table.loc["all", "Mean accuracy"] == 0.812
    assert table.loc["all", "Worst class"] == "Shirt"


def test_one_row_per_model_with_ci_strings():
    table = disparity_table(_disparity(["resnet20", "vit_tiny"], ci=True), digits=2)
    assert list(table.index) == ["resnet20", "vit_tiny"]
    assert table.index.name == "model"
    assert table.loc["vit_tiny", "Mean accuracy"] == "0.81 [0.80, 0.82]"
    assert table.loc["vit_tiny", "Gap (best − worst)"] == "0.47 [n/a, 0.50]"
    assert table.loc["resnet20", "Gini"] == 0.07
    assert not any(c.endswith(("_lower", "_upper")) for c in table.columns)


def test_two_extra_dims_give_a_multiindex():
    ds = xr.concat([_disparity(["a", "b"]), _disparity(["a", "b"])], dim=xr.DataArray([0, 1], dims="seed",
                                                                                      name="seed"))
    table = disparity_table(ds)
    assert table.index.nlevels == 2 and len(table) == 4
