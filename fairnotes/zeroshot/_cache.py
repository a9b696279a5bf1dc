"""Image embeddings cached on disk, keyed by the model and the data.

>>> from fairnotes import data, zeroshot
>>> emb = zeroshot.create_embedder("ViT-L-14", "openai")                  # doctest: +SKIP
>>> ds = zeroshot.embed_images(emb, data.load("emojiprof", "test"))       # doctest: +SKIP
>>> ds["embedding"].shape                                                 # doctest: +SKIP
(1440, 768)

Files live in ``$FAIRNOTES_CACHE/zeroshot/embeddings/<model>-<data>-<split>-<key>.nc``. The key
hashes the embedder's :meth:`~fairnotes.zeroshot.Embedder.identity` (model name, weights tag,
SHA-256 of its weights, preprocessing) and the data's identity (name, split, an optional
``selection`` description, shape and a SHA-256 of the image bytes, so any other selection or
size of the images is another key). A file is written once, atomically
(:func:`fairnotes.results.save`); an unreadable or incomplete one is recomputed with a warning.
"""
from __future__ import annotations

import hashlib
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import xarray as xr

__all__ = ["embed_images", "embedding_cache_path", "cached_dataset", "data_identity"]


def data_identity(images: Any, *, name: str | None = None, split: str | None = None,
                  selection: Any = None) -> dict:
    """What identifies a set of images for a cache key: name, split, selection, shape, content hash."""
    from ._embedder import image_array
    arr = image_array(images)
    h = hashlib.sha256(np.ascontiguousarray(arr).data).hexdigest()[:16]
    return {"name": name or getattr(images, "name", None) or "array", "split": split or getattr(images, "split", None),
            "selection": selection, "shape": list(arr.shape), "content_sha256": h}


def cached_dataset(folder: str, tag: str, key_fields: dict, compute: Callable[[], xr.Dataset], *,
                   required: tuple[str, ...] = (), refresh: bool = False, store: str | Path | None = None
                   ) -> xr.Dataset:
    """``compute()`` stored as ``<store>/<folder>/<tag>-<key>.nc`` (store default: the zeroshot cache).

    A readable file holding every ``required`` variable is a hit (``attrs["cache"] = "hit ..."``);
    a missing, unreadable or incomplete one is (re)computed and saved atomically.
    """
    from .._paths import cache_dir
    from ..results import config_hash, provenance, read_cached, save
    key = config_hash(key_fields)
    root = Path(store) if store is not None else cache_dir("zeroshot")
    path = root / folder / f"{tag}-{key}.nc".replace("/", "_").replace(" ", "_")
    ds = None if refresh else read_cached(path, f"cached {folder}")
    if ds is not None and all(v in ds for v in required):
        return ds
    if ds is not None:
        warnings.warn(f"cached {folder} {path} lacks {[v for v in required if v not in ds]}; recomputing",
                      stacklevel=2)
    t0 = time.perf_counter()
    ds = compute()
    ds.attrs = {**provenance(key_fields, cache_key=key, wall_time_s=round(time.perf_counter() - t0, 3)), **ds.attrs}
    save(ds, path)
    ds.attrs["cache"] = f"miss {path}"
    return ds


def _spec(embedder: Any, images: Any, data: str | None, split: str | None, selection: Any) -> tuple[str, dict]:
    ident = data_identity(images, name=data, split=split, selection=selection)
    tag = f"{embedder.name}-{ident['name']}-{ident['split'] or 'all'}"
    return tag, {"model": embedder.identity(), "data": ident}


def embedding_cache_path(embedder: Any, images: Any, *, data: str | None = None, split: str | None = None,
                         selection: Any = None, store: str | Path | None = None) -> Path:
    """Where :func:`embed_images` keeps (or would keep) these embeddings."""
    from .._paths import cache_dir
    from ..results import config_hash
    tag, key = _spec(embedder, images, data, split, selection)
    root = Path(store) if store is not None else cache_dir("zeroshot")
    return root / "embeddings" / f"{tag}-{config_hash(key)}.nc".replace("/", "_").replace(" ", "_")


def embed_images(embedder: Any, images: Any, *, data: str | None = None, split: str | None = None,
                 selection: Any = None, batch_size: int = 64, progress: bool | None = None, refresh: bool = False,
                 store: str | Path | None = None) -> xr.Dataset:
    """Normalised image embeddings of ``images``, computed once per (model, data) and then read from disk.

    Parameters
    ----------
    embedder
        An :class:`~fairnotes.zeroshot.Embedder`.
    images
        ``uint8`` ``N×C×H×W`` array or :class:`fairnotes.data.ImageSet`.
    data, split, selection
        Names for the cache file and key (default: the ImageSet's ``name``/``split``); ``selection``
        describes a subset (e.g. ``{"styles": ["google"]}``). The image bytes are hashed too.
    batch_size, progress
        Inference batch and tqdm bar (``None``: notebooks and terminals).
    refresh
        Recompute even when the file exists.

    Returns
    -------
    xr.Dataset
        ``embedding`` (sample × dim, float32, unit rows); ``labels`` (sample) and coord
        ``class_name`` (label) for an ImageSet; attrs: model, data identity, cache key, ``cache``
        (``"hit <path>"`` or ``"miss <path>"``).
    """
    tag, key_fields = _spec(embedder, images, data, split, selection)

    def compute() -> xr.Dataset:
        e = embedder.encode_images(images, batch_size=batch_size, progress=progress)
        ds = xr.Dataset({"embedding": (("sample", "dim"), e, {"long_name": "L2-normalised image embedding"})},
                        coords={"sample": np.arange(len(e))})
        if hasattr(images, "labels"):
            ds["labels"] = ("sample", np.asarray(images.labels, np.int64), {"long_name": "true label"})
            ds = ds.assign_coords(label=np.arange(len(images.class_names)),
                                  class_name=("label", np.asarray(images.class_names, dtype=str)))
        ds.attrs.update(model=embedder.name, pretrained=str(getattr(embedder, "pretrained", None)),
                        dataset=key_fields["data"]["name"], split=str(key_fields["data"]["split"]))
        return ds

    return cached_dataset("embeddings", tag, key_fields, compute, required=("embedding",), refresh=refresh,
                          store=store)
