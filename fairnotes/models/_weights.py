"""Your own weights for any model: the ``weights=`` spec key (``"resnet18:weights=~/imagenet.safetensors"``).

A file is read without running pickled code: ``.safetensors`` with ``safetensors.torch.load_file``;
``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt`` with ``torch.load(map_location="cpu", weights_only=True)``
(a file that needs pickle is refused, with advice to convert it to safetensors). Accepted layouts:
a raw state dict (name → tensor), or one under ``"state_dict"``, ``"model"`` or ``"model_state_dict"``
(nested wrappers too, e.g. the train job's ``last.pt``); a ``module.`` prefix (DDP) or
``_orig_mod.`` prefix (``torch.compile``) on every key is stripped.

Loading is strict: missing keys, unexpected keys and shape mismatches are reported together in one
:class:`WeightsError` naming the spec (``num_batches_tracked`` counters may be missing). Two
exceptions: the first conv of a timm model (``pretrained_cfg["first_conv"]``) is adapted when only
its input channels differ (grey data, RGB weights: timm's ``adapt_input_conv``, the same as feeding
the grey image repeated to 3 channels); and the classifier (``get_classifier()``), when its shape
differs from the data set's class count or it is absent from the file, is kept as the model
initialised it (``head_mismatch="reinit"``: fine-tuning) or is an error (``"error"``: evaluation).
What happened is kept on the model (:func:`loaded_weights`) and logged.

The file's SHA-256 (computed once per path, modification time and size) stands for it in cache
keys (:func:`key_kwargs`): a changed file is a new run, the same file at another path the same run.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["KEY", "WeightsError", "resolve", "file_sha256", "key_kwargs", "weights_of", "read_state_dict",
           "load_into", "loaded_weights", "spec_string"]

KEY = "weights"  # the reserved model-spec key
SAFETENSORS = (".safetensors",)
TORCH = (".pt", ".pth", ".bin", ".ckpt")
WRAPPERS = ("state_dict", "model", "model_state_dict")
PREFIXES = ("module.", "_orig_mod.")
HEAD_MISMATCH = ("error", "reinit")
_SHOW = 10  # keys listed per kind in an error

log = logging.getLogger(__name__)
_HASHES: dict[tuple[str, int, int], str] = {}


class WeightsError(ValueError):
    """A weights file that cannot be read or does not fit the model."""


def spec_string(name: str, kwargs: Mapping[str, Any]) -> str:
    """``("cnn", {"width": 4})`` → ``"cnn:width=4"`` (for messages)."""
    args = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{name}:{args}" if args else name


def weights_of(model_kwargs: Mapping[str, Any] | None) -> Any:
    """The ``weights`` entry of a model's kwargs (``None`` when absent)."""
    return (model_kwargs or {}).get(KEY)


def resolve(path: Any) -> Path:
    """``path`` with ``~`` expanded, relative to the current directory; a :class:`WeightsError` unless it
    is an existing file with a known suffix."""
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise WeightsError(f"weights= must be a file path; got {path!r} ({type(path).__name__}); "
                           f"in a model spec, quote a path that YAML reads as something else")
    p = Path(os.path.expanduser(os.fspath(path)))
    p = p if p.is_absolute() else Path.cwd() / p
    if p.suffix.lower() not in SAFETENSORS + TORCH:
        raise WeightsError(f"weights file {str(path)!r}: expected a {', '.join(SAFETENSORS + TORCH)} file")
    if not p.is_file():
        raise WeightsError(f"weights file {str(path)!r} not found (looked at {p})")
    return p


def file_sha256(path: Any) -> str:
    """SHA-256 of the file's bytes, memoised by (real path, modification time, size)."""
    p = resolve(path)
    st = p.stat()
    memo = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    if memo not in _HASHES:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASHES[memo] = h.hexdigest()
    return _HASHES[memo]


def key_kwargs(model_kwargs: Mapping[str, Any]) -> dict:
    """``model_kwargs`` as it enters a cache key: ``weights`` replaced by ``"sha256:<hex>"`` of the file
    (dropped when ``None``); without weights the same dict (so existing keys stay as they were)."""
    kw = dict(model_kwargs)
    if KEY not in kw:
        return kw
    w = kw.pop(KEY)
    if w is not None:
        kw[KEY] = "sha256:" + file_sha256(w)
    return kw


def read_state_dict(path: Any) -> dict:
    """The state dict in ``path`` (see the module doc for the accepted files and layouts)."""
    p = resolve(path)
    if p.suffix.lower() in SAFETENSORS:
        from safetensors.torch import load_file
        try:
            obj: Any = load_file(str(p))
        except Exception as e:  # noqa: BLE001 - any unreadable file is one clear error
            raise WeightsError(f"weights file {p} is not a readable safetensors file ({e})") from e
    else:
        import pickle

        import torch
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            why = re.search(r"WeightsUnpickler error:\s*(.+?)(?: was not an allowed|\n\n|$)", str(e), re.S)
            raise WeightsError(
                f"weights file {p} cannot be read with torch.load(weights_only=True) "
                f"({why.group(1).strip() if why else 'not a plain tensor file'}): it holds pickled Python objects "
                f"(or is no torch file), and fairnotes never unpickles, since that can run arbitrary code. "
                f"Convert it to safetensors once, where you trust the file: obj = torch.load(path, "
                f"weights_only=False); take its state dict (obj itself, obj['model'], obj.state_dict()...) as sd; "
                f"safetensors.torch.save_file({{k: v.contiguous() for k, v in sd.items()}}, 'model.safetensors')"
            ) from None
        except Exception as e:  # noqa: BLE001
            raise WeightsError(f"weights file {p} is not a readable torch file ({e.__class__.__name__}: {e})") from e
    return _unwrap(obj, p)


def _is_state(obj: Any) -> bool:
    import torch
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _unwrap(obj: Any, path: Path) -> dict:
    while not _is_state(obj):
        inner = next((w for w in WRAPPERS if isinstance(obj, Mapping) and isinstance(obj.get(w), Mapping)), None)
        if inner is None:
            what = f"a mapping with keys {', '.join(map(repr, list(obj)[:_SHOW]))}" if isinstance(obj, Mapping) \
                else f"a {type(obj).__name__}"
            raise WeightsError(f"weights file {path} holds {what}, not a state dict: expected name → tensor, "
                               f"or one under {', '.join(map(repr, WRAPPERS))}")
        obj = obj[inner]
    state = dict(obj)
    changed = True
    while changed:
        changed = False
        for pre in PREFIXES:
            if all(k.startswith(pre) for k in state):
                state = {k[len(pre):]: v for k, v in state.items()}
                changed = True
    return state


def _module_prefix(net: Any, module: Any) -> str | None:
    for name, m in net.named_modules():
        if m is module:
            return f"{name}." if name else ""
    return None


def _listing(keys: list[str]) -> str:
    more = f", … (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return ", ".join(keys[:_SHOW]) + more


def _shape(t: Any) -> str:
    return str(tuple(t.shape))


def load_into(net: Any, path: Any, *, spec: str, head_mismatch: str = "error", num_classes: int | None = None) -> dict:
    """Load the weights file ``path`` into ``net`` (built from model spec ``spec``), strictly (see the module
    doc); returns (and keeps on ``net``, see :func:`loaded_weights`) what was done."""
    if head_mismatch not in HEAD_MISMATCH:
        raise ValueError(f"head_mismatch must be one of {', '.join(map(repr, HEAD_MISMATCH))}; got {head_mismatch!r}")
    p = resolve(path)
    state = read_state_dict(p)
    own = net.state_dict()
    info: dict[str, Any] = {"file": str(p), "sha256": file_sha256(p), "head": "loaded"}

    first = (getattr(net, "pretrained_cfg", None) or {}).get("first_conv")
    fk = f"{first}.weight" if isinstance(first, str) else None
    if fk and fk in state and fk in own:
        src, dst = state[fk], own[fk]
        if src.ndim == 4 and src.shape != dst.shape and src.shape[0] == dst.shape[0] and src.shape[2:] == dst.shape[2:]:
            from timm.models import adapt_input_conv
            state[fk] = adapt_input_conv(int(dst.shape[1]), src)
            info["stem"] = f"{fk} adapted from {src.shape[1]} to {dst.shape[1]} input channels (adapt_input_conv)"

    head = net.get_classifier() if callable(getattr(net, "get_classifier", None)) else None
    prefix = _module_prefix(net, head) if head is not None else None
    head_keys = {k for k in own if prefix is not None and prefix and k.startswith(prefix)}
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in state if k in own and state[k].shape != own[k].shape]
    body_missing = [k for k in missing if k not in head_keys]
    body_shapes = [k for k in shapes if k not in head_keys]
    if body_missing or unexpected or body_shapes:
        parts = [f"weights file {p} does not fit model {spec!r}"
                 + (f" (built for {num_classes} classes)" if num_classes is not None else "") + ":"]
        if missing:
            parts.append(f"  {len(missing)} missing key(s), in the model but not the file: {_listing(missing)}")
        if unexpected:
            parts.append(f"  {len(unexpected)} unexpected key(s), in the file but not the model: "
                         f"{_listing(unexpected)}")
        if shapes:
            parts.append(f"  {len(shapes)} shape mismatch(es), file vs model: "
                         + _listing([f"{k} {_shape(state[k])} vs {_shape(own[k])}" for k in shapes]))
        parts.append("  Is it a checkpoint of another architecture, or of other model arguments "
                     "(width=, depth=, img_size=, patch_size=...)?")
        raise WeightsError("\n".join(parts))
    head_missing = [k for k in missing if k in head_keys]
    head_shapes = [k for k in shapes if k in head_keys]
    if head_missing or head_shapes:
        k_here = getattr(head, "out_features", num_classes)
        if head_shapes:
            what = "; ".join(f"{k} is {_shape(state[k])} in the file, {_shape(own[k])} here" for k in head_shapes)
            why = f"the file's classifier does not fit the {k_here} classes of the data ({what})"
        else:
            why = f"the file has no classifier ({_listing(head_missing)} missing)"
        if head_mismatch == "error":
            raise WeightsError(f"weights file {p} for model {spec!r}: {why}. Evaluating without training needs the "
                               f"file's classifier to fit the data set's classes; training (epochs >= 1) "
                               f"re-initialises the classifier instead")
        for k in head_keys:
            state.pop(k, None)
        info["head"] = f"re-initialised: {why}"
        log.warning("%s: classifier re-initialised, %s", spec, why)
    result = net.load_state_dict(state, strict=False)
    left = [k for k in result.missing_keys if k not in head_keys and not k.endswith("num_batches_tracked")]
    if left or result.unexpected_keys:  # cannot happen after the checks above
        raise WeightsError(f"weights file {p}: load_state_dict left {left + list(result.unexpected_keys)}")
    if "stem" in info:
        log.info("%s: %s", spec, info["stem"])
    net._fairnotes_weights = info
    return info


def loaded_weights(net: Any) -> dict | None:
    """What :func:`load_into` did for ``net``: ``file``, ``sha256``, ``head`` (``"loaded"`` or
    ``"re-initialised: ..."``) and, when adapted, ``stem``; ``None`` for a model without a weights file."""
    return getattr(net, "_fairnotes_weights", None)
