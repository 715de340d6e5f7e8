"""Training: files written, learning happens, resuming is bit-for-bit, bad data refused."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from pcdsl.rebuild import load_checkpoint
from pcdsl.runtime.train import (
    TrainConfig,
    TrainingError,
    bits_per_dimension,
    build_circuit,
    evaluate,
    train,
)
from tests.runtime.training_data import SPEC, module_source, record, split

CONFIG = TrainConfig(dataset="synthetic", epochs=3, batch_size=16, lr=0.05, samples=4,
                     progress=False, eval_batch_size=64)


@pytest.fixture(scope="module")
def source() -> str:
    return module_source()


@pytest.fixture(scope="module")
def spec():
    return record()


@pytest.fixture(scope="module")
def data():
    return split(96, True, seed=1), split(48, False, seed=2)


def _quiet(_: str) -> None:
    pass


@pytest.mark.parametrize("optimizer", ["adam", "em"])
def test_training_learns_and_writes_every_file(tmp_path, source, spec, data, optimizer):
    config = replace(CONFIG, optimizer=optimizer, out=str(tmp_path))
    before = evaluate(build_circuit(source, config.seed), data[1])[1]
    result = train(source, config, *data, spec=spec, log=_quiet)
    assert [m.epoch for m in result.history] == [1, 2, 3]
    assert result.test_bpd < before - 0.2  # from about log2(8) = 3 bits towards the data
    for name in ("model.py", "metrics.jsonl", "checkpoint.pt", "curves.png", "samples.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3]
    assert lines[-1]["test_bpd"] == pytest.approx(result.test_bpd)
    circuit, checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    assert checkpoint["epoch"] == 3 and checkpoint["extra"]["config"]["optimizer"] == optimizer
    avg, bpd, _ = evaluate(circuit, data[1])
    assert bpd == pytest.approx(result.test_bpd, rel=1e-6)
    assert bpd == pytest.approx(-avg / (16 * math.log(2)))
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave nothing behind


@pytest.mark.parametrize("optimizer", ["adam", "em"])
def test_resume_continues_bit_for_bit(tmp_path, source, spec, data, optimizer):
    straight = train(source, replace(CONFIG, optimizer=optimizer, out=str(tmp_path / "a")),
                     *data, spec=spec, log=_quiet)
    train(source, replace(CONFIG, optimizer=optimizer, epochs=2, out=str(tmp_path / "b")),
          *data, spec=spec, log=_quiet)
    resumed = train(source, replace(CONFIG, optimizer=optimizer, out=str(tmp_path / "b")),
                    *data, spec=spec, resume=True, log=_quiet)
    for name, value in straight.circuit.state_dict().items():
        assert torch.equal(value, resumed.circuit.state_dict()[name]), name
    assert [m.test_ll for m in resumed.history] == [m.test_ll for m in straight.history]
    assert [m.train_nll for m in resumed.history] == [m.train_nll for m in straight.history]


def test_resume_refuses_another_spec(tmp_path, source, spec, data):
    train(source, replace(CONFIG, epochs=1, out=str(tmp_path)), *data, spec=spec, log=_quiet)
    other_spec = SPEC.replace("units = 3)\n  layers", "units = 2)\n  layers")
    with pytest.raises(TrainingError, match="spec"):
        train(module_source(other_spec), replace(CONFIG, epochs=2, out=str(tmp_path)), *data,
              spec=record(other_spec), resume=True, log=_quiet)


def test_resume_needs_a_checkpoint(tmp_path, source, spec, data):
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(source, replace(CONFIG, out=str(tmp_path)), *data, spec=spec, resume=True,
              log=_quiet)


def test_pixel_values_outside_the_model_are_refused(source, data):
    wide = split(16, True, values=9)  # values up to 8, the model takes 0..7
    with pytest.raises(TrainingError, match=r"pixel values up to 8.*0\.\.7"):
        train(source, replace(CONFIG, epochs=1), wide, data[1], log=_quiet)


def test_image_shape_must_match(source, data):
    big = split(16, True, shape=(1, 5, 5))
    with pytest.raises(TrainingError, match="4x4"):
        train(source, replace(CONFIG, epochs=1), big, data[1], log=_quiet)


def test_several_classes_train_on_their_labels(tmp_path, data):
    source = module_source(SPEC.replace("layers = cp(units = 3)",
                                        "layers = cp(units = 3)\n  classes = 2"))
    result = train(source, replace(CONFIG, epochs=2, out=None), *data, log=_quiet)
    assert result.history[-1].test_accuracy is not None
    assert result.history[-1].test_accuracy > 0.9  # the two bars are easy to tell apart


def test_bits_per_dimension():
    assert bits_per_dimension(-784 * math.log(2), 784) == pytest.approx(1.0)


def test_compiled_passes_give_the_eager_results(tmp_path, source, data):
    """``compile="all"`` runs the Adam steps and the evaluations through torch.compile: the
    same history as eager training, to rounding (skipped where torch cannot compile)."""
    import shutil

    if shutil.which("g++") is None and shutil.which("clang++") is None:
        pytest.skip("torch.compile needs a C++ compiler on a CPU")
    config = replace(CONFIG, epochs=2, samples=0, out=None)
    eager = train(source, config, *data, log=_quiet)
    compiled = train(source, replace(config, compile="all"), *data, log=_quiet)
    for a, b in zip(eager.history, compiled.history):
        assert b.train_nll == pytest.approx(a.train_nll, rel=1e-4)
        assert b.test_bpd == pytest.approx(a.test_bpd, rel=1e-4)


def test_compile_modes_are_checked():
    with pytest.raises(ValueError, match="compile must be one of"):
        replace(CONFIG, compile="fast")
    with pytest.raises(ValueError, match="needs the adam optimizer"):
        replace(CONFIG, compile="train", optimizer="em")


# Run folders, seeds and interrupts --------------------------------------------------------


def test_a_folder_that_holds_a_run_is_refused(tmp_path, source, spec, data):
    out = tmp_path / "run"
    train(source, replace(CONFIG, epochs=2, out=str(out)), *data, spec=spec, log=_quiet)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(TrainingError, match="already holds a run.*--resume.*--overwrite"):
        train(source, replace(CONFIG, epochs=1, out=str(out)), *data, spec=spec, log=_quiet)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_overwrite_replaces_every_run_file(tmp_path, source, spec, data):
    out = tmp_path / "run"
    train(source, replace(CONFIG, epochs=2, out=str(out)), *data, spec=spec, log=_quiet)
    (out / "notes.txt").write_text("mine")
    train(source, replace(CONFIG, epochs=1, samples=0, out=str(out)), *data, spec=spec,
          overwrite=True, log=_quiet)
    assert not (out / "samples.png").exists()  # no picture of the old run stays behind
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    assert (out / "notes.txt").read_text() == "mine"  # not a run file: left alone


def test_an_output_path_that_is_a_file_is_refused(tmp_path, source, spec, data):
    path = tmp_path / "taken"
    path.write_text("x")
    with pytest.raises(TrainingError, match="is a file, not a folder"):
        train(source, replace(CONFIG, out=str(path)), *data, spec=spec, log=_quiet)
    assert path.read_text() == "x"


def test_a_run_without_its_spec_cannot_write_checkpoints(tmp_path, source, data):
    with pytest.raises(TrainingError, match="checkpoints carry the spec"):
        train(source, replace(CONFIG, out=str(tmp_path)), *data, log=_quiet)


def test_a_second_run_in_a_locked_folder_is_refused(tmp_path, source, spec, data):
    import fcntl

    out = tmp_path / "run"
    out.mkdir()
    with open(out / ".pcdsl-run.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(TrainingError, match="another pcc train is writing"):
            train(source, replace(CONFIG, out=str(out)), *data, spec=spec, log=_quiet)


def test_stale_temporary_files_are_removed(tmp_path, source, spec, data):
    out = tmp_path / "run"
    train(source, replace(CONFIG, epochs=1, samples=0, out=str(out)), *data, spec=spec,
          log=_quiet)
    stale = [out / ".checkpoint.pt.k3j_x9.tmp", out / ".metrics.jsonl.abc.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")  # what a SIGKILL during a write leaves
    (out / ".notes.tmp").write_text("not ours")
    train(source, replace(CONFIG, epochs=2, samples=0, out=str(out)), *data, spec=spec,
          resume=True, log=_quiet)
    assert not any(path.exists() for path in stale)
    assert (out / ".notes.tmp").exists()


def test_default_folders_are_numbered_and_resume_takes_the_newest(tmp_path):
    from pcdsl.runtime.runs import default_folder

    base = tmp_path / "runs" / "m-data-adam"
    assert default_folder(base, resume=False) == base
    for folder in (base, base.with_name("m-data-adam-2")):
        folder.mkdir(parents=True)
        (folder / "checkpoint.pt").write_bytes(b"")
    assert default_folder(base, resume=False) == base.with_name("m-data-adam-3")
    assert default_folder(base, resume=True) == base.with_name("m-data-adam-2")


SEEDED = SPEC.replace("layers = cp(units = 3)", "layers = cp(units = 3)\n  seed = 12345")


def test_the_spec_seed_sets_the_weights_unless_a_seed_is_given(data):
    seeded = module_source(SEEDED)
    config = replace(CONFIG, epochs=1, samples=0)
    by_spec = train(seeded, config, *data, log=_quiet).circuit.state_dict()
    by_flag = train(seeded, replace(config, seed=12345), *data, log=_quiet).circuit.state_dict()
    other = train(seeded, replace(config, seed=0), *data, log=_quiet).circuit.state_dict()
    assert all(torch.equal(by_spec[k], by_flag[k]) for k in by_spec)  # spec seed = --seed 12345
    assert not all(torch.equal(by_spec[k], other[k]) for k in by_spec)  # --seed wins


def test_the_run_records_the_seed_it_used(tmp_path, data):
    from tests.runtime.training_data import compiled_spec

    source, seeded = compiled_spec(SEEDED)
    train(source, replace(CONFIG, epochs=1, samples=0, out=str(tmp_path)), *data, spec=seeded,
          log=_quiet)
    _, checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    assert checkpoint["extra"]["config"]["seed"] == 12345
    with pytest.raises(TrainingError, match="trained with seed 12345.*--seed 12345"):
        train(source, replace(CONFIG, epochs=2, samples=0, seed=7, out=str(tmp_path)), *data,
              spec=seeded, resume=True, log=_quiet)


def test_ctrl_c_during_an_epoch_keeps_the_last_checkpoint(tmp_path, source, spec, data):
    from pcdsl.runtime.train import TrainingInterrupted

    def interrupt_in_epoch_2(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as stopped:
        train(source, replace(CONFIG, out=str(tmp_path)), *data, spec=spec,
              log=interrupt_in_epoch_2)
    assert stopped.value.epoch == 2 and stopped.value.saved_epoch == 1
    assert stopped.value.checkpoint == tmp_path / "checkpoint.pt"
    _, checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert checkpoint["epoch"] == 1 and [json.loads(x)["epoch"] for x in lines] == [1]


def test_sigint_while_saving_writes_the_checkpoint_and_its_metrics(tmp_path, source, spec, data,
                                                                 monkeypatch):
    import os
    import signal

    import pcdsl.runtime.train as training
    from pcdsl.runtime.train import TrainingInterrupted

    real_save = training.save_checkpoint

    def save_then_interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the pair of writes
        real_save(*args, **kwargs)

    monkeypatch.setattr(training, "save_checkpoint", save_then_interrupted)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(source, replace(CONFIG, out=str(tmp_path)), *data, spec=spec, log=_quiet)
    assert stopped.value.saved_epoch == 1
    _, checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert checkpoint["epoch"] == 1 and len(lines) == 1


def test_sigterm_while_saving_is_held_until_both_files_are_written(tmp_path, source, spec, data,
                                                                   monkeypatch):
    import os
    import signal

    import pcdsl.runtime.train as training
    from pcdsl.runtime.train import TrainingInterrupted

    def interrupt(number, frame):  # what pcc train installs for SIGTERM
        raise KeyboardInterrupt

    real_save = training.save_checkpoint

    def save_then_terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of the pair of writes
        real_save(*args, **kwargs)

    monkeypatch.setattr(training, "save_checkpoint", save_then_terminated)
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        with pytest.raises(TrainingInterrupted) as stopped:
            train(source, replace(CONFIG, out=str(tmp_path)), *data, spec=spec, log=_quiet)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped.value.saved_epoch == 1
    _, checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert checkpoint["epoch"] == 1 and len(lines) == 1


def test_a_model_worse_than_uniform_is_warned_about(source, data):
    warnings: list[str] = []
    # A learning rate so large that the model ends far from the data.
    train(source, replace(CONFIG, epochs=1, lr=30.0, samples=0), *data, log=_quiet,
          warn=warnings.append)
    fine: list[str] = []
    train(source, replace(CONFIG, epochs=1, samples=0), *data, log=_quiet, warn=fine.append)
    assert fine == []
    assert len(warnings) == 1 and "worse than the uniform distribution's 3.0000" in warnings[0]


def test_a_full_disk_is_a_training_error_that_keeps_the_last_checkpoint(tmp_path, source, spec,
                                                                        data, monkeypatch):
    train(source, replace(CONFIG, epochs=1, samples=0, out=str(tmp_path)), *data, spec=spec,
          log=_quiet)
    before = (tmp_path / "checkpoint.pt").read_bytes()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(TrainingError, match="No space left on device.*still holds epoch 1"):
        train(source, replace(CONFIG, epochs=2, samples=0, out=str(tmp_path)), *data,
              spec=spec, resume=True, log=_quiet)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_uniform_warning_comes_once_a_run(source, data):
    warnings: list[str] = []
    # lr 20 on this data: 11.6, 9.0 and 6.4 bpd, the first two worse than uniform (3 bits)
    train(source, replace(CONFIG, epochs=3, lr=20.0, samples=0), *data, log=_quiet,
          warn=warnings.append)
    assert len(warnings) == 1 and "after 1 epoch" in warnings[0]


# Validation ---------------------------------------------------------------------------


def test_held_out_images_are_disjoint_fixed_and_in_order():
    from pcdsl.runtime.data import Split

    numbered = torch.arange(100).view(100, 1, 1, 1).to(torch.uint8)  # image i holds i
    whole = Split("synthetic", True, numbered, torch.arange(100))
    rest, held = whole.held_out(20)
    rest_ids, held_ids = rest.images.flatten().tolist(), held.images.flatten().tolist()
    assert len(held_ids) == 20 and sorted(rest_ids + held_ids) == list(range(100))
    assert rest_ids == sorted(rest_ids) and held_ids == sorted(held_ids)  # original order
    assert rest.labels.tolist() == rest_ids  # labels travel with their images
    assert whole.held_out(20)[1].images.flatten().tolist() == held_ids  # the same every run
    assert held_ids != list(range(20))  # chosen at random, not the first ones
    with pytest.raises(ValueError):
        whole.held_out(100)


def test_the_best_validation_epoch_is_kept_as_best_pt(tmp_path, source, spec, data):
    lines: list[str] = []
    result = train(source, replace(CONFIG, epochs=4, valid=24, samples=0, out=str(tmp_path)),
                   *data, spec=spec, log=lines.append)
    valid = [m.valid_bpd for m in result.history]
    assert all(v is not None for v in valid)
    best = result.best
    assert best is not None and best.valid_bpd == min(valid)
    _, checkpoint = load_checkpoint(tmp_path / "best.pt")
    assert checkpoint["epoch"] == best.epoch
    circuit, _ = load_checkpoint(tmp_path / "best.pt")
    assert evaluate(circuit, data[1], 64)[1] == pytest.approx(best.test_bpd, rel=1e-6)
    assert any(f"best validation bpd {best.valid_bpd:.4f} at epoch {best.epoch}" in line
               for line in lines)
    recorded = [json.loads(x)["valid_bpd"]
                for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert recorded == pytest.approx(valid)


def test_patience_stops_when_validation_stops_improving(source, data, monkeypatch):
    import pcdsl.runtime.train as training

    scripted = iter([5.0, 4.0, 4.5, 4.2, 3.0, 2.0])  # best at epoch 2, then two worse
    real = training.evaluate

    def evaluate_with_scripted_validation(circuit, split, *args, **kwargs):
        avg, bpd, accuracy = real(circuit, split, *args, **kwargs)
        return (avg, next(scripted), accuracy) if len(split) == 24 else (avg, bpd, accuracy)

    monkeypatch.setattr(training, "evaluate", evaluate_with_scripted_validation)
    lines: list[str] = []
    result = train(source, replace(CONFIG, epochs=6, valid=24, patience=2, samples=0), *data,
                   log=lines.append)
    assert [m.epoch for m in result.history] == [1, 2, 3, 4]
    assert result.best.epoch == 2
    assert any("stopping early" in line and "since epoch 2" in line for line in lines)


def test_validation_options_are_checked():
    with pytest.raises(ValueError, match="patience"):
        replace(CONFIG, patience=2)
