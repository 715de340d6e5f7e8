"""Argument checks: integers, classes, generators and tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pcdsl.codegen.kernels import validation


def test_integer_accepts_integral_values_only():
    assert validation._integer(np.int64(4), "n") == 4
    assert validation._integer(torch.tensor(5), "n") == 5
    for wrong in (True, 2.0, "3", torch.tensor([1, 2])):
        with pytest.raises(TypeError, match="n must be an integer"):
            validation._integer(wrong, "n")


def test_class_index_lies_within_the_classes(monkeypatch):
    monkeypatch.setattr(validation, "NUM_CLASSES", 3)
    assert validation._class_index(2) == 2
    with pytest.raises(ValueError, match=r"0\.\.2, found 3"):
        validation._class_index(3)


def test_generator_and_tensor():
    generator = torch.Generator()
    assert validation._generator(generator) is generator and validation._generator(None) is None
    with pytest.raises(TypeError, match="torch.Generator"):
        validation._generator(3)
    assert torch.equal(validation._tensor(np.arange(3), "x"), torch.arange(3))
    with pytest.raises(TypeError, match="x must be a tensor"):
        validation._tensor([1, 2], "x")
