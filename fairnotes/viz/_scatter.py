"""A small generic scatter plot for data frames (model × metric comparisons and the like)."""
from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd


def _field(name: str) -> str:
    """Escape the characters Vega-Lite reads as nested access in a field name."""
    return name.replace("\\", "\\\\").replace(".", "\\.").replace("[", "\\[").replace("]", "\\]")


def _channel(cls, df: pd.DataFrame, name: str, **kwargs):
    kind = "quantitative" if pd.api.types.is_numeric_dtype(df[name]) else "nominal"
    return cls(field=_field(name), type=kind, title=kwargs.pop("title", name), **kwargs)


def scatter(df: pd.DataFrame, x: str, y: str, *, label: str | None = None, color: str | None = None,
            tooltip: Sequence[str] | None = None, title: str | None = None,
            width: int = 480, height: int = 320) -> alt.Chart:
    """Points of ``df[y]`` against ``df[x]``; ``label`` names each point in the tooltip.

    Column names are used as given (no Altair shorthand parsing, so ``"acc:top1"`` is a plain name);
    types are inferred from dtypes: numeric → quantitative, anything else → nominal.
    ``tooltip`` defaults to ``label``, ``x``, ``y`` and ``color``.
    """
    for name in [x, y, label, color, *(tooltip or [])]:
        if name is not None and name not in df.columns:
            raise KeyError(f"scatter: no column {name!r} in the frame ({list(df.columns)})")
    names = list(tooltip) if tooltip is not None else [c for c in (label, x, y, color) if c]
    encoding = {
        "x": _channel(alt.X, df, x, scale=alt.Scale(zero=False, padding=12)),
        "y": _channel(alt.Y, df, y, scale=alt.Scale(zero=False, padding=12)),
        "tooltip": [_channel(alt.Tooltip, df, n) for n in dict.fromkeys(names)],
    }
    if color is not None:
        encoding["color"] = _channel(alt.Color, df, color)
    chart = alt.Chart(df).mark_circle(size=70, opacity=0.85).encode(**encoding)
    return chart.properties(width=width, height=height, title=title or f"{y} against {x}")
