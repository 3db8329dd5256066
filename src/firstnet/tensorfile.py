"""A safetensors file, read only after its header is checked, and a state dict stored in one.

A file firstnet did not write may be anything: `load_tensors` reads it only if it is a regular
file under a size limit whose header is well formed, tiles the file exactly and, where a model is
expected, names its tensors with their dtypes and shapes. A state dict with parts that are not
tensors (an optimizer's, a training's) is split into tensors and a JSON tree (`split_tensors`),
stored as the file's metadata: loading never executes code (no pickle).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file

from firstnet.atomic import atomic_write, loads, open_regular
from firstnet.errors import CheckpointError

# The most bytes a header may have: the names, and the metadata (a checkpoint's history and JSON
# tree of at most 65 MB: runs.MAX_METRICS plus runs.MAX_JSON)
MAX_HEADER = (64 << 20) + (1 << 20)
# safetensors' dtype codes, as torch names them
DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
          "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
          "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}  # fmt: skip


def tensor_writer(
    tensors: dict[str, torch.Tensor], metadata: dict[str, str]
) -> Callable[[Path], None]:
    """A function that writes `tensors` (on the CPU, contiguous) and `metadata` as a safetensors
    file to the path it is given, as `atomic.atomic_write` and `atomic.write_files` take it."""
    tensors = {name: value.detach().cpu().contiguous() for name, value in tensors.items()}

    def write(tmp: Path) -> None:
        try:
            save_file(tensors, tmp, metadata=metadata)
        except SafetensorError as err:  # safetensors reports a full disk as its own error
            raise OSError(str(err)) from err

    return write


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    atomic_write(path, tensor_writer(tensors, metadata))


def tensor_bytes(tensors: dict[str, torch.Tensor]) -> int:
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors.values())


def layout_of(tensors: dict[str, torch.Tensor]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Each tensor's dtype (as torch names it: float32) and shape."""
    return {
        name: (str(tensor.dtype).removeprefix("torch."), tuple(tensor.shape))
        for name, tensor in tensors.items()
    }


def read_header(handle, size: int, path: Path) -> tuple[dict[str, tuple[str, tuple]], dict]:
    """The layout of the tensors a safetensors file of `size` bytes declares, and its metadata, from
    its header alone (an 8-byte little-endian length, then at most MAX_HEADER bytes of JSON): a
    CheckpointError unless it is well formed and its tensors' offsets tile the rest of the file."""

    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path}: not a readable safetensors file ({why})")

    length = int.from_bytes(handle.read(8), "little")
    if size < 8 or length > min(size - 8, MAX_HEADER):
        raise bad(f"a header of {length:,} bytes in a file of {size:,}")
    try:
        header = loads(handle.read(length))
    except ValueError as err:
        raise bad(f"header: {err!s:.200}") from err
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise bad("its metadata are not strings")
    layout, spans = {}, []
    for name, entry in header.items():
        try:
            dtype, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            numbers = [*shape, start, end]
        except (TypeError, KeyError, ValueError):
            raise bad(f"{name[:100]}: not a tensor's dtype, shape and offsets") from None
        if not all(type(n) is int and n >= 0 for n in numbers):
            raise bad(f"{name[:100]}: not a tensor's dtype, shape and offsets")
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise bad(f"{name[:100]}: unknown dtype {str(dtype)[:20]!r}")
        if end - start != math.prod(shape) * DTYPES[dtype].itemsize:
            raise bad(f"{name[:100]}: its offsets do not hold its shape")
        layout[name] = (str(DTYPES[dtype]).removeprefix("torch."), tuple(shape))
        spans.append((start, end))
    at = 0
    for start, end in sorted(spans):
        if start != at:
            raise bad("its tensors overlap or leave gaps")
        at = end
    if at != size - 8 - length:
        raise bad(f"its header declares {at:,} bytes of tensors, the file holds "
                  f"{size - 8 - length:,}")  # fmt: skip
    return layout, metadata


def load_tensors(
    path: Path, limit: int, expected: dict[str, tuple[str, tuple]] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file, a regular file of at most `limit` bytes. The
    header is read and checked
    first (`read_header`), and with `expected` (a `layout_of`), the names, dtypes and shapes in it:
    the tensors are read only from a file that matches."""
    with open_regular(path, limit, CheckpointError) as handle:
        size = os.fstat(handle.fileno()).st_size
        layout, metadata = read_header(handle, size, path)
        if expected is not None and (problems := layout_problems(expected, layout)):
            message = f"{path} does not match its config.json: " + "; ".join(problems[:4])
            raise CheckpointError(message)
        handle.seek(0)
        content = handle.read(size + 1)
    if len(content) != size:
        raise CheckpointError(f"{path}: changed while it was read")
    try:
        return load_safetensors(content), metadata
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err


def layout_problems(expected: dict[str, tuple], found: dict[str, tuple]) -> list[str]:
    """How the `layout_of` some tensors differs from the model's."""
    problems = [f"missing {k}" for k in expected if k not in found]
    problems += [f"unexpected {k[:100]}" for k in found if k not in expected]
    problems += [
        f"{k}: shape {found[k][1]} but the config needs {shape}"
        for k, (_, shape) in expected.items()
        if k in found and found[k][1] != shape
    ]
    problems += [
        f"{k}: dtype {found[k][0]}, not {dtype}"
        for k, (dtype, _) in expected.items()
        if k in found and found[k][0] != dtype
    ]
    return problems


def check_state(
    expected: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], path: Path
) -> None:
    """One clear error if the names, shapes or dtypes of `tensors` differ from those of `expected`
    (a model's state dict), or if any value is not finite (a NaN weight would answer every input
    with class 0)."""
    if not isinstance(tensors, dict) or not all(
        isinstance(t, torch.Tensor) for t in tensors.values()
    ):
        raise CheckpointError(f"{path}: the model's state is not a set of tensors")
    problems = layout_problems(layout_of(expected), layout_of(tensors))
    problems += [
        f"{k}: holds non-finite values"
        for k, v in tensors.items()
        if v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if problems:
        raise CheckpointError(f"{path} does not match its config.json: " + "; ".join(problems[:4]))


def split_tensors(value, name: str, tensors: dict[str, torch.Tensor]):
    """`value` with every tensor moved into `tensors` under a unique dotted name and replaced by a
    reference: what is left is JSON (dicts with other than string keys become lists of pairs)."""
    if isinstance(value, torch.Tensor):
        if name in tensors:
            raise ValueError(f"two tensors of the state are both named {name}")
        tensors[name] = value
        return {"__tensor__": name}
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {
                key: split_tensors(item, f"{name}.{key}", tensors) for key, item in value.items()
            }
        pairs = [
            [key, split_tensors(item, f"{name}.{key}", tensors)] for key, item in value.items()
        ]
        return {"__items__": pairs}
    if isinstance(value, list | tuple):
        return [split_tensors(item, f"{name}.{index}", tensors) for index, item in enumerate(value)]
    return value


def join_tensors(value, tensors: dict[str, torch.Tensor]):
    """The inverse of `split_tensors`."""
    if isinstance(value, dict):
        if set(value) == {"__tensor__"}:
            return tensors[value["__tensor__"]]
        if set(value) == {"__items__"}:
            return {key: join_tensors(item, tensors) for key, item in value["__items__"]}
        return {key: join_tensors(item, tensors) for key, item in value.items()}
    if isinstance(value, list):
        return [join_tensors(item, tensors) for item in value]
    return value
