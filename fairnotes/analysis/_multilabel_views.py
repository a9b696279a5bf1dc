"""The multi-label chapter's tables and chart frames: formatting of :func:`fairnotes.analysis.multilabel.run`'s
Dataset, nothing computed that it does not hold."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["profile_text", "ap_table", "group_table", "gap_frame", "cam_table", "cam_grid"]

SHORT = {"multilabel-softmax": "softmax", "bce": "BCE"}


def _ci(v: float, lo: float, hi: float) -> str:
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def profile_text(ds: xr.Dataset) -> str:
    a = ds.attrs
    if a.get("dataset") != "emoji-scenes":
        return (f"**Profile `{a.get('profile', '')}`.** {a.get('dataset', '')}: {int(a.get('n_train', 0)):,} training "
                f"and {int(a.get('n_val', 0)):,} validation images; evaluated on {a.get('eval_dataset', '')} "
                f"({int(a.get('n_test', 0)):,} images, groups by {a.get('group_attr', '')}); {int(a.get('n_labels', 0))} "
                f"labels. Frozen {a.get('backbone', '')} features at {a.get('image_size', '')} px; a linear head per "
                f"loss and seed ({int(a.get('n_seeds', 0))} seeds). Intervals: 95 %, resampling test images and "
                f"seeds ({int(a.get('n_boot', 0))} replicates), paired between losses.")
    return (f"**Profile `{a.get('profile', '')}`.** A controlled analog: {a.get('dataset', '')} — "
            f"{int(a.get('n_train', 0)):,} web-skewed training scenes and {int(a.get('n_val', 0)):,} validation scenes "
            f"in {', '.join(a.get('train_styles', []))} style, {int(a.get('n_test', 0)):,} balanced test scenes in "
            f"{', '.join(a.get('test_styles', []))} style; {int(a.get('n_labels', 0))} labels. Frozen "
            f"{a.get('backbone', '')} features at {a.get('image_size', '')} px; a linear head per loss and seed "
            f"({int(a.get('n_seeds', 0))} seeds, the same initial weights and batches for both losses). Intervals: "
            f"95 %, resampling test scenes and seeds ({int(a.get('n_boot', 0))} replicates), paired between losses.")


def ap_table(ds: xr.Dataset) -> pd.DataFrame:
    """Average precision per label and loss (mean over seeds), and the difference."""
    ap = ds["ap"].mean("seed")
    t = pd.DataFrame({SHORT[str(l)]: ap.sel(loss=l).values for l in ds["loss"].values},
                     index=pd.Index([str(n) for n in ds["label_name"].values], name="label"))
    t["BCE − softmax"] = t["BCE"] - t["softmax"]
    return t.round(3)


def group_table(ds: xr.Dataset, attr: str) -> pd.DataFrame:
    """Per event and group of ``attr``: scenes and the rate under each loss with its 95 % CI."""
    from .multilabel import EVENTS
    rows = []
    for ev in EVENTS:
        var = f"{ev}_by_{attr}"
        if var not in ds:
            continue
        dim = f"{attr}_{ev}"
        for g in ds[dim].values:
            row = {"event": ev, attr: str(g), "scenes": int(ds[f"{var}_count"].sel({dim: g}))}
            for loss in ds["loss"].values:
                sel = {dim: g, "loss": loss}
                row[SHORT[str(loss)]] = _ci(*(float(ds[f"{var}{x}"].sel(sel)) for x in ("", "_lower", "_upper")))
            rows.append(row)
    return pd.DataFrame(rows).set_index(["event", attr]) if rows else pd.DataFrame()


def gap_frame(ds: xr.Dataset, attr: str | None = None) -> pd.DataFrame:
    """Per event: the change in the largest between-group difference (default: the first group attribute), BCE
    minus softmax, with its CI."""
    from .multilabel import EVENTS
    attr = attr or ds.attrs.get("group_attr", "skin_tone")
    rows = []
    for ev in EVENTS:
        var = f"{ev}_delta_gap_{attr}"
        if var in ds:
            rows.append({"event": ev, "BCE − softmax": float(ds[var]), "lower": float(ds[f"{var}_lower"]),
                         "upper": float(ds[f"{var}_upper"])})
    return pd.DataFrame(rows)


def cam_table(ds: xr.Dataset) -> pd.DataFrame:
    """Mean share of the Grad-CAM mass inside the person's box, per skin tone, label and loss."""
    if "cam_share" not in ds:
        return pd.DataFrame()
    rows = []
    tones = ds["cam_tone"].values.astype(str)
    for t in sorted(set(tones)):
        row: dict[str, Any] = {"skin tone": t, "scenes": int((tones == t).sum()),
                               "box covers": round(float(ds["cam_box_share"].values[tones == t].mean()), 2)}
        for lab in ds["cam_label"].values:
            for loss in ds["loss"].values:
                v = ds["cam_share"].sel(loss=loss, cam_label=lab).values[tones == t]
                row[f"{lab}, {SHORT[str(loss)]}"] = round(float(np.nanmean(v)), 2)
        rows.append(row)
    return pd.DataFrame(rows).set_index("skin tone")


def cam_grid(ds: xr.Dataset) -> Any:
    """The Grad-CAM maps over their scenes (one scene per skin tone), a row per loss and label, as a
    :func:`fairnotes.viz.sample_grid` of overlays (red = where the map is high); ``None`` without maps."""
    from .. import data, viz
    if "cam_maps" not in ds or "cam_example_index" not in ds:
        return None
    te = data.load(str(ds.attrs.get("eval_dataset", "emoji-scenes")), "test")
    scenes = np.stack([np.asarray(te.images[int(i)]) for i in ds["cam_example_index"].values]).astype(float)
    imgs, labels, names = [], [], []
    for lab in ds["cam_label"].values:
        for loss in ds["loss"].values:
            m = ds["cam_maps"].sel(loss=loss, cam_label=lab).values  # (examples, y, x) in [0, 1]
            a = 0.6 * np.clip(m, 0, 1)[:, None]  # blend toward red where the map is high
            over = scenes * (1 - a) + a * np.array([255.0, 0.0, 0.0])[None, :, None, None]
            names.append(f"{lab} · {SHORT[str(loss)]}")
            imgs.append(np.clip(over, 0, 255).astype(np.uint8))
            labels.append(np.full(len(m), len(names) - 1))
    return viz.sample_grid(np.concatenate(imgs), np.concatenate(labels), names, per_class=scenes.shape[0], scale=1,
                           title="Grad-CAM over one test scene per skin tone (red: high)")
