"""The sorted per-class accuracy curve: the picture behind every disparity number."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import xarray as xr

WIDTH = 540  # plus ~55 px of axis: fits Jupyter Book's content column (~610 px at a 1200 px window)
HEIGHT = 300


def _class_names(ds: xr.Dataset) -> np.ndarray:
    if "class_name" in ds.coords:
        return np.asarray(ds["class_name"].values).astype(str)
    return np.asarray(ds["label"].values).astype(str)


def sorted_accuracy_frame(ds: xr.Dataset, *, by: str | None = None) -> pd.DataFrame:
    """Long table behind :func:`accuracy_curve`: one row per (``by`` value, class), ranked worst → best.

    Classes whose accuracy is NaN (no test images) cannot be ranked and are left out.
    Ties are broken by class name, so the order is reproducible.
    """
    if "accuracy" not in ds:
        raise ValueError("accuracy_curve needs a Dataset with an `accuracy` variable over dim `label`")
    if by is not None and by not in ds["accuracy"].dims:
        raise ValueError(f"by={by!r} is not a dim of `accuracy` (dims: {ds['accuracy'].dims})")
    extra = [d for d in ds["accuracy"].dims if d not in ("label", by)]
    if extra:
        raise ValueError(
            f"accuracy_curve: `accuracy` has dims {extra} besides `label`"
            + (f" and by={by!r}" if by else "")
            + "; reduce them first (e.g. ds.mean('seed')) or pass one as `by`")

    names = _class_names(ds)
    labels = np.asarray(ds["label"].values)
    groups = list(ds[by].values) if by is not None else [None]
    cols = [v for v in ("accuracy", "accuracy_lower", "accuracy_upper", "support") if v in ds]
    frames = []
    for g in groups:
        sub = ds.sel({by: g}) if by is not None else ds
        frame = pd.DataFrame({"label": labels, "class_name": names})
        for v in cols:
            values = sub[v]
            if not set(values.dims) <= {"label"}:
                continue  # e.g. support kept per seed while accuracy was averaged: leave it out
            frame[v] = np.broadcast_to(np.asarray(values.values, dtype=float), labels.shape)
        frame = frame[np.isfinite(frame["accuracy"])]
        frame = frame.sort_values(["accuracy", "class_name"], kind="mergesort").reset_index(drop=True)
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        if by is not None:
            frame.insert(0, by, str(g))
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    if "support" in out:
        out["support"] = out["support"].astype("int64")
    return out


def accuracy_curve(ds: xr.Dataset, *, by: str | None = None, title: str | None = None,
                   width: int = WIDTH, height: int = HEIGHT) -> alt.LayerChart:
    """Per-class accuracy sorted from the worst class to the best, with its CI band when present.

    Parameters
    ----------
    ds
        Per-class results (``fairnotes.metrics.per_class_ci``): dim ``label``, coord ``class_name``,
        variable ``accuracy`` and optionally ``accuracy_lower``/``accuracy_upper`` and ``support``.
    by
        An extra dim of ``accuracy`` (``"model"``, ``"remedy"``...): one coloured curve per value, each
        sorted on its own. Any other extra dim must be reduced first.
    title
        Chart title; a plain default otherwise.

    Examples
    --------
    >>> accuracy_curve(per_class_ci(y_true, y_pred, class_names=names))  # doctest: +SKIP
    >>> accuracy_curve(ds.mean("seed"), by="model")                        # doctest: +SKIP
    """
    frame = sorted_accuracy_frame(ds, by=by)
    has_ci = {"accuracy_lower", "accuracy_upper"} <= set(frame.columns)
    n_classes = int(frame["rank"].max()) if len(frame) else 0

    tooltip = [alt.Tooltip("class_name:N", title="Class")]
    if by is not None:
        tooltip.append(alt.Tooltip(f"{by}:N", title=by.replace("_", " ").capitalize()))
    tooltip += [alt.Tooltip("accuracy:Q", title="Accuracy", format=".1%")]
    if has_ci:
        tooltip += [alt.Tooltip("accuracy_lower:Q", title="CI lower", format=".1%"),
                    alt.Tooltip("accuracy_upper:Q", title="CI upper", format=".1%")]
    if "support" in frame:
        tooltip.append(alt.Tooltip("support:Q", title="Test images"))
    tooltip.append(alt.Tooltip("rank:Q", title="Rank (1 = worst)"))

    x = alt.X("rank:Q", title="Class rank (worst → best)",
              scale=alt.Scale(domain=[1, max(n_classes, 2)], nice=False),
              axis=alt.Axis(tickMinStep=1, format="d"))
    y = alt.Y("accuracy:Q", title="Per-class accuracy", scale=alt.Scale(domain=[0, 1]),
              axis=alt.Axis(format=".0%"))
    # legend below the plot, so a coloured chart is no wider than a plain one
    color = (alt.Color(f"{by}:N", title=by.replace("_", " ").capitalize(),
                       legend=alt.Legend(orient="bottom", direction="horizontal"))
             if by is not None else alt.value("#4c78a8"))

    base = alt.Chart(frame)
    layers = []
    if has_ci:
        layers.append(base.mark_area(opacity=0.2).encode(
            x=x, y=alt.Y("accuracy_lower:Q", title="Per-class accuracy"), y2="accuracy_upper:Q",
            color=color, tooltip=tooltip))
    layers.append(base.mark_line(strokeWidth=2).encode(x=x, y=y, color=color))
    point_size = 40 if n_classes <= 50 else 12
    layers.append(base.mark_point(filled=True, size=point_size).encode(
        x=x, y=y, color=color, tooltip=tooltip))

    default = "Per-class accuracy, classes sorted from worst to best"
    if has_ci:
        default += " (band: confidence interval)"
    return alt.layer(*layers).properties(width=width, height=height, title=title or default)
