"""`firstnet search`: the lecture's last question, how to find the right architecture, answered with
Optuna. `space` (what a trial draws), `storage` (where a study is stored), `study` (budget, the
worker loop through the one Trainer), `summary` (the trials table, Pareto front, figures and best
config), `workers` (the trials run here or in worker processes), `coordinator` (a study from start
to finish)."""

# The choices of `firstnet search`, here so its --help loads neither Optuna nor torch.
PRUNERS = ("median", "hyperband", "none")
SAMPLERS = ("tpe", "random", "grid", "cmaes")
