"""`firstnet search`: the held-out split, the space, the budget over many workers on a journal file
and on a real PostgreSQL, killed workers, Ctrl-C, resume, pruning, and best.json -> train --config.

PostgreSQL: .ci/run starts a throw-away cluster (scripts/postgres-cluster) and sets
FIRSTNET_TEST_POSTGRES to its URL; elsewhere these tests start their own when PostgreSQL is
installed, and skip otherwise (in CI, where CI is set, they fail instead).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from firstnet.cli import build_parser, main, options
from firstnet.config import TrainConfig
from firstnet.data import LabelledData, validation_split
from firstnet.errors import ConfigError
from firstnet.runs import read_config
from firstnet.search import space as spaces
from firstnet.search import storage as storages
from firstnet.search import study as studies
from firstnet.search.summary import config_file_values, pareto_front, trial_rows

ROOT = Path(__file__).resolve().parents[1]
# A space whose trials take about a second on 2 cores: one hidden layer of 16..64 units, 1 epoch.
TINY_SPACE = {
    "params": {
        "hidden": {"low": 16, "high": 64, "log": True},
        "lr": {"low": 0.05, "high": 0.3, "log": True},
    },
    "fixed": {"model": "mlp", "depth": 1, "epochs": 1, "batch_size": 256, "tta": False},
}
BOUND_S = 300  # the longest a search run in the test's own process may take (`bounded`), as before
# Trials of four short epochs (about a second in all): one caught after its first epoch's report
# (`running_trial(reported=True)`) is in the middle of its training.
SLOW_SPACE = {
    "params": {"hidden": {"choices": [256]}, "lr": {"low": 0.05, "high": 0.3, "log": True}},
    "fixed": {"model": "mlp", "depth": 1, "epochs": 4, "batch_size": 256, "tta": False},
}


def write_space(folder: Path, space: dict, name: str = "space.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(space))
    return path


def firstnet(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "firstnet", *map(str, args)],
        capture_output=True, text=True, timeout=300, **kwargs,
    )  # fmt: skip


def journal_study(folder: Path, name: str = "firstnet") -> optuna.Study:
    storage = storages.open_storage(str(folder / storages.JOURNAL))
    return optuna.load_study(study_name=name, storage=storage)


def finished(study: optuna.Study) -> list:
    return study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))


def assert_budget_exactly(study: optuna.Study, trials: int) -> None:
    """Exactly `trials` finished, none running or waiting, and every failed trial either a killed
    or interrupted one that was run again, or a surplus one (no training done)."""
    counts = studies.tally(study)
    assert len(finished(study)) == trials, counts
    assert counts["running"] == 0 and counts["waiting"] == 0, counts
    retried = {
        t.user_attrs.get("retry_of", t.system_attrs.get("failed_trial")) for t in study.trials
    }
    for trial in study.get_trials(states=(TrialState.FAIL,)):
        reason = trial.user_attrs.get(studies.FAIL_REASON, "")
        assert trial.number in retried or reason.startswith("surplus"), (trial.number, reason)


# --- the held-out split ---------------------------------------------------------------------------


def numbered_set(train: int = 600, test: int = 100) -> LabelledData:
    """A set whose every image carries its own id in its first two pixels: train i -> i, test i
    -> 10000 + i, so rows can be traced through a split."""

    def images(ids):
        out = np.zeros((len(ids), 28, 28), dtype=np.uint8)
        out[:, 0, 0], out[:, 0, 1] = np.array(ids) // 256, np.array(ids) % 256
        return out

    labels = lambda n: (np.arange(n) % 10).astype(np.uint8)  # noqa: E731
    return LabelledData(
        images(range(train)), labels(train), images(range(10000, 10000 + test)), labels(test), "ids"
    )


def ids(images: np.ndarray) -> set[int]:
    return set((images[:, 0, 0].astype(int) * 256 + images[:, 0, 1]).tolist())


def test_the_held_out_split_never_overlaps_the_test_set_or_the_training_rows():
    data = numbered_set()
    split, record = validation_split(data, size=150, seed=3)
    held, kept = ids(split.test_images), ids(split.train_images)
    assert len(held) == 150 and len(kept) == 450 and held.isdisjoint(kept)
    assert held | kept == set(range(600))  # every training row is in exactly one part
    assert held.isdisjoint(ids(data.test_images)) and kept.isdisjoint(ids(data.test_images))
    assert record == {"size": 150, "seed": 3, "digest": record["digest"]}
    again, same = validation_split(data, size=150, seed=3)
    assert same == record and np.array_equal(again.test_images, split.test_images)
    assert validation_split(data, size=150, seed=4)[1]["digest"] != record["digest"]
    # labels travel with their images (image i has label i % 10)
    assert np.array_equal(split.test_labels, (np.sort(list(held)) % 10).astype(np.uint8))


def test_a_split_that_holds_out_everything_or_nothing_is_refused():
    for size in (0, 600, 601):
        with pytest.raises(ConfigError, match="0 < size < 600"):
            validation_split(numbered_set(), size=size)


# --- the space ------------------------------------------------------------------------------------


def test_the_default_spaces_draw_valid_configs_with_conditions():
    for space in (spaces.DEFAULT_SPACE, spaces.QUICK_SPACE):
        spaces.check_space(space)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(30):
            trial = study.ask()
            values = spaces.draw(trial, space)
            cfg = TrainConfig(**values)
            assert ("depth" in trial.params) == (cfg.model == "mlp")
            assert ("channels" in trial.params) == (cfg.model == "cnn")
            assert ("lr_sgd" in trial.params) == (cfg.optimizer in ("sgd", "muon"))
            study.tell(trial, 0.0)


@pytest.mark.parametrize(
    "space, message",
    [
        ({"params": {"width": {"choices": [1]}}}, "'width' is not a training option"),
        ({"params": {"seed": {"choices": [1]}}}, "set by the study"),
        ({"params": {"lr": {"low": 0.5, "high": 0.1}}}, "low < high"),
        ({"params": {"lr": {"low": 0, "high": 1, "log": True}}}, "log range needs low > 0"),
        ({"params": {"activation": {"choices": ["relu", "swish"]}}}, "'swish' is not one of"),
        ({"params": {"depth": {"low": 1, "high": 3, "when": {"model": ["mlp"]}}}}, "no earlier"),
        ({"params": {"lr": {"choices": []}}}, "non-empty list"),
        ({"params": {"lr": {"low": 0.1, "high": 1, "step": 2}}}, "unknown keys step"),
        ({"fixed": {}}, "expected"),
    ],
)
def test_a_wrong_space_is_refused_with_the_reason(space, message):
    with pytest.raises(ConfigError, match=message):
        spaces.check_space(space)


def test_space_files_json_and_yaml_and_fix(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("params:\n  hidden: {low: 16, high: 64, log: true}\nfixed: {model: mlp}\n")
    assert spaces.read_space(path)["params"]["hidden"]["log"] is True
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        spaces.read_space(tmp_path / "bad.json")
    fixed = spaces.fix(spaces.DEFAULT_SPACE, ["model=mlp", "epochs=3"])
    assert fixed["fixed"]["model"] == "mlp" and fixed["fixed"]["epochs"] == 3
    assert "channels" not in fixed["params"] and "model" not in fixed["params"]
    assert "depth" in fixed["params"] and "epochs" not in fixed["params"]
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        spaces.fix(spaces.DEFAULT_SPACE, ["model"])


def yaml_bomb(levels: int = 9) -> str:
    """A "billion laughs" space: `levels` lists, each of nine of the one before (9**levels
    strings once expanded, gigabytes), in under 400 bytes."""
    lists = ["      - &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lists += [f"      - &l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, levels)]
    return "params:\n  lr:\n    choices:\n" + "\n".join(lists) + "\n"


SPACE_FILES = {  # how to make the hostile --space FILE, what the one line says
    "a YAML bomb": (lambda p: p.write_text(yaml_bomb()), "YAML aliases (*name) are not accepted"),
    "a FIFO": (os.mkfifo, "not a regular file (a FIFO)"),
    "/dev/zero": (lambda p: p.symlink_to("/dev/zero"), "not a regular file (a character device)"),
    "a folder": (Path.mkdir, "not a regular file (a folder)"),
    "not UTF-8": (lambda p: p.write_bytes(b"params: {\xff\xfe}"), "not UTF-8 text (byte 9:"),
    "too large": (lambda p: p.write_text("#" * 200_000), "200,000 bytes, over the 100,000"),
    "bad YAML": (lambda p: p.write_text("params: {hidden: [1\n"), "is not valid JSON/YAML: "),
}


@pytest.mark.parametrize("kind", SPACE_FILES)
def test_a_hostile_space_file_is_refused_at_once_in_one_line(tmp_path, kind):
    """Refused before anything is read that could hang (a FIFO), run forever (/dev/zero) or
    expand (YAML aliases: before, 7 levels of the bomb took 1.8 GB and 25 s, then a 125 MB
    study.json; 9 levels ran out of 4 GB after 141 s)."""
    make, message = SPACE_FILES[kind]
    path = tmp_path / "space.yaml"
    make(path)
    out = tmp_path / "study"
    code = f"""
        import sys
        from firstnet.cli import main
        code = main(["search", "--space", {str(path)!r}, "--out-dir", {str(out)!r}])
        # VmHWM: this program's own peak (ru_maxrss keeps the forking pytest worker's across exec)
        peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        print(int(peak.split()[1]) // 1024)
        sys.exit(code)
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("firstnet: error: ") and message in lines[0], lines[0]
    assert int(result.stdout) < 300  # MB at its peak: nothing was expanded
    assert not out.exists()


def test_grid_values_cover_each_range():
    params = {
        "depth": {"low": 1, "high": 3},
        "lr": {"low": 0.01, "high": 1, "log": True},
        "act": {"field": "activation", "choices": ["relu"]},
    }
    grid = spaces.grid({"params": params})
    assert grid["depth"] == [1, 2, 3] and grid["act"] == ["relu"]
    assert grid["lr"] == pytest.approx([0.01, 0.1, 1.0])
    wide = spaces.grid({"params": {"wd": {"field": "weight_decay", "low": 1e-6, "high": 1e-2,
                                          "log": True}}})  # fmt: skip
    assert wide["wd"][0] == 1e-6 and wide["wd"][-1] == 1e-2  # never a rounding step outside


def test_the_pareto_front_keeps_only_trials_nothing_beats():
    def row(n, acc, seconds):
        return {"number": n, "state": "complete", "val_acc": acc, "seconds": seconds}

    rows = [row(0, 0.97, 2), row(1, 0.98, 5), row(2, 0.96, 3), row(3, 0.985, 9), row(4, 0.98, 7)]
    assert [r["number"] for r in pareto_front(rows)] == [0, 1, 3]


# --- pruning --------------------------------------------------------------------------------------


def test_pruning_stops_a_trial_worse_than_the_median_at_its_epoch(mnist):
    split, record = validation_split(mnist.subset(6000, 10), size=1000)
    space = {
        "params": {"lr": {"choices": [1e-5, 0.2]}},
        "fixed": {"model": "mlp", "hidden": 64, "depth": 1, "epochs": 3, "batch_size": 100},
    }
    settings = studies.StudySettings(
        name="p", dataset="mnist", objectives=("error",), space=space, split=record, trials=7,
        device="cpu", sampler="random", pruner="median", defaults=False,
    )  # fmt: skip
    storage = optuna.storages.InMemoryStorage()
    study = studies.create_or_load(storage, settings)
    distribution = optuna.distributions.CategoricalDistribution([1e-5, 0.2])
    for error in (0.3, 0.35, 0.4, 0.3, 0.4):  # five finished trials: median error 0.35
        study.add_trial(optuna.trial.create_trial(
            value=error, params={"lr": 0.2}, distributions={"lr": distribution},
            intermediate_values={3: error, 7: error, 10: error},  # after 1, 2, 3 of 3 epochs
        ))  # fmt: skip
    study.enqueue_trial({"lr": 1e-5})  # hardly learns: far worse than the median at each step
    study.enqueue_trial({"lr": 0.2})  # learns (~0.1 error after one epoch): kept to the end
    studies.work(study, storage, settings, split)
    slow, good = study.trials[5], study.trials[6]
    # judged from the second half of its training on: after epoch 2 of 3 (step 7), not epoch 1
    assert slow.state == TrialState.PRUNED and len(slow.user_attrs["val_acc"]) == 2
    assert 1 - slow.user_attrs["val_acc"][-1] > 0.35
    assert good.state == TrialState.COMPLETE and len(good.user_attrs["val_acc"]) == 3
    assert sorted(slow.intermediate_values) == [3, 7]


def test_a_trial_past_the_budget_fails_as_surplus_and_says_so(mnist):
    split, record = validation_split(mnist.subset(2000, 10), size=500)
    space = {"params": {"lr": {"choices": [0.1]}}, "fixed": {"model": "linear", "epochs": 1}}
    settings = studies.StudySettings(
        name="s", dataset="mnist", objectives=("error",), space=space, split=record, trials=1,
        device="cpu", sampler="random", pruner="none", defaults=False,
    )  # fmt: skip
    study = studies.create_or_load(optuna.storages.InMemoryStorage(), settings)
    distribution = optuna.distributions.CategoricalDistribution([0.1])
    study.add_trial(optuna.trial.create_trial(  # the budget of one, already spent
        value=0.1, params={"lr": 0.1}, distributions={"lr": distribution}
    ))  # fmt: skip
    objective = studies.objective_for(study, settings, split, lambda: False)
    study.optimize(objective, n_trials=1, catch=(studies.Surplus,))
    late = study.trials[1]
    assert late.state == TrialState.FAIL and late.params == {}
    assert late.user_attrs[studies.FAIL_REASON].startswith("surplus")
    assert trial_rows(study)[1]["note"].startswith("surplus")


# --- one worker, in this process ------------------------------------------------------------------


def test_best_json_is_exactly_the_best_trials_config_for_train_config(tmp_path, mnist, capsys):
    out = tmp_path / "study"
    args = ["search", "--space", write_space(tmp_path, TINY_SPACE), "--trials", "3",
            "--out-dir", out, "--validation-size", "5000"]  # fmt: skip
    assert main([str(a) for a in args]) == 0
    rows = json.loads((out / "trials.json").read_text())
    assert [r["state"] for r in rows] == ["complete"] * 3
    best = max(rows, key=lambda r: r["val_acc"])
    trial_config = TrainConfig.from_dict(best["config"])
    assert json.loads((out / "best.json").read_text()) == config_file_values(best["config"])
    # the command line reads best.json into exactly the trial's TrainConfig
    values = options.read_config_file(out / "best.json")
    argv = ["train", "--config", str(out / "best.json")]
    parsed = build_parser({"train": values}).parse_args(argv)
    assert options.config_from_args(parsed) == trial_config
    # and trains it: the run's config.json is that config
    assert main([*argv, "--runs-dir", str(tmp_path / "runs"), "--name", "again"]) == 0
    assert read_config(tmp_path / "runs" / "again") == trial_config
    # bench takes the same file: the best config over seeds
    capsys.readouterr()
    assert main(["bench", "mlp", "--config", str(out / "best.json"), "--seeds", "1", "--json"]) == 0
    assert TrainConfig.from_dict(json.loads(capsys.readouterr().out)["config"]) == trial_config
    # flags beside --config win
    parsed = build_parser({"train": values}).parse_args([*argv, "--epochs", "2"])
    assert options.config_from_args(parsed).epochs == 2
    # the retrained best: tested once, on the real test set
    final = json.loads((out / "final.json").read_text())
    assert final["trial"] == best["number"] and 0.9 < final["test_acc"] < 1
    assert read_config(out / "best-run") == trial_config
    for name in ("pareto.png", "history.png", "importance.png", "trials.csv", "study.json"):
        assert (out / name).stat().st_size > 0, name


def test_a_bad_config_file_is_one_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    for text, message in (
        ('{"model": "mlp", "width": 3}', "unknown config fields: width"),
        ('{"hidden": "big"}', "--hidden: expected an int"),
        ("[1, 2]", "must hold an object"),
        ("{", "is not valid JSON"),
    ):
        bad.write_text(text)
        assert main(["train", "--config", str(bad)]) == 2
        assert message in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_wrong_search_arguments_are_one_clear_error(tmp_path, capsys):
    cases = [
        (["--resume", tmp_path], "holds no study"),
        (["--storage", "postgresql://nobody@127.0.0.1:9/none", "--trials", "1"],
         "cannot open the study storage postgresql://nobody@127.0.0.1:9/none"),
        (["--storage", "postgresql://me:secret@127.0.0.1:9/db"], "postgresql://me:***@127.0.0.1"),
        (["--sampler", "cmaes", "--objective", "error,seconds"], "optimises one objective"),
        (["--trials", "0"], "at least 1"),
        (["--fix", "colour=red"], "'colour' is not a training option"),
        (["--worker"], "holds no study (study.json is missing)"),
    ]  # fmt: skip
    for extra, message in cases:
        code = main(["search", "--out-dir", str(tmp_path / "s"), *map(str, extra)])
        text = capsys.readouterr().err
        assert code != 0 and message in text and "secret" not in text, extra
    assert not (tmp_path / "s" / "study.json").exists()
    assert main(["search", "--worker"]) == 2
    said = "a worker needs --storage=URL (and --study=NAME) or --out-dir=DIR"
    assert said in capsys.readouterr().err


# --- several workers, a killed worker, Ctrl-C and resume ------------------------------------------


def test_two_journal_workers_finish_exactly_the_budget(tmp_path, bounded, capsys):
    out = tmp_path / "study"
    space = write_space(tmp_path, TINY_SPACE)
    code = main(["search", "--space", str(space), "--trials", "6", "--workers", "2",
                 "--out-dir", str(out), "--no-retrain"])  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    study = journal_study(out)
    assert_budget_exactly(study, 6)
    workers = {t.user_attrs["worker"] for t in finished(study)}
    assert len(workers) == 2  # both worked
    assert len({json.dumps(t.params, sort_keys=True) for t in finished(study)}) == 6
    assert "Pareto front" in printed.out
    # the dashboard's view of the same storage: optuna-dashboard opens it
    assert dashboard_studies(storages.open_storage(str(out / storages.JOURNAL))) == ["firstnet"]


def test_a_study_its_time_budget_stops_says_so_and_how_to_go_on(tmp_path, capsys):
    """`--quick` announced 20 trials and ran 2 without a word: now the budget is said at the start
    and, when the time runs out first, at the end."""
    out = tmp_path / "study"
    space = write_space(tmp_path, TINY_SPACE)
    assert main(["search", "--space", str(space), "--trials", "500", "--timeout", "1",
                 "--out-dir", str(out), "--no-retrain"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "500 trials or 1 s (--timeout), whichever ends first" in err
    finished_trials = len(finished(journal_study(out)))
    assert finished_trials < 500
    assert (
        f"The time budget (1 s, --timeout) stopped the study after {finished_trials} of 500 trials"
    ) in err and f"firstnet search --resume {out} --timeout SECONDS" in err


def dashboard_studies(storage) -> list[str]:
    """The study names optuna-dashboard's API lists for `storage` (its WSGI app, no server)."""
    from optuna_dashboard import wsgi

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/studies", "QUERY_STRING": "",
               "SERVER_NAME": "test", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
               "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
               "wsgi.url_scheme": "http"}  # fmt: skip
    status = []
    answer = wsgi(storage)(environ, lambda code, headers, exc=None: status.append(code))
    body = b"".join(answer)
    assert status == ["200 OK"]
    return [summary["study_name"] for summary in json.loads(body)["study_summaries"]]


def start_search(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "firstnet", "search", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def running_trial(study_of, seconds: float = 120, reported: bool = False):
    """The first trial seen running with its worker recorded (polls the study of `study_of()`);
    with `reported`, one that has reported its first epoch and no other: three are still to come."""
    deadline, study = time.time() + seconds, None
    while time.time() < deadline:
        try:
            study = study or study_of()
            trials = study.get_trials(states=(TrialState.RUNNING,))
        except KeyError:  # the study is not created yet
            trials = []
        for trial in trials:
            first_epoch = len(trial.intermediate_values) == 1
            if "worker" in trial.user_attrs and (first_epoch or not reported):
                return trial
        time.sleep(0.05)
    raise AssertionError("no trial started running")


def kill_a_worker_mid_trial(out: Path, study_of, storage_args: list) -> None:
    space = write_space(out.parent, SLOW_SPACE, "slow.json")
    process = start_search("--space", space, "--trials", 3, "--workers", 2, "--out-dir", out,
                           "--no-retrain", *storage_args)  # fmt: skip
    try:
        victim = running_trial(study_of, reported=True)  # in its second epoch of four
        os.kill(int(victim.user_attrs["worker"].rpartition(":")[2]), signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    study = study_of()
    assert study.trials[victim.number].state == TrialState.FAIL
    assert_budget_exactly(study, 3)
    assert "1 worker(s) failed" in stderr


def test_a_journal_worker_killed_mid_trial_leaves_it_failed_and_retried(tmp_path):
    out = tmp_path / "study"
    kill_a_worker_mid_trial(out, lambda: journal_study(out), [])


def test_ctrl_c_leaves_the_study_consistent_and_resume_finishes_it(tmp_path, capsys):
    out = tmp_path / "study"
    space = write_space(tmp_path, SLOW_SPACE)
    process = start_search("--space", space, "--trials", 3, "--out-dir", out, "--no-retrain")
    try:
        victim = running_trial(lambda: journal_study(out), reported=True)  # 3 epochs to go
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert f"firstnet search --resume {out}" in stderr and "Traceback" not in stderr
    assert "queued to run again" in stderr and "checkpoint" not in stderr
    study = journal_study(out)
    counts = studies.tally(study)
    assert counts["running"] == 0 and counts["waiting"] == 1  # the interrupted trial, queued
    assert study.trials[victim.number].state == TrialState.FAIL
    assert main(["search", "--resume", str(out), "--trials", "2", "--no-retrain"]) == 0, (
        capsys.readouterr().err
    )
    study = journal_study(out)
    assert_budget_exactly(study, 2)
    rerun = [t for t in study.trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(rerun) == 1 and rerun[0].params == study.trials[victim.number].params


def workers_seen(study: optuna.Study) -> set[str]:
    return {t.user_attrs["worker"] for t in study.trials if "worker" in t.user_attrs}


def test_a_terminal_ctrl_c_stops_local_workers_once_each_and_cleanly(tmp_path):
    """A terminal's Ctrl-C goes to its whole foreground process group: the workers must hear it
    once (from the search that started them), not twice, which would abort them mid-trial."""
    out = tmp_path / "study"
    space = write_space(tmp_path, SLOW_SPACE)
    process = subprocess.Popen(
        [sys.executable, "-m", "firstnet", "search", "--space", str(space), "--trials", "8",
         "--workers", "2", "--out-dir", str(out), "--no-retrain"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        running_trial(lambda: journal_study(out))
        deadline = time.time() + 120
        while len(workers_seen(journal_study(out))) < 2 and time.time() < deadline:
            time.sleep(0.1)  # both workers at work (their Ctrl-C handling set up)
        pids = {int(name.rsplit(":", 1)[1]) for name in workers_seen(journal_study(out))}
        # out of the terminal's process group: its Ctrl-C reaches them only through the search
        assert len(pids) == 2 and all(os.getpgid(pid) != process.pid for pid in pids)
        os.killpg(process.pid, signal.SIGINT)  # what the terminal does: the whole group
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert "worker(s) failed" not in stderr
    counts = studies.tally(journal_study(out))
    assert counts["running"] == 0, counts
    assert counts["waiting"] >= 1  # the interrupted trials, queued to run again


def test_a_second_search_into_a_study_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "study"
    out.mkdir()
    (out / "study.json").write_text("{}")
    assert main(["search", "--out-dir", str(out), "--trials", "1"]) == 2
    assert f"continue it (--resume {out}" in capsys.readouterr().err


# --- a damaged or moved study folder -------------------------------------------------------------


@pytest.fixture(scope="module")
def one_trial_study(tmp_path_factory) -> Path:
    """A study folder of one finished trial, to copy and damage."""
    folder = tmp_path_factory.mktemp("template")
    # in a process of its own, which has ended: the journal names a worker that is gone
    result = firstnet(
        "search",
        "--space",
        write_space(folder, TINY_SPACE),
        "--trials",
        1,
        "--out-dir",
        folder / "study",
        "--no-retrain",
        "--validation-size",
        5000,
    )
    assert result.returncode == 0, result.stderr
    return folder / "study"


def a_copy(study: Path, tmp_path: Path) -> Path:
    shutil.copytree(study, tmp_path / "study")
    return tmp_path / "study"


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}


def insert_line(path: Path, line: bytes, at: int = 1) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:at] + [line] + lines[at:]))


def another_study(path: Path) -> None:
    path.unlink()
    optuna.create_study(study_name="other", storage=storages.open_storage(str(path)))


@pytest.fixture
def bounded():
    """A search run in this process fails the test after BOUND_S seconds, as the subprocess's
    timeout would: one that opened a FIFO for reading would wait for a writer for ever, a hung
    worker would keep its coordinator waiting. pytest.fail's exception is no Exception, so no
    `except OSError` of the search can take it for an error of its own."""

    def expire(signum, frame):
        pytest.fail(f"the search ran for more than {BOUND_S} s", pytrace=False)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(BOUND_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def one_line(code: int, capsys) -> str:
    """The one line a refused search printed (its exit status 2), after checking there was one."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (code, lines)
    return lines[0]


def replace_by(make):
    def damage(path: Path) -> None:
        path.unlink()
        make(path)

    return damage


JOURNAL_DAMAGES = {  # how each damages the journal of a study, what the one line says of it
    "garbage bytes": (lambda p: insert_line(p, b"\x07\x1b[31mgarbage\n"), "line 2 is not JSON"),
    "a last line of garbage": (lambda p: insert_line(p, b"nope\n", 10**6), "is not JSON"),
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "missing": (Path.unlink, "is missing"),
    "JSON with wrong fields": (
        lambda p: insert_line(p, b'{"hello": "world"}\n'),
        "line 2 is not an Optuna journal",
    ),
    "JSON that is not an object": (lambda p: insert_line(p, b"[1, 2]\n"), "not an Optuna journal"),
    "an unknown operation": (
        lambda p: insert_line(p, b'{"op_code": 99, "worker_id": "w"}\n'),
        "not an Optuna journal",
    ),
    "an operation with wrong values": (
        lambda p: insert_line(
            p, b'{"op_code": 0, "worker_id": "w", "study_name": "x", "directions": [7]}\n'
        ),  # fmt: skip
        "not an Optuna journal",
    ),
    "binary zeros": (lambda p: p.write_bytes(bytes(4096)), "holds no whole line"),
    "non-UTF-8": (lambda p: insert_line(p, b"\xff\xfe\xfd\n"), "line 2 is not JSON"),
    "a folder": (replace_by(Path.mkdir), "not a regular file (a folder)"),
    "a FIFO": (replace_by(os.mkfifo), "not a regular file (a FIFO)"),
    "a symlink to /dev/zero": (
        replace_by(lambda p: p.symlink_to("/dev/zero")),
        "not a regular file (a character device)",
    ),
    "a dangling symlink": (replace_by(lambda p: p.symlink_to(p.parent / "gone")), "cannot read"),
    "another study's journal": (another_study, "holds no study 'firstnet'"),
}


@pytest.mark.filterwarnings("error")  # a warning would be a second line of a process's stderr
@pytest.mark.parametrize("damage", JOURNAL_DAMAGES)
def test_a_damaged_journal_is_one_clear_line_and_loses_nothing(
    tmp_path, one_trial_study, damage, bounded, capsys
):
    out = a_copy(one_trial_study, tmp_path)
    journal = out / storages.JOURNAL
    make, message = JOURNAL_DAMAGES[damage]
    make(journal)
    before = files_of(out)
    line = one_line(main(["search", "--resume", str(out), "--trials", "2", "--no-retrain"]), capsys)
    assert line.startswith("firstnet: error: ") and message in line and str(journal) in line, line
    assert files_of(out) == before  # the journal, study.json and the tables as they were


@pytest.mark.parametrize("tail", ["cut in its last line", "zeros after its last line"])
def test_a_journal_whose_writer_was_killed_mid_line_is_cut_and_the_study_resumed(
    tmp_path, one_trial_study, tail, capsys
):
    """A partial last line: Optuna's reader skips it, but its next append continues that line
    into one nothing can read. It is cut off, the journal as it was kept beside it."""
    out = a_copy(one_trial_study, tmp_path)
    journal = out / storages.JOURNAL
    whole = journal.read_bytes()
    damaged = whole[:-15] if tail == "cut in its last line" else whole + bytes(700)
    journal.write_bytes(damaged)
    assert main(["search", "--resume", str(out), "--trials", "2", "--no-retrain"]) == 0
    assert "ended in part of a line" in capsys.readouterr().err
    (aside,) = out.glob("journal.log.damaged-*")
    assert aside.read_bytes() == damaged
    assert_budget_exactly(journal_study(out), 2)  # every line of the journal reads
    assert journal.read_bytes().endswith(b"\n")
    assert len(json.loads((out / "trials.json").read_text())) >= 2


def test_a_study_resumes_from_any_folder(tmp_path, monkeypatch):
    """study.json keeps the journal's path relative to the study folder (before: relative to where
    the study started, so a resume elsewhere made a new journal and wrote its empty tables)."""
    monkeypatch.chdir(tmp_path)
    args = ["search", "--space", write_space(tmp_path, TINY_SPACE), "--trials", "1",
            "--out-dir", "study", "--no-retrain", "--validation-size", "5000"]  # fmt: skip
    assert main([str(a) for a in args]) == 0
    first = json.loads(Path("study/trials.json").read_text())
    Path("elsewhere").mkdir()
    monkeypatch.chdir("elsewhere")
    assert main(["search", "--resume", "../study", "--trials", "2", "--no-retrain"]) == 0
    assert not Path("study").exists()  # no second journal here
    assert_budget_exactly(journal_study(tmp_path / "study"), 2)
    rows = json.loads((tmp_path / "study" / "trials.json").read_text())
    assert len(rows) == 2 and rows[0] == first[0]
    # a study.json of an older firstnet: the path as given at the start, no format
    saved = json.loads((tmp_path / "study" / "study.json").read_text())
    saved.pop("format")
    legacy = json.dumps(saved | {"storage": "study/journal.log"})
    (tmp_path / "study" / "study.json").write_text(legacy)
    assert main(["search", "--resume", "../study", "--trials", "3", "--no-retrain"]) == 0
    assert not Path("study").exists()
    assert_budget_exactly(journal_study(tmp_path / "study"), 3)
    (tmp_path / "study" / "study.json").write_text(legacy)
    monkeypatch.chdir(tmp_path)  # and from where it started
    assert main(["search", "--resume", "study", "--trials", "4", "--no-retrain"]) == 0
    assert_budget_exactly(journal_study(tmp_path / "study"), 4)
    assert json.loads(Path("study/study.json").read_text())["storage"] == "journal.log"


@pytest.mark.filterwarnings("error")
def test_tables_are_never_overwritten_by_a_storage_with_fewer_trials(
    tmp_path, one_trial_study, bounded, capsys
):
    out = a_copy(one_trial_study, tmp_path)
    (out / "journal.log").unlink()  # a journal of the same study name that lost its trials
    saved = json.loads((out / "study.json").read_text())
    settings = studies.StudySettings.from_dict(saved["settings"])
    studies.create_or_load(storages.open_storage(str(out / storages.JOURNAL)), settings)
    before = files_of(out)
    line = one_line(main(["search", "--resume", str(out), "--trials", "1", "--no-retrain"]), capsys)
    said = f"{out / 'trials.json'} lists 1 trials but the storage {out / storages.JOURNAL} holds 0"
    assert line == (
        f"firstnet: error: {said}: it is not this study's, or lost trials; nothing was written. "
        "Restore the storage, or start a new study in another folder"
    )
    assert files_of(out) == before


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "not a regular file (a FIFO)"),
        ("[]", "is not a study's: it must hold storage, settings, timeout"),
        ('{"storage": "journal.log"}', "is not a study's"),
    ],
)
@pytest.mark.filterwarnings("error")
def test_a_damaged_study_json_is_one_clear_line(
    tmp_path, one_trial_study, text, message, bounded, capsys
):
    out = a_copy(one_trial_study, tmp_path)
    (out / "study.json").unlink()
    if text is None:
        os.mkfifo(out / "study.json")
    else:
        (out / "study.json").write_text(text)
    line = one_line(main(["search", "--resume", str(out), "--no-retrain"]), capsys)
    assert message in line and str(out / "study.json") in line


# --- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A PostgreSQL database URL: FIRSTNET_TEST_POSTGRES, or a throw-away cluster of our own."""
    url = os.environ.get("FIRSTNET_TEST_POSTGRES")
    if url:
        yield url
        return
    yield from own_cluster(tmp_path_factory)


@pytest.fixture(scope="module")
def postgres_with_password(tmp_path_factory):
    """(URL without the password, the password) of a throw-away cluster that checks it."""
    password = "s3cr:t@" + uuid.uuid4().hex[:8]  # characters a URL must escape
    for url in own_cluster(tmp_path_factory, password):
        yield url, password


def own_cluster(tmp_path_factory, password: str | None = None):
    if not shutil.which("runuser") or not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        if os.environ.get("CI"):
            pytest.fail("CI must provide PostgreSQL (.ci/run sets FIRSTNET_TEST_POSTGRES)")
        pytest.skip("PostgreSQL is not installed")
    folder = tmp_path_factory.mktemp("postgres")
    folder.chmod(0o755)
    for parent in folder.parents:
        if parent == Path("/tmp") or not str(parent).startswith("/tmp"):
            break
        parent.chmod(parent.stat().st_mode | 0o755)
    script = ROOT / "scripts" / "postgres-cluster"
    env = os.environ | ({"POSTGRES_PASSWORD": password} if password else {})
    started = subprocess.run(
        [script, "start", folder / "pg"], capture_output=True, text=True, env=env
    )
    if started.returncode != 0:
        pytest.fail(f"cannot start PostgreSQL: {started.stderr}")
    yield started.stdout.strip()
    subprocess.run([script, "stop", folder / "pg"], capture_output=True)


def database_study(url: str, name: str):
    return lambda: optuna.load_study(study_name=name, storage=storages.open_storage(url))


def test_two_postgres_workers_finish_exactly_the_budget(tmp_path, postgres, bounded, capsys):
    name = f"t{uuid.uuid4().hex[:8]}"
    out = tmp_path / "study"
    space = write_space(tmp_path, TINY_SPACE)
    code = main(["search", "--space", str(space), "--trials", "6", "--workers", "2", "--out-dir",
                 str(out), "--no-retrain", "--storage", postgres, "--study", name])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    study = database_study(postgres, name)()
    assert_budget_exactly(study, 6)
    assert len({t.user_attrs["worker"] for t in finished(study)}) == 2
    assert name in dashboard_studies(storages.open_storage(postgres))
    # a third worker joining the finished study has nothing left to do
    joined = firstnet("search", "--worker", "--storage", postgres, "--study", name,
                      "--data-dir", "/nonexistent")  # fmt: skip
    assert joined.returncode == 0, joined.stderr  # it loads no data
    assert f"study {name}: its 6 trials are done; nothing left" in joined.stderr
    assert_budget_exactly(database_study(postgres, name)(), 6)


def test_a_postgres_worker_killed_mid_trial_is_failed_by_heartbeat_and_retried(tmp_path, postgres):
    name = f"k{uuid.uuid4().hex[:8]}"
    out = tmp_path / "study"
    storage_args = ["--storage", postgres, "--study", name, "--heartbeat", 1]
    kill_a_worker_mid_trial(out, database_study(postgres, name), storage_args)
    study = database_study(postgres, name)()
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") is not None]
    assert retried and all(t.state == TrialState.COMPLETE for t in retried)


def test_the_database_password_stays_out_of_study_json_and_the_workers_command_lines(
    tmp_path, postgres_with_password, monkeypatch, capsys
):
    """study.json keeps the URL without its password, workers get it by environment (a command
    line is public: ps); a resume takes it from FIRSTNET_STORAGE_PASSWORD or from --storage."""
    bare, password = postgres_with_password
    url = bare.replace("postgres@", f"postgres:{quote(password, safe='')}@")
    name, out = f"w{uuid.uuid4().hex[:8]}", tmp_path / "study"
    monkeypatch.delenv(storages.PASSWORD_ENV, raising=False)
    started, popen = [], subprocess.Popen

    def spy(args, **kwargs):
        started.append((args, kwargs.get("env") or {}))
        return popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    args = ["search", "--space", write_space(tmp_path, TINY_SPACE), "--trials", "2", "--workers",
            "2", "--out-dir", out, "--no-retrain", "--storage", url, "--study", name]  # fmt: skip
    assert main([str(a) for a in args]) == 0
    secrets = (password, quote(password, safe=""))

    def clear(text: str) -> bool:
        return not any(secret in text for secret in secrets)

    assert clear((out / "study.json").read_text())
    assert json.loads((out / "study.json").read_text())["storage"] == bare
    assert len(started) == 2 and all(clear(" ".join(argv)) for argv, _ in started)
    assert all(env[storages.PASSWORD_ENV] == password for _, env in started)
    assert_budget_exactly(database_study(url, name)(), 2)  # the workers connected with it
    capsys.readouterr()
    resume = ["search", "--resume", str(out), "--no-retrain", "--trials"]
    assert main([*resume, "3"]) == 2  # no password: one line that says where it goes
    said = capsys.readouterr().err
    assert "no password supplied" in said and storages.PASSWORD_ENV in said and clear(said)
    monkeypatch.setenv(storages.PASSWORD_ENV, password)
    assert main([*resume, "3"]) == 0
    monkeypatch.delenv(storages.PASSWORD_ENV)
    assert main([*resume, "4", "--storage", url]) == 0
    assert_budget_exactly(database_study(url, name)(), 4)
    assert clear((out / "study.json").read_text())
    assert main([*resume, "4", "--storage", bare.replace("/firstnet", "/other")]) == 2
    assert "but the study in" in capsys.readouterr().err


def test_trials_of_different_lengths_are_compared_at_the_same_fraction_of_training():
    assert [studies.progress_step(e, 2) for e in (1, 2)] == [5, 10]
    assert [studies.progress_step(e, 8) for e in (1, 4, 8)] == [1, 5, 10]
    assert studies.progress_step(1, 30) == 1  # never step 0
    assert [studies.progress_step(e, 1.5) for e in (1, 2)] == [7, 10]  # a half epoch ends it
    assert not spaces.contains({"low": 1, "high": 3}, 1.5)  # an int range takes whole epochs
    assert spaces.contains({"low": 1.0, "high": 3.0}, 1.5)
    assert spaces.contains({"low": 1, "high": 3}, 2)


def test_a_study_starts_from_the_default_recipe_of_each_family_it_can_express():
    mlp, cnn = spaces.default_trials(spaces.DEFAULT_SPACE)
    fixed = spaces.DEFAULT_SPACE["fixed"]
    for params, model in ((mlp, "mlp"), (cnn, "cnn")):
        values = spaces.draw(optuna.trial.FixedTrial(params), spaces.DEFAULT_SPACE)
        assert TrainConfig(**values) == TrainConfig(model=model, **fixed)
    only_mlp = spaces.fix(spaces.DEFAULT_SPACE, ["model=mlp"])
    assert spaces.default_trials(only_mlp) == [{k: v for k, v in mlp.items() if k != "model"}]
    assert spaces.default_trials(spaces.QUICK_SPACE) == []  # 5 MLP epochs lie outside 1..3
    storage = optuna.storages.InMemoryStorage()
    settings = studies.StudySettings(
        name="d", dataset="mnist", objectives=("error",), space=only_mlp, split={}, trials=1
    )
    study = studies.create_or_load(storage, settings)
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs == {"default": True}


def test_a_killed_worker_not_yet_reaped_counts_as_dead():
    process = subprocess.Popen(["sleep", "30"])
    assert studies.pid_alive(process.pid)
    process.send_signal(signal.SIGKILL)
    time.sleep(0.3)  # a zombie now: its parent has not waited for it
    assert not studies.pid_alive(process.pid)
    process.wait()
    assert not studies.pid_alive(process.pid)


def test_a_multi_objective_study_and_the_hyperband_pruner(tmp_path, capsys):
    out = tmp_path / "study"
    space = write_space(tmp_path, TINY_SPACE)
    args = ["search", "--space", space, "--trials", "3", "--out-dir", out, "--no-retrain",
            "--validation-size", "5000", "--objective", "error,parameters"]  # fmt: skip
    assert main([str(a) for a in args]) == 0
    assert "Pareto front: validation accuracy against parameters" in capsys.readouterr().out
    study = journal_study(out)
    assert len(study.directions) == 2 and len(finished(study)) == 3
    assert all(
        len(t.values) == 2 and t.values[1] == t.user_attrs["parameters"] for t in finished(study)
    )
    front = json.loads((out / "pareto.json").read_text())
    assert [r["parameters"] for r in front] == sorted(r["parameters"] for r in front)
    one = studies.StudySettings("h", "mnist", objectives=("error",), space={}, split={}, trials=1)
    assert isinstance(studies.pruner_for("none", one), optuna.pruners.NopPruner)
    assert isinstance(studies.pruner_for("hyperband", one), optuna.pruners.HyperbandPruner)
    # Optuna cannot prune several objectives: such a study gets no pruner, whatever was asked
    two = dataclasses.replace(one, objectives=("error", "seconds"))
    multi = studies.pruner_for("median", two)
    assert isinstance(multi, optuna.pruners.NopPruner)
