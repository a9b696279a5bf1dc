from __future__ import annotations

import numpy as np
import pytest

from fairnotes import zeroshot
from fairnotes.data import ImageSet


def test_encodes_unit_float32_vectors(tiny_embedder, images):
    x = tiny_embedder.encode_images(images, batch_size=5)
    t = tiny_embedder.encode_text(["a photo of a cat.", "a dog", "x"])
    assert x.shape == (12, 16) and t.shape == (3, 16)
    assert x.dtype == np.float32 and t.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    # batching does not change the result
    np.testing.assert_allclose(x, tiny_embedder.encode_images(images, batch_size=12), atol=1e-5)
    assert tuple(tiny_embedder.tokenize(["a cat"]).shape) == (1, 16)


def test_accepts_imagesets_grey_and_rgba(tiny_embedder, images):
    ds = ImageSet("toy", "test", images, np.zeros(12, np.int64), ("a",), "random", "none")
    np.testing.assert_allclose(tiny_embedder.encode_images(ds), tiny_embedder.encode_images(images), atol=1e-6)
    grey = images[:, :1]
    np.testing.assert_allclose(tiny_embedder.encode_images(grey),
                               tiny_embedder.encode_images(np.repeat(grey, 3, axis=1)), atol=1e-6)
    rgba = np.concatenate([images, np.full_like(images[:, :1], 255)], axis=1)  # opaque: same as RGB
    np.testing.assert_allclose(tiny_embedder.encode_images(rgba), tiny_embedder.encode_images(images), atol=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        tiny_embedder.encode_images(images.astype(np.float32))


def test_identity_follows_the_weights(tiny_embedder):
    import torch
    a = tiny_embedder.identity()
    assert a["model"] == "fairnotes-test-tiny-clip" and a["pretrained"] is None
    with torch.no_grad():
        next(tiny_embedder.model.parameters()).add_(1.0)
    tiny_embedder._hash = None
    assert tiny_embedder.identity()["weights_sha256"] != a["weights_sha256"]


def test_unknown_model_names_the_valid_choices():
    with pytest.raises(KeyError, match=r"open_clip.list_models\(\).*ViT-L-14"):
        zeroshot.create_embedder("ViT-L-15", None)


def test_unknown_pretrained_tag_names_the_valid_tags():
    # checked before open_clip is asked to download anything
    with pytest.raises(ValueError, match="valid tags: .*openai"):
        zeroshot.create_embedder("ViT-L-14", "not-a-tag")


def test_paper_profile_is_vit_l14_openai():
    assert zeroshot.PROFILES["paper"] == ("ViT-L-14", "openai")


def test_pretrained_weights_file_loads_through_open_clip(tiny_embedder, tiny_clip_name, images, tmp_path):
    from safetensors.torch import save_file
    f = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_embedder.model.state_dict().items()}, str(f))
    again = zeroshot.create_embedder(tiny_clip_name, str(f), device="cpu")
    np.testing.assert_allclose(again.encode_images(images), tiny_embedder.encode_images(images), atol=1e-6)
    assert again.identity()["weights_sha256"] == tiny_embedder.identity()["weights_sha256"]
