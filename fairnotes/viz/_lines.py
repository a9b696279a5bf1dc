"""Lines over a quantitative x (epochs, steps), one per group, with tooltips."""
from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd


def lines(df: pd.DataFrame, x: str, y: str, *, color: str, tooltip: Sequence[str] | None = None,
          title: str | None = None, rule: float | None = None, width: int = 480, height: int = 300) -> alt.LayerChart:
    """One line per value of ``color`` through ``(x, y)``, points on top; ``rule`` draws a reference
    level (e.g. 1.0 for "predicted as often as it occurs")."""
    for name in [x, y, color, *(tooltip or [])]:
        if name not in df.columns:
            raise KeyError(f"lines: no column {name!r} in the frame ({list(df.columns)})")
    enc = dict(x=alt.X(f"{x}:Q", title=x), y=alt.Y(f"{y}:Q", title=y, scale=alt.Scale(zero=False)),
               color=alt.Color(f"{color}:N", title=color),
               tooltip=[alt.Tooltip(c) for c in (tooltip or [color, x, y])])
    base = alt.Chart(df, title=title or "").encode(**enc).properties(width=width, height=height)
    layers = [base.mark_line(), base.mark_point(filled=True, size=30)]
    if rule is not None:
        layers.append(alt.Chart(pd.DataFrame({"level": [rule]})).mark_rule(strokeDash=[4, 4], color="gray")
                      .encode(y="level:Q"))
    return alt.layer(*layers)
