from __future__ import annotations

import numpy as np
import pytest

from fairnotes import zeroshot


def _refuse(*a, **k):
    raise AssertionError("did work that was cached")


def test_generate_writes_pngs_and_a_manifest_once(tiny_pipeline, tmp_path, monkeypatch, one_torch_thread):
    from diffusers import DiffusionPipeline
    prompts = {"cat": ["a cat", "a small cat"], "dog": "a dog"}
    kw = dict(n_per_prompt=2, seed=3, num_inference_steps=2, height=32, width=32, folder=tmp_path, progress=False)
    s = zeroshot.generate(prompts, str(tiny_pipeline), **kw)
    m = s.manifest
    assert len(s) == 6 and set(m.columns) >= {"label", "prompt", "seed", "model", "source", "file"}
    assert m["label"].tolist() == ["cat"] * 4 + ["dog"] * 2
    assert m["seed"].tolist() == [3, 4] * 3 and set(m["source"]) == {"generated"}
    assert all(f.exists() for f in s.files) and (tmp_path / "manifest.csv").exists()
    imgs = s.images()
    assert imgs.shape == (6, 3, 32, 32) and imgs.dtype == np.uint8
    # a second call loads no pipeline and returns the same rows
    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", _refuse)
    again = zeroshot.generate(prompts, str(tiny_pipeline), **kw)
    assert again.manifest["file"].tolist() == m["file"].tolist()
    np.testing.assert_array_equal(again.images(), imgs)


def test_generate_only_makes_what_is_missing(tiny_pipeline, tmp_path, monkeypatch, one_torch_thread):
    from diffusers import DiffusionPipeline
    kw = dict(seed=0, num_inference_steps=2, height=32, width=32, folder=tmp_path, progress=False)
    first = zeroshot.generate(["a cat"], str(tiny_pipeline), n_per_prompt=1, **kw)
    calls = []
    real = DiffusionPipeline.from_pretrained.__func__

    def counting(cls, *a, **k):
        pipe = real(cls, *a, **k)
        orig = pipe.__call__
        pipe.__class__ = type("Counting", (pipe.__class__,),
                              {"__call__": lambda self, *a, **k: calls.append(k["num_images_per_prompt"])
                               or orig(*a, **k)})
        return pipe

    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", classmethod(counting))
    more = zeroshot.generate(["a cat"], str(tiny_pipeline), n_per_prompt=3, **kw)
    assert calls == [2]  # seeds 1 and 2 only
    assert more.manifest["file"][0] == first.manifest["file"][0]
    # seeded: the same request in a fresh folder gives the same pixels
    fresh = zeroshot.generate(["a cat"], str(tiny_pipeline), n_per_prompt=1, **{**kw, "folder": tmp_path / "b"})
    np.testing.assert_array_equal(fresh.images(), first.images())


def test_generate_names_settings_and_fails_clearly_offline(tmp_path):
    assert zeroshot.pipeline_settings("sdxl-d3g")["guidance_scale"] == 15.0
    assert zeroshot.pipeline_settings("sdxl-d3g")["num_inference_steps"] == 50
    with pytest.raises(OSError, match="sdxl-d3g"):
        zeroshot.generate(["x"], "no-such-org/no-such-model", folder=tmp_path, local_files_only=True,
                          device="cpu")


def test_retrieve_matches_a_brute_force_oracle(tiny_embedder, tmp_path, monkeypatch):
    pool = np.random.default_rng(1).integers(0, 256, size=(30, 3, 16, 16), dtype=np.uint8)
    prompts = {"cat": ["a cat", "a kitten"], "dog": ["a dog"]}
    s = zeroshot.retrieve(prompts, pool, tiny_embedder, k=4, folder=tmp_path, progress=False)
    x = tiny_embedder.encode_images(pool)
    t = tiny_embedder.encode_text(["a cat", "a kitten", "a dog"])
    sims = t @ x.T
    for j in range(3):
        got = s.manifest["pool_index"].to_numpy()[4 * j:4 * j + 4]
        assert list(got) == list(np.argsort(-sims[j], kind="stable")[:4])
        np.testing.assert_allclose(s.manifest["score"].to_numpy()[4 * j:4 * j + 4], np.sort(sims[j])[::-1][:4],
                                   atol=1e-5)
    np.testing.assert_array_equal(s.images(), pool[s.manifest["pool_index"].to_numpy()])
    assert s.manifest["label"].tolist() == ["cat"] * 8 + ["dog"] * 4
    assert set(s.manifest["source"]) == {"retrieved"}
    monkeypatch.setattr(tiny_embedder, "encode_images", _refuse)
    monkeypatch.setattr(tiny_embedder, "encode_text", _refuse)
    again = zeroshot.retrieve(prompts, pool, tiny_embedder, k=4, folder=tmp_path)
    assert again.manifest["file"].tolist() == s.manifest["file"].tolist()
    with pytest.raises(ValueError, match="pool size"):
        zeroshot.retrieve(prompts, pool, tiny_embedder, k=31, folder=tmp_path)


def test_top_k_breaks_ties_by_pool_index():
    idx, score = zeroshot.top_k(np.array([[1.0, 0.0]]), np.array([[0, 1.0], [1.0, 0], [2.0, 0]]), 2)
    assert idx.tolist() == [[1, 2]] and score.tolist() == [[1.0, 1.0]]


def test_mix_prototypes():
    rng = np.random.default_rng(0)
    text = rng.normal(size=(3, 5))
    emb = rng.normal(size=(10, 5))
    y = np.array([0, 0, 1, 1, 1, 0, 1, 0, 0, 1])  # class 2 has no support images
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(zeroshot.mix_prototypes(text, emb, y, 1.0), unit(text), atol=1e-6)
    means = np.stack([unit(emb)[y == c].mean(0) for c in (0, 1)])
    w0 = zeroshot.mix_prototypes(text, emb, y, 0.0)
    np.testing.assert_allclose(w0[:2], unit(means), atol=1e-6)
    np.testing.assert_allclose(w0[2], unit(text[2]), atol=1e-6)  # no images: text only
    w = 0.3
    hand = unit(w * unit(text[:2]) + (1 - w) * unit(means))
    np.testing.assert_allclose(zeroshot.mix_prototypes(text, emb, y, w)[:2], hand, atol=1e-6)
    raw = unit(w * unit(text[:2]) + (1 - w) * means)
    np.testing.assert_allclose(zeroshot.mix_prototypes(text, emb, y, w, normalize_image_mean=False)[:2], raw,
                               atol=1e-6)
    with pytest.raises(ValueError, match="no support images"):
        zeroshot.mix_prototypes(text, emb, y, w, missing="raise")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        zeroshot.mix_prototypes(text, emb, y, 1.5)


def test_support_set_labels_map_to_classes(tiny_embedder, tmp_path):
    pool = np.random.default_rng(2).integers(0, 256, size=(8, 3, 16, 16), dtype=np.uint8)
    s = zeroshot.retrieve({"b": ["x"], "a": ["y"]}, pool, tiny_embedder, k=2, folder=tmp_path)
    assert s.label_indices(["a", "b"]).tolist() == [1, 1, 0, 0]
    with pytest.raises(KeyError, match="not among"):
        s.label_indices(["a"])


def test_mix_prototypes_sweep_is_mix_prototypes_at_each_w():
    from fairnotes.zeroshot._prototypes import mix_prototypes_sweep
    rng = np.random.default_rng(3)
    text, sup = rng.standard_normal((5, 8)), rng.standard_normal((12, 8))
    labels = np.array([0, 0, 1, 2, 2, 2, 3, 3, 0, 1, 2, 3])  # class 4 has no support: keeps its text prototype
    ws = [0.0, 0.25, 0.5, 1.0]
    for w, got in zip(ws, mix_prototypes_sweep(text, sup, labels, ws)):
        np.testing.assert_array_equal(got, zeroshot.mix_prototypes(text, sup, labels, w))
    with pytest.raises(ValueError, match=r"w must lie in \[0, 1\]"):
        mix_prototypes_sweep(text, sup, labels, [1.5])
