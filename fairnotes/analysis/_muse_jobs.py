"""The laptop profile's data path for MuSE: held-out emoji, style roles, embeddings, supports, predictions.

The classes are the LiT run's *held-out base emoji* (:func:`fairnotes.zeroshot._lit_eval.holdout_mask` on
:func:`fairnotes.data.emoji_captions` of ``lit_cfg.styles`` with ``lit_cfg.holdout_fraction`` and
``lit_cfg.seed``, exactly as :func:`fairnotes.zeroshot.lit.run` draws them): no tone or style of them was seen
in training. Their images in every art style are split by *style* into three disjoint roles:

- ``query``: the test images;
- ``validation``: the images ``w`` is chosen on (another style);
- ``support``: the images the supports come from (yet other styles), so a query never shares a style with a
  support.

Two support sets stand in for a generator (:func:`supports`): ``labelled`` (every support-style image of each
class, a perfect generator) and ``retrieved`` (the top-k images of the unlabelled support-style pool by cosine
to the class's text prototype, SuS-X's alternative to generation; a retrieved image may be of the wrong class,
and :func:`retrieval_precision` says how often it is right, per class).

:func:`laptop_predictions` returns, per support setting, the ``seed × w × sample`` prediction arrays
:func:`fairnotes.analysis.muse.summarize` takes. torch is imported only inside the functions that embed.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np
import xarray as xr

__all__ = ["ROLES", "KINDS", "heldout_groups", "assign_roles", "laptop_split", "laptop_embeddings",
           "pool_embeddings", "supports", "retrieved_supports", "retrieval_precision", "predictions_for",
           "laptop_predictions", "lit_seed_configs", "train_lit"]

ROLES = ("query", "validation", "support")
KINDS = ("labelled", "retrieved")


# ------------------------------------------------------------------------------------------------ classes

def heldout_groups(lit_cfg: Any) -> tuple[str, ...]:
    """The base emoji (``group`` short names, sorted) the LiT run of ``lit_cfg`` held out of training."""
    from .. import data
    from ..zeroshot._lit_eval import holdout_mask
    caps = data.emoji_captions(lit_cfg.styles)
    held = holdout_mask(caps.labels, lit_cfg.holdout_fraction, getattr(lit_cfg, "heldout_seed", lit_cfg.seed))
    return tuple(sorted({str(caps.class_names[i]) for i in np.unique(caps.labels[held])}))


def assign_roles(styles: Sequence[str], *, query: Sequence[str] | None = None,
                 validation: Sequence[str] | None = None, support: Sequence[str] | None = None,
                 seed: int = 0) -> dict[str, tuple[str, ...]]:
    """Disjoint style roles. Roles not given are filled from the remaining ``styles`` in an order drawn
    with ``seed``: one query style, one validation style, the rest supports. Raises when roles overlap
    or one is empty."""
    styles = [str(s) for s in styles]
    given = {r: tuple(str(s) for s in v) for r, v in (("query", query), ("validation", validation),
                                                       ("support", support)) if v is not None}
    used = [s for v in given.values() for s in v]
    if len(used) != len(set(used)):
        raise ValueError(f"style roles must be disjoint; got {given}")
    unknown = set(used) - set(styles)
    if unknown:
        raise ValueError(f"styles {sorted(unknown)} are not among {styles}")
    rest = [s for s in styles if s not in used]
    rest = [rest[i] for i in np.random.default_rng(seed).permutation(len(rest))]
    out: dict[str, tuple[str, ...]] = {}
    for r in ROLES:
        if r in given:
            out[r] = given[r]
        elif r == "support":
            out[r], rest = tuple(rest), []
        else:
            out[r], rest = tuple(rest[:1]), rest[1:]
        if not out[r]:
            raise ValueError(f"no style left for the {r} role (styles {styles}, given {given})")
    return out


def laptop_split(lit_cfg: Any, *, styles: Sequence[str] | None = None, query: Sequence[str] | None = None,
                 validation: Sequence[str] | None = None, support: Sequence[str] | None = None, seed: int = 0,
                 max_per_class: int | None = None, groups: Sequence[str] | None = None, size: int = 64
                 ) -> xr.Dataset:
    """The held-out emoji of ``lit_cfg``'s LiT run as classes, their images in three disjoint style roles.

    Parameters
    ----------
    styles
        The art styles to draw images from (default every style :func:`fairnotes.data.emoji_captions` knows).
    query, validation, support
        Styles of each role; those not given are drawn from the rest with ``seed`` (:func:`assign_roles`).
    max_per_class
        At most this many images per class and role (drawn with ``seed``; default all). Emoji with
        skin-tone variants have six times as many images as the rest.
    groups
        The classes (default :func:`heldout_groups` of ``lit_cfg``).

    Returns
    -------
    xr.Dataset
        Dim ``image``: ``index`` (row of ``emoji_captions(styles, size=size)``), ``label`` (0…K−1),
        ``style``, ``role`` (:data:`ROLES`), ``skin_tone``; coord ``class_name`` (label); attrs the styles of
        each role, ``styles``, ``size``, ``seed``. Classes without a query image are dropped.
    """
    from .. import data
    from ..data.fetch_emoji import STYLES
    styles = tuple(styles) if styles is not None else tuple(STYLES)
    roles = assign_roles(styles, query=query, validation=validation, support=support, seed=seed)
    groups = tuple(groups) if groups is not None else heldout_groups(lit_cfg)
    caps = data.emoji_captions(styles, size=size)
    a = caps.attributes
    group = a["group"].astype(str).to_numpy()
    style = a["style"].astype(str).to_numpy()
    role_of = {s: r for r, ss in roles.items() for s in ss}
    role = np.array([role_of.get(s, "") for s in style], dtype=object)
    keep = np.isin(group, list(groups)) & (role != "")
    present = sorted(set(group[keep & (role == "query")]))
    keep &= np.isin(group, present)
    idx = np.flatnonzero(keep)
    if max_per_class is not None:
        rng = np.random.default_rng(seed)
        chosen = []
        for r in ROLES:
            for g in present:
                here = idx[(role[idx] == r) & (group[idx] == g)]
                chosen.append(np.sort(rng.permutation(here)[:max_per_class]))
        idx = np.sort(np.concatenate(chosen)) if chosen else idx
    code = {g: i for i, g in enumerate(present)}
    tone = a["skin_tone"].astype(str).to_numpy() if "skin_tone" in a else np.full(len(a), "none")
    ds = xr.Dataset({"index": ("image", idx.astype(np.int64)),
                     "label": ("image", np.array([code[g] for g in group[idx]], np.int64)),
                     "style": ("image", style[idx].astype(str)), "role": ("image", role[idx].astype(str)),
                     "skin_tone": ("image", tone[idx].astype(str))},
                    coords={"class_name": ("class", np.asarray(present, dtype=str))})
    ds.attrs.update({f"{r}_styles": list(v) for r, v in roles.items()})
    ds.attrs.update(styles=list(styles), size=int(size), seed=int(seed), n_heldout_groups=len(groups),
                    max_per_class=-1 if max_per_class is None else int(max_per_class))
    return ds


# ------------------------------------------------------------------------------------------------ embeddings

def image_embeddings(embedder: Any, images: Any, *, lit_cfg: Any, tag: str, selection: dict,
                     batch_size: int = 64, progress: bool | None = None, store: Any = None) -> tuple[np.ndarray, str]:
    """Unit image embeddings and the cache state (``"hit …"``/``"miss …"``).

    For the LiT model (an embedder whose ``model.visual`` has a ``trunk``) the frozen EfficientNet-Lite0
    features are cached *once for every LiT seed* (``lit_features``, keyed by the towers, the image size and
    the image bytes, as :func:`fairnotes.zeroshot.lit.run` keys its own, and by the embedder's ``precision``
    when it is not fp32) and each seed's trained projection is applied to them; any other embedder goes through
    :func:`fairnotes.zeroshot.embed_images` (its identity holds the precision).
    """
    from ..zeroshot._cache import cached_dataset, data_identity, embed_images
    visual = getattr(getattr(embedder, "model", None), "visual", None)
    if visual is None or not hasattr(visual, "trunk"):
        ds = embed_images(embedder, images, data="emoji-captions", split=tag, selection=selection,
                          batch_size=batch_size, progress=progress, store=store)
        return np.asarray(ds["embedding"].values, np.float32), str(ds.attrs.get("cache", ""))
    from ..zeroshot._lit_model import image_trunk_features, towers_identity
    from ..zeroshot.lit import _project
    towers = towers_identity()
    ran = getattr(embedder, "precision", "fp32")
    if ran != "fp32":  # the precision that runs joins the key (as lit._tower_features'); fp32 keys stay as they were
        towers = {**towers, "precision": ran}
    key = {"towers": towers, "stage": "image trunk (pooled)", "image_size": int(lit_cfg.image_size),
           "data": data_identity(images, name="emoji-captions", split=tag, selection=selection)}
    ds = cached_dataset("lit_features", f"lite0-{lit_cfg.image_size}px-{tag}", key, lambda: xr.Dataset(
        {"features": (("sample", "feature"), image_trunk_features(embedder, images, batch_size=batch_size,
                                                                  progress=progress))}),
        required=("features",), store=store)
    return np.asarray(_project(embedder, img=ds["features"].values), np.float32), str(ds.attrs.get("cache", ""))


def laptop_embeddings(lit_cfg: Any, split: xr.Dataset, *, embedder: Any = None, templates: Any = "emoji",
                      batch_size: int = 64, progress: bool | None = None, store: Any = None) -> xr.Dataset:
    """Image embeddings of the split's images and text prototypes of its class names, both cached on disk.

    Images go through :func:`image_embeddings` (keyed by the image bytes; LiT trunk features shared by seeds), text prototypes
    (:func:`fairnotes.zeroshot.zero_shot_weights` with ``templates``) through the same cache folder machinery.
    ``embedder`` defaults to :func:`fairnotes.zeroshot.lit.load_embedder` of ``lit_cfg`` (which trains the LiT
    projections when they are not cached). Returns ``embedding`` (image × dim) and ``text`` (class × dim).
    """
    from .. import data
    from ..zeroshot._cache import cached_dataset
    from ..zeroshot._classifier import zero_shot_weights
    if embedder is None:
        from ..zeroshot import lit
        embedder = lit.load_embedder(lit_cfg)
    caps = data.emoji_captions(tuple(split.attrs["styles"]), size=int(split.attrs["size"]))
    images = caps.subset(split["index"].values)
    sel = {"muse": "held-out emoji", "lit": lit_cfg.key() if hasattr(lit_cfg, "key") else str(lit_cfg),
           "styles": list(split.attrs["styles"])}
    sel = {k: v for k, v in sel.items() if k != "lit"}  # the images, not the model: the cache is shared by seeds
    img, img_cache = image_embeddings(embedder, images.images, lit_cfg=lit_cfg, tag="muse-heldout", selection=sel,
                                      batch_size=batch_size, progress=progress, store=store)
    names = [str(n) for n in split["class_name"].values]
    key = {"model": embedder.identity(), "names": names, "templates": templates}
    txt = cached_dataset("text", f"{embedder.name}-muse-classes", key, lambda: xr.Dataset(
        {"text": (("class", "dim"), np.asarray(zero_shot_weights(embedder, names, templates), np.float32))}),
        required=("text",), store=store)
    ds = split.copy()
    ds["embedding"] = (("image", "dim"), img)
    ds["text"] = (("class", "dim"), np.asarray(txt["text"].values, np.float32))
    ds.attrs.update(model=embedder.name, image_cache=img_cache,
                    text_cache=str(txt.attrs.get("cache", "")), templates=str(templates))
    return ds


def pool_embeddings(lit_cfg: Any, split: xr.Dataset, *, embedder: Any = None, batch_size: int = 64,
                    progress: bool | None = None, store: Any = None) -> xr.Dataset:
    """A wider unlabelled retrieval pool: *every* emoji image of the split's support styles (cached).

    Besides the support-role images of the classes it holds every other emoji of those styles (including
    the ones LiT trained on, in other styles), as a web-scale pool would; ``label`` is the class (0…K−1) for
    an image of one of the split's classes and −1 otherwise. Retrieval from it is the harder ("poor
    generator") regime.
    """
    from .. import data
    if embedder is None:
        from ..zeroshot import lit
        embedder = lit.load_embedder(lit_cfg)
    sup = tuple(split.attrs["support_styles"])
    caps = data.emoji_captions(sup, size=int(split.attrs["size"]))
    group = caps.attributes["group"].astype(str).to_numpy()
    code = {str(g): i for i, g in enumerate(split["class_name"].values)}
    img, img_cache = image_embeddings(embedder, caps.images, lit_cfg=lit_cfg, tag="muse-pool",
                                      selection={"styles": list(sup)}, batch_size=batch_size, progress=progress,
                                      store=store)
    return xr.Dataset({"embedding": (("pool", "dim"), img),
                       "label": ("pool", np.array([code.get(g, -1) for g in group], np.int64)),
                       "style": ("pool", caps.attributes["style"].astype(str).to_numpy())},
                      attrs={"support_styles": list(sup), "cache": img_cache})


# ------------------------------------------------------------------------------------------------ supports

def retrieval_precision(retrieved_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Per class, the share of its retrieved supports (row ``c`` of ``K × k`` true labels) that are class ``c``."""
    r = np.asarray(retrieved_labels)
    if r.ndim != 2 or r.shape[0] != n_classes:
        raise ValueError(f"retrieved_labels must be {n_classes} × k; got {r.shape}")
    return (r == np.arange(n_classes)[:, None]).mean(axis=1)


def retrieved_supports(text: np.ndarray, pool_emb: np.ndarray, pool_labels: np.ndarray, k: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The top-``k`` pool images per class by cosine to its text prototype (:func:`fairnotes.zeroshot.top_k`).

    Each retrieved image is a support *of the class that retrieved it* (its true label, ``pool_labels``, is
    not used: −1 for a pool image of no class). Returns ``(support_emb, support_labels, pool_index (K × k),
    precision (K))``.
    """
    from ..zeroshot._retrieve import top_k
    pool_emb = np.asarray(pool_emb)
    if not 1 <= int(k) <= len(pool_emb):
        raise ValueError(f"k must lie in [1, {len(pool_emb)}] (the pool size); got {k!r}")
    idx, _ = top_k(text, pool_emb, int(k))
    lab = np.repeat(np.arange(len(text)), idx.shape[1])
    prec = retrieval_precision(np.asarray(pool_labels)[idx], len(text))
    return pool_emb[idx.ravel()], lab, idx, prec


def supports(kind: str, emb: xr.Dataset, *, k: int | None = None, per_class: int | None = None, seed: int = 0,
             pool_emb: np.ndarray | None = None, pool_labels: np.ndarray | None = None) -> xr.Dataset:
    """The support set of ``kind`` (:data:`KINDS`) from :func:`laptop_embeddings`' ``emb``.

    ``labelled``: the support-role images of each class with their true labels (at most ``per_class`` per
    class, drawn with ``seed``). ``retrieved``: the top ``k`` (default 5) images per class of the unlabelled
    pool (default: the support-role images; or ``pool_emb`` with ``pool_labels``, −1 for images of no class,
    e.g. other emoji of the support styles) by cosine to the class's text prototype.

    Returns ``embedding`` (support × dim), ``label`` (support: the class it supports), ``true_label``
    (support; −1 when of no class), ``source`` (support: the image's row in the pool passed, or in
    ``emoji_captions(emb.attrs["styles"])`` for the split's own images), ``precision`` (class: share of its supports truly of the class; 1 for
    labelled) and ``n_supports`` (class).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    sup = emb["role"].values == "support"
    x, y = emb["embedding"].values[sup], emb["label"].values[sup]
    n_cls = emb.sizes["class"]
    if kind == "labelled":
        idx = np.arange(len(y))
        if per_class is not None:
            rng = np.random.default_rng(seed)
            idx = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class]
                                          for c in range(n_cls)] or [idx[:0]]))
        se, sl, true = x[idx], y[idx], y[idx]
        prec = np.where(np.bincount(sl, minlength=n_cls) > 0, 1.0, np.nan)
        source = emb["index"].values[sup][idx] if "index" in emb else idx
    else:
        own = pool_emb is None
        if own:
            pool_emb, pool_labels = x, y
        elif pool_labels is None:
            pool_labels = np.full(len(pool_emb), -1)
        se, sl, pidx, prec = retrieved_supports(emb["text"].values, pool_emb, pool_labels, k or 5)
        true = np.asarray(pool_labels)[pidx.ravel()]
        source = emb["index"].values[sup][pidx.ravel()] if own and "index" in emb else pidx.ravel()
    out = xr.Dataset({"embedding": (("support", "dim"), np.asarray(se, np.float32)),
                      "label": ("support", np.asarray(sl, np.int64)),
                      "true_label": ("support", np.asarray(true, np.int64)),
                      "source": ("support", np.asarray(source, np.int64)),
                      "precision": ("class", np.asarray(prec, float)),
                      "n_supports": ("class", np.bincount(np.asarray(sl, np.int64), minlength=n_cls))},
                     coords={"class_name": emb["class_name"]})
    out.attrs.update(kind=kind, k=-1 if k is None else int(k), per_class=-1 if per_class is None else int(per_class),
                     seed=int(seed))
    return out


# ------------------------------------------------------------------------------------------------ predictions

def predictions_for(seeds: Sequence[int], lit_cfg: Any, *, kind: str = "labelled", vary: str = "lit",
                    ws: Sequence[float] | None = None, split_kw: dict | None = None, support_kw: dict | None = None,
                    pool: str = "support", embedder_for: Any = None, progress: bool | None = None
                    ) -> tuple[xr.DataArray, np.ndarray, xr.DataArray, np.ndarray, list[str], xr.Dataset]:
    """``(val_pred, val_target, test_pred, test_target, class_names, info)`` of one support set ``kind`` with
    ``support_kw`` (:func:`supports`): :func:`laptop_predictions` with a single setting."""
    return laptop_predictions(seeds, lit_cfg, {kind: {"kind": kind, **(support_kw or {})}}, vary=vary, ws=ws,
                              split_kw=split_kw, pool=pool, embedder_for=embedder_for, progress=progress)[kind]


def lit_seed_configs(lit_cfg: Any, seeds: Sequence[int]) -> list[Any]:
    """One LiT config per training seed, all holding out the emoji of ``lit_cfg`` (``holdout_seed`` fixed)."""
    held = getattr(lit_cfg, "heldout_seed", lit_cfg.seed)
    return [replace(lit_cfg, seed=int(s), holdout_seed=held) for s in seeds]


def train_lit(cfgs: Sequence[Any], *, executor: Any = None) -> None:
    """Train the LiT projections of ``cfgs`` that are not cached yet, on ``executor``
    (:func:`fairnotes.jobs.sweep.resolve_executor`: by default ``$FAIRNOTES_EXECUTOR``'s); without one, nothing
    (:func:`fairnotes.zeroshot.lit.load_embedder` trains each when it is first asked for it, as always).

    One task per missing config (:func:`_train_lit`), through the shared cache as the sweeps' runs. When
    none of ``cfgs`` is trained yet, the first trains alone: it computes the frozen towers' features (and
    decodes the emoji) that every seed shares and caches, so that the others only train projections.
    """
    from ..jobs.sweep import resolve_executor, run_tasks
    from ..zeroshot import lit
    ex = resolve_executor(executor)
    if ex is None:
        return
    todo = list({c.key(): c for c in cfgs if not lit.projections_path(c).exists()}.values())
    if not todo:
        return
    tasks = [({"model": "LiT projections", "seed": c.seed}, c, _train_lit, (c,)) for c in todo]
    alone = 0 if len(todo) < len({c.key() for c in cfgs}) else 1  # some trained: the shared features are cached
    stage, hit = "LiT seeds", (lambda state: state == "hit")
    run_tasks(tasks[:alone], executor=ex, stage=stage, n=len(tasks), cached=hit)
    run_tasks(tasks[alone:], executor=ex, stage=stage, n=len(tasks), k0=alone, cached=hit)


def _train_lit(cfg: Any) -> str:
    """One task of :func:`train_lit`: what :func:`fairnotes.zeroshot.lit.load_embedder` does when the projections
    are missing (on the worker); ``"miss"`` (trained) or ``"hit"`` (already there)."""
    from ..results import cached
    from ..zeroshot import lit
    if lit.projections_path(cfg).exists():
        return "hit"
    cached(lit.run, cfg, refresh=True)
    return "miss"


def laptop_predictions(seeds: Sequence[int], lit_cfg: Any, settings: dict[str, dict], *, vary: str = "lit",
                       ws: Sequence[float] | None = None, split_kw: dict | None = None, pool: str = "support",
                       embedder_for: Any = None, progress: bool | None = None, executor: Any = None
                       ) -> dict[str, tuple[xr.DataArray, np.ndarray, xr.DataArray, np.ndarray, list[str], xr.Dataset]]:
    """Per setting, ``(val_pred, val_target, test_pred, test_target, class_names, info)`` for
    :func:`fairnotes.analysis.muse.summarize`, every setting on the same images and LiT models.

    ``settings`` maps a name to :func:`supports` keywords with its ``kind`` (e.g.
    ``{"labelled-1": {"kind": "labelled", "per_class": 1}, "retrieved-5": {"kind": "retrieved", "k": 5}}``).

    ``vary="lit"``: seed ``s`` is a LiT training seed (:func:`lit_seed_configs`: every seed holds out the emoji
    of ``lit_cfg``) *and* the draw of labelled supports, so the seed part of an interval covers both.
    ``vary="supports"``: one LiT model (``lit_cfg``); each seed draws the labelled supports only (retrieval is
    deterministic, so retrieved supports do not vary with it).

    ``pool`` (retrieved supports): ``"support"`` retrieves from the support-role images of the classes,
    ``"styles"`` from every emoji of the support styles (:func:`pool_embeddings`).
    ``embedder_for(cfg)`` builds the embedder of a LiT config (default :func:`fairnotes.zeroshot.lit.load_embedder`).
    ``executor``: where the LiT seeds not cached train first (:func:`train_lit`; default ``$FAIRNOTES_EXECUTOR``'s,
    else each trains here when its turn comes).
    ``info`` holds per seed and class the retrieval ``precision`` and ``n_supports``, and the split's attrs;
    for retrieved supports also ``retrieved_row`` (seed × class × rank: the image's row in
    ``emoji_captions(info.attrs["retrieved_from"], size)``) and ``retrieved_true`` (its true class, −1 for none).
    """
    from ..progress import report
    from .muse import W_GRID, mixed_predictions
    if vary not in ("lit", "supports"):
        raise ValueError(f"vary must be 'lit' or 'supports'; got {vary!r}")
    if pool not in ("support", "styles"):
        raise ValueError(f"pool must be 'support' or 'styles'; got {pool!r}")
    if not settings:
        raise ValueError("settings is empty: name at least one support set")
    for name, kw in settings.items():
        if kw.get("kind") not in KINDS:
            raise ValueError(f"setting {name!r}: kind must be one of {', '.join(KINDS)}; got {kw.get('kind')!r}")
    seeds = [int(s) for s in seeds]
    ws = list(W_GRID if ws is None else ws)
    split_kw = dict(split_kw or {})
    cfgs = lit_seed_configs(lit_cfg, seeds) if vary == "lit" else [lit_cfg] * len(seeds)
    if embedder_for is None:
        train_lit(cfgs, executor=executor)
    split_kw.setdefault("groups", heldout_groups(lit_cfg))
    split = laptop_split(lit_cfg, **split_kw)
    role = split["role"].values
    val, test = role == "validation", role == "query"
    yv, yt = split["label"].values[val], split["label"].values[test]
    need_pool = pool == "styles" and any(kw["kind"] == "retrieved" for kw in settings.values())
    out: dict[str, dict[str, list]] = {n: {"vp": [], "tp": [], "prec": [], "nsup": []} for n in settings}
    memo: dict[str, tuple] = {}
    for i, (s, cfg) in enumerate(zip(seeds, cfgs), 1):
        report("MuSE: seeds", k=i, n=len(seeds), seed=s)  # the status line of `fairnotes run`
        key = cfg.key() if hasattr(cfg, "key") else str(cfg)
        if key not in memo:  # one embedder and one cache read per LiT model
            e = None if embedder_for is None else embedder_for(cfg)
            if e is None:
                from ..zeroshot import lit
                e = lit.load_embedder(cfg)
            emb = laptop_embeddings(cfg, split, embedder=e, progress=progress)
            pl = pool_embeddings(cfg, split, embedder=e, progress=progress) if need_pool else None
            memo[key] = (emb, pl)
        emb, pl = memo[key]
        x, t = emb["embedding"].values, emb["text"].values
        for name, kw in settings.items():
            kw = {k: v for k, v in kw.items() if k != "kind"} | {"seed": s}
            if pl is not None and settings[name]["kind"] == "retrieved":
                kw.update(pool_emb=pl["embedding"].values, pool_labels=pl["label"].values)
            sup = supports(settings[name]["kind"], emb, **kw)
            se, sl = sup["embedding"].values, sup["label"].values
            o = out[name]
            o["vp"].append(mixed_predictions(x[val], t, se, sl, ws))
            o["tp"].append(mixed_predictions(x[test], t, se, sl, ws))
            o["prec"].append(sup["precision"].values)
            o["nsup"].append(sup["n_supports"].values)
            if settings[name]["kind"] == "retrieved":
                o.setdefault("rows", []).append(sup["source"].values.reshape(len(t), -1))
                o.setdefault("true", []).append(sup["true_label"].values.reshape(len(t), -1))
    coords = {"seed": seeds, "w": np.asarray(ws, float)}
    names = [str(n) for n in split["class_name"].values]
    result = {}
    for name, o in out.items():
        info = xr.Dataset({"precision": (("seed", "class"), np.stack(o["prec"])),
                           "n_supports": (("seed", "class"), np.stack(o["nsup"]))},
                          coords={"seed": seeds, "class_name": ("class", names)},
                          attrs={**split.attrs, **{k: v for k, v in settings[name].items() if v is not None},
                                 "vary": vary, "pool": pool})
        if "rows" in o:  # which images each class retrieved: rows of emoji_captions(retrieved_from)
            info["retrieved_row"] = (("seed", "class", "rank"), np.stack(o["rows"]))
            info["retrieved_true"] = (("seed", "class", "rank"), np.stack(o["true"]))
            info.attrs["retrieved_from"] = list(split.attrs["support_styles"] if pool == "styles"
                                                else split.attrs["styles"])
        result[name] = (xr.DataArray(np.stack(o["vp"]), dims=("seed", "w", "sample"), coords=coords), yv,
                        xr.DataArray(np.stack(o["tp"]), dims=("seed", "w", "sample"), coords=coords), yt, names, info)
    return result
