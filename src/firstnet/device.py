"""Which device and precision a run uses, and the machine it runs on (saved with every run and
benchmark)."""

from __future__ import annotations

import os
import platform
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from firstnet.errors import ConfigError
from firstnet.version import __version__


def recipe_device(name: str) -> str:
    """The device name a TrainConfig takes its recipe by: "auto" is "cuda" where a CUDA GPU is
    there (config.DEVICE_RECIPES), else left as it is."""
    return "cuda" if name == "auto" and resolve_device("auto").type == "cuda" else name


def resolve_device(name: str) -> torch.device:
    """ "auto" picks CUDA when a GPU is available; "cuda" without one is a clear error."""
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    if name == "mps" and not mps:
        message = "device mps: no Apple GPU (MPS) is available (use device cpu or auto)"
        raise ConfigError(message, ("device",))
    if name == "cuda" and not torch.cuda.is_available():
        if torch.version.cuda is None:
            raise ConfigError(
                f"device cuda: this torch ({torch.__version__}) is a CPU-only build; install a "
                "CUDA build of torch (see the README), or use device cpu or auto",
                ("device",),
            )
        message = "device cuda: no CUDA GPU is available (use device cpu or auto)"
        raise ConfigError(message, ("device",))
    return torch.device(name)


def to_device_tensors(images, labels, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and int64 labels (N,) on `device`: uint8 images (N, 28, 28) become (N, 1, 28, 28)
    uint8; float features (N, D), such as the 2-D toy data sets, stay float32."""
    if images.dtype == np.uint8:
        images = torch.tensor(images, dtype=torch.uint8).unsqueeze(1)
    else:
        images = torch.tensor(images, dtype=torch.float32)
    return images.to(device), torch.tensor(labels, dtype=torch.int64).to(device)


def idle_cores(seconds: float = 0.1) -> int | None:
    """How many of this machine's cores were idle over `seconds` (from /proc/stat, Linux); None
    where that cannot be read."""
    try:
        before = cpu_times()
        time.sleep(seconds)
        after = cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    total = sum(after) - sum(before)
    idle = (after[3] + after[4]) - (before[3] + before[4])  # idle and iowait
    return round((os.cpu_count() or 1) * idle / total) if total > 0 else None


def cpu_times() -> list[int]:
    """The machine's CPU time so far, by kind (user, nice, system, idle, iowait, ...)."""
    with open("/proc/stat") as stat:
        return [int(value) for value in stat.readline().split()[1:]]


def training_threads(requested: int | None) -> int:
    """The torch threads a training uses: `requested`, else torch's own where OMP_NUM_THREADS sets
    it, else one per idle core (at least one).
    On a machine with other work, torch's threads meet at a barrier after every operation and
    one waiting for its core holds up the others: beside one busy process on 2 cores, 2 threads
    trained the MLP 2.4x slower than 1 (benchmarks/threads_under_load.py)."""
    if requested is not None:
        return requested
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    idle = idle_cores()
    if idle is None:
        return torch.get_num_threads()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(idle, usable or 1))  # a container or taskset may allow fewer than exist


def resolve_precision(precision: str, device: torch.device) -> str:
    """ "auto" becomes bf16 where the hardware computes it natively (AVX-512 BF16 or AMX CPUs, bf16
    GPUs)."""
    if precision == "fp16" and device.type != "cuda":
        message = "precision fp16 needs a CUDA device; on the CPU use bf16"
        raise ConfigError(message, ("precision",))
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "mps":
        return "fp32"
    flags = torch.cpu.get_capabilities()  # what the CPU reports (cpuid), as torch reads it
    native = flags.get("avx512_bf16", False) or flags.get("amx_bf16", False)
    return "bf16" if native else "fp32"


def inference_precision(precision: str, device: torch.device) -> str:
    """The precision a trained model is evaluated in on `device`: its training's, except that an
    fp16 run (trained on a GPU) runs in fp32, the CPU's closest, off CUDA."""
    if precision == "fp16" and device.type != "cuda":
        precision = "fp32"
    return resolve_precision(precision, device)


def autocast(precision: str, device: torch.device, cache: bool = True):
    """Mixed precision for the forward pass (`precision` already resolved); `cache`: keep the
    low-precision copies of the weights for the rest of the context (not in a CUDA graph)."""
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype, cache_enabled=cache)


def environment(device: torch.device) -> dict:
    """Versions and hardware, saved with every run so its numbers can be interpreted later."""
    info = {
        "firstnet": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def hardware(env: dict) -> str:
    """The machine of an `environment` in a few words: the GPU's name, else the CPU's and its
    cores."""
    return env.get("gpu") or f"{env['cpu']}, {env['cpu_count']} cores"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
