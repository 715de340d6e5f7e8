"""pcdsl.files: atomic writes keep the old file or the whole new one, and never replace a
device or a pipe with a regular file."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from pcdsl.files import atomic_write, write_text_atomically


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "f.txt"
    write_text_atomically(path, "old")

    def broken(handle):
        handle.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(path, broken)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]


def test_a_pipe_is_written_into_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_text_atomically(fifo, "through the pipe")
    reader.join(timeout=10)
    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a pipe
    assert os.listdir(tmp_path) == ["pipe"]


def test_dev_null_stays_a_device():
    write_text_atomically(os.devnull, "nothing")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
