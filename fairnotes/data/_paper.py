"""Paper-profile data sets through torchvision; they download on the user's side."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._types import ImageSet, LazyImages


def _root(root: Path | None) -> Path:
    from .._paths import cache_dir
    return Path(root) if root is not None else cache_dir("data")


def _missing(name: str, root: Path, err: Exception) -> FileNotFoundError:
    return FileNotFoundError(
        f"{name} is not in {root}. Download it (needs internet) with\n"
        f"    fairnotes.data.load({name!r}, split, download=True)\n"
        f"or pass root= pointing at an existing copy. ({err})")


def load_cifar(name: str, split: str, *, root: Path | None = None, download: bool = False) -> ImageSet:
    from torchvision import datasets
    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    r = _root(root)
    try:
        ds = cls(str(r), train=(split == "train"), download=download)
    except RuntimeError as e:
        raise _missing(name, r, e) from e
    return ImageSet(name, split, np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)),
                    np.asarray(ds.targets, dtype=np.int64), tuple(ds.classes),
                    source=f"{cls.__name__} via torchvision ({r})",
                    license="unspecified (Krizhevsky 2009); research use")


_LAZY = {
    # name: (torchvision class, split keyword, license)
    "flowers102": ("Flowers102", "split", "unspecified (Nilsback & Zisserman 2008)"),
    "dtd": ("DTD", "split", "research use (Cimpoi et al. 2014)"),
    "fgvc-aircraft": ("FGVCAircraft", "split", "non-commercial research (Maji et al. 2013)"),
}


def load_lazy(name: str, split: str, *, root: Path | None = None, download: bool = False,
              size: int = 224) -> ImageSet:
    from torchvision import datasets
    cls_name, _, lic = _LAZY[name]
    cls = getattr(datasets, cls_name)
    r = _root(root)
    tv_split = {"train": "train", "val": "val", "test": "test"}[split]
    try:
        ds = cls(str(r), split=tv_split, download=download)
    except RuntimeError as e:
        raise _missing(name, r, e) from e
    labels = np.asarray(getattr(ds, "_labels", None) or [ds[i][1] for i in range(len(ds))], dtype=np.int64)
    classes = tuple(getattr(ds, "classes", None) or [str(c) for c in range(int(labels.max()) + 1)])
    return ImageSet(name, split, LazyImages(ds, size=size), labels, classes,
                    source=f"{cls_name} via torchvision ({r})", license=lic)


def load_imagenet(split: str, *, root: Path | None = None, size: int = 224, **_: object) -> ImageSet:
    """ImageNet from an ImageFolder tree: ``root/<split>/<wnid>/*.JPEG`` (no download exists)."""
    from torchvision.datasets import ImageFolder
    if root is None:
        raise FileNotFoundError("ImageNet cannot be downloaded automatically: pass root= a folder holding "
                                "train/ and val/ in ImageFolder layout (root/val/n01440764/*.JPEG ...)")
    folder = Path(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"no ImageNet split folder {folder} (expected root/{split}/<wnid>/*.JPEG)")
    ds = ImageFolder(str(folder))
    names = tuple(ds.classes)
    try:  # human-readable names when the folder uses the standard 1000 WordNet ids
        from timm.data import ImageNetInfo
        info = ImageNetInfo()
        desc = info.label_descriptions(as_dict=True)
        names = tuple(desc.get(c, c).split(",")[0] for c in ds.classes)
    except Exception:  # noqa: BLE001 - names are a nicety, the wnids still work
        pass
    return ImageSet("imagenet", split, LazyImages(ds, size=size), np.asarray(ds.targets, dtype=np.int64),
                    names, source=f"ImageNet ILSVRC-2012 ImageFolder ({folder})",
                    license="ImageNet terms of access (non-commercial research)")


def load_image_folder(split: str, *, root: Path | None = None, size: int = 224, **_: object) -> ImageSet:
    """Any image folder tree ``root/<split>/<class>/*.(png|jpg…)`` (torchvision ``ImageFolder``).

    Class names are the sub-folder names with ``_`` read as a space (``sea_rose`` → ``sea rose``), in sorted
    folder order; they are what the zero-shot prompts say. For a researcher's own data and the tests.
    """
    from torchvision.datasets import ImageFolder
    if root is None:
        raise FileNotFoundError("the image-folder data set needs root= a folder holding <split>/<class>/*.png "
                                "(e.g. root/train/daisy/001.png, root/test/daisy/…)")
    folder = Path(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"no split folder {folder} (expected root/{split}/<class>/<image>)")
    ds = ImageFolder(str(folder))
    names = tuple(c.replace("_", " ") for c in ds.classes)
    return ImageSet("image-folder", split, LazyImages(ds, size=size), np.asarray(ds.targets, dtype=np.int64),
                    names, source=f"image folder {folder}", license="the folder owner's")
