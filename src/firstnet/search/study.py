"""A study of `firstnet search` on Optuna: its settings, and the worker loop (where it is stored:
`firstnet.search.storage`).

A database storage fails and retries the trials of dead workers by their heartbeats. On a journal
file, which has no heartbeats, a worker fails the running trials of workers of its own machine
whose process is gone (the pid is recorded with each trial) and queues them again.

The budget (`trials`) is the total over all workers: a worker starts a trial only while finished
(complete or pruned) plus running trials are fewer than the budget, and a trial that still finds
itself past the budget (two workers asked at once) ends at once as failed with the reason "surplus",
so exactly `trials` trials finish. Workers wait for the running trials of others before they leave,
so a trial of a killed worker is always retried.

Every trial trains through the one Trainer on the held-out split (firstnet.data.split): it reports
validation accuracy after each epoch (the pruners decide on it) and never sees a test image.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from firstnet.config import TrainConfig
from firstnet.errors import ConfigError, DivergedError, FirstnetError
from firstnet.search import space as spaces

POLL_S = 1.0  # how often a worker waiting for the others looks at the study
SETTINGS_KEY = "firstnet"  # the study's user attribute that holds its settings
FAIL_REASON = "fail_reason"  # the user attribute that says why a trial failed
STEPS = 10  # pruning steps per trial: tenths of its training
# The median pruner judges a trial from the second half of its training on. Earlier, accuracy
# ranks trials by how fast they start, not where they end: measured on MNIST's MLP, every trial
# with random shifts (slower at first, better at the end) was pruned after its first epoch.
WARMUP_STEPS = 5


@dataclass(frozen=True)
class StudySettings:
    """What a study is, stored with it as JSON: every worker reads it from the storage, so all of
    them search the same space on the same split with the same budget."""

    name: str  # the study's name in its storage
    dataset: str
    objectives: tuple[str, ...]  # minimised: "error", "seconds", "parameters"
    space: dict  # checked by `space.check_space`: what a trial draws, what it keeps fixed
    split: dict  # the held-out split: {"size", "seed"}, and its "digest" once drawn
    trials: int  # over all workers
    seed: int = 0  # the split's, the sampler's (worker k: seed + k) and every trial's
    device: str = "auto"
    sampler: str = "tpe"
    pruner: str = "median"
    defaults: bool = True  # the first trials are the hand-picked recipes of the space's models
    budget: str = "default"  # "quick" or "default": the timeout when none is given

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"objectives": list(self.objectives)}

    @classmethod
    def from_dict(cls, stored: dict) -> StudySettings:
        names = {field.name for field in dataclasses.fields(cls)}
        kept = {key: value for key, value in stored.items() if key in names}
        return cls(**kept | {"objectives": tuple(kept.get("objectives", ()))})


class Interrupted(FirstnetError):
    """A worker was asked to stop (Ctrl-C) in the middle of a trial."""

    exit_code = 130


class Surplus(Exception):
    """A trial started after the budget was reached by other workers; it ends as failed."""


def sampler_for(
    name: str, settings: StudySettings, seed: int | None
) -> optuna.samplers.BaseSampler:
    multi = len(settings.objectives) > 1
    if name == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(spaces.grid(settings.space), seed=seed)
    if multi:
        message = "sampler cmaes optimises one objective; use tpe for several"
        raise ConfigError(message, ("sampler",))
    # CMA-ES samples the numeric params; the categorical ones come from random sampling
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def progress_step(epoch: int, epochs: float) -> int:
    """The step a trial reports its validation error at after `epoch` of `epochs`: the finished
    fraction of its training in tenths (1..STEPS). Trials of 2 and of 8 epochs are so compared at
    the same point of their learning-rate schedules, not a 2-epoch trial's end against an 8-epoch
    trial's warm-up. A fractional count's last epoch ends the training: 1.5 epochs report at 7 and
    10."""
    return max(1, round(STEPS * min(epoch, epochs) / epochs))


def pruner_for(name: str, settings: StudySettings) -> optuna.pruners.BasePruner:
    """Pruners decide from the validation error reported after each epoch (`progress_step`);
    Optuna cannot prune multi-objective studies, so those get none."""
    if name == "none" or len(settings.objectives) > 1:
        return optuna.pruners.NopPruner()
    if name == "median":  # stop a trial worse than the median of earlier trials at its step
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=WARMUP_STEPS)
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=STEPS, reduction_factor=3)


def create_or_load(storage, settings: StudySettings, worker: int | None = 0) -> optuna.Study:
    """The study named in `settings`: created with those settings, or loaded (its stored settings
    win, so a worker cannot join with another space or split), with the settings' sampler and
    pruner. Worker k's sampler draws from seed + k, so parallel workers do not propose the same
    trials; worker None draws from a random seed (a worker started by hand on another machine)."""
    # firstnet prints each trial itself; Optuna's own lines (a traceback for an interrupted trial)
    # would repeat them
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    stored = stored_settings(storage, settings.name)
    settings = stored if stored is not None else settings
    seed = None if worker is None else settings.seed + worker
    study = optuna.create_study(
        storage=storage,
        study_name=settings.name,
        directions=["minimize"] * len(settings.objectives),
        sampler=sampler_for(settings.sampler, settings, seed),
        pruner=pruner_for(settings.pruner, settings),
        load_if_exists=True,
    )
    if stored is None:
        study.set_user_attr(SETTINGS_KEY, settings.to_dict())
        if settings.defaults:  # start from the hand-picked recipes
            for params in spaces.default_trials(settings.space, settings.dataset):
                study.enqueue_trial(params, user_attrs={"default": True})
    return study


def stored_settings(storage, name: str) -> StudySettings | None:
    """The settings a study of that name holds, or None when there is no such study."""
    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=None)
    except KeyError:
        return None
    settings = study.user_attrs.get(SETTINGS_KEY)
    if settings is None:
        raise ConfigError(f"the study {name!r} in that storage was not made by firstnet search")
    return StudySettings.from_dict(settings)


def trial_count(storage, name: str) -> int:
    """The trials of the study `name` in `storage` (0 when there is no such study); read only."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return 0
    return len(storage.get_all_trials(study_id, deepcopy=False))


def load(storage, name: str, worker: int | None = None) -> tuple[optuna.Study, StudySettings]:
    """(study, settings) of an existing study, with its own sampler and pruner (see create_or_load
    for `worker`); a ConfigError when there is none."""
    settings = stored_settings(storage, name)
    if settings is None:
        raise ConfigError(
            f"no study named {name!r} in that storage; start one with firstnet search"
        )
    return create_or_load(storage, settings, worker), settings


def tally(study: optuna.Study) -> dict[str, int]:
    trials = study.get_trials(deepcopy=False)
    return {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}


def finished_of(counts: dict[str, int]) -> int:
    """The trials of a `tally` that count against the budget: complete or pruned."""
    return counts["complete"] + counts["pruned"]


def budget_state(study: optuna.Study, budget: int) -> str:
    """ "go" (start a trial), "wait" (the budget may be met by trials running elsewhere), "done"."""
    counts = tally(study)
    finished = finished_of(counts)
    if finished >= budget:
        return "wait" if counts["running"] else "done"
    if finished + counts["running"] >= budget and not counts["waiting"]:
        return "wait"
    return "go"


def is_surplus(study: optuna.Study, number: int, budget: int) -> bool:
    """True when earlier trials that are, or will be, finished already fill the budget."""
    live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    earlier = sum(t.number < number and t.state in live for t in study.get_trials(deepcopy=False))
    return earlier >= budget


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def fail_dead_local_trials(study: optuna.Study) -> None:
    """Journal storage: fail (and queue again) running trials of this machine's dead workers."""
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker", "")
        name, _, pid = worker.rpartition(":")
        if name == host and pid.isdigit() and not pid_alive(int(pid)):
            study.tell(trial.number, state=TrialState.FAIL)
            retry(study, trial.number, trial.params, "its worker process is gone")


def pid_alive(pid: int) -> bool:
    """Whether process `pid` of this machine runs; a zombie (killed, not yet reaped by its parent)
    does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: a zombie still answers kill(pid, 0)
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def retry(study: optuna.Study, number: int, params: dict, reason: str) -> None:
    """Queue the same params again (the trial is failed already)."""
    study.enqueue_trial(params, user_attrs={"retry_of": number, "retry_reason": reason})


def fail_stale(study: optuna.Study, storage) -> None:
    if isinstance(storage, optuna.storages.RDBStorage):
        optuna.storages.fail_stale_trials(study)  # heartbeats; the retry callback re-queues
    else:
        fail_dead_local_trials(study)


def trial_config(values: dict, settings: StudySettings) -> TrainConfig:
    """The TrainConfig of a trial: its drawn values, and what the study fixes for all trials."""
    return TrainConfig(
        **values, dataset=settings.dataset, seed=settings.seed, device=settings.device
    )


def objective_for(
    study: optuna.Study, settings: StudySettings, split, stop: Callable[[], bool]
) -> Callable:
    """The objective of one trial: train on the split's training rows, report validation error
    after each epoch (pruning), return the objectives. A diverged trial counts at chance level."""
    from firstnet.models import count_parameters
    from firstnet.trainer import Trainer

    budget, single = settings.trials, len(settings.objectives) == 1

    def objective(trial: optuna.trial.Trial):
        objective.current = trial.number
        if is_surplus(study, trial.number, budget):
            reason = "surplus: the budget was reached by other workers"
            trial.set_user_attr(FAIL_REASON, reason)  # Optuna 5 keeps no reason of its own
            raise Surplus(reason)
        trial.set_user_attr("worker", worker_name())
        cfg = trial_config(spaces.draw(trial, settings.space), settings)
        trial.set_user_attr("config", cfg.to_dict())
        trainer = Trainer(cfg, split)
        validation: list[float] = []

        def report(record: dict) -> None:
            validation.append(record["test_acc"])
            if single:
                trial.report(1 - record["test_acc"], progress_step(record["epoch"], cfg.epochs))
                if trial.should_prune():
                    trial.set_user_attr("val_acc", validation)
                    trial.set_user_attr("seconds", record["elapsed_s"])
                    raise optuna.TrialPruned(f"pruned after epoch {record['epoch']}")

        diverged = False
        try:
            history = trainer.run(on_epoch=report, should_stop=stop)
        except DivergedError:
            diverged, history = True, trainer.history
        if stop() and not trainer.finished and not diverged:
            raise Interrupted(f"trial {trial.number} was interrupted")
        error = 1 - (1 / len(split.classes) if diverged else history[-1]["test_acc"])
        seconds = trainer.elapsed_s
        parameters = count_parameters(trainer.model)
        trial.set_user_attr("val_acc", validation)
        trial.set_user_attr("seconds", seconds)
        trial.set_user_attr("parameters", parameters)
        trial.set_user_attr("diverged", diverged)
        numbers = {"error": error, "seconds": seconds, "parameters": float(parameters)}
        values = tuple(numbers[name] for name in settings.objectives)
        return values if len(values) > 1 else values[0]

    return objective


def work(
    study: optuna.Study,
    storage,
    settings: StudySettings,
    split,
    stop: Callable[[], bool] = lambda: False,
    on_trial: Callable[[optuna.trial.FrozenTrial], None] = lambda trial: None,
    deadline: float | None = None,
) -> None:
    """Run trials until the study's budget is spent (or the `deadline` passes, or `stop()`), calling
    `on_trial` with each trial this worker ends. Ctrl-C (`stop`) mid-trial fails that trial and
    queues it again, so the study stays consistent and a resume runs it."""
    objective = objective_for(study, settings, split, stop)
    while not stop() and (deadline is None or time.time() < deadline):
        fail_stale(study, storage)
        state = budget_state(study, settings.trials)
        if state == "done":
            break
        if state == "wait":
            time.sleep(POLL_S)
            continue
        try:
            study.optimize(
                objective,
                n_trials=1,
                catch=(Surplus,),
                callbacks=[lambda _study, trial: on_trial(trial)],
            )
        except Interrupted:
            number = objective.current
            retry(study, number, study.trials[number].params, "interrupted (Ctrl-C)")
            raise
