"""`firstnet report`: the whole lecture reproduced in one command, as one self-contained HTML page.

For every claim and question of the lecture, in its order: the slide's words, the answer firstnet
measured, the figure, and the command that reproduces it; then the hardware, the versions, the seeds
and the time of every part. Each part is built from the Python API (`firstnet.api`); its result is
kept in `OUT/parts/NAME.json` with its PNGs beside it, so a second run reuses every part that
finished (`fresh` redoes all). `report.json` holds every number the page shows; the page embeds its
images and makes no request.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firstnet import api, runs, separable
from firstnet.atomic import atomic_write
from firstnet.config import TrainConfig
from firstnet.data import LabelledData
from firstnet.device import environment, resolve_device
from firstnet.experiments import EXPERIMENTS
from firstnet.experiments.full_budget import full_budget_note
from firstnet.experiments.results import pct
from firstnet.experiments.runner import experiment_module
from firstnet.figures import style
from firstnet.figures.digits import separation_proof
from firstnet.report_page import render
from firstnet.version import __version__

MINIMAL = Path(__file__).resolve().parents[2] / "examples" / "minimal.py"
SEED = 0  # of every training in the report


@dataclass(frozen=True)
class ReportContext:
    """What every part of the report is made with."""

    data: LabelledData
    folder: Path  # the parts' folder: each part's JSON and figures
    out_dir: Path  # the report's folder (the experiments' cells under experiments/)
    quick: bool  # the quick budget
    progress: bool  # progress bars while training
    runs_dir: Path | None = None  # where the linear model, the MLP and the CNN are kept as runs


def claim(key: str, lecture: str, measured: str, value: float, command: str) -> dict:
    """One row of the report: what the slide says, what firstnet measured (text and the number the
    text shows), how to reproduce it."""
    return {"id": key, "lecture": lecture, "measured": measured, "value": value, "command": command}


def save_figure(fig, folder: Path, name: str) -> str:
    """`fig` written into the part's folder (atomically); its name."""
    style.save(fig, folder / name)
    return name


def data_claims(facts: dict, classes: tuple[str, ...]) -> list[dict]:
    """The data's claims from `separable.data_facts` (`classes`: the data set's class names)."""
    dimension, count, proof = facts["dimension"], facts["num_classes"], facts["separable"]
    size = sum(map(len, proof.get("indices", [])))  # the images of the proof
    return [
        claim("dimension", "D = ? (the slide says 764 units)", f"{dimension} = 28 x 28", dimension,
              "firstnet data"),
        claim("classes", "How many classes?", str(count), count, "firstnet data"),
        claim("separable", "Is MNIST linearly separable?", separable.answer(proof, classes), size,
              "firstnet data"),
    ]  # fmt: skip


def linear_claims(last: dict) -> list[dict]:
    """The linear model's claims from its last epoch record."""
    command = "firstnet train --model linear"
    return [
        claim("linear-94", "A linear model reaches 94%",
              f"{pct(last['test_acc'])} test ({pct(last['train_acc'])} train)", last["test_acc"],
              command),
    ]  # fmt: skip


def mlp_claims(last: dict, cfg: TrainConfig) -> list[dict]:
    measured = (f"{pct(last['test_acc'])} test, {pct(last['train_acc'])} train in "
                f"{last['elapsed_s']:.1f} s (H = {cfg.hidden}, {cfg.epochs} epochs of "
                "SGD)")  # fmt: skip
    return [
        claim(
            "mlp",
            "The 3-layer MLP 784-H-H-10 with ReLU, cross-entropy, argmax, trained by "
            "gradient descent",
            measured,
            last["test_acc"],
            "firstnet train --model mlp",
        )
    ]


def minimal_lines() -> int | None:
    """Non-blank lines of examples/minimal.py, the fewest lines firstnet knows for 99.5%; None where
    the source checkout's examples/ is not beside the package (an installed wheel)."""
    if not MINIMAL.is_file():
        return None
    return sum(1 for line in MINIMAL.read_text().splitlines() if line.strip())


def deep_claims(last: dict) -> list[dict]:
    """The CNN's claim, and the lines-of-code one where examples/minimal.py can be counted."""
    claims = [claim("deep-99.5", "A deep network reaches 99.5%",
                    f"{pct(last['test_acc'])} test with a 5-layer CNN in {last['elapsed_s']:.1f} s",
                    last["test_acc"], "firstnet train --model cnn")]  # fmt: skip
    lines = minimal_lines()
    if lines is not None:
        claims.append(claim("lines", "How many lines of code reach 99.5%?",
                            f"{lines} readable lines, torch only, listed in the section; not run "
                            "here: `python examples/minimal.py` runs them (a gate of the tests)",
                            lines, "python examples/minimal.py"))  # fmt: skip
    return claims


def part_data(ctx: ReportContext) -> dict:
    data, folder = ctx.data, ctx.folder
    facts = separable.data_facts(data)
    figures = [save_figure(api.figure_digits(data), folder, "digits.png")]
    if facts["separable"]["separable"] is False:
        proof = separation_proof(data, facts["separable"], None)
        figures.append(save_figure(proof, folder, "separable.png"))
    return {"claims": data_claims(facts, data.classes), "figures": figures, "numbers": facts}


def trained(ctx: ReportContext, model: str) -> tuple[api.Run, dict]:
    """`model` trained with its recipe: an ordinary run in `ctx.runs_dir` (`firstnet runs`, `serve`
    and `predict` find it) or, without one, in memory; the run and its last epoch record (with
    the run directory under "run")."""
    if ctx.runs_dir is None:
        run = api.train(model, data=ctx.data, seed=SEED, progress=ctx.progress)
        return run, run.history[-1]
    name = runs.default_name(TrainConfig(model=model, seed=SEED))
    path = runs.create_run_dir(ctx.runs_dir, name, numbered=True)
    run = api.train(model, data=ctx.data, seed=SEED, progress=ctx.progress, path=path)
    if not run.finished:  # Ctrl-C: its checkpoint is kept (train_run said how to resume it)
        raise KeyboardInterrupt
    return run, run.history[-1] | {"run": str(path)}


def part_linear(ctx: ReportContext) -> dict:
    run, last = trained(ctx, "linear")
    figure = save_figure(api.figure_curves(run), ctx.folder, "linear-curves.png")
    return {"claims": linear_claims(last), "figures": [figure], "numbers": last}


def part_mlp(ctx: ReportContext) -> dict:
    run, last = trained(ctx, "mlp")
    figure = save_figure(api.figure_curves(run), ctx.folder, "mlp-curves.png")
    return {"claims": mlp_claims(last, run.config), "figures": [figure], "numbers": last}


def part_gradients(ctx: ReportContext) -> dict:
    result = api.gradcheck(SEED)
    worst_numeric = max(max(row.values()) for row in result["finite_differences"].values())
    worst_autograd = max(max(row.values()) for row in result["autograd"].values())
    measured = (f"derived by hand (docs/gradients.md); finite differences agree to "
                f"{worst_numeric:.1e}, torch autograd to {worst_autograd:.1e}, for all "
                f"{len(result['autograd'])} activations")  # fmt: skip
    return {
        "claims": [claim("gradients", "Derive the gradients of W1, W2, W3", measured,
                         worst_numeric, "firstnet scratch --gradcheck")],
        "figures": [],
        "tables": [table_of("Finite differences: max relative error", result["finite_differences"]),
                   table_of("torch autograd: max absolute difference", result["autograd"])],
        "numbers": {"passed": result["passed"]},
    }  # fmt: skip


def table_of(title: str, rows: dict[str, dict[str, float]]) -> dict:
    columns = list(next(iter(rows.values())))
    body = [[name, *[f"{row[c]:.1e}" for c in columns]] for name, row in rows.items()]
    return {"title": title, "header": ["activation", *columns], "rows": body}


def part_activations(ctx: ReportContext) -> dict:
    families = ("sigmoid-like", "relu-family", "smooth-modern")
    figures = [save_figure(api.figure_activations(f), ctx.folder, f"{f}.png") for f in families]
    return {
        "claims": [claim("activations", "Activation functions: sigmoid-like, the ReLU family, "
                         "smooth modern ones, and their problems",
                         "each family beside its derivative, saturated and dead regions marked; "
                         "measured on MNIST in the experiments below", len(families),
                         "firstnet plot activations")],
        "figures": figures,
    }  # fmt: skip


def part_landscape(ctx: ReportContext) -> dict:
    figure = save_figure(api.figure_loss_surface(), ctx.folder, "loss-surface.png")
    return {
        "claims": [claim("landscape", "Gradient intuition: a 3-D loss surface and the gradient "
                         "field on its contours", "a loss over two weights, its negative gradient "
                         "and three descent paths (too small, good, too large a step)", 3,
                         "firstnet plot landscape --part a")],
        "figures": [figure],
    }  # fmt: skip


def part_boundary(ctx: ReportContext) -> dict:
    result = api.decision_boundary(frames=30 if ctx.quick else 60, progress=ctx.progress)
    atomic_write(ctx.folder / "boundary.gif", result.gif)  # the page shows the animation
    mlp = result.runs[-1].history[-1]
    linear = result.runs[0].history[-1]
    measured = (f"on two spirals the MLP fits {pct(mlp['train_acc'])} of the training points, "
                f"the linear model {pct(linear['train_acc'])}")  # fmt: skip
    return {
        "claims": [claim("boundary", "The decision boundary of an MLP moving while it trains, "
                         "beside its training progress", measured, mlp["train_acc"],
                         "firstnet plot boundary")],
        "figures": ["boundary.gif"],
    }  # fmt: skip


def part_deep(ctx: ReportContext) -> dict:
    run, last = trained(ctx, "cnn")
    figure = save_figure(api.figure_curves(run), ctx.folder, "cnn-curves.png")
    part = {"claims": deep_claims(last), "figures": [figure], "numbers": last}
    if MINIMAL.is_file():  # the lines the claim counts, to read
        name = f"examples/minimal.py: the {minimal_lines()} lines, in full"
        part["code"] = {"name": name, "text": MINIMAL.read_text()}
    return part


QUESTIONS = {  # the lecture's open questions, by experiment
    "activations": "Which activation function, and what goes wrong with the others?",
    "no-activation": "What if the network has no activation function?",
    "depth-width": "Deeper or wider?",
    "handmade-features": "Do hand-made features beat a learned hidden layer?",
    "universal": "Can a deep network solve anything?",
    "search": "How to search for the right architecture?",
}


def part_experiment(name: str) -> Callable[[ReportContext], dict]:
    def part(ctx: ReportContext) -> dict:
        folder = ctx.folder
        results = api.experiment(name, data=ctx.data, quick=ctx.quick,
                                 out_dir=ctx.out_dir / "experiments")  # fmt: skip
        source = ctx.out_dir / "experiments" / name
        figures = []
        for png in sorted(source.glob("*.png")):
            shutil.copyfile(png, folder / f"{name}-{png.name}")
            figures.append(f"{name}-{png.name}")
        text, value = experiment_module(name).headline(results)
        if ctx.quick:  # never alone on a projected page: the full budget's story beside it
            text += full_budget_note(name)
        command = f"firstnet experiment {name}" + (" --quick" if ctx.quick else "")
        # results.md names its figures as they are in `source`; here they carry the prefix
        written = (source / "results.md").read_text()
        markdown = re.sub(r"\]\(([\w.-]+\.png)\)", rf"]({name}-\1)", written)
        return {
            "claims": [claim(f"experiment-{name}", QUESTIONS[name], text, value, command)],
            "figures": figures,
            "text": markdown,
        }

    return part


PARTS: dict[str, tuple[str, Callable[[ReportContext], dict]]] = {
    "data": ("The data: MNIST", part_data),
    "linear": ("A linear model", part_linear),
    "mlp": ("The 3-layer MLP", part_mlp),
    "gradients": ("Gradients by hand", part_gradients),
    "activations": ("Activation functions", part_activations),
    "landscape": ("Gradient intuition", part_landscape),
    "boundary": ("The decision boundary while training", part_boundary),
    "deep": ("A deep network at 99.5%", part_deep),
    **{f"experiment-{name}": (QUESTIONS[name], part_experiment(name)) for name in EXPERIMENTS},
}


DEMO_MODELS = ("linear", "mlp", "cnn")


def demo(
    data: LabelledData,
    runs_dir: Path,
    seed: int = SEED,
    on_model: Callable[[int, str], None] = lambda step, model: None,
    on_epoch: Callable[[dict], None] | None = None,
    summary: dict | None = None,
) -> dict:
    """`firstnet demo`, the short version: the linear model, the MLP and the CNN trained into run
    directories under `runs_dir` (`on_model(step, model)` before each, `on_epoch(record)` after each
    epoch), and the claims they answer. The last epoch record of each model, with its run directory,
    in `results`; when Ctrl-C stopped a training, `stopped` names its run directory (`firstnet train
    --resume` continues it) and no claims are made. `summary`: the data's `separable.data_facts`,
    when the caller has it already."""
    results, configs = {}, {}
    for step, model in enumerate(DEMO_MODELS, 1):
        on_model(step, model)
        cfg = TrainConfig(model=model, seed=seed)
        run_dir = runs.create_run_dir(runs_dir, runs.default_name(cfg), numbered=True)
        run = api.train(data=data, path=run_dir, on_epoch=on_epoch, **cfg.to_dict())
        if not run.finished:
            return {"results": results, "stopped": str(run_dir)}
        results[model], configs[model] = run.history[-1] | {"run": str(run_dir)}, run.config
    summary = summary if summary is not None else separable.data_facts(data)
    claims = data_claims(summary, data.classes) + linear_claims(results["linear"])
    claims += mlp_claims(results["mlp"], configs["mlp"]) + deep_claims(results["cnn"])
    return {"data": summary, "results": results, "claims": claims}


def kept(path: Path, budget: str) -> dict | None:
    """The part that finished before with this budget; None when there is none (a damaged file
    counts as none)."""
    try:
        part = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    finished = isinstance(part, dict) and part.get("budget") == budget and "claims" in part
    return part if finished else None


def build(
    out_dir: Path,
    quick: bool = True,
    fresh: bool = False,
    data: LabelledData | None = None,
    progress: bool = False,
    on_part: Callable[[str, str, bool], None] = lambda key, title, cached: None,
    runs_dir: Path | None = None,
) -> dict:
    """Run (or reuse) every part into `out_dir`; write report.json and report.html; the report.
    `runs_dir`: where the three models the lecture trains are kept as runs (default: in memory)."""
    out_dir = Path(out_dir)
    parts_dir = out_dir / "parts"
    if fresh and out_dir.exists():
        shutil.rmtree(parts_dir, ignore_errors=True)
        shutil.rmtree(out_dir / "experiments", ignore_errors=True)
    parts_dir.mkdir(parents=True, exist_ok=True)
    data = data if data is not None else api.load_mnist()
    budget = "quick" if quick else "full"
    ctx = ReportContext(data, parts_dir, out_dir, quick, progress, runs_dir)
    start, parts = time.perf_counter(), {}
    for key, (title, make) in PARTS.items():
        path = parts_dir / f"{key}.json"
        part = kept(path, budget)
        on_part(key, title, part is not None)
        if part is None:
            began = time.perf_counter()
            result = make(ctx) | {"budget": budget, "title": title}
            result["seconds"] = time.perf_counter() - began
            text = json.dumps(result, indent=2, default=float) + "\n"
            atomic_write(path, text)
            part = json.loads(text)  # as a later run reads it back
        parts[key] = part
    report = {
        "firstnet": __version__,
        "budget": budget,
        "seconds": time.perf_counter() - start,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "environment": environment(resolve_device("auto")),
        "data_source": data.source,
        "seed": SEED,
        "parts": parts,
        "claims": [c | {"part": key} for key, part in parts.items() for c in part["claims"]],
    }
    atomic_write(out_dir / "report.json", json.dumps(report, indent=2, default=float) + "\n")
    atomic_write(out_dir / "report.html", render(report, parts_dir))
    return report
