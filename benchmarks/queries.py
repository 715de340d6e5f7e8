#!/usr/bin/env python
"""Time the queries of a generated module: likelihood, marginal, sampling, inpainting.

On the seed model (``examples/mnist.pc``, 25.7M parameters, its seeded random weights),
with ``torch.set_num_threads(N)`` (default 2), float32 on the CPU and gradients off, this
measures the median wall time of:

- ``forward(x)`` on a batch of B random images (default B = 256);
- ``log_marginal(x, observed)`` on the same batch, each row with its own random half of
  the pixels observed; the ratio marginal / forward has a target of at most 1.3x (the
  marginal is the same upward pass with unobserved inputs set to 1);
- ``sample(64)``: exact ancestral sampling of 64 images, target under 1 s;
- ``sample_conditional(x, observed)`` for 64 images with the left half observed (the
  ``right`` mask of ``pcdsl.runtime.pictures``: the right half is drawn);
- ``map_complete(x, observed)`` for the same, when the module has it.

Each query runs ``--warmup`` times untimed (default 2; this also fills the cache of
normalised parameters that every query shares), then ``--repeats`` times timed (default
7). Usage::

    .venv/bin/python benchmarks/queries.py
    .venv/bin/python benchmarks/queries.py --threads 4 --batch 128 --repeats 11
    .venv/bin/python benchmarks/queries.py --json > queries.json

The figures of a run are in ``docs/queries.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
if str(REPO) not in sys.path:  # run from a checkout without an install
    sys.path.insert(0, str(REPO))

from pcdsl.driver import compile_file, emit_python  # noqa: E402
from pcdsl.runtime.loading import load_generated  # noqa: E402
from pcdsl.runtime.pictures import standard_mask  # noqa: E402

MARGINAL_TARGET = 1.3  # log_marginal / forward
SAMPLE_TARGET_S = 1.0  # sample(64)


def _times(call: Callable[[], object], warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def measure(spec: Path, threads: int, batch: int, samples: int, warmup: int,
            repeats: int, seed: int) -> dict:
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        compiled = compile_file(str(spec))
        path = Path(folder) / "queries_model.py"
        path.write_text(emit_python(compiled, compiled.model(None)))
        module = load_generated(path)
    circuit = module.Circuit().eval()
    shape = module.IMAGE_SHAPE or (module.NUM_VARIABLES,)
    dims = module.NUM_VARIABLES
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(module.NUM_VALUES, (batch, dims), generator=generator)
    # Each row observes a random half of the variables.
    order = torch.rand(batch, dims, generator=generator).argsort(dim=1)
    half = torch.zeros(batch, dims, dtype=torch.bool)
    half.scatter_(1, order[:, : dims // 2], True)
    images = x[:samples].view(samples, *shape)
    left = standard_mask("right", shape) if module.IMAGE_SHAPE else half[0]

    queries: list[tuple[str, str, Callable[[], object]]] = [
        ("forward", f"B={batch}", lambda: circuit(x)),
        ("log_marginal", f"B={batch}, random half observed", lambda: circuit.log_marginal(x, half)),
        ("sample", f"n={samples}", lambda: circuit.sample(samples, generator=generator)),
        ("sample_conditional", f"{samples} images, left half observed",
         lambda: circuit.sample_conditional(images, left, generator=generator)),
    ]
    if hasattr(circuit, "map_complete"):
        queries.append(("map_complete", f"{samples} images, left half observed",
                        lambda: circuit.map_complete(images, left)))
    results = {}
    with torch.no_grad():
        for name, what, call in queries:
            times = _times(call, warmup, repeats)
            results[name] = {"what": what, "median_s": statistics.median(times), "times_s": times}
    ratio = results["log_marginal"]["median_s"] / results["forward"]["median_s"]
    return {
        "spec": str(spec.relative_to(REPO) if spec.is_relative_to(REPO) else spec),
        "model": module.MODEL_NAME,
        "num_parameters": circuit.num_parameters,
        "settings": {"threads": threads, "batch": batch, "samples": samples, "warmup": warmup,
                     "repeats": repeats, "seed": seed, "dtype": "float32", "device": "cpu"},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "machine": platform.machine(), "processor": platform.processor()},
        "queries": results,
        "marginal_over_forward": ratio,
        "targets": {
            "marginal_over_forward": {"target": MARGINAL_TARGET, "met": ratio <= MARGINAL_TARGET},
            "sample_s": {"target": SAMPLE_TARGET_S,
                         "met": results["sample"]["median_s"] < SAMPLE_TARGET_S},
        },
    }


def table(report: dict) -> str:
    settings = report["settings"]
    lines = [
        f"queries of {report['model']} ({report['spec']}, {report['num_parameters']:,} "
        f"parameters), float32 CPU, {settings['threads']} threads, median of "
        f"{settings['repeats']} after {settings['warmup']} warm-up",
        "",
        f"| {'query':<18} | {'workload':<33} | {'median':>9} | {'per image':>10} | target |",
        f"| {'-' * 18} | {'-' * 33} | {'-' * 8}: | {'-' * 9}: | ------ |",
    ]
    queries = report["queries"]
    ratio = report["marginal_over_forward"]
    for name, result in queries.items():
        count = settings["batch"] if name in ("forward", "log_marginal") else settings["samples"]
        target = "-"
        if name == "log_marginal":
            met = report["targets"]["marginal_over_forward"]["met"]
            target = f"{ratio:.2f}x forward (<= {MARGINAL_TARGET}x: {'met' if met else 'MISSED'})"
        elif name == "sample":
            met = report["targets"]["sample_s"]["met"]
            target = f"< {SAMPLE_TARGET_S:.0f} s: {'met' if met else 'MISSED'}"
        lines.append(f"| {name:<18} | {result['what']:<33} | {result['median_s'] * 1e3:>6.1f} ms "
                     f"| {result['median_s'] / count * 1e3:>7.2f} ms | {target} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=REPO / "examples" / "mnist.pc",
                        help="the .pc spec (default examples/mnist.pc, the seed model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256, help="rows for forward and marginal")
    parser.add_argument("--samples", type=int, default=64, help="images for the sampling queries")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, masks and draws")
    parser.add_argument("--json", action="store_true", help="print the full results as JSON")
    args = parser.parse_args(argv)
    report = measure(args.spec.resolve(), args.threads, args.batch, args.samples, args.warmup,
                     args.repeats, args.seed)
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
