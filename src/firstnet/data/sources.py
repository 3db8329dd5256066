"""Where a data set comes from: a folder, the user cache, torchvision, Keras or Debian copies, then
mirrors. The sets and their checksums are in `firstnet.data.datasets`; this module serves them all
the same way.

Every file is checked twice before use: the SHA-256 of its decompressed bytes against the known
value, then its IDX structure. A download goes to a temporary file in the cache folder and is moved
into place only once verified, so the cache never holds a partial or wrong file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import time
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firstnet.atomic import atomic_write, open_regular, remove_stale
from firstnet.data.datasets import DATASETS, FILE_NAMES, DataSet, whose
from firstnet.data.idx import (
    CHUNK,
    GZIP,
    MAX_DOWNLOAD,
    MAX_INFLATED,
    check_images,
    check_labels,
    encode_idx,
    inflate,
    parse_idx,
    read_bytes,
    sha256,
)
from firstnet.errors import DataFormatError, DataNotFoundError

DOWNLOAD_SECONDS = 600.0  # for all four files together (the sizes: MAX_DOWNLOAD, MAX_INFLATED)
KERAS_KEYS = {
    "train_images": "x_train",
    "train_labels": "y_train",
    "test_images": "x_test",
    "test_labels": "y_test",
}

# (file name, bytes so far, total bytes or None)
ProgressFn = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class LabelledData:
    """A data set's training and test examples with their labels, as four arrays: for MNIST and
    the sets of its shape, validated images (N, 28, 28) uint8 in 0..255 and labels (N,) uint8 in
    0..9; for a toy set (`data.toy`), points (N, 2). `dataset` names the set, `classes` its class
    names. (`firstnet.data.MNIST` is its earlier name.)"""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    num_classes: int = 10
    dataset: str = "mnist"

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names of the set, by label."""
        return DATASETS[self.dataset].classes

    def subset(self, train: int | None = None, test: int | None = None) -> LabelledData:
        """The first `train` / `test` examples (for smoke runs), of the same class."""
        train_part = {
            "train_images": self.train_images[:train],
            "train_labels": self.train_labels[:train],
        }
        test_part = {"test_images": self.test_images[:test], "test_labels": self.test_labels[:test]}
        return dataclasses.replace(self, **train_part, **test_part)


def cache_dir() -> Path:
    """`$XDG_CACHE_HOME/firstnet`, default `~/.cache/firstnet`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "firstnet"


def mirrors_from_env(spec: DataSet) -> tuple[str, ...]:
    """`$PREFIX_MIRRORS` (comma-separated base URLs, file:// allowed), else the set's own."""
    value = os.environ.get(f"{spec.env}_MIRRORS", "")
    return tuple(m.strip() for m in value.split(",") if m.strip()) or spec.mirrors


def torchvision_roots() -> list[Path]:
    """Folders that commonly hold torchvision's `NAME/raw` (`FIRSTNET_TORCHVISION_ROOT` first)."""
    roots = (
        [Path(os.environ["FIRSTNET_TORCHVISION_ROOT"])]
        if os.environ.get("FIRSTNET_TORCHVISION_ROOT")
        else []
    )
    return roots + [Path("data"), Path.home() / "data"]


def build_set(
    contents: dict[str, bytes],
    names: dict[str, str],
    source: str,
    checksums: dict[str, str],
    spec: DataSet,
) -> LabelledData:
    """Verify checksums and structure of the four decompressed files; assemble a `LabelledData`."""
    arrays = {}
    for key, content in contents.items():
        digest = sha256(content)
        if key in checksums and digest != checksums[key]:
            other = whose(key, digest)
            why = (
                f"this is {other}'s file, not {spec.title}'s -- pass "
                f"dataset={other.lower()}, or put {spec.title}'s files there"
                if other
                else f"the file is corrupt or not {spec.title} -- delete it and run again to "
                "re-download"
            )
            raise DataFormatError(
                f"{names[key]}: SHA-256 mismatch (got {digest[:16]}..., expected "
                f"{checksums[key][:16]}...); {why}",
                ("dataset",),
            )
        arrays[key] = parse_idx(content, names[key])
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        check_images(images, names[f"{split}_images"])
        check_labels(labels, names[f"{split}_labels"])
        if len(images) != len(labels):
            raise DataFormatError(
                f"{names[f'{split}_labels']}: {len(labels)} labels for {len(images)} images "
                f"in {names[f'{split}_images']}"
            )
    return LabelledData(**arrays, source=source, dataset=spec.name)


def file_in(folder: Path, name: str) -> Path | None:
    """The file `name` in `folder`, raw or .gz (raw first), or None."""
    return next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)


def find_in_dir(folder: Path) -> dict[str, Path] | None:
    """Paths of the four files in `folder` (raw or .gz), or None if any is missing."""
    found = {key: file_in(folder, name) for key, name in FILE_NAMES.items()}
    return None if None in found.values() else found


def missing_in(folder: Path, spec: DataSet) -> str:
    """Why an explicitly named folder does not hold the set, and what to do."""
    if not folder.is_dir():
        what = "the folder does not exist"
    else:
        missing = [name for name in FILE_NAMES.values() if file_in(folder, name) is None]
        what = "it lacks " + ", ".join(f"{name}[.gz]" for name in missing)
    return (
        f"{spec.title} not found in {folder} (named by data_dir or {spec.env}_DATA_DIR): {what}. "
        f"Fix: put the four {spec.title} files there, or leave out data_dir (and "
        f"{spec.env}_DATA_DIR) to use the cache and the mirrors in {spec.env}_MIRRORS"
    )


def load_dir(folder: Path, checksums: dict[str, str], spec: DataSet) -> LabelledData | None:
    paths = find_in_dir(folder)
    if paths is None:
        return None
    contents = {key: read_bytes(path) for key, path in paths.items()}
    names = {k: str(p) for k, p in paths.items()}
    return build_set(contents, names, str(folder), checksums, spec)


def load_keras(path: Path, checksums: dict[str, str], spec: DataSet) -> LabelledData | None:
    if not path.is_file():
        return None
    # the .npz holds the four files, each at most MAX_INFLATED bytes once decompressed, as its zip
    # directory says before anything is inflated (and zipfile inflates no more than it says)
    with open_regular(path, 4 * MAX_INFLATED, DataFormatError) as handle:
        try:
            with np.load(handle, allow_pickle=False) as npz:
                sizes = {info.filename: info.file_size for info in npz.zip.infolist()}
                for k in KERAS_KEYS.values():
                    if sizes.get(f"{k}.npy", 0) > MAX_INFLATED:
                        raise DataFormatError(
                            f"{path}: {k} decompresses to over {MAX_INFLATED:,} bytes: not a data "
                            "set file"
                        )
                arrays = {key: np.asarray(npz[k], dtype=np.uint8) for key, k in KERAS_KEYS.items()}
        except (OSError, ValueError, KeyError, MemoryError, zipfile.BadZipFile) as err:
            raise DataFormatError(f"{path}: not a readable Keras MNIST file ({err})") from err
    # Re-encoding as IDX gives the canonical bytes, so the same checksums apply.
    contents = {key: encode_idx(a) for key, a in arrays.items()}
    names = {k: f"{path}[{KERAS_KEYS[k]}]" for k in contents}
    return build_set(contents, names, str(path), checksums, spec)


class DownloadFailed(Exception):  # noqa: N818 - a failure of one mirror, not of the program
    """One mirror did not deliver a file (unreachable, too large, too slow, wrong bytes); the next
    mirror is tried. A failure to write the cache is a StorageError instead, and stops at once."""


def download_file(
    name: str,
    expected_sha: str | None,
    mirrors: tuple[str, ...],
    target_dir: Path,
    progress: ProgressFn | None = None,
    deadline: float | None = None,
) -> list[str]:
    """Fetch `name`.gz from the first mirror that serves verified bytes into `target_dir`/`name`,
    by `deadline` (a time.monotonic() value; default DOWNLOAD_SECONDS from now).

    Returns the list of failures (empty on success). Nothing but the finished file is left behind.
    """
    deadline = deadline or time.monotonic() + DOWNLOAD_SECONDS
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + f"/{name}.gz"
        writer = verified_download(url, name, expected_sha, progress, deadline)
        try:
            atomic_write(target_dir / name, writer)
            return []
        except DownloadFailed as err:
            failures.append(f"{url}: {err}")
    return failures


def verified_download(
    url: str, name: str, expected_sha: str | None, progress: ProgressFn | None, deadline: float
) -> Callable[[Path], None]:
    """A writer for `atomic_write`: streams `url` (gzip or raw) into the file, decompressing and
    hashing as it goes, within MAX_DOWNLOAD, MAX_INFLATED and `deadline`; DownloadFailed if not."""

    def fetch(response, size: int) -> bytes:
        if time.monotonic() > deadline:
            raise DownloadFailed(f"the downloads took over {DOWNLOAD_SECONDS:.0f} s")
        try:  # what has arrived, up to `size`: a mirror that trickles meets the deadline
            return response.read1(size)
        except (OSError, ValueError, http.client.HTTPException) as err:
            raise DownloadFailed(str(getattr(err, "reason", None) or err)) from err

    def write(tmp: Path) -> None:
        try:
            # each wait for bytes ends within 30 s, and not after the deadline
            wait = min(30.0, max(1.0, deadline - time.monotonic()))
            response = urllib.request.urlopen(url, timeout=wait)
        except (OSError, ValueError, http.client.HTTPException) as err:
            raise DownloadFailed(str(getattr(err, "reason", None) or err)) from err
        digest, sent, inflated = hashlib.sha256(), 0, 0
        total = response.headers.get("Content-Length")
        with response, tmp.open("wb") as out:
            first = fetch(response, CHUNK)
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS) if first[:2] == GZIP else None
            chunk = first
            while chunk:
                sent += len(chunk)
                if sent > MAX_DOWNLOAD:
                    raise DownloadFailed(f"over {MAX_DOWNLOAD:,} bytes: not a data set file")
                for data in mirror_inflate(decompressor, chunk, url):
                    inflated += len(data)
                    if inflated > MAX_INFLATED:
                        limit = f"{MAX_INFLATED:,} bytes"
                        raise DownloadFailed(f"decompresses to over {limit}: not a data set file")
                    digest.update(data)
                    out.write(data)
                if progress:
                    progress(name, sent, int(total) if total and total.isdigit() else None)
                chunk = fetch(response, CHUNK)
        if decompressor is not None and not decompressor.eof:
            raise DownloadFailed("the gzip data ends early (a truncated download)")
        if expected_sha and digest.hexdigest() != expected_sha:
            raise DownloadFailed("SHA-256 mismatch")

    return write


def mirror_inflate(decompressor, chunk: bytes, url: str) -> Iterator[bytes]:
    """`idx.inflate` for a download: corrupt data is this mirror's failure."""
    try:
        yield from inflate(decompressor, chunk, url)
    except DataFormatError as err:
        raise DownloadFailed(str(err).removeprefix(f"{url}: ")) from err


def set_aside(folder: Path, checksums: dict[str, str]) -> list[Path]:
    """Rename the files of `folder` that are unreadable or fail their checksum to NAME.corrupt, so
    that they are fetched again; returns the new names."""
    moved = []
    for key, path in (find_in_dir(folder) or {}).items():
        try:
            good = key not in checksums or sha256(read_bytes(path)) == checksums[key]
        except DataFormatError:
            good = False
        if not good:
            aside = path.with_name(path.name + ".corrupt")
            path.replace(aside)
            moved.append(aside)
    return moved


def load_dataset(
    data_dir: str | Path | None = None,
    *,
    dataset: str = "mnist",
    cache: Path | None = None,
    mirrors: tuple[str, ...] | None = None,
    checksums: dict[str, str] | None = None,
    progress: ProgressFn | None = None,
) -> LabelledData:
    """Load `dataset` (a key of DATASETS) from the first source that has it; see the module
    docstring for the order.

    `data_dir` defaults to `$PREFIX_DATA_DIR` (FIRSTNET_DATA_DIR for MNIST,
    FIRSTNET_FASHION_MNIST_DATA_DIR, ...); `mirrors` to `$PREFIX_MIRRORS` or the set's own.
    Raises `DataNotFoundError` (with what to do) if no source has it, `DataFormatError` if a file is
    bad.
    """
    spec = DATASETS[dataset]
    checksums = dict(spec.checksums) if checksums is None else checksums
    data_dir = data_dir or os.environ.get(f"{spec.env}_DATA_DIR")
    cache = (Path(cache) if cache else cache_dir()) / spec.cache_subdir
    if data_dir:  # a folder the user named: it must hold the set, no quiet fallback to the cache
        for folder in (Path(data_dir), Path(data_dir) / spec.torchvision / "raw"):
            if (found := load_dir(folder, checksums, spec)) is not None:
                return found
        raise DataNotFoundError(missing_in(Path(data_dir), spec), ("data_dir",))
    folders = [cache] + [root / spec.torchvision / "raw" for root in torchvision_roots()]
    for folder in folders + list(spec.local):
        try:
            found = load_dir(folder, checksums, spec)
        except DataFormatError:
            # a cache file damaged since it was verified: set it aside and fetch it again, once
            if folder != cache or not set_aside(cache, checksums):
                raise
            found = None
        if found is not None:
            return found
    kerases = [Path.home() / ".keras" / "datasets" / spec.keras_npz] if spec.keras_npz else []
    for keras in kerases:
        if (found := load_keras(keras, checksums, spec)) is not None:
            return found
    mirrors = mirrors or mirrors_from_env(spec)
    failures, deadline = [], time.monotonic() + DOWNLOAD_SECONDS
    if cache.is_dir():  # temporary files of a download that was killed, not of one running now
        remove_stale(cache, older_than_s=3600)
    for key, name in FILE_NAMES.items():
        if not (cache / name).is_file():
            failures += download_file(name, checksums.get(key), mirrors, cache, progress, deadline)
    if failures:
        looked = ", ".join(str(f) for f in folders + list(spec.local) + kerases)
        raise DataNotFoundError(
            f"{spec.title} not found and could not be downloaded.\n"
            f"  Looked in: {looked}\n  Download failed: "
            + "\n                   ".join(failures[:4])
            + "\n"
            f"  Fix: connect to the internet and run again; or put the four {spec.title} files "
            "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz], "
            "t10k-labels-idx1-ubyte[.gz]) in a folder and pass data_dir=FOLDER (or set "
            f"{spec.env}_DATA_DIR); "
            f"or set {spec.env}_MIRRORS to reachable base URLs (file:// allowed).",
            ("data_dir",),
        )
    return load_dir(cache, checksums, spec)


def data_summary(data: LabelledData) -> dict:
    """The lecture's questions about the data set, answered from the arrays."""
    pixels = data.train_images.astype(np.float32) / 255
    return {
        "dataset": data.dataset,
        "classes": list(data.classes),
        "dimension": int(np.prod(data.train_images.shape[1:])),
        "num_classes": data.num_classes,
        "train_size": len(data.train_labels),
        "test_size": len(data.test_labels),
        "train_class_counts": np.bincount(data.train_labels, minlength=10).tolist(),
        "test_class_counts": np.bincount(data.test_labels, minlength=10).tolist(),
        "pixel_mean": float(pixels.mean()),
        "pixel_std": float(pixels.std()),
    }
