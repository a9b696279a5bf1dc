"""Train the laptop LiT model on emoji captions and measure what it can do zero-shot.

>>> from fairnotes.zeroshot import lit
>>> from fairnotes.results import cached
>>> ds = cached(lit.run, lit.LitConfig())                       # doctest: +SKIP
>>> ds["accuracy"].sel(group="all")                              # doctest: +SKIP
>>> emb = lit.load_embedder(lit.LitConfig())                     # doctest: +SKIP

Command line (writes the result netCDF): ``python -m fairnotes.zeroshot.lit --out lit.nc
[--config cfg.yaml] [--set epochs=20 ...]``.

The model (:mod:`fairnotes.zeroshot._lit_model`) is open_clip's ``CustomTextCLIP`` with frozen
EfficientNet-Lite0 and MiniLM towers; only the two MLP projections and the logit scale train, with
open_clip's ``ClipLoss``, on (image, caption) pairs of every emoji that is not an EmojiProf
profession (:func:`fairnotes.data.emoji_captions`). Because the towers are frozen, their outputs
are computed once and cached (``$FAIRNOTES_CACHE/zeroshot/lit_features``); training then touches
only the projections, so a re-run with other training settings takes a minute or two.

Held out: ``holdout_fraction`` of the *base emoji* (all their tones and styles), never seen in
training. The result (``xr.Dataset``):

- ``recall`` / ``recall_chance`` (direction × k): held-out retrieval, ``image_to_text`` and
  ``text_to_image`` among the held-out images and all their captions, and ``image_to_name``
  without the tone phrases (which training emoji share) among the candidates;
- ``accuracy``, ``accuracy_lower``, ``accuracy_upper``, ``n`` (task × group): zero-shot accuracy on
  EmojiProf for tasks ``profession`` (20 classes), ``skin_tone`` (5 tones; no-tone images excluded)
  and ``gender`` (man vs woman; person excluded), overall (``group="all"``) and per gender, skin
  tone and style, with bootstrap intervals; ``chance`` (task) is ``1 / n_classes``;
- ``profession_accuracy`` (+ bounds) per profession (``label``);
- ``support_accuracy`` (+ bounds) over text weight ``w``: profession accuracy when each style's
  images are classified with :func:`~fairnotes.zeroshot.mix_prototypes` whose image part is the
  mean of the *other* styles' profession images (a preview of MuSE with labelled supports);
- ``train_loss`` and ``heldout_r1`` (epoch): the CLIP loss and held-out image→name R@1 per epoch.

The projections are saved with safetensors next to the cache (attr ``projections``);
:func:`load_embedder` returns the trained model as an :class:`~fairnotes.zeroshot.OpenClipEmbedder`.
"""
from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["LitConfig", "run", "load_embedder", "projections_path", "main"]

_NOT_IN_KEY = ("progress",)
RESULT_VERSION = 4  # bump when run() changes what it computes, so cached results are redone
SUPPORT_WEIGHTS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)  # text weights of the cross-style support check


@dataclass(frozen=True)
class LitConfig:
    """Settings of one LiT training run (see the module doc).

    ``styles`` are the training images' art styles; ``eval_styles`` EmojiProf's. ``templates``
    maps each task to a template-set name or a format string (see :func:`fairnotes.zeroshot.templates`).
    ``seed`` draws the projections' initialisation and the batches; ``holdout_seed`` (default: ``seed``)
    draws the held-out emoji, so several training seeds can share one set of held-out classes
    (``LitConfig(seed=s, holdout_seed=0)``). A ``holdout_seed`` equal to ``seed`` is stored as ``None``,
    so it names the same run (and cache key) as leaving it out.

    ``tone_drop`` plants a bias: that share of the training images whose skin tone is among ``tone_drop_tones``
    lose their tone-phrase captions (drawn with ``seed``), so the model learns those tones' names from fewer
    examples. At 0 (the default) neither field enters the cache key.

    ``precision``: ``"fp32"`` (default, not in the key) or ``"bf16"``, the frozen towers' precision (bf16
    autocast where the device has native bf16; see :class:`~fairnotes.zeroshot.OpenClipEmbedder`). The
    projections always train in float32. Attrs ``precision_asked`` / ``precision_ran`` record it.
    """

    styles: tuple[str, ...] = ("google", "twitter")
    eval_styles: tuple[str, ...] = ("google", "twitter", "openmoji", "fluent")
    image_size: int = 128
    embed_dim: int = 256
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.05
    holdout_fraction: float = 0.1
    seed: int = 0
    holdout_seed: int | None = None
    tone_drop: float = 0.0
    tone_drop_tones: tuple[str, ...] = ("5", "6")
    templates: dict = field(default_factory=lambda: {"profession": "emoji", "skin_tone": "{}", "gender": "emoji"})
    n_boot: int = 1000
    device: str = "cpu"
    progress: bool | None = None
    precision: str = "fp32"

    def __post_init__(self) -> None:
        from .._torch import check_precision
        from ..data.fetch_emoji import check_styles
        check_precision(self.precision)
        object.__setattr__(self, "styles", tuple(check_styles(self.styles)))
        object.__setattr__(self, "eval_styles", tuple(check_styles(self.eval_styles)))
        for name in ("image_size", "embed_dim", "epochs", "batch_size", "n_boot"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}")
        if self.image_size < 32:
            raise ValueError(f"image_size must be at least 32 px for EfficientNet-Lite0; got {self.image_size}")
        if not 0 <= float(self.tone_drop) <= 1:
            raise ValueError(f"tone_drop must lie in [0, 1]; got {self.tone_drop!r}")
        object.__setattr__(self, "tone_drop_tones", tuple(str(t) for t in self.tone_drop_tones))
        if self.holdout_seed is not None:
            if isinstance(self.holdout_seed, bool) or not isinstance(self.holdout_seed, int):
                raise ValueError(f"holdout_seed must be an integer or None; got {self.holdout_seed!r}")
            if self.holdout_seed == self.seed:
                object.__setattr__(self, "holdout_seed", None)
        unknown = set(self.templates) - {"profession", "skin_tone", "gender"}
        if unknown:
            raise ValueError(f"templates keys must be among profession, skin_tone, gender; got {sorted(unknown)}")

    def key(self) -> str:
        from ..results import config_hash
        return config_hash({"result_version": RESULT_VERSION,
                            **{f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_IN_KEY
                               and not (f.name == "holdout_seed" and self.holdout_seed is None)
                               and not (f.name in ("tone_drop", "tone_drop_tones") and not self.tone_drop)
                               and not (f.name == "precision" and self.precision == "fp32")}})

    @property
    def heldout_seed(self) -> int:
        """The seed that draws the held-out emoji (``holdout_seed``, or ``seed`` when that is None)."""
        return self.seed if self.holdout_seed is None else int(self.holdout_seed)


def projections_path(cfg: LitConfig) -> Path:
    """Where :func:`run` saves the trained projections (safetensors)."""
    from .._paths import cache_dir
    return cache_dir("zeroshot", "lit") / f"{cfg.key()}.safetensors"


def _embedder(cfg: LitConfig) -> Any:
    from ._embedder import OpenClipEmbedder
    from ._lit_model import create_lit_model
    model, tok, name = create_lit_model(embed_dim=cfg.embed_dim, image_size=cfg.image_size, seed=cfg.seed,
                                        device=cfg.device)
    return OpenClipEmbedder(model, tok, name=name, device=cfg.device, precision=cfg.precision)


def _tower_features(cfg: LitConfig, emb: Any) -> dict:
    """Frozen-tower features of the caption images, the captions and EmojiProf (cached on disk)."""
    from .. import data
    from ._cache import cached_dataset, data_identity
    from ._lit_model import image_trunk_features, text_tower_features, towers_identity
    caps = data.emoji_captions(cfg.styles)
    prof = data.load("emojiprof", "test", styles=cfg.eval_styles)
    towers = towers_identity()
    if emb.precision != "fp32":  # the precision that runs; float32 keys stay as they were
        towers = {**towers, "precision": emb.precision}
    out, times = {"captions": caps, "prof": prof}, {}
    for tag, var, images in (("emoji-captions", "x_captions", caps), ("emojiprof", "x_prof", prof)):
        key = {"towers": towers, "stage": "image trunk (pooled)", "image_size": cfg.image_size,
               "data": data_identity(images, selection={"styles": list(images.meta.get("packages", {}))})}
        ds = cached_dataset("lit_features", f"lite0-{cfg.image_size}px-{tag}", key, lambda im=images: xr.Dataset(
            {"features": (("sample", "feature"), image_trunk_features(emb, im, progress=cfg.progress))}),
            required=("features",))
        out[var] = ds["features"].values
        times[tag] = float(ds.attrs.get("wall_time_s", 0.0))
    pairs = data.caption_pairs(caps)
    texts = sorted(set(pairs["caption"]))
    key = {"towers": towers, "stage": "text (mean-pooled)", "texts": texts}
    ds = cached_dataset("lit_features", "minilm-emoji-captions", key, lambda: xr.Dataset(
        {"features": (("text", "feature"), text_tower_features(emb, texts)), "caption": ("text", texts)}),
        required=("features",))
    out["x_text"], out["texts"], out["pairs"] = ds["features"].values, texts, pairs
    times["text"] = float(ds.attrs.get("wall_time_s", 0.0))
    out["times"] = times
    return out


def _dropped_tone_pairs(cfg: LitConfig, caps: Any, pairs: Any) -> np.ndarray:
    """True for the tone-phrase pairs removed by ``cfg.tone_drop``: of the images showing one of
    ``cfg.tone_drop_tones``, a random share ``tone_drop`` (drawn with ``cfg.seed``) lose their tone captions."""
    drop = np.zeros(len(pairs), bool)
    if not cfg.tone_drop:
        return drop
    tones = caps.attributes["skin_tone"].astype(str).to_numpy()
    shows = np.array([bool(set(t.split(",")) & set(cfg.tone_drop_tones)) for t in tones])
    cand = np.flatnonzero(shows)
    rng = np.random.default_rng([int(cfg.seed), 7])
    chosen = rng.permutation(cand)[: int(round(cfg.tone_drop * cand.size))]
    lose = np.zeros(len(tones), bool)
    lose[chosen] = True
    return (pairs["kind"].to_numpy() == "tone") & lose[pairs["image"].to_numpy()]


def _project(emb: Any, img: np.ndarray | None = None, txt: np.ndarray | None = None) -> np.ndarray:
    import torch
    import torch.nn.functional as F
    head = emb.model.visual.head if img is not None else emb.model.text.proj
    with torch.no_grad():
        x = torch.from_numpy(np.asarray(img if img is not None else txt, np.float32))
        return F.normalize(head(x), dim=-1).numpy()


def _train(cfg: LitConfig, emb: Any, feats: dict, train_pairs: Any, eval_fn: Any) -> tuple[list, list]:
    import torch
    import torch.nn.functional as F
    from open_clip.loss import ClipLoss

    from .._torch import progress
    from ..progress import report
    model = emb.model
    img = torch.from_numpy(feats["x_captions"]).float()
    txt = torch.from_numpy(feats["x_text"]).float()
    pi = torch.from_numpy(train_pairs[0]).long()
    pt = torch.from_numpy(train_pairs[1]).long()
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)
    steps_per_epoch = max(1, len(pi) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.1, anneal_strategy="cos")
    loss_fn = ClipLoss()
    gen = torch.Generator().manual_seed(cfg.seed)
    losses, r1 = [], []
    bar = progress(range(cfg.epochs), enable=cfg.progress, desc="LiT projections", unit="epoch")
    for i in bar:
        report(model="LiT projections", seed=cfg.seed, epoch=i + 1, epochs=cfg.epochs)
        perm = torch.randperm(len(pi), generator=gen)
        total = 0.0
        for s in range(steps_per_epoch):  # the last partial batch is dropped (as open_clip does)
            b = perm[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            ie = F.normalize(model.visual.head(img[pi[b]]), dim=-1)
            te = F.normalize(model.text.proj(txt[pt[b]]), dim=-1)
            loss = loss_fn(ie, te, model.logit_scale.exp())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            total += loss.item()
        losses.append(total / steps_per_epoch)
        r1.append(eval_fn())
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{losses[-1]:.3f}", heldout_r1=f"{r1[-1]:.3f}")
    return losses, r1


def run(cfg: LitConfig) -> xr.Dataset:
    """Train the projections, save them (safetensors) and measure retrieval and zero-shot accuracy."""
    import torch
    from safetensors.torch import save_file

    from . import _lit_eval as ev
    from ._lit_model import projection_state
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    emb = _embedder(cfg)
    feats = _tower_features(cfg, emb)
    t_feat = time.perf_counter() - t0
    pairs, caps = feats["pairs"], feats["captions"]
    text_index = {t: i for i, t in enumerate(feats["texts"])}
    pair_text = pairs["caption"].map(text_index).to_numpy()
    held_img = ev.holdout_mask(caps.labels, cfg.holdout_fraction, cfg.heldout_seed)
    held_pair = held_img[pairs["image"].to_numpy()]
    keep = ~held_pair & ~_dropped_tone_pairs(cfg, caps, pairs)
    train = (pairs["image"].to_numpy()[keep], pair_text[keep])
    # held-out retrieval: held-out images against the captions of held-out emoji
    h_img = np.flatnonzero(held_img)
    h_txt = np.unique(pair_text[held_pair])
    positive = np.zeros((len(h_img), len(h_txt)), bool)
    row, col = {i: r for r, i in enumerate(h_img)}, {t: c for c, t in enumerate(h_txt)}
    for i, t in zip(pairs["image"].to_numpy()[held_pair], pair_text[held_pair]):
        positive[row[i], col[t]] = True
    # tone phrases are shared with training emoji; "image_to_name" leaves them out of the candidates
    tone = set(pairs.loc[pairs["kind"] == "tone", "caption"])
    named = np.array([feats["texts"][t] not in tone for t in h_txt])

    def heldout(ks: tuple[int, ...] = (1,)) -> dict:
        qi = _project(emb, img=feats["x_captions"][h_img])
        qt = _project(emb, txt=feats["x_text"][h_txt])
        return {"image_to_text": ev.recall_at_k(qi, qt, positive, ks),
                "text_to_image": ev.recall_at_k(qt, qi, positive.T, ks),
                "image_to_name": ev.recall_at_k(qi, qt[named], positive[:, named], ks)}

    t1 = time.perf_counter()
    losses, r1 = _train(cfg, emb, feats, train, lambda: float(heldout()["image_to_name"][0][0]))
    t_train = time.perf_counter() - t1
    path = projections_path(cfg)
    # a temp file of this job's own: two processes training the same config (two sweeps on a cluster) each
    # write theirs whole, and the rename makes one of them the file
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp")
    try:
        save_file(projection_state(emb.model), str(tmp), metadata={"config_key": cfg.key()})
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)

    ks = (1, 5, 10)
    rec = heldout(ks)
    n_q = {"image_to_text": positive.any(1).sum(), "text_to_image": positive.any(0).sum(),
           "image_to_name": positive[:, named].any(1).sum()}
    ds = xr.Dataset(
        {"recall": (("direction", "k"), np.stack([r[0] for r in rec.values()]),
                    {"long_name": "held-out retrieval recall@k"}),
         "recall_chance": (("direction", "k"), np.stack([r[1] for r in rec.values()]),
                           {"long_name": "recall@k of a random ranking"}),
         "n_queries": ("direction", [int(n_q[d]) for d in rec]),
         "train_loss": ("epoch", np.asarray(losses), {"long_name": "CLIP loss (training pairs)"}),
         "heldout_r1": ("epoch", np.asarray(r1), {"long_name": "held-out image→name recall@1"})},
        coords={"direction": list(rec), "k": list(ks), "epoch": np.arange(1, cfg.epochs + 1)})
    zs = _zero_shot(cfg, emb, feats)
    ds = xr.merge([ds, zs], combine_attrs="override")
    ds.attrs.update(
        {"model": emb.name, "projections": f"$FAIRNOTES_CACHE/zeroshot/lit/{path.name}", "n_train_pairs": int(keep.sum()),
         "n_heldout_pairs": int(held_pair.sum()), "n_train_images": int((~held_img).sum()),
         "n_heldout_images": int(held_img.sum()), "n_emoji_groups": int(caps.num_classes),
         "n_heldout_groups": int(np.unique(caps.labels[held_img]).size), "n_captions": len(feats["texts"]),
         "feature_time_s": round(t_feat, 2), "train_time_s": round(t_train, 2),
         "feature_compute_s": str({k: round(v, 1) for k, v in feats["times"].items()}),
         "data_source": caps.source, "eval_source": feats["prof"].source,
         "precision_asked": cfg.precision, "precision_ran": emb.precision,
         **({"precision_note": emb.precision_note} if emb.precision_note else {})})
    return ds


def _zero_shot(cfg: LitConfig, emb: Any, feats: dict) -> xr.Dataset:
    from . import _lit_eval as ev
    from ._classifier import predict, zero_shot_weights
    from ._prompts import classnames
    prof = feats["prof"]
    a = prof.attributes
    x = _project(emb, img=feats["x_prof"])
    tones, genders = classnames("skin_tone"), classnames("gender")
    tasks = {"profession": (np.ones(len(a), bool), np.asarray(prof.labels), list(prof.class_names)),
             "skin_tone": (a["skin_tone"].astype(str).isin(list(tones)).to_numpy(),
                           a["skin_tone"].astype(str).map({k: i for i, k in enumerate(tones)}).to_numpy(),
                           list(tones.values())),
             "gender": (a["gender"].astype(str).isin(list(genders)).to_numpy(),
                        a["gender"].astype(str).map({k: i for i, k in enumerate(genders)}).to_numpy(),
                        list(genders.values()))}
    groups = ["all", *[f"gender={g}" for g in a["gender"].cat.categories],
              *[f"skin_tone={t}" for t in a["skin_tone"].cat.categories],
              *[f"style={s}" for s in a["style"].cat.categories]]
    shape = (len(ev.TASKS), len(groups))
    acc, lo, hi = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    n = np.zeros(shape, np.int64)
    prompts, chance = [], []
    for ti, task in enumerate(ev.TASKS):
        mask, y, names = tasks[task]
        w = zero_shot_weights(emb, names, cfg.templates.get(task, "emoji"))
        correct = predict(x[mask], w) == np.asarray(y[mask], np.int64)
        chance.append(1 / len(names))
        prompts.append(f"{task}: {cfg.templates.get(task, 'emoji')} × {names}")
        for attr in ("all", "gender", "skin_tone", "style"):
            g = np.full(mask.sum(), "all") if attr == "all" else \
                np.array([f"{attr}={v}" for v in a[attr].astype(str).to_numpy()[mask]])
            cols = [i for i, name in enumerate(groups) if name == "all" or name.startswith(f"{attr}=")]
            cols = [c for c in cols if (groups[c] == "all") == (attr == "all")]
            r = ev.group_accuracy(correct, g, [groups[c] for c in cols], n_boot=cfg.n_boot, seed=cfg.seed)
            acc[ti, cols], lo[ti, cols], hi[ti, cols], n[ti, cols] = r
        if task == "profession":
            from ..metrics import per_class_ci
            pc = per_class_ci(y, predict(x, w), labels=np.arange(len(names)), class_names=names, n_boot=cfg.n_boot,
                              seed=cfg.seed)
            styles = a["style"].astype(str).to_numpy()
            sup = ev.cross_style_supports(x, np.asarray(y, np.int64), styles, w, SUPPORT_WEIGHTS) \
                if len(set(styles)) > 1 else None
    dims = ("task", "group")
    extra = {}
    if sup is not None:
        r = [ev.group_accuracy(c, np.full(len(c), "all"), ["all"], n_boot=cfg.n_boot, seed=cfg.seed) for c in sup]
        extra = {"support_accuracy": ("w", [v[0][0] for v in r], {
                     "long_name": "profession accuracy, prototypes w·text + (1−w)·mean image of the other styles"}),
                 "support_accuracy_lower": ("w", [v[1][0] for v in r]),
                 "support_accuracy_upper": ("w", [v[2][0] for v in r])}
    return xr.Dataset(
        {"accuracy": (dims, acc, {"long_name": "zero-shot accuracy"}),
         "accuracy_lower": (dims, lo, {"long_name": "accuracy, lower 95% bound (bootstrap within group)"}),
         "accuracy_upper": (dims, hi, {"long_name": "accuracy, upper 95% bound (bootstrap within group)"}),
         "n": (dims, n, {"long_name": "images in the group"}),
         "chance": ("task", np.asarray(chance), {"long_name": "chance accuracy (1 / classes)"}),
         "profession_accuracy": ("label", pc["accuracy"].values),
         "profession_accuracy_lower": ("label", pc["accuracy_lower"].values),
         "profession_accuracy_upper": ("label", pc["accuracy_upper"].values), **extra},
        coords={"task": list(ev.TASKS), "group": groups, "label": np.arange(len(prof.class_names)),
                **({"w": list(SUPPORT_WEIGHTS)} if extra else {}),
                "class_name": ("label", list(prof.class_names))},
        attrs={"prompts": "; ".join(prompts)})



def load_embedder(cfg: LitConfig | None = None, *, device: str | None = None, precision: str | None = None) -> Any:
    """The trained LiT model of ``cfg`` as an :class:`~fairnotes.zeroshot.OpenClipEmbedder`.

    ``precision`` (default ``cfg.precision``): the embedder's, ``"fp32"`` or ``"bf16"``.

    Trains it first (through :func:`fairnotes.results.cached`) when its projections are not in the cache.
    """
    from dataclasses import replace

    from ..results import cached
    from ._embedder import OpenClipEmbedder
    from ._lit_model import create_lit_model, load_projections
    cfg = cfg or LitConfig()
    path = projections_path(cfg)
    if not path.exists():
        cached(run, cfg, refresh=True)
    model, tok, name = create_lit_model(embed_dim=cfg.embed_dim, image_size=cfg.image_size, seed=cfg.seed,
                                        device=device or cfg.device)
    load_projections(model, path)
    emb = OpenClipEmbedder(model, tok, name=name, device=device or cfg.device, weights_tag=f"lit:{cfg.key()}",
                           precision=precision or cfg.precision)
    return emb


def main(argv: list[str] | None = None) -> int:
    """``python -m fairnotes.zeroshot.lit [--config cfg.yaml] [--set key=value ...] [--out result.nc]``."""
    from ..jobs._config import cli_config
    from ..results import cache_path, cached, save
    cfg, out = cli_config(LitConfig, "fairnotes.zeroshot.lit", __doc__, argv)
    ds = cached(run, cfg)
    path = Path(out) if out else cache_path(run, cfg)
    if out:
        ds.attrs.pop("cache", None)
        save(ds, path)
    acc = ds["accuracy"].sel(group="all")
    print(f"{'wrote' if out else 'cached'} {path}")
    for d in ds["direction"].values:
        r, c = ds["recall"].sel(direction=d), ds["recall_chance"].sel(direction=d)
        print(f"held-out {d}: R@1 {float(r.sel(k=1)):.3f} (chance {float(c.sel(k=1)):.4f}), "
              f"R@5 {float(r.sel(k=5)):.3f} (chance {float(c.sel(k=5)):.4f})")
    for task in acc["task"].values:
        print(f"zero-shot {task}: {float(acc.sel(task=task)):.3f} "
              f"[{float(ds['accuracy_lower'].sel(task=task, group='all')):.3f}, "
              f"{float(ds['accuracy_upper'].sel(task=task, group='all')):.3f}] "
              f"(chance {float(ds['chance'].sel(task=task)):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
