"""The paper profile's data path for D3G: an open_clip model, a labelled data set with demographic attributes
(IdenProf as an ``attribute-folder`` with the paper's pseudo-label CSV, or FairFace with ground truth), and supports
generated with D3G's demographic prompts (:func:`fairnotes.zeroshot.demographic_prompts`).

A *task* is what is classified: ``"classes"`` (the data set's own labels, e.g. IdenProf's professions) or the name
of an attribute column (e.g. ``"race"``: the classes are its values). For each prompt strategy and images per
prompt (1 = D3G's standard, 5 = its average image), the supports of class ``c`` are the images generated for its
prompts; w is chosen on the validation split and, as the paper does, tuned on the test split. The per-image
correctness goes to :func:`fairnotes.analysis._d3g_core.summarize_setting` like the laptop's (one "pair": the
validation and the test split).

torch, open_clip and diffusers are imported only inside the functions.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["task_labels", "paper_combined"]


def task_labels(images: Any, task: str) -> tuple[np.ndarray, list[str]]:
    """``(labels, class names)`` of ``task`` on an ImageSet: its own labels, or the values of an attribute."""
    if task == "classes":
        return np.asarray(images.labels, np.int64), [str(c) for c in images.class_names]
    a = images.attributes
    if a is None or task not in a:
        have = [] if a is None else list(a.columns)
        raise ValueError(f"task {task!r} is neither 'classes' nor an attribute of {images.name}; attributes: {have}")
    values = a[task].astype(str).to_numpy()
    names = sorted(v for v in set(values) if v != "unknown")
    pos = {v: i for i, v in enumerate(names)}
    return np.array([pos.get(v, -1) for v in values], np.int64), [n.replace("_", " ") for n in names]


def paper_combined(embedder: Any, val: Any, test: Any, task: str, strategy: str, per_prompt: int, seed: int, *,
                   pipeline: str, templates: Any = "photo", generated_folder: str | None = None,
                   generation_steps: int | None = None, generation_size: int | None = None, support_size: int = 224,
                   progress: bool | None = None) -> tuple[dict, np.ndarray]:
    """``(combined, test_mask)``: :func:`._d3g_jobs.combine_pairs`' output for one (task, strategy, images per
    prompt, seed), over the test images with a known label (``test_mask``)."""
    from ..zeroshot import demographic_prompts, embed_images, generate, zero_shot_weights
    from ._d3g_jobs import combine_pairs
    from .muse import W_GRID, mixed_predictions
    yv, names = task_labels(val, task)
    yt, names_t = task_labels(test, task)
    if names != names_t:
        raise ValueError(f"task {task!r}: the validation and test splits have different classes ({names} vs {names_t})")
    text = zero_shot_weights(embedder, names, templates)
    xv = embed_images(embedder, val, progress=progress)["embedding"].values
    xt = embed_images(embedder, test, progress=progress)["embedding"].values
    prompts = demographic_prompts(names, strategy)
    sup = generate(prompts, pipeline, n_per_prompt=per_prompt, seed=int(seed), folder=generated_folder,
                   num_inference_steps=generation_steps, height=generation_size, width=generation_size,
                   progress=progress)
    se = embed_images(embedder, sup.images(size=support_size), data="generated", split=str(pipeline),
                      selection={"files": [str(f) for f in sup.manifest["file"]]}, progress=progress)["embedding"].values
    sl = sup.label_indices(names)
    ws = list(W_GRID)
    mv, mt = yv >= 0, yt >= 0
    pv = mixed_predictions(xv[mv], text, se, sl, ws)
    pt = mixed_predictions(xt[mt], text, se, sl, ws)
    pair = {"val": pv == yv[mv], "test": pt == yt[mt], "val_pred": pv, "test_pred": pt,
            "test_pos": np.arange(int(mt.sum()))}
    return combine_pairs([pair], ws, int(mt.sum())), mt
