"""Model Prediction Bias, from the train job's tracking (``TrainConfig(track=True)``).

Torch-free. Works on runs of one data set and model that differ only in their seed. Following
*Classes Are Not Equal*, the prediction bias of class c over an interval of training is the number of
training samples predicted as c divided by the number of samples of c: above 1, the class attracts
predictions from other classes (false positives).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import xarray as xr

from .metrics import difficulty_groups

__all__ = ["stack_seeds", "by_class"]

_TRACKED = ("track_predicted", "track_support", "track_tp", "track_fp", "track_fn", "track_gp", "track_gn",
            "track_grad_pos", "track_grad_neg", "step_predicted", "step_support", "step_fp",
            "feature_variance", "nearest_mean_distance", "accuracy", "prediction", "target")


def stack_seeds(runs: Sequence[xr.Dataset], seeds: Sequence[int]) -> xr.Dataset:
    """Concatenate tracked runs along a new ``seed`` dim (keeping the tracking and final variables)."""
    missing = [v for v in ("track_predicted", "track_support") if v not in runs[0]]
    if missing:
        raise ValueError(f"runs lack {', '.join(missing)}: train them with TrainConfig(track=True)")
    keep = [v for v in _TRACKED if v in runs[0]]
    out = xr.concat([r[keep] for r in runs], dim=xr.DataArray(list(seeds), dims="seed", name="seed"),
                    coords="minimal", compat="override", join="override")
    out["target"] = runs[0]["target"]
    return out


def by_class(stacked: xr.Dataset) -> xr.Dataset:
    """Per class (mean over seeds): prediction bias per epoch and per early step, Gn/Gp, the share of the
    classifier gradient that comes from negatives, final test accuracy and difficulty group.

    Variables: ``bias`` (epoch × label), ``step_bias`` (step × label, when tracked),
    ``gn_over_gp`` (epoch × label), ``grad_neg_share`` = ‖G_neg‖ / (‖G_neg‖ + ‖G_pos‖) (epoch × label),
    ``accuracy`` (label), ``difficulty`` (label: hard / medium / easy by the seed-mean accuracy,
    :func:`fairnotes.metrics.difficulty_groups`), and per-seed ``bias_by_seed``.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        bias = stacked["track_predicted"] / stacked["track_support"]
        out = xr.Dataset({
            "bias_by_seed": bias,
            "bias": bias.mean("seed"),
            "gn_over_gp": (stacked["track_gn"] / stacked["track_gp"]).mean("seed"),
            "grad_neg_share": (stacked["track_grad_neg"] /
                               (stacked["track_grad_neg"] + stacked["track_grad_pos"])).mean("seed"),
            "accuracy": stacked["accuracy"].mean("seed"),
        })
        if "step_predicted" in stacked:
            out["step_bias"] = (stacked["step_predicted"] / stacked["step_support"]).mean("seed")
    for v in ("feature_variance", "nearest_mean_distance"):
        if v in stacked:
            out[v] = stacked[v].mean("seed")
    out["difficulty"] = difficulty_groups(out["accuracy"])
    out["bias"].attrs["description"] = "training samples predicted as the class / samples of the class"
    out["grad_neg_share"].attrs["description"] = "||G_neg|| / (||G_neg|| + ||G_pos||) of the classifier row"
    return out
