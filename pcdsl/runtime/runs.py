"""Run folders: where a training run writes, and the rules that keep earlier runs safe.

- A folder that already holds a run (any of ``RUN_FILES``) is refused unless the run is
  resumed or explicitly overwritten; overwriting removes the run files only, so nothing
  of a previous run (an old ``samples.png``, say) stays beside the new one, and files that
  are not pcdsl's are left alone.
- ``default_folder`` numbers the default name (``runs/NAME``, ``runs/NAME-2``, ...) so that
  a second run never collides with the first; resuming takes the newest of them.
- While a run writes, it holds an exclusive lock on ``.pcdsl-run.lock`` in the folder, so
  two runs never write one folder; then the temporary files of an earlier, killed run
  (``.checkpoint.pt.*.tmp`` and the like, left by a SIGKILL during an atomic write) are
  removed: no live writer can own them.
- ``held_interrupts`` defers SIGINT and SIGTERM around writes that must happen together (a
  checkpoint and the metrics line of its epoch).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

RUN_FILES = ("checkpoint.pt", "best.pt", "metrics.jsonl", "model.py", "curves.png",
             "samples.png")
LOCK_NAME = ".pcdsl-run.lock"


class RunFolderError(Exception):
    """The run folder cannot be used; the message says why and what to do."""


def holds_run(folder: Path) -> bool:
    return any((folder / name).exists() for name in RUN_FILES)


def default_folder(base: Path, resume: bool) -> Path:
    """``base`` if it holds no run, else the first of ``base-2``, ``base-3``, ... that holds
    none; when resuming, the last of that sequence that holds a run (``base`` if none)."""
    previous = base
    for number in range(1, 10_000):
        candidate = base if number == 1 else base.with_name(f"{base.name}-{number}")
        if not (candidate.is_dir() and holds_run(candidate)) and not candidate.is_file():
            return previous if resume else candidate
        previous = candidate
    raise RunFolderError(f"{base} and 9,998 numbered folders beside it already hold runs: "
                         "choose a folder with --out")


def prepare(folder: Path, *, resume: bool, overwrite: bool) -> None:
    """Check ``folder`` for a new run (or a resumed one) and create it; with ``overwrite``,
    remove the run files of the previous run. Raises ``RunFolderError``."""
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"--out {folder} is a file, not a folder: choose a folder for the "
                             "run's files")
    if folder.is_dir() and holds_run(folder) and not (resume or overwrite):
        found = ", ".join(name for name in RUN_FILES if (folder / name).exists())
        raise RunFolderError(f"{folder} already holds a run ({found}): add --resume to continue "
                             "it, --overwrite to replace it, or choose another --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"cannot create the run folder {folder}: "
                             f"{exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RunFolderError(f"cannot write into the run folder {folder}: permission denied")


def clear_previous(folder: Path) -> None:
    """Remove the run files of a previous run in ``folder`` (for ``--overwrite``)."""
    for name in RUN_FILES:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the folder's run lock (or raise ``RunFolderError`` if another run holds it),
    and remove stale temporary files of earlier runs once it is held."""
    import fcntl

    try:
        handle = open(folder / LOCK_NAME, "a")  # noqa: SIM115 (held for the whole run)
    except OSError as exc:
        raise RunFolderError(f"cannot write into the run folder {folder}: "
                             f"{exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderError(f"another pcc train is writing {folder} right now: wait for it "
                                 "or choose another --out") from None
        remove_stale_temporaries(folder)
        yield
    finally:
        handle.close()


def stale_temporaries(folder: Path) -> list[Path]:
    """Temporary files that ``pcdsl.files.atomic_write`` makes for the run files."""
    names = "|".join(re.escape(name) for name in RUN_FILES)
    pattern = re.compile(rf"\.({names})\.[A-Za-z0-9_]+\.tmp\Z")
    return sorted(p for p in folder.iterdir() if pattern.match(p.name) and p.is_file())


def remove_stale_temporaries(folder: Path) -> None:
    for path in stale_temporaries(folder):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# The signals that stop a run: Ctrl-C, and what schedulers, `kill` and `timeout` send.
STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def held_interrupts() -> Iterator[None]:
    """Defer SIGINT and SIGTERM until the block ends, so writes that belong together are
    never cut between them; then a SIGINT raises ``KeyboardInterrupt`` and a SIGTERM is
    delivered to the handler it would have met. Outside the main thread (where Python
    delivers signals) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {number: signal.signal(number, lambda got, frame: caught.append(got))
                for number in STOPPING_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if signal.SIGTERM in caught:
        signal.raise_signal(signal.SIGTERM)
    if caught:
        raise KeyboardInterrupt
