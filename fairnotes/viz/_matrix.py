"""A labelled heatmap of a 2-D DataArray (agreement matrices, confusion matrices)."""
from __future__ import annotations

import altair as alt
import xarray as xr


def heatmap(da: xr.DataArray, *, title: str | None = None, fmt: str = ".2f", domain: tuple | None = None,
            scheme: str = "blues", width: int = 320) -> alt.LayerChart:
    """Cells coloured by value, with the value written in each cell and a tooltip naming both axes.

    ``da`` must be 2-D; its first dim runs down (rows), its second across (columns).
    """
    if da.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D DataArray; got dims {da.dims}")
    rows, cols = da.dims
    value = da.name or "value"
    df = da.rename(value).to_dataframe().reset_index()[[rows, cols, value]]
    df[rows], df[cols] = df[rows].astype(str), df[cols].astype(str)
    order_r, order_c = [str(v) for v in da[rows].values], [str(v) for v in da[cols].values]
    scale = alt.Scale(scheme=scheme, domain=list(domain)) if domain else alt.Scale(scheme=scheme)
    base = alt.Chart(df, title=title or "").encode(
        x=alt.X(f"{cols}:N", sort=order_c, title=None, axis=alt.Axis(labelAngle=-40)),
        y=alt.Y(f"{rows}:N", sort=order_r, title=None),
        tooltip=[alt.Tooltip(f"{rows}:N"), alt.Tooltip(f"{cols}:N"), alt.Tooltip(f"{value}:Q", format=fmt)],
    ).properties(width=width, height=max(120, 28 * len(order_r)))
    cells = base.mark_rect().encode(color=alt.Color(f"{value}:Q", scale=scale, title=value))
    text = base.mark_text(fontSize=11).encode(text=alt.Text(f"{value}:Q", format=fmt))
    return alt.layer(cells, text)


def interval_chart(df, x: str, y: str, lower: str, upper: str, *, color: str | None = None,
                   tooltip: list[str] | None = None, log_x: bool = False, title: str | None = None,
                   width: int = 480) -> alt.LayerChart:
    """Points at ``(x, y)`` with vertical bars from ``lower`` to ``upper`` (e.g. a statistic and its CI)."""
    for col in [x, y, lower, upper, *([color] if color else [])]:
        if col not in df.columns:
            raise KeyError(f"interval_chart: no column {col!r} in the frame; columns: {', '.join(map(str, df.columns))}")
    xs = alt.X(f"{x}:Q", title=x, scale=alt.Scale(type="log") if log_x else alt.Scale(zero=False))
    enc = {"x": xs, "tooltip": [alt.Tooltip(c) for c in (tooltip or [x, y, lower, upper])]}
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=color)
    base = alt.Chart(df, title=title or "").encode(**enc).properties(width=width, height=300)
    bars = base.mark_rule().encode(y=alt.Y(f"{lower}:Q", title=y), y2=f"{upper}:Q")
    points = base.mark_point(filled=True, size=60).encode(y=f"{y}:Q")
    return alt.layer(bars, points)
