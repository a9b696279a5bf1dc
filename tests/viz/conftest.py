"""Fixtures for the viz tests (data builders live in viz_synthetic.py, importable by test modules)."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from viz_synthetic import make_per_class


@pytest.fixture
def per_class() -> xr.Dataset:
    return make_per_class()


@pytest.fixture
def digits():
    """Tiny uint8 N×1×H×W images (sklearn digits) with labels and names."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images * 16).clip(0, 255).astype(np.uint8)[:300, None]
    return images, d.target[:300], [f"digit {i}" for i in range(10)]
