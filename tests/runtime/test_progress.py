"""Training progress: plain lines at the right times for logs, tqdm bars on a terminal,
ETAs from the measured rate, and plurals."""

from __future__ import annotations

import io
import math

import pytest

from pcdsl.runtime.progress import Progress, format_duration, plural, track


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plural():
    assert plural(1, "epoch") == "1 epoch"
    assert plural(2, "epoch") == "2 epochs"
    assert plural(0, "epoch") == "0 epochs"
    assert plural(1, "batch", "batches") == "1 batch"
    assert plural(3, "batch", "batches") == "3 batches"
    assert plural(12345, "image") == "12,345 images"


@pytest.mark.parametrize(("seconds", "text"), [
    (0.2, "0 s"), (32.4, "32 s"), (59.6, "1 min"), (310, "5 min 10 s"), (3600, "1 h"),
    (7500, "2 h 5 min"), (90061, "1 d 1 h"), (-3, "0 s")])
def test_durations(seconds, text):
    assert format_duration(seconds) == text


def _progress(clock: Clock, stream: io.StringIO | None = None, **options) -> Progress:
    return Progress(stream if stream is not None else io.StringIO(), epochs=2,
                    batches_per_epoch=4, num_variables=16, interval=5.0, clock=clock, **options)


def test_log_lines_every_interval_and_at_the_end_of_each_epoch():
    clock, stream = Clock(), io.StringIO()
    progress = _progress(clock, stream)
    progress.start_epoch(1)
    for loss in (100.0, 200.0, 300.0, 400.0):  # 2 s and 10 images per batch
        clock.now += 2
        progress.step(10, loss)
    # one line at 6 s (5 s after the start or more), none at 8 s
    assert stream.getvalue().splitlines() == [
        "epoch 1/2  batch 3/4  75% · 5 img/s · loss 200.0 nats "
        f"({200 / (16 * math.log(2)):.2f} bpd) · epoch ETA 2 s · run ETA 10 s"]
    progress.end_epoch()
    *_, last = stream.getvalue().splitlines()
    assert last == ("epoch 1/2  batch 4/4  100% · 5 img/s · loss 250.0 nats (22.54 bpd) · "
                    "epoch took 8 s · run ETA 8 s")
    assert stream.getvalue().count("\n") == 2


def test_a_line_waits_a_whole_interval_after_the_last_one():
    clock, stream = Clock(), io.StringIO()
    progress = Progress(stream, epochs=1, batches_per_epoch=100, clock=clock, interval=5.0)
    progress.start_epoch(1)
    times = []
    for _ in range(30):
        clock.now += 1.5
        before = stream.getvalue().count("\n")
        progress.step(1, 1.0)
        if stream.getvalue().count("\n") > before:
            times.append(clock.now)
    assert times == [6.0, 12.0, 18.0, 24.0, 30.0, 36.0, 42.0]
    assert "bpd" not in stream.getvalue()  # no number of variables given
    assert "run ETA" not in stream.getvalue()  # one epoch and no evaluation measured: the epoch's


def test_run_eta_counts_the_batches_left_and_the_time_between_epochs():
    clock = Clock()
    progress = Progress(io.StringIO(), epochs=3, batches_per_epoch=4, clock=clock)
    assert progress.run_eta() is None  # nothing measured yet
    progress.start_epoch(1)
    for _ in range(4):
        clock.now += 2
        progress.step(10, 1.0)
        assert progress.run_eta() == pytest.approx(2 * (4 - progress.done + 2 * 4))
    progress.end_epoch()
    assert progress.run_eta() == pytest.approx(2 * 8)
    clock.now += 12  # the evaluation and checkpoint of epoch 1
    progress.start_epoch(2)
    clock.now += 3
    progress.step(10, 1.0)
    rate = (8 + 3) / 5  # seconds per batch over the run
    assert progress.seconds_per_batch() == pytest.approx(rate)
    assert progress.epoch_eta() == pytest.approx(3 * rate)
    # 3 batches of this epoch and 4 of the last, then two evaluations (this epoch's, the last's)
    assert progress.run_eta() == pytest.approx(7 * rate + 2 * 12)


def test_a_terminal_gets_a_tqdm_bar_that_is_cleared_at_the_end_of_the_epoch():
    clock, stream = Clock(), Terminal()
    progress = _progress(clock, stream)
    assert progress.tty
    progress.start_epoch(1)
    for _ in range(4):
        clock.now += 2
        progress.step(10, 100.0)
    bar = progress.bar
    assert bar.n == 4 and bar.total == 4
    bar.refresh()  # tqdm redraws at most every 0.1 s of real time
    progress.end_epoch()
    progress.close()
    text = stream.getvalue()
    assert "\r" in text and "epoch 1/2" in text and "4/4" in text and "batch/s" in text
    assert "nll=100.0, img_s=5, run ETA 8 s" in text  # 4 batches left at 2 s each
    assert "img/s ·" not in text  # not the log lines
    assert progress.bar is None and bar.disable  # closed: leave=False clears the line


def test_tty_can_be_forced_either_way():
    clock = Clock()
    assert not _progress(clock, Terminal(), tty=False).tty
    assert _progress(clock, io.StringIO(), tty=True).tty
    assert not Progress(epochs=1, batches_per_epoch=1, stream=io.StringIO()).tty


def test_track_writes_lines_for_logs_and_a_bar_on_a_terminal():
    clock, stream = Clock(), io.StringIO()
    seen = []
    for item in track(range(10), "test", stream=stream, interval=5.0, clock=clock):
        clock.now += 2
        seen.append(item)
    assert seen == list(range(10))
    assert stream.getvalue().splitlines() == ["test  batch 3/10  30% · ETA 14 s",
                                              "test  batch 6/10  60% · ETA 8 s",
                                              "test  batch 9/10  90% · ETA 2 s"]
    terminal = Terminal()
    assert list(track([1, 2, 3], "test", stream=terminal)) == [1, 2, 3]
    assert "test" in terminal.getvalue() and "\r" in terminal.getvalue()


def test_disabled_progress_writes_nothing_but_still_measures():
    clock, terminal, log = Clock(), Terminal(), io.StringIO()
    for stream in (terminal, log):
        progress = _progress(clock, stream, enabled=False)
        progress.start_epoch(1)
        for _ in range(4):
            clock.now += 3
            progress.step(10, 1.0)
        progress.end_epoch()
        assert progress.run_eta() == pytest.approx(4 * 3)
        assert list(track(range(3), "test", stream=stream, enabled=False)) == [0, 1, 2]
    assert terminal.getvalue() == log.getvalue() == ""


def test_the_last_batch_leaves_its_line_to_the_end_of_the_epoch():
    clock, stream = Clock(), io.StringIO()
    progress = Progress(stream, epochs=1, batches_per_epoch=2, clock=clock, interval=5.0)
    progress.start_epoch(1)
    for _ in range(2):
        clock.now += 6  # a line is due after each batch
        progress.step(1, 1.0)
    progress.end_epoch()
    lines = stream.getvalue().splitlines()
    assert [line.split(" · ")[0] for line in lines] == ["epoch 1/1  batch 1/2  50%",
                                                         "epoch 1/1  batch 2/2  100%"]
    assert lines[-1].endswith("epoch took 12 s")
