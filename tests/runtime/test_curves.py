"""The training curves picture: bounded step records that keep their means, and axes that
make sense for one epoch and for many."""

from __future__ import annotations

import math
import random
import struct
from dataclasses import dataclass

import pytest

from pcdsl.runtime.curves import StepLosses, write_curves

D = 16  # variables: nats per image / (D ln 2) = bits per dimension


@dataclass
class Epoch:
    epoch: int
    train_bpd: float
    test_bpd: float
    valid_bpd: float | None = None


def _run(epochs: int, batches: int, losses: StepLosses | None = None) -> tuple[StepLosses, list[Epoch]]:
    """A run whose loss falls from 8 bits per dimension towards 1.5, with noise."""
    losses = losses or StepLosses()
    generator = random.Random(0)
    history = []
    for epoch in range(1, epochs + 1):
        for done in range(1, batches + 1):
            step = (epoch - 1) * batches + done
            bpd = 1.5 + 6.5 * math.exp(-step / 3) + generator.uniform(-0.05, 0.05)
            losses.add(epoch - 1 + done / batches, bpd * D * math.log(2))
        history.append(Epoch(epoch, 1.5 + 1 / epoch, 1.45 + 1 / epoch))
    return losses, history


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_downsampling_keeps_the_means_of_consecutive_steps():
    generator = random.Random(1)
    values = [generator.gauss(100.0, 10.0) for _ in range(1000)]
    losses = StepLosses(capacity=64)
    for index, value in enumerate(values):
        losses.add(index / 10, value)
    positions, means, counts = losses.points()
    assert len(positions) <= 65 and sum(counts) == 1000
    assert losses.stride == 16  # halved at 64, 128, 256 and 512 steps: 62 points and 8 steps
    assert sum(c * m for c, m in zip(counts, means)) / 1000 == pytest.approx(sum(values) / 1000)
    start = 0
    for position, mean, count in zip(positions, means, counts):  # each point: its own block
        block = values[start:start + count]
        assert mean == pytest.approx(sum(block) / count)
        assert position == pytest.approx(sum(i / 10 for i in range(start, start + count)) / count)
        start += count


def test_capacity_must_be_even():
    for capacity in (0, 1, 7):
        with pytest.raises(ValueError, match="even"):
            StepLosses(capacity)


def test_state_round_trips_and_goes_on_the_same_way():
    losses, _ = _run(3, 50, StepLosses(capacity=16))
    again = StepLosses.from_state(losses.state())
    assert again.points() == losses.points()
    for step in range(7):
        losses.add(3 + step / 50, 10.0)
        again.add(3 + step / 50, 10.0)
    assert again.points() == losses.points()


def test_one_epoch_spans_zero_to_one_with_fractional_ticks(tmp_path):
    losses, history = _run(1, 39)
    path = tmp_path / "curves.png"
    figure = write_curves(path, losses=losses, epochs=history, title="tiny on test",
                          num_variables=D)
    axes = figure.axes[0]
    assert axes.get_xlim() == (0.0, 1.0)
    ticks = [t for t in axes.get_xticks() if 0 <= t <= 1]
    assert len(ticks) >= 3 and any(0 < t < 1 for t in ticks)
    bottom, top = axes.get_ylim()
    # the steps from random weights (8 bpd) do not flatten the rest, the epoch values show
    assert bottom < 1.45 and 2.5 <= top < 8
    assert _png_size(path) == (840, 504)
    assert 10_000 < path.stat().st_size < 500_000
    assert not list(tmp_path.glob("*.tmp"))


def test_many_epochs_have_integer_ticks_and_bounded_points(tmp_path):
    losses, history = _run(10, 500)
    figure = write_curves(tmp_path / "curves.png", losses=losses, epochs=history,
                          title="tiny on test", num_variables=D)
    axes = figure.axes[0]
    assert axes.get_xlim() == (0.0, 10.0)
    assert all(float(t).is_integer() for t in axes.get_xticks())
    raw = axes.lines[0]
    assert len(raw.get_xdata()) <= 2048 + 1 and losses.stride == 4  # 5000 steps
    assert raw.get_label() == "train, mean of 4 steps"
    test_line = next(line for line in axes.lines if line.get_label().startswith("test"))
    assert list(test_line.get_ydata()) == [m.test_bpd for m in history]
    assert _png_size(tmp_path / "curves.png") == (840, 504)


def test_epochs_without_steps_still_draw(tmp_path):
    """A run resumed from a checkpoint that has no step losses: the epochs alone."""
    figure = write_curves(tmp_path / "curves.png", losses=StepLosses(),
                          epochs=[Epoch(1, 2.0, 1.9), Epoch(2, 1.8, 1.7)], title="t",
                          num_variables=D)
    bottom, top = figure.axes[0].get_ylim()
    assert bottom < 1.7 and top > 2.0
    assert (tmp_path / "curves.png").stat().st_size > 5_000


def test_validation_bpd_is_drawn_and_its_best_epoch_marked(tmp_path):
    losses, history = _run(4, 20)
    valid = [1.9, 1.7, 1.65, 1.68]  # the best at epoch 3
    history = [Epoch(m.epoch, m.train_bpd, m.test_bpd, v) for m, v in zip(history, valid)]
    figure = write_curves(tmp_path / "curves.png", losses=losses, epochs=history, title="t",
                          num_variables=D)
    lines = {line.get_label(): line for line in figure.axes[0].lines}
    assert list(lines["validation, after the epoch"].get_ydata()) == valid
    best = lines["best validation: epoch 3 (best.pt)"]
    assert list(best.get_xdata()) == [3] and list(best.get_ydata()) == [1.65]
    # without --valid, no validation line
    plain = write_curves(tmp_path / "plain.png", losses=losses, epochs=_run(4, 20)[1], title="t",
                         num_variables=D)
    assert not any(line.get_label().startswith(("validation", "best")) for line in plain.axes[0].lines)
