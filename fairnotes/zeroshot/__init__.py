"""Zero-shot image classification with image-text models, and support sets for MuSE and D3G.

>>> from fairnotes import zeroshot
>>> emb = zeroshot.create_embedder("ViT-L-14", "openai")                   # doctest: +SKIP
>>> w = zeroshot.zero_shot_weights(emb, ["nurse", "farmer"], "openai_imagenet")  # doctest: +SKIP
>>> x = zeroshot.embed_images(emb, images)["embedding"].values            # doctest: +SKIP
>>> zeroshot.predict(x, w)                                                 # doctest: +SKIP

- Embedders: :class:`Embedder` (``encode_images``, ``encode_text``, ``tokenize``, ``identity``);
  :func:`create_embedder` for any open_clip model + pretrained tag (paper profile ViT-L-14 /
  openai); the offline laptop model is the LiT model of :mod:`fairnotes.zeroshot.lit`
  (``lit.load_embedder(cfg)``).
- Classifiers: :func:`zero_shot_weights` (``open_clip.build_zero_shot_classifier``; templates
  by name from :func:`templates`, or CuPL descriptions from a JSON file), :func:`logits`,
  :func:`predict`.
- Cache: :func:`embed_images` (on disk, keyed by model and data).
- Support sets: :func:`generate` (diffusers), :func:`retrieve` (SuS-X), both returning a
  :class:`SupportSet`; :func:`mix_prototypes` (MuSE's ``w·text + (1−w)·image``).
- D3G's prompt strategies: :func:`demographic_prompts` (one prompt per demographic group and class),
  :func:`demographic_strategies`, :func:`demographic_groups` (data in ``demographics.json``).

torch, open_clip and diffusers are imported only inside the functions that need them.
"""
from __future__ import annotations

from ._cache import data_identity, embed_images, embedding_cache_path
from ._classifier import logits, predict, zero_shot_weights
from ._demographics import demographic_groups, demographic_prompts, demographic_strategies
from ._embedder import PROFILES, Embedder, OpenClipEmbedder, create_embedder
from ._generate import generate, pipeline_names, pipeline_settings
from ._prompts import classnames, load_descriptions, template_sets, templates
from ._prototypes import image_prototypes, mix_prototypes
from ._retrieve import retrieve, top_k
from ._support import SupportSet

__all__ = [
    "Embedder", "OpenClipEmbedder", "create_embedder", "PROFILES",
    "zero_shot_weights", "logits", "predict", "templates", "template_sets", "classnames", "load_descriptions",
    "embed_images", "embedding_cache_path", "data_identity",
    "generate", "retrieve", "top_k", "pipeline_names", "pipeline_settings", "SupportSet",
    "mix_prototypes", "image_prototypes",
    "demographic_prompts", "demographic_strategies", "demographic_groups",
]
