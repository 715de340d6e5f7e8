"""Train a spec with pcdsl (Adam and mini-batch EM) and the same circuit with libcirkit 0.3.1
(Adam, its log-value clamp lifted) on the same data, batches and epochs, and print test bits
per dimension by epoch and by wall-clock time.

    python benchmarks/train_rival.py --dataset fashion-mnist --data-root ../shared/data \
        --epochs 10 --device cuda [--spec mnist|fashion_hclt] \
        [--runs pcdsl-adam,pcdsl-em,cirkit-adam] [--json]

Specs: ``mnist`` (examples/mnist.pc, the seed configuration: cirkit's quad-graph image
template) and ``fashion_hclt`` (examples/fashion_hclt.pc, a hidden Chow-Liu tree: cirkit's
``tree2rg`` over the same tree file, the parents the spec reads). The two libraries'
parameter counts are compared before training; a mismatch stops the run.

libcirkit 0.3.1 clamps log-values at -708.3964 (``LOG_CLAMP_MIN``, its issue #416): on
28x28 images every log-likelihood sits at the clamp and its gradient is zero, so as shipped
it cannot train this model. ``cirkit-adam`` sets the clamp to -inf before compiling, which
makes it a fair rival; ``cirkit-shipped`` trains it as shipped, for the record. Both
libraries see the same batches in the same order (``pcdsl.runtime.train``'s epoch order).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pcdsl.runtime.data import load_split  # noqa: E402
from pcdsl.runtime.train import (  # noqa: E402
    Ranks,
    TrainConfig,
    batches,
    bits_per_dimension,
    epoch_order,
    train,
)

RUNS = ("pcdsl-adam", "pcdsl-em", "cirkit-adam", "cirkit-shipped")
SHIPPED_CLAMP = -708.3964185322641  # libcirkit 0.3.1's LOG_CLAMP_MIN


SPECS = {"mnist": "examples/mnist.pc", "fashion_hclt": "examples/fashion_hclt.pc"}


@functools.cache  # the counts, libcirkit's tree and each pcdsl run read the same spec
def _compiled(spec: str):
    from pcdsl.driver import compile_file

    compiled = compile_file(str(ROOT / SPECS[spec]))
    return compiled, compiled.model(None)


def _pcdsl(run: str, config: TrainConfig, splits, spec: str) -> list[dict]:
    from pcdsl.driver import emit_python

    compiled, model = _compiled(spec)
    source = emit_python(compiled, model)
    optimizer = "em" if run.endswith("em") else "adam"
    result = train(source, replace(config, optimizer=optimizer), *splits,
                   log=lambda line: print(f"[{run}] {line}", flush=True))
    return [{"epoch": m.epoch, "test_bpd": m.test_bpd, "seconds": m.seconds,
             "images_per_second": m.images_per_second} for m in result.history]


def _cirkit_symbolic(spec: str):
    """libcirkit's symbolic circuit for ``spec``: categorical inputs and CP layers of 64
    units, softmax weights drawn from a standard normal, as the specs declare."""
    from cirkit.templates import data_modalities
    from cirkit.templates import utils as template_utils

    weights = template_utils.Parameterization(activation="softmax", initialization="normal")
    if spec == "mnist":
        return data_modalities.image_data(
            (1, 28, 28), region_graph="quad-graph", input_layer="categorical",
            num_input_units=64, sum_product_layer="cp", num_sum_units=64,
            sum_weight_param=weights)
    # The rest of what image_data does for a learned tree, over the spec's own tree.
    import numpy as np
    from cirkit.symbolic.parameters import mixing_weight_factory
    from cirkit.templates.region_graph.algorithms.utils import tree2rg

    from pcdsl.ir.region_graphs.chow_liu import tree_from_json

    _, model = _compiled(spec)
    tree_file = (ROOT / SPECS[spec]).parent / str(model.spec.regions["file"])
    parents = np.asarray(tree_from_json(tree_file.read_text(encoding="utf-8")).parents)
    factory = template_utils.parameterization_to_factory(weights)
    return tree2rg(parents).build_circuit(
        input_factory=template_utils.name_to_input_layer_factory("categorical",
                                                                 num_categories=256),
        sum_product="cp", sum_weight_factory=factory,
        nary_sum_weight_factory=functools.partial(mixing_weight_factory, param_factory=factory),
        num_input_units=64, num_sum_units=64, num_classes=1, factorize_multivariate=True)


def _parameter_counts(spec: str) -> tuple[int, int]:
    """pcdsl's and libcirkit's parameter counts of ``spec``."""
    from cirkit.pipeline import compile as cirkit_compile

    _, model = _compiled(spec)
    circuit = cirkit_compile(_cirkit_symbolic(spec))
    return model.circuit.num_parameters, sum(p.numel() for p in circuit.parameters())


def _cirkit(run: str, config: TrainConfig, splits, spec: str) -> list[dict]:
    import cirkit.backend.torch.semiring as semiring
    import cirkit.backend.torch.utils as utils
    from cirkit.pipeline import compile as cirkit_compile

    # cirkit-adam lifts the clamp (cirkit issue #416); both modules look it up at call time
    clamp = -math.inf if run == "cirkit-adam" else SHIPPED_CLAMP
    semiring.LOG_CLAMP_MIN = clamp
    utils.LOG_CLAMP_MIN = clamp
    torch.manual_seed(config.seed)
    symbolic = _cirkit_symbolic(spec)
    device = torch.device(config.device)
    circuit = cirkit_compile(symbolic).to(device)
    optimizer = torch.optim.Adam(circuit.parameters(), lr=config.lr)
    train_split, test_split = splits
    history = []
    for epoch in range(1, config.epochs + 1):
        circuit.train()
        indices = epoch_order(len(train_split), config.seed, epoch, Ranks())
        began, seen = time.perf_counter(), 0
        for batch in batches(indices, config.batch_size):
            x = train_split.images[batch].to(device).long().view(len(batch), -1)
            loss = -circuit(x).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - began
        circuit.eval()
        total = 0.0
        with torch.no_grad():
            for batch in batches(list(range(len(test_split))), config.eval_batch_size):
                x = test_split.images[batch].to(device).long().view(len(batch), -1)
                total += float(circuit(x).double().sum())
        bpd = bits_per_dimension(total / len(test_split), 784)
        print(f"[{run}] epoch {epoch}: test bpd {bpd:.4f}; {seen / seconds:.0f} images/s",
              flush=True)
        history.append({"epoch": epoch, "test_bpd": bpd, "seconds": seconds,
                        "images_per_second": seen / seconds})
    return history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--spec", choices=tuple(SPECS), default="mnist")
    parser.add_argument("--seed", type=int, default=0,
                        help="initial weights and data order (default 0, the specs' own)")
    parser.add_argument("--runs", default="pcdsl-adam,pcdsl-em,cirkit-adam")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--train-limit", type=int, default=None, help="first N images only")
    parser.add_argument("--test-limit", type=int, default=None, help="first N images only")
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    runs = [r.strip() for r in arguments.runs.split(",") if r.strip()]
    unknown = set(runs) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs {sorted(unknown)}; choose from {', '.join(RUNS)}")
    splits = tuple(load_split(arguments.dataset, arguments.data_root, train=train).first(limit)
                   for train, limit in ((True, arguments.train_limit),
                                        (False, arguments.test_limit)))
    config = TrainConfig(dataset=arguments.dataset, epochs=arguments.epochs,
                         batch_size=arguments.batch_size, lr=arguments.lr,
                         device=arguments.device, progress=False, samples=0,
                         seed=arguments.seed)
    if any(run.startswith("cirkit") for run in runs):
        ours, theirs = _parameter_counts(arguments.spec)
        print(f"parameters: pcdsl {ours:,}, libcirkit {theirs:,}", flush=True)
        if ours != theirs:
            sys.exit(f"{SPECS[arguments.spec]}: the libraries' circuits differ in size "
                     f"({ours:,} against {theirs:,} parameters); not comparable")
    results = {run: (_pcdsl if run.startswith("pcdsl") else _cirkit)(run, config, splits,
                                                                     arguments.spec)
               for run in runs}
    if arguments.json:
        print(json.dumps({"settings": vars(arguments), "results": results}, indent=2))
        return
    print(f"\n{SPECS[arguments.spec]}: test bits per dimension on {arguments.dataset}, "
          f"batch {arguments.batch_size}, "
          f"Adam lr {arguments.lr}, device {arguments.device}; cumulative training seconds")
    print("epoch  " + "  ".join(f"{run:>22}" for run in runs))
    for epoch in range(arguments.epochs):
        cells = []
        for run in runs:
            rows = results[run][:epoch + 1]
            cells.append(f"{rows[-1]['test_bpd']:>10.4f} ({sum(r['seconds'] for r in rows):7.1f} s)")
        print(f"{epoch + 1:>5}  " + "  ".join(f"{cell:>22}" for cell in cells))


if __name__ == "__main__":
    main()
