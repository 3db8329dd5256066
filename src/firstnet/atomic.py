"""The one way firstnet writes a file: to a unique temporary name beside the target, then renamed
over it.

A reader sees the old file or the new one, never a mix; a crash or Ctrl-C mid-write leaves no
partial file (and no temporary one). Torch-free, so figures and the data cache use it too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, content: bytes | str | Callable[[Path], object]) -> Path:
    """Write `content` to `path` atomically; returns `path`.

    `content` is bytes, text (UTF-8), or a function that writes the temporary file it is given (a
    figure's savefig, safetensors, ffmpeg). The temporary name keeps the target's suffix, so writers
    that choose a format by extension see the right one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    tmp = Path(tmp_name)
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
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
