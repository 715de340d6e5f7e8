"""Small synthetic image data for training tests: structured enough to learn, tiny enough
to train in a second. Also writes it in torchvision's MNIST file layout (IDX files)."""

from __future__ import annotations

import struct
from pathlib import Path

import torch

from pcdsl.driver import compile_source, emit_python
from pcdsl.rebuild import spec_record
from pcdsl.runtime.checkpoint import SpecRecord
from pcdsl.runtime.data import Split

SPEC = """\
model tiny {
  data = image(height = 4, width = 4, values = 8)
  inputs = categorical(units = 3)
  layers = cp(units = 3)
}
"""


# A model over Fashion-MNIST's shape, small enough for `pcc train` to run in a second.
SPEC_28 = """\
model small {
  data = image(height = 28, width = 28, values = 256)
  inputs = categorical(units = 2)
  layers = cp(units = 2)
}
"""


def tiny_train_command(folder: Path) -> list[str]:
    """`pcc train` arguments for one quick epoch of SPEC_28 on 32 images written into
    ``folder`` (the spec and a Fashion-MNIST data root)."""
    spec = folder / "small.pc"
    spec.write_text(SPEC_28)
    root = write_fashion_mnist(folder / "data", train=32, test=16)
    return ["train", str(spec), "--data-root", str(root), "--epochs", "1", "--batch-size", "16",
            "--samples", "0", "--device", "cpu", "--no-progress"]


def module_source(spec: str = SPEC) -> str:
    return compiled_spec(spec)[0]


def record(spec: str = SPEC) -> SpecRecord:
    return compiled_spec(spec)[1]


def compiled_spec(spec: str = SPEC, name: str = "tiny.pc") -> tuple[str, SpecRecord]:
    """(generated module source, the spec record a checkpoint carries) of a spec text."""
    compiled = compile_source(spec, name)
    model = compiled.model(None)
    return emit_python(compiled, model), spec_record(compiled, model)


def images(count: int, shape: tuple[int, int, int] = (1, 4, 4), values: int = 8,
           seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy copies of two prototypes (a vertical and a horizontal bar), uint8, and which
    prototype each is (its label)."""
    generator = torch.Generator().manual_seed(seed)
    _, height, width = shape
    vertical = torch.zeros(shape)
    vertical[..., width // 2] = values - 1
    horizontal = torch.zeros(shape)
    horizontal[..., height // 2, :] = values - 1
    which = torch.randint(2, (count,), generator=generator)
    base = torch.where(which.view(-1, 1, 1, 1) == 0, vertical, horizontal)
    noise = torch.randint(-1, 2, (count, *shape), generator=generator)
    return (base + noise).clamp(0, values - 1).to(torch.uint8), which


def split(count: int, train: bool, seed: int = 0, **options) -> Split:
    data, labels = images(count, seed=seed, **options)
    return Split("synthetic", train, data, labels)


def write_idx(folder: Path, name: str, data: torch.Tensor) -> None:
    """An IDX file as torchvision's MNIST reader expects (uint8 data)."""
    kinds = {1: 0x801, 3: 0x803}
    header = struct.pack(">I", kinds[data.dim()]) + b"".join(
        struct.pack(">I", size) for size in data.shape)
    (folder / name).write_bytes(header + data.numpy().tobytes())


def write_fashion_mnist(root: Path, train: int = 64, test: int = 32) -> Path:
    """A tiny Fashion-MNIST in torchvision's layout under ``root`` (28x28, values 0..255)."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, count, seed in (("train", train, 1), ("t10k", test, 2)):
        data, labels = images(count, (1, 28, 28), 256, seed)
        write_idx(raw, f"{prefix}-images-idx3-ubyte", data.squeeze(1))
        write_idx(raw, f"{prefix}-labels-idx1-ubyte", labels.to(torch.uint8))
    return root
