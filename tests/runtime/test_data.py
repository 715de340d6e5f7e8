"""Data sets: the raw bytes equal the seed's transform, missing data is named clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pcdsl.runtime.data import (
    DATA_ROOT_VARIABLE,
    DatasetNotFound,
    data_root,
    load_images,
    load_split,
)
from tests.runtime.training_data import write_fashion_mnist

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_tiny_fashion_mnist_in_torchvision_layout(tmp_path):
    root = write_fashion_mnist(tmp_path, train=12, test=5)
    train = load_split("fashion-mnist", root, train=True)
    test = load_split("fashion-mnist", root, train=False)
    assert train.images.shape == (12, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.labels.shape == (5,) and len(test) == 5
    assert load_images("fashion-mnist", root, count=3).dtype == torch.long


def test_raw_bytes_equal_the_seed_transform(tmp_path):
    """The seed reads pixels as (255 * ToTensor()(image)).long(): exactly the stored byte."""
    import torchvision
    from torchvision import transforms

    root = SHARED if (SHARED / "FashionMNIST" / "raw").is_dir() else write_fashion_mnist(tmp_path)
    seed = torchvision.datasets.FashionMNIST(root=str(root), train=False, download=False,
                                             transform=transforms.ToTensor())
    ours = load_split("fashion-mnist", root, train=False)
    for index in (0, 1, len(seed) - 1):
        expected = (255 * seed[index][0]).long()
        assert torch.equal(ours.images[index].long(), expected)
        assert int(ours.labels[index]) == seed[index][1]


def test_missing_data_set_names_the_folder(tmp_path):
    with pytest.raises(DatasetNotFound) as caught:
        load_split("mnist", tmp_path, train=True)
    assert caught.value.folder == str(tmp_path / "MNIST" / "raw")


def test_unknown_data_set():
    with pytest.raises(ValueError, match="fashion-mnist"):
        load_split("imagenet", ".", train=True)


def test_data_root_precedence(monkeypatch):
    monkeypatch.delenv(DATA_ROOT_VARIABLE, raising=False)
    assert data_root(None) == ("data", "the default")
    monkeypatch.setenv(DATA_ROOT_VARIABLE, "/somewhere")
    assert data_root(None) == ("/somewhere", DATA_ROOT_VARIABLE)
    assert data_root("/flag") == ("/flag", "--data-root")
