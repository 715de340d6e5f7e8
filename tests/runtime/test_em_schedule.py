"""--em-final-step-size: EM's step size decays geometrically from --em-step-size to the
final one at the run's last batch, whatever the batch and data sizes."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from pcdsl.rebuild import load_checkpoint
from pcdsl.runtime.train import TrainConfig, train
from tests.cli.helpers import pcc
from tests.runtime.training_data import compiled_spec, split, tiny_train_command

CONFIG = TrainConfig(dataset="synthetic", epochs=3, batch_size=16, optimizer="em",
                     em_step_size=0.4, em_final_step_size=0.05, samples=0, progress=False)


@pytest.mark.parametrize("batch_size, rows", [(16, 100), (32, 64), (7, 50)])
def test_the_last_batch_steps_by_the_final_step_size(tmp_path, batch_size, rows):
    source, record = compiled_spec()
    data = split(rows, True, seed=1), split(32, False, seed=2)
    config = replace(CONFIG, batch_size=batch_size, out=str(tmp_path))
    train(source, config, *data, spec=record, log=lambda _: None)
    _, checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    state = checkpoint["optimizer"]
    batches = config.epochs * math.ceil(rows / batch_size)
    assert state["steps"] == batches
    first, decay = state["step_size"], state["step_decay"]
    # The step of the last batch (the batches - 1'th update) is the final step size.
    assert first == 0.4 and math.isclose(first * decay ** (batches - 1), 0.05, rel_tol=1e-9)
    assert state["min_step_size"] == 0.05


def test_it_is_one_schedule_or_the_other():
    with pytest.raises(ValueError, match="two ways to set one schedule"):
        replace(CONFIG, em_step_decay=0.99)
    with pytest.raises(ValueError, match="must lie in"):
        replace(CONFIG, em_final_step_size=0.5)


def test_the_flag_is_checked_in_the_words_of_the_flags(tmp_path, capsys):
    run = [*tiny_train_command(tmp_path), "--em-final-step-size", "0.01"]
    for extra, message in ((["--optimizer", "adam"], "add --optimizer em"),
                           (["--optimizer", "em", "--em-step-decay", "0.9"], "two ways"),
                           (["--optimizer", "em", "--em-step-size", "0.005"], "larger than")):
        status, _, err = pcc(capsys, *run, *extra)
        assert status == 2 and message in err and err.count("\n") == 1, err
    status, _, err = pcc(capsys, *run, "--optimizer", "em", "--out", str(tmp_path / "run"))
    assert status == 0, err
