"""Zero-shot classifiers from class names and prompts, built with ``open_clip.build_zero_shot_classifier``.

A class's text prototype is the L2-normalised mean of the normalised embeddings of its prompts
(open_clip's construction). Logits are ``image_emb @ weights.T`` with both sides normalised;
the logit scale does not change the argmax, so it is left out.

>>> import numpy as np
>>> predict(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32)).tolist()
[0, 1]
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["zero_shot_weights", "logits", "predict"]


def zero_shot_weights(embedder: Any, classnames: Sequence[str], templates: Sequence[str | Callable] | str | None = None,
                      *, descriptions: Mapping[str, Sequence[str]] | str | Path | None = None,
                      batch_classes: int = 10) -> np.ndarray:
    """Text prototypes ``K × D`` (unit rows) of ``classnames`` for ``embedder``.

    Parameters
    ----------
    embedder
        An :class:`~fairnotes.zeroshot.Embedder` (its ``model`` and ``tokenize`` go to open_clip).
    classnames
        The text of each class, in label order.
    templates
        Format strings with ``{}`` (or callables), one such string, or the name of a set
        (:func:`templates`); default ``"photo"``. Every class gets every template.
    descriptions
        CuPL-style per-class sentences, a dict or a JSON file ``{class: [sentences]}``; replaces
        templates (each class's sentences are its prompts; counts may differ between classes).
        Keys are the ``classnames``.
    batch_classes
        Classes per text forward pass.
    """
    import open_clip
    import torch

    from ._prompts import load_descriptions
    from ._prompts import templates as template_set
    names = [str(c) for c in classnames]
    if not names:
        raise ValueError("classnames is empty")
    if descriptions is not None and templates is not None:
        raise ValueError("pass templates or descriptions, not both")
    device = getattr(embedder, "device", "cpu")
    if descriptions is not None:
        desc = load_descriptions(descriptions, names)
        # one class at a time: its own sentences are its "templates" (a string without {} formats to itself)
        cols = [open_clip.build_zero_shot_classifier(embedder.model, embedder.tokenize, [c], _literal(desc[c]),
                                                     num_classes_per_batch=None, device=device)
                for c in names]
        w = torch.cat(cols, dim=1)
    else:
        if templates is None or (isinstance(templates, str) and "{" not in templates):
            tpl = template_set(templates or "photo")
        else:
            tpl = (templates,) if isinstance(templates, str) else tuple(templates)
        if not tpl:
            raise ValueError("templates is empty")
        w = open_clip.build_zero_shot_classifier(embedder.model, embedder.tokenize, names, list(tpl),
                                                 num_classes_per_batch=batch_classes, device=device)
    return w.T.float().cpu().numpy().astype(np.float32, copy=False)


def _literal(sentences: Sequence[str]) -> list[str]:
    """Sentences as format strings that produce themselves (braces escaped)."""
    return [s.replace("{", "{{").replace("}", "}}") for s in sentences]


def logits(image_emb: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Cosine similarities ``N × K`` of image embeddings and class prototypes (both renormalised)."""
    x = np.asarray(image_emb, dtype=np.float32)
    w = np.asarray(weights, dtype=np.float32)
    x = x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
    w = w / np.linalg.norm(w, axis=1, keepdims=True).clip(1e-12)
    return x @ w.T


def predict(image_emb: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Predicted class index of each image (argmax of :func:`logits`)."""
    return logits(image_emb, weights).argmax(axis=1)
