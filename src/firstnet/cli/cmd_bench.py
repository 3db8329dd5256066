"""`firstnet bench MODEL`: several seeds of one recipe; accuracy mean ± std, median time, time to
98/99/99.5%, the hardware; with --reference, pytorch/examples' recipe in the same run."""

from __future__ import annotations

import dataclasses
import json

from firstnet.cli import options
from firstnet.config import MODELS, TrainConfig
from firstnet.errors import ConfigError
from firstnet.terminal import load_data, out


def add_parser(sub) -> None:
    bench = options.add_command(sub, "bench", bench_command)
    bench.add_argument("model", choices=MODELS, help="model to benchmark with its defaults")
    bench.add_argument("--seeds", type=int, default=5, help="number of runs (seeds 0..N-1)")
    bench.add_argument(
        "--reference",
        action="store_true",
        help="also train pytorch/examples' MNIST recipe once (14 epochs; minutes on a CPU) and "
        "print how many times faster firstnet reaches each accuracy",
    )
    bench.add_argument(
        "--reference-cap",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop the reference after this many seconds, once it has finished an epoch "
        "(default: all 14 epochs)",
    )
    options.add(bench, "json")
    fields = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("model", "seed")]
    options.add_config_options(bench, tuple(fields))
    options.add(bench, "config", "data", "threads")


def bench_command(args) -> int:
    """train several seeds: accuracy mean ± std, median time, time to each accuracy, hardware"""
    cfg = options.config_from_args(args)
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    from firstnet import api
    from firstnet.device import hardware
    from firstnet.stats import reach_text, speedups

    data = load_data(args.data_dir, args.dataset)
    fields = {key: value for key, value in cfg.to_dict().items() if key not in ("model", "seed")}
    result = api.bench(cfg.model, data, args.seeds, args.reference, args.reference_cap, **fields)
    if args.json:
        print(json.dumps(result, indent=2))  # thresholds as keys: "0.98", "0.99", "0.995"
        return 0
    env = result["environment"]
    out.print(
        f"[bold]{cfg.model}[/]: test accuracy {100 * result['test_acc_mean']:.2f} ± "
        f"{100 * result['test_acc_std']:.2f}% (n={result['runs']}, "
        f"min {100 * result['test_acc_min']:.2f}%), "
        f"median {result['seconds_median']:.2f} s training + evaluation",
        markup=True,
    )
    out.print(f"time to accuracy (median over seeds): {reach_text(result['time_to'])}")
    if "reference" in result:
        theirs = result["reference"]["time_to"]
        out.print(f"pytorch/examples, same run: {reach_text(theirs)}")
        for threshold, ratio in speedups(result["time_to"], theirs).items():
            out.print(f"to {100 * threshold:g}%: firstnet is {ratio:.1f}x faster")
    graph = ", CUDA graphs" if result["graph"] else ""
    out.print(
        f"{hardware(env)}; torch {env['torch']} ({env['torch_threads']} threads), "
        f"{result['precision']}{graph}"
    )
    return 0
