"""The MNIST data layer on small synthetic IDX files: parsing, checksums, source order, mirrors,
offline.

No real MNIST and no network: every test builds 20 train / 8 test random images in tmp_path and
passes their checksums to `load_dataset`; every source the loader looks at (cache, ./data, ~/data,
~/.keras, mirrors) is pointed into tmp_path.
"""

from __future__ import annotations

import gzip
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from firstnet.data import LabelledData, load_dataset
from firstnet.data.datasets import DATASETS, FILE_NAMES
from firstnet.data.idx import encode_idx, parse_idx, read_bytes, sha256
from firstnet.data.sources import KERAS_KEYS, download_file
from firstnet.errors import DataFormatError, DataNotFoundError, FirstnetError

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared/data/mnist"
NO_MIRROR = "file:///nonexistent-firstnet-mirror"
MNIST_FILES = {key: (name, DATASETS["mnist"].checksums[key]) for key, name in FILE_NAMES.items()}
NAMES = dict(FILE_NAMES)


def synthetic_arrays(seed: int = 0, train: int = 20, test: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "train_labels": rng.permutation(np.arange(train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "test_labels": rng.permutation(np.arange(test) % 10).astype(np.uint8),
    }


ARRAYS = synthetic_arrays()
CONTENTS = {key: encode_idx(array) for key, array in ARRAYS.items()}
CHECKSUMS = {key: sha256(content) for key, content in CONTENTS.items()}


def write_files(folder: Path, contents: dict[str, bytes] = CONTENTS, gz: bool = False) -> Path:
    """The four files under their canonical names in `folder` (gzip-compressed as NAME.gz if
    `gz`)."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, content in contents.items():
        if gz:
            (folder / f"{NAMES[key]}.gz").write_bytes(gzip.compress(content))
        else:
            (folder / NAMES[key]).write_bytes(content)
    return folder


def write_keras(path: Path, arrays: dict[str, np.ndarray] = ARRAYS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.savez(f, **{KERAS_KEYS[key]: array for key, array in arrays.items()})
    return path


def assert_is_synthetic(data: LabelledData, arrays: dict[str, np.ndarray] = ARRAYS) -> None:
    for key, array in arrays.items():
        got = getattr(data, key)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, array)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """HOME, the XDG cache, the working directory and the mirrors all point into tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("FIRSTNET_MIRRORS", NO_MIRROR)
    monkeypatch.delenv("FIRSTNET_DATA_DIR", raising=False)
    monkeypatch.delenv("FIRSTNET_TORCHVISION_ROOT", raising=False)
    monkeypatch.chdir(work)
    return tmp_path


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


# --- IDX parsing ---------------------------------------------------------------------------------


def test_parse_idx_round_trips_images_and_labels():
    images = parse_idx(CONTENTS["train_images"], "images")
    labels = parse_idx(CONTENTS["train_labels"], "labels")
    assert images.shape == (20, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (20,) and labels.dtype == np.uint8
    np.testing.assert_array_equal(images, ARRAYS["train_images"])
    np.testing.assert_array_equal(labels, ARRAYS["train_labels"])
    assert not images.flags.writeable  # a view on the file's bytes; nobody may change the data set
    assert int.from_bytes(CONTENTS["train_images"][:4], "big") == 2051
    assert int.from_bytes(CONTENTS["train_labels"][:4], "big") == 2049


@pytest.mark.parametrize("file_name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
@pytest.mark.parametrize("compress", [False, True])
def test_read_bytes_detects_gzip_by_magic_bytes_not_name(tmp_path, file_name, compress):
    content = CONTENTS["test_images"]
    path = tmp_path / file_name
    path.write_bytes(gzip.compress(content) if compress else content)
    assert read_bytes(path) == content
    np.testing.assert_array_equal(parse_idx(read_bytes(path), str(path)), ARRAYS["test_images"])


def test_read_bytes_missing_file_names_it(tmp_path):
    path = tmp_path / "missing-idx3-ubyte"
    with pytest.raises(DataFormatError, match="cannot read file") as info:
        read_bytes(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda gz: gz[: len(gz) // 2], id="truncated-stream"),
        pytest.param(lambda gz: gz[:-8] + bytes(b ^ 0xFF for b in gz[-8:]), id="bad-crc-and-size"),
        pytest.param(lambda gz: gz[:12] + b"\xff" * 40 + gz[52:], id="garbage-deflate-data"),
    ],
)
def test_read_bytes_corrupt_gzip_names_file(tmp_path, corrupt):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(corrupt(gzip.compress(CONTENTS["train_images"])))
    with pytest.raises(DataFormatError, match="corrupt gzip data") as info:
        read_bytes(path)
    assert str(path) in str(info.value)


def test_parse_idx_rejects_truncated_file():
    content = CONTENTS["train_images"][:-5]
    with pytest.raises(DataFormatError) as info:
        parse_idx(content, "train-images-idx3-ubyte")
    message = str(info.value)
    assert message.startswith("train-images-idx3-ubyte: ")
    assert "truncated" in message and "(20, 28, 28)" in message and str(len(content)) in message


def test_parse_idx_rejects_trailing_bytes():
    content = CONTENTS["train_labels"] + b"\x00\x01"
    with pytest.raises(DataFormatError, match="has trailing bytes") as info:
        parse_idx(content, "train-labels-idx1-ubyte")
    assert str(info.value).startswith("train-labels-idx1-ubyte: ")
    assert "(20,)" in str(info.value)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"\x01\x00\x08\x03", id="nonzero-leading-bytes"),
        pytest.param(b"\x00\x00\x0d\x03", id="float-type-code"),
        pytest.param(b"\x00\x00\x08\x00", id="zero-dimensions"),
        pytest.param(b"PK\x03\x04", id="zip-file"),
    ],
)
def test_parse_idx_rejects_wrong_magic_number(header):
    content = header + CONTENTS["train_images"][4:]
    with pytest.raises(DataFormatError, match="bad magic number") as info:
        parse_idx(content, "train-images-idx3-ubyte")
    message = str(info.value)
    assert message.startswith("train-images-idx3-ubyte: ")
    assert str(int.from_bytes(header, "big")) in message and "2051" in message and "2049" in message


@pytest.mark.parametrize("length", [0, 3])
def test_parse_idx_rejects_file_shorter_than_magic(length):
    with pytest.raises(
        DataFormatError, match=f"too short for an IDX header \\({length} bytes\\)"
    ) as info:
        parse_idx(CONTENTS["train_images"][:length], "t10k-images-idx3-ubyte")
    assert str(info.value).startswith("t10k-images-idx3-ubyte: ")


def test_parse_idx_rejects_truncated_header():
    with pytest.raises(DataFormatError, match=r"header truncated \(9 of 16 bytes\)") as info:
        parse_idx(CONTENTS["train_images"][:9], "train-images-idx3-ubyte")
    assert str(info.value).startswith("train-images-idx3-ubyte: ")


def test_parse_idx_rejects_header_whose_size_overflows():
    content = bytes([0, 0, 8, 3]) + (2**31).to_bytes(4, "big") * 2 + (4).to_bytes(4, "big")
    with pytest.raises(DataFormatError, match="truncated") as info:
        parse_idx(content, "train-images-idx3-ubyte")
    assert str(info.value).startswith("train-images-idx3-ubyte: ")


def test_encode_idx_rejects_non_uint8():
    with pytest.raises(ValueError, match="uint8"):
        encode_idx(np.zeros((2, 28, 28), dtype=np.float32))


# --- Whole data sets: each defect named with its file --------------------------------------------


def replaced(key: str, content: bytes) -> dict[str, bytes]:
    return CONTENTS | {key: content}


BAD_SETS = [
    pytest.param(
        "train_images",
        replaced("train_images", CONTENTS["train_images"][:-1]),
        "file truncated",
        id="truncated",
    ),
    pytest.param(
        "test_labels",
        replaced("test_labels", CONTENTS["test_labels"] + b"\x00"),
        "has trailing bytes",
        id="trailing",
    ),
    pytest.param(
        "test_images",
        replaced("test_images", b"\x00\x00\x0c\x03" + CONTENTS["test_images"][4:]),
        "bad magic number",
        id="wrong-magic",
    ),
    pytest.param(
        "train_labels",
        replaced("train_labels", CONTENTS["train_labels"][:6]),
        "header truncated",
        id="short-header",
    ),
    pytest.param(
        "train_images",
        replaced("train_images", encode_idx(np.zeros((20, 27, 28), dtype=np.uint8))),
        r"expected images of shape \(N, 28, 28\), got \(20, 27, 28\)",
        id="27x28-images",
    ),
    pytest.param(
        "test_images",
        replaced("test_images", CONTENTS["test_labels"]),
        r"expected images of shape \(N, 28, 28\), got \(8,\)",
        id="labels-as-images",
    ),
    pytest.param(
        "train_labels",
        replaced("train_labels", encode_idx(np.zeros((20, 1), dtype=np.uint8))),
        r"expected labels of shape \(N,\), got \(20, 1\)",
        id="2d-labels",
    ),
    pytest.param(
        "train_labels",
        replaced("train_labels", encode_idx(np.array([0] * 19 + [10], dtype=np.uint8))),
        r"label 10 out of range 0\.\.9",
        id="label-10",
    ),
    pytest.param(
        "test_labels",
        replaced("test_labels", encode_idx(ARRAYS["test_labels"][:7])),
        r"7 labels for 8 images in .*t10k-images-idx3-ubyte",
        id="count-mismatch",
    ),
]


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize(("bad_key", "contents", "problem"), BAD_SETS)
def test_bad_file_in_data_dir_is_rejected_naming_file_and_problem(
    tmp_path, cache, bad_key, contents, problem, gz
):
    folder = write_files(tmp_path / "mnist", contents, gz=gz)
    with pytest.raises(DataFormatError, match=problem) as info:
        load_dataset(folder, cache=cache, mirrors=(NO_MIRROR,), checksums={})
    bad_path = folder / (NAMES[bad_key] + (".gz" if gz else ""))
    assert str(info.value).startswith(f"{bad_path}: ")
    assert files_in(cache) == []


def test_corrupt_gzip_in_data_dir_is_rejected_naming_file(tmp_path, cache):
    folder = write_files(tmp_path / "mnist", gz=True)
    bad = folder / f"{NAMES['test_images']}.gz"
    bad.write_bytes(bad.read_bytes()[:-20])
    with pytest.raises(DataFormatError, match="corrupt gzip data") as info:
        load_dataset(folder, cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)
    assert str(info.value).startswith(f"{bad}: ")


@pytest.mark.parametrize("key", list(MNIST_FILES))
def test_sha256_mismatch_names_the_file(tmp_path, cache, key):
    folder = write_files(tmp_path / "mnist")
    checksums = CHECKSUMS | {key: sha256(b"something else")}
    with pytest.raises(DataFormatError, match="SHA-256 mismatch") as info:
        load_dataset(folder, cache=cache, mirrors=(NO_MIRROR,), checksums=checksums)
    message = str(info.value)
    assert message.startswith(f"{folder / NAMES[key]}: ")
    assert CHECKSUMS[key][:16] in message  # what the file has
    assert "delete it" in message  # and what to do


def test_one_changed_pixel_fails_the_checksum(tmp_path, cache):
    images = ARRAYS["train_images"].copy()
    images[3, 14, 14] ^= 1
    folder = write_files(tmp_path / "mnist", replaced("train_images", encode_idx(images)))
    with pytest.raises(DataFormatError, match="SHA-256 mismatch") as info:
        load_dataset(folder, cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)
    assert str(folder / NAMES["train_images"]) in str(info.value)


def test_default_checksums_are_the_real_mnist_ones(tmp_path, cache):
    """Without `checksums=`, synthetic files are refused: the real MNIST checksums apply."""
    folder = write_files(tmp_path / "mnist")
    with pytest.raises(DataFormatError, match="SHA-256 mismatch"):
        load_dataset(folder, cache=cache, mirrors=(NO_MIRROR,))


# --- Source order --------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_data_dir_is_loaded_and_validated(tmp_path, cache, gz):
    folder = write_files(tmp_path / "mnist", gz=gz)
    data = load_dataset(folder, cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)
    assert_is_synthetic(data)
    assert data.source == str(folder)
    assert data.num_classes == 10
    small = data.subset(5, 3)
    assert len(small.train_images) == len(small.train_labels) == 5
    assert len(small.test_images) == len(small.test_labels) == 3


def test_data_dir_accepts_torchvision_layout(tmp_path, cache):
    folder = tmp_path / "mnist"
    write_files(folder / "MNIST" / "raw", gz=True)
    data = load_dataset(str(folder), cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)
    assert_is_synthetic(data)
    assert data.source == str(folder / "MNIST" / "raw")


def test_explicit_data_dir_beats_cache(tmp_path, cache):
    write_files(cache)
    folder = write_files(tmp_path / "mnist")
    data = load_dataset(folder, cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)
    assert data.source == str(folder)
    # and without it the cache is used
    assert load_dataset(cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS).source == str(cache)


def test_env_data_dir_is_used_when_data_dir_is_none(tmp_path, cache, monkeypatch):
    write_files(cache)
    folder = write_files(tmp_path / "from-env")
    monkeypatch.setenv("FIRSTNET_DATA_DIR", str(folder))
    data = load_dataset(None, cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)
    assert data.source == str(folder)
    assert_is_synthetic(data)
    # an explicit data_dir beats the environment variable
    other = write_files(tmp_path / "explicit")
    assert load_dataset(
        other, cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS
    ).source == str(other)


def test_a_named_data_dir_that_is_missing_is_an_error_not_a_fallback(tmp_path, cache):
    write_files(cache)  # the cache would have it: a named folder must not fall back to it quietly
    with pytest.raises(DataNotFoundError, match="empty .*the folder does not exist"):
        load_dataset(tmp_path / "empty", cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)


def test_a_named_data_dir_that_is_incomplete_says_what_it_lacks(tmp_path, cache):
    folder = write_files(tmp_path / "mnist")
    (folder / NAMES["test_labels"]).unlink()
    write_files(cache)
    with pytest.raises(DataNotFoundError, match=f"it lacks {NAMES['test_labels']}"):
        load_dataset(folder, cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)


def test_default_cache_is_xdg_cache_home(tmp_path):
    write_files(tmp_path / "xdg" / "firstnet")
    data = load_dataset(checksums=CHECKSUMS)
    assert data.source == str(tmp_path / "xdg" / "firstnet")


def test_cache_beats_torchvision_root(tmp_path, cache, monkeypatch):
    root = tmp_path / "torchvision"
    write_files(root / "MNIST" / "raw", gz=True)
    monkeypatch.setenv("FIRSTNET_TORCHVISION_ROOT", str(root))
    write_files(cache)
    assert load_dataset(cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS).source == str(cache)
    for path in list(cache.iterdir()):
        path.unlink()
    data = load_dataset(cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)
    assert data.source == str(root / "MNIST" / "raw")
    assert_is_synthetic(data)


@pytest.mark.parametrize("where", ["cwd", "home"])
def test_default_torchvision_roots_are_data_and_home_data(isolated, cache, where):
    base = isolated / ("work" if where == "cwd" else "home")
    write_files(base / "data" / "MNIST" / "raw", gz=True)
    data = load_dataset(cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)
    assert Path(data.source).resolve() == (base / "data" / "MNIST" / "raw").resolve()
    assert_is_synthetic(data)


def test_torchvision_root_beats_keras(tmp_path, isolated, cache, monkeypatch):
    keras = write_keras(isolated / "home" / ".keras" / "datasets" / "mnist.npz")
    root = tmp_path / "torchvision"
    write_files(root / "MNIST" / "raw")
    monkeypatch.setenv("FIRSTNET_TORCHVISION_ROOT", str(root))
    assert load_dataset(cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS).source == str(
        root / "MNIST" / "raw"
    )
    monkeypatch.delenv("FIRSTNET_TORCHVISION_ROOT")
    assert load_dataset(cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS).source == str(keras)


def test_keras_npz_is_found_and_verified(isolated, cache):
    keras = write_keras(isolated / "home" / ".keras" / "datasets" / "mnist.npz")
    data = load_dataset(cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)
    assert data.source == str(keras)
    assert_is_synthetic(data)
    assert files_in(cache) == []  # found locally: nothing downloaded


def test_keras_npz_with_wrong_content_fails_checksum(isolated, cache):
    arrays = ARRAYS | {"test_labels": (ARRAYS["test_labels"] + 1) % 10}
    keras = write_keras(isolated / "home" / ".keras" / "datasets" / "mnist.npz", arrays)
    with pytest.raises(DataFormatError, match="SHA-256 mismatch") as info:
        load_dataset(cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)
    assert str(info.value).startswith(f"{keras}[y_test]: ")


@pytest.mark.parametrize("kind", ["not-a-zip", "missing-key"])
def test_unreadable_keras_file_names_it(isolated, cache, kind):
    keras = isolated / "home" / ".keras" / "datasets" / "mnist.npz"
    if kind == "not-a-zip":
        keras.parent.mkdir(parents=True)
        keras.write_bytes(b"this is not an npz file at all")
    else:
        write_keras(keras, {k: v for k, v in ARRAYS.items() if k != "test_images"})
        with np.load(keras) as npz:
            assert "x_test" not in npz.files
    with pytest.raises(DataFormatError, match="not a readable Keras MNIST file") as info:
        load_dataset(cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)
    assert str(info.value).startswith(f"{keras}: ")


# --- Mirrors -------------------------------------------------------------------------------------


def make_mirror(folder: Path, contents: dict[str, bytes] = CONTENTS) -> str:
    write_files(folder, contents, gz=True)
    return folder.as_uri()


def test_mirror_download_lands_decompressed_and_verified_in_cache(tmp_path, cache):
    mirror = make_mirror(tmp_path / "mirror")
    calls = []
    data = load_dataset(
        cache=cache,
        mirrors=(mirror,),
        checksums=CHECKSUMS,
        progress=lambda name, done, total: calls.append((name, done, total)),
    )
    assert data.source == str(cache)
    assert_is_synthetic(data)
    assert files_in(cache) == sorted(NAMES.values())  # only the four files: no .part, no .gz
    for key, name in NAMES.items():
        assert (cache / name).read_bytes() == CONTENTS[key]  # decompressed IDX bytes
        assert (cache / name).stat().st_mode & 0o777 == 0o644
    # progress reports each file, ending with all of its (compressed) bytes
    for name in NAMES.values():
        size = (tmp_path / "mirror" / f"{name}.gz").stat().st_size
        assert (name, size, size) in calls

    # The next load needs no mirror: it comes from the cache.
    for path in (tmp_path / "mirror").iterdir():
        path.unlink()
    again = load_dataset(cache=cache, mirrors=(mirror,), checksums=CHECKSUMS)
    assert again.source == str(cache)
    assert_is_synthetic(again)


def test_mirror_base_url_with_trailing_slash(tmp_path, cache):
    mirror = make_mirror(tmp_path / "mirror") + "/"
    assert load_dataset(cache=cache, mirrors=(mirror,), checksums=CHECKSUMS).source == str(cache)


def test_mirrors_from_environment_are_used(tmp_path, cache, monkeypatch):
    mirror = make_mirror(tmp_path / "mirror")
    monkeypatch.setenv("FIRSTNET_MIRRORS", f" {NO_MIRROR} , {mirror} ,")
    data = load_dataset(cache=cache, checksums=CHECKSUMS)
    assert data.source == str(cache)
    assert_is_synthetic(data)


def test_mirrors_come_last(tmp_path, isolated, cache):
    """A working mirror is not used while a local source has the data."""
    keras = write_keras(isolated / "home" / ".keras" / "datasets" / "mnist.npz")
    mirror = make_mirror(tmp_path / "mirror")
    assert load_dataset(cache=cache, mirrors=(mirror,), checksums=CHECKSUMS).source == str(keras)
    assert files_in(cache) == []


def test_wrong_checksum_mirror_is_rejected_and_next_mirror_used(tmp_path, cache):
    other = {key: encode_idx(array) for key, array in synthetic_arrays(seed=1).items()}
    wrong = make_mirror(tmp_path / "wrong", other)
    good = make_mirror(tmp_path / "good")
    data = load_dataset(cache=cache, mirrors=(wrong, good), checksums=CHECKSUMS)
    assert data.source == str(cache)
    assert_is_synthetic(data)  # the good mirror's data, not the wrong one's
    assert files_in(cache) == sorted(NAMES.values())


def test_corrupt_gzip_mirror_is_rejected_and_next_mirror_used(tmp_path, cache):
    corrupt = tmp_path / "corrupt"
    make_mirror(corrupt)
    for path in corrupt.iterdir():
        path.write_bytes(path.read_bytes()[:-30])
    good = make_mirror(tmp_path / "good")
    data = load_dataset(
        cache=cache, mirrors=(corrupt.as_uri(), NO_MIRROR, good), checksums=CHECKSUMS
    )
    assert_is_synthetic(data)
    assert files_in(cache) == sorted(NAMES.values())


def test_download_file_reports_each_failure_and_leaves_nothing(tmp_path):
    other = {key: encode_idx(array) for key, array in synthetic_arrays(seed=2).items()}
    wrong = make_mirror(tmp_path / "wrong", other)
    target = tmp_path / "target"
    name = NAMES["train_labels"]
    failures = download_file(name, CHECKSUMS["train_labels"], (NO_MIRROR, wrong), target)
    assert len(failures) == 2
    assert failures[0].startswith(f"{NO_MIRROR}/{name}.gz: ")
    assert failures[1].startswith(f"{wrong}/{name}.gz: ") and "SHA-256 mismatch" in failures[1]
    assert files_in(target) == []


def test_a_mirror_that_trickles_bytes_is_given_up_at_the_deadline(tmp_path):
    """A mirror sending one byte every 50 ms: the download stops at its deadline (1 s here) with a
    clear failure. Before, each read waited for a whole megabyte (a byte every 5 s kept `firstnet
    data` past 1,000 s against its 600 s)."""
    sent, stopped = [], threading.Event()

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            self.send_response(200)
            self.send_header("Content-Length", "100000000")
            self.end_headers()
            try:
                while not stopped.is_set():
                    self.wfile.write(b"\x1f" if not sent else b"\x00")
                    self.wfile.flush()
                    sent.append(time.monotonic())
                    time.sleep(0.05)
            except OSError:  # the client has gone
                pass

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mirror, result, target = f"http://127.0.0.1:{server.server_port}", [], tmp_path / "target"
    deadline = time.monotonic() + 1.0
    name = NAMES["train_labels"]
    worker = threading.Thread(
        target=lambda: result.append(download_file(name, None, (mirror,), target, None, deadline))
    )
    worker.start()
    worker.join(timeout=60)  # before: a megabyte at 20 bytes a second, 14 hours
    went_on = worker.is_alive()
    stopped.set()
    server.shutdown()
    assert not went_on, "the download went on past its deadline"
    assert len(result[0]) == 1 and "the downloads took over" in result[0][0], result
    assert sent and files_in(target) == []


def test_partial_mirror_keeps_only_verified_files_then_completes(tmp_path, cache):
    partial = make_mirror(
        tmp_path / "partial", {k: v for k, v in CONTENTS.items() if k != "test_images"}
    )
    with pytest.raises(DataNotFoundError) as info:
        load_dataset(cache=cache, mirrors=(partial,), checksums=CHECKSUMS)
    assert f"{NAMES['test_images']}.gz" in str(info.value)
    assert files_in(cache) == sorted(n for k, n in NAMES.items() if k != "test_images")
    for key in ("train_images", "train_labels", "test_labels"):
        assert (cache / NAMES[key]).read_bytes() == CONTENTS[key]

    # A later run fetches only the missing file (this mirror's train images would fail the
    # checksum).
    full = make_mirror(tmp_path / "full", replaced("train_images", b"unused"))
    data = load_dataset(cache=cache, mirrors=(full,), checksums=CHECKSUMS)
    assert_is_synthetic(data)


# --- Offline -------------------------------------------------------------------------------------


def test_offline_raises_data_not_found_with_what_to_do_and_leaves_cache_empty(tmp_path, cache):
    mirrors = ((tmp_path / "no-such-mirror").as_uri(), "file:///nonexistent/also-not-here")
    with pytest.raises(DataNotFoundError) as info:
        load_dataset(cache=cache, mirrors=mirrors, checksums=CHECKSUMS)
    err = info.value
    assert isinstance(err, FirstnetError)
    assert err.exit_code == 2
    message = str(err)
    assert "MNIST not found and could not be downloaded" in message
    for hint in ("data_dir=FOLDER", "FIRSTNET_DATA_DIR", "FIRSTNET_MIRRORS"):
        assert hint in message
    assert str(cache) in message  # where it looked
    assert mirrors[0] in message and mirrors[1] in message  # what failed
    assert files_in(cache) == []  # no file, no .part left behind


def test_offline_with_empty_data_dir_names_it(tmp_path, cache):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataNotFoundError) as info:
        load_dataset(empty, cache=cache, mirrors=(NO_MIRROR,), checksums=CHECKSUMS)
    assert str(empty) in str(info.value)
    assert files_in(empty) == [] and files_in(cache) == []


def test_cli_data_offline_exits_2_with_one_clear_message(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTNET_")}
    env |= {
        "FIRSTNET_MIRRORS": "file:///nonexistent",
        "XDG_CACHE_HOME": str(tmp_path / "xdg"),
        "HOME": str(tmp_path),
        "NO_COLOR": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "firstnet", "data", "--data-dir", str(empty)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("firstnet: error:") == 1
    assert result.stderr.lstrip().startswith("firstnet: error: MNIST not found")
    assert "--data-dir" in result.stderr and "FIRSTNET_MIRRORS" in result.stderr
    assert str(empty) in result.stderr
    assert files_in(tmp_path / "xdg" / "firstnet") == []
    assert not (tmp_path / "runs").exists()  # no sample grid written


# --- The real checksums --------------------------------------------------------------------------


def read_sums(path: Path) -> dict[str, str]:
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name.lstrip("*")] = digest
    return sums


@pytest.mark.skipif(
    not (SHARED_MNIST / "SHA256SUMS-raw").is_file(), reason="no team MNIST mirror on this machine"
)
def test_known_checksums_match_team_mirror():
    sums = read_sums(SHARED_MNIST / "SHA256SUMS-raw")
    assert sums == {name: sha for name, sha in MNIST_FILES.values()}


@pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-labels-idx1-ubyte.gz").is_file(), reason="no team MNIST mirror"
)
def test_real_test_labels_download_from_team_mirror(tmp_path):
    name, sha = MNIST_FILES["test_labels"]
    assert download_file(name, sha, (SHARED_MNIST.as_uri(),), tmp_path) == []
    labels = parse_idx((tmp_path / name).read_bytes(), name)
    assert labels.shape == (10000,)
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert sorted(set(labels.tolist())) == list(range(10))
