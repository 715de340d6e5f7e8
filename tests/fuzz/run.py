"""The long fuzz run behind ``scripts/fuzz.sh [N]``: N cases (default 10,000) from the
strategies of ``tests.fuzz.harness``, each checked like the tests do; failures are
counted rather than stopping the run, saved as ``failure-<i>.pc`` with the reason in
``failure-<i>.txt`` (in a temporary folder unless ``--failures DIR``), and the last
line says how many cases ran and how many failed.

    python -m tests.fuzz.run [N] [--seed S] [--failures DIR]

Exit status 0 when no case failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.fuzz.harness import (
    cli_failure_of,
    failure_of,
    mutated_specs,
    schema_specs,
    token_streams,
)

# Shares of the run: most cases go straight through the driver; a tenth go through
# `pcc compile`, which compiles twice as much per case.
PLAN: tuple[tuple[str, float, Callable[[], st.SearchStrategy[str]], bool], ...] = (
    ("mutated specs", 0.4, mutated_specs, False),
    ("token streams", 0.2, token_streams, False),
    ("schema specs", 0.3, schema_specs, False),
    ("pcc compile", 0.1, lambda: st.one_of(mutated_specs(), schema_specs()), True),
)


def run_stage(name: str, cases: int, strategy: st.SearchStrategy[str], through_cli: bool,
              random_seed: int, record: Callable[[str, str, str], None]) -> int:
    """Run ``cases`` cases; returns how many ran. Failures go to ``record`` and never
    stop the stage, so they can be counted."""
    ran = 0
    scratch = tempfile.TemporaryDirectory(prefix="pcc-fuzz-")
    folder = Path(scratch.name)

    @seed(random_seed)
    @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(source=strategy)
    def case(source: str) -> None:
        nonlocal ran
        ran += 1
        failure = cli_failure_of(source, folder) if through_cli else failure_of(source)
        if failure is not None:
            record(name, source, failure)

    try:
        case()
    finally:
        scratch.cleanup()
    return ran


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/fuzz.sh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="?", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated cases")
    parser.add_argument("--failures", type=Path, default=None,
                        help="folder for failing specs (default: a new temporary folder, "
                             "made at the first failure)")
    args = parser.parse_args(argv)

    failures: list[tuple[str, str, str]] = []

    def record(stage: str, source: str, reason: str) -> None:
        failures.append((stage, source, reason))
        if args.failures is None:
            args.failures = Path(tempfile.mkdtemp(prefix="pcc-fuzz-failures-"))
        args.failures.mkdir(parents=True, exist_ok=True)
        index = len(failures)
        (args.failures / f"failure-{index}.pc").write_bytes(source.encode("utf-8", "surrogatepass"))
        (args.failures / f"failure-{index}.txt").write_text(f"{stage}\n{reason}\n", encoding="utf-8")
        print(f"FAILURE {index} ({stage}): {reason.splitlines()[0] if reason else ''}", flush=True)

    start = time.monotonic()
    total = 0
    for name, share, strategy, through_cli in PLAN:
        cases = max(1, round(args.cases * share))
        stage_start = time.monotonic()
        ran = run_stage(name, cases, strategy(), through_cli, args.seed, record)
        total += ran
        print(f"{name}: {ran} cases in {time.monotonic() - stage_start:.0f} s", flush=True)
    elapsed = time.monotonic() - start
    if failures:
        print(f"failing specs are in {args.failures}/")
    print(f"fuzz: {total} cases, {len(failures)} failures, {elapsed:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
