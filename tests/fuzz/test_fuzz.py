"""Robustness: mutated, random and schema-built specs through the whole pipeline and
through `pcc compile`. Every outcome is a module or diagnostics with spans; never another
exception, a hang or a partial output file. A few hundred cases here; `scripts/fuzz.sh`
runs ten thousand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcdsl.diagnostics import CompileError
from pcdsl.driver import compile_source
from tests.fuzz.harness import (
    cli_failure_of,
    failure_of,
    mutated_specs,
    schema_specs,
    seed_specs,
    token_streams,
)

# Cases per test; PCDSL_FUZZ_EXAMPLES raises it for a longer local run.
EXAMPLES = int(os.environ.get("PCDSL_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("PCDSL_DEBUG", raising=False)


@pytest.mark.parametrize("index", range(len(seed_specs())))
def test_seed_specs_compile_or_fail_cleanly(index):
    """The unmutated seeds, shrunk: the baseline every mutation starts from."""
    assert failure_of(seed_specs()[index]) is None


def test_most_seed_specs_are_valid():
    """Mutations should start from specs that compile, or they test only the parser."""
    valid = 0
    for source in seed_specs():
        try:
            compile_source(source, "seed.pc")
            valid += 1
        except CompileError:
            pass
    assert valid >= len(seed_specs()) * 2 // 3


@FUZZ
@given(source=mutated_specs())
def test_mutated_specs(source):
    failure = failure_of(source)
    assert failure is None, f"{failure}\n--- spec ---\n{source}"


@FUZZ
@given(source=token_streams())
def test_token_streams(source):
    failure = failure_of(source)
    assert failure is None, f"{failure}\n--- spec ---\n{source}"


@FUZZ
@given(source=schema_specs())
def test_schema_specs(source):
    failure = failure_of(source)
    assert failure is None, f"{failure}\n--- spec ---\n{source}"


@settings(FUZZ, max_examples=max(10, EXAMPLES // 3))
@given(source=st.one_of(mutated_specs(), schema_specs()))
def test_cli_compile_path(source, tmp_path_factory):
    folder = Path(tmp_path_factory.mktemp("cli"))
    failure = cli_failure_of(source, folder)
    assert failure is None, f"{failure}\n--- spec ---\n{source}"
