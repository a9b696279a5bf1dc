"""A forest plot: one estimate with its interval per row, in panels, with a line at zero."""
from __future__ import annotations

from typing import Sequence

import altair as alt
import pandas as pd


def forest(df: pd.DataFrame, x: str, y: str, lower: str, upper: str, *, facet: str | None = None,
           color: str | None = None, tooltip: Sequence[str] | None = None, columns: int = 3,
           title: str | None = None, width: int = 180, zero: float = 0.0) -> alt.TopLevelMixin:
    """Points at ``x`` with bars from ``lower`` to ``upper``, one row per ``y`` value (in the frame's order).

    ``facet`` draws one panel per value (wrapping after ``columns``); ``color`` colours the marks
    (e.g. "hurt" / "helped" / "unclear"); a rule marks ``x = zero``. Typical use: paired deltas
    with their confidence intervals, one row per class, one panel per remedy.
    """
    cols = [x, y, lower, upper, *([facet] if facet else []), *([color] if color else [])]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"forest: no column {missing[0]!r} in the frame; columns: {', '.join(map(str, df.columns))}")
    order = list(dict.fromkeys(df[y].astype(str)))
    enc = {"y": alt.Y(f"{y}:N", sort=order, title=None),
           "tooltip": [alt.Tooltip(c) for c in (tooltip or cols)]}
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=color)
    base = alt.Chart(df).encode(**enc)
    bars = base.mark_rule().encode(x=alt.X(f"{lower}:Q", title=x), x2=f"{upper}:Q")
    points = base.mark_point(filled=True, size=45).encode(x=f"{x}:Q")
    rule = alt.Chart().mark_rule(strokeDash=[4, 3], color="grey").encode(x=alt.datum(zero))
    layer = alt.layer(bars, points, rule, data=df).properties(width=width, height=max(60, 16 * len(order)))
    if facet:
        layer = layer.facet(facet=alt.Facet(f"{facet}:N", sort=list(dict.fromkeys(df[facet].astype(str))),
                                            title=None), columns=columns)
    return layer.properties(title=title or "")
