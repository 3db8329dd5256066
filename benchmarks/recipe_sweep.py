"""Several recipes, several seeds each, in one process: accuracy mean ± std, median time, time to
98/99/99.5%. How the CPU and GPU recipes of `firstnet.config` were chosen.

Each recipe is a model and TrainConfig fields, e.g. `cnn batch_size=500 lr=0.4 epochs=4`. The first
run of the process is repeated and its time reported apart: it pays CUDA's start-up (context,
kernels, cuDNN's choices), which the others do not. Data loading is timed apart too.

    python benchmarks/recipe_sweep.py --seeds 5 --device cuda "cnn" "cnn batch_size=500 lr=0.4"
"""

from __future__ import annotations

import argparse
import json
import time
import traceback

from firstnet.api import bench
from firstnet.config import TrainConfig
from firstnet.data import load_dataset
from firstnet.device import environment, hardware
from firstnet.errors import DivergedError
from firstnet.stats import reach_text
from firstnet.trainer import Trainer


def parse_recipe(text: str, device: str) -> TrainConfig:
    """'cnn batch_size=500 lr=0.4' as a TrainConfig (values parsed as JSON, else kept as text)."""
    model, *pairs = text.split()
    values = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            values[name] = json.loads(value)
        except ValueError:
            values[name] = value
    return TrainConfig(model=model, device=device, **values)


def sweep_row(text: str, cfg: TrainConfig, data, seeds: int) -> dict:
    fields = {key: value for key, value in cfg.to_dict().items() if key not in ("model", "seed")}
    result = bench(cfg.model, data, seeds, progress=False, **fields)
    return {"recipe": text} | result


def show(row: dict) -> str:
    return (
        f"{row['recipe']:<48} {100 * row['test_acc_mean']:.2f} ± {100 * row['test_acc_std']:.2f}% "
        f"(min {100 * row['test_acc_min']:.2f}, n={row['runs']})"
        f"  median {row['seconds_median']:.2f} s"
        f"  [{reach_text(row['time_to'])}]  {row['precision']}{' graph' if row['graph'] else ''}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("recipes", nargs="+", help="'MODEL FIELD=VALUE ...', one per recipe")
    parser.add_argument("--seeds", type=int, default=5, help="runs per recipe (default: 5)")
    parser.add_argument("--device", default="auto", help="device of every run (default: auto)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    start = time.perf_counter()
    data = load_dataset()
    print(f"data loaded in {time.perf_counter() - start:.2f} s", flush=True)
    configs = [(text, parse_recipe(text, args.device)) for text in args.recipes]
    start = time.perf_counter()
    first = Trainer(configs[0][1], data)
    first.run()
    print(
        f"first run (start-up included): {time.perf_counter() - start:.2f} s wall, "
        f"{first.history[-1]['elapsed_s']:.2f} s training + evaluation",
        flush=True,
    )
    env = environment(first.device)
    print(f"{hardware(env)}, torch {env['torch']}")
    rows = []
    for text, cfg in configs:
        try:
            rows.append(sweep_row(text, cfg, data, args.seeds))
        except DivergedError as error:
            print(f"{text:<48} {error}", flush=True)
        except RuntimeError:  # one recipe's failure (e.g. a capture) must not end the sweep
            print(f"{text:<48} failed:\n{traceback.format_exc()}", flush=True)
        else:
            print(show(rows[-1]), flush=True)
        if args.json:
            with open(args.json, "w") as handle:
                json.dump({"environment": env, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
