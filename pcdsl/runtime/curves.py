"""The training curves picture: the loss of every step and the bits per dimension of every
epoch, in bits per dimension against epochs.

    losses = StepLosses()
    for each batch: losses.add(epoch - 1 + done / batches, batch_nll)   # nats per image
    write_curves("curves.png", losses=losses, epochs=history, title="mnist on mnist",
                 num_variables=784)

The x axis is in epochs, steps at their fractional positions (the first of ``B`` batches of
epoch 1 at ``1 / B``), so a run of one epoch spans 0 to 1 instead of a single point;
integer ticks only when the run has several epochs. ``StepLosses`` keeps at most
``capacity`` points however long the run: when full, neighbouring points are averaged in
pairs (each point then stands for twice as many steps), which keeps the mean loss.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from pcdsl.files import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class EpochPoint(Protocol):
    """What the picture reads of an epoch's metrics (``train.EpochMetrics`` has it)."""

    epoch: int
    train_bpd: float
    test_bpd: float
    valid_bpd: float | None  # with --valid


class StepLosses:
    """Training loss per step, at most ``capacity`` points (an even number), each the mean
    of ``stride`` consecutive steps; the steps not yet making a whole point are kept apart."""

    def __init__(self, capacity: int = 2048) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError(f"capacity must be an even number of at least 2, found {capacity}")
        self.capacity = capacity
        self.stride = 1
        self.positions: list[float] = []
        self.losses: list[float] = []
        self._pending: list[float] = [0.0, 0.0, 0]  # sums of positions and losses, steps

    def add(self, position: float, loss: float) -> None:
        """One step at ``position`` (in epochs) with mean ``loss`` (nats per image)."""
        pending = self._pending
        pending[0] += position
        pending[1] += loss
        pending[2] += 1
        if pending[2] < self.stride:
            return
        self.positions.append(pending[0] / self.stride)
        self.losses.append(pending[1] / self.stride)
        self._pending = [0.0, 0.0, 0]
        if len(self.positions) == self.capacity:  # every point holds `stride` steps
            self.positions = [(a + b) / 2 for a, b in zip(self.positions[::2], self.positions[1::2])]
            self.losses = [(a + b) / 2 for a, b in zip(self.losses[::2], self.losses[1::2])]
            self.stride *= 2

    def points(self) -> tuple[list[float], list[float], list[int]]:
        """(positions, mean losses, steps of each point), the steps kept apart last."""
        counts = [self.stride] * len(self.positions)
        position, loss, steps = self._pending
        if not steps:
            return list(self.positions), list(self.losses), counts
        return ([*self.positions, position / steps], [*self.losses, loss / steps],
                [*counts, int(steps)])

    def state(self) -> dict:
        """Plain values for a checkpoint's ``extra``; ``from_state`` reads them back."""
        return {"capacity": self.capacity, "stride": self.stride, "positions": list(self.positions),
                "losses": list(self.losses), "pending": list(self._pending)}

    @classmethod
    def from_state(cls, state: dict) -> StepLosses:
        losses = cls(int(state["capacity"]))
        losses.stride = int(state["stride"])
        losses.positions = [float(p) for p in state["positions"]]
        losses.losses = [float(v) for v in state["losses"]]
        position, loss, steps = state["pending"]
        losses._pending = [float(position), float(loss), int(steps)]
        return losses


def _smoothed(values: list[float]) -> list[float]:
    """A centred moving average over about a twentieth of the points, its window narrowed
    near either end so that it stays centred (the first and last points are their own)."""
    half = max(1, len(values) // 40)
    sums = [0.0]
    for value in values:
        sums.append(sums[-1] + value)
    smoothed = []
    for index in range(len(values)):
        reach = min(half, index, len(values) - 1 - index)
        smoothed.append((sums[index + reach + 1] - sums[index - reach]) / (2 * reach + 1))
    return smoothed


def curves_figure(*, losses: StepLosses, epochs: Sequence[EpochPoint], title: str,
                  num_variables: int) -> Figure:
    """The picture as a matplotlib ``Figure``. A bare Figure, not pyplot: no window and no
    global backend state, and ``savefig`` to PNG renders with Agg."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 4.2), dpi=120)
    axes = figure.add_subplot()
    to_bpd = 1.0 / (num_variables * math.log(2))
    positions, nats, _ = losses.points()
    bpd = [value * to_bpd for value in nats]
    if bpd:
        axes.plot(positions, bpd, color="tab:blue", alpha=0.3, linewidth=0.8,
                  label="train, per step" if losses.stride == 1
                  else f"train, mean of {losses.stride} steps")
    if len(bpd) >= 20:  # fewer points need no smoothing
        axes.plot(positions, _smoothed(bpd), color="tab:blue", linewidth=1.8,
                  label="train, smoothed")
    numbers = [m.epoch for m in epochs]
    axes.plot(numbers, [m.train_bpd for m in epochs], linestyle="none", marker="o",
              color="tab:blue", markeredgecolor="white", clip_on=False,
              label="train, mean over the epoch")
    axes.plot(numbers, [m.test_bpd for m in epochs], linestyle="--" if len(numbers) > 1 else "none",
              marker="s", color="tab:orange", clip_on=False, label="test, after the epoch")
    valid = [(m.epoch, m.valid_bpd) for m in epochs if getattr(m, "valid_bpd", None) is not None]
    if valid:
        axes.plot(*zip(*valid), linestyle=":" if len(valid) > 1 else "none", marker="^",
                  color="tab:green", clip_on=False, label="validation, after the epoch")
        best_epoch, best_bpd = min(valid, key=lambda point: point[1])
        axes.plot([best_epoch], [best_bpd], linestyle="none", marker="*", markersize=13,
                  color="tab:green", markeredgecolor="black", clip_on=False,
                  label=f"best validation: epoch {best_epoch} (best.pt)")
    last = max([*numbers, *positions, 1])
    axes.set_xlim(0, math.ceil(last))
    if math.ceil(last) > 1:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(*_y_range(bpd, [m.train_bpd for m in epochs] + [m.test_bpd for m in epochs]
                            + [value for _, value in valid]))
    axes.set_xlabel("epoch")
    axes.set_ylabel("bits per dimension")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    return figure


def _y_range(steps: list[float], epochs: list[float]) -> tuple[float, float]:
    """From the lowest value to the highest epoch value or the 95th percentile of the
    steps, whichever is higher: the first steps of a run from random weights can be many
    times the rest and would flatten everything else."""
    steps = sorted(v for v in steps if math.isfinite(v))
    epochs = [v for v in epochs if math.isfinite(v)]
    if not steps and not epochs:
        return 0.0, 1.0
    top = max(epochs + steps[int(0.95 * (len(steps) - 1)):][:1])
    bottom = min(epochs + steps[:1])
    margin = 0.05 * (top - bottom) or 0.05 * abs(top) or 0.05
    return bottom - margin, top + margin


def write_curves(path: str | os.PathLike, *, losses: StepLosses, epochs: Sequence[EpochPoint],
                 title: str, num_variables: int) -> Figure:
    """Write the picture to ``path`` as a PNG, atomically; returns its ``Figure``."""
    figure = curves_figure(losses=losses, epochs=epochs, title=title, num_variables=num_variables)
    atomic_write(path, lambda handle: figure.savefig(handle, format="png"))
    return figure
