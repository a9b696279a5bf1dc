"""What the job configs share: the profiles, config checks and the YAML command line (library code never
sees argparse). Jobs import it, never each other, for these."""
from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any, Iterable

# the book's run sizes; a label on every job config (see book/profiles.yaml)
PROFILES = ("laptop", "paper", "tiny")


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def check_positive(cfg: Any, *names: str, optional: bool = False) -> None:
    for name in names:
        v = getattr(cfg, name)
        if v is None and optional:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer{' or None' if optional else ''}; got {v!r}")


def load_yaml(cls: type, path: str | None, overrides: Iterable[str] = ()) -> Any:
    """Build config ``cls`` from a YAML mapping of its fields, then ``key=value`` overrides (YAML values)."""
    import yaml
    values: dict[str, Any] = {}
    if path:
        with open(path) as f:
            values = yaml.safe_load(f) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of {cls.__name__} fields")
    for item in overrides:
        k, sep, v = item.partition("=")
        if not sep:
            raise ValueError(f"--set wants key=value; got {item!r}")
        values[k.strip()] = yaml.safe_load(v)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**values)


def cli_config(cls: type, prog: str, doc: str | None, argv: list[str] | None) -> tuple[Any, str | None]:
    """Parse ``--config cfg.yaml [--set key=value ...] [--out result.nc]`` into ``(cfg, out)``."""
    p = argparse.ArgumentParser(prog=f"python -m {prog}", description=(doc or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help=f"YAML file of {cls.__name__} fields")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one field (value parsed as YAML); repeatable")
    p.add_argument("--out", help="netCDF file for the result (default: the results cache, by config hash)")
    a = p.parse_args(argv)
    return load_yaml(cls, a.config, a.set), a.out


def cli_main(cls: type, job: Any, prog: str, doc: str | None, argv: list[str] | None,
             summary: Any) -> int:
    """The ``main`` of a job module: parse the command line, run ``job``, save the result, print ``summary(ds)``.

    A job that returns ``None`` (a non-zero DDP rank) saves nothing.
    """
    from pathlib import Path

    from ..results import cache_path, save
    cfg, out = cli_config(cls, prog, doc, argv)
    ds = job(cfg)
    if ds is not None:
        path = Path(out) if out else cache_path(job, cfg)
        save(ds, path)
        print(f"wrote {path}  ({summary(ds)})")
    return 0
