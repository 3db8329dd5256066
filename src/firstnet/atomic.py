"""The one way firstnet writes a file: to a unique temporary name beside the target, flushed to the
disk, then renamed over it, and the rename itself flushed. And the one way it reads a file it did
not write (`open_regular`, `read_regular`): a regular file of a bounded size, or a clear error.

A reader sees the old file or the new one, never a mix; a crash, a power loss or a Ctrl-C mid-write
leaves no partial file (and no temporary one, except after a SIGKILL: `remove_stale` clears those).
A full disk or a file-size limit is a StorageError, not a traceback. Torch-free, so figures and the
data cache use it too.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from firstnet.errors import FirstnetError, StorageError

TEMPORARY = ".tmp"  # temporary files are named .<stem>.<random>.tmp<suffix>


def atomic_write(path: Path, content: bytes | str | Callable[[Path], object]) -> Path:
    """Write `content` to `path` atomically and durably; returns `path`.

    `content` is bytes, text (UTF-8), or a function that writes the temporary file it is given (a
    figure's savefig, safetensors, ffmpeg). The temporary name keeps the target's suffix, so writers
    that choose a format by extension see the right one.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=TEMPORARY + path.suffix,
                                    dir=path.parent)  # fmt: skip
    except OSError as err:
        raise StorageError(f"cannot write {path}: {err.strerror or err}") from err
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(content, str):
                handle.write(content.encode())
            elif isinstance(content, bytes | bytearray):
                handle.write(content)
            elif not callable(content):
                raise TypeError(f"atomic_write: cannot write a {type(content).__name__}")
        if callable(content):
            content(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; run folders and figures are ordinary user files
        sync_file(tmp)
        os.replace(tmp, path)
        sync_folder(path.parent)
    except OSError as err:
        raise StorageError(f"cannot write {path}: {err.strerror or err}") from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


def sync_file(path: Path) -> None:
    """Flush a file's bytes to the disk (before a rename makes it the real one)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename or a deletion in it) to the disk, where the system
    allows."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # folders cannot be opened on some systems (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale(folder: Path, older_than_s: float = 0.0) -> list[Path]:
    """Delete the temporary files `atomic_write` leaves when a process is killed mid-write (those
    older than `older_than_s` seconds, when other processes may be writing there now)."""
    removed, now = [], time.time()
    for candidate in Path(folder).glob(f".*{TEMPORARY}*"):
        try:
            if candidate.is_file() and now - candidate.stat().st_mtime >= older_than_s:
                candidate.unlink()
                removed.append(candidate)
        except OSError:
            continue
    return removed


KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
         stat.S_IFDIR: "a folder", stat.S_IFSOCK: "a socket"}  # fmt: skip


def open_regular(path: Path, limit: int, error: type[FirstnetError] = FirstnetError) -> BinaryIO:
    """`path` opened for reading if it is a regular file of at most `limit` bytes (a symbolic link
    is followed only to one); else `error`, naming the file. The file is opened without waiting
    (a FIFO would wait for a writer), then checked on the open descriptor: a FIFO, a device such as
    /dev/zero or a folder is refused before a byte is read, and so is a file over `limit`."""
    path = Path(path)
    nonblocking = getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, os.O_RDONLY | nonblocking | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise error(f"{path}: cannot read file ({err.strerror or err})") from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = KINDS.get(stat.S_IFMT(info.st_mode), "not a file")
            raise error(f"{path}: not a regular file ({kind}); firstnet reads only regular files")
        if info.st_size > limit:
            raise error(f"{path}: {info.st_size:,} bytes, over the {limit:,} such a file can have")
        if nonblocking:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit: int, error: type[FirstnetError] = FirstnetError) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes (`open_regular`)."""
    with open_regular(path, limit, error) as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            content = handle.read(min(size, limit) + 1)
        except OSError as err:
            raise error(f"{path}: cannot read file ({err.strerror or err})") from err
    if len(content) > limit:  # it grew while it was read
        raise error(f"{path}: over the {limit:,} bytes such a file can have")
    return content


def loads(text: bytes | str):
    """`json.loads`; JSON nested too deeply is a ValueError like any other bad JSON (so is an
    integer of over 4,300 digits, Python's limit), not a RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
