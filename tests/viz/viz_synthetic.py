"""Synthetic results shaped like fairnotes.metrics outputs (per_class_ci, disparity)."""
from __future__ import annotations

import numpy as np
import xarray as xr

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal"]


def make_per_class(models=("resnet20", "vit_tiny"), *, ci=True, seed=0) -> xr.Dataset:
    """A per_class_ci-like Dataset over (model, label); the third class has no test images."""
    rng = np.random.default_rng(seed)
    k = len(CLASS_NAMES)
    support = rng.integers(20, 60, size=k)
    support[2] = 0
    acc = rng.uniform(0.3, 0.95, size=(len(models), k))
    acc[:, 2] = np.nan
    tp = np.nan_to_num(acc * support).round()
    data = {
        "accuracy": (("model", "label"), acc),
        "support": ("label", support),
        "tp": (("model", "label"), tp),
        "fn": (("model", "label"), support - tp),
        "fp": (("model", "label"), rng.integers(0, 10, size=(len(models), k)).astype(float)),
        "predicted": (("model", "label"), rng.integers(10, 70, size=(len(models), k))),
        "precision": (("model", "label"), rng.uniform(0.3, 0.95, size=(len(models), k))),
    }
    if ci:
        data["accuracy_lower"] = (("model", "label"), np.clip(acc - 0.08, 0, 1))
        data["accuracy_upper"] = (("model", "label"), np.clip(acc + 0.08, 0, 1))
    return xr.Dataset(data, coords={"label": np.arange(k), "class_name": ("label", CLASS_NAMES),
                                    "model": list(models)})
