"""Many training runs (models × seeds) of one data set, each cached, stacked into one Dataset.

>>> from fairnotes.jobs import sweep, train
>>> base = train.TrainConfig(dataset="digits", epochs=2)
>>> ds = sweep.run(base, models=["mlp", "cnn:width=8"], seeds=[0, 1])    # doctest: +SKIP
>>> ds["accuracy"].dims                                                  # doctest: +SKIP
('model', 'seed', 'label')

A model is named by a *spec*: a registered or timm model name, optionally followed by
``:key=value,...`` keyword arguments for the model (``"cnn:width=16"``, ``"vit:depth=4,embed_dim=64"``).

**On an executor.** ``run(..., executor=ex)`` (and :func:`fairnotes.jobs.remedies.run`,
:func:`fairnotes.jobs.diversity.run`, MuSE's LiT seeds) trains the runs on any
``concurrent.futures.Executor``-like object: a ``ProcessPoolExecutor``, a Dask ``distributed``
client's ``client.get_executor()``, submitit's ``AutoExecutor`` (SLURM). The parent reads the runs
already in the cache itself and submits one task (:func:`_train_one`) per missing run; the task
writes its result into the job cache and returns only where it put it, and the parent reads it
from there. So the cache folder must be the same folder for the parent and every worker (a
shared filesystem on a cluster): tasks receive the parent's ``$FAIRNOTES_CACHE`` and result
folder explicitly. Without ``executor``, :func:`use_executor` or ``$FAIRNOTES_EXECUTOR``
(:func:`executor_from_spec`: ``processes:4``, ``dask://tcp://host:8786``) name one for a whole
process, e.g. a chapter's kernel; with none of them the runs are trained here one at a time, as
always. Torch threads per task: ``$FAIRNOTES_WORKER_THREADS`` of the parent, else the machine's
cores shared out over a ``ProcessPoolExecutor``'s workers, else the worker's own setting (Dask's
nanny starts workers with ``OMP_NUM_THREADS=1``).
"""
from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import dataclasses
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import xarray as xr
import yaml

__all__ = ["parse_model", "configs", "run", "run_jobs", "run_tasks", "use_executor", "default_executor",
           "resolve_executor", "executor_from_spec", "JobsFailed", "EXECUTOR_ENV", "THREADS_ENV"]

#: names the executor of every sweep of a process that is not given one (:func:`executor_from_spec`)
EXECUTOR_ENV = "FAIRNOTES_EXECUTOR"
#: torch threads of each task on an executor (read in the submitting process)
THREADS_ENV = "FAIRNOTES_WORKER_THREADS"

# per-run final metrics kept in the stacked result (logits and features stay in the per-run cache)
_FINAL = ("support", "predicted", "tp", "fp", "fn", "accuracy", "precision")
_HISTORY = ("train_loss", "test_accuracy", "per_class_accuracy")


def parse_model(spec: str) -> tuple[str, dict]:
    """``"cnn:width=16,depth=3"`` → ``("cnn", {"width": 16, "depth": 3})`` (values parsed as YAML)."""
    name, _, args = str(spec).partition(":")
    kwargs: dict[str, Any] = {}
    for part in filter(None, (a.strip() for a in args.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"bad model spec {spec!r}: write NAME or NAME:key=value,key=value")
        # a weights path stays text (YAML would read "weights=2024" or "weights=yes" as a number or a bool)
        kwargs[key.strip()] = value.strip() if key.strip() == "weights" else yaml.safe_load(value)
    return name.strip(), kwargs


def configs(base: Any, *, models: Sequence[str], seeds: Sequence[int]) -> list[Any]:
    """One ``TrainConfig`` per (model spec, seed), all other fields from ``base``."""
    out = []
    for spec in models:
        name, kwargs = parse_model(spec)
        for seed in seeds:
            out.append(dataclasses.replace(base, model=name, model_kwargs={**base.model_kwargs, **kwargs},
                                           seed=int(seed)))
    return out


def run(base: Any, *, models: Sequence[str], seeds: Sequence[int], store: Any = None,
        progress: bool = True, executor: Any = None) -> xr.Dataset:
    """Train every (model, seed) of ``base``'s data set, reusing cached runs; stack the results.

    Returns dims ``model`` (the specs), ``seed``, ``label``, ``epoch`` and ``sample``:
    final per-class metrics (``accuracy``, ``support``, ``predicted``, ``tp``, ``fp``, ``fn``,
    ``precision``), test-set ``prediction`` (model × seed × sample) and ``target`` (sample),
    histories (``train_loss``, ``test_accuracy``, ``per_class_accuracy``), and per run
    ``overall_accuracy``, ``wall_time_s`` (0 means it came from the cache), ``n_params``.

    ``executor``: where the runs not in the cache train (:func:`resolve_executor`; default
    :func:`default_executor`, else here, one at a time). The result is the same either way.
    """
    from .. import _torch, results
    from ..progress import report
    from . import train

    cfgs = configs(base, models=models, seeds=seeds)
    runs: dict[tuple[str, int], xr.Dataset] = {}
    stage = f"{base.dataset}: runs"
    bar = _torch.progress(None, enable=progress, total=len(cfgs), desc=stage, unit="run")
    specs = [s for s in models for _ in seeds]
    ex = resolve_executor(executor)
    if ex is not None:
        done = run_jobs([(train.run, dataclasses.replace(c, progress=False)) for c in cfgs], executor=ex,
                        labels=[{"model": spec, "seed": c.seed} for spec, c in zip(specs, cfgs)], store=store,
                        stage=stage, bar=bar)
        runs = {(spec, c.seed): ds for spec, c, ds in zip(specs, cfgs, done)}
    else:
        for i, (spec, cfg) in enumerate(zip(specs, cfgs), 1):
            bar.set_postfix_str(f"{spec} seed {cfg.seed}")
            report(stage, k=i, n=len(cfgs), model=spec, seed=cfg.seed)
            ds = results.cached(train.run, dataclasses.replace(cfg, progress=False), store=store)
            report(stage, k=i, n=len(cfgs), done=True, cached=_cache_hit(ds))
            runs[(spec, cfg.seed)] = ds
            bar.update()
    bar.close()
    out = _stack(runs, list(models), [int(s) for s in seeds])
    out.attrs["dataset"] = base.dataset
    return out


def _cache_hit(ds: xr.Dataset) -> bool:
    """Whether :func:`fairnotes.results.cached` served ``ds`` from the cache."""
    return str(ds.attrs.get("cache", "")).startswith("hit")


def _stack(runs: dict[tuple[str, int], xr.Dataset], models: list[str], seeds: list[int], *, dim: str = "model",
           history: bool = True) -> xr.Dataset:
    """Stack per-run results on ``dim`` (the run names) × ``seed``; ``history=False`` leaves out per-epoch curves."""
    first = next(iter(runs.values()))
    wanted = [*_FINAL, *(_HISTORY if history else ()), "prediction"]
    rows = []
    for m in models:
        per_seed = []
        for s in seeds:
            ds = runs[(m, s)]
            keep = ds[wanted].drop_vars("class_name")
            keep["overall_accuracy"] = float(ds.attrs["overall_accuracy"])
            keep["wall_time_s"] = 0.0 if _cache_hit(ds) else float(ds.attrs.get("wall_time_s", np.nan))
            keep["train_time_s"] = float(ds.attrs.get("wall_time_s", np.nan))
            keep["n_params"] = int(ds.attrs.get("n_params", -1))
            keep["prediction"] = keep["prediction"].astype(np.int16)
            per_seed.append(keep)
        rows.append(xr.concat(per_seed, dim=xr.DataArray(seeds, dims="seed", name="seed"),
                              data_vars="all", coords="minimal", compat="override", join="override"))
    out = xr.concat(rows, dim=xr.DataArray(models, dims=dim, name=dim), data_vars="all",
                    coords="minimal", compat="override", join="override")
    out["n_params"] = out["n_params"].isel(seed=0, drop=True)
    out["target"] = first["target"].astype(np.int16)
    out = out.assign_coords(class_name=first["class_name"])
    out["wall_time_s"].attrs["description"] = "seconds spent training in this call (0 = taken from the cache)"
    out["train_time_s"].attrs["description"] = "seconds the run took when it was trained"
    out.attrs = {"models": ", ".join(models), "seeds": ", ".join(map(str, seeds))}
    return out


# ------------------------------------------------------------------------------------------------ executors

_DEFAULT: list[Any] = []  # use_executor's stack (None in it: one at a time, whatever the environment says)
_FROM_SPEC: dict[str, Any] = {}  # executors made from specs: one per spec and process, reused
_SEQUENTIAL = ("", "none", "sequential", "off")
_POLL_S = 1.0  # how often futures that are not concurrent.futures.Future (submitit's jobs) are polled
_VISIBLE_S = 60.0  # how long a worker's result may take to show here (a network file system's caches)


class JobsFailed(RuntimeError):
    """Jobs of a stage failed on an executor; the message names each (model, seed, config key, error).

    Raised once every other job has ended: those are in the cache, so a re-run trains only the failed
    ones. ``failures``: ``(label, config, exception)`` of each; the first exception is the ``__cause__``.
    """

    def __init__(self, stage: str, failures: Sequence[tuple[dict, Any, BaseException]], n: int) -> None:
        self.stage, self.failures = stage, list(failures)
        lines = [f"  {_label_text(lab)} (config {_config_key(cfg)}): {type(e).__name__}: {e}"
                 for lab, cfg, e in self.failures]
        super().__init__(f"{len(self.failures)} of {n} jobs of {stage!r} failed (the others ended and are "
                         "cached; a re-run trains only these):\n" + "\n".join(lines))


def executor_from_spec(spec: str | None) -> Any:
    """The executor a text names, made once per process and text (later calls reuse it):

    - ``processes`` or ``processes:N``: a local ``ProcessPoolExecutor`` of ``N`` workers (default: one per
      core), started with ``spawn`` (safe after torch has started threads);
    - ``dask://ADDRESS``: ``distributed.Client(ADDRESS).get_executor()`` of a running Dask scheduler
      (``dask://tcp://10.0.0.5:8786``; ``tcp://`` when no scheme is given; an address ending in ``.json``
      is a scheduler file, as ``dask-mpi`` or ``dask scheduler --scheduler-file`` write);
    - empty, ``none``, ``sequential``, ``off``: ``None`` (one at a time, in this process).

    This is how ``$FAIRNOTES_EXECUTOR`` is read (:func:`default_executor`).
    """
    text = (spec or "").strip()
    if text.lower() in _SEQUENTIAL:
        return None
    if text in _FROM_SPEC:
        return _FROM_SPEC[text]
    kind, _, arg = text.partition(":")
    if kind == "processes":
        import multiprocessing
        try:
            n = int(arg) if arg else _cores()
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"bad executor {text!r}: write processes:N with N >= 1")
        ex = cf.ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))
    elif text.startswith("dask://"):
        try:
            import distributed
        except ImportError as e:
            raise ImportError(f"executor {text!r} needs Dask's distributed: pip install 'fairnotes[scale]'") from e
        address = text[len("dask://"):]
        if address.endswith(".json"):
            client = distributed.Client(scheduler_file=address)
        else:
            client = distributed.Client(address if "://" in address else f"tcp://{address}")
        ex = client.get_executor()
    else:
        raise ValueError(f"unknown executor {text!r}; write processes[:N], dask://ADDRESS or sequential")
    _FROM_SPEC[text] = ex
    return ex


def _close_spec_executors() -> None:
    """Shut down the executors :func:`executor_from_spec` made (at exit; the tests call it too)."""
    while _FROM_SPEC:
        _, ex = _FROM_SPEC.popitem()
        client = getattr(ex, "_client", None)
        with contextlib.suppress(Exception):
            ex.shutdown(wait=False)
            if client is not None:
                client.close()


atexit.register(_close_spec_executors)


def default_executor() -> Any:
    """The executor of the innermost :func:`use_executor` block, else ``$FAIRNOTES_EXECUTOR``'s
    (:func:`executor_from_spec`), else ``None`` (one at a time)."""
    if _DEFAULT:
        return _DEFAULT[-1]
    return executor_from_spec(os.environ.get(EXECUTOR_ENV))


@contextlib.contextmanager
def use_executor(executor: Any) -> Iterator[Any]:
    """Within the block, sweeps not given an ``executor`` use this one (an executor, a spec text for
    :func:`executor_from_spec`, or ``None``: one at a time here, whatever ``$FAIRNOTES_EXECUTOR`` says).

    >>> from concurrent.futures import ProcessPoolExecutor
    >>> with ProcessPoolExecutor(4) as ex, use_executor(ex):        # doctest: +SKIP
    ...     ds = run(base, models=["cnn"], seeds=range(8))
    """
    ex = executor_from_spec(executor) if isinstance(executor, str) else executor
    _DEFAULT.append(ex)
    try:
        yield ex
    finally:
        _DEFAULT.pop()


def resolve_executor(executor: Any = None) -> Any:
    """``None`` → :func:`default_executor`; ``False`` → ``None`` (one at a time); a text →
    :func:`executor_from_spec`; anything with a ``submit`` method as is."""
    if executor is None:
        return default_executor()
    if executor is False:
        return None
    if isinstance(executor, str):
        return executor_from_spec(executor)
    if not callable(getattr(executor, "submit", None)):
        raise TypeError(f"executor must have a submit(fn, *args) method (a concurrent.futures.Executor); "
                        f"got {executor!r}")
    return executor


def run_jobs(jobs: Sequence[tuple[Callable, Any]], *, executor: Any, stage: str,
             labels: Sequence[dict] | None = None, store: Any = None, bar: Any = None) -> list[xr.Dataset]:
    """``results.cached(job, cfg, store=store)`` of every ``(job, cfg)``, the missing ones on ``executor``.

    The runs already in the cache are read here (and reported ``cached``) before anything is submitted;
    each missing one (once, however often it is listed) becomes one task :func:`_train_one` that writes
    its result into the cache; it is read from there here. Progress (``report(stage, k=, n=)``) counts
    jobs as they end; ``labels`` (``{"model": ..., "seed": ...}`` per job) name them. A failed job does
    not stop the others: :class:`JobsFailed` names every failure once all have ended. Returns the
    Datasets in the order of ``jobs``, ``attrs["cache"]`` ``"miss ..."`` for those trained now.
    """
    from .. import results
    from .._paths import cache_dir
    from ..progress import report
    labels = list(labels) if labels is not None else [{} for _ in jobs]
    n = len(jobs)
    root = str(Path(store).resolve()) if store is not None else str(cache_dir("results").resolve())
    paths = [results.cache_path(job, cfg, store=root) for job, cfg in jobs]
    out: list[xr.Dataset | None] = [None] * n
    todo: dict[Path, list[int]] = {}
    k = 0
    for i, path in enumerate(paths):
        ds = None if path in todo else results.read_cached(path, "cached result")
        if ds is None:
            todo.setdefault(path, []).append(i)
            continue
        out[i] = ds
        k += 1
        _tick(bar, labels[i])
        report(stage, k=k, n=n, **_report_label(labels[i]))
        report(stage, k=k, n=n, done=True, cached=True)
    firsts = [idx[0] for idx in todo.values()]
    tasks = [(labels[i], jobs[i][1], _train_one, (jobs[i][0], jobs[i][1], root)) for i in firsts]
    states, failed, failures = _run_tasks(tasks, executor=executor, stage=stage, n=n, k0=k, bar=bar,
                                          cached=lambda state: state == "hit")
    k += len(tasks)
    for t, (i, state) in enumerate(zip(firsts, states)):
        if t in failed:
            continue
        ds = _read_result(paths[i])
        if ds is None:
            failures.append((labels[i], jobs[i][1], FileNotFoundError(
                f"the job ended on its worker, but its result {paths[i]} cannot be read here: the cache folder "
                "must be one folder shared by the workers and this process")))
            continue
        ds.attrs["cache"] = f"{state} {paths[i]}"
        out[i] = ds
        for j in todo[paths[i]][1:]:  # the same config listed again: the cache serves it, as one at a time
            out[j] = results.read_cached(paths[i], "cached result")
            k += 1
            _tick(bar, labels[j])
            report(stage, k=k, n=n, **_report_label(labels[j]))
            report(stage, k=k, n=n, done=True, cached=True)
    if failures:
        raise JobsFailed(stage, failures, n) from failures[0][2]
    return out  # type: ignore[return-value]


def _read_result(path: Path) -> xr.Dataset | None:
    """The result a worker has just written, waiting up to :data:`_VISIBLE_S` for it to show here: a network
    file system may remember for a while that the file was not there (listing the folder refreshes that)."""
    from .. import results
    deadline = time.monotonic() + _VISIBLE_S
    wait = 0.1
    while True:
        if path.exists() or time.monotonic() > deadline:
            return results.read_cached(path, "result of a worker")
        with contextlib.suppress(OSError):
            os.listdir(path.parent)
        time.sleep(wait)
        wait = min(2 * wait, 5.0)


def run_tasks(tasks: Sequence[tuple[dict, Any, Callable, tuple]], *, executor: Any, stage: str,
              n: int | None = None, k0: int = 0, bar: Any = None,
              cached: Callable[[Any], bool] | None = None) -> list[Any]:
    """``fn(*args)`` of every ``(label, config, fn, args)`` on ``executor`` (``fn`` a module-level function,
    its result small: it travels back); the results in order, or :class:`JobsFailed` once all have ended.

    Jobs ``k0 + 1 … k0 + len(tasks)`` of ``n`` of ``stage`` for the progress report, counted as they end
    (``cached(result)`` says whether one was served by the cache). The task runs on the worker with this
    process's ``$FAIRNOTES_CACHE`` and torch threads set (module doc) and no progress channel of its own.
    """
    out, _, failures = _run_tasks(tasks, executor=executor, stage=stage, n=n, k0=k0, bar=bar, cached=cached)
    if failures:
        raise JobsFailed(stage, failures, len(tasks)) from failures[0][2]
    return out


def _run_tasks(tasks: Sequence[tuple[dict, Any, Callable, tuple]], *, executor: Any, stage: str, n: int | None,
               k0: int, bar: Any, cached: Callable[[Any], bool] | None
               ) -> tuple[list[Any], set[int], list[tuple[dict, Any, BaseException]]]:
    """The results in order, the positions of the failed tasks, and their failures."""
    from .._paths import cache_dir
    from ..progress import report
    out: list[Any] = [None] * len(tasks)
    failures: list = []
    failed: set[int] = set()
    if not tasks:
        return out, failed, failures
    n = n if n is not None else k0 + len(tasks)
    cache_root = str(cache_dir().resolve())
    threads = _task_threads(executor)
    where = _describe(executor)
    futures: dict[Any, int] = {}
    try:
        for i, (_, _, fn, args) in enumerate(tasks):
            futures[executor.submit(_remote, fn, tuple(args), cache_root, threads, _process_id())] = i
        k = k0
        report(stage, k=k + 1, n=n, what=f"{_jobs(len(tasks))} on {where}")  # k: the next job to end
        for fut in _as_completed(list(futures)):
            i = futures[fut]
            label, cfg = tasks[i][0], tasks[i][1]
            hit = None
            try:
                out[i] = fut.result()
                hit = bool(cached(out[i])) if cached is not None else False
            except (Exception, cf.CancelledError) as e:  # noqa: BLE001 - named in JobsFailed
                failed.add(i)
                failures.append((i, label, cfg, e))
            k += 1
            _tick(bar, label)
            report(stage, k=k, n=n, done=True, cached=hit, **_report_label(label))
            if k - k0 < len(tasks):
                report(stage, k=k + 1, n=n, what=f"{_jobs(len(tasks) - (k - k0))} left on {where}")
    except BaseException:  # interrupted (or submit failed): cancel what has not started
        for fut in futures:
            with contextlib.suppress(Exception):
                fut.cancel()
        raise
    return out, failed, [f[1:] for f in sorted(failures, key=lambda f: f[0])]


def _as_completed(futures: list) -> Iterator[Any]:
    """``concurrent.futures.as_completed``, or polling ``done()`` for other futures (submitit's jobs)."""
    if all(isinstance(f, cf.Future) for f in futures):
        yield from cf.as_completed(futures)
        return
    pending = list(futures)
    while pending:
        ready = [f for f in pending if f.done()]
        for f in ready:
            pending.remove(f)
            yield f
        if pending and not ready:
            time.sleep(_POLL_S)


def _remote(fn: Callable, args: tuple, cache_root: str | None, threads: int | None, parent: str = "") -> Any:
    """What a worker runs: ``fn(*args)`` with the parent's cache folder, ``threads`` torch threads, and no
    progress channel (the parent reports jobs as they end; epochs of parallel jobs would interleave).

    In the parent's own process (a thread pool; ``parent`` is :func:`_process_id` there) it changes nothing:
    the environment and torch's threads are the parent's own, shared by its threads. Tasks in one process
    run one at a time (a worker of several threads, a thread pool): torch's random state is the process's,
    and two runs drawing from it at once would not give the numbers each gives alone. A sweep inside a task
    runs one at a time there (no executor of executors)."""
    with _ONE_AT_A_TIME, use_executor(None):
        if parent == _process_id():
            return fn(*args)
        return _with_settings(fn, args, cache_root, threads)


_ONE_AT_A_TIME = threading.Lock()


def _with_settings(fn: Callable, args: tuple, cache_root: str | None, threads: int | None) -> Any:
    from ..progress import ENV as PROGRESS
    saved = {k: os.environ.get(k) for k in ("FAIRNOTES_CACHE", PROGRESS)}
    if cache_root:
        os.environ["FAIRNOTES_CACHE"] = cache_root
    os.environ.pop(PROGRESS, None)
    if threads:
        import torch
        torch.set_num_threads(int(threads))
    try:
        return fn(*args)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _process_id() -> str:
    import platform
    return f"{platform.node()}:{os.getpid()}"


def _train_one(job: Callable, cfg: Any, store: str) -> str:
    """One task of :func:`run_jobs`: ``results.cached(job, cfg, store=store)`` on the worker (the result
    is written atomically into the shared cache); returns ``"miss"`` (trained here) or ``"hit"`` (another
    process had just trained it), nothing big."""
    from .. import results
    ds = results.cached(job, cfg, store=store)
    return str(ds.attrs.get("cache", "miss")).split(" ", 1)[0]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _task_threads(executor: Any) -> int | None:
    """Torch threads per task: ``$FAIRNOTES_WORKER_THREADS``, else a process pool's share of the cores,
    else ``None`` (the worker's own setting)."""
    text = os.environ.get(THREADS_ENV, "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"{THREADS_ENV} must be a whole number >= 1; got {text!r}")
        return int(text)
    if isinstance(executor, cf.ProcessPoolExecutor):
        return max(1, _cores() // max(1, int(getattr(executor, "_max_workers", 1))))
    return None


def _jobs(m: int) -> str:
    return f"{m} job" + ("" if m == 1 else "s")


def _describe(executor: Any) -> str:
    if isinstance(executor, cf.ProcessPoolExecutor):
        return f"{getattr(executor, '_max_workers', '?')} local processes"
    if type(executor).__module__.startswith("distributed"):
        return "Dask"
    return type(executor).__name__


def _report_label(label: dict) -> dict:
    return {k: label[k] for k in ("model", "seed") if label.get(k) is not None}


def _label_text(label: dict) -> str:
    text = str(label.get("model", "job"))
    return text + (f" seed {label['seed']}" if label.get("seed") is not None else "")


def _config_key(cfg: Any) -> str:
    from ..results import config_hash
    try:
        return cfg.key() if callable(getattr(cfg, "key", None)) else config_hash(cfg)
    except Exception:  # noqa: BLE001 - only for a message
        return "?"


def _tick(bar: Any, label: dict) -> None:
    if bar is not None:
        bar.set_postfix_str(_label_text(label))
        bar.update()
