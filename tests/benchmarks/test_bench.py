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
