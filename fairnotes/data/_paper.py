"""Paper-profile data sets through torchvision; they download on the user's side."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
    folder = _split_folder("image-folder", root, split, "root/<split>/<class>/<image> (e.g. root/train/daisy/001.png)")
    ds = ImageFolder(str(folder))
    names = tuple(c.replace("_", " ") for c in ds.classes)
    return ImageSet("image-folder", split, LazyImages(ds, size=size), np.asarray(ds.targets, dtype=np.int64),
                    names, source=f"image folder {folder}", license="the folder owner's")


# ---------------------------------------------------------------------------------------------------------------
# Folders with per-image attributes (D3G's IdenProf with FairFace pseudo-labels) and FairFace itself
# ---------------------------------------------------------------------------------------------------------------

def _split_folder(name: str, root: Path | None, split: str, layout: str) -> Path:
    """``root/split`` as a folder, or a ``FileNotFoundError`` naming the expected ``layout``."""
    if root is None:
        raise FileNotFoundError(f"the {name} data set needs root= a folder laid out as {layout}")
    folder = Path(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"no split folder {folder}: {name} expects {layout}")
    return folder


def _read_table(path: Path, required: tuple[str, ...], what: str) -> pd.DataFrame:
    """A CSV as strings (empty cells are NaN), checked for the ``required`` columns."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found; expected a CSV with columns {', '.join(required)}")
    table = pd.read_csv(path, dtype=str)
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"{what} {path} lacks column(s) {', '.join(missing)}; it has: {', '.join(table.columns)}")
    table["file"] = table["file"].str.replace("\\", "/", regex=False).str.removeprefix("./")
    dup = table["file"][table["file"].duplicated()]
    if len(dup):
        raise ValueError(f"{what} {path} lists {dup.nunique()} file(s) more than once, e.g. {dup.iloc[0]!r}")
    return table


def _categorical(values: Any, order: tuple[str, ...] | None = None) -> pd.Categorical:
    """A categorical column: ``order`` first (when given), then any other values, sorted."""
    seen = sorted(set(values) - set(order or ()))
    return pd.Categorical(values, [*(order or ()), *seen])


def load_attribute_folder(split: str, *, root: Path | None = None, attributes: str | Path | None = None,
                          size: int = 224, **_: object) -> ImageSet:
    """An image folder ``root/<split>/<class>/<image>`` plus a CSV of per-image attributes.

    Labels and class names are those of :func:`load_image_folder` (torchvision ``ImageFolder``; sorted
    folder names, ``_`` read as a space). The CSV (``attributes=``, default ``root/attributes.csv``) has a
    column ``file`` (the image path relative to ``root``, forward slashes: ``test/doctor/001.jpg``); every
    other column is an attribute, e.g. D3G's FairFace pseudo-labels ``race``, ``gender``, ``age`` of
    IdenProf. Images without a row (and empty cells) get ``"unknown"``.

    Returns
    -------
    ImageSet
        Lazy images; ``attributes`` one categorical column per CSV attribute, in image order;
        ``meta`` ``{"attributes_csv": path, "n_unlabelled": images without a row}``.
    """
    from torchvision.datasets import ImageFolder
    folder = _split_folder("attribute-folder", root, split, f"root/{split}/<class>/<image> plus root/attributes.csv")
    csv = Path(attributes) if attributes is not None else Path(root) / "attributes.csv"
    table = _read_table(csv, ("file",), "attributes CSV").set_index("file")
    ds = ImageFolder(str(folder))
    files = [Path(p).relative_to(Path(root)).as_posix() for p, _ in ds.samples]
    joined = table.reindex(files)
    n_unlabelled = int((~joined.index.isin(table.index)).sum())
    attrs = joined.fillna("unknown").reset_index(drop=True)
    for col in attrs.columns:
        attrs[col] = _categorical(attrs[col])
    names = tuple(c.replace("_", " ") for c in ds.classes)
    return ImageSet("attribute-folder", split, LazyImages(ds, size=size), np.asarray(ds.targets, dtype=np.int64),
                    names, source=f"image folder {folder} with attributes from {csv}", license="the folder owner's",
                    attributes=attrs, meta={"attributes_csv": str(csv), "n_unlabelled": n_unlabelled})


FAIRFACE_RACES = ("White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian", "Middle Eastern")
FAIRFACE_GENDERS = ("Male", "Female")
FAIRFACE_AGES = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70")


class FileImages:
    """An index-able dataset of image files: ``ds[i]`` is ``(RGB PIL image, label)``, read on demand."""

    def __init__(self, paths: list[Path], labels: np.ndarray):
        self.paths = list(paths)
        self.labels = np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        from PIL import Image
        with Image.open(self.paths[i]) as img:
            return img.convert("RGB"), int(self.labels[i])


def _missing_files(root: Path, files: Any) -> list[str]:
    """The entries of ``files`` (paths relative to ``root``) with no file on disk, listing each folder once."""
    present: dict[str, set[str]] = {}
    missing = []
    for f in files:
        parent, _, name = f.rpartition("/")
        if parent not in present:
            d = root / parent
            present[parent] = {p.name for p in d.iterdir()} if d.is_dir() else set()
        if name not in present[parent]:
            missing.append(f)
    return missing


def load_fairface(split: str, *, root: Path | None = None, size: int = 224, **_: object) -> ImageSet:
    """FairFace (Kärkkäinen & Joo 2021) as downloaded: ``root/<split>/<n>.jpg``, ``root/fairface_label_<split>.csv``.

    Labels are the seven FairFace races in the fixed order of :data:`FAIRFACE_RACES` (class names with
    ``_`` read as a space); ``attributes`` holds the ground-truth ``race``, ``gender`` and ``age``
    (categorical). Every CSV row must have its image on disk.
    """
    layout = f"root/{split}/<n>.jpg plus root/fairface_label_{split}.csv"
    _split_folder("fairface", root, split, layout)
    root = Path(root)
    csv = root / f"fairface_label_{split}.csv"
    table = _read_table(csv, ("file", "age", "gender", "race"), "FairFace label file")
    bad = sorted(set(table["race"]) - set(FAIRFACE_RACES), key=str)
    if bad:
        raise ValueError(f"{csv}: unknown race value(s) {bad}; FairFace's are {', '.join(FAIRFACE_RACES)}")
    missing = _missing_files(root, table["file"])
    if missing:
        raise FileNotFoundError(f"{len(missing)} image(s) listed in {csv} are not under {root}, e.g. "
                                f"{', '.join(missing[:3])} (expected {layout})")
    labels = np.asarray([FAIRFACE_RACES.index(r) for r in table["race"]], dtype=np.int64)
    ds = FileImages([root / f for f in table["file"]], labels)
    attrs = pd.DataFrame({"race": _categorical(table["race"], FAIRFACE_RACES),
                      "gender": _categorical(table["gender"].fillna("unknown"), FAIRFACE_GENDERS),
                      "age": _categorical(table["age"].fillna("unknown"), FAIRFACE_AGES)})
    return ImageSet("fairface", split, LazyImages(ds, size=size), labels,
                    tuple(r.replace("_", " ") for r in FAIRFACE_RACES),
                    source=f"FairFace (Kärkkäinen & Joo 2021) from {root}; labels and attributes race, gender, age "
                           f"are FairFace's ground-truth annotations ({csv.name})",
                    license="CC BY 4.0 (FairFace; images from YFCC-100M Flickr)", attributes=attrs,
                    meta={"labels_csv": str(csv)})



def load_multilabel_folder(split: str, *, root: Path | None = None, labels: str | Path | None = None,
                           size: int = 224, **_: object) -> ImageSet:
    """A multi-label image folder: ``root/<split>/<image>`` plus a CSV (``labels``, default ``root/labels.csv``)
    with a column ``file`` (path relative to ``root``), a column ``labels`` (the image's labels joined by ``;``)
    and any attribute columns (gender, race, …: e.g. MR2's self-identified groups).

    An OpenImages / Inclusive Images subset for training, or MR2 for evaluation, in one layout. The label names are
    the sorted union over the *whole* CSV, so every split has the same columns. ``labels`` of the ImageSet is each
    image's first label (for code that wants one); the multi-hot targets are ``meta["multi_hot"]`` (N × L uint8)
    with ``meta["label_names"]``; the attribute columns are ``attributes`` (categorical; "unknown" where empty).
    """
    import pandas as pd
    _split_folder("multilabel-folder", root, split, "root/<split>/<image> and root/labels.csv (columns file, "
                  "labels, optional attributes)")
    root = Path(root)
    csv = Path(labels) if labels is not None else root / "labels.csv"
    if not csv.exists():
        raise FileNotFoundError(f"no label file {csv}: a CSV with columns file, labels (';'-joined), and optional "
                                f"attribute columns")
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    missing = [c for c in ("file", "labels") if c not in table.columns]
    if missing:
        raise ValueError(f"{csv} lacks the column(s) {missing}; it has {list(table.columns)}")
    table["file"] = table["file"].str.replace("\\\\", "/", regex=False).str.lstrip("./")
    names = sorted({lab.strip() for cell in table["labels"] for lab in cell.split(";") if lab.strip()})
    if not names:
        raise ValueError(f"{csv}: no labels at all")
    here = table[table["file"].str.startswith(f"{split}/")].reset_index(drop=True)
    if here.empty:
        raise ValueError(f"{csv} lists no image of split {split!r} (files must start with '{split}/')")
    gone = [f for f in here["file"] if not (root / f).exists()]
    if gone:
        raise FileNotFoundError(f"{len(gone)} images listed in {csv} are missing, e.g. {gone[:3]}")
    col = {n: i for i, n in enumerate(names)}
    multi = np.zeros((len(here), len(names)), np.uint8)
    for i, cell in enumerate(here["labels"]):
        for lab in cell.split(";"):
            if lab.strip():
                multi[i, col[lab.strip()]] = 1
    first = np.array([col[c.split(";")[0].strip()] if c.strip() else 0 for c in here["labels"]], np.int64)
    attrs = here.drop(columns=["file", "labels"]).replace("", "unknown").astype("category")
    files = [root / f for f in here["file"]]
    return ImageSet("multilabel-folder", split, LazyImages(FileImages(files, first), size=size), first,
                    tuple(names), source=f"multi-label folder {root} ({csv.name})", license="the folder owner's",
                    attributes=attrs.reset_index(drop=True),
                    meta={"multi_hot": multi, "label_names": names, "labels_csv": str(csv)})
