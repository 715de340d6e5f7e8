"""The generated module checks every argument of its API and says what it expected."""

from __future__ import annotations

import numpy as np
import pytest
import torch

SPEC = """
model tiny {
  data    = image(channels = 1, height = 2, width = 2, values = 3)
  inputs  = categorical(units = 2)
  layers  = cp(units = 2)
  classes = 2
}"""


@pytest.fixture(scope="module")
def circuit(tmp_path_factory):
    from pcdsl.driver import compile_source, emit_python
    from pcdsl.runtime.loading import load_generated

    compiled = compile_source(SPEC, "tiny.pc")
    path = tmp_path_factory.mktemp("validation") / "tiny.py"
    path.write_text(emit_python(compiled, compiled.model(None)))
    return load_generated(path).Circuit()


X = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 0]])
SOME = torch.tensor([True, False, True, False])


@pytest.mark.parametrize("x,error,message", [
    (torch.zeros(2, 5, dtype=torch.long), ValueError, r"shape \(B, 4\) or \(B, 1, 2, 2\), found \(2, 5\)"),
    (torch.zeros(4, dtype=torch.long), ValueError, r"found \(4,\)"),
    (torch.tensor(1), ValueError, r"found \(\)"),
    (torch.zeros(2, 4), TypeError, "integer values 0..2, found dtype torch.float32"),
    (torch.zeros(2, 4, dtype=torch.bool), TypeError, "found dtype torch.bool"),
    (torch.full((2, 4), 3), ValueError, r"values must lie in 0..2, found 0..3|found 3..3"),
    (torch.full((2, 4), -1), ValueError, "values must lie in 0..2"),
    ([[0, 1, 2, 1]], TypeError, "x must be a tensor \\(or a NumPy array\\), found list"),
])
def test_bad_batches_are_refused(circuit, x, error, message):
    with pytest.raises(error, match=message):
        circuit(x)


def test_numpy_arrays_are_converted(circuit):
    with torch.no_grad():
        torch.testing.assert_close(circuit(X.numpy()), circuit(X))
        torch.testing.assert_close(circuit(X.numpy().astype(np.uint8).reshape(2, 1, 2, 2)),
                                   circuit(X))
        torch.testing.assert_close(circuit.log_marginal(X.numpy(), SOME.numpy()),
                                   circuit.log_marginal(X, SOME))
    completed = circuit.sample_conditional(X.numpy(), SOME.numpy(),
                                           generator=torch.Generator().manual_seed(0))
    assert isinstance(completed, torch.Tensor) and completed.shape == (2, 4)
    assert torch.equal(completed[:, SOME], X[:, SOME])
    with pytest.raises(TypeError, match="integer values"):
        circuit(np.zeros((2, 4)))  # float64 values for a discrete model


def test_value_checks_can_be_switched_off(circuit):
    """``check_values = False`` skips the one check that needs the host to read a result."""
    other = type(circuit)()
    other.check_values = False
    with torch.no_grad():
        torch.testing.assert_close(other(X), circuit(X))
    with pytest.raises(ValueError, match="values must lie"):
        circuit(torch.full((1, 4), 3))


@pytest.mark.parametrize("observed,error,message", [
    (torch.zeros(5, dtype=torch.bool), ValueError, r"mask of shape \(4,\) or \(2, 4\), found \(5,\)"),
    (torch.zeros(3, 4, dtype=torch.bool), ValueError, r"found \(3, 4\)"),
    (torch.zeros(4), TypeError, "bool mask of observed variables, found torch.float32"),
    (torch.zeros(4, dtype=torch.long), TypeError, "found torch.int64"),
    ([True, False, True, False], TypeError, "observed must be a tensor"),
])
def test_bad_masks_are_refused(circuit, observed, error, message):
    for query in (lambda: circuit.log_marginal(X, observed),
                  lambda: circuit.sample_conditional(X, observed),
                  lambda: circuit.map_complete(X, observed),
                  lambda: circuit.log_conditional(X, observed, ~SOME)):
        with pytest.raises(error, match=message):
            query()


@pytest.mark.parametrize("n,error,message", [
    (-1, ValueError, "n must be at least 0, found -1"),
    (2.5, TypeError, "n must be an integer, found float 2.5"),
    (True, TypeError, "n must be an integer, found bool True"),
    ("3", TypeError, "n must be an integer, found str '3'"),
    (torch.tensor(2.0), TypeError, "n must be an integer"),
])
def test_bad_sample_counts_are_refused(circuit, n, error, message):
    with pytest.raises(error, match=message):
        circuit.sample(n)


def test_integral_sample_counts_are_accepted(circuit):
    assert circuit.sample(np.int64(3)).shape == (3, 1, 2, 2)
    assert circuit.sample(torch.tensor(2)).shape == (2, 1, 2, 2)
    assert circuit.sample(0).shape == (0, 1, 2, 2)


@pytest.mark.parametrize("class_index,error,message", [
    (2, ValueError, "class_index must lie in 0..1, found 2"),
    (-1, ValueError, "class_index must lie in 0..1, found -1"),
    (0.5, TypeError, "class_index must be an integer, found float 0.5"),
    (False, TypeError, "class_index must be an integer, found bool"),
])
def test_bad_class_indices_are_refused(circuit, class_index, error, message):
    for query in (lambda: circuit.sample(1, class_index=class_index),
                  lambda: circuit.sample_conditional(X, SOME, class_index=class_index),
                  lambda: circuit.map_complete(X, SOME, class_index=class_index)):
        with pytest.raises(error, match=message):
            query()


@pytest.mark.parametrize("generator", [0, np.random.default_rng(0), "seed"])
def test_bad_generators_are_refused(circuit, generator):
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, found"):
        circuit.sample(1, generator=generator)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None"):
        circuit.sample_conditional(X, SOME, generator=generator)
