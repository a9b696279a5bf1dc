from __future__ import annotations

import os

import pytest

# Tests never touch the network or the user's caches.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FAIRNOTES_CACHE", str(tmp_path_factory.getbasetemp() / "fairnotes-cache"))


@pytest.fixture()
def one_torch_thread():
    """Tiny models run faster on one torch thread, and far faster on a busy machine."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
