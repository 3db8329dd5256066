"""The trials of a study of `firstnet search`, run in this process or in worker processes started
here, each way with a bar of finished trials: Ctrl-C is passed on to every worker, the storage's
password reaches them by environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from firstnet.search import storage as storages
from firstnet.search import study as studies
from firstnet.search import summary
from firstnet.search.study import StudySettings
from firstnet.terminal import err, task_bar


def set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)


def finished_count(study) -> int:
    return studies.finished_of(studies.tally(study))


def run_here(
    study, storage, settings: StudySettings, split, stop: Callable[[], bool], deadline: float
) -> None:
    """One worker in this process, a bar of finished trials and a line per trial."""
    with task_bar("trials", settings.trials) as advance:
        shown = finished_count(study)
        advance(shown)

        def on_trial(trial) -> None:
            nonlocal shown
            err.print("  " + summary.describe_trial(trial), highlight=False)
            now = finished_count(study)
            advance(now - shown)
            shown = now

        studies.work(study, storage, settings, split, stop, on_trial, deadline)


def worker_command(
    storage_url: str, name: str, workers: int, threads: int | None, data_dir: str | Path | None
) -> list[str]:
    """The command line of one more worker process (`firstnet search --worker`), threads shared
    out between `workers` of them."""
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    command = [sys.executable, "-m", "firstnet", "search", "--worker", "--storage", storage_url,
               "--study", name, "--threads", str(threads)]  # fmt: skip
    return command + (["--data-dir", str(data_dir)] if data_dir else [])


def run_workers(
    study,
    command: list[str],
    workers: int,
    settings: StudySettings,
    deadline: float,
    stop,
    password: str | None = None,
) -> None:
    """`workers` local processes running `command`, a bar of finished trials; Ctrl-C is passed on
    to every worker. The storage's `password` reaches them by environment, not on their command
    lines (which `ps` shows to every user)."""
    command = [*command, "--timeout", f"{max(deadline - time.time(), 1):.0f}"]
    env = os.environ | {storages.PASSWORD_ENV: password} if password else None
    # Each worker in a session of its own: a terminal's Ctrl-C reaches this process alone, which
    # passes it on once (twice, a worker in mid-batch would take it as "abort now").
    started = [
        subprocess.Popen([*command, "--worker-index", str(k)], start_new_session=True, env=env)
        for k in range(workers)
    ]
    forwarded = False
    with task_bar("trials", settings.trials) as advance:
        shown = 0
        while [w.poll() for w in started].count(None):  # poll each: reap every dead worker
            if stop() and not forwarded:
                for w in started:
                    w.send_signal(signal.SIGINT)
                forwarded = True
            now = finished_count(study)
            advance(now - shown)
            shown = now
            time.sleep(0.5)
        advance(finished_count(study) - shown)
    failed = [w.returncode for w in started if w.returncode not in (0, 130)]
    if failed:
        err.print(f"{len(failed)} worker(s) failed (exit codes {failed}); see above", style="red")
