"""Training progress for people and for logs.

    progress = Progress(sys.stderr, epochs=10, batches_per_epoch=235, num_variables=784)
    for epoch in range(1, 11):
        progress.start_epoch(epoch)
        for batch in epoch_batches:
            ...
            progress.step(len(batch), batch_nll)   # images, mean loss in nats per image
        progress.end_epoch()
        ...                                        # evaluation, checkpoint: timed as well
    progress.close()

On a terminal each epoch is a tqdm bar (cleared when the epoch ends) with the mean loss,
images per second and the run's ETA. Elsewhere (a log file, ``nohup``, CI) it writes one
plain line every ``interval`` seconds and one at the end of every epoch::

    epoch 2/10  batch 120/235  51% · 372 img/s · loss 2541.3 nats (4.68 bpd) · epoch ETA 32 s
        · run ETA 5 min 10 s                                        (all on one line)

The run's ETA is the batches left in this epoch and in the epochs after it at the run's
measured seconds per batch, plus, once measured, the time between an epoch's end and the
next one's start (evaluation and checkpoints) for this epoch and each one after it. The
clock is a parameter, so tests drive it by hand.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, Any, TypeVar

Item = TypeVar("Item")

SEPARATOR = " · "


def plural(n: int, word: str, plural_word: str | None = None) -> str:
    """``n`` and ``word``, in the plural unless ``n`` is 1: "1 epoch", "2 epochs"."""
    return f"{n:,} {word if n == 1 else plural_word or word + 's'}"


def format_duration(seconds: float) -> str:
    """Whole seconds, or the two largest units: "32 s", "5 min 10 s", "2 h 5 min"."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    for unit, size, smaller, smaller_size in (("d", 86400, "h", 3600), ("h", 3600, "min", 60),
                                               ("min", 60, "s", 1)):
        if total >= size:
            rest = (total % size) // smaller_size
            return f"{total // size} {unit}" + (f" {rest} {smaller}" if rest else "")
    raise AssertionError("unreachable: total >= 60")


def is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """Progress of a training run of ``epochs`` epochs (numbered from 1) of
    ``batches_per_epoch`` batches each; see the module docstring. ``tty`` None asks the
    stream; ``num_variables`` adds bits per dimension to the loss; ``enabled`` False
    writes nothing (the ETAs are still measured)."""

    def __init__(self, stream: IO[str] | None = None, *, epochs: int, batches_per_epoch: int,
                 num_variables: int | None = None, tty: bool | None = None,
                 interval: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = is_terminal(self.stream) if tty is None else tty
        self.epochs = epochs
        self.batches_per_epoch = batches_per_epoch
        self.num_variables = num_variables
        self.interval = interval
        self.clock = clock
        self.epoch = 0
        self.batches = batches_per_epoch  # of the current epoch
        self.done = 0  # batches of the current epoch
        self.images = 0
        self.loss_sum = 0.0  # nats, summed over the epoch's images
        self.epoch_began = 0.0
        self.last_line = 0.0
        self.train_seconds = 0.0  # of the finished epochs
        self.train_batches = 0
        self.gaps: list[float] = []  # seconds between an epoch's end and the next start
        self.ended: float | None = None
        self.bar: Any = None

    # The training loop's calls ----------------------------------------------------------

    def start_epoch(self, epoch: int, batches: int | None = None) -> None:
        now = self.clock()
        if self.ended is not None:
            self.gaps.append(now - self.ended)
            self.ended = None
        self.epoch, self.done, self.images, self.loss_sum = epoch, 0, 0, 0.0
        self.batches = self.batches_per_epoch if batches is None else batches
        self.epoch_began = self.last_line = now
        if self.tty and self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=self.batches, desc=f"epoch {epoch}/{self.epochs}", unit="batch",
                            leave=False, dynamic_ncols=True, file=self.stream)

    def step(self, images: int, loss: float) -> None:
        """One batch done: ``images`` rows (over all processes) with mean ``loss`` in nats
        per image."""
        self.done += 1
        self.images += images
        self.loss_sum += loss * images
        if self.bar is not None:
            eta = self.run_eta()
            self.bar.set_postfix_str(
                f"nll={self.mean_loss():.1f}, img_s={self.images_per_second():.0f}"
                + (f", run ETA {format_duration(eta)}" if eta is not None else ""), refresh=False)
            self.bar.update(1)
        elif (self.enabled and self.done < self.batches  # the epoch's last: end_epoch's line
              and self.clock() - self.last_line >= self.interval):
            self._line()

    def end_epoch(self) -> None:
        now = self.clock()
        self.train_seconds += now - self.epoch_began
        self.train_batches += self.done
        self.ended = now
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.enabled:
            self._line(finished=now - self.epoch_began)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # Figures ----------------------------------------------------------------------------

    def mean_loss(self) -> float:
        """Mean loss of the epoch so far, nats per image."""
        return self.loss_sum / max(self.images, 1)

    def images_per_second(self) -> float:
        return self.images / max(self.clock() - self.epoch_began, 1e-9)

    def seconds_per_batch(self) -> float | None:
        """Over every batch of this run so far; None before the first."""
        batches = self.train_batches + (self.done if self.ended is None else 0)
        if batches == 0:
            return None
        running = self.clock() - self.epoch_began if self.ended is None else 0.0
        return (self.train_seconds + running) / batches

    def epoch_eta(self) -> float | None:
        rate = self.seconds_per_batch()
        return None if rate is None else (self.batches - self.done) * rate

    def run_eta(self) -> float | None:
        """Seconds until the run ends: the batches left at the measured rate, and the
        measured time between epochs for this epoch and each later one (from an epoch's
        end to the next start: its evaluation is still to come)."""
        rate = self.seconds_per_batch()
        if rate is None:
            return None
        epochs_after = self.epochs - self.epoch
        batches_left = (self.batches - self.done) + epochs_after * self.batches_per_epoch
        gap = sum(self.gaps) / len(self.gaps) if self.gaps else 0.0
        return batches_left * rate + gap * (epochs_after + 1)

    # Lines ------------------------------------------------------------------------------

    def _line(self, finished: float | None = None) -> None:
        percent = 100 * self.done // max(self.batches, 1)
        loss = f"loss {self.mean_loss():.1f} nats"
        if self.num_variables:
            loss += f" ({self.mean_loss() / (self.num_variables * math.log(2)):.2f} bpd)"
        parts = [f"epoch {self.epoch}/{self.epochs}  batch {self.done}/{self.batches}  {percent}%",
                 f"{self.images_per_second():,.0f} img/s", loss]
        if finished is not None:
            parts.append(f"epoch took {format_duration(finished)}")
        elif (eta := self.epoch_eta()) is not None:
            parts.append(f"epoch ETA {format_duration(eta)}")
        run_eta = self.run_eta()
        if run_eta is not None and (self.epoch < self.epochs or self.gaps):
            parts.append(f"run ETA {format_duration(run_eta)}")
        self.stream.write(SEPARATOR.join(parts) + "\n")
        self.stream.flush()
        self.last_line = self.clock()


def track(items: Iterable[Item], description: str, *, total: int | None = None,
          stream: IO[str] | None = None, tty: bool | None = None, interval: float = 5.0,
          clock: Callable[[], float] = time.monotonic, enabled: bool = True) -> Iterator[Item]:
    """``items``, showing progress under ``description`` (an evaluation's batches, say): a
    tqdm bar on a terminal, else a line every ``interval`` seconds; nothing unless
    ``enabled``."""
    if not enabled:
        yield from items
        return
    stream = stream if stream is not None else sys.stderr
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if is_terminal(stream) if tty is None else tty:
        from tqdm import tqdm

        yield from tqdm(items, desc=description, total=total, unit="batch", leave=False,
                        dynamic_ncols=True, file=stream)
        return
    began = last = clock()
    for done, item in enumerate(items, 1):
        yield item
        now = clock()
        if now - last >= interval:
            of = f"/{total}  {100 * done // max(total, 1)}%" if total else ""
            eta = (f"{SEPARATOR}ETA {format_duration((total - done) * (now - began) / done)}"
                   if total else "")
            stream.write(f"{description}  batch {done}{of}{eta}\n")
            stream.flush()
            last = now
