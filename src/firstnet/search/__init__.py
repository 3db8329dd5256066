"""`firstnet search`: the lecture's last question, how to find the right architecture, answered with
Optuna. `space` (what a trial draws), `study` (storage, budget, the worker loop through the one
Trainer), `summary` (the trials table, Pareto front, figures and best config)."""

# The choices of `firstnet search`, here so its --help loads neither Optuna nor torch.
PRUNERS = ("median", "hyperband", "none")
SAMPLERS = ("tpe", "random", "grid", "cmaes")
