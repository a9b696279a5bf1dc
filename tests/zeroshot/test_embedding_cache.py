from __future__ import annotations

import numpy as np
import pytest

from fairnotes import zeroshot


def _no_work(*a, **k):
    raise AssertionError("recomputed embeddings that were cached")


def test_miss_then_hit(tiny_embedder, images, tmp_path, monkeypatch):
    a = zeroshot.embed_images(tiny_embedder, images, data="toy", split="test", store=tmp_path)
    assert a.attrs["cache"].startswith("miss")
    np.testing.assert_allclose(a["embedding"].values, tiny_embedder.encode_images(images), atol=1e-6)
    monkeypatch.setattr(tiny_embedder, "encode_images", _no_work)
    b = zeroshot.embed_images(tiny_embedder, images, data="toy", split="test", store=tmp_path)
    assert b.attrs["cache"].startswith("hit")
    np.testing.assert_array_equal(a["embedding"].values, b["embedding"].values)
    assert zeroshot.embedding_cache_path(tiny_embedder, images, data="toy", split="test", store=tmp_path).exists()


def test_key_follows_data_selection_and_weights(tiny_embedder, images, tmp_path):
    import torch
    p = zeroshot.embedding_cache_path(tiny_embedder, images, data="toy", store=tmp_path)
    assert p != zeroshot.embedding_cache_path(tiny_embedder, images[:6], data="toy", store=tmp_path)
    assert p != zeroshot.embedding_cache_path(tiny_embedder, images, data="toy", selection="first", store=tmp_path)
    with torch.no_grad():
        next(tiny_embedder.model.parameters()).mul_(0.5)
    tiny_embedder._hash = None
    assert p != zeroshot.embedding_cache_path(tiny_embedder, images, data="toy", store=tmp_path)


def test_corrupt_file_is_recomputed(tiny_embedder, images, tmp_path):
    a = zeroshot.embed_images(tiny_embedder, images, data="toy", store=tmp_path)
    path = zeroshot.embedding_cache_path(tiny_embedder, images, data="toy", store=tmp_path)
    path.write_bytes(b"not a netCDF file")
    with pytest.warns(UserWarning, match="unreadable"):
        b = zeroshot.embed_images(tiny_embedder, images, data="toy", store=tmp_path)
    assert b.attrs["cache"].startswith("miss")
    np.testing.assert_allclose(a["embedding"].values, b["embedding"].values, atol=1e-6)
    assert zeroshot.embed_images(tiny_embedder, images, data="toy", store=tmp_path).attrs["cache"].startswith("hit")


def test_imageset_labels_travel_with_the_embeddings(tiny_embedder, images, tmp_path):
    from fairnotes.data import ImageSet
    ds = ImageSet("toy", "test", images, np.arange(12) % 3, ("a", "b", "c"), "random", "none")
    out = zeroshot.embed_images(tiny_embedder, ds, store=tmp_path)
    assert out["labels"].values.tolist() == (np.arange(12) % 3).tolist()
    assert out["class_name"].values.tolist() == ["a", "b", "c"]
    assert out.attrs["dataset"] == "toy"
