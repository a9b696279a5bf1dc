"""Charts of a dataset itself: sample thumbnails per class and the number of images per class."""
from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

MAX_THUMB = 64  # px; keeps a 10-class × 8-image grid spec around 100 kB


def _to_pil(image: np.ndarray):
    """C×H×W (C = 1, 3, 4) or H×W uint8 → PIL image."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(f"sample_grid wants uint8 images, got {arr.dtype}")
    if arr.ndim == 2:
        return Image.fromarray(arr)
    if arr.ndim != 3 or arr.shape[0] not in (1, 3, 4):
        raise ValueError(f"sample_grid wants N×C×H×W images with C in (1, 3, 4), got an image of "
                         f"shape {arr.shape}")
    if arr.shape[0] == 1:
        return Image.fromarray(np.ascontiguousarray(arr[0]))
    return Image.fromarray(np.ascontiguousarray(arr.transpose(1, 2, 0)))  # RGB or RGBA


def thumbnail_url(image: np.ndarray, size: int) -> str:
    """A ``data:image/png;base64,...`` URL of ``image`` resized so its longer side is ``size`` px.

    Upscaling uses nearest-neighbour (keeps 28-px digits crisp), downscaling Lanczos.
    """
    from PIL import Image

    pil = _to_pil(image)
    w, h = pil.size
    factor = size / max(w, h)
    new = (max(1, round(w * factor)), max(1, round(h * factor)))
    if new != (w, h):
        pil = pil.resize(new, Image.NEAREST if factor > 1 else Image.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def sample_grid(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *,
                per_class: int = 8, seed: int = 0, scale: float = 2,
                title: str | None = None) -> alt.Chart:
    """A grid of sample thumbnails: one row per class (labelled with its name), ``per_class`` columns.

    Parameters
    ----------
    images
        uint8 array N×C×H×W with C in (1, 3, 4) (N×H×W is read as greyscale).
    labels
        Integer class per image, indexing ``class_names``.
    class_names
        Names in label order; rows follow this order. Classes with no image get no row.
    per_class
        Images drawn per class (all of them when a class has fewer), without replacement.
    seed
        Seed of the draw, so the grid is reproducible.
    scale
        Display size as a multiple of the image size, capped at 64 px; images are encoded at that size
        as PNG data URLs inside the spec, so the chart needs no network and no files.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim == 3:
        images = images[:, None]
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    size = int(min(MAX_THUMB, round(max(images.shape[-2:]) * scale)))
    rng = np.random.default_rng(seed)
    rows = []
    for k, name in enumerate(class_names):
        idx = np.flatnonzero(labels == k)
        if len(idx) == 0:
            continue
        pick = np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
        for col, i in enumerate(pick):
            rows.append({"class_name": str(name), "label": k, "column": col, "index": int(i),
                         "url": thumbnail_url(images[i], size)})
    frame = pd.DataFrame(rows, columns=["class_name", "label", "column", "index", "url"])
    order = [str(n) for n in class_names if str(n) in set(frame["class_name"])]
    step = size + 4
    return alt.Chart(frame).mark_image(width=size, height=size).encode(
        x=alt.X("column:O", axis=None),
        y=alt.Y("class_name:N", sort=order, title=None,
                axis=alt.Axis(ticks=False, domain=False, labelFontSize=12, labelPadding=6)),
        url="url:N",
        tooltip=[alt.Tooltip("class_name:N", title="Class"), alt.Tooltip("label:Q", title="Label"),
                 alt.Tooltip("index:Q", title="Image index")],
    ).properties(
        width=alt.Step(step), height=alt.Step(step),
        title=title or f"{per_class} random images per class (seed {seed})",
        view=alt.ViewBackground(stroke=None),
    )


def class_balance(labels: np.ndarray, class_names: Sequence[str], *, sort: str = "label",
                  title: str | None = None, width: int = 500) -> alt.Chart:
    """Horizontal bars: images per class, with count and share in the tooltip.

    ``sort="label"`` keeps the label order; ``"count"`` puts the largest class first.
    """
    labels = np.asarray(labels).astype(int).ravel()
    counts = np.bincount(labels, minlength=len(class_names))[: len(class_names)]
    total = max(int(counts.sum()), 1)
    frame = pd.DataFrame({"class_name": [str(n) for n in class_names], "label": np.arange(len(counts)),
                          "count": counts, "share": counts / total})
    if sort == "count":
        order = list(frame.sort_values(["count", "label"], ascending=[False, True])["class_name"])
    elif sort == "label":
        order = list(frame["class_name"])
    else:
        raise ValueError(f"sort must be 'label' or 'count', got {sort!r}")
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("count:Q", title="Images"),
        y=alt.Y("class_name:N", sort=order, title=None),
        tooltip=[alt.Tooltip("class_name:N", title="Class"), alt.Tooltip("label:Q", title="Label"),
                 alt.Tooltip("count:Q", title="Images", format=","),
                 alt.Tooltip("share:Q", title="Share", format=".1%")],
    ).properties(width=width, height=alt.Step(18),
                 title=title or f"Images per class (n = {int(counts.sum()):,})")
