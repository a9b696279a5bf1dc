"""Data cards: size, shape, balance, source and licence of registered data sets, as one Dataset."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr


def cards(names: list[str] | tuple[str, ...], *, download: bool = False) -> xr.Dataset:
    """One row (dim ``dataset``) per data set: image counts per split, shape, classes, balance, provenance.

    ``imbalance`` is the largest training-class count divided by the smallest (1.0 = perfectly balanced).
    """
    from . import info, load
    rows = []
    for name in names:
        entry = info(name)
        splits = {s: load(name, s, download=download) for s in entry.splits}
        train = splits.get("train") or next(iter(splits.values()))
        counts = train.counts()
        c, h, w = train.shape
        rows.append({
            "dataset": name,
            "profile": entry.profile,
            "n_train": len(splits["train"]) if "train" in splits else 0,
            "n_test": sum(len(v) for k, v in splits.items() if k != "train"),
            "n_classes": train.num_classes,
            "channels": c, "height": h, "width": w,
            "min_class_count": int(counts.min()), "max_class_count": int(counts.max()),
            "imbalance": float(counts.max() / max(counts.min(), 1)),
            "classes": ", ".join(train.class_names),
            "source": train.source, "license": train.license,
        })
    df = pd.DataFrame(rows).set_index("dataset")
    ds = xr.Dataset.from_dataframe(df)
    ds["n_images"] = ds["n_train"] + ds["n_test"]
    ds["imbalance"].attrs["description"] = "largest / smallest training-class count"
    return ds


def cards_table(ds: xr.Dataset) -> pd.DataFrame:
    """A display table of :func:`cards`."""
    df = ds.to_dataframe()
    out = pd.DataFrame({
        "train / test": [f"{a:,} / {b:,}" for a, b in zip(df.n_train, df.n_test)],
        "classes": df.n_classes,
        "image": [f"{c}×{h}×{w}" for c, h, w in zip(df.channels, df.height, df.width)],
        "per class (train)": [f"{a:,}" if a == b else f"{a:,}–{b:,}" for a, b in zip(df.min_class_count,
                                                                                  df.max_class_count)],
        "imbalance": np.round(df.imbalance, 3),
        "licence": df.license,
    }, index=df.index)
    out.index.name = "data set"
    return out
