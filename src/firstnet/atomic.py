"""The one way firstnet writes a file: to a unique temporary name beside the target, flushed to the
disk, then renamed over it, and the rename itself flushed. And the one way it reads a file it did
not write (`open_regular`, `read_regular`): a regular file of a bounded size, or a clear error.

A reader sees the old file or the new one, never a mix; a crash, a power loss or a Ctrl-C mid-write
leaves no partial file (and no temporary one, except after a SIGKILL: `remove_stale` clears those).
A full disk or a file-size limit is a StorageError, not a traceback. `locked` holds a folder for
one writing process. Torch-free, so figures and the data cache use it too.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from firstnet.errors import CheckpointError, FirstnetError, StorageError

try:
    import fcntl  # POSIX: run directories are locked; on Windows they are not (docs/security.md)
except ImportError:  # pragma: no cover
    fcntl = None

TEMPORARY = ".tmp"  # temporary files are named .<stem>.<random>.tmp<suffix>
Content = bytes | str | Callable[[Path], object]  # what `atomic_write` writes


def atomic_write(path: Path, content: Content) -> Path:
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


def write_files(folder: Path, files: dict[str, Content | None]) -> None:
    """Files of `folder` replaced one after the other in the order given, each as `atomic_write`
    writes one; a name given None is removed. A crash between two leaves the first ones new and the
    rest as they were, so give first what the later ones need."""
    folder, removed = Path(folder), False
    for name, content in files.items():
        if content is not None:
            atomic_write(folder / name, content)  # its rename flushed already
            continue
        try:
            (folder / name).unlink(missing_ok=True)
        except OSError as err:
            raise StorageError(f"cannot remove {folder / name}: {err.strerror or err}") from err
        removed = True
    if removed:  # the deletions, flushed once
        sync_folder(folder)


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


@contextmanager
def locked(path: Path, busy: str) -> Iterator[None]:
    """Hold the lock file `path` (made if missing) for the block, so that one process at a time
    writes in its folder; then remove the temporary files a killed writer left there. Another
    process holding it is a CheckpointError saying `busy`. The lock goes with the process, so a
    killed one leaves nothing held. The lock is opened never through a symbolic link, and only as a
    regular file: a link planted there would otherwise make firstnet create or lock a file
    elsewhere."""
    path = Path(path)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as err:
        why = "a symbolic link" if err.errno == errno.ELOOP else err.strerror or str(err)
        raise CheckpointError(f"{path}: cannot open the lock ({why}); remove it") from err
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CheckpointError(f"{path}: the lock is not a regular file; remove it")
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckpointError(busy) from None
        remove_stale(path.parent)  # no other process writes here: a temporary file is a dead one's
        yield
    finally:
        os.close(fd)


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
