"""EM's smoothing prior on categorical inputs (--em-input-smoothing): tau pseudo-examples
per distribution, shaped like its counts blurred over neighbouring values, checked against
the kernel written out as a matrix and against plain EM on the same counts."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from pcdsl.rebuild import load_checkpoint
from pcdsl.runtime.em import MiniBatchEM, blur_values
from pcdsl.runtime.train import TrainConfig, train
from tests.cli.helpers import pcc
from tests.runtime.training_data import compiled_spec, split, tiny_train_command

GREY = """
model m {
  data = image(height = 2, width = 3, values = 12)
  inputs = categorical(units = 3)
  layers = cp(units = 3)
}
"""
BINOMIAL = """
model m {
  data = image(height = 2, width = 3, values = 12)
  inputs = binomial(units = 2)
  layers = cp(units = 2)
}
"""


def _blur_matrix(values: int, width: float) -> torch.Tensor:
    """M[t, v]: the share of value v's count that lands on t (a Gaussian of ``width``
    values within four widths, each column renormalised over the values that exist)."""
    radius = math.ceil(4 * width)
    matrix = torch.zeros(values, values, dtype=torch.float64)
    for v in range(values):
        for t in range(max(0, v - radius), min(values, v + radius + 1)):
            matrix[t, v] = math.exp(-0.5 * ((t - v) / width) ** 2)
    return matrix / matrix.sum(0, keepdim=True)


# 256 values take the blocked products (blocks of 32, then 64 for the widest kernel), 11
# and 300 the dense one.
@pytest.mark.parametrize("values, width", [(11, 1.5), (256, 0.5), (256, 2.0), (256, 6.0),
                                           (300, 4.0)])
def test_the_blur_is_the_kernel_matrix_and_keeps_every_total(values, width):
    generator = torch.Generator().manual_seed(0)
    counts = torch.rand(3, 4, values, generator=generator, dtype=torch.float64)
    counts[0, 0] = 0.0
    counts[0, 0, 0] = 5.0  # a spike at the first value keeps its mass
    counts[1, 1] = 0.0  # and a distribution without counts stays empty
    blurred = blur_values(counts, width)
    assert torch.allclose(blurred, counts @ _blur_matrix(values, width).T, atol=1e-12)
    assert torch.allclose(blurred.sum(-1), counts.sum(-1), atol=1e-12)
    assert blurred[0, 0, 0] < 5.0 and blurred[0, 0, 1] > 0.0
    assert torch.equal(blurred[1, 1], torch.zeros(values, dtype=torch.float64))


def _data(module, rows: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(module.NUM_VALUES, (rows, module.NUM_VARIABLES), generator=generator)


@pytest.mark.parametrize("dataset_size", [None, 500])
def test_the_inputs_get_tau_pseudo_examples_shaped_like_their_blurred_counts(build_module,
                                                                             dataset_size):
    module = build_module(GREY)
    circuit = module.Circuit(seed=1).double()
    plain = module.Circuit(seed=1).double()
    x = _data(module, 40, seed=2)
    tau, width, alpha = 7.0, 1.5, 0.3
    counts, _, rows = MiniBatchEM(circuit).expected_counts(x)
    smoothed = MiniBatchEM(circuit, step_size=1.0, pseudo_count=alpha, dataset_size=dataset_size,
                           input_smoothing=tau, input_smoothing_width=width)
    smoothed.step(x)
    MiniBatchEM(plain, step_size=1.0, pseudo_count=alpha, dataset_size=dataset_size).step(x)
    scale = float(dataset_size or rows)
    matrix = _blur_matrix(module.NUM_VALUES, width)
    names = set(module.INPUT_FOLDS.values())
    assert names and smoothed.smoothed == tuple(sorted(names))
    for name in module.EM_RULES:
        if name in names:  # the counts, scaled to the data set, plus the shaped prior
            c = counts[name].clamp_min(0)
            mass = c.sum(-1, keepdim=True)
            prior = (c @ matrix.T) / mass * tau * rows / scale
            total = scale / rows * (c + prior)
            n = c.shape[-1]
            expected = (total + alpha / n) / (total.sum(-1, keepdim=True) + alpha)
            assert torch.allclose(getattr(circuit, name).softmax(-1), expected, atol=1e-10), name
        else:  # sum weights: exactly plain EM's
            assert torch.equal(getattr(circuit, name), getattr(plain, name)), name


def test_it_moves_a_rarely_used_unit_more_than_a_well_used_one():
    """The prior is tau pseudo-examples whatever a unit's own count: a unit that explains
    few rows is pulled towards its blurred counts, one that explains many hardly moves."""
    values = torch.zeros(2, 1, 12, dtype=torch.float64)
    values[0, 0, 5] = 2.0  # two rows, both grey level 5
    values[1, 0, 5] = 2000.0
    tau = 10.0
    shaped = values + tau * blur_values(values, 1.0) / values.sum(-1, keepdim=True)
    p = shaped / shaped.sum(-1, keepdim=True)
    assert p[0, 0, 5] < 0.5 < p[1, 0, 5]
    assert p[1, 0, 5] > 0.99 and p[0, 0, 4] > 0.1


def test_binomial_inputs_and_zero_smoothing_are_plain_em(build_module):
    for spec, smoothing in ((BINOMIAL, 5.0), (GREY, 0.0)):
        module = build_module(spec)
        a, b = module.Circuit(seed=0).double(), module.Circuit(seed=0).double()
        x = _data(module, 32, seed=4)
        em = MiniBatchEM(a, step_size=0.5, dataset_size=100, input_smoothing=smoothing)
        assert em.smoothed == ()
        em.step(x)
        MiniBatchEM(b, step_size=0.5, dataset_size=100).step(x)
        for name in module.EM_RULES:
            assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_rejects_bad_options(build_module):
    circuit = build_module(GREY).Circuit(seed=0)
    for options in ({"input_smoothing": -1.0}, {"input_smoothing": math.inf},
                    {"input_smoothing_width": 0.0}, {"input_smoothing_width": math.nan},
                    {"input_smoothing_width": math.inf}):
        with pytest.raises(ValueError, match="input_smoothing"):
            MiniBatchEM(circuit, **options)
    config = TrainConfig(dataset="synthetic", optimizer="em", em_input_smoothing=5.0)
    with pytest.raises(ValueError, match="needs the em optimizer"):
        replace(config, optimizer="adam")
    with pytest.raises(ValueError, match="em_input_smoothing"):
        replace(config, em_input_smoothing_width=-1.0)


def test_a_run_with_smoothing_trains_and_records_it(tmp_path):
    source, record = compiled_spec()
    data = split(64, True, seed=1), split(32, False, seed=2)
    weights = {}
    for smoothing in (0.0, 20.0):
        out = tmp_path / f"run-{smoothing:g}"
        config = TrainConfig(dataset="synthetic", epochs=2, batch_size=16, optimizer="em",
                             em_step_size=0.3, em_input_smoothing=smoothing, samples=0,
                             progress=False, out=str(out))
        result = train(source, config, *data, spec=record, log=lambda _: None)
        assert all(math.isfinite(m.test_bpd) for m in result.history)
        _, checkpoint = load_checkpoint(out / "checkpoint.pt")
        assert checkpoint["extra"]["config"]["em_input_smoothing"] == smoothing
        weights[smoothing] = result.circuit.categorical_0.detach().clone()
    assert not torch.allclose(weights[0.0], weights[20.0])


def test_the_flags_are_checked_in_the_words_of_the_flags(tmp_path, capsys):
    run = [*tiny_train_command(tmp_path), "--em-input-smoothing", "5"]
    status, _, err = pcc(capsys, *run, "--optimizer", "adam")
    assert status == 2 and "add --optimizer em" in err and err.count("\n") == 1, err
    status, _, err = pcc(capsys, *run, "--optimizer", "em", "--em-input-smoothing-width", "0")
    assert status == 2 and "--em-input-smoothing-width" in err, err
    status, _, err = pcc(capsys, *run, "--optimizer", "em", "--out", str(tmp_path / "run"))
    assert status == 0, err
