"""The one small type every loader returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images with integer labels, class names and provenance.

    Attributes
    ----------
    name, split
        Registry name (``"fashion-mnist"``) and split (``"train"``/``"test"``...).
    images
        ``N×C×H×W`` ``uint8`` array. For large folder datasets it is a lazy sequence
        whose items are ``C×H×W`` ``uint8`` arrays (see :class:`LazyImages`).
    labels
        ``int64`` array of shape ``(N,)`` with values in ``range(len(class_names))``.
    class_names
        One name per class, in label order.
    attributes
        Optional per-sample table (a :class:`pandas.DataFrame` with N rows), e.g. demographic
        groups; ``None`` when the data set has none.
    source, license
        Where the data came from, and under which licence.
    """

    name: str
    split: str
    images: Any
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str
    license: str
    attributes: Any = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        if self.attributes is not None and len(self.attributes) != len(self.labels):
            raise ValueError("attributes must have one row per image")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(C, H, W)`` of one image (of the first image for lazy data)."""
        return tuple(np.asarray(self.images[0]).shape)

    def counts(self) -> np.ndarray:
        """Images per class, in label order."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def subset(self, index: np.ndarray) -> ImageSet:
        """A new :class:`ImageSet` with the samples at ``index`` (in that order); ``meta`` arrays with one row per
        sample (such as ``multi_hot``) are subset with them."""
        index = np.asarray(index)
        images = self.images[index] if isinstance(self.images, np.ndarray) else self.images.take(index)
        attrs = None if self.attributes is None else self.attributes.iloc[index].reset_index(drop=True)
        n = len(self.labels)  # per-sample arrays in meta (e.g. multi-hot targets) follow the samples
        meta = {k: (v[index] if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n else v)
                for k, v in self.meta.items()}
        return ImageSet(self.name, self.split, images, self.labels[index], self.class_names,
                        self.source, self.license, attrs, meta)

    def materialize(self) -> ImageSet:
        """The same set with images as one ``N×C×H×W`` uint8 array (reads lazy images)."""
        if isinstance(self.images, np.ndarray):
            return self
        images = np.stack([self.images[i] for i in range(len(self))]) if len(self) else np.zeros((0, 3, 1, 1), np.uint8)
        return ImageSet(self.name, self.split, images, self.labels, self.class_names, self.source, self.license,
                        self.attributes, dict(self.meta))

    def long_tailed(self, n_max: int, ratio: float, *, seed: int = 0) -> ImageSet:
        """A long-tailed subset: class ``c`` keeps ``long_tail_counts(n_max, ratio, K)[c]`` random images.

        ``ratio`` is the imbalance (largest / smallest class count), the usual exponential profile of
        CIFAR-LT and ImageNet-LT; class 0 is the head, class K-1 the tail. A class with fewer images
        than its count keeps them all.
        """
        counts = long_tail_counts(n_max, ratio, self.num_classes)
        rng = np.random.default_rng(seed)
        keep = [rng.permutation(np.flatnonzero(self.labels == c))[:n] for c, n in enumerate(counts)]
        return self.subset(np.sort(np.concatenate(keep)))

    def per_class(self, k: int, *, seed: int | None = None, skip: int = 0) -> ImageSet:
        """At most ``k`` images of each class: the first ``k``, or a random ``k`` if ``seed`` is given.

        ``skip`` passes over the first ``skip`` of each class's (shuffled) images first, so
        ``per_class(m, seed=s, skip=k)`` is a held-out set disjoint from ``per_class(k, seed=s)``.
        """
        rng = None if seed is None else np.random.default_rng(seed)
        keep = []
        for c in range(self.num_classes):
            idx = np.flatnonzero(self.labels == c)
            if rng is not None:
                idx = rng.permutation(idx)
            keep.append(idx[skip:skip + k])
        return self.subset(np.sort(np.concatenate(keep)))


def long_tail_counts(n_max: int, ratio: float, n_classes: int) -> np.ndarray:
    """Images per class of a long-tailed subset: ``max(1, round(n_max * ratio ** (-c / (K - 1))))`` for class ``c``.

    The exponential profile of CIFAR-LT and ImageNet-LT: class 0 keeps ``n_max``, class ``K - 1``
    keeps ``n_max / ratio``. :meth:`ImageSet.long_tailed` keeps these counts (fewer where a class
    has fewer images).

    >>> long_tail_counts(100, 10.0, 3).tolist()
    [100, 32, 10]
    """
    if ratio < 1 or n_max < 1 or n_classes < 1:
        raise ValueError(f"need ratio >= 1, n_max >= 1 and n_classes >= 1; got ratio={ratio}, n_max={n_max}, "
                         f"n_classes={n_classes}")
    # Python's round (half to even), as the cached long-tailed runs were drawn with
    return np.array([max(1, round(n_max * ratio ** (-c / max(1, n_classes - 1)))) for c in range(n_classes)],
                    dtype=np.int64)


class LazyImages:
    """A sequence of ``C×H×W`` uint8 arrays read on demand from a torchvision-style dataset."""

    def __init__(self, dataset: Any, index: np.ndarray | None = None, size: int | None = None):
        self.dataset = dataset
        self.index = np.arange(len(dataset)) if index is None else np.asarray(index)
        self.size = size

    def __len__(self) -> int:
        return len(self.index)

    def take(self, index: np.ndarray) -> LazyImages:
        return LazyImages(self.dataset, self.index[np.asarray(index)], self.size)

    def __getitem__(self, i: int) -> np.ndarray:
        img, _ = self.dataset[int(self.index[i])]
        img = img.convert("RGB")
        if self.size is not None:
            img = _center_resize(img, self.size)
        return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()


def _center_resize(img: Any, size: int) -> Any:
    """Resize the short side to ``size`` and centre-crop to ``size×size`` (PIL image)."""
    w, h = img.size
    s = size / min(w, h)
    img = img.resize((max(size, round(w * s)), max(size, round(h * s))))
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))
