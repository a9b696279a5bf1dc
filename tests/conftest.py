from __future__ import annotations

import os

import pytest

# Tests never touch the network or the user's caches.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FAIRNOTES_CACHE", str(tmp_path_factory.getbasetemp() / "fairnotes-cache"))
