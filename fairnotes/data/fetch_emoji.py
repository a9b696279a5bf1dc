"""``python -m fairnotes.data.fetch_emoji [STYLE ...] [--force]``: fetch the emoji art packages with npm.

The logic, the pinned versions and the licences live in :mod:`fairnotes.data._emoji_fetch`; this module
re-exports them (``fetch``, ``require``, ``missing``, ``PACKAGES``, ``STYLES`` ...).
"""
from __future__ import annotations

from ._emoji_fetch import (  # noqa: F401  (re-exported)
    NEEDS,
    PACKAGES,
    STYLES,
    EmojiPackage,
    check_styles,
    fetch,
    install_hint,
    main,
    missing,
    package_dir,
    packages_dir,
    require,
)

if __name__ == "__main__":  # pragma: no cover
    main()
