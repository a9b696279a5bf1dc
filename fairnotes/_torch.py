"""The torch runtime every torch-using layer shares: device and process-group set-up, batched inference.

Used by the jobs (:mod:`fairnotes.jobs`), feature extraction and the zero-shot layer; it sits below them
all, so none of them imports another for it. Torch itself is imported inside the functions.
"""
from __future__ import annotations

import contextlib
import functools
import logging
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


PRECISIONS = ("fp32", "bf16")
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 (/proc/cpuinfo); Arm's flag is "bf16"
log = logging.getLogger("fairnotes")


def check_precision(precision: Any) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}; got {precision!r}")


@functools.lru_cache(maxsize=None)
def cpu_bf16_supported() -> bool:
    """Whether this CPU computes bf16 natively, so that bf16 autocast is faster than float32 here.

    x86: the ``avx512_bf16`` or ``amx_bf16`` flag (Cooper Lake, Sapphire Rapids and later; Zen 4 and
    later); Arm: the ``bf16`` feature (``/proc/cpuinfo`` on Linux, ``hw.optional.arm.FEAT_BF16`` on macOS).
    oneDNN emulates bf16 on other AVX-512 CPUs (``torch.backends.cpu.get_cpu_capability()`` says
    ``AVX512`` there as well), which is slower than float32, so those count as unsupported. Torch must
    also have been built with oneDNN's bf16 kernels.
    """
    import platform
    import subprocess

    import torch
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):  # pragma: no cover - torch without oneDNN
        return False
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("flags", "features")):
                    flags.update(line.split(":", 1)[-1].split())
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True,
                                 timeout=5).stdout.strip()
            if out == "1":
                flags.add("bf16")
        except (OSError, subprocess.SubprocessError):
            pass
    arm = platform.machine().lower() in ("arm64", "aarch64")
    return any(f in flags for f in _CPU_BF16_FLAGS) or (arm and "bf16" in flags)


def bf16_supported(device: Any) -> bool:
    """bf16 autocast pays off on ``device`` (a ``torch.device``): a CUDA device with bf16, or a bf16 CPU."""
    import torch
    if torch.device(device).type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return cpu_bf16_supported()


def resolve_precision(precision: str, device: Any) -> tuple[str, str | None]:
    """``(precision that runs, note)`` for ``precision`` asked on ``device`` (a ``torch.device``, or
    ``"auto"``/``"cpu"``/``"cuda"``).

    ``"bf16"`` falls back to ``"fp32"`` where the device has no native bf16; the note says so (and is
    logged) and is ``None`` otherwise.
    """
    import torch
    check_precision(precision)
    if precision == "fp32":
        return "fp32", None
    if isinstance(device, str) and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if bf16_supported(device):
        return "bf16", None
    what = "this CUDA device" if device.type == "cuda" else "this CPU (no avx512_bf16 / amx_bf16 / bf16 flag)"
    note = f"precision='bf16' asked, but {what} has no native bf16: running in fp32"
    log.warning(note)
    return "fp32", note


def autocast(rt: Runtime, precision: str | None = None) -> contextlib.AbstractContextManager:
    """The autocast context of ``precision`` (as resolved by :func:`resolve_precision`) on ``rt``'s device.

    ``"bf16"``: bf16 autocast (CPU or CUDA; the parameters, gradients and optimizer state stay float32);
    ``"fp32"``: nothing (bit-exact, reproducible float32). ``None``: the jobs' device default, bf16 on
    CUDA and float32 on CPU (the contrastive, evaluation and remedies jobs).
    """
    if precision is None:
        precision = "bf16" if rt.cuda else "fp32"
    check_precision(precision)
    if precision == "bf16":
        return bf16_autocast(rt.device)
    return contextlib.nullcontext()


@contextlib.contextmanager
def bf16_autocast(device: Any) -> Iterator[None]:
    """bf16 autocast on ``device``; on CPU also the math kernel for ``scaled_dot_product_attention``.

    CPU's fused (flash) attention has a slow bf16 backward: a 4-block ViT (64 wide, 50 tokens, batch 128)
    trained 1.75× slower than in float32 with it and 1.2× faster with the math kernel (CPU time,
    one thread). Float32 is left on torch's own choice, so its numbers do not change.
    """
    import torch
    device = torch.device(device)
    with torch.autocast(device.type, dtype=torch.bfloat16), contextlib.ExitStack() as stack:
        if device.type == "cpu":
            from torch.nn.attention import SDPBackend, sdpa_kernel
            stack.enter_context(sdpa_kernel([SDPBackend.MATH]))
        yield


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
            features: bool = False, precision: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits (float32 ``N×K``) and optionally features (``N×F``) of uint8 ``batches``.

    ``prep`` turns a uint8 batch (already on the device) into the model's float input; ``precision``
    as in :func:`autocast` (resolved already: ``"bf16"`` runs bf16 autocast).
    """
    import torch
    was_training = model.training
    model.eval()
    out = []
    with torch.inference_mode(), capture_features(model, features) as feats, autocast(rt, precision):
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
