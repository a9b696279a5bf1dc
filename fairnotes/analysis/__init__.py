"""Each chapter's analysis as tested code: parameters, every number, the claims and their verdicts.

One module per chapter, all of the same small shape::

    @dataclass(frozen=True)
    class Params(ChapterParams):          # = the notebook's parameters cell, one to one
        chapter: ClassVar[str] = "prevalence"
        datasets: tuple[str, ...] = ("fashion-mnist", ...)
        ...

    def run(p: Params) -> xr.Dataset      # every number of the chapter; cached; provenance in attrs
    def claims(ds) -> xr.Dataset          # dim `claim`: the paper's statement and figure, ours with CI,
                                          # the rule in words, verdict ∈ {agrees, disagrees, cannot tell}
    def glue_values(ds) -> dict           # the numbers the prose quotes

A notebook is then: parameters → ``ds = <chapter>.run(<chapter>.Params.from_namespace(globals()))`` →
glue → charts → prose. Verdicts come from one rule set (:mod:`fairnotes.analysis._claims`).

>>> from fairnotes import analysis
>>> analysis.check_params("prevalence", {"seeds": [0, 1]})["seeds"]
(0, 1)
"""
from __future__ import annotations

import importlib
from typing import Any, Mapping

from ._claims import AGREES, CANNOT_TELL, DISAGREES, VERDICTS, Claim, Rule, above, below, claims_dataset, near, \
    significant, verdict_counts
from ._common import glue_all, paper_claim, per_dataset, rerun_band, seed_interval, short_name, spearman_ci
from ._params import ChapterParams, ParamError
from ._store import cached_analysis, code_hash, save_chapter

__all__ = ["CHAPTERS", "params_class", "profile_params", "check_params", "module", "ChapterParams", "ParamError", "Claim", "Rule",
           "above", "below", "near", "significant", "claims_dataset", "verdict_counts", "AGREES", "DISAGREES",
           "CANNOT_TELL", "VERDICTS", "cached_analysis", "code_hash", "save_chapter", "glue_all", "paper_claim",
           "per_dataset", "seed_interval", "rerun_band", "spearman_ci", "short_name"]

#: chapters with an analysis module (``fairnotes.analysis.<name>``)
CHAPTERS = ("prevalence", "representation", "prediction_bias", "remedies", "multilabel", "muse", "d3g")


def module(chapter: str):
    """The analysis module of ``chapter`` (``None`` for a chapter without one, such as ``data``)."""
    if chapter not in CHAPTERS:
        return None
    return importlib.import_module(f"{__name__}.{chapter}")


def params_class(chapter: str) -> type[ChapterParams] | None:
    mod = module(chapter)
    return None if mod is None else mod.Params


def profile_params(chapter: str, profile: str) -> ChapterParams:
    """``chapter``'s parameters in ``profile`` (its notebook defaults with ``book/profiles.yaml`` on top), checked:
    how one chapter reads another's runs through the job cache, and how the data chapter lists them."""
    from .. import runner
    cls = params_class(chapter)
    if cls is None:
        raise ValueError(f"chapter {chapter!r} has no analysis module; chapters with one: {', '.join(CHAPTERS)}")
    return cls.from_mapping({**runner.profile_parameters(chapter, profile), "profile": profile})


def check_params(chapter: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` checked by name and type against ``chapter``'s parameters (a :class:`ParamError` if not).

    Chapters without an analysis module pass through unchanged.
    """
    cls = params_class(chapter)
    return dict(values) if cls is None else cls.check(values)
