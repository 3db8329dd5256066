"""The data layer: IDX parsing and MNIST sources. Downstream code sees validated uint8 arrays."""

from firstnet.data.mnist import MNIST, data_summary, load_mnist

__all__ = ["MNIST", "data_summary", "load_mnist"]
