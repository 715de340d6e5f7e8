"""A checkpoint is data: nothing written in one ever runs, through any command or function.

Each tampered checkpoint carries a payload that, if executed, creates a marker file; every
test asserts the marker's absence after the command (and, where the file is still usable,
that it did its job)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pcdsl.driver import compile_source, emit_python
from pcdsl.rebuild import load_checkpoint, spec_record
from pcdsl.runtime.checkpoint import (
    CheckpointError,
    LegacyCheckpoint,
    load_weights_into,
    read_checkpoint,
    save_checkpoint,
    spec_sha256,
)
from pcdsl.runtime.loading import module_from_source
from tests.cli.helpers import pcc as run_pcc
from tests.runtime.training_data import write_fashion_mnist

SPEC = """\
model small {
  data = image(height = 28, width = 28, values = 256)
  inputs = categorical(units = 2)
  layers = cp(units = 2)
}
"""


@pytest.fixture
def pcc(capsys):
    return lambda argv: run_pcc(capsys, *argv)


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "PAYLOAD_RAN"


def payload(marker: Path) -> str:
    return f"\nimport pathlib\npathlib.Path({str(marker)!r}).write_text('pwned')\n"


@pytest.fixture
def honest(tmp_path) -> tuple[Path, str]:
    """(a current checkpoint of SPEC, the generated module text)."""
    compiled = compile_source(SPEC, "small.pc")
    model = compiled.model(None)
    text = emit_python(compiled, model)
    circuit = module_from_source(text).Circuit(seed=1)
    path = tmp_path / "honest.pt"
    save_checkpoint(path, circuit, spec_record(compiled, model), epoch=1,
                    extra={"config": {"dataset": "fashion-mnist"}})
    return path, text


def legacy(honest: tuple[Path, str], marker: Path, tmp_path: Path) -> Path:
    """A format-1 checkpoint (generated module source inside) whose source carries a payload."""
    path, text = honest
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["spec"]
    checkpoint["format_version"] = 1
    checkpoint["module_source"] = text + payload(marker)
    evil = tmp_path / "evil.pt"
    torch.save(checkpoint, evil)
    return evil


class Exploit:
    """An object whose unpickling would run code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def pickled_exploit(marker: Path, tmp_path: Path) -> Path:
    path = tmp_path / "pickle.pt"
    with open(path, "wb") as handle:
        torch.save({"format": "pcdsl-checkpoint", "format_version": 2,
                    "extra": Exploit(marker)}, handle)
    return path


@pytest.fixture
def data_root(tmp_path) -> Path:
    return write_fashion_mnist(tmp_path / "data", train=16, test=8)


def commands(checkpoint: Path, root: Path, tmp_path: Path) -> list[list[str]]:
    """Every command that opens a checkpoint, and the resume of a run folder holding it."""
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "checkpoint.pt").write_bytes(checkpoint.read_bytes())
    spec = tmp_path / "small.pc"
    spec.write_text(SPEC)
    return [
        ["eval", str(checkpoint), "--data-root", str(root), "--device", "cpu"],
        ["sample", str(checkpoint), "-n", "2", "-o", str(tmp_path / "s.png")],
        ["inpaint", str(checkpoint), "--data-root", str(root), "--count", "2",
         "-o", str(tmp_path / "i.png")],
        ["export", str(checkpoint), "-o", str(tmp_path / "w.safetensors"), "--force"],
        ["train", str(spec), "--data-root", str(root), "--out", str(run), "--resume",
         "--epochs", "2", "--batch-size", "8", "--samples", "0", "--device", "cpu"],
    ]


def test_a_legacy_checkpoint_with_code_never_runs_it(honest, marker, tmp_path, data_root, pcc):
    evil = legacy(honest, marker, tmp_path)
    for argv in commands(evil, data_root, tmp_path):
        status, out, err = pcc(argv)
        assert not marker.exists(), argv
        assert status == 2, (argv, err)
        assert "Traceback" not in err and "internal error" not in err
        assert "upgrade-checkpoint" in err, err  # says how to convert it
        assert len(err.strip().splitlines()) == 1, err
    for function in (load_checkpoint, read_checkpoint):
        with pytest.raises(LegacyCheckpoint):
            function(evil)
    import pcdsl.runtime

    with pytest.raises(LegacyCheckpoint):
        pcdsl.runtime.load_checkpoint(evil)
    circuit = module_from_source(honest[1]).Circuit(seed=2)
    with pytest.raises(LegacyCheckpoint):
        load_weights_into(circuit, evil)
    assert not marker.exists()


def test_upgrading_a_legacy_checkpoint_reads_only_its_weights(honest, marker, tmp_path, pcc):
    evil = legacy(honest, marker, tmp_path)
    spec = tmp_path / "small.pc"
    spec.write_text(SPEC)
    new = tmp_path / "new.pt"
    status, out, err = pcc(["upgrade-checkpoint", str(evil), "--spec", str(spec), "-o", str(new)])
    assert status == 0, err
    assert not marker.exists()
    circuit, checkpoint = load_checkpoint(new)
    assert "module_source" not in checkpoint and checkpoint["epoch"] == 1
    original, _ = load_checkpoint(honest[0])
    for name, value in original.state_dict().items():
        assert torch.equal(value, circuit.state_dict()[name])
    assert not marker.exists()
    # The spec must be the one the weights were trained on; the output is never the input.
    other = tmp_path / "other.pc"
    other.write_text("# changed\n" + SPEC)
    status, _, err = pcc(["upgrade-checkpoint", str(evil), "--spec", str(other), "-o",
                          str(tmp_path / "x.pt")])
    assert status == 2 and "exact spec" in err and not (tmp_path / "x.pt").exists()
    status, _, err = pcc(["upgrade-checkpoint", str(evil), "--spec", str(spec), "-o", str(evil)])
    assert status == 2 and "being read" in err
    assert not marker.exists()


def test_code_added_beside_a_current_checkpoint_is_ignored(honest, marker, tmp_path):
    path, text = honest
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["module_source"] = text + payload(marker)
    checkpoint["extra"]["module_source"] = text + payload(marker)
    torch.save(checkpoint, path)
    circuit, _ = load_checkpoint(path)
    circuit.sample(1)
    assert not marker.exists()


@pytest.mark.parametrize("where", ["comment", "model name", "string"])
def test_a_spec_rewritten_with_code_never_runs_it(honest, marker, tmp_path, where):
    """Whoever writes the file may rewrite the spec and its hash together; the spec is still
    only compiled, and the compiler pastes no spec text into the module."""
    path, _ = honest
    code = payload(marker).strip().replace("\n", "; ")
    source = {"comment": f"# {code}\n" + SPEC,
              "model name": SPEC.replace("model small", f'model small"""; {code}; """'),
              "string": SPEC.replace("cp(units = 2)", f'cp(units = 2, note = "{code}")')}[where]
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["spec"]["source"] = source
    checkpoint["spec_sha256"] = spec_sha256(source)
    torch.save(checkpoint, path)
    try:
        circuit, _ = load_checkpoint(path)
        circuit.sample(1)
    except CheckpointError as exc:
        assert "does not compile" in str(exc) and "\n" not in str(exc)
    assert not marker.exists()


def test_pickled_objects_are_refused_without_running(marker, tmp_path, pcc):
    path = pickled_exploit(marker, tmp_path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        read_checkpoint(path)
    status, _, err = pcc(["sample", str(path), "-o", str(tmp_path / "s.png")])
    assert status == 2 and "not a pcdsl checkpoint" in err
    assert not marker.exists()


def test_export_writes_the_weights_as_safetensors(honest, tmp_path, pcc):
    from safetensors.torch import load_file, safe_open

    out = tmp_path / "weights.safetensors"
    status, _, err = pcc(["export", str(honest[0]), "-o", str(out)])
    assert status == 0, err
    circuit, checkpoint = load_checkpoint(honest[0])
    tensors = load_file(out)
    assert tensors.keys() == circuit.state_dict().keys()
    assert all(torch.equal(tensors[k], v) for k, v in circuit.state_dict().items())
    with safe_open(out, "pt") as handle:
        assert handle.metadata()["spec_sha256"] == checkpoint["spec_sha256"]
    before = out.read_bytes()
    status, _, err = pcc(["export", str(honest[0]), "-o", str(out)])
    assert status == 2 and "--force" in err and out.read_bytes() == before


def test_checkpoint_files_hold_no_python(honest):
    """The bytes of a current checkpoint hold no generated code (a weak but direct check on
    what travels: the module's class definition would show up as text)."""
    data = honest[0].read_bytes()
    assert b"class Circuit" not in data and b"import torch" not in data
