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
                   head_kwargs: dict[str, dict] | None = None, val_feats: Any = None, val_labels: Any = None,
                   select: bool | None = None) -> xr.Dataset:
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
    val_feats, val_labels
        A validation split (``V×F``, ``V``): images the backbone and the heads never trained on,
        disjoint from the test set. Each τ (and each ``k``, when more than one is given) is
        scored on it by balanced accuracy (mean per-class accuracy); the best is the *selected*
        setting, ties going to the smaller τ and to the first ``k`` in ``knn_k``.
    select
        Add the heads ``"tau_norm(selected)"`` (with ``tau_norm``) and ``"knn(selected)"`` (with
        ``knn`` and more than one ``k``): the test predictions of the setting chosen on the
        validation split. Default: when ``val_feats`` is given. With ``select=True`` and no
        validation split nothing is chosen: τ = 1 (:data:`FALLBACK_TAU`, Kang et al.'s default)
        and the first ``k``; attr ``selection`` says which happened. The test set never chooses.

    Returns
    -------
    xr.Dataset
        Dims ``head``, ``label``, ``sample``. On ``head × label``: the variables of
        :func:`fairnotes.metrics.per_class` (``support``, ``predicted``, ``tp``, ``fp``, ``fn``,
        ``accuracy``, ``precision``, ``f1``). On ``head × sample``: ``prediction``. On ``head``:
        ``overall_accuracy``, ``balanced_accuracy``, ``fit_time_s``. On ``sample``: ``target``.
        Coords ``head`` (``"linear"``, ``"knn(k=10)"``, ``"tau_norm(tau=0.5)"``...),
        ``head_family`` and ``head_param`` (``k`` or ``τ``; NaN for the others) on ``head``;
        ``label``, ``class_name``. With selection: heads ``"knn(selected)"`` (family
        ``knn_selected``) and ``"tau_norm(selected)"`` (family ``tau_norm_selected``), whose
        ``head_param`` is the chosen ``k`` or ``τ``; ``val_balanced_accuracy`` on ``head`` (each
        candidate's and the selected head's score on the validation split; NaN elsewhere); attrs
        ``selection``, ``tau_selected``, ``knn_k_selected``, ``n_val``, ``n_val_min_per_class``.

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
    ks = [int(v) for v in np.atleast_1d(knn_k)]
    sel = _select(xtr, ytr, val_feats, val_labels, heads=heads, ks=ks, taus=[float(t) for t in taus],
                  weight=weight, k=k, select=val_feats is not None if select is None else bool(select),
                  knn_kwargs=kw["knn"])

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
            for kk in ks:
                plan.append((f"knn(k={kk})", h, float(kk),
                             lambda kk=kk: _knn.knn_head(xtr, ytr, xte, k=kk, num_classes=k, **kw["knn"])))
            if "knn_k" in sel:
                plan.append(("knn(selected)", "knn_selected", float(sel["knn_k"]),
                             lambda kk=sel["knn_k"]: _knn.knn_head(xtr, ytr, xte, k=kk, num_classes=k, **kw["knn"])))
        elif h == "ncm":
            plan.append((h, h, np.nan, lambda: _ncm.ncm_head(xtr, ytr, xte, num_classes=k, **kw["ncm"])))
        elif h == "classifier":
            plan.append((h, h, np.nan, lambda: _tau.classifier_head(xte, weight, bias)))
        elif h == "tau_norm":
            for t in taus:
                plan.append((f"tau_norm(tau={float(t):g})", h, float(t),
                             lambda t=float(t): _tau.tau_norm_head(xte, weight, tau=t)))
            if "tau" in sel:
                plan.append(("tau_norm(selected)", "tau_norm_selected", sel["tau"],
                             lambda t=sel["tau"]: _tau.tau_norm_head(xte, weight, tau=t)))
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
    if sel["scores"]:
        val = [sel["scores"].get(n, np.nan) for n in names]
        ds["val_balanced_accuracy"] = ("head", np.array(val, dtype=float),
                                       {"long_name": "balanced accuracy on the validation split (setting choice)"})
        ds.attrs.update(n_val=sel["n_val"], n_val_min_per_class=sel["n_val_min"])
    if sel["text"]:
        ds.attrs["selection"] = sel["text"]
        for key, attr in (("tau", "tau_selected"), ("knn_k", "knn_k_selected")):
            if key in sel:
                ds.attrs[attr] = sel[key]
    if weight is not None:
        wn = _tau.weight_norms(weight, class_names=list(class_names))
        ds["weight_norm"] = ("label", wn.values, dict(wn.attrs))
    ds.attrs.update(n_train=len(xtr), n_test=len(xte), n_features=xtr.shape[1], C=float(C), seed=int(seed),
                    knn_weights="uniform, ties to the smallest label", ncm="Euclidean on L2-normalised features",
                    tau_norm_bias="dropped")
    return ds


def _select(xtr: np.ndarray, ytr: np.ndarray, val_feats: Any, val_labels: Any, *, heads: Sequence[str],
            ks: list[int], taus: list[float], weight: Any, k: int, select: bool,
            knn_kwargs: dict) -> dict[str, Any]:
    """The chosen τ and k (keys ``tau``, ``knn_k`` when there is a selected head), every candidate's
    validation score by head name (``scores``), and a sentence saying how they were chosen (``text``)."""
    from . import _select as s
    from ._common import check_features
    out: dict[str, Any] = {"scores": {}, "text": ""}
    want_tau = select and "tau_norm" in heads and bool(taus)
    want_k = select and "knn" in heads and len(ks) > 1
    if not (want_tau or want_k):
        if val_feats is not None and not select:
            raise ValueError("val_feats given with select=False: nothing would use them")
        return out
    if val_feats is None:
        if val_labels is not None:
            raise ValueError("val_labels given without val_feats")
        out["text"] = (f"no validation split: nothing selected (τ = {s.FALLBACK_TAU:g}, Kang et al.'s default; "
                       "k = the first given)")
        if want_tau:
            out["tau"] = s.FALLBACK_TAU
        if want_k:
            out["knn_k"] = ks[0]
        return out
    xval = check_features("val_feats", val_feats, xtr.shape[1])
    yval = np.asarray(val_labels).astype(np.int64)
    if yval.shape != (len(xval),) or len(yval) == 0:
        raise ValueError(f"val_labels must hold one label per row of val_feats ({len(xval)}); got {yval.shape}")
    counts = np.bincount(yval, minlength=k)
    out.update(n_val=int(len(yval)), n_val_min=int(counts.min()))
    chosen = []
    if want_tau:
        order = sorted(taus)  # ties go to the smaller τ
        sc = s.tau_scores(xval, yval, weight, order)
        out["tau"] = float(order[s.choose(sc)])
        out["scores"] |= {f"tau_norm(tau={t:g})": v for t, v in zip(order, sc)}
        out["scores"]["tau_norm(selected)"] = float(sc.max())
        chosen.append(f"τ = {out['tau']:g} of {', '.join(f'{t:g}' for t in order)} (ties to the smaller τ)")
    if want_k:
        sc = s.knn_scores(xtr, ytr, xval, yval, ks, num_classes=k, **knn_kwargs)
        out["knn_k"] = int(ks[s.choose(sc)])
        out["scores"] |= {f"knn(k={kk})": v for kk, v in zip(ks, sc)}
        out["scores"]["knn(selected)"] = float(sc.max())
        chosen.append(f"k = {out['knn_k']} of {', '.join(map(str, ks))} (ties to the first)")
    out["text"] = (f"chosen by balanced accuracy on a validation split of {len(yval)} images "
                   f"({counts.min()}–{counts.max()} per class), never on the test set: " + "; ".join(chosen))
    return out
