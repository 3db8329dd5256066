"""The typed training configuration, every named recipe, and the shapes of MNIST.

Every TrainConfig field is a CLI option of `firstnet train` with its help text. Torch-free, so the
NumPy MLP of `firstnet.scratch` and the command line's --help use it without loading torch.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field, fields

from firstnet.activations import ACTIVATIONS
from firstnet.data.datasets import DATASET_HELP, DATASETS
from firstnet.errors import ConfigError

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # of the training pixels on [0, 1]
INPUT_DIM, NUM_CLASSES = 28 * 28, 10

MODELS = ("linear", "mlp", "cnn")
# The TrainConfig fields that shape one kind of model only: given for another, they are refused.
MODEL_FIELDS = {"hidden": ("mlp",), "depth": ("mlp",), "init": ("mlp",),
                "activation": ("mlp", "cnn"), "channels": ("cnn",)}  # fmt: skip
INITS = ("kaiming", "xavier", "default")
OPTIMIZERS = ("sgd", "adam", "adamw", "muon")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")

# Per-model recipes: TrainConfig fields left unset (None) take these values. Chosen by measurement
# (README, docs/usage.md, benchmarks/README.md), one column per model of MODELS. 2-core AMD EPYC
# with AVX-512 BF16, 5 seeds each: the CNN 99.58 +- 0.02% (min 99.55%) in 10.0 s with Muon and 1.5
# epochs (the speed ladder, benchmarks/ladder.py; with SGD, 2 epochs: 12.4 s, and 1.5 epochs fall to
# a minimum of 99.46%); the MLP 98.63 +- 0.06% in 1.8 s (its recipe before, batch 128, peak 0.2,
# 5 epochs: 98.63% in 2.9 s in bf16, 98.58% in 4.3 s in fp32).
# fmt: off
RECIPES = {            # linear    mlp         cnn
    "epochs":          (5,        6,          1.5),         # the CNN's last epoch cut in half
    "batch_size":      (128,      256,        256),
    "optimizer":       ("sgd",    "sgd",      "muon"),      # Muon: firstnet.muon
    "lr":              (0.05,     0.3,        0.2),         # the peak of the schedule
    "schedule":        ("cosine", "onecycle", "onecycle"),
    "weight_decay":    (0.0,      5e-4,       5e-4),
    "label_smoothing": (0.0,      0.1,        0.1),
    "precision":       ("fp32",   "auto",     "auto"),      # auto: bf16 where it is native
    "augment":         (0,        0,          2),           # random shifts of up to 2 pixels
    "tta":             (False,    False,      True),        # test-time augmentation at the end
}
# fmt: on
MODEL_DEFAULTS = {
    model: {field: values[column] for field, values in RECIPES.items()}
    for column, model in enumerate(MODELS)
}
# Where a data set needs other values than MNIST's recipe (fields left unset take these first).
# Measured in docs/datasets.md: on Fashion-MNIST the CNN's 3 epochs stop at 91.6%; with 1-pixel
# shifts (objects are centred and upright; 2-pixel shifts help less), SGD's 10 epochs give
# 93.48 +- 0.06% (5 seeds, 56.4 s) and Muon's 7 93.65 +- 0.10% (min 93.54%, 41.6 s; 5: 93.15%).
# The MLP's peak rate of 0.3 diverges on Fashion-MNIST (its pixels are brighter than MNIST's, whose
# mean and std normalise every set): 0.2 there gives 89.1% (3 seeds, 2.0 s); KMNIST (not reachable
# offline, unmeasured) takes the same safe value.
DATASET_RECIPES = {
    "fashion-mnist": {"cnn": {"epochs": 7, "augment": 1}, "mlp": {"lr": 0.2}},
    "kmnist": {"mlp": {"lr": 0.2}},
}
# Where a device needs other values (`--device cuda`, or auto on a machine with a CUDA GPU): a GPU
# runs these small models far below its arithmetic limit, so fewer and larger steps cost less time
# per image (each step a CUDA graph, see firstnet.static_step). Measured on an H200 over 5 seeds
# (benchmarks/README.md, GPU): CNN 99.61 +- 0.03% in 0.50 s, MLP 98.58 +- 0.05% in 0.24 s.
# SGD there: the CUDA graph of a step captures SGD only, and Muon was not measured on a GPU.
DEVICE_RECIPES = {
    "cuda": {"cnn": {"batch_size": 500, "lr": 0.4, "epochs": 4, "optimizer": "sgd"}},
}  # the MLP's own recipe is the GPU's too

# `firstnet plot boundary`: full-batch gradient descent with momentum on a 2-D toy set (batch_size
# None: the caller sets it to the whole training set). Measured on 2-class spirals (see
# docs/figures.md).
# fmt: off
TOY_RECIPE = {
    "batch_size": None, "optimizer": "sgd", "lr": 0.3, "momentum": 0.9, "schedule": "constant",
    "weight_decay": 0.0, "label_smoothing": 0.0, "precision": "fp32", "augment": 0, "tta": False,
    "device": "cpu",
}
# fmt: on
# The MLP recipe before 2026-11-26 (batch 128, peak 0.2, fp32): the experiments of
# docs/experiments.md were measured with it and keep it, so their numbers stay reproducible.
EXPERIMENT_MLP = {"batch_size": 128, "lr": 0.2, "precision": "fp32"}
# `firstnet experiment no-activation`: one recipe for the linear model and both MLPs, the linear
# model's (SGD with Nesterov momentum, lr 0.05, cosine, no weight decay, no label smoothing). The
# MLP's own recipe (lr 0.2, weight decay, label smoothing) diverges with the identity, and its
# weight decay on three matrices would regularise the identity MLP unlike the linear model.
NO_ACTIVATION_RECIPE = {
    key: MODEL_DEFAULTS["linear"][key]
    for key in ("batch_size", "lr", "schedule", "weight_decay", "label_smoothing", "precision")
}
# `firstnet experiment universal`, memorising shuffled labels: Adam at a small rate (the SGD
# recipe's label smoothing and weight decay would fight the memorisation), cosine schedule, small
# batches, 2 hidden layers.
MEMORISE_RECIPE = {
    "model": "mlp",
    "depth": 2,
    "optimizer": "adam",
    "schedule": "cosine",
    "batch_size": 64,
    "weight_decay": 0.0,
    "label_smoothing": 0.0,
    "precision": "fp32",
}


def opt(default, help_text: str, choices=None):
    return field(default=default, metadata={"help": help_text, "choices": choices})


@dataclass
class TrainConfig:
    dataset: str = opt("mnist", DATASET_HELP, tuple(DATASETS))
    model: str = opt("mlp", "model to train", MODELS)
    hidden: int = opt(256, "MLP: units per hidden layer (H)")
    depth: int = opt(2, "MLP: number of hidden layers (the lecture's network has 2)")
    activation: str = opt("relu", "MLP and CNN: activation function", tuple(ACTIVATIONS))
    init: str = opt("kaiming", "MLP: weight initialisation", INITS)
    channels: int = opt(16, "CNN: channels of the first stage (the next two have 2x and 4x)")
    epochs: float | None = opt(
        None, "passes over the training set; a fraction trains part of the last (1.5)"
    )
    batch_size: int | None = opt(None, "examples per gradient step")
    optimizer: str | None = opt(
        None,
        "sgd (with --momentum, --nesterov), adam, adamw, or muon (Muon on the hidden weights, "
        "SGD on the rest)",
        OPTIMIZERS,
    )
    lr: float | None = opt(None, "peak learning rate")
    momentum: float = opt(0.9, "SGD momentum (0 = plain gradient descent)")
    nesterov: bool = opt(True, "SGD: Nesterov momentum")
    weight_decay: float | None = opt(None, "L2 weight decay")
    schedule: str | None = opt(None, "learning-rate schedule", SCHEDULES)
    warmup: float = opt(0.25, "onecycle: fraction of steps spent rising to the peak learning rate")
    step_every: int = opt(2, "step schedule: epochs between learning-rate drops")
    gamma: float = opt(0.5, "step schedule: factor of each drop")
    label_smoothing: float | None = opt(None, "cross-entropy label smoothing")
    precision: str | None = opt(
        None,
        "fp32, bf16 autocast (CPUs with AVX-512/AMX, GPUs), fp16 (CUDA), or auto: "
        "bf16 where the CPU or GPU supports it, else fp32",
        PRECISIONS,
    )
    augment: int | None = opt(
        None, "random translation of training images by up to N pixels (0 = off)"
    )
    tta: bool | None = opt(
        None, "test-time augmentation: average the prediction over 1-pixel shifts"
    )
    compile: bool = opt(
        False, "torch.compile the model (worth it on a GPU; slow to start on a CPU)"
    )
    graph: bool | None = opt(
        None,
        "capture the training step as a CUDA graph (full batches only; SGD); default: on CUDA "
        "for SGD without --compile. On a CPU it runs the same step uncaptured",
    )
    seed: int = opt(0, "random seed: initial weights and batch order")
    device: str = opt("auto", "auto picks cuda, else mps (Apple GPUs), when available", DEVICES)
    train_limit: int | None = opt(
        None, "use only the first N training images, for smoke runs (default: all)"
    )
    test_limit: int | None = opt(None, "use only the first N test images (default: all)")

    def __post_init__(self) -> None:
        check_types(self)
        for f in fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value is not None and value not in choices:
                nearest = difflib.get_close_matches(str(value), choices, n=1)
                hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
                message = f"{f.name}: {value!r} is not one of {', '.join(choices)}{hint}"
                raise ConfigError(message, (f.name,))
        own = DATASET_RECIPES.get(self.dataset, {}).get(self.model, {})
        own = own | DEVICE_RECIPES.get(self.device, {}).get(self.model, {})
        for name, value in (MODEL_DEFAULTS[self.model] | own).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if isinstance(self.epochs, float) and self.epochs.is_integer():
            self.epochs = int(self.epochs)  # --epochs 2 reads as 2.0
        positive = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "hidden": self.hidden,
            "channels": self.channels,
            "step_every": self.step_every,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}", (name,))
        if self.depth < 0 or not 0 <= self.augment <= 8:
            raise ConfigError(
                f"depth must be >= 0 and augment in 0..8, got {self.depth} and {self.augment}",
                ("depth", "augment"),
            )
        if not 0 <= self.warmup < 1 or not 0 <= self.label_smoothing < 1:
            message = "warmup and label_smoothing must lie in [0, 1)"
            raise ConfigError(message, ("warmup", "label_smoothing"))
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}", (name,))
        check_size(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        return from_values(cls, values)


def from_values(cls, values: dict):
    """The dataclass `cls` made from `values`: a name it does not know is a ConfigError that
    guesses the one meant (a config file's, the lab's settings)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        guesses = [difflib.get_close_matches(name, known, n=1, cutoff=0.6) for name in unknown]
        meant = [f"{name} (did you mean {guess[0]}?)" if guess else name
                 for name, guess in zip(unknown, guesses, strict=True)]  # fmt: skip
        raise ConfigError(f"unknown config fields: {', '.join(meant)}")
    return cls(**values)


def check_model_fields(cfg: TrainConfig, given) -> None:
    """A field of MODEL_FIELDS among the names `given` that shapes another kind of model than
    `cfg.model` (hidden for the linear model) is a ConfigError naming it."""
    for name in given:
        if name in MODEL_FIELDS and cfg.model not in MODEL_FIELDS[name]:
            users = " and ".join(MODEL_FIELDS[name])
            message = f"{name} does not apply to the {cfg.model} model (only to: {users})"
            raise ConfigError(message, (name,))


# Upper bounds, checked before a model is built: a config.json may come from anywhere.
LIMITS = {
    "hidden": 16_384,
    "depth": 64,
    "channels": 256,
    "epochs": 100_000,
    "batch_size": 1_000_000,
}
MAX_PARAMETERS = 100_000_000  # 400 MB of float32 weights
TYPE_CHECKS = {
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float": lambda value: (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ),
    "bool": lambda value: isinstance(value, bool),
    "str": lambda value: isinstance(value, str),
}


def check_types(cfg: TrainConfig) -> None:
    """Every field holds a value of its declared type (None only where the field allows it)."""
    for f in fields(cfg):
        value, kind = getattr(cfg, f.name), str(f.type)
        if value is None and kind.endswith("| None"):
            continue
        base = kind.removesuffix(" | None")
        if not TYPE_CHECKS[base](value):
            article = "an" if base == "int" else "a"
            raise ConfigError(f"{f.name}: expected {article} {base}, got {value!r}", (f.name,))


def check_size(cfg: TrainConfig) -> None:
    """The size fields lie under LIMITS, and the MLP under MAX_PARAMETERS."""
    for name, limit in LIMITS.items():
        if getattr(cfg, name) > limit:
            message = f"{name} is at most {limit:,}, got {getattr(cfg, name):,}"
            raise ConfigError(message, (name,))
    hidden = cfg.hidden
    layers = INPUT_DIM * hidden + hidden + (cfg.depth - 1) * (hidden * hidden + hidden)
    if (
        cfg.model == "mlp"
        and cfg.depth > 0
        and layers + NUM_CLASSES * (hidden + 1) > MAX_PARAMETERS
    ):
        raise ConfigError(
            f"an MLP of {cfg.depth} layers of {hidden} units has over {MAX_PARAMETERS:,} "
            "parameters; use a smaller hidden or depth",
            ("hidden", "depth"),
        )
