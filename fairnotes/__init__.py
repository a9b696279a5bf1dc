"""fairnotes: the package behind the book on image-recognition fairness.

Submodules are imported on demand so that ``import fairnotes.metrics`` stays light
(no torch).
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
