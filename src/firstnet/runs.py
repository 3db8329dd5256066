"""Run directories: config.json, metrics.jsonl, model.safetensors and a resumable checkpoint.

Every file is written to a temporary name in the same folder and then renamed over the target, so a
crash or Ctrl-C never leaves a half-written file. Tensors go to safetensors and everything else to JSON:
loading a run never executes code (no pickle).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

import firstnet
from firstnet.config import TrainConfig
from firstnet.errors import CheckpointError
from firstnet.evaluate import predict_logits
from firstnet.models import model_for
from firstnet.train import Trainer, autocast, resolve_precision

CONFIG, METRICS, MODEL, CHECKPOINT = "config.json", "metrics.jsonl", "model.safetensors", "checkpoint.safetensors"


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a mix."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def default_name(cfg: TrainConfig) -> str:
    return f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def create_run_dir(runs_dir: Path, name: str) -> Path:
    run_dir = Path(runs_dir) / name
    if run_dir.exists() and any(run_dir.iterdir()):
        raise CheckpointError(f"{run_dir} already exists; pick another --name, or continue it with --resume {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def environment(device: torch.device) -> dict:
    """Versions and hardware, saved with every run so its numbers can be interpreted later."""
    info = {"firstnet": firstnet.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "device": str(device), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_config(run_dir: Path, cfg: TrainConfig, device: torch.device, data_source: str,
                 extra: dict | None = None) -> None:
    """config.json: the config, data source, time and environment, plus `extra` facts about the run."""
    payload = {"config": cfg.to_dict(), "seed": cfg.seed, "data_source": data_source,
               "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **environment(device), **(extra or {})}
    atomic_write(run_dir / CONFIG, json.dumps(payload, indent=2) + "\n")


def read_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{run_dir} is not a firstnet run directory (no {CONFIG})")
    try:
        return TrainConfig.from_dict(json.loads(path.read_text())["config"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: unreadable config ({err})") from err


def write_metrics(run_dir: Path, history: list[dict]) -> None:
    atomic_write(run_dir / METRICS, "".join(json.dumps(record) + "\n" for record in history))


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / METRICS
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.is_file() else []


def save_model(run_dir: Path, cfg: TrainConfig, state: dict[str, torch.Tensor]) -> None:
    """Final weights (a state dict of the model `cfg` builds) as `model.safetensors`."""
    metadata = {"format": "firstnet", "config": json.dumps(cfg.to_dict())}
    atomic_save_tensors(run_dir / MODEL, state, metadata)


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err


def load_state_into(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Copy `tensors` into `model`, with one clear error if names or shapes differ from its config."""
    expected = model.state_dict()
    problems = [f"missing {k}" for k in expected if k not in tensors]
    problems += [f"unexpected {k}" for k in tensors if k not in expected]
    problems += [f"{k}: shape {tuple(tensors[k].shape)} but the config needs {tuple(v.shape)}"
                 for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    if problems:
        raise CheckpointError(f"{path} does not match its config.json: " + "; ".join(problems[:4]))
    model.load_state_dict(tensors)


def load_model(run_dir: Path, device: str | torch.device = "cpu") -> tuple[TrainConfig, torch.nn.Module]:
    """The trained model of a finished run, in eval mode."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    path = run_dir / MODEL
    if not path.is_file():
        hint = f"; continue it with: firstnet train --resume {run_dir}" if (run_dir / CHECKPOINT).is_file() else ""
        raise CheckpointError(f"{run_dir} has no {MODEL}: the run did not finish{hint}")
    model = model_for(cfg)
    load_state_into(model, load_tensors(path)[0], path)
    return cfg, model.to(device).eval()


def probabilities(cfg: TrainConfig, model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Class probabilities (N, 10) of a loaded run, computed as its training evaluated: same precision, TTA."""
    device = next(model.parameters()).device
    with autocast(resolve_precision(cfg.precision, device), device):
        return predict_logits(model, images, tta=bool(cfg.tta)).softmax(1)


def save_checkpoint(run_dir: Path, trainer: Trainer) -> None:
    """Everything `resume` needs to continue exactly: weights, optimizer, batch order, RNG, position."""
    tensors = {f"model.{k}": v for k, v in trainer.model.state_dict().items()}
    optim = trainer.optimizer.state_dict()
    scalars = {}
    for index, state in optim["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    tensors["rng.shuffle"] = trainer.shuffle_generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["trainer.sums"] = trainer.sums
    if trainer.order is not None:
        tensors["trainer.order"] = trainer.order
    state = {"epoch": trainer.epoch, "batch": trainer.batch, "elapsed_s": trainer.elapsed_s,
             "history": trainer.history, "param_groups": optim["param_groups"], "optim_scalars": scalars}
    atomic_save_tensors(run_dir / CHECKPOINT, tensors, {"format": "firstnet-checkpoint", "state": json.dumps(state)})


def restore_checkpoint(run_dir: Path, trainer: Trainer) -> None:
    """Load a checkpoint written by `save_checkpoint` into a freshly built trainer of the same config."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no {CHECKPOINT} to resume from")
    tensors, metadata = load_tensors(path)
    try:
        state = json.loads(metadata["state"])
    except (KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: checkpoint metadata is missing or corrupt") from err
    model_state = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    load_state_into(trainer.model, model_state, path)
    optim_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            optim_state.setdefault(int(index), {})[name] = value.to(trainer.device)
    for key, value in state["optim_scalars"].items():
        index, name = key.split(".", 1)
        optim_state.setdefault(int(index), {})[name] = value
    trainer.optimizer.load_state_dict({"state": optim_state, "param_groups": state["param_groups"]})
    trainer.shuffle_generator.set_state(tensors["rng.shuffle"])
    torch.set_rng_state(tensors["rng.torch"])
    trainer.sums = tensors["trainer.sums"].to(trainer.device)
    order = tensors.get("trainer.order")
    trainer.order = order.to(trainer.device) if order is not None else None
    trainer.epoch, trainer.batch = state["epoch"], state["batch"]
    trainer.elapsed_s, trainer.history = state["elapsed_s"], state["history"]


def finish_run(run_dir: Path, trainer: Trainer) -> None:
    """Write the final weights; the checkpoint is no longer needed once they exist."""
    save_model(run_dir, trainer.cfg, trainer.model.state_dict())
    (run_dir / CHECKPOINT).unlink(missing_ok=True)


def run_training(trainer: Trainer, run_dir: Path, on_progress=None, should_stop=lambda: False) -> bool:
    """Train in `run_dir`, checkpointing after every epoch and when stopped; True once finished.

    A stopped run keeps its checkpoint, so `restore_checkpoint` continues it to the same result.
    """
    def on_epoch(_record: dict) -> None:
        write_metrics(run_dir, trainer.history)
        save_checkpoint(run_dir, trainer)

    trainer.run(on_progress, on_epoch, should_stop)
    if not trainer.finished:
        save_checkpoint(run_dir, trainer)
        return False
    finish_run(run_dir, trainer)
    return True
