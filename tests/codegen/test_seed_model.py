"""The seed (cirkit tutorial) model: size, properties, numerics at initialisation, training."""

from __future__ import annotations

import math

import pytest
import torch

from pcdsl.driver import compile_file, emit_python
from pcdsl.runtime.loading import load_generated
from tests.conftest import EXAMPLES

SEED_PARAMETERS = 25_657_730  # libcirkit 0.3.1 on the same configuration


@pytest.fixture(scope="module")
def seed_module(tmp_path_factory):
    compiled = compile_file(str(EXAMPLES / "mnist.pc"))
    path = tmp_path_factory.mktemp("seed") / "mnist_model.py"
    path.write_text(emit_python(compiled, compiled.model(None)))
    return load_generated(path)


def test_seed_parameter_count_and_properties(seed_module):
    circuit = seed_module.Circuit()
    assert circuit.num_parameters == SEED_PARAMETERS
    assert sum(p.numel() for p in circuit.parameters()) == SEED_PARAMETERS
    assert seed_module.NUM_PARAMETERS == SEED_PARAMETERS
    assert circuit.is_smooth and circuit.is_decomposable
    assert not circuit.is_structured_decomposable
    assert circuit.num_variables == 784


def test_no_clamping_at_initialisation(seed_module):
    """libcirkit 0.3.1 clamps log-values at -708.3964 (its issue #416), so every 28x28 image
    gets that constant and zero gradients. Here each image gets its own log-likelihood near
    -784 ln 256 and the gradients are non-zero."""
    circuit = seed_module.Circuit()
    x = torch.randint(256, (8, 784), generator=torch.Generator().manual_seed(0))
    ll = circuit(x)
    uniform = -784 * math.log(256)  # about -4347
    assert torch.isfinite(ll).all()
    assert ((ll - uniform).abs() < 100).all(), ll
    assert (ll < -708.3964 - 1000).all()  # far below cirkit's clamp
    assert len(set(ll.tolist())) == 8  # every image differs
    ll.sum().backward()
    for name, parameter in circuit.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_accepts_images_and_flat_batches(seed_module):
    circuit = seed_module.Circuit()
    x = torch.randint(256, (3, 1, 28, 28), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a = circuit(x)
        b = circuit(x.view(3, 784))
        c = circuit(x.view(3, 28, 28).to(torch.uint8))
    assert torch.equal(a, b) and torch.equal(a, c)


@pytest.mark.parametrize("bad,error", [
    (torch.full((2, 784), 256), ValueError),
    (torch.full((2, 784), -1), ValueError),
    (torch.zeros(2, 783, dtype=torch.long), ValueError),
    (torch.zeros(2, 784), TypeError),
])
def test_rejects_bad_batches(seed_module, bad, error):
    with pytest.raises(error):
        seed_module.Circuit()(bad)


def test_seed_training_loop_lowers_the_loss(seed_module):
    """The tutorial's loop: Adam (lr 0.01) on loss = -circuit(batch).mean()."""
    torch.manual_seed(0)
    circuit = seed_module.Circuit()
    optimiser = torch.optim.Adam(circuit.parameters(), lr=0.01)
    # Structured images: a bright square on a dark background with a little noise.
    batch = torch.randint(0, 30, (32, 28, 28), generator=torch.Generator().manual_seed(3))
    batch[:, 8:20, 8:20] += 200
    batch = batch.view(32, 784)
    losses = []
    for _ in range(5):
        optimiser.zero_grad()
        loss = -circuit(batch).mean()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < losses[0] - 40, losses


def test_float64(seed_module):
    circuit = seed_module.Circuit()
    x = torch.randint(256, (4, 784), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        single = circuit(x)
        double = circuit.double()(x)
    assert double.dtype == torch.float64
    torch.testing.assert_close(single.double(), double, rtol=1e-5, atol=1e-2)


def test_seeded_initialisation_is_deterministic(seed_module):
    a, b = seed_module.Circuit(), seed_module.Circuit()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
    c = seed_module.Circuit(seed=1)
    assert not torch.equal(a.dense_1, c.dense_1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda(seed_module):
    circuit = seed_module.Circuit()
    x = torch.randint(256, (4, 784), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        cpu = circuit(x)
        gpu = circuit.to("cuda")(x.to("cuda"))
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-2)

