"""Checkpoints: round trip, optimizer and RNG state, atomic writes, and refusals. The
security of opening one (nothing in a checkpoint ever runs) is tests/security/test_checkpoints.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pcdsl.driver import compile_source, emit_python
from pcdsl.rebuild import load_checkpoint, spec_record
from pcdsl.runtime.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    load_weights_into,
    save_checkpoint,
)
from pcdsl.runtime.loading import GeneratedModuleError, load_generated, module_from_source
from tests.conftest import TINY_SPEC

TINY = TINY_SPEC
# The same circuit, so the same parameter shapes, from a different spec text (hash).
TINY_OTHER = "# another file\n" + TINY


def generate(source: str, name: str = "tiny.pc") -> str:
    compiled = compile_source(source, name)
    return emit_python(compiled, compiled.model(None))


def record_of(source: str, name: str = "tiny.pc"):
    compiled = compile_source(source, name)
    return spec_record(compiled, compiled.model(None))


@pytest.fixture
def tiny(tmp_path):
    """(module, spec record) of the tiny spec, the module imported from a file."""
    text = generate(TINY)
    path = tmp_path / "tiny_model.py"
    path.write_text(text)
    return load_generated(path), record_of(TINY)


def trained(module, steps: int = 2):
    circuit = module.Circuit(seed=1)
    optimizer = torch.optim.Adam(circuit.parameters(), lr=0.05)
    x = torch.randint(4, (16, 16), generator=torch.Generator().manual_seed(2))
    for _ in range(steps):
        optimizer.zero_grad()
        (-circuit(x).mean()).backward()
        optimizer.step()
    return circuit, optimizer, x


def test_round_trip_restores_parameters_and_fields(tiny, tmp_path):
    module, spec = tiny
    circuit, optimizer, x = trained(module)
    path = tmp_path / "model.ckpt"
    save_checkpoint(path, circuit, spec, optimizer=optimizer, epoch=3, extra={"note": "hi"})

    loaded, checkpoint = load_checkpoint(path)
    assert checkpoint["format"] == FORMAT and checkpoint["format_version"] == FORMAT_VERSION
    assert checkpoint["model_name"] == module.MODEL_NAME == "m"
    assert checkpoint["spec_sha256"] == module.SPEC_SHA256
    assert checkpoint["compiler_version"] == module.COMPILER_VERSION
    assert checkpoint["spec"] == {"file": "tiny.pc", "source": TINY, "model": "m", "files": {}}
    assert "module_source" not in checkpoint  # no code travels
    assert checkpoint["epoch"] == 3 and checkpoint["extra"] == {"note": "hi"}
    assert type(loaded).__name__ == "Circuit" and type(loaded) is not module.Circuit
    ours, theirs = circuit.state_dict(), loaded.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    with torch.no_grad():
        assert torch.equal(circuit(x), loaded(x))


def test_optimizer_state_is_restored(tiny, tmp_path):
    module, spec = tiny
    circuit, optimizer, x = trained(module)
    save_checkpoint(tmp_path / "c.ckpt", circuit, spec, optimizer=optimizer, epoch=1)
    loaded, checkpoint = load_checkpoint(tmp_path / "c.ckpt")
    resumed = torch.optim.Adam(loaded.parameters(), lr=0.05)
    resumed.load_state_dict(checkpoint["optimizer"])
    before, after = optimizer.state_dict()["state"], resumed.state_dict()["state"]
    assert before.keys() == after.keys() and before
    for index in before:
        for name, value in before[index].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(after[index][name]))
    # One more step on each gives the same parameters.
    for model, opt in ((circuit, optimizer), (loaded, resumed)):
        opt.zero_grad()
        (-model(x).mean()).backward()
        opt.step()
    for a, b in zip(circuit.parameters(), loaded.parameters()):
        assert torch.allclose(a, b)


def test_no_optimizer_and_rng_state(tiny, tmp_path):
    module, spec = tiny
    torch.manual_seed(123)
    state = torch.get_rng_state()
    save_checkpoint(tmp_path / "c.ckpt", module.Circuit(), spec)
    _, checkpoint = load_checkpoint(tmp_path / "c.ckpt")
    assert checkpoint["optimizer"] is None and checkpoint["epoch"] is None
    assert torch.equal(checkpoint["rng"], state)


def test_loading_leaves_the_global_rng_alone(tiny, tmp_path):
    module, spec = tiny
    save_checkpoint(tmp_path / "c.ckpt", module.Circuit(), spec)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    load_checkpoint(tmp_path / "c.ckpt")
    assert torch.equal(torch.rand(3), expected)


def test_atomic_write_leaves_no_temporary_files(tiny, tmp_path, monkeypatch):
    module, spec = tiny
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / "model.ckpt"
    save_checkpoint(path, module.Circuit(seed=1), spec)
    save_checkpoint(path, module.Circuit(seed=2), spec)  # overwrite in place
    assert sorted(os.listdir(folder)) == ["model.ckpt"]
    old = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError):
        save_checkpoint(path, module.Circuit(seed=3), spec)
    assert sorted(os.listdir(folder)) == ["model.ckpt"]
    assert path.read_bytes() == old  # the previous checkpoint survives a failed write


def test_file_mode_follows_the_umask(tiny, tmp_path):
    module, spec = tiny
    previous = os.umask(0o027)
    try:
        save_checkpoint(tmp_path / "c.ckpt", module.Circuit(), spec)
    finally:
        os.umask(previous)
    assert (tmp_path / "c.ckpt").stat().st_mode & 0o777 == 0o640


def test_loading_the_same_source_twice_gives_the_same_class(tiny, tmp_path):
    module, spec = tiny
    save_checkpoint(tmp_path / "a.ckpt", module.Circuit(seed=1), spec)
    save_checkpoint(tmp_path / "b.ckpt", module.Circuit(seed=2), spec)
    a, _ = load_checkpoint(tmp_path / "a.ckpt")
    b, _ = load_checkpoint(tmp_path / "b.ckpt")
    assert type(a) is type(b)
    assert sys.modules[type(a).__module__].SPEC_SHA256 == module.SPEC_SHA256
    assert not torch.equal(a.categorical_0, b.categorical_0)


def test_load_weights_into_an_instance_of_the_same_spec(tiny, tmp_path):
    module, spec = tiny
    circuit, _, _ = trained(module)
    save_checkpoint(tmp_path / "c.ckpt", circuit, spec)
    fresh = module.Circuit(seed=5)
    checkpoint = load_weights_into(fresh, tmp_path / "c.ckpt")
    assert checkpoint["spec_sha256"] == module.SPEC_SHA256
    for a, b in zip(circuit.parameters(), fresh.parameters()):
        assert torch.equal(a, b)


def test_load_weights_into_refuses_another_spec(tiny, tmp_path):
    module, spec = tiny
    save_checkpoint(tmp_path / "c.ckpt", module.Circuit(), spec)
    other_path = tmp_path / "other_model.py"
    other_path.write_text(generate(TINY_OTHER, "other.pc"))
    other = load_generated(other_path)
    assert other.SPEC_SHA256 != module.SPEC_SHA256
    target = other.Circuit(seed=9)
    before = [p.clone() for p in target.parameters()]
    with pytest.raises(CheckpointError) as caught:
        load_weights_into(target, tmp_path / "c.ckpt")
    assert module.SPEC_SHA256 in str(caught.value) and other.SPEC_SHA256 in str(caught.value)
    assert all(torch.equal(a, b) for a, b in zip(before, target.parameters()))


def test_save_refuses_the_record_of_another_spec(tiny, tmp_path):
    module, _ = tiny
    with pytest.raises(CheckpointError, match="SPEC_SHA256"):
        save_checkpoint(tmp_path / "c.ckpt", module.Circuit(), record_of(TINY_OTHER, "o.pc"))
    assert not (tmp_path / "c.ckpt").exists()
    assert os.listdir(tmp_path) == ["tiny_model.py"]


def test_extra_must_be_plain_values(tiny, tmp_path):
    module, spec = tiny
    with pytest.raises(TypeError, match=r"extra\['bad'\]"):
        save_checkpoint(tmp_path / "c.ckpt", module.Circuit(), spec, extra={"bad": object()})
    assert os.listdir(tmp_path) == ["tiny_model.py"]
    extra = {"losses": [1.5, 2.0], "shape": (1, 2), "mean": torch.zeros(2), "name": None}
    save_checkpoint(tmp_path / "c.ckpt", module.Circuit(), spec, extra=extra)
    _, checkpoint = load_checkpoint(tmp_path / "c.ckpt")
    assert checkpoint["extra"]["losses"] == [1.5, 2.0] and checkpoint["extra"]["shape"] == (1, 2)


def test_load_refuses_a_source_that_does_not_match_the_fields(tiny, tmp_path):
    module, spec = tiny
    path = tmp_path / "c.ckpt"
    save_checkpoint(path, module.Circuit(), spec)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["spec_sha256"] = "0" * 64
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="inconsistent"):
        load_checkpoint(path)


@pytest.mark.parametrize("kind", ["missing", "text", "other-dict", "tensor", "newer", "folder"])
def test_refuses_what_is_not_a_checkpoint(tiny, tmp_path, kind):
    module, spec = tiny
    path = tmp_path / "thing.ckpt"
    if kind == "text":
        path.write_text("hello, not a checkpoint\n")
    elif kind == "other-dict":
        torch.save({"state_dict": module.Circuit().state_dict()}, path)
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    elif kind == "newer":
        save_checkpoint(path, module.Circuit(), spec)
        checkpoint = torch.load(path, weights_only=True)
        checkpoint["format_version"] = FORMAT_VERSION + 1
        torch.save(checkpoint, path)
    elif kind == "folder":
        path.mkdir()
    expected = {"missing": "does not exist", "text": "not a pcdsl checkpoint",
                "other-dict": "not a pcdsl checkpoint", "tensor": "not a pcdsl checkpoint",
                "newer": "format version", "folder": "folder"}[kind]
    with pytest.raises(CheckpointError, match=expected) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    with pytest.raises(CheckpointError):
        load_weights_into(module.Circuit(), path)


def test_weights_that_do_not_fit_are_refused(tiny, tmp_path):
    module, spec = tiny
    path = tmp_path / "c.ckpt"
    save_checkpoint(path, module.Circuit(), spec)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["state_dict"].pop(next(iter(checkpoint["state_dict"])))
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(path)


def test_module_from_source_rejects_broken_source():
    with pytest.raises(GeneratedModuleError, match="not valid Python"):
        module_from_source("def (:\n")
    with pytest.raises(GeneratedModuleError, match="no Circuit"):
        module_from_source("X = 1\n")


def test_the_runtime_never_imports_the_parser(tiny, tmp_path):
    """Training, data, pictures and the checkpoint format work on a generated module alone;
    only ``pcdsl.rebuild`` (opening a checkpoint as a circuit) compiles, by design."""
    module, spec = tiny
    save_checkpoint(tmp_path / "c.ckpt", module.Circuit(), spec)
    (tmp_path / "m.py").write_text(generate(TINY))
    script = (
        "import sys, torch\n"
        "import pcdsl.runtime.train, pcdsl.runtime.data, pcdsl.runtime.em, pcdsl.runtime.runs\n"
        "from pcdsl.runtime import load_generated, load_weights_into, inpainting_grid, parse_masks\n"
        f"circuit = load_generated({str(tmp_path / 'm.py')!r}).Circuit()\n"
        f"load_weights_into(circuit, {str(tmp_path / 'c.ckpt')!r})\n"
        "circuit.sample(2)\n"
        "inpainting_grid(circuit, torch.zeros(2, 1, 4, 4, dtype=torch.long),\n"
        "                parse_masks('left', circuit.image_shape))\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('pcdsl.syntax', 'lark',\n"
        "             'pcdsl.driver', 'pcdsl.codegen', 'pcdsl.ir', 'pcdsl.passes', 'pcdsl.rebuild')))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=Path(tmp_path))
    assert done.returncode == 0, done.stderr


def test_a_tree_file_travels_inside_the_checkpoint(tmp_path):
    """A Chow-Liu spec's tree file is carried by the checkpoint: it loads after the file
    (and the spec) are gone."""
    import shutil

    from tests.conftest import EXAMPLES

    folder = tmp_path / "spec"
    (folder / "trees").mkdir(parents=True)
    shutil.copy(EXAMPLES / "trees" / "fashion_mnist_28x28.json", folder / "trees")
    source = (EXAMPLES / "chow_liu_tree.pc").read_text().replace("units = 16", "units = 2")
    (folder / "hclt.pc").write_text(source)
    compiled = compile_source(source, str(folder / "hclt.pc"))
    model = compiled.model(None)
    record = spec_record(compiled, model)
    assert list(record.files) == ["trees/fashion_mnist_28x28.json"]
    module = module_from_source(emit_python(compiled, model))
    circuit = module.Circuit(seed=3)
    save_checkpoint(tmp_path / "c.ckpt", circuit, record)
    shutil.rmtree(folder)
    loaded, _ = load_checkpoint(tmp_path / "c.ckpt")
    x = torch.randint(256, (3, 784), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(loaded(x), circuit(x))
