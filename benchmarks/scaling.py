"""How compiling and loading grow with the image: the scaling table of docs/performance.md.

For each image size and region graph (quad-graph, quad-tree-4, Poon-Domingos), with
categorical inputs and CP layers of ``--units`` units, it measures

* compile wall: the command ``pcc SPEC -o FILE``, interpreter start-up included, and its
  CPU time (user + system), which other processes on the machine disturb less;
* compiler peak RSS: that process's maximum resident set (``wait4``);
* generated lines: of the module ``pcc`` wrote;
* import: a fresh process importing the module (after ``import torch``, timed apart);
* init: constructing the module's ``Circuit()``, that is allocating and initialising its
  parameters, in the same process, unless there are more than ``--init-limit``;
* parameters: the module's ``NUM_PARAMETERS`` (checked against the constructed module),
  and its layers and folds (``NUM_LAYERS``, ``NUM_FOLDS``).

Every measurement runs in a fresh process. Progress goes to standard error, the table (or
``--json``) to standard output.

    .venv/bin/python benchmarks/scaling.py --quick            # 28x28 to 3x64x64, about a minute
    .venv/bin/python benchmarks/scaling.py                    # 28x28 to 3x256x256
    .venv/bin/python benchmarks/scaling.py --sizes 128 --graphs quad_graph
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRAPHS = {  # name in the table -> the spec's regions setting
    "quad-graph": "quad_graph",
    "quad-tree-4": "quad_tree(splits = 4)",
    "poon-domingos": "poon_domingos",
}
SIZES = ("28", "32", "64", "128", "256")  # 28: 1x28x28 (MNIST); n: 3 x n x n
QUICK_SIZES = ("28", "32", "64")


def image_shape(size: str) -> tuple[int, int, int]:
    side = int(size)
    return (1, side, side) if side == 28 else (3, side, side)


def spec_text(name: str, regions: str, shape: tuple[int, int, int], units: int) -> str:
    channels, height, width = shape
    return (f"model {name} {{\n"
            f"  data    = image(channels = {channels}, height = {height}, width = {width}, values = 256)\n"
            f"  regions = {regions}\n"
            f"  inputs  = categorical(units = {units})\n"
            f"  layers  = cp(units = {units})\n"
            "}\n")


def pcc_command() -> list[str]:
    """``pcc`` next to this interpreter, else on PATH, else ``python -m pcdsl``."""
    beside = Path(sys.executable).parent / "pcc"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("pcc")
    return [found] if found else [sys.executable, "-m", "pcdsl"]


def compile_once(command: list[str], timeout: float) -> tuple[float, float, int, int, str]:
    """Run ``command``: (wall seconds, CPU seconds, peak RSS bytes, exit status, stderr)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                os.wait4(process.pid, 0)
                raise subprocess.TimeoutExpired(command, timeout)
            time.sleep(0.01)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
        errors.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return wall, cpu, usage.ru_maxrss * 1024, process.returncode, errors.read()


def worker(module_path: str, init_limit: int) -> dict:
    """Import the generated module in this fresh process and construct it."""
    import importlib.util

    start = time.perf_counter()
    import torch  # noqa: F401  (timed apart from the module's own import)

    torch_s = time.perf_counter() - start
    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location("generated_circuit", module_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import_s = time.perf_counter() - start
    result = {"torch_import_s": torch_s, "import_s": import_s, "init_s": None,
              "parameters": module.NUM_PARAMETERS, "layers": module.NUM_LAYERS, "folds": module.NUM_FOLDS}
    if module.NUM_PARAMETERS <= init_limit:
        start = time.perf_counter()
        circuit = module.Circuit()
        result["init_s"] = time.perf_counter() - start
        assert sum(p.numel() for p in circuit.parameters()) == module.NUM_PARAMETERS
    return result


def measure(graph: str, size: str, units: int, folder: Path, args: argparse.Namespace) -> dict:
    shape = image_shape(size)
    name = f"{graph.replace('-', '_')}_{size}"
    spec = folder / f"{name}.pc"
    module = folder / f"{name}.py"
    spec.write_text(spec_text(name, GRAPHS[graph], shape, units))
    row: dict = {"graph": graph, "image": "x".join(map(str, shape))}
    wall, cpu, rss, status, errors = compile_once([*pcc_command(), str(spec), "-o", str(module)],
                                             args.timeout)
    if status != 0:
        row["error"] = errors.strip().splitlines()[-1] if errors.strip() else f"pcc exit {status}"
        return row
    row.update(compile_s=wall, compile_cpu_s=cpu, compile_rss=rss, lines=module.read_text().count("\n"))
    payload = [sys.executable, __file__, "--worker", str(module), str(args.init_limit)]
    loaded = subprocess.run(payload, capture_output=True, text=True, timeout=args.timeout)
    if loaded.returncode != 0:
        row["error"] = (loaded.stderr.strip().splitlines() or ["import failed"])[-1]
        return row
    row.update(json.loads(loaded.stdout.strip().splitlines()[-1]))
    return row


def table(rows: list[dict]) -> str:
    lines = ["| region graph | image | layers (folds) | `pcc` wall | pcc CPU | pcc peak RSS "
             "| generated lines | import | init | parameters |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        if "parameters" not in row:
            lines.append(f"| {row['graph']} | {row['image']} | {row.get('error', '?')} | | | | | | | |")
            continue
        init = f"{row['init_s']:.2f} s" if row.get("init_s") is not None else "not run"
        imported = f"{row['import_s']:.2f} s" if "import_s" in row else row.get("error", "?")
        lines.append(
            f"| {row['graph']} | {row['image']} | {row['layers']:,} ({row['folds']}) | "
            f"{row['compile_s']:.2f} s | {row['compile_cpu_s']:.2f} s | "
            f"{row['compile_rss'] / 2**20:,.0f} MB | {row['lines']:,} | {imported} | {init} | "
            f"{row['parameters'] / 1e6:,.1f}M |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help=f"comma-separated image sides (default {','.join(SIZES)}; "
                        "28 is 1x28x28, n is 3xnxn)")
    parser.add_argument("--graphs", help=f"comma-separated region graphs ({','.join(GRAPHS)})")
    parser.add_argument("--units", type=int, default=32, help="units of inputs and layers (32)")
    parser.add_argument("--init-limit", type=int, default=600_000_000,
                        help="construct modules of at most this many parameters (600M)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per process (900)")
    parser.add_argument("--quick", action="store_true", help=f"sizes {','.join(QUICK_SIZES)} only")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        path, limit = args.worker
        print(json.dumps(worker(path, int(limit))))
        return 0
    sizes = args.sizes.split(",") if args.sizes else QUICK_SIZES if args.quick else SIZES
    graphs = args.graphs.split(",") if args.graphs else list(GRAPHS)
    for name in graphs:
        if name not in GRAPHS:
            parser.error(f"--graphs: unknown region graph '{name}' (choose from {', '.join(GRAPHS)})")
    for size in sizes:
        if not size.isdigit() or int(size) < 1:
            parser.error(f"--sizes: '{size}' is not a positive image side")
    rows = []
    with tempfile.TemporaryDirectory(prefix="pcdsl-scaling-") as folder:
        for size in sizes:
            for graph in graphs:
                print(f"{graph} {'x'.join(map(str, image_shape(size)))} ...", file=sys.stderr, flush=True)
                try:
                    rows.append(measure(graph, size, args.units, Path(folder), args))
                except subprocess.TimeoutExpired:
                    rows.append({"graph": graph, "image": "x".join(map(str, image_shape(size))),
                                 "error": f"timed out after {args.timeout:.0f} s"})
                print(f"  {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=1) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
