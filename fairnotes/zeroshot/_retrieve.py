"""Retrieved support sets (SuS-X style): the top-k images of an unlabelled pool for each prompt.

SuS-X (Udandarao et al. 2023) builds a support set without labels by ranking a large image pool
(LAION-5B there) by the cosine similarity of each image's embedding to a class prompt's text
embedding, and keeping the top ``k``. Here the pool is any ``uint8`` image array or
:class:`~fairnotes.data.ImageSet`; its embeddings come from :func:`embed_images` (cached).

>>> s = retrieve({"cat": ["a photo of a cat"]}, pool, embedder, k=8)     # doctest: +SKIP
>>> s.manifest[["label", "prompt", "pool_index", "score", "rank"]]       # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["retrieve", "top_k"]


def top_k(text_emb: np.ndarray, pool_emb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``P × k`` of the ``k`` pool rows most similar to each text row, and their cosines.

    Ties go to the lower pool index (a stable sort), so the result is deterministic.
    """
    t = np.asarray(text_emb, np.float32)
    p = np.asarray(pool_emb, np.float32)
    t = t / np.linalg.norm(t, axis=1, keepdims=True).clip(1e-12)
    p = p / np.linalg.norm(p, axis=1, keepdims=True).clip(1e-12)
    sims = t @ p.T
    idx = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(sims, idx, axis=1)


def retrieve(prompts: Sequence[str] | Mapping[str, Sequence[str] | str], pool_images: Any, embedder: Any, k: int, *,
             pool_name: str | None = None, folder: str | Path | None = None, batch_size: int = 64,
             progress: bool | None = None) -> Any:
    """The ``k`` pool images closest to each prompt, written once to a cache folder, as a :class:`SupportSet`.

    Parameters
    ----------
    prompts
        A list of prompts (each its own label) or ``{class: [prompts]}``.
    pool_images
        The unlabelled pool: ``uint8`` ``N×C×H×W`` array or an ImageSet (its labels are not used).
    embedder
        An :class:`~fairnotes.zeroshot.Embedder` for both the pool and the prompts.
    k
        Images per prompt (at most the pool size).
    pool_name
        Name of the pool in cache keys and the manifest (default the ImageSet's name, else ``"pool"``).
    folder
        Cache folder (default ``$FAIRNOTES_CACHE/zeroshot/support/retrieved``).

    Returns
    -------
    SupportSet
        Manifest columns: ``label``, ``prompt``, ``seed`` (-1), ``model`` (the embedder's name),
        ``source`` (``"retrieved"``), ``file``, ``request``, ``pool``, ``pool_index``, ``rank``
        (0 = most similar) and ``score`` (cosine). A request whose rows and files exist is answered
        from the manifest without encoding anything.
    """
    from ..results import config_hash
    from ._cache import data_identity, embed_images
    from ._embedder import image_array
    from ._support import Manifest, SupportSet, prompt_table, save_png, slug, support_folder
    pairs = prompt_table(prompts)
    arr = image_array(pool_images)
    if int(k) != k or not 1 <= k <= len(arr):
        raise ValueError(f"k must be an integer in [1, {len(arr)}] (the pool size); got {k!r}")
    pool = data_identity(pool_images, name=pool_name or getattr(pool_images, "name", None) or "pool")
    model = embedder.identity()
    manifest = Manifest(support_folder("retrieved", folder))
    requests = [config_hash({"model": model, "pool": pool, "prompt": p, "k": int(k)}) for _, p in pairs]
    files = [[f"{slug(p)}-{r}-{j:03d}.png" for j in range(k)] for (_, p), r in zip(pairs, requests)]
    if not all(manifest.done(f) for fs in files for f in fs):
        emb = embed_images(embedder, pool_images, data=pool["name"], batch_size=batch_size,
                           progress=progress)["embedding"].values
        text = embedder.encode_text([p for _, p in pairs])
        idx, score = top_k(text, emb, int(k))
        for (label, prompt), request, fs, ii, ss in zip(pairs, requests, files, idx, score):
            for rank, (f, i, s) in enumerate(zip(fs, ii, ss)):
                if not (manifest.folder / f).exists():
                    save_png(arr[i], manifest.folder / f)
                manifest.add({"label": label, "prompt": prompt, "seed": -1, "model": embedder.name,
                              "source": "retrieved", "file": f, "request": request, "pool": pool["name"],
                              "pool_index": int(i), "rank": rank, "score": float(s)})
        manifest.save()
    return SupportSet(manifest.folder, manifest.select([f for fs in files for f in fs]))
