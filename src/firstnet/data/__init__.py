"""The data layer: IDX parsing, the data sets and their sources. Downstream code sees validated
uint8 arrays."""

from firstnet.data.sources import MNIST, data_summary, load_dataset
from firstnet.data.split import validation_split
from firstnet.datasets import DATASETS

__all__ = ["DATASETS", "MNIST", "data_summary", "load_dataset", "validation_split"]
