"""The student's side of `firstnet check`, in a process of its own (`check.run_file` starts it
with limits on time, memory and file size):

    python -I -m firstnet.homework.student STUDENT_FILE FOLDER CPU_S MEMORY_BYTES FILE_BYTES

It loads STUDENT_FILE under an audit hook (PEP 578) that refuses what a derivation never needs:
importing torch or another autograd (the point is the derivation), starting processes, loading C
libraries, opening sockets, and writing or removing anything outside FOLDER. It reads the cases
from FOLDER/cases.npz, calls the student's `backward(params, cache, y)` on each, and writes the
answers to FOLDER/answers.npz, a case where it raised to FOLDER/errors.json; a failure of the
whole file goes to FOLDER/failure.json instead. Each is one line and, for the student's own
exception, its traceback through the student's file only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from contextlib import suppress
from pathlib import Path

import numpy as np

NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
AUTOGRAD = ("torch", "jax", "jaxlib", "tensorflow", "autograd", "mxnet", "paddle", "firstnet")
# Modules that reach around the hook's events: processes without an event, raw memory, files
# written by a C library. Dropped from sys.modules and refused, however they are imported.
AROUND = ("subprocess", "_posixsubprocess", "multiprocessing", "ctypes", "_ctypes", "sqlite3",
          "_sqlite3", "dbm", "_dbm", "_gdbm", "mmap", "socket", "_socket")  # fmt: skip
REFUSED = (
    "os.fork",
    "os.forkpty",
    "os.system",
    "os.posix_spawn",
    "os.spawn",
    "os.exec",
    "os.kill",
    "os.killpg",
    "subprocess.",
    "ctypes.",
    "socket.",
    "sqlite3.",
    "pty.",
    "os.startfile",
    "mmap.",
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.link",
    "os.symlink",
    "os.truncate",
    "os.utime",
    "os.chflags",
    "shutil.",
)  # fmt: skip  -- a derivation changes no file and starts nothing
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class Refused(Exception):
    """What the check does not allow, raised where the student's code asked for it."""


def inside(path, folder: Path) -> bool:
    """Whether `path` is an absolute path inside `folder` (a relative one may be meant from a
    directory descriptor the event does not show: refused)."""
    try:
        name = os.fsdecode(path)
        return os.path.isabs(name) and Path(os.path.realpath(name)).is_relative_to(folder)
    except (TypeError, ValueError):
        return False  # a file descriptor or something stranger: not a path inside


class Refusing:
    """A finder first on sys.meta_path: the modules of AUTOGRAD and AROUND cannot be imported by
    any route (the "import" event misses importlib.import_module)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        top = name.split(".")[0]
        if top in AUTOGRAD:
            raise Refused(f"importing {name} is not allowed: derive the gradients with NumPy")
        if top in AROUND:
            raise Refused(f"importing {name} is not allowed in a homework check")
        return None


def install_hook(folder: Path) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in AROUND:
            del sys.modules[name]  # numpy loaded ctypes: its copy is out of the student's reach
    sys.meta_path.insert(0, Refusing())

    def audit(event: str, args: tuple) -> None:
        if event == "import" and str(args[0]).split(".")[0] in AUTOGRAD + AROUND:
            Refusing.find_spec(str(args[0]))
        if event.startswith(REFUSED):
            raise Refused(f"{event} is not allowed in a homework check")
        if event == "open":
            path, mode, flags = args
            writing = any(c in str(mode or "") for c in "wax+") or bool((flags or 0) & WRITE_FLAGS)
            if writing and not inside(path, folder):
                raise Refused(f"writing {path} is not allowed: only the check's own folder")

    sys.addaudithook(audit)


def limit(cpu_s: int, memory_bytes: int, file_bytes: int) -> None:
    """This process's CPU time, address space (not on macOS, which refuses it) and file size,
    each at most what the system already allows."""
    try:
        import resource
    except ImportError:  # Windows: the wall-clock limit of the parent remains
        return
    wanted = [(resource.RLIMIT_CPU, cpu_s), (resource.RLIMIT_FSIZE, file_bytes),
              (resource.RLIMIT_CORE, 0)]  # fmt: skip
    if sys.platform != "darwin":
        wanted.append((resource.RLIMIT_AS, memory_bytes))
    for kind, value in wanted:
        _, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        with suppress(ValueError, OSError):  # refused: the wall-clock limit and the hook remain
            resource.setrlimit(kind, (value, value if kind != resource.RLIMIT_CPU else value + 1))


def fail(folder: Path, line: str, details: str = "") -> int:
    (folder / "failure.json").write_text(json.dumps({"line": line, "details": details}))
    return 1


def student_traceback(error: BaseException, student: Path) -> str:
    """The traceback of the student's exception through the student's file only."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if Path(frame.filename) == student]  # fmt: skip
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    return "Traceback (most recent call last):\n" + "".join(lines)


def main(argv: list[str]) -> int:
    student, folder = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    limit(*(int(value) for value in argv[2:5]))
    sys.dont_write_bytecode = True
    data = np.load(folder / "cases.npz")
    exercise = str(data["exercise"])
    count = int(data["count"]) if exercise == "mlp" else 0
    cases = [({name: data[f"{i}/params/{name}"] for name in NAMES},
              {key: data[f"{i}/cache/{key}"] for key in ("X", "Z1", "A1", "Z2", "A2", "Z3", "P")},
              data[f"{i}/y"]) for i in range(count)]  # fmt: skip
    install_hook(folder)
    spec = importlib.util.spec_from_file_location("homework", student)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        where = f"{Path(error.filename or student).name}, line {error.lineno}"
        return fail(folder, f"a syntax error in {where}: {error.msg}")
    except Refused as refused:
        return fail(folder, str(refused))
    except MemoryError:
        return fail(folder, "the file asked for more memory than the check allows")
    except Exception as error:  # noqa: BLE001 - the student's own exception, shown as theirs
        return fail(folder, f"loading the file raised {type(error).__name__}: {error}",
                    student_traceback(error, student))  # fmt: skip
    if exercise == "activations":
        return answer_derivatives(module, data, folder)
    backward = getattr(module, "backward", None)
    if not callable(backward):
        return fail(folder, "the file has no function backward(params, cache, y)")
    answers, errors = {}, []
    for index, (params, cache, y) in enumerate(cases):
        try:
            found = backward({k: v.copy() for k, v in params.items()},
                             {k: v.copy() for k, v in cache.items()}, y.copy())  # fmt: skip
        except Refused as refused:
            return fail(folder, str(refused))
        except MemoryError:
            return fail(folder, "backward asked for more memory than the check allows")
        except Exception as error:  # noqa: BLE001 - the student's own exception, shown as theirs
            line = f"backward raised {type(error).__name__}: {error}"
            errors.append({"case": index, "line": line,
                           "details": student_traceback(error, student)})  # fmt: skip
            continue
        if not isinstance(found, dict):
            return fail(folder, f"backward returned a {type(found).__name__}, not a dict of "
                        "W1, b1, W2, b2, W3, b3")  # fmt: skip
        missing = [name for name in NAMES if name not in found]
        if missing:
            return fail(folder, f"backward's dict lacks {', '.join(missing)}")
        for name in NAMES:
            try:
                answers[f"{index}/{name}"] = np.asarray(found[name], dtype=np.float64)
            except (TypeError, ValueError):
                return fail(folder, f"backward's {name} is not an array of numbers")
    (folder / "errors.json").write_text(json.dumps(errors))
    np.savez(folder / "answers.npz", **answers)
    return 0


def answer_derivatives(module, data, folder: Path) -> int:
    """The second exercise: the student's derivative(name, z, a) of each activation asked."""
    derivative = getattr(module, "derivative", None)
    if not callable(derivative):
        return fail(folder, "the file has no function derivative(name, z, a)")
    answers, errors = {}, {}
    for name in (str(name) for name in data["names"]):
        try:
            found = derivative(name, data[f"{name}/z"].copy(), data[f"{name}/a"].copy())
            answers[name] = np.asarray(found, dtype=np.float64)
        except Refused as refused:
            return fail(folder, str(refused))
        except NotImplementedError:
            errors[name] = "not written yet (NotImplementedError)"
        except Exception as error:  # noqa: BLE001 - the student's own, said on its line
            errors[name] = f"derivative raised {type(error).__name__}: {error}"
    (folder / "errors.json").write_text(json.dumps(errors))
    np.savez(folder / "answers.npz", **answers)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
