"""The data layer: the registry of data sets (`datasets.py`), IDX parsing, their sources, the
held-out split and the 2-D toy sets. Downstream code sees validated arrays in a `LabelledData`."""

from firstnet.data.datasets import DATASETS
from firstnet.data.sources import LabelledData, data_summary, load_dataset
from firstnet.data.split import validation_split

MNIST = LabelledData  # the type's name before toy sets and Fashion-MNIST shared it

__all__ = ["DATASETS", "MNIST", "LabelledData", "data_summary", "load_dataset", "validation_split"]
