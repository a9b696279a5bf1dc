"""The torch runtime every torch-using layer shares: device and process-group set-up, batched inference.

Used by the jobs (:mod:`fairnotes.jobs`), feature extraction and the zero-shot layer; it sits below them
all, so none of them imports another for it. Torch itself is imported inside the functions.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class Runtime:
    """Where this process runs: its device and, under ``torchrun``, its rank in the group."""

    device: Any  # torch.device
    rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # True when this job created the process group (and must destroy it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist
            dist.barrier()

    def close(self) -> None:
        if self.owns_group:
            import torch.distributed as dist
            dist.destroy_process_group()
            self.owns_group = False


def start(device: str = "auto") -> Runtime:
    """Resolve ``device`` and join the ``torchrun`` process group if the environment names one.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) the group uses nccl on CUDA and gloo on CPU. When
    ``OMP_NUM_THREADS`` is unset, the CPU threads are split between the local processes so
    they do not oversubscribe the cores (torchrun itself sets it to 1).
    """
    import torch
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but torch sees no CUDA device")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
        torch.backends.cudnn.benchmark = True
    owns = False
    if world > 1:
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")
            owns = True
        rank, world = dist.get_rank(), dist.get_world_size()
        if "OMP_NUM_THREADS" not in os.environ and not use_cuda:
            local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    return Runtime(dev, rank, world, owns)


def autocast(rt: Runtime) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; nothing on CPU (bit-exact, reproducible float32)."""
    import torch
    if rt.cuda:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def progress(iterable: Any, *, enable: bool | None, **kwargs: Any) -> Any:
    """``tqdm.auto`` bar; ``enable=None`` shows it in notebooks and terminals, not in logs.

    Under ``fairnotes run`` (:func:`fairnotes.progress.kernel_bars`) every bar is off: the terminal shows the
    progress instead. An off bar is a disabled plain tqdm, so ``tqdm.auto`` (which warns on import in a
    kernel without ipywidgets) is not even imported.
    """
    from .progress import kernel_bars
    enable = kernel_bars(enable)
    if enable is False:
        from tqdm.std import tqdm as plain
        return plain(iterable, disable=True, **kwargs)
    from tqdm.auto import tqdm
    return tqdm(iterable, disable=None if enable is None else not enable, **kwargs)


@contextlib.contextmanager
def capture_features(model: Any, enabled: bool) -> Iterator[list]:
    """Collect the classifier's input (the penultimate features) during forward passes."""
    store: list = []
    if not enabled:
        yield store
        return
    head = model.get_classifier()
    handle = head.register_forward_pre_hook(lambda mod, args: store.append(args[0].flatten(1).float().cpu()))
    try:
        yield store
    finally:
        handle.remove()


def predict(model: Any, batches: Iterator[Any], prep: Callable[[Any], Any], rt: Runtime, *,
            features: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits (float32 ``N×K``) and optionally features (``N×F``) of uint8 ``batches``.

    ``prep`` turns a uint8 batch (already on the device) into the model's float input.
    """
    import torch
    was_training = model.training
    model.eval()
    out = []
    with torch.inference_mode(), capture_features(model, features) as feats, autocast(rt):
        for xb in batches:
            out.append(model(prep(xb.to(rt.device, non_blocking=True))).float().cpu())
    model.train(was_training)
    logits = torch.cat(out).numpy().astype(np.float32, copy=False)
    f = torch.cat(feats).numpy().astype(np.float32, copy=False) if features else None
    return logits, f


def tensor_batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """Consecutive slices of an in-memory tensor."""
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size]


def as_tensor(images: np.ndarray) -> torch.Tensor:
    """A uint8 array as a CPU tensor (copied when read-only or strided, else shared)."""
    import torch
    if not images.flags.writeable or not images.flags.c_contiguous:
        images = np.array(images, order="C")
    return torch.from_numpy(images)


def count_params(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))
