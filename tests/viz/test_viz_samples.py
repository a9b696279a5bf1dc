from __future__ import annotations

import base64
import io

import altair as alt
import numpy as np
import pytest
from PIL import Image

from fairnotes.viz import class_balance, sample_grid, scatter, thumbnail_url


def test_sample_grid_rows_per_class_and_data_urls(digits):
    images, labels, names = digits
    chart = sample_grid(images, labels, names, per_class=4, seed=1)
    assert isinstance(chart, alt.Chart)
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "image"
    (rows,) = spec["datasets"].values()
    assert len(rows) == 4 * len(names)
    assert spec["encoding"]["y"]["sort"] == names
    for r in rows:
        assert labels[r["index"]] == r["label"] and names[r["label"]] == r["class_name"]
        assert r["url"].startswith("data:image/png;base64,")
    thumb = Image.open(io.BytesIO(base64.b64decode(rows[0]["url"].split(",", 1)[1])))
    assert max(thumb.size) == 16  # 8 px digits × scale 2
    assert len(chart.to_json()) < 200_000
    # reproducible draw
    assert sample_grid(images, labels, names, per_class=4, seed=1).to_dict() == spec


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_thumbnails_capped_at_64_px(channels):
    image = np.random.default_rng(0).integers(0, 256, size=(channels, 100, 80), dtype=np.uint8)
    thumb = Image.open(io.BytesIO(base64.b64decode(thumbnail_url(image, 64).split(",", 1)[1])))
    assert thumb.size == (51, 64)
    assert thumb.mode == {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    grid = sample_grid(np.stack([image] * 3), np.array([0, 0, 1]), ["a", "b"], scale=2)
    assert grid.to_dict()["mark"]["width"] == 64


def test_class_balance_counts(digits):
    _, labels, names = digits
    spec = class_balance(labels, names, sort="count").to_dict()
    (rows,) = spec["datasets"].values()
    assert [r["count"] for r in rows] == list(np.bincount(labels, minlength=10))
    assert {t["field"] for t in spec["encoding"]["tooltip"]} >= {"class_name", "count", "share"}
    counts = {r["class_name"]: r["count"] for r in rows}
    assert [counts[n] for n in spec["encoding"]["y"]["sort"]] == sorted(counts.values(), reverse=True)


def test_scatter_takes_column_names_literally():
    import pandas as pd

    df = pd.DataFrame({"acc.top1": [0.5, 0.7], "gap:max": [0.3, 0.1], "model": ["a", "b"]})
    spec = scatter(df, "acc.top1", "gap:max", label="model", color="model").to_dict()
    assert spec["encoding"]["x"]["field"] == "acc\\.top1"
    assert spec["encoding"]["y"]["field"] == "gap:max"
    assert spec["encoding"]["tooltip"][0]["field"] == "model"
    with pytest.raises(KeyError):
        scatter(df, "nope", "gap:max")
