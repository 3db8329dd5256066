"""Run directories: config.json, metrics.jsonl, model.safetensors and a resumable checkpoint.

Every file is written atomically (`firstnet.atomic`), so a crash or Ctrl-C never leaves a
half-written file. Tensors go to safetensors and everything else to JSON: loading a run never
executes code (no pickle). The checkpoint is the training loop's state dict serialised as it is:
this module knows none of its fields, and trains nothing (`firstnet.training` does, and stores
here).
"""

from __future__ import annotations

import difflib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from firstnet.atomic import atomic_write, remove_stale, sync_folder
from firstnet.config import TrainConfig
from firstnet.device import environment
from firstnet.errors import CheckpointError, StorageError
from firstnet.models import model_for

try:
    import fcntl  # POSIX: run directories are locked; on Windows they are not (docs/security.md)
except ImportError:  # pragma: no cover
    fcntl = None

CONFIG, METRICS, MODEL = "config.json", "metrics.jsonl", "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
LOCK = ".lock"  # held (flock) by the process that trains in the folder
DIVERGED = "diverged.json"  # written when training diverged: the error, beside the epochs' metrics
# the state-dict layout; "firstnet-checkpoint" was the first
CHECKPOINT_FORMAT = "firstnet-checkpoint-2"


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
            if not numbered and run_dir.is_dir() and not any(run_dir.iterdir()):
                return run_dir  # an empty folder made beforehand; `claim` settles who uses it
        except OSError as err:
            raise StorageError(f"cannot create {run_dir}: {err.strerror or err}") from err
    raise CheckpointError(
        f"{run_dir} already exists; pick another --name, or continue it with --resume {run_dir}"
    )


@contextmanager
def claim(run_dir: Path, fresh: bool) -> Iterator[None]:
    """Hold the run directory's lock for the block: a second firstnet process that trains into it
    or resumes it is refused. The lock goes with the process, so a killed run can be resumed.

    `fresh`: the folder must hold nothing but the lock (a new run); temporary files that a killed
    process left are removed either way.
    """
    run_dir = Path(run_dir)
    lock = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckpointError(f"{run_dir} is in use by another firstnet process") from None
        remove_stale(run_dir)  # no other process writes here: any temporary file is a dead one's
        if fresh and any(path.name != LOCK for path in run_dir.iterdir()):
            raise CheckpointError(f"{run_dir} already exists; pick another --name")
        yield
    finally:
        os.close(lock)


@contextmanager
def opened(
    run_dir: Path,
    cfg: TrainConfig,
    device: torch.device,
    data_source: str,
    extra: dict | None = None,
    resuming: bool = False,
) -> Iterator[dict | None]:
    """Hold `run_dir` for a training (`claim`): a new run's config.json written, or, `resuming`,
    the checkpoint of a stopped run handed to the block."""
    with claim(run_dir, fresh=not resuming):
        if resuming:
            yield read_checkpoint(run_dir)
        else:
            write_config(run_dir, cfg, device, data_source, extra)
            yield None


def keep_epoch(run_dir: Path, history: list[dict], checkpoint: dict | None) -> None:
    """After every epoch: the metrics so far and, where the trainer keeps one, its checkpoint."""
    write_metrics(run_dir, history)
    if checkpoint is not None:
        save_checkpoint(run_dir, checkpoint)


def close(
    run_dir: Path,
    cfg: TrainConfig,
    history: list[dict],
    weights: dict[str, torch.Tensor] | None = None,
    checkpoint: dict | None = None,
    error: str | None = None,
) -> None:
    """The end of a training: a diverged run's `error` (`write_diverged`), a finished run's
    `weights` replacing its checkpoint (`finish`), or a stopped run's last `checkpoint`."""
    if error is not None:
        write_diverged(run_dir, history, error)
    elif weights is not None:
        finish(run_dir, cfg, weights)
    elif checkpoint is not None:
        save_checkpoint(run_dir, checkpoint)


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
    """The epoch records of metrics.jsonl ([] when there is none); a CheckpointError if a line is
    not a JSON object."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        try:
            record = json.loads(line) if line.strip() else {}
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            raise CheckpointError(f"{path}, line {number}: not an epoch record (a JSON object)")
        if record:
            records.append(record)
    return records


def diverged_error(run_dir: Path) -> str:
    try:
        return str(json.loads((Path(run_dir) / DIVERGED).read_text())["error"])
    except (OSError, ValueError, KeyError, TypeError):
        return "see diverged.json"


def save_model(run_dir: Path, cfg: TrainConfig, state: dict[str, torch.Tensor]) -> None:
    """Final weights (a state dict of the model `cfg` builds) as `model.safetensors`."""
    metadata = {"format": "firstnet", "config": json.dumps(cfg.to_dict())}
    save_tensors(run_dir / MODEL, state, metadata)


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    tensors = {name: value.detach().cpu().contiguous() for name, value in tensors.items()}

    def write(tmp: Path) -> None:
        try:
            save_file(tensors, tmp, metadata=metadata)
        except SafetensorError as err:  # safetensors reports a full disk as its own error
            raise OSError(str(err)) from err

    atomic_write(path, write)


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err


def check_state(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """One clear error if the names, shapes or dtypes of `tensors` differ from `model`'s state
    dict, or if any value is not finite (a NaN weight would answer every input with class 0)."""
    expected = model.state_dict()
    problems = [f"missing {k}" for k in expected if k not in tensors]
    problems += [f"unexpected {k}" for k in tensors if k not in expected]
    problems += [
        f"{k}: shape {tuple(tensors[k].shape)} but the config needs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    problems += [
        f"{k}: dtype {str(tensors[k].dtype).removeprefix('torch.')}, not "
        f"{str(v.dtype).removeprefix('torch.')}"
        for k, v in expected.items()
        if k in tensors and tensors[k].dtype != v.dtype
    ]
    problems += [
        f"{k}: holds non-finite values"
        for k, v in tensors.items()
        if v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if problems:
        raise CheckpointError(f"{path} does not match its config.json: " + "; ".join(problems[:4]))


def load_model(
    run_dir: Path, device: str | torch.device = "cpu"
) -> tuple[TrainConfig, torch.nn.Module]:
    """The trained model of a finished run, in eval mode."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    path = run_dir / MODEL
    if (run_dir / DIVERGED).is_file():
        raise CheckpointError(f"{run_dir} diverged and has no model: {diverged_error(run_dir)}")
    if not path.is_file():
        hint = (
            f"; continue it with: firstnet train --resume {run_dir}"
            if (run_dir / CHECKPOINT).is_file()
            else ""
        )
        raise CheckpointError(f"{run_dir} has no {MODEL}: the run did not finish{hint}")
    model = model_for(cfg)
    tensors = load_tensors(path)[0]
    check_state(model, tensors, path)
    model.load_state_dict(tensors)
    return cfg, model.to(device).eval()


def split_tensors(value, name: str, tensors: dict[str, torch.Tensor]):
    """`value` with every tensor moved into `tensors` under a unique dotted name and replaced by a
    reference: what is left is JSON (dicts with other than string keys become lists of pairs)."""
    if isinstance(value, torch.Tensor):
        if name in tensors:
            raise ValueError(f"two tensors of the state are both named {name}")
        tensors[name] = value
        return {"__tensor__": name}
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {
                key: split_tensors(item, f"{name}.{key}", tensors) for key, item in value.items()
            }
        pairs = [
            [key, split_tensors(item, f"{name}.{key}", tensors)] for key, item in value.items()
        ]
        return {"__items__": pairs}
    if isinstance(value, list | tuple):
        return [split_tensors(item, f"{name}.{index}", tensors) for index, item in enumerate(value)]
    return value


def join_tensors(value, tensors: dict[str, torch.Tensor]):
    """The inverse of `split_tensors`."""
    if isinstance(value, dict):
        if set(value) == {"__tensor__"}:
            return tensors[value["__tensor__"]]
        if set(value) == {"__items__"}:
            return {key: join_tensors(item, tensors) for key, item in value["__items__"]}
        return {key: join_tensors(item, tensors) for key, item in value.items()}
    if isinstance(value, list):
        return [join_tensors(item, tensors) for item in value]
    return value


def save_checkpoint(run_dir: Path, state: dict) -> None:
    """A training's state dict as checkpoint.safetensors: tensors plus the rest as JSON."""
    tensors: dict[str, torch.Tensor] = {}
    tree = split_tensors(state, "state", tensors)
    metadata = {"format": CHECKPOINT_FORMAT, "state": json.dumps(tree)}
    save_tensors(Path(run_dir) / CHECKPOINT, tensors, metadata)


def read_checkpoint(run_dir: Path) -> dict:
    """The state dict `save_checkpoint` wrote, checked for completeness."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no {CHECKPOINT} to resume from")
    tensors, metadata = load_tensors(path)
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: not a checkpoint this firstnet can resume (format "
            f"{metadata.get('format')!r}); start the run again"
        )
    try:
        return join_tensors(json.loads(metadata["state"]), tensors)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: checkpoint metadata is missing or corrupt ({err})") from err


def write_diverged(run_dir: Path, history: list[dict], error: str) -> None:
    """A run that diverged: its finished epochs' metrics and diverged.json with the error; no
    checkpoint (continuing it would diverge again)."""
    write_metrics(run_dir, history)
    atomic_write(Path(run_dir) / DIVERGED, json.dumps({"error": error}, indent=2) + "\n")
    (Path(run_dir) / CHECKPOINT).unlink(missing_ok=True)


def finish(run_dir: Path, cfg: TrainConfig, state: dict[str, torch.Tensor]) -> None:
    """A finished run: its weights on the disk, then its checkpoint removed."""
    save_model(run_dir, cfg, state)
    (Path(run_dir) / CHECKPOINT).unlink(missing_ok=True)
    sync_folder(Path(run_dir))


def resumable_config(run_dir: Path) -> TrainConfig:
    """The config of a run directory that can be resumed; a CheckpointError for a finished one."""
    cfg = read_config(run_dir)
    if (Path(run_dir) / MODEL).is_file():
        raise CheckpointError(
            f"{run_dir} is already finished ({cfg.epochs} epochs); nothing to resume"
        )
    return cfg


def run_summary(run_dir: Path) -> dict:
    """What `firstnet runs` shows of a run directory: name, model, state, epochs, last test
    accuracy, data, time made; a run whose files cannot be read says so in `state`."""
    run_dir = Path(run_dir)
    summary = {"name": run_dir.name, "path": str(run_dir), "created": None, "data": None}
    try:
        raw = json.loads((run_dir / CONFIG).read_text())
        cfg = read_config(run_dir)
        history = read_metrics(run_dir)
    except (OSError, ValueError, CheckpointError) as err:
        return summary | {
            "model": None,
            "state": f"unreadable ({err})",
            "epochs": 0,
            "test_acc": None,
        }
    state = "finished" if (run_dir / MODEL).is_file() else "stopped (resumable)"
    if (run_dir / DIVERGED).is_file():
        state = "diverged"
    elif not (run_dir / MODEL).is_file() and not (run_dir / CHECKPOINT).is_file():
        state = "no epoch finished"
    last = history[-1] if history else {}
    summary |= {"created": raw.get("created"), "data": raw.get("data_source")}
    return summary | {"model": cfg.model, "state": state, "epochs": len(history),
                      "test_acc": last.get("test_acc")}  # fmt: skip


def run_dirs(runs_dir: Path) -> list[Path]:
    """The folders of `runs_dir` that hold a config.json, oldest first (by that file's time)."""
    found = [path.parent for path in Path(runs_dir).glob(f"*/{CONFIG}")]
    return sorted(found, key=lambda run: ((run / CONFIG).stat().st_mtime, run.name))


def model_of(run_dir: Path) -> str | None:
    """The model a run trains, from its config.json alone; None when that cannot be read."""
    try:
        return read_config(run_dir).model
    except (OSError, CheckpointError):
        return None


def find_run(reference: Path | str, runs_dir: Path = Path("runs")) -> Path:
    """The run directory a user means: a path, a name in `runs_dir`, `latest` (the newest run) or
    `latest-KIND` (the newest linear, mlp or cnn run); a CheckpointError names the nearest runs."""
    reference = str(reference)
    if Path(reference).is_dir():
        return Path(reference)
    if reference == "latest" or reference.startswith("latest-"):
        kind = reference.removeprefix("latest").removeprefix("-") or None
        candidates = [run for run in run_dirs(runs_dir) if kind is None or model_of(run) == kind]
        if not candidates:
            what = f"{kind} run" if kind else "run"
            raise CheckpointError(f"no {what} in {runs_dir} yet; train one with: firstnet train")
        return candidates[-1]
    if (Path(runs_dir) / reference).is_dir():
        return Path(runs_dir) / reference
    if "/" in reference or "\\" in reference:  # meant as a path
        raise CheckpointError(f"{reference} is not a firstnet run directory (no such folder)")
    names = [run.name for run in run_dirs(runs_dir)]
    nearest = difflib.get_close_matches(reference, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(nearest)}?" if nearest else "; list them with: firstnet runs"
    raise CheckpointError(f"no run {reference!r} (a folder, or a name in {runs_dir}){hint}")
