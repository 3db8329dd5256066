"""`firstnet bench`: one recipe over several seeds, and pytorch/examples' recipe beside it.

Each seed trains with the one `Trainer`; `firstnet.stats` turns the histories into mean ± std,
median seconds and the time to each accuracy; `firstnet.reference` is the recipe it is compared
with, trained on the same images in the same run.
"""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext

from firstnet import stats
from firstnet.config import TrainConfig
from firstnet.data import LabelledData
from firstnet.device import environment
from firstnet.reference import examples_run
from firstnet.terminal import err, training_bar
from firstnet.trainer import Trainer


def bench_seeds(
    cfg: TrainConfig,
    data: LabelledData,
    seeds: int,
    reference: bool = False,
    reference_cap: float | None = None,
    progress: bool = True,
) -> dict:
    """`seeds` runs of `cfg` (seeds 0 .. seeds-1): `stats.summarize` of their histories, the
    precision, whether the step ran as a graph, `time_to` each accuracy, the config and the
    machine; with `reference`, pytorch/examples' history and times on the same images."""
    histories = []
    for seed in range(seeds):
        trainer = Trainer(dataclasses.replace(cfg, seed=seed), data)
        with training_bar(f"{cfg.model} seed {seed}", progress) as show:
            histories.append(trainer.run(show))
    result = stats.summarize(histories) | {
        "model": cfg.model,
        "precision": trainer.precision,
        "graph": trainer.static is not None,
        "time_to": stats.times_to(histories),
        "config": cfg.to_dict(),
        "environment": environment(trainer.device),
    }
    if reference:
        subset = data.subset(cfg.train_limit, cfg.test_limit)  # the images firstnet had
        history = reference_run(subset, trainer.device, reference_cap, progress)
        result["reference"] = {"history": history, "time_to": stats.times_to([history])}
    return result


def reference_run(data: LabelledData, device, cap: float | None, progress: bool) -> list[dict]:
    """pytorch/examples' recipe, once (seed 0), with a spinner that shows its epochs."""
    spinner = err.status("pytorch/examples' recipe (14 epochs)") if progress else None
    with spinner if spinner else nullcontext() as status:

        def show(record: dict) -> None:
            if status:
                accuracy, seconds = 100 * record["test_acc"], record["elapsed_s"]
                status.update(f"pytorch/examples epoch {record['epoch']}: {accuracy:.2f}% "
                              f"at {seconds:.0f} s")  # fmt: skip

        return examples_run(data, 0, device, cap, show)
