"""The paper profile's data path for MuSE: an open_clip model, a data set's validation and test splits, generated
supports.

One data set per run (``Params.dataset``: ``flowers102``, ``dtd``, ``fgvc-aircraft`` through torchvision, or any
``image-folder``). ``w`` is chosen on ``Params.validation_split`` (``val``), never on ``test``. Text prototypes
come from CuPL-style descriptions (``Params.descriptions``, a JSON file the user supplies; the CuPL files are not
vendored) or a template set. Supports are images generated per class by :func:`fairnotes.zeroshot.generate`
(``Params.pipeline``: ``sdxl-d3g`` = D3G's SDXL base + refiner settings, or a diffusers folder), prompted with
``Params.generation_prompt``; replicate seed ``s`` generates ``max(images_per_class)`` images per class with
generator seeds ``1000·s + i``, and setting ``generated-n`` uses the first ``n`` of them (``n = 1`` is D3G's
"standard", ``n = 5`` its "average image"). Every image, text prototype and generated file is cached, so a
re-run generates and embeds nothing.

torch, open_clip and diffusers are imported only inside the functions.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

__all__ = ["SEED_STRIDE", "paper_predictions", "generation_prompts"]

#: replicate seed ``s`` generates with generator seeds ``SEED_STRIDE·s + i`` (image i of a class)
SEED_STRIDE = 1000


def generation_prompts(p: Any, names: list[str]) -> dict[str, list[str]]:
    """``{class: [prompt]}``: ``p.generation_prompt`` formatted with each class name."""
    if "{}" not in p.generation_prompt:
        raise ValueError(f"generation_prompt must contain {{}} for the class name; got {p.generation_prompt!r}")
    return {n: [p.generation_prompt.format(n)] for n in names}


def paper_predictions(p: Any, settings: dict[str, dict], *, embedder: Any = None, progress: bool | None = None
                      ) -> dict[str, tuple[xr.DataArray, np.ndarray, xr.DataArray, np.ndarray, list[str], xr.Dataset]]:
    """Per setting (``{name: {"kind": "generated", "per_class": n}}``), the
    ``(val_pred, val_target, test_pred, test_target, class_names, info)`` of :func:`muse.summarize`."""
    from .. import data
    from ..zeroshot import create_embedder, embed_images, generate, zero_shot_weights
    from .muse import W_GRID, mixed_predictions
    for name, kw in settings.items():
        if kw.get("kind") != "generated" or int(kw.get("per_class", 0)) < 1:
            raise ValueError(f"setting {name!r}: the paper profile takes {{'kind': 'generated', 'per_class': n ≥ 1}}")
    root = p.data_root
    load_kw = {"root": root, "max_per_class": p.max_per_class, "download": p.download}
    val = data.load(p.dataset, p.validation_split, **load_kw)
    test = data.load(p.dataset, "test", **load_kw)
    names = [str(c) for c in test.class_names]
    if [str(c) for c in val.class_names] != names:
        raise ValueError(f"{p.dataset}: the {p.validation_split} and test splits name different classes")
    emb = embedder if embedder is not None else create_embedder(p.model, p.pretrained, precision=p.precision)
    if p.descriptions:
        text = zero_shot_weights(emb, names, descriptions=p.descriptions)
    else:
        text = zero_shot_weights(emb, names, p.templates)
    xv = embed_images(emb, val, progress=progress)["embedding"].values
    xt = embed_images(emb, test, progress=progress)["embedding"].values
    yv, yt = np.asarray(val.labels, np.int64), np.asarray(test.labels, np.int64)
    n_max = max(int(kw["per_class"]) for kw in settings.values())
    prompts = generation_prompts(p, names)
    ws = list(W_GRID)
    out: dict[str, dict[str, list]] = {n: {"vp": [], "tp": [], "nsup": []} for n in settings}
    files: list[list[str]] = []
    for s in p.seeds:
        sup = generate(prompts, p.pipeline, n_per_prompt=n_max, seed=SEED_STRIDE * int(s), progress=progress,
                       folder=p.generated_folder, num_inference_steps=p.generation_steps,
                       height=p.generation_size, width=p.generation_size)
        lab = sup.label_indices(names)
        arr = sup.images(size=p.support_size)
        se_all = embed_images(emb, arr, data="generated", split=str(p.pipeline),
                              selection={"files": [str(f) for f in sup.manifest["file"]]},
                              progress=progress)["embedding"].values
        rank = np.zeros(len(lab), np.int64)  # position of each image within its class, in generation order
        for c in np.unique(lab):
            rank[lab == c] = np.arange((lab == c).sum())
        files.append([str(sup.folder / f) for f in sup.manifest["file"]])
        for name, kw in settings.items():
            keep = rank < int(kw["per_class"])
            se, sl = se_all[keep], lab[keep]
            o = out[name]
            o["vp"].append(mixed_predictions(xv, text, se, sl, ws))
            o["tp"].append(mixed_predictions(xt, text, se, sl, ws))
            o["nsup"].append(np.bincount(sl, minlength=len(names)))
    seeds = [int(s) for s in p.seeds]
    coords = {"seed": seeds, "w": np.asarray(ws, float)}
    result = {}
    for name, o in out.items():
        info = xr.Dataset({"precision": (("seed", "class"), np.full((len(seeds), len(names)), np.nan)),
                           "n_supports": (("seed", "class"), np.stack(o["nsup"]))},
                          coords={"seed": seeds, "class_name": ("class", names)},
                          attrs={"kind": "generated", "per_class": int(settings[name]["per_class"]),
                                 "dataset": p.dataset, "validation_split": p.validation_split,
                                 "pipeline": str(p.pipeline), "generation_prompt": p.generation_prompt,
                                 "text_prompts": "descriptions (CuPL-style JSON)" if p.descriptions
                                 else f"templates {p.templates}",
                                 "model": getattr(emb, "name", str(p.model)), "generated_files_seed0": len(files[0])})
        result[name] = (xr.DataArray(np.stack(o["vp"]), dims=("seed", "w", "sample"), coords=coords), yv,
                        xr.DataArray(np.stack(o["tp"]), dims=("seed", "w", "sample"), coords=coords), yt, names, info)
    return result
