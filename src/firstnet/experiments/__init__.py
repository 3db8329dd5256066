"""The lecture's open questions as experiments: `firstnet experiment NAME` for each name of
EXPERIMENTS.

Each experiment module has TITLE, a Budget dataclass with QUICK and DEFAULT instances, and `run(ctx,
budget)`, which trains its cells (or loads the stored ones), draws its figures, writes results.md
and results.json, and returns the results. `firstnet.experiments.runner` imports a module only when
its experiment runs, so this registry stays free of torch (the command line's --help reads it).
"""

# experiment name -> module of firstnet.experiments, in the order `firstnet experiment all` runs
# them
EXPERIMENTS = {
    "activations": "activation_choice",
    "no-activation": "no_activation",
    "depth-width": "depth_width",
    "handmade-features": "handmade_features",
    "universal": "universal",
    "search": "search_strategies",
}
NAMES = tuple(EXPERIMENTS)
