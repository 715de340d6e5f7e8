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


def test_a_sigterm_while_the_curves_are_drawn_waits_for_them(tmp_path, spec, root, capsys,
                                                            monkeypatch):
    # Drawing the curves imports matplotlib on the first epoch; an interrupt raised inside a
    # C extension's initialisation became "ImportError: initialization failed" and an aborted
    # interpreter. The signal is held until the curves are written, then stops the run.
    import signal

    import pcdsl.runtime.train as training

    drawn = []
    real = training.write_curves

    def write_curves_interrupted(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)  # as if it came in the middle of the drawing
        real(*args, **kwargs)
        drawn.append(True)

    monkeypatch.setattr(training, "write_curves", write_curves_interrupted)
    out = tmp_path / "run"
    status = main(["train", str(spec), "--data-root", str(root), "--epochs", "3",
                   "--batch-size", "16", "--out", str(out), "--samples", "0", "--device", "cpu"])
    err = capsys.readouterr().err
    assert status == 130, err
    assert drawn == [True] and (out / "curves.png").is_file()
    assert "internal error" not in err and "Resume with:" in err
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


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


def _train(spec, root, *extra: str) -> int:
    return main(["train", str(spec), "--data-root", str(root), "--epochs", "1", "--batch-size",
                 "16", "--samples", "0", "--device", "cpu", *extra])


def test_an_existing_run_is_never_overwritten_silently(tmp_path, spec, root, capsys):
    out = tmp_path / "run"
    assert _train(spec, root, "--out", str(out)) == 0
    before = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert _train(spec, root, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert (out / "checkpoint.pt").read_bytes() == before
    assert _train(spec, root, "--out", str(out), "--overwrite") == 0
    assert (out / "checkpoint.pt").read_bytes() != before


def test_the_default_folder_is_numbered_instead_of_reused(tmp_path, spec, root, capsys,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _train(spec, root) == 0
    assert _train(spec, root) == 0
    out = capsys.readouterr().out
    first, second = (tmp_path / "runs" / "small-fashion-mnist-adam",
                     tmp_path / "runs" / "small-fashion-mnist-adam-2")
    assert (first / "checkpoint.pt").exists() and (second / "checkpoint.pt").exists()
    assert "files in runs/small-fashion-mnist-adam-2" in out
    assert main(["train", str(spec), "--data-root", str(root), "--epochs", "2", "--batch-size",
                 "16", "--samples", "0", "--resume"]) == 0
    assert "resumed from runs/small-fashion-mnist-adam-2" in capsys.readouterr().out
    assert "1 epoch)" in out  # plural right for one


def test_a_generated_module_is_refused_with_its_spec_named(tmp_path, spec, root, capsys):
    module = tmp_path / "small.py"
    assert main(["compile", str(spec), "-o", str(module)]) == 0
    capsys.readouterr()
    assert main(["train", str(module), "--data-root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "takes the .pc spec" in err and "small.pc" in err


@pytest.mark.parametrize("seed", ["99999999999999999999999", "-1", "x"])
def test_seeds_out_of_range_are_usage_errors(spec, root, capsys, seed):
    with pytest.raises(SystemExit) as exited:
        main(["train", str(spec), "--data-root", str(root), "--seed", seed])
    assert exited.value.code == 2
    assert "--seed" in capsys.readouterr().err


def test_ctrl_c_says_what_was_kept_and_how_to_resume(tmp_path, spec, root, capsys, monkeypatch):
    import pcdsl.runtime.train as training

    real = training._train_epoch
    calls = []

    def interrupted_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "_train_epoch", interrupted_in_epoch_2)
    out = tmp_path / "run"
    status = main(["train", str(spec), "--data-root", str(root), "--epochs", "3", "--batch-size",
                   "16", "--samples", "0", "--device", "cpu", "--lr", "0.02", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 130
    assert "interrupted in epoch 2" in err and "holds epoch 1" in err
    resume = err.strip().splitlines()[-1].strip()
    assert resume.startswith("pcc train ") and resume.endswith("--resume")
    assert "--lr 0.02" in resume and f"--out {out}" in resume and "--epochs 3" in resume
    monkeypatch.setattr(training, "_train_epoch", real)
    assert main(resume.split()[1:]) == 0  # the printed command does resume
    assert "resumed from" in capsys.readouterr().out


def test_eval_defaults_to_the_data_set_the_checkpoint_records(tmp_path, spec, root, capsys):
    out = tmp_path / "run"
    assert _train(spec, root, "--out", str(out)) == 0
    capsys.readouterr()
    assert main(["eval", str(out / "checkpoint.pt"), "--data-root", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dataset"] == "fashion-mnist"
    # The checkpoint is checked before any data is read.
    assert main(["eval", str(tmp_path / "none.pt"), "--data-root", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert "none.pt" in err and "no data" not in err and "FashionMNIST" not in err


def test_a_damaged_data_file_is_one_line(tmp_path, spec, root, capsys):
    images = root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(b"\x00\x00\x08\x03" + images.read_bytes()[4:20])  # truncated
    status = _train(spec, root, "--out", str(tmp_path / "run"))
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err and "internal error" not in err
    assert "FashionMNIST" in err and len(err.strip().splitlines()) == 1


def test_sigterm_stops_a_run_as_ctrl_c_does_and_the_printed_command_resumes_it(tmp_path, spec,
                                                                                 root):
    # What a scheduler, `kill` or `timeout` sends; a job started with nohup ignores SIGINT.
    import os
    import shlex
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    command = [sys.executable, "-m", "pcdsl", "train", str(spec), "--data-root", str(root),
               "--epochs", "400", "--batch-size", "8", "--samples", "0", "--device", "cpu",
               "--no-progress", "--threads", "1", "--out", str(out)]
    environment = {**os.environ, "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=environment)
    deadline = time.monotonic() + 120
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (out / "metrics.jsonl").exists(), "no epoch finished"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "Resume with:" in err
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    resume = shlex.split(err.split("Resume with:")[1].strip().splitlines()[0])
    assert resume[:2] == ["pcc", "train"] and "--resume" in resume
    # The printed command continues the run (one more epoch, then stop again).
    resume[resume.index("--epochs") + 1] = str(epochs[-1] + 1)
    resumed = subprocess.run([sys.executable, "-m", "pcdsl", *resume[1:]], capture_output=True,
                             text=True, env=environment, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, epochs[-1] + 2))
