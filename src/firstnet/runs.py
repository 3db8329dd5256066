"""Run directories: config.json, metrics.jsonl, model.safetensors and a resumable checkpoint.

Every file is written atomically (`firstnet.atomic`), so a crash or Ctrl-C never leaves a
half-written file. Tensors go to safetensors and everything else to JSON: loading a run never
executes code (no pickle). The checkpoint is the training loop's state dict serialised as it is:
this module knows none of its fields, and trains nothing (`firstnet.training` does, and stores
here).
"""

from __future__ import annotations

import difflib
import errno
import json
import math
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file

from firstnet.atomic import (
    TEMPORARY,
    atomic_write,
    loads,
    open_regular,
    read_regular,
    remove_stale,
    sync_folder,
)
from firstnet.config import MAX_PARAMETERS, TrainConfig
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
# The most bytes a run's file may have (every file is read through `atomic.read_regular`): firstnet
# writes config.json and diverged.json of a few kB, a metrics.jsonl of about 200 bytes an epoch (at
# most 100,000 epochs), a model of the size its config gives and a checkpoint of a few times that.
MAX_JSON = 1 << 20
MAX_METRICS = 64 << 20
MAX_HEADER = MAX_METRICS + MAX_JSON  # of a safetensors file: names, and a checkpoint's history
MAX_EXTRA = 64 << 20  # the checkpoint besides the model and its optimizer: the order, the shifts
# safetensors' dtype codes, as torch names them
DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
          "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
          "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}  # fmt: skip


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


def open_lock(run_dir: Path) -> int:
    """RUN/.lock opened (made if missing), never through a symbolic link, and only a regular file:
    a link planted there would otherwise make firstnet create or lock a file elsewhere."""
    path = Path(run_dir) / LOCK
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        lock = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as err:
        why = "a symbolic link" if err.errno == errno.ELOOP else err.strerror or str(err)
        raise CheckpointError(f"{path}: cannot open the run's lock ({why}); remove it") from err
    if not stat.S_ISREG(os.fstat(lock).st_mode):
        os.close(lock)
        raise CheckpointError(f"{path}: the run's lock is not a regular file; remove it")
    return lock


@contextmanager
def claim(run_dir: Path, fresh: bool) -> Iterator[None]:
    """Hold the run directory's lock for the block: a second firstnet process that trains into it
    or resumes it is refused. The lock goes with the process, so a killed run can be resumed.

    `fresh`: the folder must hold nothing but the lock (a new run); temporary files that a killed
    process left are removed either way.
    """
    run_dir = Path(run_dir)
    lock = open_lock(run_dir)
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
    the checkpoint of a stopped run handed to the block. A run killed before its first epoch ended
    has no checkpoint and no metrics: resuming it starts it afresh, with its config."""
    with claim(run_dir, fresh=not resuming):
        if resuming and not_started(run_dir):
            write_config(run_dir, cfg, device, data_source, extra)
            yield None
        elif resuming:
            yield read_checkpoint(run_dir, cfg)
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


def write_metrics(run_dir: Path, history: list[dict]) -> None:
    atomic_write(run_dir / METRICS, "".join(json.dumps(record) + "\n" for record in history))


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


def tensor_bytes(tensors: dict[str, torch.Tensor]) -> int:
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors.values())


def layout_of(tensors: dict[str, torch.Tensor]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Each tensor's dtype (as torch names it: float32) and shape."""
    return {
        name: (str(tensor.dtype).removeprefix("torch."), tuple(tensor.shape))
        for name, tensor in tensors.items()
    }


def read_header(handle, size: int, path: Path) -> tuple[dict[str, tuple[str, tuple]], dict]:
    """The layout of the tensors a safetensors file of `size` bytes declares, and its metadata, from
    its header alone (an 8-byte little-endian length, then at most MAX_HEADER bytes of JSON): a
    CheckpointError unless it is well formed and its tensors' offsets tile the rest of the file."""

    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path}: not a readable safetensors file ({why})")

    length = int.from_bytes(handle.read(8), "little")
    if size < 8 or length > min(size - 8, MAX_HEADER):
        raise bad(f"a header of {length:,} bytes in a file of {size:,}")
    try:
        header = loads(handle.read(length))
    except ValueError as err:
        raise bad(f"header: {err!s:.200}") from err
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise bad("its metadata are not strings")
    layout, spans = {}, []
    for name, entry in header.items():
        try:
            dtype, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            numbers = [*shape, start, end]
        except (TypeError, KeyError, ValueError):
            raise bad(f"{name[:100]}: not a tensor's dtype, shape and offsets") from None
        if not all(type(n) is int and n >= 0 for n in numbers):
            raise bad(f"{name[:100]}: not a tensor's dtype, shape and offsets")
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise bad(f"{name[:100]}: unknown dtype {str(dtype)[:20]!r}")
        if end - start != math.prod(shape) * DTYPES[dtype].itemsize:
            raise bad(f"{name[:100]}: its offsets do not hold its shape")
        layout[name] = (str(DTYPES[dtype]).removeprefix("torch."), tuple(shape))
        spans.append((start, end))
    at = 0
    for start, end in sorted(spans):
        if start != at:
            raise bad("its tensors overlap or leave gaps")
        at = end
    if at != size - 8 - length:
        raise bad(f"its header declares {at:,} bytes of tensors, the file holds "
                  f"{size - 8 - length:,}")  # fmt: skip
    return layout, metadata


def load_tensors(
    path: Path, limit: int | None = None, expected: dict[str, tuple[str, tuple]] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file, a regular file of at most `limit` bytes
    (default: the most a checkpoint of the largest model may have). The header is read and checked
    first (`read_header`), and with `expected` (a `layout_of`), the names, dtypes and shapes in it:
    the tensors are read only from a file that matches."""
    limit = checkpoint_limit(4 * MAX_PARAMETERS) if limit is None else limit
    with open_regular(path, limit, CheckpointError) as handle:
        size = os.fstat(handle.fileno()).st_size
        layout, metadata = read_header(handle, size, path)
        if expected is not None and (problems := layout_problems(expected, layout)):
            message = f"{path} does not match its config.json: " + "; ".join(problems[:4])
            raise CheckpointError(message)
        handle.seek(0)
        content = handle.read(size + 1)
    if len(content) != size:
        raise CheckpointError(f"{path}: changed while it was read")
    try:
        return load_safetensors(content), metadata
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err


def checkpoint_limit(model_bytes: int) -> int:
    """The most bytes a checkpoint of a model of `model_bytes` may have: the model, the optimizer's
    state (two values a weight for AdamW), the order and shifts of an epoch, and a header that holds
    the history."""
    return 8 + MAX_HEADER + 4 * model_bytes + MAX_EXTRA


def layout_problems(expected: dict[str, tuple], found: dict[str, tuple]) -> list[str]:
    """How the `layout_of` some tensors differs from the model's."""
    problems = [f"missing {k}" for k in expected if k not in found]
    problems += [f"unexpected {k[:100]}" for k in found if k not in expected]
    problems += [
        f"{k}: shape {found[k][1]} but the config needs {shape}"
        for k, (_, shape) in expected.items()
        if k in found and found[k][1] != shape
    ]
    problems += [
        f"{k}: dtype {found[k][0]}, not {dtype}"
        for k, (dtype, _) in expected.items()
        if k in found and found[k][0] != dtype
    ]
    return problems


def check_state(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """One clear error if the names, shapes or dtypes of `tensors` differ from `model`'s state
    dict, or if any value is not finite (a NaN weight would answer every input with class 0)."""
    if not isinstance(tensors, dict) or not all(
        isinstance(t, torch.Tensor) for t in tensors.values()
    ):
        raise CheckpointError(f"{path}: the model's state is not a set of tensors")
    problems = layout_problems(layout_of(model.state_dict()), layout_of(tensors))
    problems += [
        f"{k}: holds non-finite values"
        for k, v in tensors.items()
        if v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if problems:
        raise CheckpointError(f"{path} does not match its config.json: " + "; ".join(problems[:4]))


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
    if (run_dir / DIVERGED).is_file():
        raise CheckpointError(f"{run_dir} diverged and has no model: {diverged_error(run_dir)}")
    if not present(path):
        hint = (
            f"; continue it with: firstnet train --resume {run_dir}"
            if (run_dir / CHECKPOINT).is_file()
            else ""
        )
        raise CheckpointError(f"{run_dir} has no {MODEL}: the run did not finish{hint}")
    model = model_for(cfg).eval()
    state = model.state_dict()
    limit = checkpoint_limit(tensor_bytes(state))  # a model is never larger than its checkpoint
    tensors = load_tensors(path, limit, layout_of(state))[0]
    check_state(model, tensors, path)
    model.load_state_dict(tensors)
    check_outputs(model, path)
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


def read_checkpoint(run_dir: Path, cfg: TrainConfig | None = None) -> dict:
    """The state dict `save_checkpoint` wrote, checked for completeness; the file at most as large
    as a checkpoint of the model `cfg` builds may be (without `cfg`, of the largest model)."""
    path = Path(run_dir) / CHECKPOINT
    if not present(path):
        hint = (
            f": it kept the metrics of {len(read_metrics(run_dir))} epochs but no checkpoint (a "
            "NumPy run, or one killed while saving); train it again under another --name"
            if present(Path(run_dir) / METRICS)
            else ""
        )
        raise CheckpointError(f"{run_dir} has no {CHECKPOINT} to resume from{hint}")
    limit = checkpoint_limit(tensor_bytes(model_for(cfg).state_dict())) if cfg else None
    tensors, metadata = load_tensors(path, limit)
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: not a checkpoint this firstnet can resume (format "
            f"{metadata.get('format')!s:.40}); start the run again"
        )
    try:
        return join_tensors(loads(metadata["state"]), tensors)
    except (KeyError, TypeError, ValueError, RecursionError) as err:
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


def not_started(run_dir: Path) -> bool:
    """Whether the run in `run_dir` was stopped before its first epoch ended (no checkpoint, no
    metrics, no model): resuming it starts it afresh."""
    return not any(present(Path(run_dir) / name) for name in (CHECKPOINT, METRICS, MODEL, DIVERGED))


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
        raw, cfg = config_json(run_dir)
        history = read_metrics(run_dir)
    except (OSError, CheckpointError) as err:
        return summary | {
            "model": None,
            "state": f"unreadable ({err})",
            "epochs": 0,
            "test_acc": None,
        }
    if present(run_dir / DIVERGED):
        state = "diverged"
    elif present(run_dir / MODEL):
        state = "finished"
    elif present(run_dir / CHECKPOINT):
        state = "stopped (resumable)"
    elif not history:
        state = "not started (--resume starts it)"
    else:  # a NumPy run stopped, or a run killed between its metrics and its checkpoint
        state = "stopped (not resumable)"
    last = history[-1] if history else {}
    test_acc = last.get("test_acc")
    summary |= {key: raw.get(field) if isinstance(raw.get(field), str) else None
                for key, field in (("created", "created"), ("data", "data_source"))}  # fmt: skip
    return summary | {"model": cfg.model, "state": state, "epochs": len(history),
                      "test_acc": test_acc if type(test_acc) in (int, float) else None}  # fmt: skip


def run_dirs(runs_dir: Path) -> list[Path]:
    """The folders of `runs_dir` that hold a config.json, oldest first (by that file's time)."""
    found = [path.parent for path in Path(runs_dir).glob(f"*/{CONFIG}")]
    return sorted(found, key=lambda run: ((run / CONFIG).lstat().st_mtime, run.name))


def model_of(run_dir: Path) -> str | None:
    """The model a run trains, from its config.json alone; None when that cannot be read."""
    try:
        return read_config(run_dir).model
    except (OSError, CheckpointError):
        return None


def find_run(reference: Path | str, runs_dir: Path = Path("runs"), weights: bool = False) -> Path:
    """The run directory a user means: a path, a name in `runs_dir`, `latest` (the newest run) or
    `latest-KIND` (the newest linear, mlp or cnn run); with `weights`, `latest` means the newest
    run that has them (one that diverged or stopped has none). A CheckpointError names the nearest
    runs."""
    reference = str(reference)
    if Path(reference).is_dir():
        return Path(reference)
    if reference == "latest" or reference.startswith("latest-"):
        kind = reference.removeprefix("latest").removeprefix("-") or None
        candidates = [run for run in run_dirs(runs_dir) if kind is None or model_of(run) == kind]
        if weights:
            candidates = [run for run in candidates if (run / MODEL).is_file()]
        if not candidates:
            what = ("finished " if weights else "") + (f"{kind} run" if kind else "run")
            model = f" --model {kind}" if kind else ""
            raise CheckpointError(
                f"no {what} in {runs_dir} yet; train one with: firstnet train{model}"
            )
        return candidates[-1]
    if (Path(runs_dir) / reference).is_dir():
        return Path(runs_dir) / reference
    if "/" in reference or "\\" in reference:  # meant as a path
        raise CheckpointError(f"{reference} is not a firstnet run directory (no such folder)")
    names = [run.name for run in run_dirs(runs_dir)]
    nearest = difflib.get_close_matches(reference, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(nearest)}?" if nearest else "; list them with: firstnet runs"
    raise CheckpointError(f"no run {reference!r} (a folder, or a name in {runs_dir}){hint}")
