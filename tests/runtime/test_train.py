"""Training: files written, learning happens, resuming is bit-for-bit, bad data refused."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from pcdsl.runtime.checkpoint import load_checkpoint
from pcdsl.runtime.train import (
    TrainConfig,
    TrainingError,
    bits_per_dimension,
    build_circuit,
    evaluate,
    train,
)
from tests.runtime.training_data import SPEC, module_source, split

CONFIG = TrainConfig(dataset="synthetic", epochs=3, batch_size=16, lr=0.05, samples=4,
                     progress=False, eval_batch_size=64)


@pytest.fixture(scope="module")
def source() -> str:
    return module_source()


@pytest.fixture(scope="module")
def data():
    return split(96, True, seed=1), split(48, False, seed=2)


def _quiet(_: str) -> None:
    pass


@pytest.mark.parametrize("optimizer", ["adam", "em"])
def test_training_learns_and_writes_every_file(tmp_path, source, data, optimizer):
    config = replace(CONFIG, optimizer=optimizer, out=str(tmp_path))
    before = evaluate(build_circuit(source, config.seed), data[1])[1]
    result = train(source, config, *data, log=_quiet)
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
def test_resume_continues_bit_for_bit(tmp_path, source, data, optimizer):
    straight = train(source, replace(CONFIG, optimizer=optimizer, out=str(tmp_path / "a")),
                     *data, log=_quiet)
    train(source, replace(CONFIG, optimizer=optimizer, epochs=2, out=str(tmp_path / "b")),
          *data, log=_quiet)
    resumed = train(source, replace(CONFIG, optimizer=optimizer, out=str(tmp_path / "b")),
                    *data, resume=True, log=_quiet)
    for name, value in straight.circuit.state_dict().items():
        assert torch.equal(value, resumed.circuit.state_dict()[name]), name
    assert [m.test_ll for m in resumed.history] == [m.test_ll for m in straight.history]
    assert [m.train_nll for m in resumed.history] == [m.train_nll for m in straight.history]


def test_resume_refuses_another_spec(tmp_path, source, data):
    train(source, replace(CONFIG, epochs=1, out=str(tmp_path)), *data, log=_quiet)
    other = module_source(SPEC.replace("units = 3)\n  layers", "units = 2)\n  layers"))
    with pytest.raises(TrainingError, match="spec"):
        train(other, replace(CONFIG, epochs=2, out=str(tmp_path)), *data, resume=True, log=_quiet)


def test_resume_needs_a_checkpoint(tmp_path, source, data):
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(source, replace(CONFIG, out=str(tmp_path)), *data, resume=True, log=_quiet)


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
