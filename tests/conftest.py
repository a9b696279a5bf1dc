from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Tests never touch the network or the user's caches.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FAIRNOTES_CACHE", str(tmp_path_factory.getbasetemp() / "fairnotes-cache"))
    monkeypatch.delenv("FAIRNOTES_EXECUTOR", raising=False)  # a developer's cluster setting stays out of the tests


@pytest.fixture()
def one_torch_thread():
    """Tiny models run faster on one torch thread, and far faster on a busy machine."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _user_packages() -> Path:
    root = Path(os.environ.get("FAIRNOTES_CACHE", Path.home() / ".cache" / "fairnotes"))
    return root / "emoji" / "packages"


_USER_PACKAGES = _user_packages()  # read before any test points FAIRNOTES_CACHE elsewhere


@pytest.fixture(scope="session")
def emoji_packages(tmp_path_factory):
    """The four emoji art packages in the tests' cache: linked from the user's cache when complete there
    (installed data, read only), else fetched with npm (about 20 s, 164 MB); skips without npm."""
    from fairnotes.data import fetch_emoji
    cache = tmp_path_factory.getbasetemp() / "fairnotes-cache"  # the FAIRNOTES_CACHE of _isolated_cache
    mine = cache / "emoji" / "packages"
    fresh = not mine.exists()  # (asking fetch_emoji anything creates the folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAIRNOTES_CACHE", str(cache))
        if fresh:
            names = [f"{p.npm}-{p.version}" for p in fetch_emoji.PACKAGES.values()]
            if all((_USER_PACKAGES / n / ".complete").exists() for n in names):
                mine.parent.mkdir(parents=True, exist_ok=True)
                mine.symlink_to(_USER_PACKAGES, target_is_directory=True)
        if fetch_emoji.missing():
            if shutil.which("npm") is None:
                pytest.skip("npm is not installed, so the emoji packages cannot be fetched")
            try:
                fetch_emoji.fetch(quiet=True)
            except RuntimeError as e:  # registry unreachable
                pytest.skip(f"cannot fetch the emoji packages: {e}")
        return {s: fetch_emoji.package_dir(s) for s in fetch_emoji.STYLES}
