"""benchmarks/bench.py: a dry run on a tiny spec names what each system would measure."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"

TINY = """\
model tiny {
  data    = image(channels = 1, height = 28, width = 28, values = 256)
  inputs  = categorical(units = 2)
  layers  = cp(units = 2)
}
"""


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module  # dataclasses look their module up while it executes
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["bench"]


def test_a_dry_run_plans_every_system_and_compiles_the_spec(bench, tmp_path, capsys):
    spec = tmp_path / "tiny.pc"
    spec.write_text(TINY)
    assert bench.main(["--dry-run", "--spec", str(spec), "--configs", "pyjuice-hclt",
                       "--systems", "pcdsl,libcirkit,pyjuice"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("would measure pcdsl, libcirkit, pyjuice on cpu")
    hclt, tiny = lines[1], lines[2]
    # 784 x 64 x 256 input probabilities, 661 inner 64 x 64 sums and the root's 64 weights:
    # the count PyJuice's HCLT over the same tree has.
    assert "15,552,576 parameters" in hclt
    assert "libcirkit: n/a" in hclt and "pyjuice: build" in hclt  # no CUDA: PyJuice builds only
    assert "pcdsl: build, train, train_em, eval" in tiny and "pyjuice: n/a" in tiny
    spec.write_text(TINY.replace("cp(", "cq("))
    assert bench.main(["--dry-run", "--spec", str(spec)]) == 1
    assert "pcc rejects it" in capsys.readouterr().out


def test_an_unknown_system_gets_a_suggestion(bench, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.main(["--dry-run", "--systems", "pcdsl,pyjuce"])
    assert stop.value.code == 2
    assert "did you mean 'pyjuice'?" in capsys.readouterr().err


def _measured(rate: float, memory: float) -> dict:
    return {"images_per_s": rate, "spread": 0.01, "rss_peak_gib": 1.0, "cuda_peak_gib": memory,
            "foreign_cpu_cores": 0.0}


def test_a_cuda_report_of_three_systems_shows_the_ratios_against_each(bench):
    # The shape of what a GPU run returns (this machine has none): pcdsl twice as fast as
    # PyJuice in EM and half its memory; libcirkit cannot build the HCLT and has no EM.
    config = bench.CONFIGS_BY_NAME["pyjuice-hclt"]
    entry = {
        "config": bench.asdict(config), "batch": 256,
        "pcdsl": {"supported": True, "num_parameters": 15_552_576, "flops_per_image": 5_000_000,
                  "compile": {"subprocess_s": 1.0, "in_process_s": 0.3},
                  "train": _measured(9000.0, 1.0), "train_em": _measured(8000.0, 0.5),
                  "eval": {**_measured(30000.0, 0.25), "mean_ll": -4000.0}},
        "cirkit": {"available": False, "reason": "libcirkit's image_data cannot build this structure"},
        "pyjuice": {"available": True, "num_parameters": 15_552_576, "num_edges": 2_800_000,
                    "compile": {"subprocess_s": 20.0, "in_process_s": 5.0, "build_s": 0.8},
                    "train": {"not_applicable": bench.NOT_APPLICABLE[("pyjuice", "train")]},
                    "train_em": _measured(4000.0, 1.0), "eval": _measured(30000.0, 0.5)},
    }
    bench.derive(entry, sgemm_gflops=50_000.0)
    report = {"meta": {"pcdsl": "0", "libcirkit": "0.3.1", "pyjuice": "2.6.3", "torch": "2",
                       "python": "3", "cpu": "x", "cpu_count": 2},
              "settings": {**bench.asdict(bench.Settings(
                  batch=None, threads=8, device="cuda", warmup=2, steps=10, budget_s=20.0,
                  compile_repeats=1, sgemm_size=4096, timeout_s=900.0, quiet_wait_s=0.0,
                  retries=0, quick=False, systems=("pcdsl", "libcirkit", "pyjuice")))},
              "sgemm": {"size": 4096, "gflops": 50_000.0}, "results": [entry], "left_out": [],
              "wall_s": 1.0}
    text = bench.render(report)
    em = next(line for line in text.splitlines() if line.strip().startswith("train (EM) images/s"))
    assert em.split()[-1] == "2.00x"  # pcdsl / pyjuice
    memory = next(line for line in text.splitlines()
                  if line.strip().startswith("train (EM) peak CUDA memory"))
    assert memory.split()[-1] == "0.50x"
    assert "libcirkit's image_data cannot build this structure" in text
    assert "pyjuice train: n/a, PyJuice trains by EM" in text
    # 3 x 5 MFLOP x 8,000 images/s = 120 GFLOP/s, 0.24% of the sgemm
    assert "120.00 (0.2%)" in text
    summary = text.splitlines()[text.splitlines().index(
        "summary, pcdsl / pyjuice (throughput above 1x and RSS, compile time below 1x favour pcdsl)") + 3]
    assert summary.split() == ["pyjuice-hclt", "256", "-", "2.00x", "1.00x", "-", "0.50x", "0.05x"]


def test_torch_compile_takes_an_optional_mode(bench, capsys):
    def mode(*flags: str) -> str | None:
        return bench.settings_from(bench.parse_arguments(["--configs", "seed", *flags])).torch_compile

    assert mode() is None
    assert mode("--torch-compile") == "default"
    assert mode("--torch-compile", "reduce-overhead") == "reduce-overhead"
    with pytest.raises(SystemExit):
        mode("--torch-compile", "reduce")
    assert "invalid choice" in capsys.readouterr().err
