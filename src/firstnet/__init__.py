"""firstnet: the lecture "Your First Deep Network" as fast, tested software on MNIST.

The Python API (docs/api.md) is importable from here -- `firstnet.train`, `firstnet.load_mnist`,
`firstnet.Run`, ... -- and each name is loaded from `firstnet.api` on first use (PEP 562), so
`import firstnet` and the command line's `--help` stay light (no torch).
"""

from firstnet.version import __version__ as __version__

__all__ = [
    "Run",
    "architecture_search",
    "bench",
    "check",
    "decision_boundary",
    "experiment",
    "figure_activations",
    "figure_confusion",
    "figure_curves",
    "figure_digits",
    "figure_loss_surface",
    "gradcheck",
    "load_mnist",
    "resume",
    "train",
    "train_numpy",
]


def __getattr__(name: str):
    if name in __all__:
        from firstnet import api

        return getattr(api, name)
    raise AttributeError(f"module 'firstnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
