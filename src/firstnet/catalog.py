"""The runs in a folder: listed and summarised (`firstnet runs`), and found by what a user calls
one: a path, a name, `latest` or `latest-KIND`. Reads run directories through `firstnet.runs`;
writes nothing.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from firstnet.errors import CheckpointError
from firstnet.runs import (
    CHECKPOINT,
    CONFIG,
    DIVERGED,
    MODEL,
    config_json,
    present,
    read_config,
    read_metrics,
)


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
