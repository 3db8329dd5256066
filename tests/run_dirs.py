"""Run directories made by hand for the serve tests: untrained ones, and hostile ones that a server
must skip with a reason (shared by test_serve_api and test_serve_e2e)."""

from __future__ import annotations

import json

import torch

from firstnet import runs
from firstnet.config import TrainConfig
from firstnet.models import model_for
from firstnet.tensorfile import load_tensors, save_tensors


def untrained_run(runs_dir, name: str, model: str):
    """A finished run directory holding freshly initialised weights (enough to test loading and
    routing)."""
    run_dir = runs.create_run_dir(runs_dir, name)
    cfg = TrainConfig(model=model, device="cpu")
    runs.save_run(run_dir, cfg, torch.device("cpu"), "test", [], model_for(cfg).state_dict())
    return run_dir


def hostile_runs(runs_dir) -> dict[str, str]:
    """Run directories that must not stop a server, by name, with the words of the reason each is
    skipped (empty: the run is served)."""
    cases = {}

    def config_edit(name: str, key: str, value, words: str) -> None:
        run_dir = untrained_run(runs_dir, name, "mlp")
        config = json.loads((run_dir / runs.CONFIG).read_text())
        config["config"][key] = value
        (run_dir / runs.CONFIG).write_text(json.dumps(config))
        cases[name] = words

    config_edit("huge-hidden", "hidden", 10**12, "hidden is at most")
    config_edit("float-hidden", "hidden", 32.0, "hidden: expected an int")
    config_edit("string-epochs", "epochs", "5", "epochs: expected a float")
    config_edit("fp16-on-cuda", "precision", "fp16", "")  # served in fp32 on the CPU
    for name, text, words in [("truncated-metrics", '{"epoch": 1, "test_a', "not an epoch record"),
                              ("list-metrics", "[1, 2]\n", "not an epoch record")]:  # fmt: skip
        run_dir = untrained_run(runs_dir, name, "mlp")
        (run_dir / runs.METRICS).write_text(text)
        cases[name] = words
    for name, change, words in [
        ("nan-bias", lambda t: t["out.bias"].fill_(float("nan")), "non-finite"),
        ("float64", lambda t: {k: v.double() for k, v in t.items()}, "dtype float64, not float32"),
        ("int8", lambda t: {k: v.to(torch.int8) for k, v in t.items()}, "dtype int8"),
    ]:
        run_dir = untrained_run(runs_dir, name, "mlp")
        tensors = load_tensors(run_dir / runs.MODEL, 1 << 30)[0]
        changed = change(tensors)
        save_tensors(run_dir / runs.MODEL, changed if isinstance(changed, dict) else tensors, {})
        cases[name] = words
    return cases
