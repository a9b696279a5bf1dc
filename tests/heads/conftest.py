from __future__ import annotations

import numpy as np
import pytest


def _clustered(n: int, k: int, f: int, *, seed: int, spread: float = 1.0, dtype=np.float32):
    """Continuous random features around one centre per class (no exact distance ties)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, f))
    y = rng.integers(0, k, n)
    x = centres[y] + spread * rng.normal(size=(n, f))
    return x.astype(dtype), y


@pytest.fixture
def split():
    """(train_x, train_y, test_x, test_y) from the same 6-class mixture in 24 dims."""
    x, y = _clustered(900, 6, 24, seed=0, spread=1.2)
    return x[:600], y[:600], x[600:], y[600:]


@pytest.fixture
def clustered():
    """``clustered(n, k, f, seed=..., spread=...) -> (x, y)``: features around one centre per class."""
    return _clustered
