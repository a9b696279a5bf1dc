"""``fairnotes`` command line: a thin layer that builds configs and calls the package."""
from __future__ import annotations

import sys
import time

import click
import yaml

from . import __version__


def _parse_value(text: str):
    """``-p epochs 3`` → 3, ``-p models [mlp, cnn]`` → list, anything else stays a string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fairnotes")
def main() -> None:
    """fairnotes: run the book's chapters and build the book."""


@main.command("chapters")
def list_chapters() -> None:
    """List the chapters in book order with their parameters."""
    from .runner import chapters, parameters
    for ch in chapters():
        params = parameters(ch)
        click.echo(f"{ch}: " + ", ".join(f"{k}={v['default']}" for k, v in params.items()))


@main.command("run")
@click.argument("chapter")
@click.option("--profile", type=click.Choice(["laptop", "tiny", "paper"]), default="laptop", show_default=True,
              help="laptop: CPU, offline, minutes; tiny: seconds, for tests; paper: the papers' data and models.")
@click.option("-p", "--parameter", "params", nargs=2, multiple=True, metavar="NAME VALUE",
              help="Override one parameter (YAML value), e.g. -p model resnet18. Repeatable.")
@click.option("-f", "--parameters-file", "param_file", type=click.Path(exists=True, dir_okay=False),
              help="YAML file of parameter overrides.")
@click.option("--name", default=None, help="Run name (default: the profile): papermill_runs/CHAPTER/NAME.ipynb")
@click.option("--out-dir", default=None, type=click.Path(file_okay=False), help="Instead of papermill_runs/.")
def run_cmd(chapter, profile, params, param_file, name, out_dir) -> None:
    """Execute CHAPTER with papermill (see `fairnotes chapters`)."""
    from .runner import ChapterError, ChapterUsageError, run_chapter
    try:
        rep = run_chapter(chapter, profile=profile, params={k: _parse_value(v) for k, v in params},
                          param_file=param_file, name=name, out_dir=out_dir)
    except ChapterUsageError as e:
        raise click.UsageError(str(e)) from None
    except ChapterError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{chapter}: ran in {rep.seconds:.1f} s -> {rep.notebook}")


@main.command("book")
@click.option("--profile", type=click.Choice(["laptop", "tiny"]), default="laptop", show_default=True)
@click.option("--build/--no-build", default=True, help="Build the HTML book after running the chapters.")
@click.option("--only", multiple=True, help="Run only these chapters (repeatable); the rest keep their last run.")
def book_cmd(profile, build, only) -> None:
    """Run every chapter (laptop profile), then build the HTML book (warnings are errors)."""
    from .runner import ChapterError, build_book, chapters, run_chapter
    rows, failed = [], False
    todo = [ch for ch in chapters() if not only or ch in only]
    for i, ch in enumerate(todo, 1):
        click.echo(f"== chapter {i}/{len(todo)}: {ch} ({profile})", err=True)  # then its live status line
        t0 = time.perf_counter()
        try:
            run_chapter(ch, profile=profile, name="laptop" if profile == "laptop" else profile)
            rows.append((ch, "ok", time.perf_counter() - t0))
            click.echo(f"   {ch}: ok in {rows[-1][2]:.1f} s", err=True)
        except ChapterError as e:
            click.echo(str(e), err=True)
            rows.append((ch, "FAILED", time.perf_counter() - t0))
            failed = True
    t_build = None
    if build and not failed:
        click.echo("== building the book", err=True)
        t0 = time.perf_counter()
        try:
            index = build_book()
        except ChapterError as e:
            raise click.ClickException(str(e)) from None
        t_build = time.perf_counter() - t0
    click.echo("\nchapter          status   seconds")
    for ch, status, sec in rows:
        click.echo(f"{ch:<16} {status:<8} {sec:8.1f}")
    if t_build is not None:
        click.echo(f"{'(book build)':<16} {'ok':<8} {t_build:8.1f}")
        click.echo(f"{'total':<16} {'':<8} {sum(r[2] for r in rows) + t_build:8.1f}")
        click.echo(f"\nbook: {index}")
    if failed:
        sys.exit(1)


@main.command("runs")
@click.option("--chapter", default=None, help="Only this chapter's runs.")
def runs_cmd(chapter) -> None:
    """List the runs of each chapter besides the book's own (papermill_runs/CHAPTER/NAME.ipynb)."""
    from .runs import format_duration, list_runs
    found = list_runs(chapter=chapter)
    if not found:
        click.echo("no runs besides the book's own" + (f" for chapter {chapter!r}" if chapter else ""))
        return
    rows = [("chapter", "run", "date", "duration", "status", "parameters changed from the book's run")]
    rows += [(r.chapter, r.name, r.date_text(), format_duration(r.duration), r.status, r.changed_text())
             for r in found]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        click.echo("  ".join(f"{c:<{w}}" for c, w in zip(row, widths)) + "  " + row[5])


if __name__ == "__main__":  # pragma: no cover
    main()
