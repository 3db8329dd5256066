"""The command-line tool, end to end: help, train, eval, predict, Ctrl-C and resume, user errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from firstnet import cli, runs
from firstnet.cli import console, main, options
from firstnet.config import TrainConfig
from firstnet.device import resolve_precision
from firstnet.errors import ConfigError
from firstnet.preprocess import load_image, mnist_like
from tests.damaged_pictures import blank_png, garbled_png

SUBCOMMANDS = [
    "lab",
    "data",
    "train",
    "eval",
    "predict",
    "demo",
    "report",
    "scratch",
    "bench",
    "plot",
    "serve",
    "experiment",
    "search",
]


def firstnet(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "firstnet", *args], capture_output=True, text=True, **kwargs
    )


def help_entries(text: str) -> dict[str, str]:
    """The options section of an argparse help text: option flags -> their help, joined into one
    line."""
    entries, current = {}, None
    for line in text.splitlines():
        if re.match(r"^  -", line):  # "  -h, --help  show ..." or "  --epochs EPOCHS  passes ..."
            flags = re.findall(r"(?:^|, )(--?[\w-]+)", line.strip().split("  ")[0])
            current = flags[-1]
            entries[current] = line.strip()
        elif current and line.startswith("      "):  # a continuation of the current entry
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_shows_every_option_with_its_default(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    entries = help_entries(text)
    assert "--help" in entries
    usage = " ".join(text.split("\n\n")[0].split())
    for flag, entry in entries.items():
        first = re.findall(r"--?[\w-]+", entry.split("  ")[0])[0]  # what the usage line shows
        assert first in usage, f"{command}: {flag} is described but not in the usage line"
        if flag not in ("--help", "--version"):
            assert "default" in entry, f"{command} {flag} does not say its default: {entry}"
    assert "default:" in " ".join(text.split())


def test_help_entries_parser_reads_continuations():
    text = (
        "usage: x [-h] [--a A]\n\noptions:\n  -h, --help  show\n  --a A       first line\n"
        "              (default: 3)\n  --flag, --no-flag  on (default: True)\n"
    )
    assert help_entries(text) == {
        "--help": "-h, --help  show",
        "--a": "--a A       first line (default: 3)",
        "--no-flag": "--flag, --no-flag  on (default: True)",
    }


HEAVY = ("torch", "matplotlib", "fastapi", "uvicorn")


@pytest.mark.parametrize("command", ["", *SUBCOMMANDS, "plot boundary", "plot landscape"])
def test_help_loads_no_heavy_module(command):
    """`firstnet --help` and `firstnet CMD --help` answer without importing torch, matplotlib or
    fastapi."""
    script = (
        "import sys\n"
        "from firstnet.cli import main\n"
        "try:\n"
        f"    main({command.split()!r} + ['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "LOADED []" in result.stdout, result.stdout[-300:]


def test_importing_the_cli_loads_no_torch():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import firstnet.cli"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "firstnet.cli" in imported and "firstnet.cli.cmd_plot" in imported
    assert not {name for name in imported if name.split(".")[0] in HEAVY}


def test_top_level_help_lists_every_command_once_with_its_help():
    result = firstnet("--help", env=os.environ | {"COLUMNS": "200"})
    assert result.returncode == 0
    # the command list: "    NAME   help", the help on the next line when NAME is long
    listed = re.findall(r"^    (\S+)\s+(\S.*)$", result.stdout, flags=re.MULTILINE)
    assert [name for name, _ in listed] == [
        "data", "train", "eval", "predict", "runs", "scratch", "check", "bench", "demo", "report",
        "plot", "serve", "lab", "experiment", "search", "export",
    ]  # fmt: skip
    assert set(SUBCOMMANDS) < {name for name, _ in listed}
    assert all(len(text.split()) >= 3 for _, text in listed)  # a phrase, not a placeholder


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, mnist):
    """A small MLP trained through the CLI on the full data (about two seconds)."""
    runs_dir = tmp_path_factory.mktemp("runs")
    assert (
        main(
            [
                "train",
                "--model",
                "mlp",
                "--hidden",
                "64",
                "--epochs",
                "2",
                "--runs-dir",
                str(runs_dir),
                "--name",
                "small",
            ]
        )
        == 0
    )
    return runs_dir / "small"


def test_train_writes_a_complete_run_directory(trained_run):
    for name in ("config.json", "metrics.jsonl", "model.safetensors", "curves.png"):
        assert (trained_run / name).is_file(), name
    metrics = runs.read_metrics(trained_run)
    assert len(metrics) == 2 and metrics[-1]["test_acc"] > 0.95


def test_eval_json(trained_run, capsys):
    assert main(["eval", str(trained_run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == pytest.approx(
        runs.read_metrics(trained_run)[-1]["test_acc"], abs=1e-6
    )
    assert len(result["per_class_accuracy"]) == 10 and min(result["per_class_accuracy"]) > 0.85
    assert np.array(result["confusion_matrix"]).sum() == 10_000
    assert result["errors"] == round((1 - result["accuracy"]) * 10_000)
    for figure in result["figures"]:
        assert os.path.getsize(figure) > 1000


def test_predict_user_images(trained_run, mnist, tmp_path, capsys):
    """Test digits saved as dark-on-white PNGs at 4x size go through MNIST-style preprocessing."""
    paths = []
    for index in range(20):
        image = Image.fromarray(255 - mnist.test_images[index]).resize(
            (112, 112), Image.Resampling.BILINEAR
        )
        image.save(tmp_path / f"digit{index}.png")
        paths.append(str(tmp_path / f"digit{index}.png"))
    assert main(["predict", str(trained_run), *paths, "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 20
    for result in results:
        assert sum(result["probabilities"]) == pytest.approx(1, abs=1e-4)
        assert result["prediction"] == int(np.argmax(result["probabilities"]))
    correct = sum(r["prediction"] == int(mnist.test_labels[i]) for i, r in enumerate(results))
    assert correct >= 18


def test_predict_bad_image_is_a_clear_error(trained_run, tmp_path, capsys):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    assert main(["predict", str(trained_run), str(tmp_path / "broken.png")]) == 1
    said = capsys.readouterr().err
    assert "broken.png: cannot read image" in said and "Traceback" not in said


def test_user_errors_have_no_traceback(tmp_path, capsys):
    assert main(["train", "--lr", "-1", "--runs-dir", str(tmp_path)]) == 2
    said = capsys.readouterr().err
    assert "--lr must be positive" in said and "Traceback" not in said
    assert main(["eval", str(tmp_path / "nothing")]) == 1
    assert "not a firstnet run directory" in capsys.readouterr().err


def test_an_error_names_a_python_option_in_python_and_its_flag_on_the_command_line(capsys):
    with pytest.raises(ConfigError) as raised:
        TrainConfig(label_smoothing=1.5)
    assert str(raised.value) == "warmup and label_smoothing must lie in [0, 1)"
    assert main(["train", "--label-smoothing", "1.5"]) == 2
    said = "firstnet: error: --warmup and --label-smoothing must lie in [0, 1)\n"
    assert capsys.readouterr().err == said
    wrong = ConfigError("lr must be positive; lr_scale, tlr and /a/lr/b stay", ("lr",))
    assert options.in_flags(wrong) == "--lr must be positive; lr_scale, tlr and /a/lr/b stay"


def test_diverging_run_stops_with_advice(tmp_path, capsys):
    args = ["--lr", "1e6", "--schedule", "constant", "--train-limit", "2000", "--test-limit", "100"]
    assert main(["train", *args, "--runs-dir", str(tmp_path), "--name", "boom"]) == 1
    said = capsys.readouterr().err
    assert "training diverged" in said and "smaller --lr" in said and "Traceback" not in said


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(tmp_path, mnist, capsys):
    args = ["train", "--epochs", "4", "--train-limit", "20000", "--runs-dir", str(tmp_path)]
    process = subprocess.Popen(
        [sys.executable, "-m", "firstnet", *args, "--name", "cut"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    run_dir = tmp_path / "cut"
    # Ctrl-C once the first epoch is written, on any machine; the resume then finishes the run as
    # it was configured (a resume equals the unstopped run: tests/test_api.py).
    deadline = time.time() + 120
    while not runs.read_metrics(run_dir) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "firstnet train --resume" in stderr and "Traceback" not in stderr
    assert (run_dir / runs.CHECKPOINT).is_file() and not (run_dir / runs.MODEL).exists()
    stopped_at = len(runs.read_metrics(run_dir))
    assert 1 <= stopped_at < 4

    assert main(["train", "--resume", str(run_dir)]) == 0, capsys.readouterr().err
    assert (run_dir / runs.MODEL).is_file() and not (run_dir / runs.CHECKPOINT).exists()
    assert [record["epoch"] for record in runs.read_metrics(run_dir)] == [1, 2, 3, 4]
    assert main(["train", "--resume", str(run_dir)]) == 1
    assert "already finished" in capsys.readouterr().err


def test_bench_reports_statistics_over_seeds(mnist, capsys):
    assert (
        main(
            [
                "bench",
                "mlp",
                "--seeds",
                "3",
                "--hidden",
                "16",
                "--epochs",
                "1",
                "--train-limit",
                "2000",
                "--test-limit",
                "500",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert (
        result["runs"] == 3
        and len(result["accuracies"]) == 3
        and len(set(result["accuracies"])) > 1
    )
    assert result["test_acc_mean"] == pytest.approx(np.mean(result["accuracies"]))
    assert result["test_acc_std"] == pytest.approx(np.std(result["accuracies"], ddof=1))
    assert result["seconds_median"] == pytest.approx(np.median(result["seconds"]))
    assert {"cpu", "torch", "cpu_count"} <= result["environment"].keys() and result[
        "model"
    ] == "mlp"


def test_bench_times_each_accuracy_and_runs_the_reference_beside(mnist, capsys):
    small = ["--hidden", "16", "--epochs", "2", "--train-limit", "2000", "--test-limit", "500"]
    reference = ["--reference", "--reference-cap", "1"]  # stopped once an epoch is past 1 s
    assert main(["bench", "mlp", "--seeds", "2", *small, *reference, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    history = result["reference"]["history"]  # pytorch/examples' epochs within the cap
    assert 1 <= len(history) <= 14 and all(0.5 < r["test_acc"] <= 1 for r in history)
    assert set(result["time_to"]) == {"0.98", "0.99", "0.995"}
    assert result["time_to"]["0.995"] == {"median_s": None, "reached": 0, "runs": 2}  # 2000 images
    theirs = result["reference"]["time_to"]["0.98"]
    first = next((r["elapsed_s"] for r in history if r["test_acc"] >= 0.98), None)
    assert theirs == {"median_s": first, "reached": int(first is not None), "runs": 1}
    assert main(["bench", "mlp", "--seeds", "1", *small]) == 0
    text = capsys.readouterr().out
    assert re.search(r"time to accuracy \(median over seeds\): 98% (never|[\d.]+ s)", text)


def test_bench_rejects_zero_seeds():
    assert main(["bench", "mlp", "--seeds", "0"]) == 2


def test_plot_curves_confusion_and_digits(trained_run, tmp_path, capsys):
    assert main(["plot", "curves", str(trained_run), "--out", str(tmp_path / "c.png")]) == 0
    assert main(["plot", "confusion", str(trained_run), "--out-dir", str(tmp_path)]) == 0
    assert main(["plot", "digits", "--out", str(tmp_path / "d.png"), "--per-class", "3"]) == 0
    for name, minimum_size in (
        ("c.png", (800, 300)),
        ("confusion.png", (500, 400)),
        ("errors.png", (600, 300)),
        ("d.png", (600, 250)),
    ):
        with Image.open(tmp_path / name) as image:
            assert image.width >= minimum_size[0] and image.height >= minimum_size[1], name
    with Image.open(tmp_path / "d.png") as image:  # 3 rows of 10 digits: wider than tall
        assert image.width > 2 * image.height


def test_plot_curves_without_metrics_is_a_clear_error(tmp_path, capsys):
    runs.write_config(tmp_path, TrainConfig(), torch.device("cpu"), "test")  # a run, no epoch yet
    assert main(["plot", "curves", str(tmp_path)]) == 1
    said = capsys.readouterr().err
    assert "no finished epoch" in said and "Traceback" not in said


@pytest.mark.parametrize(
    ("option", "words"),
    [("--train-limit=0", "--train-limit must be at least 1"),
     ("--train-limit=-5", "--train-limit must be at least 1"),
     ("--test-limit=0", "--test-limit must be at least 1"),
     ("--device=cuda", "--device cuda:"),
     ("--precision=fp16", "--precision fp16 needs a CUDA device")],
)  # fmt: skip
def test_bad_options_are_refused_before_a_run_folder_exists(option, words, tmp_path, capsys):
    if option == "--device=cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["train", option, "--runs-dir", str(tmp_path)]) == 2
    assert words in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_diverged_run_keeps_its_metrics_and_says_so(tmp_path, capsys, small_mnist, monkeypatch):
    from firstnet.cli import cmd_train

    monkeypatch.setattr(cmd_train, "load_data", lambda data_dir, dataset="mnist": small_mnist)
    arguments = [
        "train",
        "--lr",
        "1e6",
        "--epochs",
        "2",
        "--runs-dir",
        str(tmp_path),
        "--name",
        "d",
    ]
    assert main(arguments) == 1
    assert "training diverged" in capsys.readouterr().err
    assert (tmp_path / "d" / runs.DIVERGED).is_file() and not (
        tmp_path / "d" / runs.CHECKPOINT
    ).exists()
    assert main(["eval", str(tmp_path / "d")]) == 1
    assert "diverged and has no model: training diverged" in capsys.readouterr().err


def test_resuming_a_finished_run_is_refused_before_the_data_load(
    mnist, tmp_path, monkeypatch, capsys
):
    from firstnet import api
    from firstnet.cli import cmd_train

    done = api.train("linear", data=mnist, path=tmp_path / "done", epochs=1, progress=False)

    def no_loading(*args, **kwargs):
        raise AssertionError("the data set was loaded for a run that cannot resume")

    monkeypatch.setattr(cmd_train, "load_data", no_loading)
    assert main(["train", "--resume", str(done.path)]) == 1
    assert "already finished (1 epochs); nothing to resume" in capsys.readouterr().err


def test_ctrl_c_while_the_cli_loads_is_one_line():
    code = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'rich':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from firstnet.__main__ import run\n"
        "sys.exit(run())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 130 and result.stderr.strip() == "firstnet: interrupted"


def test_predict_answers_every_readable_image_and_names_the_others(
    trained_run, mnist, tmp_path, capsys
):
    good = tmp_path / "seven.png"
    Image.fromarray(255 - mnist.test_images[0]).save(good)
    empty = tmp_path / "empty.png"
    Image.fromarray(np.full((28, 28), 255, dtype=np.uint8)).save(empty)
    capsys.readouterr()  # what a fixture's training printed
    assert main(["predict", str(trained_run), str(empty), str(good), "--json"]) == 1
    printed, said = capsys.readouterr()
    answers = json.loads(printed)
    assert "empty.png: the image is empty" in answers[0]["error"]
    assert answers[1]["prediction"] == int(mnist.test_labels[0])
    assert "firstnet: error:" in said and "empty.png" in said and "Traceback" not in said


def test_predict_goes_past_damaged_files_and_prints_file_names_as_they_are(
    trained_run, mnist, tmp_path
):
    """A garbled PNG, a FIFO and a 13000x13000 PNG each get one line; the pictures after them are
    answered; names holding rich markup ("[draft]", "[/]") are printed as they are."""
    seven = tmp_path / "[draft] seven.png"
    Image.fromarray(255 - mnist.test_images[0]).save(seven)
    closing = tmp_path / "x[/]7.png"  # a folder "x[" and a file "]7.png": "[/]" closes a style
    closing.parent.mkdir()
    closing.write_bytes(seven.read_bytes())
    garbled = tmp_path / "garbled.png"
    garbled.write_bytes(garbled_png())
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.png"
    huge.write_bytes(blank_png(13000, 13000))
    names = [garbled, fifo, huge, seven, closing]
    result = firstnet("predict", str(trained_run), *map(str, names), timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("firstnet: error")]
    assert [line.split(": ")[2] for line in errors] == [str(garbled), str(fifo), str(huge)]
    assert "not a regular file" in errors[1] and "13000x13000" in errors[2]
    label = str(int(mnist.test_labels[0]))
    assert [line.split("  (")[0] for line in result.stdout.splitlines()] == [
        f"{seven}: {label}",
        f"{closing}: {label}",
    ], result.stdout


def test_latest_means_the_newest_run_with_weights_and_says_which(
    trained_run, mnist, tmp_path, monkeypatch, capsys
):
    """A newer run that diverged (config.json, no weights) no longer makes `latest-mlp` fail."""
    shutil.copytree(trained_run, tmp_path / "runs" / "mlp-good")
    time.sleep(0.01)  # run_dirs orders by config.json's time
    diverged = tmp_path / "runs" / "mlp-diverged"
    diverged.mkdir()
    config = json.loads((trained_run / runs.CONFIG).read_text())
    (diverged / runs.CONFIG).write_text(json.dumps(config))
    (diverged / runs.DIVERGED).write_text('{"error": "training diverged"}')
    picture = tmp_path / "seven.png"
    Image.fromarray(255 - mnist.test_images[0]).save(picture)
    monkeypatch.chdir(tmp_path)  # "latest" looks in ./runs
    for command in (["eval", "latest-mlp", "--json"], ["predict", "latest", str(picture)],
                    ["export", "latest-mlp", "--format", "safetensors"]):  # fmt: skip
        capsys.readouterr()
        assert main(command) == 0, command
        said = capsys.readouterr().err
        assert f"{command[1]}: {Path('runs') / 'mlp-good'}" in said, said
    shutil.rmtree(tmp_path / "runs" / "mlp-good")
    assert main(["export", "latest-mlp"]) == 1
    said = capsys.readouterr().err
    assert "no finished mlp run in runs yet" in said and "firstnet train --model mlp" in said


def test_the_next_steps_say_how_to_reach_firstnet_from_a_venv_not_activated(tmp_path, monkeypatch):
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "firstnet").write_text("")
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setattr(console.shutil, "which", lambda name: None)
    text = console.next_steps(Path("runs/report/report.html"), Path("runs"))
    assert "open runs/report/report.html" in text and "firstnet serve" in text
    assert f"source {bin_dir / 'activate'}" in text
    monkeypatch.setattr(console.shutil, "which", lambda name: str(bin_dir / name))
    assert "activate" not in console.next_steps(None, Path("runs"))


def test_a_config_file_that_is_not_a_regular_file_is_one_line_at_once(tmp_path, capsys):
    os.mkfifo(tmp_path / "best.json")  # reading it would wait for a writer for ever
    assert main(["train", "--config", str(tmp_path / "best.json")]) == 2
    said = capsys.readouterr().err
    assert said.startswith("firstnet: error: --config: ") and "not a regular file (a FIFO)" in said


def test_a_typo_in_a_config_file_gets_a_did_you_mean(tmp_path, capsys):
    config = tmp_path / "best.json"
    config.write_text('{"model": "mlp", "hiden": 64, "learning_rate": 0.1}')
    assert main(["train", "--config", str(config)]) == 2
    message = capsys.readouterr().err.strip()
    assert message == (
        "firstnet: error: unknown config fields: hiden (did you mean hidden?), learning_rate"
    )


def test_training_threads_follow_the_flag_then_the_environment_then_the_idle_cores(monkeypatch):
    from firstnet import device

    measured = device.idle_cores  # the real one, for the end
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(device, "idle_cores", lambda: 1)  # one core busy with other work
    assert device.training_threads(None) == 1 and device.training_threads(3) == 3
    monkeypatch.setattr(device, "idle_cores", lambda: 0)  # every core busy: still one thread
    assert device.training_threads(None) == 1
    monkeypatch.setattr(device, "idle_cores", lambda: None)  # no /proc/stat: torch's own
    assert device.training_threads(None) == torch.get_num_threads()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert measured() <= (os.cpu_count() or 1) - 1  # the busy loop holds one core
    finally:
        busy.kill()
        busy.wait()


def test_threads_flag_and_environment_are_checked_and_set(monkeypatch, capsys):
    threads = torch.get_num_threads()
    try:
        assert main(["train", "--model", "linear", "--threads", "0"]) == 2
        assert "--threads must be at least 1, got 0" in capsys.readouterr().err
        monkeypatch.setenv("FIRSTNET_THREADS", "two")
        assert main(["train", "--model", "linear", "--epochs", "0"]) == 2
        assert "FIRSTNET_THREADS must be a whole number" in capsys.readouterr().err
        monkeypatch.setenv("FIRSTNET_THREADS", "1")
        cli.use_threads(3)
        assert torch.get_num_threads() == 3  # the flag wins over the environment
        cli.use_threads(None)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_plot_curves_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["plot", "curves", str(tmp_path)]) == 1
    assert "is not a firstnet run directory" in capsys.readouterr().err


def test_serve_refuses_ports_out_of_range():
    for port in ("99999", "-1"):
        result = firstnet("serve", "--port", port, "--runs-dir", "/nonexistent")
        assert result.returncode == 2 and "--port must lie in 0..65535" in result.stderr, port


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--request-timeout", "nan", "--request-timeout must be over 0 and at most 86400 seconds"),
        ("--request-timeout", "-1", "--request-timeout must be over 0"),
        ("--request-timeout", "0", "--request-timeout must be over 0"),
        ("--connection-lifetime", "inf", "--connection-lifetime must be over 0"),
        ("--max-connections", "0", "--max-connections must be at least 1, got 0"),
    ],
    ids=["timeout nan", "timeout -1", "timeout 0", "lifetime inf", "0 connections"],
)
def test_serve_refuses_limits_out_of_range_in_one_line(flag, value, words):
    """Told before the models load, in one line, exit 2 (before: NaN was a traceback, the others
    were taken)."""
    result = firstnet("serve", flag, value, "--runs-dir", "/nonexistent")
    assert result.returncode == 2 and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_config_records_the_precision_that_ran(trained_run):
    config = json.loads((trained_run / runs.CONFIG).read_text())
    assert config["config"]["precision"] == "auto"  # the MLP's recipe: bf16 where it is native
    assert config["precision_used"] == resolve_precision("auto", torch.device("cpu"))


def test_minimal_example_looks_in_the_xdg_cache_and_says_what_is_missing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FIRSTNET_DATA_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    script = Path(__file__).resolve().parents[1] / "examples" / "minimal.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"no train-images* in {tmp_path / 'firstnet'}" in result.stderr


def test_piped_output_is_not_wrapped(trained_run, tmp_path):
    out_dir = tmp_path / ("a-folder-with-a-long-name-" * 4)  # the printed paths pass 80 columns
    result = firstnet("eval", str(trained_run), "--out-dir", str(out_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(
        f"Figures: {out_dir / 'confusion.png'}, {out_dir / 'errors.png'}" == line for line in lines
    )
    assert re.search(
        r"^mlp on the MNIST test set: \d+\.\d\d% \(\d+ errors in 10,000\)$", result.stdout, re.M
    )


def test_experiment_summaries_name_their_figures(tmp_path):
    from firstnet.cli.cmd_experiment import figure_paths

    text = "# Title\n\n![depth-width](depth-width.png)\n"
    assert figure_paths(text, tmp_path) == f"# Title\n\nFigure: `{tmp_path / 'depth-width.png'}`\n"


def test_curves_of_one_epoch_have_whole_epochs_and_name_the_best(tmp_path, monkeypatch):
    from firstnet.figures import curves

    kept = []
    monkeypatch.setattr(curves, "save", lambda fig, path: kept.append(fig) or path)
    record = {"epoch": 1, "train_loss": 0.3, "test_loss": 0.2, "train_acc": 0.9, "test_acc": 0.95}
    curves.plot_curves([record], tmp_path / "c.png")
    loss_ax, acc_ax = kept[0].axes
    low, high = acc_ax.get_xlim()
    assert (low, high) == (0.5, 1.5) and [t for t in acc_ax.get_xticks() if low <= t <= high] == [1]
    assert acc_ax.get_title() == "Accuracy (best test 95.00% after epoch 1)"
    assert len(acc_ax.texts) == 0  # no note drawn over the curves


def test_the_loss_axis_reads_in_plain_numbers(tmp_path, monkeypatch):
    """Loss falling over several factors: a log axis labelled 0.1, 0.2, 0.5, 1, 2, not
    2.8x10^-1; falling by less: a linear axis."""
    from firstnet.figures import curves

    kept = []
    monkeypatch.setattr(curves, "save", lambda fig, path: kept.append(fig) or path)
    steep = [{"epoch": e, "train_loss": 2.3 / e**2, "test_loss": 2 / e**1.5, "train_acc": 0.9,
              "test_acc": 0.9} for e in range(1, 7)]  # fmt: skip
    curves.plot_curves(steep, tmp_path / "steep.png")
    flat = [record | {"train_loss": 0.3 / e**0.3, "test_loss": 0.28 / e**0.3}
            for e, record in enumerate(steep, 1)]  # fmt: skip
    curves.plot_curves(flat, tmp_path / "flat.png")
    for fig, scale in zip(kept, ("log", "linear"), strict=True):
        loss_ax = fig.axes[0]
        fig.canvas.draw()
        labels = [label.get_text() for label in loss_ax.get_yticklabels() if label.get_text()]
        assert loss_ax.get_yscale() == scale and labels, labels
        assert all(float(label) > 0 and "10^" not in label for label in labels), labels
    assert {"0.1", "0.2", "0.5", "1", "2"} <= set(
        label.get_text() for label in kept[0].axes[0].get_yticklabels()
    )


def test_predict_shows_and_saves_what_the_model_was_given(trained_run, mnist, tmp_path, capsys):
    picture = tmp_path / "seven.png"
    Image.fromarray(255 - mnist.test_images[0]).resize((140, 140)).save(picture)
    saved = tmp_path / "inputs"
    assert (
        main(["predict", str(trained_run), str(picture), "--show", "--save-input", str(saved)]) == 0
    )
    printed = capsys.readouterr().out.splitlines()
    art = printed[1:29]  # 28 rows of two characters a pixel, under the answer line
    assert len(art) == 28 and all(len(row) == 56 for row in art) and any("@" in row for row in art)
    with Image.open(saved / "seven.png") as image:
        seen = np.asarray(image, dtype=np.float32) / 255
    assert seen.shape == (28, 28)
    expected = mnist_like(load_image(picture))
    assert np.abs(seen - expected).max() <= 1 / 255


def test_documented_boundary_variants_do_not_overwrite_the_default_figure():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "figures.md").read_text()
    commands = " ".join(docs.split("\\\n")).splitlines()  # continued lines joined
    variant = next(line for line in commands if "plot boundary" in line and "--classes 3" in line)
    assert "--out-dir" in variant  # the default run writes runs/figures/boundary-spirals.*


def test_make_takes_torch_from_the_index_it_is_given():
    root = Path(__file__).resolve().parents[1]
    plan = subprocess.run(["make", "-n", "-B", "install", "TORCH_INDEX=https://example.org/cpu"],
                          cwd=root, capture_output=True, text=True)  # fmt: skip
    assert "--index-url https://example.org/cpu torch==2.13.0" in plan.stdout
    plain = subprocess.run(
        ["make", "-n", "-B", "install"], cwd=root, capture_output=True, text=True
    )
    assert "--index-url" not in plain.stdout and "torch==2.13.0" in plain.stdout


@pytest.mark.parametrize(
    ("arguments", "nearest"),
    [(["trian"], "train"), (["train", "--model", "mpl"], "mlp"), (["plot", "boundry"], "boundary"),
     (["train", "--activation", "rleu"], "relu")],
)  # fmt: skip
def test_a_typo_gets_the_nearest_valid_choice(arguments, nearest, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert f"did you mean '{nearest}'?" in capsys.readouterr().err


def test_a_typo_in_a_config_file_gets_the_nearest_choice_too():
    with pytest.raises(ConfigError, match="did you mean 'onecycle'"):
        TrainConfig(schedule="onecylce")


def test_training_shows_each_epochs_test_accuracy_and_says_last_or_best(capsys, tmp_path):
    from firstnet.cli.cmd_train import final_line
    from firstnet.cli.console import report_epoch

    history = [
        {"epoch": e, "test_acc": a, "train_acc": 0.99, "test_loss": 0.1, "elapsed_s": 1.0 * e}
        for e, a in ((1, 0.97), (2, 0.985), (3, 0.98))
    ]
    report_epoch(history[1])
    assert "epoch 2: test accuracy 98.50%, test loss 0.1000" in capsys.readouterr().err
    text = final_line("mlp", history)
    assert "test accuracy 98.00% after the last epoch (best 98.50% after epoch 2)" in text
    assert "best" not in final_line("mlp", history[:2])
    assert "; 1.5 epochs, 2.0 s" in final_line("cnn", history[:2], 1.5)  # the config's count


def test_predict_explains_why_confidence_stops_near_91_percent(
    default_mlp_run, mnist, tmp_path, capsys
):
    picture = tmp_path / "digit.png"
    Image.fromarray(255 - mnist.test_images[0]).save(picture)
    assert main(["predict", str(default_mlp_run), str(picture)]) == 0
    said = capsys.readouterr().err
    assert "label smoothing 0.1" in said and "about 91%" in said and "--label-smoothing 0" in said


@pytest.mark.parametrize(
    ("arguments", "words"),
    [(["--model", "linear", "--hidden", "64"], "--hidden does not apply to the linear model"),
     (["--model", "cnn", "--depth", "3"], "--depth does not apply to the cnn model"),
     (["--model", "mlp", "--channels", "8"], "--channels does not apply to the mlp model")],
)  # fmt: skip
def test_options_of_another_model_are_refused_not_ignored(arguments, words, tmp_path, capsys):
    assert main(["train", *arguments, "--runs-dir", str(tmp_path)]) == 2
    assert words in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_train_and_data_print_json_when_asked(tmp_path, capsys, small_mnist, monkeypatch):
    from firstnet.cli import cmd_data, cmd_train

    monkeypatch.setattr(cmd_train, "load_data", lambda data_dir, dataset="mnist": small_mnist)
    monkeypatch.setattr(cmd_data, "load_data", lambda data_dir, dataset="mnist": small_mnist)
    capsys.readouterr()
    arguments = ["train", "--model", "linear", "--epochs", "2", "--json"]
    assert main([*arguments, "--runs-dir", str(tmp_path)]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["model"] == "linear" and [r["epoch"] for r in trained["history"]] == [1, 2]
    assert Path(trained["run"]).parent == tmp_path
    assert main(["data", "--json", "--out", str(tmp_path / "samples.png")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dimension"] == 784 and summary["train_size"] == 2000
    assert Path(summary["samples"]).is_file()


def test_the_overall_estimate_of_several_experiments():
    from firstnet.cli.cmd_experiment import Overall

    overall = Overall(total=10)
    assert overall.count({"cell_seconds": 6.0}, cached=False) == "[1/10 cells; about 0.9 min left]"
    assert overall.count({}, cached=True) == "[2/10 cells; about 0.8 min left]"  # 8 left x 6 s


def test_scratch_prints_json_when_asked(tmp_path, capsys, small_mnist, monkeypatch):
    from firstnet.cli import cmd_scratch

    monkeypatch.setattr(cmd_scratch, "load_data", lambda data_dir, dataset="mnist": small_mnist)
    capsys.readouterr()
    arguments = ["scratch", "--hidden", "16", "--epochs", "1", "--json"]
    assert main([*arguments, "--runs-dir", str(tmp_path)]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["model"] == "mlp (NumPy)" and len(trained["history"]) == 1
