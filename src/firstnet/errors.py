"""Errors a user can cause and fix. The CLI prints them as one line, without a traceback."""


class FirstnetError(Exception):
    """Base class: a problem with the user's input or environment, not a bug.

    A message names an option by its Python name (`label_smoothing`, as `firstnet.train` takes
    it) and lists it in `fields`; the command line shows it as its flag (`--label-smoothing`)."""

    exit_code = 1

    def __init__(self, message: str = "", fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.fields = fields


class DataFormatError(FirstnetError):
    """A data file exists but is not what it claims to be (corrupt, truncated, wrong checksum)."""


class DataNotFoundError(FirstnetError):
    """No source could provide the data set."""

    exit_code = 2


class DivergedError(FirstnetError):
    """Training produced a non-finite loss."""


class CheckpointError(FirstnetError):
    """A run directory or checkpoint cannot be used (missing files, mismatched tensors)."""


class ImageError(FirstnetError):
    """A user image cannot be read or holds no digit."""


class ConfigError(FirstnetError, ValueError):
    """An option has an invalid value."""

    exit_code = 2


class ServeError(FirstnetError):
    """`firstnet serve` cannot start: no model to serve, or the address is taken."""

    exit_code = 2


class StorageError(FirstnetError):
    """A file cannot be written: the disk is full, a quota or file-size limit is reached, or the
    folder is not writable. Nothing half-written is left behind."""
