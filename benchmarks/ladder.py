"""The speed ladder: one change per rung, each over several seeds, gated on the minimum.

Every rung trains with the one `Trainer` (a rung that is not a TrainConfig field patches it here:
the evaluation batch, evaluating only at the end, an average of the weights, another first layer)
and reports its median time, accuracy mean ± std and minimum, and the distance to the machine's
limit: the FLOPs of the training (forward and backward per image, counted by
torch.utils.flop_counter, times the images seen) over the median time, against the rate of a large
matrix product in the same precision measured in the same run. Loading MNIST and starting the
process are timed apart: they are not in any rung's time.

    python benchmarks/ladder.py --seeds 5            # every rung of both models
    python benchmarks/ladder.py --only cnn-muon-1.5  # one rung
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import firstnet.evaluate as evaluate_module
import firstnet.muon as muon
import firstnet.trainer as trainer_module
from firstnet.config import TrainConfig
from firstnet.data import load_dataset
from firstnet.device import environment, hardware
from firstnet.models import model_for
from firstnet.trainer import Trainer

GATE = {"cnn": 0.995, "mlp": 0.985}  # the minimum over seeds a rung must keep
SGD_2 = {"optimizer": "sgd", "epochs": 2}  # the CNN recipe before the ladder
MLP_6 = {"epochs": 6, "tta": False}  # the MLP recipe before the ladder
R01 = {"muon_ratio": 0.1}  # Muon's rate a tenth of SGD's (the recipe takes 0.25)
# Every rung names its fields, so it reruns as measured whatever the defaults become.
# fmt: off
RUNGS = [  # name, model, TrainConfig fields, patches (see one_run), what changed
    ("cnn-before", "cnn", SGD_2, {"eval_batch": 2000},
     "the recipe before: SGD, 2 epochs, a test pass after each in batches of 2,000"),
    ("cnn-eval-500", "cnn", SGD_2, {}, "evaluation in batches of 500 (fits the caches)"),
    ("cnn-eval-last", "cnn", SGD_2, {"eval_last": True}, "a test pass after the last epoch only"),
    ("cnn-sgd-1.5", "cnn", {"optimizer": "sgd", "epochs": 1.5}, {},
     "1.5 epochs: the last one cut in half"),
    ("cnn-sgd-1.5-b128", "cnn", {"optimizer": "sgd", "epochs": 1.5, "batch_size": 128, "lr": 0.14},
     {}, "1.5 epochs in batches of 128, peak 0.14"),
    ("cnn-ema", "cnn", SGD_2, {"ema": 0.01},
     "an exponential moving average of the weights (0.99 a step) evaluated"),
    ("cnn-tta-9", "cnn", SGD_2, {"shifts": 9},
     "test-time augmentation over 9 shifts (diagonals too) instead of 5"),
    ("cnn-stride-stem", "cnn", SGD_2, {"stem": True},
     "first convolution with stride 2 in place of conv + max-pool"),
    ("cnn-muon-2-r0.1", "cnn", {"optimizer": "muon", "epochs": 2}, R01,
     "Muon on the convolutions (rate 0.1 of SGD's), 2 epochs"),
    ("cnn-muon-1.5-r0.1", "cnn", {"optimizer": "muon", "epochs": 1.5}, R01, "the same, 1.5 epochs"),
    ("cnn-muon-1.2-r0.1", "cnn", {"optimizer": "muon", "epochs": 1.2}, R01, "the same, 1.2 epochs"),
    ("cnn-muon-1.75-r0.1", "cnn", {"optimizer": "muon", "epochs": 1.75}, R01,
     "the same, 1.75 epochs"),
    ("cnn-muon-1.5-r0.1-tta-9", "cnn", {"optimizer": "muon", "epochs": 1.5}, R01 | {"shifts": 9},
     "Muon (0.1), 1.5 epochs, test-time augmentation over 9 shifts"),
    ("cnn-stride-muon-1.5-r0.1", "cnn", {"optimizer": "muon", "epochs": 1.5}, R01 | {"stem": True},
     "Muon (0.1), 1.5 epochs, first convolution with stride 2"),
    ("cnn-muon-1.5", "cnn", {"optimizer": "muon", "epochs": 1.5}, {"muon_ratio": 0.25},
     "Muon's rate 0.25 of SGD's, 1.5 epochs: the recipe now"),
    ("cnn-muon-1.5-r0.5", "cnn", {"optimizer": "muon", "epochs": 1.5}, {"muon_ratio": 0.5},
     "Muon's rate 0.5 of SGD's, 1.5 epochs"),
    ("cnn-muon-1.25", "cnn", {"optimizer": "muon", "epochs": 1.25}, {"muon_ratio": 0.25},
     "Muon (0.25), 1.25 epochs"),
    ("mlp-before", "mlp", MLP_6, {"eval_batch": 2000},
     "the MLP recipe before: 6 epochs, test passes in batches of 2,000"),
    ("mlp-eval-500", "mlp", MLP_6, {}, "evaluation in batches of 500"),
    ("mlp-eval-last", "mlp", MLP_6, {"eval_last": True}, "a test pass after the last epoch only"),
    ("mlp-5.5", "mlp", {"epochs": 5.5, "tta": False}, {}, "5.5 epochs"),
    ("mlp-5", "mlp", {"epochs": 5, "tta": False}, {}, "5 epochs"),
    ("mlp-5.5-tta", "mlp", {"epochs": 5.5, "tta": True}, {},
     "5.5 epochs, test-time augmentation over 5 shifts at the end"),
    ("mlp-5-tta", "mlp", {"epochs": 5, "tta": True}, {},
     "5 epochs, test-time augmentation"),
    ("mlp-4.5-tta", "mlp", {"epochs": 4.5, "tta": True}, {}, "4.5 epochs, test-time augmentation"),
    ("mlp-muon-4", "mlp", {"epochs": 4, "optimizer": "muon", "tta": False}, R01,
     "Muon (0.1) on the two hidden layers, 4 epochs"),
]
# fmt: on
# The module constants a rung may patch (restored after each run).
PATCHED = (
    (evaluate_module, "EVAL_BATCH"),
    (evaluate_module, "TTA_SHIFTS"),
    (muon, "MUON_LR_RATIO"),
)  # fmt: skip
SHIFTS_9 = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def stride_stem(cfg: TrainConfig) -> nn.Module:
    """The CNN with its first convolution at stride 2 and no max-pool after it."""
    model = model_for(cfg)
    layers = list(model.features)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        layers[0] = nn.Conv2d(1, cfg.channels, 3, stride=2, padding=1, bias=False)
    del layers[1]  # the max-pool
    model.features = nn.Sequential(*layers)
    return model.to(memory_format=torch.channels_last)


def one_run(cfg: TrainConfig, data, patches: dict) -> tuple[float, float, int]:
    """(test accuracy, seconds of training and evaluation, images seen) of one seed."""
    model = stride_stem(cfg) if patches.get("stem") else None
    trainer = Trainer(cfg, data, model=model)
    average = copy.deepcopy(trainer.model) if patches.get("ema") else None
    plain = trainer_module.evaluate

    def evaluation(model, images, labels, tta=False):
        if patches.get("eval_last") and not tta and trainer.epoch + 1 < trainer.epochs:
            return float("nan"), float("nan")
        return plain(average if average is not None else model, images, labels, tta)

    on_step = None
    if average is not None:
        weight = patches["ema"]
        pairs = list(zip(average.parameters(), trainer.model.parameters(), strict=True))

        def on_step(step: int) -> None:
            with torch.no_grad():
                for mine, theirs in pairs:
                    mine.lerp_(theirs, weight if step > 20 else 1.0)
                for mine, theirs in zip(average.buffers(), trainer.model.buffers(), strict=True):
                    mine.copy_(theirs)

    saved = [getattr(module, name) for module, name in PATCHED]
    evaluate_module.EVAL_BATCH = patches.get("eval_batch", saved[0])
    evaluate_module.TTA_SHIFTS = SHIFTS_9 if patches.get("shifts") == 9 else saved[1]
    muon.MUON_LR_RATIO = patches.get("muon_ratio", saved[2])
    trainer_module.evaluate = evaluation
    try:
        history = trainer.run(on_step=on_step)
    finally:
        trainer_module.evaluate = plain
        for (module, name), value in zip(PATCHED, saved, strict=True):
            setattr(module, name, value)
    return history[-1]["test_acc"], history[-1]["elapsed_s"], trainer.total_steps * cfg.batch_size


def flops_per_image(cfg: TrainConfig, patches: dict) -> tuple[float, float]:
    """(training FLOPs per image: forward and backward; forward FLOPs per image)."""
    model = stride_stem(cfg) if patches.get("stem") else model_for(cfg)
    images = torch.rand(64, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as counter:
        nn.functional.cross_entropy(model(images), torch.zeros(64, dtype=torch.long)).backward()
    train = counter.get_total_flops() / 64
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(images)
    return train, counter.get_total_flops() / 64


def matmul_rate(dtype: torch.dtype, size: int = 2048, repeats: int = 20) -> float:
    """FLOP/s of a (size x size) @ (size x size) product: the rate the machine reaches."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def start_up() -> float:
    """Seconds to start Python and import torch and the trainer (median of 3)."""
    command = [sys.executable, "-c", "import firstnet.trainer"]
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(command, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds per rung (default: 5)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (default: 0)")
    parser.add_argument("--only", nargs="*", help="rungs to run (default: all)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    print(f"process start and imports: {start_up():.2f} s (median of 3)")
    start = time.perf_counter()
    data = load_dataset()
    print(f"MNIST loaded in {time.perf_counter() - start:.2f} s")
    env = environment(torch.device("cpu"))
    rates = {"bf16": matmul_rate(torch.bfloat16), "fp32": matmul_rate(torch.float32)}
    print(f"{hardware(env)}, torch {env['torch']}; 2048^3 matrix product: bf16 "
          f"{rates['bf16'] / 1e9:.0f} GFLOP/s, fp32 {rates['fp32'] / 1e9:.0f} GFLOP/s")  # fmt: skip
    rows = []
    for name, model, fields, patches, what in RUNGS:
        if args.only and name not in args.only:
            continue
        accuracies, seconds = [], []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            cfg = TrainConfig(model=model, seed=seed, **fields)
            accuracy, elapsed, images = one_run(cfg, data, patches)
            accuracies.append(accuracy)
            seconds.append(elapsed)
        train_flops, _ = flops_per_image(cfg, patches)
        median = statistics.median(seconds)
        precision = "bf16" if cfg.precision in ("auto", "bf16") else "fp32"
        achieved = train_flops * images / median
        row = {"rung": name, "what": what, "mean": statistics.fmean(accuracies),
               "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
               "min": min(accuracies), "median_s": median, "seconds": seconds,
               "accuracies": accuracies, "images": images, "train_flops": train_flops * images,
               "flop_s": achieved, "of_peak": achieved / rates[precision],
               "kept": min(accuracies) >= GATE[model]}  # fmt: skip
        rows.append(row)
        print(f"{name:<18} {median:6.2f} s  {100 * row['mean']:.2f} ± {100 * row['std']:.2f}% "
              f"(min {100 * row['min']:.2f})  {row['train_flops'] / 1e12:.2f} TFLOP  "
              f"{achieved / 1e9:.0f} GFLOP/s = {100 * row['of_peak']:.0f}% of the {precision} "
              f"product  {'holds' if row['kept'] else 'under the gate'}", flush=True)  # fmt: skip
        if args.json:
            with open(args.json, "w") as handle:
                json.dump({"environment": env, "matmul": rates, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
