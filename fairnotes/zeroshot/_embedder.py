"""One embedder interface for image-text models, with an open_clip implementation.

An :class:`Embedder` turns images and texts into L2-normalised ``float32`` vectors in one
shared space. :class:`OpenClipEmbedder` wraps any open_clip model (a built-in name such as
``ViT-L-14`` with a pretrained tag such as ``openai``, or a config registered with
``open_clip.add_model_config``, like the laptop LiT model of :mod:`fairnotes.zeroshot.lit`).
Weights load only through open_clip's own loader (``weights_only=True`` / safetensors).

Images are ``uint8`` arrays ``N×C×H×W`` (grey is repeated to RGB; RGBA is composited onto
white) or an :class:`fairnotes.data.ImageSet`; they are resized and normalised on tensors
following the model's ``preprocess_cfg`` (size, mean, std, interpolation), which is what
open_clip's PIL transform does, batched.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

__all__ = ["Embedder", "OpenClipEmbedder", "create_embedder", "PROFILES"]

# profile -> (open_clip model name, pretrained tag); the laptop profile is built by fairnotes.zeroshot.lit
PROFILES = {"paper": ("ViT-L-14", "openai")}


class Embedder:
    """Interface: ``encode_images``, ``encode_text``, ``tokenize``, ``identity``.

    Subclasses set ``name`` and implement the four methods; ``encode_*`` return
    L2-normalised ``float32`` arrays (``N × embed_dim``). ``model`` must offer open_clip's
    ``encode_text(tokens, normalize=True)`` so ``open_clip.build_zero_shot_classifier`` can use it.
    """

    name: str = "embedder"
    model: Any = None

    def tokenize(self, texts: Sequence[str]) -> Any:
        raise NotImplementedError

    def encode_text(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
        raise NotImplementedError

    def encode_images(self, images: Any, *, batch_size: int = 64, progress: bool | None = False) -> np.ndarray:
        raise NotImplementedError

    def identity(self) -> dict:
        """What determines the embeddings (for cache keys): model name, weights tag, weights hash."""
        raise NotImplementedError

    @property
    def embed_dim(self) -> int:
        return int(self.encode_text(["a"]).shape[1])


class OpenClipEmbedder(Embedder):
    """An open_clip model (``CLIP``, ``CustomTextCLIP``...) and its tokenizer as an :class:`Embedder`.

    Parameters
    ----------
    model, tokenizer
        From ``open_clip.create_model(...)`` and ``open_clip.get_tokenizer(name)``.
    name, pretrained
        The open_clip model name and the weights tag (or ``None`` for random / tower-only weights).
    device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    weights_tag
        Extra identity of the weights (e.g. the key of trained projections), joined to the cache key.
    precision
        ``"fp32"`` (default) or ``"bf16"``: both towers run under bf16 autocast (channels_last images) on
        CUDA and on CPUs with native bf16, in float32 elsewhere (:func:`fairnotes._torch.resolve_precision`).
        ``precision`` is what runs (``precision_asked`` what was asked); bf16 joins :meth:`identity`, so
        bf16 embeddings are cached apart from float32 ones, whose keys are unchanged.
    """

    def __init__(self, model: Any, tokenizer: Any, *, name: str, pretrained: str | None = None,
                 device: str = "auto", weights_tag: str | None = None, precision: str = "fp32"):
        import torch
        from .._torch import resolve_precision, start
        self.device = start(device).device
        self.precision_asked = precision
        self.precision, self.precision_note = resolve_precision(precision, self.device)
        self.model = model.to(self.device).eval()
        if self.precision == "bf16":  # oneDNN's fast bf16 convolutions want NHWC weights (float32 left as it was)
            self.model = self.model.to(memory_format=torch.channels_last)
        self.tokenizer = tokenizer
        self.name, self.pretrained, self.weights_tag = name, pretrained, weights_tag
        cfg = dict(getattr(model.visual, "preprocess_cfg", {}) or {})
        size = cfg.get("size", 224)
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.mean = torch.tensor(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)), dtype=torch.float32)
        self.std = torch.tensor(cfg.get("std", (0.26862954, 0.26130258, 0.27577711)), dtype=torch.float32)
        self.interpolation = cfg.get("interpolation", "bicubic")
        self._hash: str | None = None

    def __repr__(self) -> str:
        prec = f", precision={self.precision!r}" if self.precision != "fp32" else ""
        return f"OpenClipEmbedder({self.name!r}, pretrained={self.pretrained!r}, device={str(self.device)!r}{prec})"

    def autocast(self) -> Any:
        """The autocast context the towers run under (bf16, or nothing for float32)."""
        import contextlib

        from .._torch import bf16_autocast
        return bf16_autocast(self.device) if self.precision == "bf16" else contextlib.nullcontext()

    def tokenize(self, texts: Sequence[str]) -> Any:
        return self.tokenizer(list(texts))

    def encode_text(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
        import torch
        texts = [str(t) for t in texts]
        out = []
        with torch.inference_mode(), self.autocast():
            for i in range(0, len(texts), batch_size):
                tok = self.tokenize(texts[i:i + batch_size]).to(self.device)
                out.append(self.model.encode_text(tok, normalize=True).float().cpu())
        return _stack(out)

    def preprocess(self, batch: Any) -> Any:
        """uint8 ``N×C×H×W`` tensor → the model's normalised float input (resize short side, centre crop)."""
        import torch
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as TF
        x = batch.to(self.device).float().div_(255)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] == 4:  # composite RGBA onto white
            a = x[:, 3:4]
            x = x[:, :3] * a + (1 - a)
        mode = {"bicubic": InterpolationMode.BICUBIC, "bilinear": InterpolationMode.BILINEAR,
                "nearest": InterpolationMode.NEAREST}.get(self.interpolation, InterpolationMode.BICUBIC)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = TF.resize(x, self.image_size, interpolation=mode, antialias=True)
            x = TF.center_crop(x, [self.image_size, self.image_size])
        x = x.clamp_(0, 1)
        mean, std = self.mean.to(x.device)[:, None, None], self.std.to(x.device)[:, None, None]
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    def encode_images(self, images: Any, *, batch_size: int = 64, progress: bool | None = False) -> np.ndarray:
        return self.forward_images(images, self.model.encode_image, batch_size=batch_size, progress=progress,
                                   normalize=True)

    def forward_images(self, images: Any, fn: Any, *, batch_size: int = 64, progress: bool | None = False,
                       normalize: bool = True) -> np.ndarray:
        """``fn(preprocessed batch)`` over ``images`` in batches (e.g. a tower's trunk only)."""
        import torch
        from .._torch import progress as bar
        arr = image_array(images)
        n_batches = -(-len(arr) // batch_size)
        out = []
        with torch.inference_mode(), self.autocast():
            for i in bar(range(0, len(arr), batch_size), enable=progress, total=n_batches,
                         desc=f"{self.name} images", unit="batch"):
                xb = torch.from_numpy(np.ascontiguousarray(arr[i:i + batch_size]))
                e = fn(self.preprocess(xb)).float()
                if normalize:
                    e = torch.nn.functional.normalize(e, dim=-1)
                out.append(e.cpu())
        return _stack(out)

    def weights_hash(self) -> str:
        """SHA-256 (16 hex) of every parameter and buffer, computed once per embedder."""
        if self._hash is None:
            h = hashlib.sha256()
            for k, v in sorted(self.model.state_dict().items()):
                h.update(k.encode())
                h.update(str(tuple(v.shape)).encode())
                h.update(v.detach().cpu().contiguous().view(-1).view(dtype=_byte()).numpy().tobytes())
            self._hash = h.hexdigest()[:16]
        return self._hash

    def identity(self) -> dict:
        ident = {"kind": "open_clip", "model": self.name, "pretrained": self.pretrained,
                 "weights_tag": self.weights_tag, "weights_sha256": self.weights_hash(),
                 "image_size": self.image_size, "mean": self.mean.tolist(), "std": self.std.tolist(),
                 "interpolation": self.interpolation}
        if self.precision != "fp32":  # only then: float32 keys stay as they were
            ident["precision"] = self.precision
        return ident


def _byte() -> Any:
    import torch
    return torch.uint8


def _stack(chunks: list) -> np.ndarray:
    import torch
    if not chunks:
        return np.zeros((0, 0), np.float32)
    return torch.cat(chunks).numpy().astype(np.float32, copy=False)


def image_array(images: Any) -> Any:
    """``uint8`` ``N×C×H×W`` array of ``images`` (an array or an :class:`ImageSet`, lazy ones read)."""
    imgs = getattr(images, "images", images)
    if not isinstance(imgs, np.ndarray):
        imgs = images.materialize().images if hasattr(images, "materialize") else np.stack(list(imgs))
    if imgs.ndim != 4 or imgs.dtype != np.uint8:
        raise ValueError(f"images must be uint8 N×C×H×W; got {imgs.dtype} with shape {imgs.shape}")
    if imgs.shape[1] not in (1, 3, 4):
        raise ValueError(f"images must have 1, 3 or 4 channels (grey, RGB, RGBA); got {imgs.shape[1]}")
    return imgs


def check_model_name(name: str) -> None:
    """Raise a ``KeyError`` naming the valid choices when open_clip has no config ``name``."""
    import open_clip
    if name.startswith(("hf-hub:", "local-dir:")):
        return
    if name not in open_clip.list_models():
        models = open_clip.list_models()
        close = [m for m in models if name.lower().replace("/", "-")[:5] in m.lower()][:10]
        raise KeyError(f"unknown open_clip model {name!r}; valid names are open_clip.list_models() "
                       f"({len(models)} configs, e.g. {', '.join(close or models[:8])}), or a config registered "
                       f"with open_clip.add_model_config")


def check_pretrained(name: str, pretrained: str | None) -> None:
    """Raise a ``ValueError`` naming the valid tags when ``pretrained`` is neither a tag nor a file."""
    import os

    import open_clip
    if pretrained is None or os.path.isfile(str(pretrained)) or name.startswith(("hf-hub:", "local-dir:")):
        return
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained not in tags:
        raise ValueError(f"open_clip model {name!r} has no pretrained tag {pretrained!r}; valid tags: "
                         f"{', '.join(tags) if tags else 'none (pass pretrained=None or a weights file)'}")


def create_embedder(name: str = "ViT-L-14", pretrained: str | None = "openai", *, device: str = "auto",
                    image_size: int | None = None, precision: str = "fp32", cache_dir: str | None = None,
                    **kwargs: Any) -> OpenClipEmbedder:
    """An :class:`OpenClipEmbedder` for open_clip model ``name`` with weights ``pretrained``.

    Parameters
    ----------
    name
        Any ``open_clip.list_models()`` name, a config added with ``open_clip.add_model_config``,
        or ``hf-hub:`` / ``local-dir:`` names. Paper profile: ``"ViT-L-14"``.
    pretrained
        An open_clip tag (``open_clip.list_pretrained_tags_by_model(name)``; paper profile
        ``"openai"``), a local weights file, or ``None`` (random weights, or the towers' own
        weights for configs that name them). Tags download through open_clip (needs the hub).
    device, cache_dir
        Passed to ``open_clip.create_model``.
    precision
        ``"fp32"`` or ``"bf16"``: float32 weights, run in that precision by the embedder (bf16 autocast
        where the device has native bf16, see :class:`OpenClipEmbedder`). Other open_clip precisions
        (``"fp16"``, ``"amp"``...) are passed to ``open_clip.create_model`` as they are.
    image_size
        Preprocessing size override (the model's config size otherwise).
    kwargs
        Further ``open_clip.create_model`` arguments (``force_preprocess_cfg=``...).

    Examples
    --------
    >>> emb = create_embedder("ViT-L-14", "openai")                          # doctest: +SKIP
    >>> emb.encode_text(["a photo of a nurse."]).shape                       # doctest: +SKIP
    (1, 768)
    """
    import open_clip

    from .._torch import start
    check_model_name(name)
    check_pretrained(name, pretrained)
    pp = dict(kwargs.pop("force_preprocess_cfg", None) or {})
    if image_size is not None:
        pp["size"] = int(image_size)
    dev = start(device).device
    ours = precision in ("fp32", "bf16")  # run by the embedder; open_clip's own others go to open_clip
    try:
        model = open_clip.create_model(name, pretrained=pretrained, device=dev,
                                       precision="fp32" if ours else precision, cache_dir=cache_dir,
                                       force_preprocess_cfg=pp or None, **kwargs)
    except RuntimeError as e:
        if "download" not in str(e).lower():
            raise
        raise RuntimeError(f"open_clip could not fetch the {name!r}/{pretrained!r} weights (they come from the "
                           f"Hugging Face hub or the web; offline, pass a local weights file as pretrained=, or "
                           f"use the laptop LiT model, fairnotes.zeroshot.lit.load_embedder()): {e}") from e
    tokenizer = open_clip.get_tokenizer(name)
    return OpenClipEmbedder(model, tokenizer, name=name, pretrained=pretrained, device=str(dev.type),
                            precision=precision if ours else "fp32")
