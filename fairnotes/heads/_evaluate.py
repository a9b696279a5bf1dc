"""Run several heads on one pair of frozen feature sets; per-class results on dims ``head`` × ``label``."""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np
import xarray as xr

from ._common import check_train

__all__ = ["HEADS", "evaluate_heads"]

HEADS = ("linear", "crt", "knn", "ncm", "classifier", "tau_norm")
_NEED_WEIGHT = ("classifier", "tau_norm")
_PER_CLASS = ("support", "predicted", "tp", "fp", "fn", "accuracy", "precision", "f1")


def evaluate_heads(train_feats: Any, train_labels: Any, test_feats: Any, test_labels: Any, *,
                   class_names: Sequence[str], heads: Sequence[str] | None = None,
                   knn_k: int | Sequence[int] = 10, taus: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0),
                   weight: Any = None, bias: Any = None, C: float = 1.0, seed: int = 0,
                   head_kwargs: dict[str, dict] | None = None) -> xr.Dataset:
    """Fit each head on the training features and score it per class on the test features.

    Parameters
    ----------
    train_feats, train_labels, test_feats, test_labels
        Frozen features (``N×F``, ``M×F``) and integer labels ``0..K-1`` (numpy).
    class_names
        ``K`` names, in label order (fixes ``K``).
    heads
        Any of ``"linear"`` (:func:`linear_head`), ``"crt"`` (:func:`crt_head`), ``"knn"``
        (:func:`knn_head`, one head per ``k`` in ``knn_k``), ``"ncm"`` (:func:`ncm_head`),
        ``"classifier"`` (the trained classifier ``weight``, ``bias`` as it is) and
        ``"tau_norm"`` (:func:`tau_norm_head`, bias dropped, one head per ``τ`` in ``taus``).
        Default: the first four, plus the last two when ``weight`` is given.
    weight, bias
        The trained model's classifier (``K×F``, ``K``), for ``classifier`` and ``tau_norm``.
        With ``weight`` the result also holds ``weight_norm`` on ``label``.
    C
        Inverse L2 strength of ``linear`` and ``crt``.
    seed
        Seed of ``crt``'s init and sampling (the other heads are deterministic).
    head_kwargs
        Extra keyword arguments per head family, e.g. ``{"crt": {"epochs": 10}}``.

    Returns
    -------
    xr.Dataset
        Dims ``head``, ``label``, ``sample``. On ``head × label``: the variables of
        :func:`fairnotes.metrics.per_class` (``support``, ``predicted``, ``tp``, ``fp``, ``fn``,
        ``accuracy``, ``precision``, ``f1``). On ``head × sample``: ``prediction``. On ``head``:
        ``overall_accuracy``, ``balanced_accuracy``, ``fit_time_s``. On ``sample``: ``target``.
        Coords ``head`` (``"linear"``, ``"knn(k=10)"``, ``"tau_norm(tau=0.5)"``...),
        ``head_family`` and ``head_param`` (``k`` or ``τ``; NaN for the others) on ``head``;
        ``label``, ``class_name``.

    Examples
    --------
    >>> ds = evaluate_heads(xtr, ytr, xte, yte, class_names=names, heads=("linear", "knn"),
    ...                     knn_k=(1, 10))                                   # doctest: +SKIP
    >>> ds["accuracy"].to_pandas()            # head × label                 # doctest: +SKIP
    """
    from . import _knn, _linear, _ncm, _tau
    from ..metrics import per_class

    k = len(class_names)
    xtr, ytr, xte, _ = check_train(train_feats, train_labels, test_feats, k)
    yte = np.asarray(test_labels).astype(np.int64)
    if yte.shape != (len(xte),):
        raise ValueError(f"test_labels must have one label per row of test_feats ({len(xte)}); got {yte.shape}")
    if heads is None:
        heads = ("linear", "crt", "knn", "ncm") + (_NEED_WEIGHT if weight is not None else ())
    unknown = [h for h in heads if h not in HEADS]
    if unknown:
        raise ValueError(f"unknown heads {unknown}; choose from {', '.join(HEADS)}")
    if weight is None and any(h in _NEED_WEIGHT for h in heads):
        raise ValueError("heads 'classifier' and 'tau_norm' need the trained classifier's weight=")
    kw = {h: {} for h in HEADS}
    kw.update(head_kwargs or {})

    # (name, family, param, fit) per head; fit() returns logits (M×K) or labels (M)
    plan: list[tuple[str, str, float, Callable[[], np.ndarray]]] = []
    for h in heads:
        if h == "linear":
            plan.append((h, h, np.nan, lambda: _linear.linear_head(xtr, ytr, xte, num_classes=k, C=C,
                                                                   **kw["linear"])))
        elif h == "crt":
            plan.append((h, h, np.nan, lambda: _linear.crt_head(xtr, ytr, xte, num_classes=k, C=C, seed=seed,
                                                                **kw["crt"])))
        elif h == "knn":
            for kk in np.atleast_1d(knn_k):
                plan.append((f"knn(k={int(kk)})", h, float(kk),
                             lambda kk=int(kk): _knn.knn_head(xtr, ytr, xte, k=kk, num_classes=k, **kw["knn"])))
        elif h == "ncm":
            plan.append((h, h, np.nan, lambda: _ncm.ncm_head(xtr, ytr, xte, num_classes=k, **kw["ncm"])))
        elif h == "classifier":
            plan.append((h, h, np.nan, lambda: _tau.classifier_head(xte, weight, bias)))
        elif h == "tau_norm":
            for t in taus:
                plan.append((f"tau_norm(tau={float(t):g})", h, float(t),
                             lambda t=float(t): _tau.tau_norm_head(xte, weight, tau=t)))
    names = [p[0] for p in plan]
    if len(set(names)) != len(names):
        raise ValueError(f"heads repeat: {names}")

    preds, times, tables = [], [], []
    for _, _, _, fit in plan:
        t0 = time.perf_counter()
        out = np.asarray(fit())
        times.append(time.perf_counter() - t0)
        pred = out.argmax(1) if out.ndim == 2 else out  # argmax: the first maximum, the smallest label
        preds.append(pred.astype(np.int64))
        tables.append(per_class(yte, pred, labels=np.arange(k), class_names=list(class_names)))

    ds = xr.concat(tables, dim="head", coords="minimal", combine_attrs="drop")
    ds = ds[list(_PER_CLASS)]
    ds = ds.assign(
        prediction=(("head", "sample"), np.stack(preds), {"long_name": "predicted label"}),
        target=("sample", yte, {"long_name": "true label"}),
        overall_accuracy=("head", [t.attrs["overall_accuracy"] for t in tables], {"long_name": "test accuracy"}),
        balanced_accuracy=("head", [t.attrs["balanced_accuracy"] for t in tables],
                           {"long_name": "mean per-class accuracy"}),
        fit_time_s=("head", np.round(times, 4), {"long_name": "seconds to fit the head and predict"}),
    ).assign_coords(head=names, head_family=("head", [p[1] for p in plan]),
                    head_param=("head", np.array([p[2] for p in plan], dtype=float)),
                    sample=np.arange(len(yte)))
    if weight is not None:
        wn = _tau.weight_norms(weight, class_names=list(class_names))
        ds["weight_norm"] = ("label", wn.values, dict(wn.attrs))
    ds.attrs.update(n_train=len(xtr), n_test=len(xte), n_features=xtr.shape[1], C=float(C), seed=int(seed),
                    knn_weights="uniform, ties to the smallest label", ncm="Euclidean on L2-normalised features",
                    tau_norm_bias="dropped")
    return ds
