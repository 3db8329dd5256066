"""Where MNIST comes from: a folder, the user cache, torchvision or Keras downloads, then mirrors.

Every file is checked twice before use: the SHA-256 of its decompressed bytes against the known
value, then its IDX structure. A download goes to a temporary file in the cache folder and is moved
into place only once verified, so the cache never holds a partial or wrong file.
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firstnet.atomic import atomic_write
from firstnet.data.idx import check_images, check_labels, encode_idx, parse_idx, read_bytes, sha256
from firstnet.errors import DataFormatError, DataNotFoundError

# SHA-256 of the *decompressed* IDX files (mirrors differ in their gzip wrappers, not in these
# bytes).
MNIST_FILES = {
    "train_images": (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train_labels": (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "test_images": (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "test_labels": (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}
# The mirrors torchvision uses.
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
KERAS_KEYS = {
    "train_images": "x_train",
    "train_labels": "y_train",
    "test_images": "x_test",
    "test_labels": "y_test",
}

# (file name, bytes so far, total bytes or None)
ProgressFn = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class MNIST:
    """The four arrays, validated: images (N, 28, 28) uint8 in 0..255, labels (N,) uint8 in 0..9."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    num_classes: int = 10

    def subset(self, train: int | None = None, test: int | None = None) -> MNIST:
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


def mirrors_from_env() -> tuple[str, ...]:
    value = os.environ.get("FIRSTNET_MIRRORS", "")
    return tuple(m.strip() for m in value.split(",") if m.strip()) or DEFAULT_MIRRORS


def torchvision_roots() -> list[Path]:
    """Folders that commonly hold torchvision's `MNIST/raw` (`FIRSTNET_TORCHVISION_ROOT` first)."""
    roots = (
        [Path(os.environ["FIRSTNET_TORCHVISION_ROOT"])]
        if os.environ.get("FIRSTNET_TORCHVISION_ROOT")
        else []
    )
    return roots + [Path("data"), Path.home() / "data"]


def build_mnist(
    contents: dict[str, bytes], names: dict[str, str], source: str, checksums: dict[str, str]
) -> MNIST:
    """Verify checksums and structure of the four decompressed files and assemble an `MNIST`."""
    arrays = {}
    for key, content in contents.items():
        digest = sha256(content)
        if key in checksums and digest != checksums[key]:
            raise DataFormatError(
                f"{names[key]}: SHA-256 mismatch (got {digest[:16]}..., expected "
                f"{checksums[key][:16]}...); "
                "the file is corrupt or not MNIST -- delete it and run again to re-download"
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
    return MNIST(**arrays, source=source)


def find_in_dir(folder: Path) -> dict[str, Path] | None:
    """Paths of the four files in `folder` (raw or .gz), or None if any is missing."""
    found = {}
    for key, (name, _) in MNIST_FILES.items():
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def load_dir(folder: Path, checksums: dict[str, str]) -> MNIST | None:
    paths = find_in_dir(folder)
    if paths is None:
        return None
    contents = {key: read_bytes(path) for key, path in paths.items()}
    return build_mnist(contents, {k: str(p) for k, p in paths.items()}, str(folder), checksums)


def load_keras(path: Path, checksums: dict[str, str]) -> MNIST | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: np.asarray(npz[k], dtype=np.uint8) for key, k in KERAS_KEYS.items()}
    except (OSError, ValueError, KeyError) as err:
        raise DataFormatError(f"{path}: not a readable Keras MNIST file ({err})") from err
    # Re-encoding as IDX gives the canonical bytes, so the same checksums apply.
    contents = {key: encode_idx(a) for key, a in arrays.items()}
    return build_mnist(
        contents, {k: f"{path}[{KERAS_KEYS[k]}]" for k in contents}, str(path), checksums
    )


def download_file(
    name: str,
    expected_sha: str | None,
    mirrors: tuple[str, ...],
    target_dir: Path,
    progress: ProgressFn | None = None,
) -> list[str]:
    """Fetch `name`.gz from the first mirror that serves verified bytes into `target_dir`/`name`.

    Returns the list of failures (empty on success). Nothing but the finished file is left behind.
    """
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + f"/{name}.gz"
        try:
            atomic_write(target_dir / name, verified_download(url, name, expected_sha, progress))
            return []
        except (OSError, ValueError, http.client.HTTPException, DataFormatError) as err:
            failures.append(f"{url}: {getattr(err, 'reason', None) or err}")
    return failures


def verified_download(
    url: str, name: str, expected_sha: str | None, progress: ProgressFn | None
) -> Callable[[Path], None]:
    """A writer for `atomic_write`: streams `url` into the file, decompresses it, checks its
    SHA-256."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            total = response.headers.get("Content-Length")
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(name, done, int(total) if total else None)
        content = read_bytes(tmp)
        if expected_sha and sha256(content) != expected_sha:
            raise DataFormatError("SHA-256 mismatch")
        tmp.write_bytes(content)

    return write


def load_mnist(
    data_dir: str | Path | None = None,
    *,
    cache: Path | None = None,
    mirrors: tuple[str, ...] | None = None,
    checksums: dict[str, str] | None = None,
    progress: ProgressFn | None = None,
) -> MNIST:
    """Load MNIST from the first source that has it; see the module docstring for the order.

    `data_dir` defaults to `$FIRSTNET_DATA_DIR`; `mirrors` to `$FIRSTNET_MIRRORS` or torchvision's.
    Raises `DataNotFoundError` (with what to do) if no source has it, `DataFormatError` if a file is
    bad.
    """
    checksums = {k: sha for k, (_, sha) in MNIST_FILES.items()} if checksums is None else checksums
    data_dir = data_dir or os.environ.get("FIRSTNET_DATA_DIR")
    cache = cache or cache_dir()
    folders = [Path(data_dir), Path(data_dir) / "MNIST" / "raw"] if data_dir else []
    folders += [cache] + [root / "MNIST" / "raw" for root in torchvision_roots()]
    for folder in folders:
        if (found := load_dir(folder, checksums)) is not None:
            return found
    keras = Path.home() / ".keras" / "datasets" / "mnist.npz"
    if (found := load_keras(keras, checksums)) is not None:
        return found
    mirrors = mirrors or mirrors_from_env()
    failures = []
    for key, (name, _) in MNIST_FILES.items():
        if not (cache / name).is_file():
            failures += download_file(name, checksums.get(key), mirrors, cache, progress)
    if failures:
        looked = ", ".join(str(f) for f in folders + [keras])
        raise DataNotFoundError(
            "MNIST not found and could not be downloaded.\n"
            f"  Looked in: {looked}\n  Download failed: "
            + "\n                   ".join(failures[:4])
            + "\n"
            "  Fix: connect to the internet and run again; or put the four MNIST files "
            "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz], "
            "t10k-labels-idx1-ubyte[.gz]) in a folder and pass --data-dir FOLDER (or set "
            "FIRSTNET_DATA_DIR); "
            "or set FIRSTNET_MIRRORS to reachable base URLs (file:// allowed)."
        )
    return load_dir(cache, checksums)


def data_summary(data: MNIST) -> dict:
    """The lecture's questions about the data set, answered from the arrays."""
    pixels = data.train_images.astype(np.float32) / 255
    return {
        "dimension": int(np.prod(data.train_images.shape[1:])),
        "num_classes": data.num_classes,
        "train_size": len(data.train_labels),
        "test_size": len(data.test_labels),
        "train_class_counts": np.bincount(data.train_labels, minlength=10).tolist(),
        "test_class_counts": np.bincount(data.test_labels, minlength=10).tolist(),
        "pixel_mean": float(pixels.mean()),
        "pixel_std": float(pixels.std()),
    }
