"""Atomic file writes and the digest of a spec's text, shared by the compiler (generated
modules, SPEC_SHA256) and the runtime (checkpoints, pictures). Standard library only, so
either side may import it."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(handle)`` on a temporary file in ``path``'s folder, then rename it over
    ``path``: readers see the old file or the complete new one, never a half-written one,
    and a failure leaves no temporary file behind. The file gets the usual mode under the
    umask (``mkstemp`` alone would leave it private, 0600). A ``path`` that is a device or
    a pipe is written in place (it has no old content to keep)."""
    target = Path(path)
    try:
        existing = os.stat(target).st_mode
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing) and not stat.S_ISDIR(existing):
        # A device or a pipe (/dev/null, a FIFO): write into it. Renaming over it would
        # replace it with a regular file, which as root means replacing /dev/null.
        with open(target, "wb") as handle:
            write(handle)
        return
    directory = target.parent if str(target.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """``atomic_write`` of UTF-8 text with Unix newlines."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def text_sha256(text: str) -> str:
    """The SHA-256 of a text in UTF-8: a spec's digest (``SPEC_SHA256``). surrogatepass:
    text from an editor (the language server) may hold a lone surrogate, which has no
    UTF-8 form; it still gets a digest rather than an exception."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
