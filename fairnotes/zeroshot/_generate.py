"""Generated support sets: any diffusers text-to-image pipeline, SDXL base + refiner for D3G.

>>> from fairnotes import zeroshot
>>> s = zeroshot.generate({"nurse": ["a photo of a female nurse"]}, pipeline="sdxl-d3g")  # doctest: +SKIP
>>> s.manifest[["label", "prompt", "seed", "file"]]                                       # doctest: +SKIP

``pipeline`` is a settings name from ``pipelines.json`` (``"sdxl-d3g"``: D3G's SDXL base +
refiner, 50 steps, guidance 15, 5 images per prompt; Hickmon 2024), or any diffusers model id or
local folder, loaded with ``DiffusionPipeline.from_pretrained(..., local_files_only=...)``.
Image ``i`` of a prompt uses a generator seeded ``seed + i``, so a file is determined by the
request (model, settings, prompt, seed) and is reused when it already exists.
"""
from __future__ import annotations

import json
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["generate", "pipeline_settings", "pipeline_names"]

_ARGS = ("num_inference_steps", "guidance_scale", "height", "width", "negative_prompt", "high_noise_frac")


@lru_cache(maxsize=1)
def _settings() -> dict:
    raw = json.loads(Path(__file__).with_name("pipelines.json").read_text(encoding="utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def pipeline_names() -> tuple[str, ...]:
    """Names of the pipeline settings in ``pipelines.json``."""
    return tuple(sorted(_settings()))


def pipeline_settings(pipeline: str) -> dict:
    """Settings for ``pipeline``: the named entry of ``pipelines.json``, or ``{"pipeline": pipeline}``."""
    named = _settings()
    if pipeline in named:
        return dict(named[pipeline])
    return {"pipeline": str(pipeline)}


def generate(prompts: Sequence[str] | Mapping[str, Sequence[str] | str], pipeline: str = "sdxl-d3g", *,
             n_per_prompt: int | None = None, seed: int = 0, refiner: str | None = None,
             num_inference_steps: int | None = None, guidance_scale: float | None = None,
             height: int | None = None, width: int | None = None, negative_prompt: str | None = None,
             local_files_only: bool | None = None, device: str = "auto", torch_dtype: str | None = None,
             folder: str | Path | None = None, progress: bool | None = None) -> Any:
    """Generate ``n_per_prompt`` images per prompt (once; cached) and return them as a :class:`SupportSet`.

    Parameters
    ----------
    prompts
        A list of prompts (each its own label) or ``{class: [prompts]}`` (e.g. D3G's demographic
        prompts per profession).
    pipeline
        A ``pipelines.json`` name (:func:`pipeline_names`; paper profile ``"sdxl-d3g"``) or a diffusers
        model id or local folder.
    n_per_prompt, seed
        Images per prompt (default: the settings' value, else 1); image ``i`` uses seed ``seed + i``.
    refiner
        A second (img2img) pipeline that finishes the denoising from ``high_noise_frac`` on
        (SDXL ensemble of experts); default the settings' one.
    num_inference_steps, guidance_scale, height, width, negative_prompt
        Override the settings (pipeline defaults where neither gives one).
    local_files_only
        Passed to ``from_pretrained``; default true when ``HF_HUB_OFFLINE=1`` or the pipeline is a folder.
    device, torch_dtype
        ``"auto"`` picks CUDA when available; dtype ``"float16"``... (default the settings', else float32;
        float16 only on CUDA).
    folder
        Cache folder (default ``$FAIRNOTES_CACHE/zeroshot/support/generated``).
    progress
        tqdm bar over prompts.
    """
    from ..results import config_hash
    from ._support import Manifest, SupportSet, prompt_table, slug, support_folder
    pairs = prompt_table(prompts)
    cfg = pipeline_settings(pipeline)
    overrides = dict(num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, height=height,
                     width=width, negative_prompt=negative_prompt)
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    if refiner is not None:
        cfg["refiner"] = refiner
    n = int(n_per_prompt if n_per_prompt is not None else cfg.get("n_per_prompt", 1))
    if n < 1:
        raise ValueError(f"n_per_prompt must be a positive integer; got {n_per_prompt!r}")
    model = cfg["pipeline"] + (f" + {cfg['refiner']}" if cfg.get("refiner") else "")
    call = {k: cfg[k] for k in _ARGS if cfg.get(k) is not None}
    manifest = Manifest(support_folder("generated", folder))
    plan = []  # (label, prompt, [(seed, file, request)])
    for label, prompt in pairs:
        items = []
        for i in range(n):
            s = int(seed) + i
            request = config_hash({"model": model, "call": call, "prompt": prompt, "seed": s})
            items.append((s, f"{slug(prompt)}-{request}.png", request))
        plan.append((label, prompt, items))
    todo = [(lab, p, [it for it in items if not manifest.done(it[1])]) for lab, p, items in plan]
    todo = [t for t in todo if t[2]]
    if todo:
        _run(todo, cfg, call, model, manifest, local_files_only, device, torch_dtype, progress)
    files = [it[1] for _, _, items in plan for it in items]
    return SupportSet(manifest.folder, manifest.select(files))


def _run(todo: list, cfg: dict, call: dict, model: str, manifest: Any, local_files_only: bool | None, device: str,
         torch_dtype: str | None, progress: bool | None) -> None:
    import torch

    from .._torch import progress as bar
    from .._torch import start
    from ._support import save_png
    dev = start(device).device
    base, ref = _load(cfg, local_files_only, dev, torch_dtype)
    frac = float(call.get("high_noise_frac", 0.8))
    kw = {k: v for k, v in call.items() if k != "high_noise_frac"}
    for label, prompt, items in bar(todo, enable=progress, desc=f"generating with {cfg['pipeline']}",
                                    unit="prompt"):
        gens = [torch.Generator(device="cpu").manual_seed(s) for s, _, _ in items]
        if ref is None:
            images = base(prompt, num_images_per_prompt=len(items), generator=gens, **kw).images
        else:
            latents = base(prompt, num_images_per_prompt=len(items), generator=gens, denoising_end=frac,
                           output_type="latent", **kw).images
            rkw = {k: v for k, v in kw.items() if k not in ("height", "width")}
            images = ref(prompt, num_images_per_prompt=len(items), generator=gens, image=latents,
                         denoising_start=frac, **rkw).images
        for (s, file, request), img in zip(items, images, strict=True):
            save_png(img, manifest.folder / file)
            manifest.add({"label": label, "prompt": prompt, "seed": s, "model": model, "source": "generated",
                          "file": file, "request": request})
        manifest.save()  # after every prompt, so an interrupted run keeps what it made


def _load(cfg: dict, local_files_only: bool | None, dev: Any, torch_dtype: str | None) -> tuple[Any, Any]:
    import torch
    from diffusers import DiffusionPipeline
    name = torch_dtype or cfg.get("torch_dtype") or "float32"
    if dev.type != "cuda":
        name = "float32"  # half precision is slow or unsupported on CPU
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"torch_dtype must name a torch dtype such as 'float16', 'bfloat16', 'float32'; got {name!r}")

    def load(name_or_path: str, **extra: Any) -> Any:
        offline = local_files_only
        if offline is None:
            offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or Path(name_or_path).is_dir()
        try:
            with warnings.catch_warnings():  # diffusers >= 0.36 renames torch_dtype to dtype; older ones need it
                warnings.filterwarnings("ignore", message=".*torch_dtype.*deprecated", category=FutureWarning)
                pipe = DiffusionPipeline.from_pretrained(name_or_path, torch_dtype=dtype,
                                                         local_files_only=offline, **extra)
        except (OSError, ValueError, EnvironmentError) as e:
            hint = ("it is not in the local Hugging Face cache and local_files_only is set" if offline
                    else "download it first (needs the Hugging Face hub)")
            raise OSError(f"cannot load diffusers pipeline {name_or_path!r}: {hint}; or pass a local folder "
                          f"saved with save_pretrained, or a pipelines.json name ({', '.join(pipeline_names())}). "
                          f"({e.__class__.__name__}: {str(e)[:300]})") from e
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(dev)

    base = load(cfg["pipeline"])
    ref = None
    if cfg.get("refiner"):
        shared = {k: getattr(base, k) for k in ("text_encoder_2", "vae") if getattr(base, k, None) is not None}
        ref = load(cfg["refiner"], **shared)
    return base, ref
