"""Per-epoch training checkpoints: one ``last.pt`` per run folder, written atomically.

``torch.save`` of plain state dicts, read back with ``torch.load(weights_only=True)`` (no pickled
code runs on load). A checkpoint records the hash of the config that made it; one from another
config is ignored with a warning rather than resumed.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

FILE = "last.pt"
CONFIG = "config.yaml"


def save(folder: str | Path, state: dict[str, Any], *, config_yaml: str | None = None) -> Path:
    """Write ``state`` to ``folder/last.pt`` via a temp file and an atomic rename."""
    import torch
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if config_yaml is not None and not (folder / CONFIG).exists():
        (folder / CONFIG).write_text(config_yaml)
    fd, tmp = tempfile.mkstemp(prefix=".last.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, folder / FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / FILE


def load(folder: str | Path, key: str) -> dict[str, Any] | None:
    """The state in ``folder/last.pt`` if it exists, reads, and was made by config hash ``key``."""
    import torch
    path = Path(folder) / FILE
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a broken checkpoint means starting over, not failing
        warnings.warn(f"checkpoint {path} is unreadable ({e.__class__.__name__}: {e}); starting over",
                      stacklevel=2)
        return None
    if state.get("key") != key:
        warnings.warn(f"checkpoint {path} belongs to another config ({state.get('key')} != {key}); "
                      "starting over", stacklevel=2)
        return None
    return state


def remove(folder: str | Path) -> None:
    """Delete this module's files in ``folder``, and the folder itself once empty."""
    folder = Path(folder)
    for name in (FILE, CONFIG):
        (folder / name).unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass


def resume(folder: str | Path, key: str, model: Any, optimizer: Any, scheduler: Any,
           history: dict[str, list]) -> tuple[int, dict[str, list]]:
    """Restore ``model``, ``optimizer`` and ``scheduler`` from ``folder``'s checkpoint of config ``key``.

    Returns ``(epochs done, history)``: ``(0, history)`` as given when there is no usable checkpoint.
    """
    state = load(folder, key)
    if state is None:
        return 0, history
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["epoch"]), state["history"]
