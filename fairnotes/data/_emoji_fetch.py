"""Fetch the openly licensed emoji art packages from the npm registry into the fairnotes cache.

Run ``python -m fairnotes.data.fetch_emoji`` (``make setup`` does; that module is the command line
of this one, kept apart so that ``python -m`` never runs a module the package has already imported).
Each package is downloaded once with ``npm pack NAME@VERSION``, and only the files EmojiProf and the
caption pairs read are unpacked (metadata, licence, the 64 px PNGs or the colour SVGs) into
``$FAIRNOTES_CACHE/emoji/packages/NAME-VERSION/``; a package already there is skipped.

The versions below are the one place they are pinned. Apple and Facebook art are never fetched:
their images are not freely licensed.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .._paths import cache_dir

_DONE = ".complete"


@dataclass(frozen=True)
class EmojiPackage:
    """One npm package: what to fetch, which files to keep, and the art's licence."""

    npm: str
    version: str
    keep: tuple[str, ...]  # path prefixes inside the tarball's ``package/`` folder
    license: str
    art: str  # who drew the art

    @property
    def spec(self) -> str:
        return f"{self.npm}@{self.version}"


# The npm package's own "license" field is MIT for emoji-datasource (its code); the images carry the
# licences below (emoji-datasource's README, "Image Sources").
PACKAGES: dict[str, EmojiPackage] = {
    "google": EmojiPackage("emoji-datasource-google", "16.0.0",
                           ("emoji.json", "LICENSE", "README.md", "img/google/64/"),
                           "Apache-2.0", "Noto Emoji by Google"),
    "twitter": EmojiPackage("emoji-datasource-twitter", "16.0.0",
                            ("emoji.json", "LICENSE", "README.md", "img/twitter/64/"),
                            "CC-BY-4.0", "Twemoji by Twitter, Inc. and contributors (jdecked/twemoji)"),
    "openmoji": EmojiPackage("openmoji", "17.0.0", ("data/openmoji.json", "LICENSE.txt", "color/svg/"),
                             "CC-BY-SA-4.0", "OpenMoji by HfG Schwäbisch Gmünd and contributors"),
    "fluent": EmojiPackage("fluentui-emoji", "1.3.0", ("LICENSE", "README.md", "icons/flat/"),
                           "MIT", "Fluent Emoji (Flat) by Microsoft, repackaged by M. K. Abu Mattar"),
}
STYLES: tuple[str, ...] = tuple(PACKAGES)
# Fluent's file names are CLDR names, which only OpenMoji's metadata carries; emoji.json comes from google.
NEEDS: dict[str, tuple[str, ...]] = {"google": ("google",), "twitter": ("google", "twitter"),
                                     "openmoji": ("google", "openmoji"), "fluent": ("google", "openmoji", "fluent")}


def check_styles(styles: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """``styles`` as a tuple of valid style names (``None`` = all); unknown names raise a ``ValueError``."""
    if styles is None:
        return STYLES
    styles = (styles,) if isinstance(styles, str) else tuple(styles)
    bad = [s for s in styles if s not in PACKAGES]
    if bad or not styles:
        raise ValueError(f"unknown emoji style(s) {bad or styles!r}; valid styles: {', '.join(STYLES)} "
                         "(Apple and Facebook art are not freely licensed, so not offered)")
    return styles


def packages_dir() -> Path:
    """Where the unpacked packages live: ``$FAIRNOTES_CACHE/emoji/packages``."""
    return cache_dir("emoji", "packages")


def package_dir(style: str) -> Path:
    """The unpacked package of ``style`` (its ``package/`` contents, filtered); may not exist yet."""
    p = PACKAGES[check_styles(style)[0]]
    return packages_dir() / f"{p.npm}-{p.version}"


def _needed(styles: tuple[str, ...]) -> list[str]:
    return [s for s in STYLES if any(s in NEEDS[t] for t in styles)]


def missing(styles: tuple[str, ...] | None = None) -> list[str]:
    """The styles whose package (or a package they depend on) is not unpacked yet."""
    return [s for s in _needed(check_styles(styles)) if not (package_dir(s) / _DONE).exists()]


def install_hint(styles: tuple[str, ...] | None = None) -> str:
    """How to fetch the packages of ``styles`` by hand, as text."""
    styles = _needed(check_styles(styles))
    lines = "\n".join(f"    npm pack {PACKAGES[s].spec}" for s in styles)
    return ("Run  make setup  (or  python -m fairnotes.data.fetch_emoji), which needs npm, or by hand:\n"
            f"{lines}\nand unpack each tarball's package/ folder into {packages_dir()}/NAME-VERSION/ "
            f"(with an empty {_DONE} file), or pass download=True.")


def require(styles: tuple[str, ...] | None = None) -> dict[str, Path]:
    """The package folders of ``styles``; raises one ``FileNotFoundError`` saying how to fetch missing ones."""
    styles = check_styles(styles)
    gone = missing(styles)
    if gone:
        names = ", ".join(PACKAGES[s].spec for s in gone)
        raise FileNotFoundError(f"emoji art packages not installed: {names} (looked in {packages_dir()}).\n"
                                + install_hint(styles))
    return {s: package_dir(s) for s in _needed(styles)}


def _unpack(tgz: Path, dest: Path, keep: tuple[str, ...]) -> int:
    """Extract the members under ``package/<keep...>`` of ``tgz`` into ``dest``; returns the file count."""
    n = 0
    with tarfile.open(tgz, "r:gz") as tar:
        for m in tar:
            if not m.isfile() or not m.name.startswith("package/"):
                continue
            rel = m.name[len("package/"):]
            if ".." in Path(rel).parts or not any(rel == k or (k.endswith("/") and rel.startswith(k)) for k in keep):
                continue
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(m) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
            n += 1
    return n


def fetch(styles: tuple[str, ...] | None = None, *, force: bool = False, quiet: bool = False) -> dict[str, Path]:
    """Download (``npm pack``) and unpack the packages of ``styles`` (default all four); skip those present.

    Returns the package folders. Needs ``npm`` on the ``PATH`` and the npm registry.
    """
    styles = check_styles(styles)
    todo = _needed(styles) if force else missing(styles)
    if todo and shutil.which("npm") is None:
        raise FileNotFoundError("npm is not installed (Debian: apt-get install npm).\n" + install_hint(styles))
    for s in todo:
        p, dest = PACKAGES[s], package_dir(s)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=packages_dir()) as tmp:
            # --ignore-scripts: a tarball is only data to us
            r = subprocess.run(["npm", "pack", p.spec, "--silent", "--ignore-scripts", "--pack-destination", tmp],
                               capture_output=True, text=True)
            tgzs = list(Path(tmp).glob("*.tgz"))
            if r.returncode != 0 or len(tgzs) != 1:
                raise RuntimeError(f"npm pack {p.spec} failed (exit {r.returncode}):\n{r.stderr.strip()}\n"
                                   + install_hint(styles))
            size = tgzs[0].stat().st_size
            staged = Path(tmp) / "unpacked"
            n = _unpack(tgzs[0], staged, p.keep)
            (staged / _DONE).write_text(f"{p.spec}\n")
            if dest.exists():
                shutil.rmtree(dest)
            staged.rename(dest)  # atomic: a half-unpacked package never looks complete
        if not quiet:
            print(f"{p.spec}: {size / 1e6:.1f} MB downloaded, {n} files unpacked in "
                  f"{time.perf_counter() - t0:.1f} s -> {dest}", file=sys.stderr)
    return {s: package_dir(s) for s in _needed(styles)}


def main(argv: list[str] | None = None) -> None:
    """``python -m fairnotes.data.fetch_emoji [STYLE ...] [--force]``."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m fairnotes.data.fetch_emoji", description=__doc__.split("\n")[0])
    ap.add_argument("styles", nargs="*", help=f"art styles (default all): {', '.join(STYLES)}")
    ap.add_argument("--force", action="store_true", help="fetch again even if present")
    args = ap.parse_args(argv)
    try:
        fetch(tuple(args.styles) or None, force=args.force)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        raise SystemExit(str(e)) from None


if __name__ == "__main__":  # pragma: no cover
    main()
