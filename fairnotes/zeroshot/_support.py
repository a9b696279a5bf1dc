"""Support sets: images per prompt with a manifest, kept in a cache folder and never redone.

Both sources (:func:`~fairnotes.zeroshot.generate`, :func:`~fairnotes.zeroshot.retrieve`) write
PNG files and one row per image to ``manifest.csv`` in their folder: ``label`` (the class the
prompt stands for), ``prompt``, ``seed``, ``model``, ``source`` (``generated``/``retrieved``),
``file`` (relative to the folder) and ``request`` (a hash of everything that determines the
image). Before doing any work a call looks up its rows: an image whose row and file exist is
reused, so a second identical call loads no model and computes nothing.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["SupportSet", "prompt_table", "Manifest"]

COLUMNS = ("label", "prompt", "seed", "model", "source", "file", "request")


@dataclass(frozen=True)
class SupportSet:
    """The images of one :func:`generate` / :func:`retrieve` call, in request order.

    Attributes
    ----------
    folder
        The cache folder holding the PNGs and ``manifest.csv``.
    manifest
        One row per image (columns :data:`COLUMNS` plus source-specific ones such as ``score``).
    """

    folder: Path
    manifest: pd.DataFrame

    def __len__(self) -> int:
        return len(self.manifest)

    @property
    def files(self) -> list[Path]:
        return [self.folder / f for f in self.manifest["file"]]

    @property
    def labels(self) -> np.ndarray:
        """The class (``label`` column) of each image."""
        return self.manifest["label"].to_numpy(dtype=object)

    def label_indices(self, classes: Sequence[str]) -> np.ndarray:
        """Index of each image's label in ``classes`` (a ``KeyError`` names labels not there)."""
        pos = {str(c): i for i, c in enumerate(classes)}
        missing = sorted({str(x) for x in self.labels} - set(pos))
        if missing:
            raise KeyError(f"support labels not among the classes: {missing[:5]}")
        return np.array([pos[str(x)] for x in self.labels], dtype=np.int64)

    def images(self, size: int | None = None) -> np.ndarray:
        """The images as ``uint8`` ``N×3×S×S`` (resized to ``size``, default the first image's size)."""
        from PIL import Image
        out = []
        for f in self.files:
            with Image.open(f) as im:
                im = im.convert("RGB")
                if size is None:
                    size = im.size[0]
                if im.size != (size, size):
                    im = im.resize((size, size), Image.Resampling.BICUBIC)
                out.append(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))
        return np.stack(out) if out else np.zeros((0, 3, size or 1, size or 1), np.uint8)


def prompt_table(prompts: Sequence[str] | Mapping[str, Sequence[str] | str]) -> list[tuple[str, str]]:
    """``(label, prompt)`` pairs: a list of prompts labels each by itself; a mapping gives each class its prompts."""
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings or a mapping {class: [prompts]}, not one string")
    if isinstance(prompts, Mapping):
        pairs = [(str(c), str(p)) for c, ps in prompts.items() for p in ([ps] if isinstance(ps, str) else ps)]
    else:
        pairs = [(str(p), str(p)) for p in prompts]
    if not pairs:
        raise ValueError("no prompts")
    return pairs


def slug(text: str, n: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:n] or "prompt"


class Manifest:
    """``manifest.csv`` of a folder: rows by ``file``, rewritten atomically on :meth:`save`."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "manifest.csv"
        self.rows: dict[str, dict] = {}
        if self.path.exists():
            try:
                df = pd.read_csv(self.path, dtype={"file": str, "request": str, "label": str, "prompt": str},
                                 keep_default_na=False)
                self.rows = {r["file"]: r for r in df.to_dict("records")}
            except (pd.errors.ParserError, pd.errors.EmptyDataError, KeyError, UnicodeDecodeError):
                self.rows = {}  # unreadable manifest: rebuilt from the requests (existing PNGs are reused)

    def done(self, file: str) -> bool:
        """True when ``file`` has a row and exists on disk."""
        return file in self.rows and (self.folder / file).exists()

    def add(self, row: dict) -> None:
        self.rows[row["file"]] = row

    def save(self) -> None:
        df = pd.DataFrame(list(self.rows.values()))
        cols = [c for c in COLUMNS if c in df] + [c for c in df if c not in COLUMNS]
        fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".csv", dir=self.folder)
        os.close(fd)
        try:
            df[cols].to_csv(tmp, index=False)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def select(self, files: Sequence[str]) -> pd.DataFrame:
        return pd.DataFrame([self.rows[f] for f in files]).reset_index(drop=True)


def save_png(image: Any, path: Path) -> None:
    """Write a PIL image or a ``C×H×W`` uint8 array as PNG, atomically."""
    from PIL import Image
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4):
            arr = arr.transpose(1, 2, 0)
        image = Image.fromarray(arr.squeeze(-1) if arr.shape[-1] == 1 else arr)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        image.save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def support_folder(kind: str, folder: str | Path | None) -> Path:
    from .._paths import cache_dir
    return Path(folder) if folder is not None else cache_dir("zeroshot", "support", kind)
