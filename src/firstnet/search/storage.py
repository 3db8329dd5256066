"""Where a study of `firstnet search` is stored, and how its folder's study.json names that place.

Storage: a journal file in the study folder by default (Optuna's JournalStorage, safe for several
processes of one machine), or any SQLAlchemy URL (`postgresql://...`) for workers on many machines,
with heartbeats: a trial whose worker died is failed after GRACE_BEATS missed heartbeats and run
again (Optuna's RetryHeartbeatStaleTrialCallback). A journal is checked before Optuna reads it
(`check_journal`): a damaged one is a ConfigError naming it, a partial last line (a writer killed
mid-write) is cut off after the journal is copied aside. A database URL's password is kept out of
study.json and the workers' command lines: they get it from FIRSTNET_STORAGE_PASSWORD.

study.json keeps the storage, the study's settings and its timeout; a journal inside the study
folder by its path there, so the folder can be moved and resumed from anywhere.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna

from firstnet.atomic import atomic_write, loads
from firstnet.errors import ConfigError
from firstnet.search import space as spaces
from firstnet.search.space import MAX_SPACE_BYTES

# A database trial with no heartbeat for GRACE_BEATS heartbeats is failed and run again.
HEARTBEAT_S, GRACE_BEATS = 5, 4
RETRIES = 3  # times a failed (killed) trial is run again
JOURNAL = "journal.log"
# the password of a storage URL that names a user and no password (--resume, workers)
PASSWORD_ENV = "FIRSTNET_STORAGE_PASSWORD"
STUDY_JSON = "study.json"
# study.json's format: 2 keeps a journal's path relative to the study folder and no password
FORMAT = 2


def open_storage(
    where: str,
    heartbeat_s: int = HEARTBEAT_S,
    *,
    existing: bool = False,
    password: str | None = None,
    say: Callable[[str], None] = lambda text: None,
):
    """Optuna storage: an SQLAlchemy URL (with heartbeats every `heartbeat_s` seconds, a trial
    silent for 4 of them failed and retried) or a journal file's path. A URL without a password
    takes `password`, else FIRSTNET_STORAGE_PASSWORD's. A journal is checked first
    (`check_journal`; `existing`: it must hold a study already, `say` hears of a repair)."""
    if "://" in where:
        url = with_password(where, password or os.environ.get(PASSWORD_ENV))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=RETRIES)
                return optuna.storages.RDBStorage(
                    driver_url(url),
                    heartbeat_interval=heartbeat_s,
                    grace_period=GRACE_BEATS * heartbeat_s,
                    heartbeat_stale_trial_callback=retry,
                    engine_kwargs={"pool_pre_ping": True},
                )
        except Exception as error:  # SQLAlchemy's errors: bad URL, no server, wrong password
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            asked = url == where and "@" in where and without_password(where)[1] is None
            hint = f" (a password? set {PASSWORD_ENV})" if asked else ""
            raise ConfigError(
                f"cannot open the study storage {redact(url)}: {first}{hint}"
            ) from None
    from optuna.storages.journal import JournalFileBackend

    check_journal(Path(where), existing, say)
    Path(where).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(where)))


def check_journal(path: Path, existing: bool, say: Callable[[str], None]) -> None:
    """A journal file every line of which Optuna replays, or a ConfigError that names it and says
    what to do; `existing`: it must hold entries (a resume, a worker), else it may be missing or
    empty (a new study). It must be a regular file (a FIFO or /dev/zero is refused unread).

    Optuna appends a whole line at a time, under a lock; a last line without its newline is a
    writer killed mid-write. Optuna's reader skips it, but its next append would continue that
    line into one nothing can read: under the writers' lock, the journal is copied aside and the
    partial line cut off, and `say` tells."""
    if not path.exists() and not path.is_symlink():
        if existing:
            raise ConfigError(
                f"the study journal {path} is missing: restore it from a backup, or start a new "
                "study in another folder"
            )
        return
    data = spaces.read_regular_file(path, "the study journal")
    if not data or data.endswith(b"\n"):
        return check_lines(path, data, existing)
    from optuna.storages.journal import JournalFileSymlinkLock

    lock = JournalFileSymlinkLock(str(path))  # the lock Optuna's writers hold
    lock.acquire()
    try:
        data = spaces.read_regular_file(path, "the study journal")  # a live writer may be done
        whole = data[: data.rfind(b"\n") + 1]
        if not whole:
            raise ConfigError(
                f"the study journal {path} holds no whole line ({len(data):,} bytes without a "
                "newline): restore it from a backup, or start a new study in another folder"
            )
        check_lines(path, whole, existing)
        if whole != data:
            aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            atomic_write(aside, data)
            os.truncate(path, len(whole))
            lines, cut = whole.count(b"\n"), len(data) - len(whole)
            say(
                f"The study journal {path} ended in part of a line ({cut} bytes: a writer killed "
                f"mid-write); cut it off, continuing from the {lines} lines before it. The "
                f"journal as it was: {aside}"
            )
    finally:
        lock.release()


def check_lines(path: Path, data: bytes, existing: bool) -> None:
    """Every line of `data` (whole lines of the journal `path`) replayed as Optuna does; a
    ConfigError naming the first that fails."""
    from optuna.storages.journal import BaseJournalBackend

    if not data and existing:
        raise ConfigError(
            f"the study journal {path} is empty: the study's trials are gone; restore it from "
            "a backup, or start a new study in another folder"
        )
    lines = data.split(b"\n")[:-1]

    class Replay(BaseJournalBackend):
        line, parsed = 0, False

        def read_logs(self, log_number_from: int):
            for self.line, text in enumerate(lines[log_number_from:], log_number_from + 1):
                self.parsed = False
                entry = json.loads(text)
                self.parsed = True
                yield entry

        def append_logs(self, logs) -> None:
            raise AssertionError("a check writes nothing")

    replay = Replay()
    try:
        optuna.storages.JournalStorage(replay)
    except Exception as error:  # json's errors, then KeyError, TypeError... of Optuna's replay
        what = "an Optuna journal entry" if replay.parsed else "JSON"
        reason = " ".join(f"{type(error).__name__}: {error}".split())[:120]
        sound = f"its first {replay.line - 1} lines are sound" if replay.line > 1 else "no line is"
        raise ConfigError(
            f"the study journal {path} is damaged: line {replay.line} is not {what} ({reason}); "
            f"restore it from a backup ({sound})"
        ) from None


def driver_url(url: str) -> str:
    """postgresql:// and postgres:// URLs go through psycopg 3 (SQLAlchemy's default: psycopg2)."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def redact(url: str) -> str:
    """A URL with its password replaced by ***, for messages."""
    head, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    user, colon, _password = credentials.partition(":")
    return f"{head}://{user}:***@{host}" if sep and at and colon else url


def without_password(url: str) -> tuple[str, str | None]:
    """(`url` without its password, the password or None): what a study keeps in study.json and
    puts on its workers' command lines, and what it hands them through PASSWORD_ENV. A journal's
    path comes back as it is."""
    from sqlalchemy.engine import URL, make_url

    if "://" not in url:
        return url, None
    try:
        parsed = make_url(url)
    except Exception:  # not an SQLAlchemy URL: opening it says why
        return url, None
    password = parsed.password or parsed.query.get("password")
    query = {key: value for key, value in parsed.query.items() if key != "password"}
    bare = URL.create(  # (URL.set takes password=None for "unchanged")
        parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, query
    )
    return bare.render_as_string(hide_password=False), str(password) if password else None


def with_password(url: str, password: str | None) -> str:
    """`url` with `password` when it names a user and no password of its own."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return url
    if not password or parsed.password or not parsed.username:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def located(storage: str, folder: Path, legacy: bool = False) -> str:
    """A storage as study.json keeps it, for this process: a URL as it is, a journal's path
    relative to `folder` made absolute. `legacy`: a study.json before FORMAT 2 kept the default
    journal's path relative to where the study started: there, else in `folder`."""
    if "://" in storage:
        return storage
    path = Path(storage)
    if legacy and not path.is_absolute():
        return os.path.abspath(path if path.exists() or path.is_symlink() else folder / path.name)
    return os.path.abspath(Path(folder) / path)


def kept_storage(storage_url: str, out_dir: Path) -> str:
    """`storage_url` (without its password) as study.json keeps it: a journal inside the study
    folder by its path there, so the folder can be moved and resumed from anywhere."""
    if "://" in storage_url:
        return storage_url
    try:
        return str(Path(storage_url).relative_to(os.path.abspath(out_dir)))
    except ValueError:
        return storage_url


def resumed_storage(saved: dict, out_dir: Path, given: str | None) -> tuple[str, str | None]:
    """The storage of the study in `out_dir` (its study.json `saved`) and its password: `given`'s
    (--storage beside --resume, which must name the same storage), else None (then
    FIRSTNET_STORAGE_PASSWORD's). A study.json before FORMAT 2 may hold the password in its URL:
    it still works, and the study.json written next holds none."""
    storage_url, password = without_password(saved["storage"])
    storage_url = located(storage_url, out_dir, legacy=saved.get("format") is None)
    if given:
        bare, password = without_password(given)
        if located(bare, Path.cwd()) != storage_url:
            raise ConfigError(
                f"--storage names {redact(given)}, but the study in {out_dir} is in "
                f"{storage_url}; give its password with {PASSWORD_ENV} or as part of "
                "that URL",
                ("storage",),
            )
    return storage_url, password


def read_study_json(out_dir: Path) -> dict:
    path = Path(out_dir) / STUDY_JSON
    if not path.exists() and not path.is_symlink():
        raise ConfigError(f"{out_dir} holds no study ({STUDY_JSON} is missing)")
    # a regular file of a size a study's settings can have (a FIFO must not hang)
    text = spaces.read_text_file(path, "the study file", 100 * MAX_SPACE_BYTES)
    try:
        saved = loads(text)
    except ValueError as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from None
    fields = ("storage", "settings", "timeout")
    if not isinstance(saved, dict) or not all(field in saved for field in fields):
        raise ConfigError(f"{path} is not a study's: it must hold {', '.join(fields)}")
    return saved
