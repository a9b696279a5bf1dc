"""The scoreboard: every claim of every chapter in one table, read from the chapters' saved claims.

Each chapter's book run saves ``papermill_runs/<chapter>/<run>/claims.nc``
(:func:`fairnotes.analysis.save_chapter`); :func:`collect` stacks them in book order, so a re-run of
any chapter updates the scoreboard the next time it runs.
"""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import xarray as xr

from ._claims import VERDICTS

__all__ = ["collect", "counts", "table_html", "section_anchor"]


def collect(root: str | Path | None = None, *, run: str = "laptop") -> xr.Dataset:
    """The claims of every chapter (book order) that has a saved ``claims.nc`` for ``run``.

    Claim ids are prefixed with the chapter (``prevalence/cui.balanced_disparity``) so they stay unique.
    Raises ``FileNotFoundError`` naming the expected files when no chapter has saved claims.
    """
    from .. import results
    from .._paths import repo_root
    from ..runner import chapters

    root = Path(root or repo_root())
    parts, looked = [], []
    for ch in chapters(root):
        path = root / "papermill_runs" / ch / run / "claims.nc"
        looked.append(str(path.relative_to(root)))
        if path.exists():
            c = results.load(path)
            c = c.assign_coords(claim=[f"{ch}/{i}" for i in c["claim"].values])
            c["chapter"] = ("claim", [ch] * c.sizes["claim"])
            parts.append(c.drop_attrs() if hasattr(c, "drop_attrs") else c.assign_attrs({}))
    if not parts:
        raise FileNotFoundError(f"no chapter has saved claims; looked for {', '.join(looked)}")
    return xr.concat(parts, dim="claim", data_vars="all", coords="minimal", compat="override")


def counts(claims: xr.Dataset) -> pd.DataFrame:
    """Claims per verdict, per chapter and in total (every verdict a column, zeros included)."""
    df = pd.DataFrame({"chapter": [str(c) for c in claims["chapter"].values],
                       "verdict": [str(v) for v in claims["verdict"].values]})
    table = pd.crosstab(df["chapter"], df["verdict"]).reindex(columns=list(VERDICTS), fill_value=0)
    order = list(dict.fromkeys(df["chapter"]))
    table = table.reindex(order)
    table.loc["all chapters"] = table.sum()
    table["claims"] = table.sum(axis=1)
    return table


def section_anchor(title: str) -> str:
    """The HTML id Sphinx gives a section titled ``title`` (docutils' ``make_id``)."""
    from docutils.nodes import make_id
    return make_id(title)


def table_html(claims: xr.Dataset, *, digits: int = 3) -> str:
    """The scoreboard as an HTML table; each chapter links to the section that holds its evidence
    (pages are ``papermill_runs/<chapter>/<run>.html``, siblings of the scoreboard's own page)."""
    from ..viz import claims_table
    df = claims_table(claims, digits=digits, chapter=True, rule=False)
    links = []
    for ch, sec in zip(claims["chapter"].values, claims["section"].values):
        anchor = f"#{section_anchor(str(sec))}" if str(sec) else ""
        links.append(f'<a href="../{html.escape(str(ch))}/laptop.html{anchor}">{html.escape(str(ch))}'
                     + (f" — {html.escape(str(sec))}" if str(sec) else "") + "</a>")
    df["chapter"] = links
    for col in df.columns:
        if col != "chapter":
            df[col] = df[col].map(lambda x: html.escape(str(x)))
    return df.to_html(escape=False, index=False, classes="fairnotes-claims", border=0)


def answer(claims: xr.Dataset) -> str:
    """The scoreboard's short answer: how many claims agree, disagree or cannot be told, and where the
    disagreements are (the wording follows the counts: no disagreement reads as such)."""
    from ._claims import AGREES, CANNOT_TELL, DISAGREES
    table = counts(claims)
    total = table.loc["all chapters"]
    n, a, d, c = (int(total[k]) for k in ("claims", AGREES, DISAGREES, CANNOT_TELL))
    out = [f"Of {n} claims tested, {a} agree with the papers, {d} disagree and {c} cannot be told at this scale."]
    per = table.drop(index="all chapters")
    where = [f"{ch} ({int(k)})" for ch, k in per[DISAGREES].items() if int(k) > 0]
    if where:
        out.append(f"The disagreements are in {', '.join(where)}: read each chapter's closing section for why.")
    else:
        out.append("No result of this run contradicts the papers.")
    return " ".join(out)
