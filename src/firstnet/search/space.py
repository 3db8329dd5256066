"""The search space of `firstnet search`: which TrainConfig fields a trial draws, and from where.

A space is a dict {"params": {name: spec}, "fixed": {field: value}}. Each spec is one of
  {"choices": [...]}                         a categorical choice,
  {"low": a, "high": b, "log": bool}         an int range when a and b are ints, else a float range,
and may add `"field": F` (the TrainConfig field it sets; default: the name) and
`"when": {field: [values]}` (drawn only when earlier draws or fixed values match: the MLP's depth
only for the MLP). Params are drawn in order, so a "when" may name any earlier field. "fixed"
holds the fields every trial shares. A space file (JSON or YAML) holds such a dict and replaces
the default; `--fix FIELD=VALUE` fixes one field and drops the params that set it. A space file is
a regular file of at most MAX_SPACE_BYTES in UTF-8, its YAML without aliases (a few hundred bytes
of nested aliases expand to gigabytes).

Torch-free: `firstnet search --help` and the space checks load no torch.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from firstnet.atomic import read_regular
from firstnet.config import TrainConfig
from firstnet.errors import ConfigError

# The default space: both model families of the lecture and their recipes' knobs, with epochs
# small enough that a trial on 2 cores takes seconds (MLP) to a minute (CNN). The learning-rate
# range depends on the optimizer (SGD's and Muon's peak ~0.2, AdamW's ~1e-3), so it is two params.
# fmt: off
DEFAULT_SPACE = {
    "params": {
        "model":           {"choices": ["mlp", "cnn"]},
        "depth":           {"low": 1, "high": 4, "when": {"model": ["mlp"]}},
        "hidden":          {"low": 64, "high": 1024, "log": True, "when": {"model": ["mlp"]}},
        "channels":        {"low": 8, "high": 32, "log": True, "when": {"model": ["cnn"]}},
        "activation":      {"choices": ["relu", "leaky_relu", "gelu", "silu", "tanh"]},
        "optimizer":       {"choices": ["sgd", "adamw", "muon"]},
        "lr_sgd":          {"field": "lr", "low": 0.02, "high": 0.5, "log": True,
                            "when": {"optimizer": ["sgd", "muon"]}},   # Muon's: a quarter of it
        "lr_adamw":        {"field": "lr", "low": 3e-4, "high": 1e-2, "log": True,
                            "when": {"optimizer": ["adamw"]}},
        "weight_decay":    {"low": 1e-6, "high": 1e-2, "log": True},
        "batch_size":      {"choices": [64, 128, 256, 512]},
        "epochs":          {"choices": [1.5, 2, 3, 4, 6, 8, 10]},  # the CNN's recipe: 1.5
        "label_smoothing": {"choices": [0.0, 0.1]},
        "augment":         {"choices": [0, 2]},        # random shifts of up to 2 pixels: off / on
    },
    "fixed": {"schedule": "onecycle", "tta": False},
}
# --quick: fewer, shorter trials (the CNN with few channels), for a search in about 2 minutes.
QUICK_SPACE = {
    "params": DEFAULT_SPACE["params"] | {
        "hidden":   {"low": 64, "high": 512, "log": True, "when": {"model": ["mlp"]}},
        "channels": {"choices": [8], "when": {"model": ["cnn"]}},
        "epochs":   {"low": 1, "high": 3},
    },
    "fixed": DEFAULT_SPACE["fixed"],
}
# fmt: on
# Fields a trial must not set: where its data come from and how it is run are the study's.
NOT_SEARCHABLE = ("dataset", "seed", "device", "train_limit", "test_limit", "compile")
CONFIG_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
# the fields with a fixed set of values (model, activation, ...): a space's choices lie among them
FIELD_CHOICES = {
    name: f.metadata["choices"] for name, f in CONFIG_FIELDS.items() if f.metadata["choices"]
}
# A space file is a few hundred bytes (the default space as JSON: 1.3 kB); a larger one is refused
# before it is read.
MAX_SPACE_BYTES = 100_000
UNBOUNDED = 1 << 40  # a file whose size is not capped (a journal Optuna reads whole anyway)


def check_space(space: dict, origin: str = "the search space") -> dict:
    """`space` itself, after checking its shape; a ConfigError naming `origin` otherwise."""
    if not isinstance(space, dict) or set(space) - {"params", "fixed"} or "params" not in space:
        raise ConfigError(f'{origin}: expected {{"params": {{...}}, "fixed": {{...}}}}')
    params, fixed = space["params"], space.get("fixed", {})
    if not isinstance(params, dict) or not isinstance(fixed, dict) or not params:
        raise ConfigError(f"{origin}: params must be a non-empty mapping, fixed a mapping")
    for name in fixed:
        check_field(name, origin)
    seen = set(fixed)
    for name, spec in params.items():
        where = f"{origin}, {name}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a mapping with choices, or low and high")
        check_field(spec.get("field", name), where)
        unknown = set(spec) - {"choices", "low", "high", "log", "field", "when"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        if "choices" in spec:
            choices = spec["choices"]
            if not isinstance(choices, list) or not choices or "low" in spec or "high" in spec:
                raise ConfigError(f"{where}: choices must be a non-empty list (and no low/high)")
            allowed = FIELD_CHOICES.get(spec.get("field", name))
            wrong = [c for c in choices if allowed and c not in allowed]
            if wrong:
                raise ConfigError(f"{where}: {wrong[0]!r} is not one of {', '.join(allowed)}")
        else:
            check_range(spec, where)
        for field in spec.get("when", {}):
            if field not in seen:
                raise ConfigError(f"{where}: 'when' names {field!r}, which no earlier param sets")
        seen.add(spec.get("field", name))
    return space


def check_field(name: str, where: str) -> None:
    if name not in CONFIG_FIELDS:
        raise ConfigError(f"{where}: {name!r} is not a training option (see firstnet train -h)")
    if name in NOT_SEARCHABLE:
        raise ConfigError(f"{where}: {name!r} is set by the study, not searched")


def check_range(spec: dict, where: str) -> None:
    low, high = spec.get("low"), spec.get("high")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not math.isfinite(low) or not math.isfinite(high) or low >= high:
        raise ConfigError(f"{where}: expected numbers low < high, got {low!r} and {high!r}")
    if spec.get("log") and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got {low!r}")


def read_space(path: Path) -> dict:
    """A space from a JSON or YAML file (by suffix), checked."""
    text = read_text_file(Path(path), "the search space", MAX_SPACE_BYTES)
    try:
        if Path(path).suffix.lower() in (".yaml", ".yml"):
            space = load_yaml(text, path)
        else:
            space = json.loads(text)
    except ConfigError:
        raise
    except Exception as error:  # json's ValueError, yaml.YAMLError (not a ValueError)
        reason = " ".join(str(error).split())  # YAML's reasons span lines: one line
        raise ConfigError(f"{path} is not valid JSON/YAML: {reason}") from None
    return check_space(space, str(path))


def load_yaml(text: str, path: Path):
    """YAML's safe subset without aliases: `*name` repeats what `&name` marks, and nine nested
    repeats of nine turn 400 bytes into gigabytes once the space is copied or stored."""
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                line = self.peek_event().start_mark.line + 1
                raise ConfigError(
                    f"{path}, line {line}: YAML aliases (*name) are not accepted in a space "
                    "file; write the values out"
                )
            return super().compose_node(parent, index)

    return yaml.load(text, Loader=NoAliases)  # a SafeLoader: plain data only


def read_text_file(path: Path, what: str, limit: int | None = None) -> str:
    """The UTF-8 text of `path` (see `read_regular_file`); a ConfigError otherwise."""
    data = read_regular_file(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{what} {path} is not UTF-8 text (byte {error.start}: {error.reason})"
        ) from None


def read_regular_file(path: Path, what: str, limit: int | None = None) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes (`atomic.read_regular`: a
    FIFO, a device such as /dev/zero or a folder is refused before a byte is read, so it can
    neither hang nor run forever); a ConfigError naming `what` otherwise."""
    try:
        return read_regular(Path(path), limit or UNBOUNDED, ConfigError)
    except ConfigError as error:
        raise ConfigError(f"{what}: {error}") from None


def fix(space: dict, assignments: list[str]) -> dict:
    """A copy of `space` with each "FIELD=VALUE" fixed (VALUE parsed as JSON, else a string) and
    the params that set FIELD dropped."""
    params, fixed = dict(space["params"]), dict(space.get("fixed", {}))
    try:
        for text in assignments:
            field, sep, raw = text.partition("=")
            if not sep:
                raise ConfigError(f"fix expects FIELD=VALUE, got {text!r}")
            check_field(field, "fix")
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
            fixed[field] = value
            params = {n: s for n, s in params.items() if s.get("field", n) != field}
        # params conditioned on a fixed field that rules them out never apply: drop them too
        return check_space({"params": applicable(params, fixed), "fixed": fixed}, "fix")
    except ConfigError as error:  # the option is `fix` (the command's --fix)
        raise ConfigError(str(error), ("fix",)) from None


def applicable(params: dict, fixed: dict) -> dict:
    """The params whose "when" can still hold given the fixed fields."""
    return {
        name: spec
        for name, spec in params.items()
        if all(f not in fixed or fixed[f] in v for f, v in spec.get("when", {}).items())
    }


def applies(spec: dict, values: dict) -> bool:
    return all(values.get(field) in allowed for field, allowed in spec.get("when", {}).items())


def draw(trial, space: dict) -> dict:
    """The TrainConfig fields of one trial: the fixed ones and one draw per applicable param, asked
    of `trial` (an optuna Trial) by the param's name."""
    values = dict(space.get("fixed", {}))
    for name, spec in space["params"].items():
        if not applies(spec, values):
            continue
        if "choices" in spec:
            value = trial.suggest_categorical(name, spec["choices"])
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            value = trial.suggest_int(name, spec["low"], spec["high"], log=spec.get("log", False))
        else:
            low, high, log = float(spec["low"]), float(spec["high"]), spec.get("log", False)
            value = trial.suggest_float(name, low, high, log=log)
        values[spec.get("field", name)] = value
    return values


def grid(space: dict, points: int = 3) -> dict[str, list]:
    """Each param's values for a grid search: its choices, or `points` values spread over its range
    (geometrically for a log range). Params with a "when" are left out: a grid has no conditions."""
    result = {}
    for name, spec in space["params"].items():
        if "when" in spec:
            continue
        if "choices" in spec:
            result[name] = list(spec["choices"])
            continue
        low, high, log = spec["low"], spec["high"], spec.get("log", False)
        ticks = [
            low * (high / low) ** (k / (points - 1))
            if log
            else low + k * (high - low) / (points - 1)
            for k in range(points)
        ]
        ticks[0], ticks[-1] = low, high  # exactly: rounding must not step outside the range
        if isinstance(low, int) and isinstance(high, int):
            ticks = sorted({round(t) for t in ticks})
        result[name] = ticks
    return result


def describe(space: dict) -> list[tuple[str, str]]:
    """(name, what it draws) per param, then the fixed fields: the space as a table."""
    rows = []
    for name, spec in space["params"].items():
        if "choices" in spec:
            text = ", ".join(str(c) for c in spec["choices"])
        else:
            text = f"{spec['low']:g} .. {spec['high']:g}" + (" (log)" if spec.get("log") else "")
        if "when" in spec:
            text += " when " + ", ".join(f"{f} in {v}" for f, v in spec["when"].items())
        rows.append((name, text))
    rows += [(field, f"{value} (fixed)") for field, value in space.get("fixed", {}).items()]
    return rows


def default_trials(space: dict, dataset: str = "mnist") -> list[dict]:
    """The params of each model family's hand-picked recipe (`firstnet train --model M` with every
    default), for each family the space can express (the fixed fields as the space fixes them): a
    study runs these first, so it starts from the default and its table says at once what the
    search adds to it."""
    fixed = space.get("fixed", {})
    models = [fixed["model"]] if "model" in fixed else []
    for name, spec in space["params"].items():
        if spec.get("field", name) == "model":
            models = list(spec.get("choices", []))
    trials = []
    for model in models:
        defaults = TrainConfig(model=model, dataset=dataset).to_dict()
        values, params = dict(fixed), {}
        for name, spec in space["params"].items():
            if not applies(spec, values):
                continue
            value = defaults[spec.get("field", name)]
            if not contains(spec, value):
                break
            values[spec.get("field", name)] = params[name] = value
        else:
            trials.append(params)
    return trials


def contains(spec: dict, value) -> bool:
    """Whether a param can take `value`: an int range (both ends ints) whole numbers only."""
    if "choices" in spec:
        return value in spec["choices"]
    if not isinstance(value, int | float) or not spec["low"] <= value <= spec["high"]:
        return False
    whole = isinstance(spec["low"], int) and isinstance(spec["high"], int)
    return not whole or float(value).is_integer()
