"""Peak memory of firstnet's commands over hostile files: is every read bounded, whatever the file?

Builds under WORKDIR the files that a careless reader reads for ever or into gigabytes, and runs one
firstnet command over each in a child process:
- run directories whose config.json is a FIFO or a symbolic link to /dev/zero, whose metrics.jsonl
  is a link to /dev/zero, whose config.json is JSON nested 100,000 deep;
- a picture that is a FIFO;
- a sparse model.safetensors (1 MB on the disk) whose header declares one more tensor of 2 GiB;
- local MNIST copies that are bombs: a 3 MB .gz of 3,000 MB of zeros in FIRSTNET_DATA_DIR, a 1 MB
  .gz of 1,000 MB in ./data/MNIST/raw (torchvision's folder), a 2 MB Keras mnist.npz whose x_train
  is 1,960 MB of zeros (written in pieces: this script never holds it).
Each child is killed once its RSS passes --cap-gb (polled every 10 ms) or after --timeout seconds;
as a backstop its data segment is limited to four times the cap (RLIMIT_DATA). For each command it
prints the child's peak RSS (ru_maxrss from wait4), its exit status, and why it was stopped or the
last line it printed (for `runs --json`, the state of each hostile run). The data cases run with
HOME, XDG_CACHE_HOME and the mirrors pointed into WORKDIR, so only the bomb can be found.

This process imports neither firstnet nor torch nor NumPy: Linux counts in a child's ru_maxrss the
RSS of the process it was forked from, so a parent holding torch (about 220 MB) would put that floor
under every figure. What needs them (the good run the others are copied from, a picture, the npz
bomb, the hardware line) is made by a child of its own (`--prepare`).

The commands run on whichever firstnet is first on PYTHONPATH (made absolute for the children), so
the same cases can be measured on two source trees, before and after a change:
    PYTHONPATH=src python benchmarks/bounded_reads.py /tmp/bounded-reads/after
    PYTHONPATH=OLD_CHECKOUT/src python benchmarks/bounded_reads.py /tmp/bounded-reads/before
Options: --cap-gb 3, --timeout 30, --only WORDS (run only the cases whose name contains WORDS),
--mnist DIR (the real MNIST files beside the bombs; default: FIRSTNET_DATA_DIR or firstnet's cache).
WORKDIR is emptied of what an earlier run of this script put there. The whole run takes about a
minute on 2 cores, the bombs' writing included (longer before a fix: each hang costs --timeout); it
needs about cap + 1 GB of free memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

MB = 1 << 20
ROOT = Path(__file__).resolve().parents[1]  # the repository root, for tests/
# the four MNIST files (firstnet.data.datasets.FILE_NAMES: the same in every source tree)
FILE_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FIRSTNET = [sys.executable, "-m", "firstnet"]
Command = tuple[list[str], dict[str, str] | None, Path | None]  # argv, environment, folder
KERAS = Path("home/.keras/datasets/mnist.npz")  # under WORKDIR; HOME is WORKDIR/home in data cases
KERAS_CASE = "data, a Keras npz bomb (x_train 1,960 MB)"


def child_env(extra: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment with PYTHONPATH made absolute (some children run in another
    folder, where a relative `src` would quietly load another firstnet), less `drop`, plus
    `extra`."""
    paths = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(":") if p]
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "PYTHONPATH": ":".join(paths), **(extra or {})}


def rss_bytes(pid: int) -> int:
    """The resident set size of a running process (Linux /proc), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def run_capped(argv: list[str], args, env=None, cwd=None) -> tuple[float, int, str, str, str]:
    """Run `argv` as a child killed at `args.cap_gb` GB of RSS or after `args.timeout` seconds:
    (peak RSS in MB, exit status, why it was killed or "", its stdout, its stderr)."""
    cap = int(args.cap_gb * (1 << 30))

    def limit_data() -> None:
        # the backstop, should the RSS grow faster than it is polled; well above the cap, since a
        # growing buffer reserves twice what it holds (at twice the cap a reader of a bomb got a
        # MemoryError at 3 GB instead of being killed there)
        resource.setrlimit(resource.RLIMIT_DATA, (4 * cap, 4 * cap))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # files, not pipes: a child that prints much would block on a full pipe and look hung
        process = subprocess.Popen(
            argv, stdout=out, stderr=err, env=env or child_env(), cwd=cwd, preexec_fn=limit_data
        )
        start, why = time.monotonic(), ""
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                break
            if not why and rss_bytes(process.pid) > cap:
                process.kill()
                why = f"killed at {args.cap_gb:g} GB of RSS"
            elif not why and time.monotonic() - start > args.timeout:
                process.kill()
                why = f"hung: killed after {args.timeout:g} s"
            time.sleep(0.01)
        texts = []
        for stream in (out, err):
            stream.seek(0)
            texts.append(stream.read().decode(errors="replace").strip())
    return usage.ru_maxrss / 1024, process.returncode, why, *texts


def summary(argv: list[str], out: str, err: str) -> str:
    """What a finished command said: for `runs --json`, the state of every run but the good one;
    else its last line (of stderr if it wrote there: an error or a traceback's last line)."""
    if "--json" in argv:
        try:
            listed = json.loads(out)
            return "; ".join(f"{r['name']}: {r['state']}" for r in listed if r["name"] != "good")
        except (ValueError, KeyError, TypeError):
            pass
    return ((err or out).splitlines() or [""])[-1]


def measure(name: str, argv: list[str], args, env=None, cwd=None) -> None:
    peak, code, why, out, err = run_capped(argv, args, env, cwd)
    # what it said, with WORKDIR's paths made relative and cut to one screen line
    said = why or summary(argv, out, err).replace(f"{args.workdir.resolve()}/", "")[:150]
    print(f"{name:50s} peak {peak:6,.0f} MB  rc {code:>3}  {said}", flush=True)


def clone(good: Path, runs_dir: Path, name: str) -> Path:
    """A copy of the good run under `runs_dir` (beside a copy of the good run itself)."""
    if not (runs_dir / "good").exists():
        shutil.copytree(good, runs_dir / "good")
    shutil.copytree(good, runs_dir / name)
    return runs_dir / name


def replace(path: Path, how: str) -> None:
    """Replace a file of a run by a FIFO or a symbolic link to /dev/zero."""
    path.unlink(missing_ok=True)
    if how == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")


def sparse_model(run_dir: Path) -> None:
    """Declare in model.safetensors' header one more float32 tensor of 2 GiB, and extend the file
    to match with a hole: a valid-looking file of 2 GiB that takes about 1 MB of disk."""
    path = run_dir / "model.safetensors"
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header, data = json.loads(raw[8 : 8 + length]), raw[8 + length :]
    extra = 2 << 30
    header["extra"] = {
        "dtype": "F32",
        "shape": [extra // 4],
        "data_offsets": [len(data), len(data) + extra],
    }
    text = json.dumps(header).encode()
    with path.open("wb") as out:
        out.write(len(text).to_bytes(8, "little") + text + data)
        out.truncate(8 + len(text) + len(data) + extra)


def gzip_bomb(path: Path, megabytes: int) -> int:
    """A .gz of `megabytes` MB of zeros, written piece by piece; its size in bytes."""
    packer, zeros = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS), bytes(MB)
    with path.open("wb") as out:
        for _ in range(megabytes):
            out.write(packer.compress(zeros))
        out.write(packer.flush())
    return path.stat().st_size


def prepare(work: Path, keras: Path | None) -> None:
    """In a child of its own (`--prepare`), what needs firstnet, torch or NumPy: the good run
    WORK/runs/good (freshly initialised MLP weights), the picture WORK/digit.png, the npz bomb at
    `keras` if given; prints the hardware and firstnet's cache folder as JSON."""
    import numpy as np
    from PIL import Image

    import firstnet
    from firstnet.data.sources import cache_dir
    from firstnet.device import cpu_name

    sys.path.insert(0, str(ROOT))
    from tests.run_dirs import untrained_run

    untrained_run(work / "runs", "good", "mlp")
    Image.fromarray((np.eye(28) * 255).astype(np.uint8)).save(work / "digit.png")
    if keras:  # x_train: 2,500,000 images of zeros (1,960 MB), written 10,000 at a time
        keras.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(keras, "w", zipfile.ZIP_DEFLATED) as archive:
            with archive.open("x_train.npy", "w", force_zip64=True) as member:
                header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 28, 28), np.uint8))
                shape = {"shape": (2_500_000, 28, 28)}
                np.lib.format.write_array_header_1_0(member, header | shape)
                block = bytes(10_000 * 28 * 28)
                for _ in range(250):
                    member.write(block)
            for key, shape in [("y_train", (10,)), ("x_test", (10, 28, 28)), ("y_test", (10,))]:
                with archive.open(f"{key}.npy", "w") as member:
                    np.lib.format.write_array(member, np.zeros(shape, np.uint8))
    firstnet_dir = Path(firstnet.__file__).parent
    print(
        json.dumps(
            {
                "machine": f"firstnet {firstnet.__version__} from {firstnet_dir}; {cpu_name()}, "
                f"{os.cpu_count()} cores, Python {platform.python_version()}",
                "cache": str(cache_dir()),
            }
        )
    )


def mnist_file(folder: Path, name: str) -> Path | None:
    """The MNIST file `name` in `folder`, raw or .gz, or None."""
    return next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)


def real_mnist(folder: Path | None, cache: str) -> Path | None:
    """A folder holding the four real MNIST files, to put the test and label files beside the
    bombs: `folder`, else FIRSTNET_DATA_DIR, else firstnet's cache; None if none holds them."""
    candidates = [folder] if folder else [os.environ.get("FIRSTNET_DATA_DIR"), cache]
    for candidate in filter(None, candidates):
        if all(mnist_file(Path(candidate), name) for name in FILE_NAMES.values()):
            return Path(candidate)
    return None


def mnist_with_bomb(folder: Path, real: Path, megabytes: int) -> int:
    """`folder` holding the real test and label files and a train-images .gz bomb; its size."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in FILE_NAMES.items():
        if key != "train_images":
            source = mnist_file(real, name)
            shutil.copyfile(source, folder / source.name)
    return gzip_bomb(folder / f"{FILE_NAMES['train_images']}.gz", megabytes)


def cases(work: Path, args, cache: str) -> dict[str, Callable[[], Command]]:
    """Each case by name: a function that builds its hostile files under `work` and gives the
    command to run over them (argv, environment, working folder). The good run, the picture and
    the npz bomb are there already (`prepare`)."""
    good, image = work / "runs" / "good", work / "digit.png"
    hostile, home = work / "runs-hostile", work / "home"
    cwd = home / "work"  # the data commands run here, so ./data/MNIST/raw is under WORKDIR

    def runs_over(case: str, file: str, how: str) -> Callable[[], Command]:
        """`firstnet runs` over a folder of its own holding the good run and one whose `file` is
        a FIFO, a link to /dev/zero or JSON nested 100,000 deep."""

        def prepare() -> Command:
            run_dir = clone(good, hostile / case, case)
            if how == "deep":
                (run_dir / file).write_text("[" * 100_000 + "]" * 100_000)
            else:
                replace(run_dir / file, how)
            return FIRSTNET + ["runs", "--runs-dir", str(hostile / case), "--json"], None, None

        return prepare

    def predict_fifo_config() -> Command:
        run_dir = clone(good, hostile / "predict", "config-fifo")
        replace(run_dir / "config.json", "fifo")
        return FIRSTNET + ["predict", str(run_dir), str(image)], None, None

    def predict_fifo_picture() -> Command:
        os.mkfifo(work / "fifo.png")
        return FIRSTNET + ["predict", str(good), str(work / "fifo.png")], None, None

    def sparse() -> Path:
        """The run whose model declares 2 GiB more, made once for the four cases that read it."""
        run_dir = hostile / "sparse" / "sparse-model"
        if not run_dir.exists():
            sparse_model(clone(good, hostile / "sparse", "sparse-model"))
            model = run_dir / "model.safetensors"
            disk = model.stat().st_blocks * 512 / 1e3
            print(f"(sparse model: {model.stat().st_size:,} bytes, {disk:,.0f} kB on the disk)")
        return run_dir

    def over_sparse(command: str, *rest: str) -> Callable[[], Command]:
        """`firstnet` `command` over the sparse run, then `rest`."""
        return lambda: (FIRSTNET + [command, str(sparse()), *rest], None, None)

    def serve_loading() -> Command:
        # what `firstnet serve` does with the runs it is given, without starting a server
        code = "from pathlib import Path; from firstnet.serve.registry import load_all; "
        code += f"print(load_all([Path({str(sparse())!r}), Path({str(good)!r})], None)[1])"
        return [sys.executable, "-c", code], None, None

    def data_env(**extra: str) -> dict[str, str]:
        """Only the bomb can be found: no cache, no mirror, no other copy."""
        home.mkdir(exist_ok=True)
        cwd.mkdir(exist_ok=True)
        isolated = {"HOME": str(home), "XDG_CACHE_HOME": str(work / "xdg")}
        isolated |= {"FIRSTNET_MIRRORS": "file:///nonexistent", **extra}
        return child_env(isolated, drop=("FIRSTNET_DATA_DIR", "FIRSTNET_TORCHVISION_ROOT"))

    def gz_bomb(folder: Path, megabytes: int, env: dict[str, str]) -> Callable[[], Command]:
        def prepare() -> Command:
            real = real_mnist(args.mnist, cache)
            if real is None:
                sys.exit("no MNIST files found to put beside the bombs: give --mnist DIR")
            size = mnist_with_bomb(folder, real, megabytes)
            print(f"({folder}: train images .gz of {size / 1e6:.1f} MB)")
            return FIRSTNET + ["data"], env, cwd

        return prepare

    def keras_bomb() -> Command:
        shutil.rmtree(cwd / "data", ignore_errors=True)  # the .gz bomb's folder would come first
        print(f"(HOME/.keras/datasets/mnist.npz: {(work / KERAS).stat().st_size / 1e6:.1f} MB)")
        return FIRSTNET + ["data"], data_env(), cwd

    return {
        "runs, a config.json -> /dev/zero": runs_over("config-zero", "config.json", "zero"),
        "runs, a config.json FIFO": runs_over("config-fifo", "config.json", "fifo"),
        "runs, a metrics.jsonl -> /dev/zero": runs_over("metrics-zero", "metrics.jsonl", "zero"),
        "runs, a config.json nested 100,000 deep": runs_over("config-deep", "config.json", "deep"),
        "predict, a config.json FIFO": predict_fifo_config,
        "predict, a picture that is a FIFO": predict_fifo_picture,
        "predict, a sparse model (+2 GiB tensor)": over_sparse("predict", str(image)),
        "eval, a sparse model (+2 GiB tensor)": over_sparse("eval"),
        "export, a sparse model (+2 GiB tensor)": over_sparse(
            "export", "--format", "safetensors", "--out", str(work / "export.st")
        ),
        "serve's loading, a sparse model (+2 GiB tensor)": serve_loading,
        "data, a .gz bomb (3,000 MB) in FIRSTNET_DATA_DIR": gz_bomb(
            work / "datadir", 3000, data_env(FIRSTNET_DATA_DIR=str(work / "datadir"))
        ),
        "data, a .gz bomb (1,000 MB) in ./data/MNIST/raw": gz_bomb(
            cwd / "data" / "MNIST" / "raw", 1000, data_env()
        ),
        KERAS_CASE: keras_bomb,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("workdir", type=Path, help="where the hostile files are built")
    parser.add_argument("--cap-gb", type=float, default=3.0, help="RSS at which a child is killed")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before it is killed")
    parser.add_argument("--only", help="run only the cases whose name contains this")
    parser.add_argument("--mnist", type=Path, help="folder of the real MNIST files (see above)")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)  # see above
    args = parser.parse_args()
    work = args.workdir.resolve()

    def wanted(name: str) -> bool:
        return args.only is None or args.only in name

    if args.prepare:
        prepare(work, work / KERAS if wanted(KERAS_CASE) else None)
        return 0

    work.mkdir(parents=True, exist_ok=True)
    for old in ("runs", "runs-hostile", "datadir", "home", "xdg", "digit.png", "fifo.png"):
        target = work / old
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    (work / "export.st").unlink(missing_ok=True)
    made = subprocess.run(
        [sys.executable, __file__, *sys.argv[1:], "--prepare"],
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    found = json.loads(made.stdout.splitlines()[-1])
    print(
        f"{found['machine']}; each command killed at {args.cap_gb:g} GB of RSS or after "
        f"{args.timeout:g} s",
        flush=True,
    )
    for name, build in cases(work, args, found["cache"]).items():
        if wanted(name):
            argv, env, cwd = build()
            measure(name, argv, args, env, cwd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
