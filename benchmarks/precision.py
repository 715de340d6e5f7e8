"""How far --precision tf32 and bf16 move log-likelihoods from fp32, image by image.

    .venv/bin/python benchmarks/precision.py examples/mnist.pc --limit 1000
    .venv/bin/python benchmarks/precision.py runs/seed/checkpoint.pt --limit 1000

A spec is measured at its initial weights (its seed), a checkpoint at its trained ones, on
the first ``--limit`` test images of ``--dataset`` (found as ``pcc train`` finds it). Prints,
for each precision, the mean and the largest per-image difference from fp32 in nats and in
bits per dimension, and the test bpd of each.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pcdsl.runtime.data import data_root, load_split  # noqa: E402
from pcdsl.runtime.precision import autocast_forward, matmul_precision  # noqa: E402


def _circuit(path: str):
    if path.endswith(".pt"):
        from pcdsl.rebuild import load_checkpoint

        return load_checkpoint(path)[0]
    from pcdsl.driver import compile_file, emit_python
    from pcdsl.runtime.train import build_circuit

    compiled = compile_file(path)
    return build_circuit(emit_python(compiled, compiled.model(None)))


@torch.no_grad()
def log_likelihoods(circuit, images: torch.Tensor, precision: str, batch: int,
                    device: torch.device) -> torch.Tensor:
    with matmul_precision(precision), autocast_forward(precision, device):
        return torch.cat([circuit(images[i:i + batch].to(device).long()).double().cpu()
                          for i in range(0, len(images), batch)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a .pc spec (initial weights) or a checkpoint.pt")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--data-root")
    parser.add_argument("--limit", type=int, default=1000, help="test images (default 1000)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    circuit = _circuit(args.source).to(device)
    circuit.eval()
    images = load_split(args.dataset, data_root(args.data_root)[0], train=False).first(args.limit).images
    per_bpd = int(circuit.num_variables) * math.log(2)
    exact = log_likelihoods(circuit, images, "fp32", args.batch_size, device)
    print(f"{args.source}: {len(images)} test images of {args.dataset} on {device}; fp32 test bpd "
          f"{-exact.mean().item() / per_bpd:.5f}")
    for precision in ("tf32", "bf16"):
        reduced = log_likelihoods(circuit, images, precision, args.batch_size, device)
        difference = reduced - exact
        print(f"  {precision}: test bpd {-reduced.mean().item() / per_bpd:.5f}; ll - fp32 per image: "
              f"mean {difference.mean().item():+.4f} nats ({-difference.mean().item() / per_bpd:+.6f} bpd), "
              f"largest |.| {difference.abs().max().item():.4f} nats "
              f"({difference.abs().max().item() / per_bpd:.6f} bpd)")


if __name__ == "__main__":
    main()
