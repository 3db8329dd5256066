"""A study of `firstnet search` from start to finish: its settings, a new study or one resumed from
its folder, the trials run in this process or by worker processes (`firstnet.search.workers`), then
the tables, the figures, the Pareto front, and the best config retrained on all training images and
tested once.

`search` and `join` are what `firstnet search` (and `--worker`) and the Python API's
`firstnet.architecture_search` call; they show progress on stderr and return what the study found
as data.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from firstnet.atomic import atomic_write, loads
from firstnet.config import TrainConfig
from firstnet.data import LabelledData, validation_split
from firstnet.errors import ConfigError
from firstnet.search import space as spaces
from firstnet.search import storage as storages
from firstnet.search import study as studies
from firstnet.search import summary
from firstnet.search.study import StudySettings
from firstnet.search.workers import (
    finished_count,
    run_here,
    run_workers,
    set_threads,
    worker_command,
)
from firstnet.terminal import err, load_data, stop_on_sigint

FINAL_JSON, BEST_RUN = "final.json", "best-run"
STOPPING = "Stopping after this batch; the running trial is failed and queued to run again"
# --quick and the default budget: trials in all, seconds at most (the retraining comes after).
BUDGETS = {"quick": {"trials": 20, "timeout": 90}, "default": {"trials": 60, "timeout": 1800}}


def search(
    settings: StudySettings | None = None,
    *,
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    workers: int = 1,
    storage: str | None = None,
    heartbeat: int = storages.HEARTBEAT_S,
    threads: int | None = None,
    retrain: bool = True,
    data_dir: str | Path | None = None,
    on_summary: Callable[[dict], None] = lambda result: None,
    on_epoch: Callable[[dict], None] | None = None,
) -> dict:
    """Run the study `settings` describes (`study_settings()` when None) in the folder `out_dir`,
    or continue the one in the folder `resume` (`trials`, when given, its new budget), and
    summarise it: the study folder, whether Ctrl-C stopped it, the trials' rows, the Pareto front,
    the best row and, once retrained, the best config's test accuracy (`final`).
    `on_summary(result)` sees the summary before the retraining starts (the command prints its
    tables there); `on_epoch(record)` after each epoch of the retraining."""
    if resume is not None:
        out_dir = Path(resume)
        saved = storages.read_study_json(out_dir)
        settings = StudySettings.from_dict(saved["settings"])
        storage_url, password = storages.resumed_storage(saved, out_dir, storage)
        timeout = timeout if timeout is not None else saved["timeout"]
    else:
        settings = settings or study_settings()
        out_dir = Path(out_dir or Path("runs") / f"search-{time.strftime('%Y%m%d-%H%M%S')}")
        if (out_dir / storages.STUDY_JSON).exists():
            raise ConfigError(
                f"{out_dir} holds a study already; continue it (--resume {out_dir}, or from "
                "Python resume=) or name another folder"
            )
        storage_url, password = storages.without_password(
            storage or str(out_dir / storages.JOURNAL)
        )
        storage_url = storages.located(storage_url, Path.cwd())
        timeout = timeout if timeout is not None else BUDGETS[settings.budget]["timeout"]
    opened = storages.open_storage(
        storage_url, heartbeat, existing=resume is not None, password=password, say=say
    )
    held = studies.stored_settings(opened, settings.name)
    if resume is not None and held is None:
        raise ConfigError(
            f"the storage {storages.redact(storage_url)} of {out_dir} holds no study "
            f"{settings.name!r}: restore it from a backup, or start a new study"
        )
    if resume is None and held is not None:
        err.print(f"The storage holds a study {settings.name!r} already: joining it (its "
                  "space, split and budget win; --study NAME starts another)")  # fmt: skip
    check_no_fewer_trials(opened, settings.name, out_dir, storage_url)
    data = load_data(data_dir, settings.dataset)
    split, record = validation_split(data, settings.split["size"], settings.split["seed"])
    settings = dataclasses.replace(settings, split=record)
    the_study = studies.create_or_load(opened, settings)
    # a joined study's own settings win
    settings = StudySettings.from_dict(the_study.user_attrs[studies.SETTINGS_KEY])
    check_same_split(settings, record)
    if resume is not None and trials is not None:  # a new budget, for every worker
        settings = dataclasses.replace(settings, trials=trials)
        the_study.set_user_attr(studies.SETTINGS_KEY, settings.to_dict())
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = {
        "format": storages.FORMAT,
        "storage": storages.kept_storage(storage_url, out_dir),
        "settings": settings.to_dict(),
        "timeout": timeout,
    }
    atomic_write(out_dir / storages.STUDY_JSON, json.dumps(saved, indent=1))
    show_start(settings, out_dir, storage_url, workers, timeout)
    deadline = time.time() + timeout
    with stop_on_sigint(STOPPING) as stop:
        try:
            if workers == 1:
                set_threads(threads)
                run_here(the_study, opened, settings, split, stop, deadline)
            else:
                command = worker_command(storage_url, settings.name, workers, threads, data_dir)
                command += ["--heartbeat", str(heartbeat)]
                run_workers(the_study, command, workers, settings, deadline, stop, password)
        except studies.Interrupted:
            pass  # the trial is failed and queued again; the others stand
        interrupted = stop()
    result = summarise(the_study, settings, out_dir) | {"interrupted": interrupted}
    finished = finished_count(the_study)
    if not interrupted and finished < settings.trials and time.time() >= deadline:
        err.print(
            f"The time budget ({timeout:.0f} s, --timeout) stopped the study after {finished} of "
            f"{settings.trials} trials; give it more time with --timeout, or continue it with: "
            f"firstnet search --resume {out_dir} --timeout SECONDS",
            highlight=False,
        )
    on_summary(result)
    if result["best"] is not None and retrain and not interrupted:
        result["final"] = retrain_best(result["best"], out_dir, data, on_epoch)
    return result


def study_settings(
    *,
    quick: bool = False,
    space: str | Path | dict | None = None,
    fix: list[str] | tuple[str, ...] = (),
    trials: int | None = None,
    study: str = "firstnet",
    dataset: str = "mnist",
    objective: str = "error",
    validation_size: int = 10_000,
    seed: int = 0,
    device: str = "auto",
    sampler: str = "tpe",
    pruner: str = "median",
    defaults: bool = True,
) -> StudySettings:
    """A new study's settings from the command's flags (`objective`: names joined by commas;
    `study`: its name in the storage), checked."""
    if isinstance(space, dict):
        base = space
    else:
        base = spaces.read_space(Path(space)) if space else None
        base = base or (spaces.QUICK_SPACE if quick else spaces.DEFAULT_SPACE)
    checked = spaces.fix(base, list(fix)) if fix else spaces.check_space(base)
    budget = "quick" if quick else "default"
    trials = trials if trials is not None else BUDGETS[budget]["trials"]
    if trials < 1:
        raise ConfigError(f"trials must be at least 1, got {trials}", ("trials",))
    return StudySettings(
        name=study, dataset=dataset, objectives=tuple(objective.split(",")), space=checked,
        split={"size": validation_size, "seed": seed}, trials=trials, seed=seed, device=device,
        sampler=sampler, pruner=pruner, defaults=defaults, budget=budget,
    )  # fmt: skip


def check_same_split(stored: StudySettings, record: dict) -> None:
    if stored.split != record:
        raise ConfigError(
            f"this study's validation split is {stored.split}, but this machine's data give "
            f"{record}: the data set or numpy differ; workers must hold the same data"
        )


def say(text: str) -> None:
    err.print(text, markup=False, highlight=False)


def check_no_fewer_trials(storage, name: str, out_dir: Path, storage_url: str) -> None:
    """Refuse a storage whose study `name` holds fewer trials than the study folder's table lists:
    writing the tables would throw away what the folder found (a storage replaced, or not this
    study's). Checked before anything is written to either."""
    try:
        rows = loads(spaces.read_regular_file(out_dir / summary.TRIALS_JSON, "the table"))
    except (ConfigError, ValueError):  # none, or damaged: nothing to keep
        return
    held = studies.trial_count(storage, name)
    if isinstance(rows, list) and len(rows) > held:
        raise ConfigError(
            f"{out_dir / summary.TRIALS_JSON} lists {len(rows)} trials but the storage "
            f"{storages.redact(storage_url)} holds {held}: it is not this study's, or lost "
            "trials; nothing was written. Restore the storage, or start a new study in another "
            "folder"
        )


def show_start(
    settings: StudySettings, out_dir: Path, storage_url: str, workers: int, timeout: float
) -> None:
    objectives = " and ".join(settings.objectives)
    err.print(
        f"Study {settings.name!r}: {settings.trials} trials or {timeout:.0f} s (--timeout), "
        f"whichever ends first, {workers} worker(s), "
        f"minimising {objectives} on {settings.split['size']:,} held-out training images; "
        f"storage {storages.redact(storage_url)}; folder {out_dir}",
        highlight=False,
    )


def join(
    *,
    storage: str | None = None,
    study: str = "firstnet",
    out_dir: str | Path | None = None,
    worker_index: int | None = None,
    threads: int | None = None,
    timeout: float | None = None,
    heartbeat: int = storages.HEARTBEAT_S,
    data_dir: str | Path | None = None,
) -> bool:
    """One more worker of an existing study (in `storage` under the name `study`, or the study of
    the folder `out_dir`), until its budget is spent; False when Ctrl-C stopped it."""
    if storage:
        storage_url, name, password = storage, study, None
    elif out_dir:
        saved = storages.read_study_json(Path(out_dir))
        storage_url, password = storages.resumed_storage(saved, Path(out_dir), None)
        name = StudySettings.from_dict(saved["settings"]).name
    else:
        message = "a worker needs storage=URL (and study=NAME) or out_dir=DIR"
        raise ConfigError(message, ("storage", "study", "out_dir"))
    opened = storages.open_storage(
        storage_url, heartbeat, existing=True, password=password, say=say
    )
    the_study, settings = studies.load(opened, name, worker_index)
    if studies.budget_state(the_study, settings.trials) == "done":  # no data to load, no torch
        say(f"study {name}: its {settings.trials} trials are done; nothing left for this worker")
        return True
    set_threads(threads)
    data = load_data(data_dir, settings.dataset)
    split, record = validation_split(data, settings.split["size"], settings.split["seed"])
    check_same_split(settings, record)
    deadline = time.time() + timeout if timeout is not None else None
    with stop_on_sigint(STOPPING) as stop:
        try:
            studies.work(
                the_study,
                opened,
                settings,
                split,
                stop,
                on_trial=lambda t: err.print(
                    f"  [{studies.worker_name()}] " + summary.describe_trial(t), highlight=False
                ),
                deadline=deadline,
            )
        except studies.Interrupted:
            return False
        return not stop()


def summarise(study, settings: StudySettings, out_dir: Path) -> dict:
    """The tables and figures written into the study folder; the rows, the front and the best."""
    cost = "parameters" if "parameters" in settings.objectives else "seconds"
    rows = summary.trial_rows(study)
    paths = summary.write_tables(out_dir, rows, cost)
    figures = [
        summary.plot_pareto(rows, out_dir / "pareto.png", cost),
        summary.plot_history(study, out_dir / "history.png"),
        summary.plot_importance(study, out_dir / "importance.png"),
    ]
    return {
        "out_dir": out_dir,
        "cost": cost,
        "rows": rows,
        "front": summary.pareto_front(rows, cost),
        "best": summary.best_row(rows),
        "best_json": paths.get("best"),  # None when no trial completed
        "files": [p for p in figures if p is not None] + [paths["trials_csv"]],
        "final": None,
    }


def retrain_best(
    best: dict, out_dir: Path, data: LabelledData, on_epoch: Callable[[dict], None] | None = None
) -> dict | None:
    """The best config trained on all training images into out_dir/best-run; its test accuracy,
    the only time the study touches the test set, goes to final.json (and comes back, with
    `reused` when an earlier call retrained the same trial). None when Ctrl-C stopped it."""
    from firstnet import runs
    from firstnet.training import train_run

    cfg = TrainConfig.from_dict(best["config"])
    run_dir = out_dir / BEST_RUN
    try:
        final = json.loads((out_dir / FINAL_JSON).read_text())
    except (OSError, ValueError):  # none yet, or damaged: retrain
        final = None
    if isinstance(final, dict) and final.get("trial") == best["number"]:
        return final | {"reused": True}
    if run_dir.exists():
        shutil.rmtree(run_dir)  # an older best's run, or one interrupted: start it afresh
    run_dir = runs.create_run_dir(out_dir, BEST_RUN)
    err.print(
        f"Retraining trial {best['number']}'s config on all {len(data.train_labels):,} "
        "training images, then testing it once..."
    )
    run = train_run(cfg, data, run_dir, on_epoch=on_epoch)
    if not run.finished:
        return None
    last = run.history[-1]
    final = {
        "trial": best["number"],
        "val_acc": best["val_acc"],
        "test_acc": last["test_acc"],
        "seconds": last["elapsed_s"],
        "run": str(run_dir),
        "config": cfg.to_dict(),
    }
    atomic_write(out_dir / FINAL_JSON, json.dumps(final, indent=1))
    return final | {"reused": False}
