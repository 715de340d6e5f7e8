"""Initial values: ``spaced`` puts each unit at the centre of its cell of [a, b), the same in
every layer, and an explicit initialiser is drawn as written."""

from __future__ import annotations

import torch

SPEC = """
model tiny {{
  data    = image(channels = 1, height = 2, width = 2, values = 256)
  inputs  = binomial(units = {units}, probs = sigmoid(init = {init}))
  layers  = cp(units = 3)
}}"""


def logits(build_module, init: str) -> torch.Tensor:
    circuit = build_module(SPEC.format(init=init, units=4)).Circuit()
    (name,) = [n for n, _ in circuit.named_parameters() if n.startswith("binomial")]
    return getattr(circuit, name).detach()


def test_spaced_logits_are_cell_centres(build_module):
    values = logits(build_module, "spaced(a = -2.0, b = 2.0)")
    assert values.shape == (4, 4)  # (pixels, units)
    expected = torch.tensor([-1.5, -0.5, 0.5, 1.5])
    for row in values:
        assert torch.equal(row, expected)


def test_spaced_binomial_units_cover_the_values(build_module):
    """With the default range (-5, 5) and 16 units every pixel value, black, white or grey,
    has a unit under which it is likely: a few nats per pixel, where logits drawn around 0
    (the initialiser of 'weights') cost a black or white pixel tens of nats (177 at p = 0.5)."""
    x = torch.tensor([[0, 0, 0, 0], [255, 255, 255, 255], [128, 128, 128, 128]])
    worst = {}
    for init in ("spaced()", "normal(mean = 0.0, std = 1.0)"):
        circuit = build_module(SPEC.format(init=init, units=16)).Circuit()
        with torch.no_grad():
            worst[init] = circuit(x).min().item()
    assert worst["spaced()"] > -4 * 10.0
    assert worst["normal(mean = 0.0, std = 1.0)"] < -4 * 25.0


def test_explicit_initialisers_are_drawn_as_written(build_module):
    drawn = logits(build_module, "normal(mean = 3.0, std = 0.5)")
    assert 2.0 < drawn.mean().item() < 4.0 and drawn.std().item() > 0.1
    assert not torch.equal(drawn[0], drawn[1])  # independent draws, not spaced
