"""`pcc train` and `pcc eval` end to end on a tiny Fashion-MNIST in torchvision's layout."""

from __future__ import annotations

import json

import pytest

from pcdsl.cli.main import main
from tests.runtime.training_data import write_fashion_mnist

SPEC_28 = """\
model small {
  data = image(height = 28, width = 28, values = 256)
  inputs = categorical(units = 2)
  layers = cp(units = 2)
}
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "small.pc"
    path.write_text(SPEC_28)
    return path


@pytest.fixture
def root(tmp_path):
    return write_fashion_mnist(tmp_path / "data", train=48, test=16)


def test_train_then_eval(tmp_path, spec, root, capsys):
    out = tmp_path / "run"
    status = main(["train", str(spec), "--data-root", str(root), "--epochs", "2",
                   "--batch-size", "16", "--out", str(out), "--samples", "4", "--device", "cpu"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "epoch 2/2" in printed and "test bpd" in printed
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2
    assert main(["eval", str(out / "checkpoint.pt"), "--data-root", str(root), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["images"] == 16
    assert facts["bpd"] == pytest.approx(metrics[-1]["test_bpd"], rel=1e-6)
    # and on from the checkpoint
    assert main(["train", str(spec), "--data-root", str(root), "--epochs", "3",
                 "--batch-size", "16", "--out", str(out), "--samples", "0", "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


def test_missing_data_set_is_one_paragraph(tmp_path, spec, capsys, monkeypatch):
    monkeypatch.delenv("PCDSL_DATA_ROOT", raising=False)
    status = main(["train", str(spec), "--data-root", str(tmp_path / "nowhere"),
                   "--out", str(tmp_path / "run")])
    message = capsys.readouterr().err
    assert status == 2
    assert str(tmp_path / "nowhere" / "FashionMNIST" / "raw") in message
    assert "--data-root" in message and "--download" in message and "PCDSL_DATA_ROOT" in message
    assert "Traceback" not in message
    assert not (tmp_path / "run").exists()


def test_pixel_range_is_checked(tmp_path, spec, root, capsys):
    spec.write_text(SPEC_28.replace("values = 256", "values = 16"))
    status = main(["train", str(spec), "--data-root", str(root), "--out", str(tmp_path / "r")])
    message = capsys.readouterr().err
    assert status == 2
    assert "outside the model's range 0..15" in message and "values = 256" in message


def test_spec_errors_are_diagnostics(tmp_path, root, capsys):
    bad = tmp_path / "bad.pc"
    bad.write_text("model m {\n  data = image(height = 2, width = 2, values = 4)\n  layers = cpp\n}\n")
    assert main(["train", str(bad), "--data-root", str(root)]) == 1
    assert "bad.pc:3:" in capsys.readouterr().err


def test_eval_of_a_missing_checkpoint(tmp_path, root, capsys):
    assert main(["eval", str(tmp_path / "none.pt"), "--data-root", str(root)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unavailable_device(spec, root, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert main(["train", str(spec), "--data-root", str(root), "--device", "cuda"]) == 2
    assert "--device cuda" in capsys.readouterr().err


def test_compiled_training_needs_adam(spec, root, capsys):
    status = main(["train", str(spec), "--data-root", str(root), "--optimizer", "em",
                   "--compile", "train", "--device", "cpu"])
    assert status != 0
    assert "--compile train needs --optimizer adam" in capsys.readouterr().err
