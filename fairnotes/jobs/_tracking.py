"""Per-class training dynamics, tracked inside the train job (``TrainConfig(track=True)``).

*Classes Are Not Equal* (arXiv 2402.18133) finds that harder classes attract more predictions
from other classes during training ("model prediction bias"), so that false positives dominate
their classifier gradient. This module records, per class ``c``, what that claim is about,
from the forward pass each optimiser step already makes (softmax outputs ``p`` of the logits
and the classifier input ``h``, taken with a forward pre-hook on ``get_classifier()``): no
extra forward or backward pass.

Over the training batches of an interval (each epoch, and every ``track_every_steps`` steps of
the first ``track_early_epochs`` epochs), on the augmented images the model actually saw:

- ``predicted``, ``tp``, ``fp``, ``fn``, ``support``: argmax of the logits against the target
  (a soft target, as Mixup/CutMix make, counts as its argmax class);
- ``gp``: mean ``p_c`` over samples of class ``c``; ``gn``: mean ``p_c`` over the other samples;
  ``gp_sum``, ``gn_sum`` are the sums (``gp = gp_sum / support``,
  ``gn = gn_sum / (samples - support)``);
- ``grad_pos``, ``grad_neg``: the gradient of the sum-reduced cross-entropy with respect to the
  classifier's weight row ``W_c`` is ``sum_i (p_ic - y_ic) h_i``; the samples of class ``c``
  give ``sum_{i: y_i=c} (p_ic - 1) h_i`` and the others ``sum_{i: y_i!=c} p_ic h_i``. The vectors
  are summed over the interval's batches and the norm is taken at its end, so ``grad_pos`` is the
  size of the net push the positives gave ``W_c`` over the interval (for plain SGD, the part of
  ``-ΔW_c / lr`` they account for), and it is exact under DDP after one all-reduce. For a soft
  target ``y_i`` the split is by the target's argmax and uses ``p_i - y_i``, so the two parts
  still add up to the true gradient.

At ``track_feature_epochs`` (default: the last), on the test set's classifier inputs:
``feature_variance`` (trace of the class's covariance, i.e. mean squared distance to the class
mean) and ``nearest_mean_distance`` (from the class mean to the nearest other class mean).

Result variables: ``track_<name>`` on ``epoch × label`` (and ``track_samples`` on ``epoch``);
``step_<name>`` on ``step × label`` with coord ``step`` (optimiser steps done at the interval's
end) and ``step_epoch``, ``step_samples`` on ``step``; ``feature_variance`` and
``nearest_mean_distance`` on ``feature_epoch × label``. The tracked history lives in the
checkpoint's ``history["track"]``, so a resumed run gives the same variables.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    import torch

__all__ = ["FIELDS", "check_config", "feature_epochs", "batch_stats", "summarize", "feature_stats", "Tracker",
           "with_tracking"]

# TrainConfig fields of this module: in the cache key only when track=True, so that adding them
# left every existing track=False key as it was
FIELDS = ("track", "track_every_steps", "track_early_epochs", "track_feature_epochs")
PER_CLASS = ("predicted", "tp", "fp", "fn", "support", "gp", "gn", "gp_sum", "gn_sum", "grad_pos", "grad_neg")
_LONG_NAMES = {
    "predicted": "training samples predicted as the class",
    "tp": "training samples of the class predicted as it",
    "fp": "training samples of other classes predicted as the class",
    "fn": "training samples of the class predicted as another",
    "support": "training samples of the class (target argmax)",
    "gp": "mean softmax probability of the class on its own samples",
    "gn": "mean softmax probability of the class on other classes' samples",
    "gp_sum": "sum of the class's softmax probability on its own samples",
    "gn_sum": "sum of the class's softmax probability on other classes' samples",
    "grad_pos": "norm of the classifier-row gradient from the class's own samples (summed over the interval)",
    "grad_neg": "norm of the classifier-row gradient from other classes' samples (summed over the interval)",
}
_N_SCALARS = 5  # packed columns: predicted, tp, support, gp_sum, p_sum; then the two K×F gradient blocks


def check_config(cfg: Any) -> None:
    """Validate the tracking fields of a TrainConfig (called from its ``__post_init__``)."""
    if isinstance(cfg.track_every_steps, bool) or not isinstance(cfg.track_every_steps, int) \
            or cfg.track_every_steps < 1:
        raise ValueError(f"track_every_steps must be a positive integer; got {cfg.track_every_steps!r}")
    if isinstance(cfg.track_early_epochs, bool) or not isinstance(cfg.track_early_epochs, int) \
            or cfg.track_early_epochs < 0:
        raise ValueError(f"track_early_epochs must be an integer >= 0; got {cfg.track_early_epochs!r}")
    fe = cfg.track_feature_epochs
    if fe is not None:
        if isinstance(fe, (str, bytes)) or not isinstance(fe, (list, tuple)) \
                or not all(isinstance(e, int) and not isinstance(e, bool) and 1 <= e <= cfg.epochs for e in fe):
            raise ValueError(f"track_feature_epochs must be None (the last epoch) or a list of epochs in "
                             f"1..{cfg.epochs}; got {fe!r}")


def feature_epochs(cfg: Any) -> list[int]:
    """The epochs (1-based) whose test-set features are summarised."""
    return [cfg.epochs] if cfg.track_feature_epochs is None else sorted(set(cfg.track_feature_epochs))


def batch_stats(logits: torch.Tensor, target: torch.Tensor, h: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One batch's sums, packed as a ``K × (5 + 2F)`` float64 tensor (see :func:`summarize`).

    ``target`` is ``B`` class indices or ``B × K`` soft targets; ``h`` is the classifier input
    (``B × F``). Everything stays on the device, with no host sync.
    """
    import torch
    import torch.nn.functional as F
    k = num_classes
    p = torch.softmax(logits.detach().float(), 1)
    if target.ndim == 1:
        t = target
        y = F.one_hot(t, k).to(p.dtype)
        onehot = y
    else:  # soft target: counted as its argmax class, gradient uses p - y
        y = target.detach().to(p.dtype)
        t = y.argmax(1)
        onehot = F.one_hot(t, k).to(p.dtype)
    pred = logits.detach().argmax(1)
    predicted = F.one_hot(pred, k).to(p.dtype).sum(0)
    support = onehot.sum(0)
    tp = (onehot * (pred == t).to(p.dtype)[:, None]).sum(0)
    gp_sum = (p * onehot).sum(0)
    r = p - y
    r_pos = r * onehot
    grads = torch.cat([r_pos, r - r_pos], 1).T @ h.detach().flatten(1).to(p.dtype)  # 2K × F
    scalars = torch.stack([predicted, tp, support, gp_sum, p.sum(0)], 1)
    return torch.cat([scalars, grads[:k], grads[k:]], 1).double()


def summarize(packed: np.ndarray | torch.Tensor) -> dict[str, list]:
    """Per-class values (lists of K floats, NaN where undefined) from summed :func:`batch_stats`."""
    a = np.asarray(packed.cpu() if hasattr(packed, "cpu") else packed, dtype=np.float64)
    predicted, tp, support, gp_sum, p_sum = a[:, :_N_SCALARS].T
    f = (a.shape[1] - _N_SCALARS) // 2
    n = support.sum()
    gn_sum = p_sum - gp_sum
    with np.errstate(invalid="ignore", divide="ignore"):
        gp = np.where(support > 0, gp_sum / support, np.nan)
        gn = np.where(n - support > 0, gn_sum / (n - support), np.nan)
    out = {"predicted": predicted, "tp": tp, "fp": predicted - tp, "fn": support - tp, "support": support,
           "gp": gp, "gn": gn, "gp_sum": gp_sum, "gn_sum": gn_sum,
           "grad_pos": np.linalg.norm(a[:, _N_SCALARS:_N_SCALARS + f], axis=1),
           "grad_neg": np.linalg.norm(a[:, _N_SCALARS + f:], axis=1)}
    return {key: v.tolist() for key, v in out.items()}


def feature_stats(features: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, list]:
    """Per-class ``feature_variance`` and ``nearest_mean_distance`` (NaN for an absent class).

    ``feature_variance`` is the trace of the class's (biased, 1/n) covariance: the mean squared
    distance of its samples to its mean.
    """
    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    labels = np.asarray(labels)
    k = num_classes
    means = np.full((k, x.shape[1]), np.nan)
    var = np.full(k, np.nan)
    for c in range(k):
        xc = x[labels == c]
        if len(xc):
            means[c] = xc.mean(0)
            var[c] = ((xc - means[c]) ** 2).sum(1).mean()
    d = np.sqrt(((means[:, None, :] - means[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    d = np.where(np.isnan(d), np.inf, d)
    nearest = d.min(1)
    nearest[~np.isfinite(nearest) | np.isnan(var)] = np.nan
    return {"feature_variance": var.tolist(), "nearest_mean_distance": nearest.tolist()}


class Tracker:
    """Accumulates :func:`batch_stats` in the train loop and appends summaries to ``history["track"]``.

    Call :meth:`update` after each training forward pass, :meth:`end_epoch` on every rank after
    the epoch's last step, and :meth:`record_features` (rank 0) with the epoch's test evaluation.
    """

    def __init__(self, cfg: Any, net: Any, num_classes: int, steps_per_epoch: int, rt: Any,
                 history: dict) -> None:
        self.k, self.steps, self.rt = num_classes, steps_per_epoch, rt
        self.every, self.early = cfg.track_every_steps, cfg.track_early_epochs
        self.feature_epochs = set(feature_epochs(cfg))
        self.log = history.setdefault("track", {"epoch": [], "step": [], "feature": []})
        self._h = None
        self._cur = self._epoch = None  # packed sums of the open step interval and of the epoch
        self._handle = net.get_classifier().register_forward_pre_hook(self._grab)

    def _grab(self, module: Any, args: tuple) -> None:
        if module.training:  # evaluation passes are not training batches
            self._h = args[0]

    def update(self, logits: torch.Tensor, target: torch.Tensor, epoch: int, i: int) -> None:
        """Add one training batch (``epoch`` 0-based, ``i`` its step within the epoch)."""
        if self._h is None:
            raise RuntimeError("tracking saw no classifier input: was the batch run through the model's "
                               "get_classifier()?")
        s = batch_stats(logits, target, self._h, self.k)
        self._h = None
        self._cur = s if self._cur is None else self._cur.add_(s)
        if epoch < self.early and (i + 1) % self.every == 0 and i + 1 < self.steps:
            self._flush(epoch, epoch * self.steps + i + 1)

    def _flush(self, epoch: int, step: int) -> None:
        cur, self._cur = self._cur, None
        if cur is None:
            return
        if self.rt.distributed:
            import torch.distributed as dist
            dist.all_reduce(cur)
        self._epoch = cur if self._epoch is None else self._epoch.add_(cur)
        if epoch < self.early:
            row = summarize(cur)
            self.log["step"].append({"step": step, "epoch": epoch + 1, "samples": sum(row["support"]), **row})

    def end_epoch(self, epoch: int) -> None:
        """Close the epoch (0-based ``epoch``): all-reduce, summarise, append to the history."""
        self._flush(epoch, (epoch + 1) * self.steps)
        acc, self._epoch = self._epoch, None
        if acc is not None:
            row = summarize(acc)
            self.log["epoch"].append({"epoch": epoch + 1, "samples": sum(row["support"]), **row})

    def wants_features(self, epoch: int) -> bool:
        """Whether the test features of 1-based ``epoch`` are to be summarised."""
        return epoch in self.feature_epochs

    def record_features(self, epoch: int, last: tuple, labels: np.ndarray, *, keep: bool) -> tuple:
        """Summarise ``last = (logits, features)``; return it, without the features unless ``keep``."""
        self.log["feature"].append({"epoch": epoch, **feature_stats(last[1], labels, self.k)})
        return last if keep else (last[0], None)

    def close(self) -> None:
        self._handle.remove()


def _stack(rows: Sequence[dict], name: str, k: int) -> np.ndarray:
    return np.asarray([r[name] for r in rows], dtype=np.float64).reshape(len(rows), k)


def _values(name: str, a: np.ndarray) -> np.ndarray:
    return a.astype(np.int64) if name in ("predicted", "tp", "fp", "fn", "support") else a


def with_tracking(ds: xr.Dataset, history: dict, num_classes: int) -> xr.Dataset:
    """``ds`` with the tracked variables (see the module doc) from ``history["track"]``."""
    log = history.get("track", {"epoch": [], "step": [], "feature": []})
    k = num_classes
    ep, st, fe = log["epoch"], log["step"], log["feature"]
    if [r["epoch"] for r in ep] != ds["epoch"].values.tolist():
        raise ValueError("tracked epochs do not match the history's epochs")
    data: dict[str, Any] = {}
    for name in PER_CLASS:
        attrs = {"long_name": _LONG_NAMES[name]}
        data[f"track_{name}"] = (("epoch", "label"), _values(name, _stack(ep, name, k)), attrs)
        data[f"step_{name}"] = (("step", "label"), _values(name, _stack(st, name, k)), attrs)
    data["track_samples"] = ("epoch", np.asarray([r["samples"] for r in ep], dtype=np.int64),
                             {"long_name": "training samples in the epoch (all ranks)"})
    data["step_samples"] = ("step", np.asarray([r["samples"] for r in st], dtype=np.int64),
                            {"long_name": "training samples in the interval ending at this step"})
    data["step_epoch"] = ("step", np.asarray([r["epoch"] for r in st], dtype=np.int64),
                          {"long_name": "epoch of the interval"})
    data["feature_variance"] = (("feature_epoch", "label"), _stack(fe, "feature_variance", k),
                                {"long_name": "trace of the class's test-feature covariance"})
    data["nearest_mean_distance"] = (("feature_epoch", "label"), _stack(fe, "nearest_mean_distance", k),
                                     {"long_name": "distance from the class's test-feature mean to the "
                                                   "nearest other class mean"})
    coords = {"step": np.asarray([r["step"] for r in st], dtype=np.int64),
              "feature_epoch": np.asarray([r["epoch"] for r in fe], dtype=np.int64)}
    return ds.assign(data).assign_coords(coords)
