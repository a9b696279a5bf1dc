"""The D3G chapter's tables and chart frames: formatting and selection of :func:`fairnotes.analysis.d3g.run`'s
Dataset, nothing computed that the Dataset does not hold."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["profile_text", "paper_table", "ours_table", "group_table", "mix_table", "stereotype_frame",
           "planted_table", "audit_table"]

TASK_NAMES = {"profession": "profession (20)", "skin_tone": "skin tone (5; race7's analog)"}
MIX_NAMES = {"plain": "plain (person, no tone)", "tones": "every tone", "genders": "every gender, default tone",
             "balanced": "every tone × gender (D3G)", "one-gender": "men only, every tone",
             "professions": "every profession", "skewed-1-2": "80 % light (1-2)", "skewed-6": "80 % dark (6)"}


def _ci(ds: xr.Dataset, var: str, signed: bool = False, pct: bool = False, **sel: Any) -> str:
    v, lo, hi = (float(ds[f"{var}{s}"].sel(sel)) for s in ("", "_lower", "_upper"))
    if pct:
        v, lo, hi = 100 * v, 100 * lo, 100 * hi
        f = "{:+.1f}" if signed else "{:.1f}"
    else:
        f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]"


def profile_text(ds: xr.Dataset) -> str:
    a = ds.attrs
    seeds = ", ".join(str(s) for s in a.get("seeds", []))
    return (f"**Profile `{a.get('profile', '')}`.** The LiT model (a stand-in for CLIP) on EmojiProf (1,440 images: "
            f"20 professions × person/man/woman × no tone and 5 skin tones × 4 art styles; ground-truth labels). "
            f"For each of the 12 ordered (test style, validation style) pairs the supports come from the two other "
            f"styles; {int(a.get('n_supports', 0))} demographic cells are drawn per class. Seeds {seeds} (LiT "
            f"training seeds and support draws). w from 0 to 1 in steps of 0.01, chosen on the validation style. "
            f"Intervals: 95 %, resampling test images within group and seeds ({int(a.get('n_boot', 0))} "
            f"replicates), paired between classifiers; per-group point estimates from fairlearn's MetricFrame.")


def paper_table() -> pd.DataFrame:
    """D3G's Table 3, as the paper reports it (theirs)."""
    from ..reference import paper_figure
    t = paper_figure("hickmon2024_d3g_table3")
    rows = [{"task": task, "method": method, **{c: ("–" if v is None else f"{v:.2f}")
                                                for c, v in zip(t["columns"], vals)}}
            for (task, method), vals in t["rows"].items()]
    return pd.DataFrame(rows).set_index(["task", "method"])


def ours_table(ds: xr.Dataset) -> pd.DataFrame:
    """The same layout for this run: task × method rows, prompt strategies as columns, accuracy % [95 % CI], w chosen
    on a held-out style."""
    rows: dict[tuple, dict] = {}
    for s in ds["setting"].values:
        if str(ds["experiment"].sel(setting=s).values) != "table":
            continue
        task, mix = str(ds["task"].sel(setting=s).values), str(ds["mix"].sel(setting=s).values)
        k = int(ds["per_prompt"].sel(setting=s))
        model = "LiT" if ds.attrs.get("model") == "lit" else str(ds.attrs.get("model", ""))
        text = rows.setdefault((TASK_NAMES.get(task, task), f"{model} text-only"), {})
        text[mix] = _ci(ds, "accuracy", pct=True, setting=s, entry="text")
        name = "standard D3G (1 image per prompt)" if k == 1 else f"average-image D3G ({k} per prompt)"
        rows.setdefault((TASK_NAMES.get(task, task), name), {})[mix] = _ci(ds, "accuracy", pct=True, setting=s,
                                                                           entry="heldout")
    df = pd.DataFrame.from_dict(rows, orient="index").fillna("–")
    df.index = pd.MultiIndex.from_tuples(df.index, names=["task", "method"])
    return df.rename(columns=lambda c: MIX_NAMES.get(c, c))


def group_table(ds: xr.Dataset, setting: str, attr: str = "skin_tone") -> pd.DataFrame:
    """Per group of ``attr``: images, text-only and D3G accuracy and the change, each with its 95 % CI; groups with
    fewer than 30 images flagged."""
    one = ds.sel(setting=setting)
    names = [str(g) for g in one[attr].values if np.isfinite(float(one[f"{attr}_accuracy"].sel({attr: g,
                                                                                                "entry": "text"})))]
    rows = []
    for g in names:
        sel = {attr: g}
        text = one[f"{attr}_accuracy"].sel(sel)
        rows.append({attr: g, "images": int(one[f"{attr}_count"].sel(sel)),
                     "n < 30": "yes" if bool(one[f"{attr}_small"].sel(sel)) else "",
                     "text-only": _ci(one, f"{attr}_accuracy", entry="text", **sel),
                     "D3G (w on validation)": _ci(one, f"{attr}_accuracy", entry="heldout", **sel),
                     "change": f"{float(text.sel(entry='heldout') - text.sel(entry='text')):+.3f}"})
    return pd.DataFrame(rows).set_index(attr)


def mix_table(ds: xr.Dataset) -> pd.DataFrame:
    """The dose-response: profession task, average-image supports, one row per demographic mix: overall accuracy,
    the worst tone, the largest between-tone difference and ratio, the largest between-gender difference."""
    rows = []
    for s in ds["setting"].values:
        if str(ds["task"].sel(setting=s).values) != "profession" or int(ds["per_prompt"].sel(setting=s)) != 2 \
                or str(ds["experiment"].sel(setting=s).values) not in ("table", "mix"):
            continue
        mix = str(ds["mix"].sel(setting=s).values)
        rows.append({"supports": MIX_NAMES.get(mix, mix), "accuracy": _ci(ds, "accuracy", setting=s, entry="heldout"),
                     "worst tone": _ci(ds, "skin_tone_worst", setting=s, entry="heldout"),
                     "tone difference": _ci(ds, "skin_tone_difference", setting=s, entry="heldout"),
                     "tone ratio": _ci(ds, "skin_tone_ratio", setting=s, entry="heldout"),
                     "gender difference": _ci(ds, "gender_difference", setting=s, entry="heldout")})
    return pd.DataFrame(rows).set_index("supports") if rows else pd.DataFrame()


def stereotype_frame(ds: xr.Dataset) -> pd.DataFrame:
    """Gain over text-only and the between-tone difference against the stereotype probability p."""
    rows = []
    for s in ds["setting"].values:
        exp = str(ds["experiment"].sel(setting=s).values)
        if exp == "stereotype" or (exp in ("table", "mix") and str(ds["task"].sel(setting=s).values) == "profession"
                                   and str(ds["mix"].sel(setting=s).values) == "balanced"
                                   and int(ds["per_prompt"].sel(setting=s)) == 2):
            for var, what in (("gain", "gain over text-only"), ("skin_tone_difference", "between-tone difference")):
                rows.append({"p": float(ds["stereotype_p"].sel(setting=s)), "statistic": what,
                             "value": float(ds[var].sel(setting=s, entry="heldout")),
                             "lower": float(ds[f"{var}_lower"].sel(setting=s, entry="heldout")),
                             "upper": float(ds[f"{var}_upper"].sel(setting=s, entry="heldout"))})
    if not rows:
        return pd.DataFrame(columns=["p", "statistic", "value", "lower", "upper"])
    return pd.DataFrame(rows).sort_values(["statistic", "p"]).reset_index(drop=True)


def planted_table(ds: xr.Dataset) -> pd.DataFrame:
    """Per planted drop: per-tone accuracy of text-only and of D3G, and the between-tone difference of each."""
    rows = []
    for s in ds["setting"].values:
        if str(ds["experiment"].sel(setting=s).values) != "planted":
            continue
        one = ds.sel(setting=s)
        row = {"tone phrases dropped": f"{float(one['tone_drop']):.0%}"}
        for e, name in (("text", "text-only"), ("heldout", "D3G")):
            for t in one["skin_tone"].values:
                v = float(one["skin_tone_accuracy"].sel(entry=e, skin_tone=t))
                if np.isfinite(v):
                    row[f"{name}: {t}"] = f"{v:.2f}"
            row[f"{name}: difference"] = _ci(one, "skin_tone_difference", entry=e)
        rows.append(row)
    return pd.DataFrame(rows).set_index("tone phrases dropped") if rows else pd.DataFrame()


def audit_table(ds: xr.Dataset) -> pd.DataFrame:
    """Every Table-3 setting: the gain with w chosen on a held-out style and tuned on the test images, the
    inflation, and the w's."""
    rows = []
    for s in ds["setting"].values:
        if str(ds["experiment"].sel(setting=s).values) != "table":
            continue
        rows.append({"setting": str(s), "gain (w on validation)": _ci(ds, "gain", True, setting=s, entry="heldout"),
                     "gain (w tuned on test)": f"{float(ds['gain'].sel(setting=s, entry='tuned')):+.3f}",
                     "inflation": _ci(ds, "inflation", True, setting=s),
                     "w (validation, mean over pairs and seeds)": f"{float(ds['w_heldout'].sel(setting=s).mean()):.2f}"})
    return pd.DataFrame(rows).set_index("setting")
