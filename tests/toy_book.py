"""A toy chapter for the runner's tests: MyST front matter that jupytext reads as a Python 3 notebook."""
from __future__ import annotations

import textwrap

FRONT_MATTER = textwrap.dedent('''\
    ---
    jupytext:
      text_representation: {extension: .md, format_name: myst}
    kernelspec: {display_name: Python 3, language: python, name: python3}
    ---
    ''')


def myst_chapter(title: str, body: str) -> str:
    """``body`` (MyST cells, any common indentation) as a chapter titled ``title``."""
    return FRONT_MATTER + f"# {title}\n\n" + textwrap.dedent(body)
