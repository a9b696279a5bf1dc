"""Altair charts for fairnotes results, drawn with no network.

Builders take result Datasets (or arrays) and return Altair charts; :func:`enable` switches Altair to the
offline ``"fairnotes"`` renderer, and :func:`write_bundle` writes the vega bundle that renderer relies on
into the book's top-level ``_static/``.

>>> import fairnotes.viz as fv                       # doctest: +SKIP
>>> fv.enable()                                      # in a chapter's first cell
>>> fv.accuracy_curve(per_class, by="model")
"""
from __future__ import annotations

from ._claims import claims_table
from ._curves import accuracy_curve, sorted_accuracy_frame
from ._offline import (
    BUNDLE_NAME,
    RENDERER_NAME,
    bundle_source,
    enable,
    mimebundle,
    render_html,
    renderer,
    spec_to_png,
    write_bundle,
)
from ._forest import forest
from ._lines import lines
from ._matrix import heatmap, interval_chart
from ._names import BOOK_NAMES, display_name, display_names
from ._samples import class_balance, sample_grid, thumbnail_url
from ._scatter import scatter
from ._tables import DISPARITY_COLUMNS, disparity_table

__all__ = [
    "BOOK_NAMES",
    "BUNDLE_NAME",
    "DISPARITY_COLUMNS",
    "RENDERER_NAME",
    "accuracy_curve",
    "bundle_source",
    "claims_table",
    "class_balance",
    "disparity_table",
    "display_name",
    "display_names",
    "enable",
    "forest",
    "heatmap",
    "interval_chart",
    "lines",
    "mimebundle",
    "render_html",
    "renderer",
    "sample_grid",
    "scatter",
    "sorted_accuracy_frame",
    "spec_to_png",
    "thumbnail_url",
    "write_bundle",
]
