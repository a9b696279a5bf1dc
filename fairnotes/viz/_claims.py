"""The claims table that ends every chapter ("What we found beside the paper") and the scoreboard."""
from __future__ import annotations

import math

import pandas as pd
import xarray as xr

__all__ = ["claims_table"]


def _fmt(v: float, lo: float, hi: float, p: float, digits: int) -> str:
    if not math.isfinite(v):
        return "–"
    f = f"{{:.{digits}f}}"
    text = f.format(v)
    if math.isfinite(lo) and math.isfinite(hi):
        text += f" [{f.format(lo)}, {f.format(hi)}]"
    if math.isfinite(p):
        text += f" (p = {p:.2g})"
    return text


def claims_table(claims: xr.Dataset, *, digits: int = 3, chapter: bool = False, rule: bool = True,
                 link: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per claim: the paper's claim and figure (labelled as the paper's), ours with its interval,
    the rule and the verdict.

    ``chapter=True`` adds the chapter column (the scoreboard); ``link`` maps a chapter to the URL of its
    page, used to turn the section name into a Markdown link.
    """
    rows = []
    for i in range(claims.sizes["claim"]):
        c = claims.isel(claim=i)
        get = lambda name: str(c[name].values)  # noqa: E731
        num = lambda name: float(c[name].values)  # noqa: E731
        paper_fig = get("paper_figure") or "(stated in words)"
        row = {}
        if chapter:
            ch = get("chapter")
            row["chapter"] = f"[{ch}]({link[ch]})" if link and ch in link else ch
        row |= {"paper": get("paper"), "claim": get("statement"), "the paper's figure": paper_fig,
                "our measure": get("measure"),
                "ours [95% CI]": _fmt(num("ours"), num("lower"), num("upper"), num("p_value"), digits)}
        if rule:
            row["rule"] = get("rule")
        row["verdict"] = get("verdict")
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index([str(v) for v in claims["claim"].values], name="claim"))
