"""The lecture's models. Each takes images in [0, 1], shape (B, 1, 28, 28) or (B, 784), returns
logits (B, 10).

Normalisation by the MNIST mean and std happens inside the model, so a checkpoint carries everything
needed to classify a raw image and callers never repeat the constants. The linear model and the MLP
also take other inputs (`inputs`, `classes`, `mean`, `std`): the 2-D toy data sets of `firstnet plot
boundary`.
"""

from __future__ import annotations

import torch
from torch import nn

from firstnet.activations import get_activation
from firstnet.config import INITS, INPUT_DIM, MNIST_MEAN, MNIST_STD, NUM_CLASSES
from firstnet.errors import ConfigError


class Linear(nn.Module):
    """Softmax regression: logits = W x + b, W of shape (10, 784)."""

    def __init__(self, inputs=INPUT_DIM, classes=NUM_CLASSES, mean=MNIST_MEAN, std=MNIST_STD):
        super().__init__()
        self.mean, self.std = mean, std
        self.out = nn.Linear(inputs, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.flatten(1) - self.mean) / self.std  # (B, 784)
        return self.out(x)  # (B, 10)


class MLP(nn.Module):
    """784 -> H -> ... -> H -> 10 with `depth` hidden layers (the lecture's network: depth 2,
    ReLU)."""

    def __init__(
        self,
        hidden: int = 256,
        depth: int = 2,
        activation: str = "relu",
        init: str = "kaiming",
        inputs: int = INPUT_DIM,
        classes: int = NUM_CLASSES,
        mean: float = MNIST_MEAN,
        std: float = MNIST_STD,
    ) -> None:
        super().__init__()
        self.mean, self.std = mean, std
        widths = [inputs] + [hidden] * depth
        self.hidden = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        act = get_activation(activation)
        self.acts = nn.ModuleList(act.module() for _ in range(depth))
        self.out = nn.Linear(widths[-1], classes)
        initialise(self, act.kaiming_nonlinearity, init)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(images)[-1])  # (B, 10)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The activations of every hidden layer, each (B, H); the input layer when depth is 0."""
        x = (images.flatten(1) - self.mean) / self.std  # (B, 784)
        outputs = [x]
        for layer, act in zip(self.hidden, self.acts, strict=True):
            x = act(layer(x))
            outputs.append(x)
        return outputs[1:] or outputs


def initialise(model: MLP, nonlinearity: str, init: str) -> None:
    """Kaiming (He) or Xavier normal weights with the gain of the activation (`nonlinearity`, as
    `torch.nn.init.calculate_gain` names it), zero biases.

    The output layer, followed by softmax rather than the activation, gets gain 1. "default" keeps
    PyTorch's own scheme (uniform, scaled by 1/sqrt(fan_in)).
    """
    if init not in INITS:
        raise ConfigError(f"unknown init {init!r}; choose from {', '.join(INITS)}")
    if init == "default":
        return
    gain = nn.init.calculate_gain(nonlinearity, 0.01)
    for layer in [*model.hidden, model.out]:
        layer_gain = gain if layer is not model.out else 1.0
        if init == "kaiming":
            nn.init.normal_(layer.weight, std=layer_gain / layer.in_features**0.5)
        else:
            nn.init.xavier_normal_(layer.weight, gain=layer_gain)
        nn.init.zeros_(layer.bias)


class CNN(nn.Module):
    """A small all-3x3 convolutional network for time-to-accuracy on a CPU.

    Three stages at 28 -> 14 -> 7 -> 3 pixels with `channels`, 2x and 4x channels; each conv is
    followed by batch norm and the activation, and the max-pool comes *before* batch norm and the
    activation where a stage ends: pooling commutes with the monotone ReLU, and on a CPU the
    element-wise layers cost more than the convolutions, so running them on 4x fewer pixels is the
    single largest saving.
    """

    memory_format = torch.channels_last  # oneDNN and cuDNN run NHWC convolutions faster than NCHW

    def __init__(self, channels: int = 16, activation: str = "relu") -> None:
        super().__init__()
        c = channels
        plan = [
            (1, c, True),
            (c, 2 * c, False),
            (2 * c, 2 * c, True),
            (2 * c, 4 * c, False),
            (4 * c, 4 * c, True),
        ]
        layers: list[nn.Module] = []
        for inputs, outputs, pool in plan:
            # bias is redundant before BN
            layers.append(nn.Conv2d(inputs, outputs, 3, padding=1, bias=False))
            layers += [nn.MaxPool2d(2)] if pool else []
            layers += [nn.BatchNorm2d(outputs), get_activation(activation).module()]
        self.features = nn.Sequential(*layers)
        self.out = nn.Linear(4 * c * 3 * 3, NUM_CLASSES)
        self.to(memory_format=self.memory_format)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.reshape(-1, 1, 28, 28) - MNIST_MEAN) / MNIST_STD  # (B, 1, 28, 28)
        return self.out(self.features(x).flatten(1))  # (B, 4c, 3, 3) -> (B, 10)


def build_model(
    name: str,
    hidden: int = 256,
    depth: int = 2,
    activation: str = "relu",
    init: str = "kaiming",
    channels: int = 16,
    **shape,
) -> nn.Module:
    """A fresh model by name ("linear", "mlp" or "cnn").

    `shape` (inputs, classes, mean, std) sizes the linear model and the MLP for data other than
    MNIST.
    """
    if name == "linear":
        return Linear(**shape)
    if name == "mlp":
        return MLP(hidden, depth, activation, init, **shape)
    if name == "cnn":
        if shape:
            raise ConfigError("the CNN takes 28x28 images only")
        return CNN(channels, activation)
    raise ConfigError(f"unknown model {name!r}; choose from linear, mlp, cnn")


def model_for(cfg, **shape) -> nn.Module:
    """The fresh model a `TrainConfig` describes (sized by `shape` for data other than MNIST), its
    initial weights drawn from `cfg.seed` alone: the global random state is left as it was."""
    with torch.random.fork_rng(devices=[]):  # the weights are drawn on the CPU
        torch.random.default_generator.manual_seed(cfg.seed)
        return build_model(
            cfg.model, cfg.hidden, cfg.depth, cfg.activation, cfg.init, cfg.channels, **shape
        )


def count_parameters(model: nn.Module) -> int:
    """Trainable numbers of a model: every weight and bias."""
    return sum(p.numel() for p in model.parameters())
