"""`firstnet bench MODEL`: several seeds of one recipe; accuracy mean ± std, median time, the
hardware."""

from __future__ import annotations

import dataclasses
import json

from firstnet.cli import options
from firstnet.cli.console import load_data, out, training_bar
from firstnet.config import MODELS, TrainConfig
from firstnet.errors import ConfigError


def add_parser(sub) -> None:
    bench = options.add_command(sub, "bench", bench_command)
    bench.add_argument("model", choices=MODELS, help="model to benchmark with its defaults")
    bench.add_argument("--seeds", type=int, default=5, help="number of runs (seeds 0..N-1)")
    options.add(bench, "json")
    fields = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("model", "seed")]
    options.add_config_options(bench, tuple(fields))
    options.add(bench, "config", "data")


def bench_command(args) -> int:
    """train several seeds; test accuracy mean ± std, median wall time, hardware"""
    from firstnet import stats
    from firstnet.device import environment
    from firstnet.train import Trainer

    cfg = options.config_from_args(args)
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    data = load_data(args.data_dir, args.dataset)
    histories = []
    for seed in range(args.seeds):
        trainer = Trainer(dataclasses.replace(cfg, seed=seed), data)
        with training_bar(f"{cfg.model} seed {seed}") as show:
            histories.append(trainer.run(show))
    env = environment(trainer.device)
    result = stats.summarize(histories) | {
        "model": cfg.model,
        "precision": trainer.precision,
        "config": cfg.to_dict(),
        "environment": env,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    hardware = env.get("gpu") or f"{env['cpu']}, {env['cpu_count']} cores"
    out.print(
        f"[bold]{cfg.model}[/]: test accuracy {100 * result['test_acc_mean']:.2f} ± "
        f"{100 * result['test_acc_std']:.2f}% (n={result['runs']}, "
        f"min {100 * result['test_acc_min']:.2f}%), "
        f"median {result['seconds_median']:.1f} s training + evaluation"
    )
    out.print(
        f"{hardware}; torch {env['torch']} ({env['torch_threads']} threads), {trainer.precision}"
    )
    return 0
