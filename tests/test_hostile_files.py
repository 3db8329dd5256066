"""Files and processes that must not break a run: gzip bombs, a full disk, damaged caches and
checkpoints, two processes on one run directory, temporary files of killed writers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest
import torch

from firstnet import atomic, runs
from firstnet.cli import main
from firstnet.data.datasets import DATASETS, FILE_NAMES
from firstnet.data.sources import download_file, load_dataset
from firstnet.errors import CheckpointError, DataNotFoundError
from firstnet.tensorfile import load_tensors, save_tensors
from firstnet.trainer import Trainer
from firstnet.training import restore
from tests.conftest import small_config
from tests.damaged_pictures import blank_png

SHARED_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
needs_mirror = pytest.mark.skipif(
    not (SHARED_MIRROR / "train-images-idx3-ubyte.gz").is_file(),
    reason="needs ../shared/data/mnist",
)


def run_python(code: str, args=(), timeout=300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout, **kwargs)  # fmt: skip


def firstnet(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "firstnet", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)  # fmt: skip


def test_a_gzip_bomb_from_a_mirror_is_a_clear_error_in_little_memory(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    packer, zeros = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS), bytes(1 << 20)
    with (mirror / "train-images-idx3-ubyte.gz").open("wb") as bomb:
        for _ in range(400):  # 400 MB of zeros in about 400 kB
            bomb.write(packer.compress(zeros))
        bomb.write(packer.flush())
    assert (mirror / "train-images-idx3-ubyte.gz").stat().st_size < 1_000_000
    result = run_python(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # 3 GB of address space
        from firstnet.data.sources import load_dataset
        from firstnet.errors import DataNotFoundError
        try:
            load_dataset(cache={str(tmp_path / "cache")!r}, mirrors=("file://{mirror}",))
        except DataNotFoundError as err:
            print("ERROR", err)
        # VmHWM: this program's peak (ru_maxrss would count the pytest process it forked from)
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                print("PEAK_MB", int(line.split()[1]) / 1024)
    """)
    assert result.returncode == 0, result.stderr
    assert "decompresses to over 50,000,000 bytes" in result.stdout
    peak = float(result.stdout.split("PEAK_MB")[1])
    assert peak < 200, f"peak RSS {peak:.0f} MB"
    assert list((tmp_path / "cache").iterdir()) == []  # nothing half-written in the cache


@pytest.mark.parametrize(("width", "height"), [(13000, 13000), (20000, 10000)])
def test_a_picture_of_too_many_pixels_is_refused_before_it_is_decoded(tmp_path, width, height):
    """A 190 kB PNG of 13000x13000 black pixels took `predict` to 2.6 GB; now its header is read
    and it is refused in a few MB (the second is over Pillow's own bomb bound: the same line)."""
    picture = tmp_path / "huge.png"
    picture.write_bytes(blank_png(width, height))
    result = run_python(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # 2 GB of address space
        from firstnet.errors import ImageError
        from firstnet.preprocess import load_image
        try:
            load_image({str(picture)!r})
        except ImageError as err:
            print("ERROR", err)
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                print("PEAK_MB", int(line.split()[1]) / 1024)
    """)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "megapixels: scale it down" in result.stdout and str(picture) in result.stdout
    peak = float(result.stdout.split("PEAK_MB")[1])
    assert peak < 150, f"peak RSS {peak:.0f} MB"


@needs_mirror
def test_a_cache_file_damaged_later_is_set_aside_and_fetched_again(tmp_path):
    cache, mirrors = tmp_path / "cache", (f"file://{SHARED_MIRROR}",)
    first = load_dataset(cache=cache, mirrors=mirrors)
    labels = cache / FILE_NAMES["test_labels"]
    damaged = bytearray(labels.read_bytes())
    damaged[100] ^= 0xFF
    labels.write_bytes(bytes(damaged))
    again = load_dataset(cache=cache, mirrors=mirrors)
    assert (again.test_labels == first.test_labels).all()
    assert (cache / (labels.name + ".corrupt")).read_bytes() == bytes(damaged)


@needs_mirror
def test_a_full_disk_while_caching_is_a_storage_error_not_a_missing_data_set(tmp_path):
    result = run_python(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, not kills
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
        from firstnet.data.sources import load_dataset
        from firstnet.errors import StorageError
        try:
            load_dataset(cache={str(tmp_path / "cache")!r}, mirrors=("file://{SHARED_MIRROR}",))
        except StorageError as err:
            print("STORAGE", err)
    """)
    assert "STORAGE cannot write" in result.stdout and "File too large" in result.stdout
    assert not [p for p in (tmp_path / "cache").iterdir() if p.stat().st_size >= 1_000_000]


def test_a_full_disk_while_training_ends_in_one_line_and_no_half_written_file(tmp_path):
    code = f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))  # config fits, weights do not
        from firstnet.cli import main
        sys.exit(main(["train", "--model", "mlp", "--hidden", "64", "--epochs", "1",
                       "--train-limit", "1000", "--test-limit", "500",
                       "--runs-dir", {str(tmp_path)!r}, "--name", "full"]))
    """
    result = run_python(code)
    assert result.returncode == 1, result.stderr
    assert "firstnet: error: cannot write" in result.stderr and "File too large" in result.stderr
    assert "Traceback" not in result.stderr
    left = sorted(path.name for path in (tmp_path / "full").iterdir())
    assert runs.MODEL not in left and runs.CHECKPOINT not in left
    assert not [name for name in left if ".tmp" in name]


def test_two_trainings_started_together_get_two_directories(tmp_path, mnist):
    arguments = ["train", "--model", "linear", "--epochs", "1", "--train-limit", "500",
                 "--test-limit", "200", "--runs-dir", str(tmp_path)]  # fmt: skip
    processes = [firstnet(*arguments) for _ in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    directories = sorted(path for path in tmp_path.iterdir())
    assert len(directories) == 2
    assert all((path / runs.MODEL).is_file() for path in directories)


def test_a_run_in_use_cannot_be_resumed_by_a_second_process(tmp_path, mnist):
    busy = firstnet("train", "--model", "mlp", "--epochs", "100", "--runs-dir", str(tmp_path),
                    "--name", "busy")  # fmt: skip
    try:
        deadline = time.time() + 120
        while not (tmp_path / "busy" / runs.CONFIG).is_file() and time.time() < deadline:
            time.sleep(0.2)
        assert main(["train", "--resume", str(tmp_path / "busy")]) == 1
    finally:
        busy.kill()
        busy.communicate(timeout=60)
    # the lock went with the killed process: the run is claimable again
    with runs.claim(tmp_path / "busy", fresh=False):
        pass


def test_the_claim_refuses_a_second_holder_and_removes_stale_temporary_files(tmp_path):
    stale = tmp_path / ".model.x1y2.tmp.safetensors"
    stale.write_bytes(b"half")
    with runs.claim(tmp_path, fresh=True):
        assert not stale.exists()
        code = f"""
            from firstnet import runs
            from firstnet.errors import CheckpointError
            try:
                with runs.claim({str(tmp_path)!r}, fresh=False):
                    print("CLAIMED")
            except CheckpointError as err:
                print("REFUSED", err)
        """
        assert "REFUSED" in run_python(code).stdout and "in use" in run_python(code).stdout
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="already exists"), runs.claim(tmp_path, fresh=True):
        pass


def test_writes_reach_the_disk_before_they_are_renamed(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}"))
                        or real_fsync(fd))  # fmt: skip
    atomic.atomic_write(tmp_path / "metrics.jsonl", "x\n")
    assert len(synced) == 2 and ".tmp" in synced[0] and synced[1] == str(tmp_path)
    # several files: each flushed before its rename, the folder after each rename, and once more
    # only when a file was removed
    synced.clear()
    atomic.write_files(tmp_path, {"a.json": "{}", "b.json": "{}"})
    assert [".tmp" in path for path in synced] == [True, False, True, False]
    synced.clear()
    atomic.write_files(tmp_path, {"c.json": "{}", "a.json": None})
    assert [".tmp" in path for path in synced] == [True, False, False]
    assert synced[-1] == str(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["b.json", "c.json", "metrics.jsonl"]


def test_a_damaged_checkpoint_is_a_clear_error_on_resume(tmp_path, small_mnist, capsys):
    cfg = small_config(epochs=2)
    trainer = Trainer(cfg, small_mnist)
    runs.write_config(tmp_path, cfg, torch.device("cpu"), "test")
    trainer.run(should_stop=iter([False] * 5 + [True] * 100).__next__)
    atomic.atomic_write(tmp_path / runs.CHECKPOINT, runs.checkpoint_writer(trainer.state_dict()))
    tensors, metadata = load_tensors(tmp_path / runs.CHECKPOINT, 1 << 30)
    for damage in ({"epoch": "one"}, {"optimizer": None}, {"order": {"__tensor__": "gone"}}):
        state = json.loads(metadata["state"]) | damage
        save_tensors(tmp_path / runs.CHECKPOINT, tensors, metadata | {"state": json.dumps(state)})
        assert main(["train", "--resume", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert "firstnet: error:" in err and "checkpoint" in err and "Traceback" not in err, err
        with pytest.raises(CheckpointError, match="checkpoint"):
            restore(Trainer(cfg, small_mnist), runs.read_checkpoint(tmp_path), tmp_path)


def test_data_not_found_still_says_so(tmp_path):
    with pytest.raises(DataNotFoundError, match="could not be downloaded"):
        load_dataset(cache=tmp_path, mirrors=(f"file://{tmp_path / 'nothing'}",))


def test_default_mirrors_are_https_and_a_download_has_a_deadline(tmp_path):
    mirrors = [mirror for spec in DATASETS.values() for mirror in spec.mirrors]
    assert mirrors and all(mirror.startswith("https://") for mirror in mirrors)
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "f.gz").write_bytes(b"x" * 100)
    late = time.monotonic() - 1
    failures = download_file("f", None, (f"file://{tmp_path / 'mirror'}",), tmp_path, deadline=late)
    assert len(failures) == 1 and "took over" in failures[0] and not (tmp_path / "f").exists()


# --- Every read is bounded; hostile run directories get one line --------------------------------
# Each case is a copy of a good run with one file made hostile: (file, how, the words of the one
# line a command that reads that file answers). Commands run in a child process whose data segment
# is capped (RLIMIT_DATA): a read without a bound fails there with a traceback, not by filling the
# machine; a read that waits on a FIFO fails on the timeout.
DEEP = b"[" * 100_000 + b"]" * 100_000  # RecursionError in json.loads
HUGE_INT = b'{"epoch": 1, "test_acc": ' + b"9" * 100_000 + b"}\n"  # over int's 4,300 digits


def fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def dev_zero(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.symlink_to("/dev/zero")


def sparse_extra_tensor(path: Path) -> None:
    """The weights with one more tensor of 2 GiB declared in the header: a sparse file of 1 MB."""
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header, data = json.loads(raw[8 : 8 + length]), raw[8 + length :]
    header["extra"] = {"dtype": "F32", "shape": [1 << 29],
                       "data_offsets": [len(data), len(data) + (2 << 30)]}  # fmt: skip
    text = json.dumps(header).encode()
    with path.open("wb") as out:
        out.write(len(text).to_bytes(8, "little") + text + data)
        out.truncate(8 + len(text) + len(data) + (2 << 30))


def list_dtype(path: Path) -> None:
    """A header whose first tensor's dtype is a list (unhashable: a TypeError, once)."""
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + length])
    first = next(name for name in header if name != "__metadata__")
    header[first]["dtype"] = []
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + length :])


def huge_weights(path: Path) -> None:
    """Finite weights of 3e38: every output overflows."""
    tensors, metadata = load_tensors(path, 1 << 30)
    save_tensors(path, {k: torch.full_like(v, 3e38) for k, v in tensors.items()}, metadata)


def config_edit(**values):
    def edit(path: Path) -> None:
        path.write_text(json.dumps(json.loads(path.read_text()) | values))

    return edit


HOSTILE = {
    "config-fifo": (runs.CONFIG, fifo, "config.json: not a regular file (a FIFO)"),
    "config-dev-zero": (runs.CONFIG, dev_zero, "config.json: not a regular file (a character"),
    "config-deep": (runs.CONFIG, lambda p: p.write_bytes(DEEP), "JSON nested too deeply"),
    "config-created-number": (runs.CONFIG, config_edit(created=12, data_source=[1]), ""),
    "metrics-fifo": (runs.METRICS, fifo, "metrics.jsonl: not a regular file (a FIFO)"),
    "metrics-dev-zero": (runs.METRICS, dev_zero, "metrics.jsonl: not a regular file"),
    "metrics-deep": (runs.METRICS, lambda p: p.write_bytes(DEEP), "not an epoch record"),
    "metrics-huge-int": (runs.METRICS, lambda p: p.write_bytes(HUGE_INT), "not an epoch record"),
    "diverged-deep": (runs.DIVERGED, lambda p: p.write_bytes(DEEP), "diverged and has no model"),
    "model-fifo": (runs.MODEL, fifo, "model.safetensors: not a regular file (a FIFO)"),
    "model-dev-zero": (runs.MODEL, dev_zero, "model.safetensors: not a regular file"),
    "model-extra-2-GiB": (runs.MODEL, sparse_extra_tensor, "such a file can have"),
    "model-3e38": (runs.MODEL, huge_weights, "not finite"),
    "model-list-dtype": (runs.MODEL, list_dtype, "unknown dtype"),
}
# the files each command reads (diverged.json: where it looks for a model)
READS = {
    "runs": {runs.CONFIG, runs.METRICS},
    "predict": {runs.CONFIG, runs.MODEL, runs.DIVERGED},
    "eval": {runs.CONFIG, runs.MODEL, runs.DIVERGED},
    "export": {runs.CONFIG, runs.MODEL, runs.DIVERGED},
    "serve": {runs.CONFIG, runs.METRICS, runs.MODEL, runs.DIVERGED},
}
CHILD = """
    import contextlib, io, json, resource, sys, traceback
    resource.setrlimit(resource.RLIMIT_DATA, (1500 << 20, 1500 << 20))
    from firstnet.cli import main
    from firstnet.serve.registry import try_loading
    answers = {}
    for case, argv in json.loads(sys.argv[1]).items():
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                if argv[0] == "serve":  # what `firstnet serve` does at start
                    models, warnings = try_loading(argv[1:])
                    rc, out = len(models), io.StringIO(json.dumps(warnings))
                else:
                    rc = main(argv)
        except BaseException:  # noqa: a traceback is what the test looks for
            rc, err = None, io.StringIO(traceback.format_exc(limit=-1))
        answers[case] = [rc, out.getvalue(), err.getvalue()]
    peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM")]
    print(json.dumps({"answers": answers, "peak_mb": int(peak[0].split()[1]) / 1024}))
"""


def hostile_run_dirs(runs_dir: Path) -> dict[str, Path]:
    from tests.run_dirs import untrained_run

    good = untrained_run(runs_dir, "good", "mlp")
    (good / runs.METRICS).write_text(json.dumps({"epoch": 1, "test_acc": 0.5}) + "\n")
    made = {}
    for name, (file, make, _) in HOSTILE.items():
        run_dir = runs_dir / name
        shutil.copytree(good, run_dir)
        make(run_dir / file)
        made[name] = run_dir
    return made


@pytest.mark.parametrize("command", list(READS))
def test_hostile_run_files_get_one_line_in_bounded_memory(tmp_path, command):
    made = hostile_run_dirs(tmp_path / "runs")
    concerned = {name: path for name, path in made.items() if HOSTILE[name][0] in READS[command]}
    picture = tmp_path / "picture.png"
    fifo(picture)
    if command == "runs":
        argvs = {"all": ["runs", "--runs-dir", str(tmp_path / "runs"), "--json"]}
    elif command == "serve":
        argvs = {"all": ["serve", str(tmp_path / "runs" / "good"), *map(str, made.values())]}
    else:
        extra = {"predict": [str(picture)], "eval": [], "export": ["--format", "safetensors"]}
        argvs = {name: [command, str(path), *extra[command]] for name, path in concerned.items()}
        if command == "predict":  # a picture that is a FIFO
            argvs["picture-fifo"] = ["predict", str(tmp_path / "runs" / "good"), str(picture)]
    child = run_python(CHILD, args=[json.dumps(argvs)], timeout=240)
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout.splitlines()[-1])
    answers, wrong = result["answers"], []
    assert result["peak_mb"] < 700, result["peak_mb"]  # about 260 MB: torch and one small model
    if command in ("runs", "serve"):
        rc, out, err = answers["all"]
        assert rc is not None and "Traceback" not in err, err
    if command == "runs":
        listed = {run["name"]: run for run in json.loads(out)}
        assert listed["good"]["state"] == "finished" and listed["good"]["test_acc"] == 0.5
        for name in concerned:
            state, words = listed[name]["state"], HOSTILE[name][2]
            if not state.startswith("unreadable" if words else "finished") or words not in state:
                wrong.append(f"{name}: {state}")
        assert listed["config-created-number"]["created"] is None
        assert listed["config-created-number"]["data"] is None
    elif command == "serve":
        warnings = json.loads(out)
        assert rc == 1 + len(made) - len([n for n in concerned if HOSTILE[n][2]])  # served
        for name in concerned:
            said = [w for w in warnings if f"/{name}:" in w]
            if len(said) != bool(HOSTILE[name][2]) or HOSTILE[name][2] not in "".join(said):
                wrong.append(f"{name}: {said}")
    else:
        for name, (rc, _, err) in answers.items():
            words = HOSTILE[name][2] if name in HOSTILE else "picture.png: not a regular file"
            one_line = err.startswith("firstnet: error: ") and err.count("\n") == 1
            if words and not (rc == 1 and one_line and words in err):
                wrong.append(f"{name}: {err[-300:]}")
    assert not wrong, "\n".join(wrong)


def gzip_bomb(path: Path, megabytes: int) -> Path:
    """`megabytes` MB of zeros, gzip-compressed to about a thousandth of that."""
    path.parent.mkdir(parents=True, exist_ok=True)
    packer, zeros = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS), bytes(1 << 20)
    with path.open("wb") as bomb:
        for _ in range(megabytes):
            bomb.write(packer.compress(zeros))
        bomb.write(packer.flush())
    return path


@pytest.mark.parametrize("source", ["data-dir", "torchvision-folder", "keras-npz"])
def test_a_local_copy_decompresses_within_the_downloads_cap(tmp_path, source):
    """The local sources, searched before any download, decompress no more than a download may:
    a bomb is a clear error in little memory (before: 2 to 6 GB for a 1 to 3 MB file)."""
    home, work = tmp_path / "home", tmp_path / "home" / "work"
    work.mkdir(parents=True)
    folder = {"data-dir": tmp_path / "data", "torchvision-folder": work / "data" / "MNIST" / "raw"}
    if source == "keras-npz":
        import numpy as np

        small = np.zeros((10, 28, 28), np.uint8)
        keras = home / ".keras" / "datasets" / "mnist.npz"
        keras.parent.mkdir(parents=True)
        zeros = np.zeros(((200 << 20) // 784, 28, 28), np.uint8)  # 200 MB in 200 kB
        np.savez_compressed(keras, x_train=zeros, y_train=small[:, 0, 0], x_test=small,
                            y_test=small[:, 0, 0])  # fmt: skip
    else:
        for key, name in FILE_NAMES.items():
            gzip_bomb(folder[source] / f"{name}.gz", 400 if key == "train_images" else 1)
    data_dir = folder["data-dir"] if source == "data-dir" else None
    result = run_python(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_DATA, (1 << 30, 1 << 30))
        from firstnet.data.sources import load_dataset
        from firstnet.errors import DataFormatError
        try:
            load_dataset({str(data_dir) if data_dir else None!r}, cache={str(tmp_path / "c")!r},
                         mirrors=("file:///nonexistent",))
        except DataFormatError as err:
            print("ERROR", err)
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                print("PEAK_MB", int(line.split()[1]) / 1024)
    """, cwd=work, env={**os.environ, "HOME": str(home)})  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "decompresses to over 50,000,000 bytes: not a data set file" in result.stdout
    peak = float(result.stdout.split("PEAK_MB")[1])
    assert peak < 250, f"peak RSS {peak:.0f} MB"


@pytest.mark.parametrize("lock", ["symlink", "fifo"])
def test_a_lock_that_is_a_link_or_not_a_file_is_refused_and_nothing_made(tmp_path, lock, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    runs.write_config(run_dir, small_config(epochs=1), torch.device("cpu"), "test")
    target = tmp_path / "elsewhere"
    if lock == "symlink":
        (run_dir / runs.LOCK).symlink_to(target)
    else:
        os.mkfifo(run_dir / runs.LOCK)
    with pytest.raises(CheckpointError, match=r"\.lock"), runs.claim(run_dir, fresh=False):
        pass
    assert main(["train", "--resume", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("firstnet: error: ") and err.count("\n") == 1 and ".lock" in err, err
    assert not target.exists() and not target.is_symlink()  # before: an empty file made there


def test_a_run_killed_before_its_first_epoch_ended_is_shown_and_resumed_afresh(
    tmp_path, small_mnist, capsys
):
    cfg = small_config(epochs=1, train_limit=500, test_limit=200)
    killed = tmp_path / "killed"  # what a run killed in its first epoch leaves
    killed.mkdir()
    (killed / runs.LOCK).touch()
    runs.write_config(killed, cfg, torch.device("cpu"), "test")
    assert main(["runs", "--runs-dir", str(tmp_path), "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["state"] == "not started (--resume starts it)"
    assert main(["train", "--resume", str(killed)]) == 0  # before: no checkpoint, no advice
    assert (killed / runs.MODEL).is_file() and len(runs.read_metrics(killed)) == 1
    assert runs.read_config(killed) == cfg
    capsys.readouterr()

    early = tmp_path / "early"  # killed between taking its lock and writing its config.json
    early.mkdir()
    (early / runs.LOCK).touch()
    assert main(["train", "--resume", str(early)]) == 1
    err = capsys.readouterr().err
    assert f"--runs-dir {tmp_path} --name early" in err and err.count("\n") == 1, err
    argv = ["train", "--model", "linear", "--epochs", "1", "--train-limit", "500"]
    assert main([*argv, "--runs-dir", str(tmp_path), "--name", "early"]) == 0  # before: refused
    assert (early / runs.MODEL).is_file()
