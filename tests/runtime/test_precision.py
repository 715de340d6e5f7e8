"""--precision: bf16 within the documented tolerance of fp32, fp32 unchanged, settings
restored, the precision recorded, a resume keeping it and one at another refused, the
flag parsed."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from pcdsl.rebuild import load_checkpoint
from pcdsl.runtime.precision import PRECISIONS, autocast_forward, matmul_precision
from pcdsl.runtime.train import TrainConfig, TrainingError, build_circuit, evaluate, train
from tests.cli.helpers import pcc
from tests.runtime.training_data import compiled_spec, split, tiny_train_command

# docs/training.md, "Precision": per image, |bpd(bf16) - bpd(fp32)| <= 0.005 (each variable
# adds about one product and one sum, each rounded to bf16's 2^-9 relative: 2 * 2^-9 / ln 2).
BF16_TOLERANCE_BPD = 0.005

SPEC = """\
model small {
  data = image(height = 8, width = 8, values = 16)
  inputs = categorical(units = 16)
  layers = cp(units = 16)
}
"""
VARIABLES = 64


@pytest.fixture(scope="module")
def compiled():
    return compiled_spec(SPEC, "small.pc")


@pytest.fixture(scope="module")
def data():
    shape = {"shape": (1, 8, 8), "values": 16}
    return split(128, True, seed=1, **shape), split(64, False, seed=2, **shape)


def _bpd_difference(circuit, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        exact = circuit(x)
        with autocast_forward("bf16", "cpu"):
            reduced = circuit(x)
    assert exact.dtype == reduced.dtype == torch.float32
    assert not torch.equal(exact, reduced)  # bf16 did change the products
    return (reduced - exact).abs() / (VARIABLES * math.log(2))


def test_bf16_is_within_the_documented_tolerance_at_random_init_and_after_training(compiled,
                                                                                   data):
    source, record = compiled
    x = data[1].images.view(64, -1).long()
    assert _bpd_difference(build_circuit(source), x).max() <= BF16_TOLERANCE_BPD
    config = TrainConfig(dataset="synthetic", epochs=2, batch_size=16, lr=0.05, samples=0,
                         progress=False)
    trained = train(source, config, *data, spec=record, log=lambda _: None).circuit
    assert _bpd_difference(trained, x).max() <= BF16_TOLERANCE_BPD


def test_log_scales_stay_float32_under_autocast(compiled, data):
    circuit = build_circuit(compiled[0])
    x = data[1].images.view(64, -1).long()
    with torch.no_grad(), autocast_forward("bf16", "cpu"):
        _, outputs = circuit._evaluate(circuit.variables(x), None, keep=True)
    pairs = [pair for pair in outputs.values() if isinstance(pair, tuple)]
    assert pairs and all(s.dtype == torch.float32 for _, s in pairs)
    assert any(h.dtype == torch.bfloat16 for h, _ in pairs)  # mantissas of the dense sums


def test_fp32_is_bit_identical_to_no_context(compiled, data):
    circuit = build_circuit(compiled[0])
    x = data[1].images.view(64, -1).long()
    plain = circuit(x)
    with matmul_precision("fp32"), autocast_forward("fp32", "cpu"):
        inside = circuit(x)
    assert torch.equal(plain, inside)
    assert evaluate(circuit, data[1]) == evaluate(circuit, data[1], precision="fp32")


def test_a_float32_pass_after_a_bf16_one_is_float32_again(compiled, data):
    # The module caches its tables while gradients are off; one made under autocast must
    # not be served to a float32 pass (which would fail, or be silently rounded).
    circuit = build_circuit(compiled[0])
    before = evaluate(circuit, data[1])
    reduced = evaluate(circuit, data[1], precision="bf16")
    assert reduced[0] != before[0]
    assert evaluate(circuit, data[1]) == before


def _settings() -> tuple:
    return (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32, torch.is_autocast_enabled("cpu"))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_settings_are_restored_after_the_context_even_on_an_error(precision):
    before = _settings()
    with pytest.raises(RuntimeError, match="inside"):
        with matmul_precision(precision), autocast_forward(precision, "cpu"):
            inside = _settings()
            raise RuntimeError("inside")
    assert _settings() == before
    assert inside[0] == ("high" if precision == "tf32" else before[0])
    assert inside[1] is (precision == "tf32" or before[1])
    assert inside[3] is (precision == "bf16")


def test_tf32_restores_a_setting_the_caller_had_changed():
    torch.set_float32_matmul_precision("medium")
    try:
        with matmul_precision("tf32"):
            assert torch.get_float32_matmul_precision() == "high"
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision("highest")


def test_bf16_training_learns_and_records_its_precision(tmp_path, compiled, data):
    source, record = compiled
    config = TrainConfig(dataset="synthetic", epochs=2, batch_size=16, lr=0.05, samples=0,
                         progress=False, precision="bf16", out=str(tmp_path))
    start = evaluate(build_circuit(source), data[1])[1]
    result = train(source, config, *data, spec=record, log=lambda _: None)
    assert result.test_bpd < start - 0.2
    assert all(p.dtype == torch.float32 for p in result.circuit.parameters())
    assert [m.precision for m in result.history] == ["bf16", "bf16"]
    _, checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    assert checkpoint["extra"]["config"]["precision"] == "bf16"
    with pytest.raises(TrainingError, match=r"trained with --precision bf16, not fp32: resume "
                                            r"with --precision bf16"):
        train(source, replace(config, epochs=3, precision="fp32"), *data, spec=record,
              resume=True, log=lambda _: None)
    resumed = train(source, replace(config, epochs=3, precision=None), *data, spec=record,
                    resume=True, log=lambda _: None)
    assert [(m.epoch, m.precision) for m in resumed.history] == [(1, "bf16"), (2, "bf16"),
                                                                 (3, "bf16")]


def test_bf16_em_learns_as_fp32_em_does(compiled, data):
    # EM's counts are gradients taken outside the forward's autocast: float32, finite, and
    # the run ends where the fp32 one does, within bf16's rounding.
    source, record = compiled
    results = {}
    for precision in ("fp32", "bf16"):
        config = TrainConfig(dataset="synthetic", epochs=2, batch_size=16, optimizer="em",
                             em_step_size=0.2, samples=0, progress=False, precision=precision)
        results[precision] = train(source, config, *data, spec=record, log=lambda _: None)
    start = evaluate(build_circuit(source), data[1])[1]
    assert results["bf16"].test_bpd < start - 0.2
    assert abs(results["bf16"].test_bpd - results["fp32"].test_bpd) <= BF16_TOLERANCE_BPD
    assert all(p.dtype == torch.float32 and p.isfinite().all() for p in results["bf16"].circuit.parameters())


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="fp16")


def test_the_flag_is_parsed_checked_and_misspellings_get_a_suggestion(tmp_path, capsys):
    run = tiny_train_command(tmp_path)
    status, _, err = pcc(capsys, *run, "--precision", "bf61")
    assert status == 2 and "did you mean 'bf16'?" in err and "Traceback" not in err
    out = tmp_path / "run"
    status, printed, err = pcc(capsys, *run, "--precision", "bf16", "--out", str(out))
    assert status == 0, err
    status, _, err = pcc(capsys, *run, "--out", str(out), "--epochs", "2", "--resume",
                         "--precision", "fp32")
    assert status == 2 and err.count("\n") == 1
    assert "trained with --precision bf16, not fp32" in err
    status, _, err = pcc(capsys, *run, "--out", str(out), "--epochs", "2", "--resume")
    assert status == 0, err  # without --precision, the checkpoint's
    metrics = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["precision"] for line in metrics] == ["bf16", "bf16"]
    evaluate_run = ["eval", str(out / "checkpoint.pt"), "--data-root", str(tmp_path / "data")]
    status, printed, _ = pcc(capsys, *evaluate_run, "--precision", "tf23")
    assert status == 2
    status, printed, _ = pcc(capsys, *evaluate_run, "--precision", "bf16", "--json")
    assert status == 0 and '"precision": "bf16"' in printed
