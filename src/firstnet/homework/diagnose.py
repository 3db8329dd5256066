"""What is wrong with a student's gradients, found by reproducing them.

Each wrong answer is compared with the gradients the reference computes with common mistakes made
on purpose (`derivation.MISTAKES`: one step of the derivation done wrong, alone or two together) and
with a gradient's own slips (`derivation.LOCAL`: transposed, a bias summed over the wrong axis or
averaged). The explanation is the fewest mistakes that reproduce every gradient on every case; a
gradient that a mistake upstream made wrong is said to be wrong only because of it. When nothing
reproduces the answer, the checker says so with the relative error: it never guesses.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from firstnet.homework.derivation import LOCAL, MISTAKES, NAMES, Case, backward, finite_differences

# The layer at which a mistake enters the backward pass: the gradients below it carry it.
ENTERS = {"p-not-p-minus-y": 3, "no-mean": 3, "mean-twice": 3, "sign": 3, "no-mask-2": 2,
          "mask-2-from-layer-1": 2, "mask-2-is-activation": 2, "no-mask-1": 1,
          "mask-1-from-layer-2": 1, "mask-1-is-activation": 1}  # fmt: skip
RTOL = 1e-6
ORDER = ("W3", "b3", "W2", "b2", "W1", "b1")  # as the derivation goes: a mistake shows first


def close(answer, expected: np.ndarray) -> bool:
    if not isinstance(answer, np.ndarray) or answer.shape != expected.shape:
        return False
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-12)
    return bool(np.all(np.abs(answer - expected) <= RTOL * scale + 1e-12))


def relative_error(answer, expected: np.ndarray) -> float:
    if not isinstance(answer, np.ndarray) or answer.shape != expected.shape:
        return float("inf")
    return float(np.linalg.norm(answer - expected) / max(np.linalg.norm(expected), 1e-300))


def local_forms(name: str, grads: dict, signals: dict, batch: int) -> dict:
    """What a gradient looks like with each slip of LOCAL that applies to it."""
    layer = int(name[1])
    if name.startswith("W"):
        return {"transposed": grads[name].T}
    return {"bias-mean": grads[name] / batch, "bias-over-units": signals[f"dZ{layer}"].sum(axis=1)}


SLIPS = {"W": ("transposed",), "b": ("bias-mean", "bias-over-units")}
CLASHES = [{"no-mean", "mean-twice"}]  # and two ways to get one layer's mask wrong


def mistake_sets():
    """No mistake, each one, then each pair that can go together."""
    yield frozenset()
    names = list(MISTAKES)
    for name in names:
        yield frozenset({name})
    for pair in combinations(names, 2):
        masks = [ENTERS[name] for name in pair if "mask" in name]
        if set(pair) not in CLASHES and len(masks) == len(set(masks)):
            yield frozenset(pair)


def explain(cases: list[Case], caches: list[dict], answers: list[dict]) -> dict | None:
    """The fewest mistakes that reproduce every answer: {"mistakes": set, "local": {name: slip}};
    None when none does."""
    best = None
    for mistakes in mistake_sets():
        try:
            made = [backward(case.params, cache, case.y, mistakes)
                    for case, cache in zip(cases, caches, strict=True)]  # fmt: skip
        except ValueError:  # a mask from a layer of another width
            continue
        local = {}
        for name in NAMES:
            if all(close(answer[name], grads[name])
                   for answer, (grads, _) in zip(answers, made, strict=True)):  # fmt: skip
                continue
            together = list(zip(answers, made, cases, strict=True))
            slips = [slip for slip in SLIPS[name[0]] if all(
                close(answer[name], local_forms(name, grads, signals, len(case.y))[slip])
                for answer, (grads, signals), case in together)]  # fmt: skip
            if not slips:
                break
            local[name] = slips[0]
        else:
            count = len(mistakes) + len(local)
            if best is None or count < best[0]:
                best = (count, {"mistakes": mistakes, "local": local})
    return best[1] if best else None


def verdicts(cases: list[Case], caches: list[dict], answers: list[dict]) -> list[dict]:
    """One verdict per gradient: {"name", "ok", "why"} (why: the mistake, or what is known)."""
    correct = [backward(case.params, cache, case.y, frozenset())[0]
               for case, cache in zip(cases, caches, strict=True)]  # fmt: skip
    right = {name: all(close(answer[name], grads[name])
                       for answer, grads in zip(answers, correct, strict=True))
             for name in NAMES}  # fmt: skip
    found = None if all(right.values()) else explain(cases, caches, answers)
    results = []
    for name in ORDER:
        if right[name]:
            agree = all(agrees_numerically(case, answer, name)
                        for case, answer in zip(cases, answers, strict=True)
                        if not case.kinks)  # fmt: skip
            why = "" if agree else "it agrees with the reference but not with finite differences"
            results.append({"name": name, "ok": agree, "why": why})
            continue
        results.append({"name": name, "ok": False, "why": why_wrong(name, found, answers, correct)})
    return results


def why_wrong(name: str, found: dict | None, answers: list[dict], correct: list[dict]) -> str:
    """The line that says what is wrong with gradient `name`."""
    if found is None:
        shapes = {getattr(answer[name], "shape", None) for answer in answers}
        expected = {grads[name].shape for grads in correct}
        if shapes != expected:
            shown = ", ".join(str(shape) for shape in sorted(shapes, key=str))
            return f"its shape is {shown}, not {', '.join(map(str, sorted(expected)))}"
        error = max(relative_error(answer[name], grads[name])
                    for answer, grads in zip(answers, correct, strict=True))  # fmt: skip
        return f"no known mistake explains it (relative error {error:.2g})"
    layer = int(name[1])
    if name in found["local"]:
        slip = LOCAL[found["local"][name]]
        upstream = [m for m in found["mistakes"] if ENTERS[m] >= layer]
        if not upstream:
            return slip
        rest = {"mistakes": upstream, "local": {}}  # the mistakes this gradient carries as well
        return f"{slip}; and {why_wrong(name, rest, answers, correct)}"
    here = sorted(m for m in found["mistakes"] if ENTERS[m] == layer)
    if here:
        return "; ".join(MISTAKES[m] for m in here)
    above = sorted(ENTERS[m] for m in found["mistakes"] if ENTERS[m] > layer)
    return (f"wrong only because the signal into layer {layer} is: dZ{above[0]} carries the "
            f"mistake named above")  # fmt: skip


def agrees_numerically(case: Case, answer: dict, name: str) -> bool:
    """The answer at a few entries against central differences of the loss."""
    picked, numbers = finite_differences(case, name)
    values = np.asarray(answer[name]).reshape(-1)[picked]
    return bool(np.allclose(values, numbers, rtol=1e-4, atol=1e-6))
