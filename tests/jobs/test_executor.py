"""Sweeps on an executor (fairnotes.jobs.sweep: executor=, use_executor, $FAIRNOTES_EXECUTOR): a local process
pool and a local Dask cluster of two worker processes give the very results of the sweep run one at a time."""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from fairnotes import progress, results
from fairnotes.jobs import sweep, train

MODELS, SEEDS = ["cnn:width=4", "mlp:width=8"], [0, 1]
TIMES = ["wall_time_s", "train_time_s"]  # how long a run took: the only numbers that may differ


def _base() -> train.TrainConfig:
    return train.TrainConfig(dataset="digits", model="cnn", epochs=1, batch_size=32, lr=0.05, train_per_class=12,
                             augment="crop", device="cpu", progress=False, profile="tiny")


def _in_cache(root: Path, mp: pytest.MonkeyPatch) -> dict:
    """Everything of a run in its own cache folder (results, checkpoints), so no run reuses another's."""
    mp.setenv("FAIRNOTES_CACHE", str(root))
    return {"store": root / "results"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> xr.Dataset:
    """The sweep run here, one at a time, with no executor anywhere."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(sweep.EXECUTOR_ENV, raising=False)
        kw = _in_cache(tmp_path_factory.mktemp("sequential"), mp)
        ds = sweep.run(_base(), models=MODELS, seeds=SEEDS, progress=False, **kw)
    torch.set_num_threads(before)
    assert (ds["wall_time_s"] > 0).all()
    return ds


@pytest.fixture(scope="module")
def pool():
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
        yield ex


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture
def events(tmp_path, monkeypatch):
    """The progress events the sweep reports (fairnotes.progress), read back."""
    path = tmp_path / "events.jsonl"
    path.touch()
    monkeypatch.setenv(progress.ENV, str(path))
    return lambda: progress.read_events(path)[0]


class Counting(cf.Executor):
    """Another executor's submit, counted."""

    def __init__(self, inner):
        self.inner, self.submitted = inner, []

    def submit(self, fn, *args, **kwargs):
        self.submitted.append(args)
        return self.inner.submit(fn, *args, **kwargs)


def _same(ds: xr.Dataset, ref: xr.Dataset) -> None:
    xr.testing.assert_identical(ds.drop_vars(TIMES, errors="ignore"), ref.drop_vars(TIMES, errors="ignore"))
    np.testing.assert_array_equal(ds["prediction"].values, ref["prediction"].values)


def _jobs(stage_events: list[dict]) -> list[tuple[int, bool]]:
    return [(e["k"], e.get("cached")) for e in stage_events if e.get("done")]


# ------------------------------------------------------------------------------------------------ process pool

def test_process_pool_gives_the_sequential_results_and_reports_jobs_as_they_end(reference, pool, tmp_path,
                                                                                  monkeypatch, events):
    kw = _in_cache(tmp_path / "cache", monkeypatch)
    ds = sweep.run(_base(), models=MODELS, seeds=SEEDS, progress=False, executor=pool, **kw)
    _same(ds, reference)
    assert (ds["wall_time_s"] > 0).all()  # trained now (on the workers), as one at a time reports it
    # the workers wrote into this cache folder: results and the runs' checkpoints
    assert len(list((tmp_path / "cache" / "results" / "train").glob("*.nc"))) == 4
    assert len(list((tmp_path / "cache" / "checkpoints").iterdir())) == 4
    ev = [e for e in events() if e.get("stage") == "digits: runs"]
    assert _jobs(ev) == [(1, False), (2, False), (3, False), (4, False)]
    assert all(e["n"] == 4 for e in ev) and "4 jobs on 2 local processes" in ev[0]["what"]


def test_a_cached_run_is_read_here_not_submitted(reference, pool, tmp_path, monkeypatch, events):
    kw = _in_cache(tmp_path / "cache", monkeypatch)
    counting = Counting(pool)
    sweep.run(_base(), models=MODELS, seeds=SEEDS, progress=False, executor=counting, **kw)
    assert len(counting.submitted) == 4
    one = results.cache_path(train.run, dataclasses.replace(sweep.configs(_base(), models=MODELS[1:], seeds=[1])[0],
                                                            progress=False), store=kw["store"])
    assert one.exists()
    one.unlink()  # one of the four runs is gone: only it goes to the executor
    counting.submitted.clear()
    before = len(events())
    again = sweep.run(_base(), models=MODELS, seeds=SEEDS, progress=False, executor=counting, **kw)
    assert [(a[1][0], a[1][1].model, a[1][1].seed) for a in counting.submitted] == [(train.run, "mlp", 1)]
    _same(again, reference)
    wall = again["wall_time_s"].values  # model × seed: only mlp seed 1 trained now
    assert wall[1, 1] > 0 and (np.delete(wall.ravel(), 3) == 0).all()
    assert _jobs(events()[before:]) == [(1, True), (2, True), (3, True), (4, False)]
    counting.submitted.clear()
    sweep.run(_base(), models=MODELS, seeds=SEEDS, progress=False, executor=counting, **kw)
    assert counting.submitted == []  # all cached: nothing submitted at all


def _fails_for_seed_1(cfg):
    if cfg.seed == 1:
        raise ValueError("no data for this seed")
    return train.run(cfg)


def test_a_failed_job_is_named_after_the_others_end(pool, tmp_path, monkeypatch):
    _in_cache(tmp_path, monkeypatch)
    cfgs = [dataclasses.replace(c, progress=False) for c in sweep.configs(_base(), models=MODELS[:1], seeds=[0, 1, 2])]
    with pytest.raises(sweep.JobsFailed) as err:
        sweep.run_jobs([(_fails_for_seed_1, c) for c in cfgs], executor=pool, stage="test",
                       labels=[{"model": "cnn", "seed": c.seed} for c in cfgs])
    msg = str(err.value)
    assert "1 of 3 jobs of 'test' failed" in msg
    assert f"cnn seed 1 (config {cfgs[1].key()}): ValueError: no data for this seed" in msg
    assert isinstance(err.value.__cause__, ValueError) and [f[1] for f in err.value.failures] == [cfgs[1]]
    # the others ended, and their results are in the cache; the failed one left nothing behind
    folder = results.cache_path(_fails_for_seed_1, cfgs[0]).parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{c.key()}.nc" for c in (cfgs[0], cfgs[2]))


# ------------------------------------------------------------------------------------------------ choosing one

def test_the_executor_of_a_process(monkeypatch):
    monkeypatch.delenv(sweep.EXECUTOR_ENV, raising=False)
    assert sweep.default_executor() is None and sweep.resolve_executor(None) is None
    monkeypatch.setenv(sweep.EXECUTOR_ENV, "processes:2")
    try:
        ex = sweep.default_executor()
        assert isinstance(ex, cf.ProcessPoolExecutor) and ex._max_workers == 2
        assert sweep.resolve_executor(None) is ex  # one per process: later sweeps reuse it
        assert sweep.resolve_executor(False) is None  # one at a time, whatever the environment says
        with sweep.use_executor(None):
            assert sweep.default_executor() is None
        mine = cf.ThreadPoolExecutor(1)
        with sweep.use_executor(mine):
            assert sweep.default_executor() is mine and sweep.resolve_executor("sequential") is None
        assert sweep.default_executor() is ex
        assert sweep._task_threads(ex) == max(1, sweep._cores() // 2)
        monkeypatch.setenv(sweep.THREADS_ENV, "3")
        assert sweep._task_threads(ex) == 3 and sweep._task_threads(mine) == 3
        mine.shutdown()
    finally:
        sweep._close_spec_executors()
    for bad in ("processes:0", "processes:x", "slurm"):
        with pytest.raises(ValueError, match="executor"):
            sweep.executor_from_spec(bad)
    with pytest.raises(TypeError, match="submit"):
        sweep.resolve_executor(42)


class _Job:
    """A future that is not a concurrent.futures.Future (as submitit's jobs are): done(), result(), cancel()."""

    def __init__(self, fn, args):
        try:
            self._value, self._error = fn(*args), None
        except Exception as e:  # noqa: BLE001
            self._value, self._error = None, e

    def done(self):
        return True

    def cancel(self):
        return False

    def result(self):
        if self._error is not None:
            raise self._error
        return self._value


class _JobExecutor:
    def submit(self, fn, *args):
        return _Job(fn, args)


def test_futures_that_are_not_concurrent_futures_are_polled(tmp_path, monkeypatch):
    _in_cache(tmp_path, monkeypatch)
    cfgs = [dataclasses.replace(c, progress=False, epochs=0) for c in sweep.configs(_base(), models=MODELS[:1],
                                                                                    seeds=[0, 1])]
    out = sweep.run_jobs([(train.run, c) for c in cfgs], executor=_JobExecutor(), stage="test")
    assert [str(ds.attrs["cache"]).split()[0] for ds in out] == ["miss", "miss"]
    np.testing.assert_array_equal(out[0]["prediction"], results.cached(train.run, cfgs[0])["prediction"])
    assert os.environ["FAIRNOTES_CACHE"] == str(tmp_path)  # the task's settings do not leak into this process


# ------------------------------------------------------------------------------------------------ Dask

def test_a_dask_cluster_gives_the_sequential_results(reference, dask_client, tmp_path, monkeypatch):
    kw = _in_cache(tmp_path, monkeypatch)
    ds = sweep.run(_base(), models=MODELS, seeds=SEEDS, progress=False, executor=dask_client.get_executor(), **kw)
    _same(ds, reference)
    assert (ds["wall_time_s"] > 0).all()


def test_the_environment_names_a_dask_scheduler(reference, dask_client, tmp_path, monkeypatch, events):
    """What a chapter's kernel does: no executor in the code, FAIRNOTES_EXECUTOR in its environment."""
    kw = _in_cache(tmp_path, monkeypatch)
    monkeypatch.setenv(sweep.EXECUTOR_ENV, f"dask://{dask_client.scheduler.address}")
    try:
        assert type(sweep.default_executor()).__name__ == "ClientExecutor"
        ds = sweep.run(_base(), models=MODELS, seeds=SEEDS[:1], progress=False, **kw)
    finally:
        sweep._close_spec_executors()
    _same(ds, reference.isel(seed=[0]).assign_attrs(seeds="0"))
    assert "jobs on Dask" in next(e["what"] for e in events() if e.get("what"))


def _dies_once(cfg):
    """train.run, but the first time for seed 0 the worker process dies (as a killed or lost worker does)."""
    marker = Path(os.environ["FAIRNOTES_CACHE"]) / f"died-{cfg.seed}"
    if cfg.seed == 0 and not marker.exists():
        marker.touch()
        os._exit(1)
    return train.run(cfg)


def test_dask_retries_the_job_of_a_killed_worker(reference, dask_client, tmp_path, monkeypatch):
    import dask
    assert dask.config.get("distributed.scheduler.allowed-failures") >= 1  # how often a task may kill a worker
    import cloudpickle
    import sys
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers need not import this test module
    try:
        _in_cache(tmp_path, monkeypatch)
        cfgs = [dataclasses.replace(c, progress=False) for c in sweep.configs(_base(), models=MODELS[:1], seeds=SEEDS)]
        out = sweep.run_jobs([(_dies_once, c) for c in cfgs], executor=dask_client.get_executor(), stage="test",
                             labels=[{"model": c.model, "seed": c.seed} for c in cfgs])
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert (tmp_path / "died-0").exists()  # the worker did die, and the job ran again on another
    for seed, ds in zip(SEEDS, out):
        np.testing.assert_array_equal(ds["prediction"].values,
                                      reference["prediction"].sel(model=MODELS[0], seed=seed).values)


# ------------------------------------------------------------------------------------------------ other sweeps

def test_remedies_and_diversity_take_an_executor(pool, tmp_path, monkeypatch, one_torch_thread):
    from fairnotes.jobs import diversity, remedies
    monkeypatch.delenv(sweep.EXECUTOR_ENV, raising=False)
    base = dataclasses.replace(_base(), model_kwargs={"width": 4})
    out = {}
    for name, ex in (("here", None), ("pool", pool)):
        _in_cache(tmp_path / name, monkeypatch)
        rem = remedies.run(base, remedies=["label-smoothing", "reweight:heldout_per_class=5", "baseline-probe"],
                           seeds=[0], progress=False, executor=ex)
        div = diversity.run(dataclasses.replace(base, track=True), base="digits", classes=[0, 1, 2], targets=[0],
                            sources=[8], seeds=[0], models=["mlp:width=8"], progress=False, n_boot=20, executor=ex)
        out[name] = (rem, div)
    for here, there in zip(out["here"], out["pool"]):
        _same(there, here)


def test_lit_seeds_on_an_executor_first_one_alone(tmp_path, monkeypatch):
    """MuSE's LiT seeds: the missing ones go to the executor, the first alone when none is trained (it caches the
    towers' features all seeds share); the trained ones are not submitted. (A stand-in trains.)"""
    from fairnotes.analysis import _muse_jobs
    from fairnotes.zeroshot import lit
    _in_cache(tmp_path, monkeypatch)
    batches = []
    real = sweep.run_tasks

    def recording(tasks, **kw):
        batches.append([t[1].seed for t in tasks])
        return real(tasks, **kw)

    def stand_in(cfg):
        lit.projections_path(cfg).write_bytes(b"weights")
        return "miss"

    monkeypatch.setattr(sweep, "run_tasks", recording)
    monkeypatch.setattr(_muse_jobs, "_train_lit", stand_in)
    cfgs = _muse_jobs.lit_seed_configs(lit.LitConfig(), [0, 1, 2])
    _muse_jobs.train_lit(cfgs)  # no executor anywhere: nothing (load_embedder trains each when asked)
    assert batches == []
    _muse_jobs.train_lit(cfgs + cfgs[:1], executor=_JobExecutor())
    assert batches == [[0], [1, 2]] and all(lit.projections_path(c).exists() for c in cfgs)
    batches.clear()
    _muse_jobs.train_lit(_muse_jobs.lit_seed_configs(lit.LitConfig(), [0, 1, 2, 3]), executor=_JobExecutor())
    assert batches == [[], [3]]
