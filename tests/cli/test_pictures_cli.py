"""`pcc sample` and `pcc inpaint` on checkpoints of small specs, with synthetic data only."""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy
import pytest
import torch

from pcdsl.driver import compile_source, emit_python
from pcdsl.rebuild import spec_record
from pcdsl.runtime.checkpoint import save_checkpoint
from pcdsl.runtime.loading import load_generated
from pcdsl.runtime.pictures import HIDDEN_COLOUR
from tests.cli.helpers import pcc
from tests.conftest import TINY_SPEC

TINY = TINY_SPEC
# 28x28 with 256 values, as the data sets, but small.
SMALL_28 = """\
model f {
  data = image(height = 28, width = 28, values = 256)
  inputs = categorical(units = 2)
  layers = cp(units = 2)
}
"""


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PCDSL_DEBUG", raising=False)
    monkeypatch.delenv("PCDSL_DATA_ROOT", raising=False)
    return tmp_path


def checkpoint(tmp_path: Path, source: str, name: str, dataset: str = "fashion-mnist") -> str:
    """A checkpoint of ``source`` as a run on ``dataset`` would write it."""
    compiled = compile_source(source, f"{name}.pc")
    text = emit_python(compiled, compiled.model(None))
    module_path = tmp_path / f"{name}_model.py"
    module_path.write_text(text)
    module = load_generated(module_path)
    path = tmp_path / f"{name}.ckpt"
    save_checkpoint(path, module.Circuit(seed=1), spec_record(compiled, compiled.model(None)),
                    extra={"config": {"dataset": dataset}})
    return str(path)


def no_traceback(*streams: str) -> None:
    for stream in streams:
        assert "Traceback" not in stream and "internal error" not in stream


def png(path) -> numpy.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        return numpy.asarray(image.convert("RGB"))


def write_fake_mnist(root: Path, folder: str, count: int = 12) -> torch.Tensor:
    """Tiny idx files where torchvision looks for them; returns the test images."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    test = torch.randint(256, (count, 28, 28), generator=generator, dtype=torch.uint8)
    for split, images in (("train", test[:2]), ("t10k", test)):
        n = images.shape[0]
        (raw / f"{split}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 0x803, n, 28, 28) + images.numpy().tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 0x801, n) + bytes(range(n)))
    return test


def test_help_lists_the_picture_commands(capsys):
    status, out, _ = pcc(capsys, "--help")
    assert status == 0
    assert "sample" in out and "inpaint" in out and "exit codes" in out.lower()
    status, out, _ = pcc(capsys, "inpaint", "--help")
    assert status == 0
    for flag in ("--dataset", "--data-root", "--count", "--masks", "--seed", "PCDSL_DATA_ROOT"):
        assert flag in out


@pytest.mark.parametrize("n, scale", [(6, 3), (64, 1), (1, 2)])
def test_sample_writes_a_png_of_the_expected_size(capsys, tmp_path, n, scale):
    ckpt = checkpoint(tmp_path, TINY, "tiny")
    status, out, err = pcc(capsys, "sample", ckpt, "-n", str(n), "--scale", str(scale),
                           "--seed", "1", "-o", "s.png")
    assert status == 0, err
    no_traceback(out, err)
    nrow = math.ceil(math.sqrt(n))
    cell = 4 * scale + 2
    pixels = png(tmp_path / "s.png")
    assert pixels.shape == ((-(-n // nrow)) * cell + 2, min(n, nrow) * cell + 2, 3)
    assert "s.png" in out
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".png")) == ["s.png"]


def test_sample_is_reproducible_with_a_seed(capsys, tmp_path):
    ckpt = checkpoint(tmp_path, TINY, "tiny")
    for name, seed in (("a.png", "5"), ("b.png", "5"), ("c.png", "6")):
        assert pcc(capsys, "sample", ckpt, "-n", "16", "--seed", seed, "-o", name)[0] == 0
    assert (png(tmp_path / "a.png") == png(tmp_path / "b.png")).all()
    assert not (png(tmp_path / "a.png") == png(tmp_path / "c.png")).all()


@pytest.mark.parametrize("content", [None, "not a checkpoint"])
def test_sample_refuses_a_missing_or_foreign_file(capsys, tmp_path, content):
    if content is not None:
        (tmp_path / "x.ckpt").write_text(content)
    status, out, err = pcc(capsys, "sample", "x.ckpt", "-o", "s.png")
    assert status == 2
    assert err.startswith("pcc: error: ") and "x.ckpt" in err
    no_traceback(out, err)
    assert not (tmp_path / "s.png").exists()


def test_inpaint_with_a_missing_data_root_exits_2(capsys, tmp_path):
    ckpt = checkpoint(tmp_path, SMALL_28, "small")
    status, out, err = pcc(capsys, "inpaint", ckpt, "--data-root", "nowhere", "-o", "i.png")
    assert status == 2
    no_traceback(out, err)
    tried = os.path.join(str(tmp_path), "nowhere", "FashionMNIST", "raw")
    assert tried in err and "--data-root" in err and "PCDSL_DATA_ROOT" in err
    assert len(err.strip().splitlines()) == 1  # one paragraph
    assert not (tmp_path / "i.png").exists()


def test_inpaint_default_root_comes_from_the_environment(capsys, tmp_path, monkeypatch):
    ckpt = checkpoint(tmp_path, SMALL_28, "small")
    monkeypatch.setenv("PCDSL_DATA_ROOT", str(tmp_path / "env-root"))
    status, _, err = pcc(capsys, "inpaint", ckpt, "--dataset", "mnist")
    assert status == 2
    assert os.path.join(str(tmp_path), "env-root", "MNIST", "raw") in err
    monkeypatch.delenv("PCDSL_DATA_ROOT")
    status, _, err = pcc(capsys, "inpaint", ckpt)
    assert status == 2 and os.path.join(str(tmp_path), "data", "FashionMNIST", "raw") in err


def test_inpaint_rejects_unknown_masks(capsys, tmp_path):
    ckpt = checkpoint(tmp_path, SMALL_28, "small")
    status, out, err = pcc(capsys, "inpaint", ckpt, "--masks", "left,spiral")
    assert status == 2 and "spiral" in err
    no_traceback(out, err)


def test_inpaint_rejects_a_model_of_another_shape(capsys, tmp_path):
    ckpt = checkpoint(tmp_path, TINY, "tiny")
    status, out, err = pcc(capsys, "inpaint", ckpt, "--data-root", "nowhere")
    # refused from the checkpoint alone, before looking for the data
    assert status == 2 and "1x4x4" in err and "1x28x28" in err and "nowhere" not in err
    no_traceback(out, err)


def test_inpaint_uses_the_data_set_the_checkpoint_records(capsys, tmp_path):
    ckpt = checkpoint(tmp_path, SMALL_28, "small", dataset="mnist")
    status, _, err = pcc(capsys, "inpaint", ckpt, "--data-root", "nowhere")
    assert status == 2 and os.path.join("nowhere", "MNIST", "raw") in err


def test_inpaint_checks_the_checkpoint_before_the_data(capsys, tmp_path):
    status, _, err = pcc(capsys, "inpaint", "missing.pt", "--data-root", "nowhere")
    assert status == 2 and "missing.pt" in err and "nowhere" not in err
    assert "'pcc train' writes" in err  # what to pass instead


def test_inpaint_on_synthetic_data(capsys, tmp_path):
    ckpt = checkpoint(tmp_path, SMALL_28, "small")
    write_fake_mnist(tmp_path / "d", "FashionMNIST")
    status, out, err = pcc(capsys, "inpaint", ckpt, "--data-root", "d", "--count", "3",
                           "--masks", "left,first:100", "--scale", "1", "-o", "inpaint.png")
    assert status == 0, err
    no_traceback(out, err)
    pixels = png(tmp_path / "inpaint.png")
    red = int((pixels == numpy.array(HIDDEN_COLOUR, dtype=numpy.uint8)).all(axis=-1).sum())
    assert red == 3 * (392 + 684)  # the masked row of each block, hidden pixels only
    assert [p for p in os.listdir(tmp_path) if p.endswith(".png")] == ["inpaint.png"]


@pytest.mark.parametrize("name, expected", [("s.gif", "cannot tell the picture format"),
                                            ("nowhere/s.png", "there is no folder nowhere")])
def test_a_bad_output_is_refused_before_the_checkpoint_is_read(capsys, tmp_path, name, expected):
    status, _, err = pcc(capsys, "sample", "missing.pt", "-o", name)
    assert status == 2 and expected in err and "missing.pt" not in err


@pytest.mark.parametrize("suffix, magic", [(".jpg", b"\xff\xd8"), (".pdf", b"%PDF"),
                                           (".png", b"\x89PNG")])
def test_sample_writes_the_format_its_suffix_names(capsys, tmp_path, suffix, magic):
    ckpt = checkpoint(tmp_path, TINY, "tiny")
    status, _, err = pcc(capsys, "sample", ckpt, "-n", "4", "-o", f"s{suffix}")
    assert status == 0, err
    assert (tmp_path / f"s{suffix}").read_bytes().startswith(magic)
