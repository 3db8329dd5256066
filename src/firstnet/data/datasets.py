"""The data sets firstnet reads: MNIST and two harder sets of the same shape (28x28 grey images, 10
classes, the same four IDX file names). One entry per set; the loader in `sources` knows no names.

Checksums are SHA-256 of the *decompressed* IDX files: mirrors and packagers re-compress (Debian's
Fashion-MNIST .gz files differ from Zalando's), the bytes inside do not. KMNIST has no pinned
checksums yet: no copy of it was reachable when this table was written, so its files are checked
for structure only (IDX header, shapes, labels 0..9) until someone pins them from a verified copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# split -> the IDX file's name, the same in every set
FILE_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DIGITS = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class DataSet:
    """Where one data set comes from and what its classes are called."""

    name: str  # the value of --dataset
    title: str  # as printed: "Fashion-MNIST"
    classes: tuple[str, ...]
    checksums: dict[str, str]  # split -> SHA-256 of the decompressed file (empty: not pinned)
    mirrors: tuple[str, ...]  # https base URLs, tried in order
    env: str  # prefix of the environment variables PREFIX_DATA_DIR and PREFIX_MIRRORS
    cache_subdir: str  # under ~/.cache/firstnet ("" for MNIST, as before there were others)
    torchvision: str  # torchvision's folder name under its root (ROOT/NAME/raw)
    local: tuple[Path, ...] = ()  # folders that packages install it into
    keras_npz: str | None = None  # ~/.keras/datasets/NAME, if Keras keeps it as one .npz

    @property
    def digits(self) -> bool:
        """Whether the classes are the digits 0..9 (drawn on the page; other sets are uploaded)."""
        return self.classes == DIGITS


DATASETS = {
    "mnist": DataSet(
        name="mnist",
        title="MNIST",
        classes=DIGITS,
        checksums={
            "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        # torchvision's, then TensorFlow's
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        env="FIRSTNET",
        cache_subdir="",
        torchvision="MNIST",
        keras_npz="mnist.npz",
    ),
    # Zalando Research, MIT licence: github.com/zalandoresearch/fashion-mnist
    "fashion-mnist": DataSet(
        name="fashion-mnist",
        title="Fashion-MNIST",
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        checksums={
            "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        # Keras's copy, then the project's own repository
        mirrors=(
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        env="FIRSTNET_FASHION_MNIST",
        cache_subdir="fashion-mnist",
        torchvision="FashionMNIST",
        # Debian's package dataset-fashion-mnist; Keras's download folder
        local=(
            Path("/usr/share/datasets/fashion-mnist"),
            Path.home() / ".keras" / "datasets" / "fashion-mnist",
        ),
    ),
    # Clanuwat et al. 2018, "Deep Learning for Classical Japanese Literature", CC BY-SA 4.0:
    # ten hiragana, one per row of the syllabary (romanised here).
    "kmnist": DataSet(
        name="kmnist",
        title="KMNIST",
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        checksums={},
        mirrors=("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        env="FIRSTNET_KMNIST",
        cache_subdir="kmnist",
        torchvision="KMNIST",
    ),
}
DATASET_HELP = "data set: " + ", ".join(DATASETS) + " (all 28x28 grey images in 10 classes)"


def whose(split: str, digest: str) -> str | None:
    """The title of the data set whose `split` file has SHA-256 `digest`, if any."""
    for spec in DATASETS.values():
        if spec.checksums.get(split) == digest:
            return spec.title
    return None
