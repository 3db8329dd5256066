"""Run directories: config.json, metrics.jsonl, model.safetensors and a resumable checkpoint.

Every file is written atomically (`firstnet.atomic`), so a crash or Ctrl-C never leaves a
half-written file. Tensors go to safetensors (`firstnet.tensorfile`) and everything else to JSON:
loading a run never executes code (no pickle). The checkpoint is the training loop's state dict
serialised as it is: this module knows none of its fields, and trains nothing (`firstnet.training`
does, and stores here). Finding a run by name is `firstnet.catalog`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from firstnet.atomic import TEMPORARY, atomic_write, loads, locked, read_regular, write_files
from firstnet.config import MAX_PARAMETERS, TrainConfig
from firstnet.device import environment
from firstnet.errors import CheckpointError, StorageError
from firstnet.models import model_for
from firstnet.tensorfile import (
    MAX_HEADER,
    check_state,
    join_tensors,
    layout_of,
    load_tensors,
    split_tensors,
    tensor_bytes,
    tensor_writer,
)

CONFIG, METRICS, MODEL = "config.json", "metrics.jsonl", "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
LOCK = ".lock"  # held (flock) by the process that trains in the folder
DIVERGED = "diverged.json"  # written when training diverged: the error, beside the epochs' metrics
# the state-dict layout; "firstnet-checkpoint" was the first
CHECKPOINT_FORMAT = "firstnet-checkpoint-2"
# The most bytes a run's file may have (every file is read through `atomic.read_regular`): firstnet
# writes config.json and diverged.json of a few kB, a metrics.jsonl of about 200 bytes an epoch (at
# most 100,000 epochs), a model of the size its config gives and a checkpoint of a few times that.
MAX_JSON = 1 << 20
MAX_METRICS = 64 << 20
MAX_EXTRA = 64 << 20  # the checkpoint besides the model and its optimizer: the order, the shifts


def default_name(cfg: TrainConfig) -> str:
    prefix = "" if cfg.dataset == "mnist" else f"{cfg.dataset}-"
    return f"{prefix}{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def create_run_dir(runs_dir: Path, name: str, numbered: bool = False) -> Path:
    """Create a new run directory; of two processes asking for the same name, one gets it.

    With `numbered` (default names, which have one-second resolution) a taken name becomes
    NAME-2, NAME-3, ...; otherwise it is an error, unless the folder exists and is empty.
    """
    for attempt in range(1, 1000 if numbered else 2):
        run_dir = Path(runs_dir) / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            run_dir.mkdir(parents=True)
            return run_dir
        except FileExistsError:
            if not numbered and run_dir.is_dir() and holds_no_run(run_dir):
                return run_dir  # an empty folder made beforehand; `claim` settles who uses it
        except OSError as err:
            raise StorageError(f"cannot create {run_dir}: {err.strerror or err}") from err
    raise CheckpointError(
        f"{run_dir} already exists; pick another --name, or continue it with --resume {run_dir}"
    )


def holds_no_run(run_dir: Path) -> bool:
    """Whether `run_dir` holds nothing but a lock and temporary files: a folder made beforehand, or
    a run killed before it wrote its config.json."""
    return all(
        path.name == LOCK or (path.name.startswith(".") and TEMPORARY in path.name)
        for path in Path(run_dir).iterdir()
    )


@contextmanager
def claim(run_dir: Path, fresh: bool) -> Iterator[None]:
    """Hold the run directory's lock for the block: a second firstnet process that trains into it
    or resumes it is refused. The lock goes with the process, so a killed run can be resumed.

    `fresh`: the folder must hold nothing but the lock (a new run); temporary files that a killed
    process left are removed either way.
    """
    run_dir = Path(run_dir)
    with locked(run_dir / LOCK, f"{run_dir} is in use by another firstnet process"):
        if fresh and any(path.name != LOCK for path in run_dir.iterdir()):
            raise CheckpointError(f"{run_dir} already exists; pick another --name")
        yield


@contextmanager
def opened(
    run_dir: Path,
    cfg: TrainConfig,
    device: torch.device,
    data_source: str,
    extra: dict | None = None,
    resuming: bool = False,
    model: dict[str, torch.Tensor] | None = None,
) -> Iterator[dict | None]:
    """Hold `run_dir` for a training (`claim`): a new run's config.json written, or, `resuming`,
    the checkpoint of a stopped run handed to the block, its model checked against `model` (the
    state dict of the model it resumes). A run killed before its first epoch ended has no checkpoint
    and no metrics: resuming it starts it afresh, with its config."""
    with claim(run_dir, fresh=not resuming):
        checkpoint = read_checkpoint(run_dir, model) if resuming and started(run_dir) else None
        if checkpoint is None:
            write_config(run_dir, cfg, device, data_source, extra)
        yield checkpoint


def keep_epoch(run_dir: Path, history: list[dict], checkpoint: dict | None) -> None:
    """After every epoch: the metrics so far and, where the trainer keeps one, its checkpoint."""
    files = {METRICS: metrics_text(history)}
    if checkpoint is not None:
        files[CHECKPOINT] = checkpoint_writer(checkpoint)
    write_files(Path(run_dir), files)


def close(
    run_dir: Path,
    cfg: TrainConfig,
    history: list[dict],
    weights: dict[str, torch.Tensor] | None = None,
    checkpoint: dict | None = None,
    error: str | None = None,
) -> None:
    """The end of a training: a diverged run's finished epochs' metrics and diverged.json with the
    `error`, and no checkpoint (continuing it would diverge again); a finished run's `weights`, then
    its checkpoint removed; or a stopped run's last `checkpoint`."""
    if error is not None:
        error_json = json.dumps({"error": error}, indent=2) + "\n"
        files = {METRICS: metrics_text(history), DIVERGED: error_json, CHECKPOINT: None}
    elif weights is not None:
        files = {MODEL: model_writer(cfg, weights), CHECKPOINT: None}
    else:
        files = {} if checkpoint is None else {CHECKPOINT: checkpoint_writer(checkpoint)}
    write_files(Path(run_dir), files)


def write_config(
    run_dir: Path,
    cfg: TrainConfig,
    device: torch.device,
    data_source: str,
    extra: dict | None = None,
) -> None:
    """config.json: the config, data source, time and environment, plus `extra` facts about the
    run."""
    payload = {
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "data_source": data_source,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **environment(device),
        **(extra or {}),
    }
    atomic_write(run_dir / CONFIG, json.dumps(payload, indent=2) + "\n")


def present(path: Path) -> bool:
    """Whether `path` names anything, a dangling symbolic link included (reading it says what)."""
    return path.is_symlink() or path.exists()


def read_json(path: Path, what: str) -> object:
    """The JSON value in `path`, a regular file of at most MAX_JSON bytes; a CheckpointError that
    calls it an unreadable `what` if it cannot be parsed."""
    content = read_regular(path, MAX_JSON, CheckpointError)
    try:
        return loads(content)
    except ValueError as err:
        raise CheckpointError(f"{path}: unreadable {what} ({err!s:.200})") from err


def config_json(run_dir: Path) -> tuple[dict, TrainConfig]:
    """config.json as written (a JSON object) and the config in it, checked."""
    path = Path(run_dir) / CONFIG
    if not present(path):
        raise CheckpointError(f"{run_dir} is not a firstnet run directory (no {CONFIG})")
    raw = read_json(path, "config")
    try:
        return raw, TrainConfig.from_dict(raw["config"])
    except (KeyError, TypeError, ValueError, RecursionError) as err:
        raise CheckpointError(f"{path}: unreadable config ({err!s:.300})") from err


def read_config(run_dir: Path) -> TrainConfig:
    return config_json(run_dir)[1]


def metrics_text(history: list[dict]) -> str:
    """metrics.jsonl: one JSON object an epoch."""
    return "".join(json.dumps(record) + "\n" for record in history)


def read_metrics(run_dir: Path) -> list[dict]:
    """The epoch records of metrics.jsonl ([] when there is none); a CheckpointError if a line is
    not a JSON object."""
    path = Path(run_dir) / METRICS
    if not present(path):
        return []
    records = []
    text = read_regular(path, MAX_METRICS, CheckpointError).decode(errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = loads(line) if line.strip() else {}
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise CheckpointError(f"{path}, line {number}: not an epoch record (a JSON object)")
        if record:
            records.append(record)
    return records


def diverged_error(run_dir: Path) -> str:
    try:
        error = read_json(Path(run_dir) / DIVERGED, "error")["error"]
    except (CheckpointError, KeyError, TypeError):
        error = None
    return error[:300] if isinstance(error, str) else "see diverged.json"


def model_writer(cfg: TrainConfig, weights: dict[str, torch.Tensor]):
    """model.safetensors: the final weights (a state dict of the model `cfg` builds), as
    `atomic.write_files` takes them."""
    return tensor_writer(weights, {"format": "firstnet", "config": json.dumps(cfg.to_dict())})


def save_run(
    run_dir: Path,
    cfg: TrainConfig,
    device: torch.device,
    data_source: str,
    history: list[dict],
    weights: dict[str, torch.Tensor],
) -> None:
    """A finished run written whole (`Run.save`): config.json, metrics.jsonl, model.safetensors."""
    write_config(run_dir, cfg, device, data_source)
    write_files(Path(run_dir), {METRICS: metrics_text(history), MODEL: model_writer(cfg, weights)})


def checkpoint_limit(model_bytes: int) -> int:
    """The most bytes a checkpoint of a model of `model_bytes` may have: the model, the optimizer's
    state (two values a weight for AdamW), the order and shifts of an epoch, and a header that holds
    the history."""
    return 8 + MAX_HEADER + 4 * model_bytes + MAX_EXTRA


def check_outputs(model: torch.nn.Module, path: Path) -> None:
    """One clear error if `model` answers a probe picture with values that are not finite: finite
    weights can still overflow (weights of 3e38 answer every input with class 0)."""
    probe = torch.linspace(0, 1, 28 * 28).reshape(1, 1, 28, 28)
    with torch.inference_mode():
        finite = bool(torch.isfinite(model(probe)).all())
    if not finite:
        raise CheckpointError(
            f"{path}: the model's outputs are not finite (its weights overflow); train it again"
        )


def load_model(
    run_dir: Path, device: str | torch.device = "cpu"
) -> tuple[TrainConfig, torch.nn.Module]:
    """The trained model of a finished run, in eval mode: its weights checked against the model
    its config builds (from the file's header, before they are read), for finite values, and for
    finite outputs."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    path = run_dir / MODEL
    if present(run_dir / DIVERGED):
        raise CheckpointError(f"{run_dir} diverged and has no model: {diverged_error(run_dir)}")
    if not present(path):
        hint = (
            f"; continue it with: firstnet train --resume {run_dir}"
            if present(run_dir / CHECKPOINT)
            else ""
        )
        raise CheckpointError(f"{run_dir} has no {MODEL}: the run did not finish{hint}")
    model = model_for(cfg).eval()
    state = model.state_dict()
    limit = checkpoint_limit(tensor_bytes(state))  # a model is never larger than its checkpoint
    tensors = load_tensors(path, limit, layout_of(state))[0]
    check_state(state, tensors, path)
    model.load_state_dict(tensors)
    check_outputs(model, path)
    return cfg, model.to(device).eval()


def checkpoint_writer(state: dict):
    """checkpoint.safetensors: a training's state dict, its tensors plus the rest as JSON, as
    `atomic.write_files` takes it."""
    tensors: dict[str, torch.Tensor] = {}
    tree = split_tensors(state, "state", tensors)
    return tensor_writer(tensors, {"format": CHECKPOINT_FORMAT, "state": json.dumps(tree)})


def read_checkpoint(run_dir: Path, model: dict[str, torch.Tensor] | None = None) -> dict:
    """The state dict `checkpoint_writer` wrote. With `model` (the state dict of the model it
    resumes), the file may be at most as large as a checkpoint of that model (else of the largest
    model), and the model's part of the state must have its names, shapes and dtypes, and finite
    values (`check_state`)."""
    path = Path(run_dir) / CHECKPOINT
    if not present(path):
        hint = (
            f": it kept the metrics of {len(read_metrics(run_dir))} epochs but no checkpoint (a "
            "NumPy run, or one killed while saving); train it again under another --name"
            if present(Path(run_dir) / METRICS)
            else ""
        )
        raise CheckpointError(f"{run_dir} has no {CHECKPOINT} to resume from{hint}")
    model_bytes = tensor_bytes(model) if model is not None else 4 * MAX_PARAMETERS
    tensors, metadata = load_tensors(path, checkpoint_limit(model_bytes))
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: not a checkpoint this firstnet can resume (format "
            f"{metadata.get('format')!s:.40}); start the run again"
        )
    try:
        state = join_tensors(loads(metadata["state"]), tensors)
        saved_model = state["model"]
    except (KeyError, TypeError, ValueError, RecursionError) as err:
        raise CheckpointError(f"{path}: checkpoint metadata is missing or corrupt ({err})") from err
    if model is not None:
        check_state(model, saved_model, path)
    return state


def started(run_dir: Path) -> bool:
    """Whether the run in `run_dir` ended an epoch (it has a checkpoint, metrics or a model): one
    that did not was stopped before, and resuming it starts it afresh."""
    return any(present(Path(run_dir) / name) for name in (CHECKPOINT, METRICS, MODEL, DIVERGED))


def resumable_config(run_dir: Path) -> TrainConfig:
    """The config of a run directory that can be resumed; a CheckpointError for a finished one,
    or one that holds no run."""
    run_dir = Path(run_dir)
    if run_dir.is_dir() and not present(run_dir / CONFIG) and holds_no_run(run_dir):
        raise CheckpointError(
            f"{run_dir} holds no run (it was stopped before it wrote its {CONFIG}); train into "
            f"it with: firstnet train --runs-dir {run_dir.parent} --name {run_dir.name}"
        )
    cfg = read_config(run_dir)
    if present(run_dir / MODEL):
        raise CheckpointError(
            f"{run_dir} is already finished ({cfg.epochs} epochs); nothing to resume"
        )
    return cfg
