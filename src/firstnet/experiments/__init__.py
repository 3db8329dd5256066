"""The lecture's open questions as experiments: `firstnet experiment NAME` for each name in `NAMES`.

Each module has NAME, TITLE, a Budget dataclass with QUICK and DEFAULT instances, and `run(ctx, budget)`, which
trains its cells (or loads the stored ones), writes results.md, results.json and figures, and returns the
results. Modules are imported on demand by `firstnet.experiments.commands`.
"""

NAMES = ("activations", "no-activation", "depth-width", "handmade-features", "universal")
