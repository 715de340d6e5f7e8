"""Training and evaluation of generated circuits on image data sets.

    from pcdsl.runtime.train import TrainConfig, train
    result = train(Path("build/mnist.py").read_text(), TrainConfig(dataset="fashion-mnist",
                   epochs=10, out="runs/mnist"))
    print(result.test_bpd)

``train`` takes the generated module's source text (what ``pcc`` writes, and what a
checkpoint embeds), builds its ``Circuit``, and runs the seed recipe: batches of 8-bit
pixels as int64, the mean negative log-likelihood as the loss, Adam (or mini-batch EM,
``em.py``), and after each epoch the test split's average log-likelihood and bits per
dimension, ``bpd = -avg_ll / (D ln 2)``.

Into ``out`` it writes (all atomically, temporary file then rename):

- ``model.py``: the generated module;
- ``metrics.jsonl``: one JSON object per epoch (train NLL, test LL and bpd, time, images/s);
- ``checkpoint.pt``: after every epoch, weights, optimizer state, epoch, RNG states and the
  spec hash (``checkpoint.py``); ``resume=True`` continues from it, bit for bit on CPU;
- ``curves.png``: train and test bits per dimension by epoch;
- ``samples.png``: a grid of exact samples, at the end.

Data order is a function of ``(seed, epoch)`` alone (``DistributedSampler`` with that
seed), so a resumed run sees exactly the batches the uninterrupted run would have seen.

Under ``torchrun`` (``WORLD_SIZE`` > 1) training is data-parallel: one process per rank,
``DistributedDataParallel`` over gloo (CPU) or nccl (CUDA), each rank a shard of every
global batch of ``batch_size`` rows, metrics summed over ranks, files written by rank 0.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from pcdsl.files import atomic_write, write_text_atomically
from pcdsl.runtime.checkpoint import (
    CheckpointError,
    load_weights_into,
    module_from_source,
    save_checkpoint,
)
from pcdsl.runtime.data import Split
from pcdsl.runtime.em import EMNotSupported, MiniBatchEM
from pcdsl.runtime.options import COMPILE_MODES, OPTIMIZERS

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.jsonl"


class TrainingError(Exception):
    """Training cannot start or go on; the message says why and what to do."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (saved in every checkpoint)."""

    dataset: str = "fashion-mnist"
    epochs: int = 10
    batch_size: int = 256
    optimizer: str = "adam"
    lr: float = 0.01
    em_step_size: float = 0.05
    em_pseudo_count: float = 0.1
    em_step_decay: float = 1.0
    seed: int = 0
    device: str = "cpu"
    out: str | None = None
    eval_batch_size: int = 1024
    train_limit: int | None = None  # use only the first N training images (quick runs)
    test_limit: int | None = None
    samples: int = 64  # images in samples.png (0: none)
    progress: bool = True
    compile: str = "off"  # one of COMPILE_MODES

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, found '{self.optimizer}'")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be one of {COMPILE_MODES}, found '{self.compile}'")
        if self.compile in ("train", "all") and self.optimizer != "adam":
            raise ValueError("compiling the training steps needs the adam optimizer: EM's "
                             "step runs the module's upward pass itself")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, found {getattr(self, name)}")


@dataclass
class EpochMetrics:
    epoch: int
    train_nll: float  # nats per image, mean over the epoch's batches (before each update)
    train_bpd: float
    test_ll: float  # nats per image
    test_bpd: float
    seconds: float  # training time of the epoch (not evaluation)
    images_per_second: float
    eval_seconds: float
    test_accuracy: float | None = None  # circuits with several classes


@dataclass
class TrainResult:
    circuit: nn.Module
    history: list[EpochMetrics] = field(default_factory=list)

    @property
    def test_bpd(self) -> float:
        return self.history[-1].test_bpd if self.history else math.nan


def bits_per_dimension(avg_ll: float, num_variables: int) -> float:
    """``-avg_ll / (D ln 2)``: negative average log-likelihood in bits per variable."""
    return -avg_ll / (num_variables * math.log(2))


# Processes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranks:
    """This process's rank among ``world`` data-parallel processes."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def setup_distributed(device: str) -> Ranks:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE`` > 1), once."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    if not _distributed():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return Ranks(torch.distributed.get_rank(), torch.distributed.get_world_size())


def _sum_over_ranks(*values: float, device: torch.device) -> list[float]:
    if not _distributed():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor)
    return tensor.tolist()


# Data -------------------------------------------------------------------------------------


def check_split(circuit: nn.Module, split: Split) -> None:
    """Refuse data whose shape or pixel values the circuit cannot take."""
    shape = tuple(split.images.shape[1:])
    image_shape = getattr(circuit, "image_shape", None)
    num_variables = int(circuit.num_variables)
    if image_shape is not None and tuple(image_shape) != shape:
        raise TrainingError(
            f"the model is over images of {'x'.join(map(str, image_shape))} but {split.dataset} "
            f"has images of {'x'.join(map(str, shape))}: compile a spec whose data is "
            f"image({', '.join(map(str, shape))}, values = 256).")
    if image_shape is None and math.prod(shape) != num_variables:
        raise TrainingError(f"the model has {num_variables} variables but {split.dataset} images "
                            f"have {math.prod(shape)} values each.")
    if _is_real(circuit):
        return  # real-valued inputs take any finite pixel value
    high = int(split.images.max()) if len(split) else 0
    if high >= int(circuit.num_values):
        raise TrainingError(
            f"{split.dataset} has pixel values up to {high}, outside the model's range "
            f"0..{int(circuit.num_values) - 1}: declare values = {high + 1} (or more) in the "
            "spec's data, or quantise the images first.")


def _is_real(circuit: nn.Module) -> bool:
    return getattr(circuit, "domain", "discrete") == "real"


def _values(circuit: nn.Module, images: Tensor) -> Tensor:
    """A batch of uint8 pixels as the circuit takes them: int64 levels, or floats for a
    real-valued circuit (gaussian inputs), in the parameters' dtype."""
    if _is_real(circuit):
        return images.to(next(circuit.parameters()).dtype)
    return images.long()


def batches(indices: list[int], batch_size: int) -> Iterator[list[int]]:
    """Consecutive batches of ``indices``, the last one possibly shorter."""
    for start in range(0, len(indices), batch_size):
        yield indices[start:start + batch_size]


def epoch_order(size: int, seed: int, epoch: int, ranks: Ranks) -> list[int]:
    """This rank's share of the epoch's shuffled order (``DistributedSampler``): every
    global batch of B rows is the union of the ranks' batches of B / world rows."""
    from torch.utils.data.distributed import DistributedSampler

    sampler = DistributedSampler(range(size), num_replicas=ranks.world, rank=ranks.rank,
                                 shuffle=True, seed=seed, drop_last=False)
    sampler.set_epoch(epoch)
    return list(sampler)


@torch.no_grad()
def evaluate(circuit: nn.Module, split: Split, batch_size: int = 1024,
             device: str | torch.device = "cpu", progress: bool = False,
             ranks: Ranks | None = None) -> tuple[float, float, float | None]:
    """(average test log-likelihood in nats, bits per dimension, accuracy or None) of a
    split; with several ranks each evaluates its shard and the sums are combined."""
    ranks = ranks or Ranks()
    circuit.eval()
    device = torch.device(device)
    indices = list(range(ranks.rank, len(split), ranks.world))
    total, correct, rows = 0.0, 0, 0
    classes = int(getattr(circuit, "num_classes", 1))
    for batch in _progress(list(batches(indices, batch_size)), progress and ranks.main, "test"):
        x = _values(circuit, split.images[batch].to(device))
        ll = circuit(x)
        if classes > 1:
            labels = split.labels[batch].to(device)
            correct += int((ll.argmax(1) == labels).sum())
            ll = ll.gather(1, labels.view(-1, 1)).squeeze(1)
        total += float(ll.double().sum())
        rows += len(batch)
    total, correct, rows = _sum_over_ranks(total, correct, rows, device=device)
    avg = total / max(rows, 1)
    accuracy = correct / rows if classes > 1 and rows else None
    return avg, bits_per_dimension(avg, int(circuit.num_variables)), accuracy


def _progress(items, enabled: bool, description: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=description, unit="batch", leave=False, dynamic_ncols=True,
                file=sys.stderr)


# Checkpoints and files ------------------------------------------------------------------


def _rng_state() -> dict:
    """Every random state a run may draw from, as plain values a checkpoint can hold."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(position),
                  int(has_gauss), float(cached)],
        "python": [version, list(internal), gauss],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _write_metrics(path: Path, history: list[EpochMetrics]) -> None:
    write_text_atomically(path, "".join(json.dumps(asdict(m)) + "\n" for m in history))


def _write_curves(path: Path, history: list[EpochMetrics], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6, 4), dpi=120)
    axes = figure.add_subplot()
    epochs = [m.epoch for m in history]
    axes.plot(epochs, [m.train_bpd for m in history], marker="o", label="train (during epoch)")
    axes.plot(epochs, [m.test_bpd for m in history], marker="s", label="test")
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("bits per dimension")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    atomic_write(path, lambda handle: figure.savefig(handle, format="png"))


def _write_samples(path: Path, circuit: nn.Module, count: int, seed: int) -> None:
    from pcdsl.runtime.pictures import save_grid

    if getattr(circuit, "image_shape", None) is None or circuit.image_shape[0] not in (1, 3):
        return
    levels = 256 if _is_real(circuit) else int(circuit.num_values)
    generator = torch.Generator().manual_seed(seed)  # a CPU generator: the same draw anywhere
    with torch.no_grad():
        samples = copy.deepcopy(circuit).cpu().sample(count, generator=generator)
    if _is_real(circuit):  # densities over pixel levels: show them as 8-bit levels
        samples = samples.round().clamp(0, 255).long()
    save_grid(path, samples.view(count, *circuit.image_shape), levels,
              nrow=max(1, math.ceil(math.sqrt(count))))


# Training ---------------------------------------------------------------------------------


def build_circuit(module_source: str, seed: int, origin: str = "<module>") -> nn.Module:
    """Import generated source and instantiate its Circuit with ``seed``."""
    module = module_from_source(module_source, origin=origin)
    return module.Circuit(seed=seed)


def _log_likelihood(circuit: nn.Module, x: Tensor, labels: Tensor) -> Tensor:
    ll = circuit(x)
    if ll.dim() == 2:
        ll = ll.gather(1, labels.view(-1, 1)).squeeze(1)
    return ll


def train(module_source: str, config: TrainConfig, train_split: Split, test_split: Split,
          *, resume: bool = False, log: Callable[[str], None] = print) -> TrainResult:
    """Train the circuit of ``module_source`` on ``train_split`` and evaluate it on
    ``test_split`` after every epoch; see the module docstring for what is written."""
    device = torch.device(config.device)
    ranks = setup_distributed(config.device)
    if device.type == "cuda" and ranks.world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", ranks.rank)))
        torch.cuda.set_device(device)
    circuit = build_circuit(module_source, config.seed).to(device)
    train_split = train_split.first(config.train_limit)
    test_split = test_split.first(config.test_limit)
    check_split(circuit, train_split)
    check_split(circuit, test_split)
    out = Path(config.out) if config.out else None
    if out is not None and ranks.main:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomically(out / "model.py", module_source)

    model: nn.Module = circuit
    if config.optimizer == "adam":
        if ranks.world > 1:
            model = nn.parallel.DistributedDataParallel(
                circuit, device_ids=[device.index] if device.type == "cuda" else None)
        optimizer: Any = torch.optim.Adam(circuit.parameters(), lr=config.lr)
    else:
        try:
            optimizer = MiniBatchEM(circuit, step_size=config.em_step_size,
                                    pseudo_count=config.em_pseudo_count,
                                    step_decay=config.em_step_decay,
                                    dataset_size=len(train_split))
        except EMNotSupported as exc:
            raise TrainingError(str(exc)) from None

    if config.compile in ("train", "all"):
        model = torch.compile(model)
    evaluated = torch.compile(circuit) if config.compile in ("eval", "all") else circuit

    history: list[EpochMetrics] = []
    start = 0
    if resume:
        start, history = _resume(circuit, optimizer, out, config)
        log(f"resumed from {out / CHECKPOINT_NAME} after epoch {start}")

    per_rank = max(1, config.batch_size // ranks.world)
    if config.batch_size % ranks.world:
        raise TrainingError(f"--batch-size {config.batch_size} is not divisible by the "
                            f"{ranks.world} processes")
    num_variables = int(circuit.num_variables)
    for epoch in range(start + 1, config.epochs + 1):
        circuit.train()
        indices = epoch_order(len(train_split), config.seed, epoch, ranks)
        epoch_batches = list(batches(indices, per_rank))
        bar = _progress(epoch_batches, config.progress and ranks.main,
                        f"epoch {epoch}/{config.epochs}")
        nll_sum, seen, began = 0.0, 0, time.perf_counter()
        for batch in bar:
            x = _values(circuit, train_split.images[batch].to(device, non_blocking=True))
            labels = train_split.labels[batch].to(device)
            if config.optimizer == "adam":
                loss = -_log_likelihood(model, x, labels).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                batch_nll = float(loss.detach())
            else:
                batch_nll = -optimizer.step(x, labels)
            if not math.isfinite(batch_nll):
                raise TrainingError(f"the loss became {batch_nll} in epoch {epoch}: lower the "
                                    "learning rate (or the EM step size)")
            nll_sum += batch_nll * len(batch)
            seen += len(batch)
            if bar is not epoch_batches:
                elapsed = time.perf_counter() - began
                bar.set_postfix(nll=f"{nll_sum / seen:.1f}",
                                img_s=f"{seen * ranks.world / max(elapsed, 1e-9):.0f}")
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - began
        nll_sum, seen = _sum_over_ranks(nll_sum, seen, device=device)
        train_nll = nll_sum / max(seen, 1)
        eval_began = time.perf_counter()
        test_ll, test_bpd, accuracy = evaluate(evaluated, test_split, config.eval_batch_size,
                                               device, config.progress, ranks)
        metrics = EpochMetrics(
            epoch=epoch, train_nll=train_nll,
            train_bpd=bits_per_dimension(-train_nll, num_variables),
            test_ll=test_ll, test_bpd=test_bpd, seconds=seconds,
            images_per_second=seen / max(seconds, 1e-9),
            eval_seconds=time.perf_counter() - eval_began, test_accuracy=accuracy)
        history.append(metrics)
        if ranks.main:
            accuracy_text = f", accuracy {accuracy:.4f}" if accuracy is not None else ""
            log(f"epoch {epoch}/{config.epochs}: train nll {train_nll:.2f} nats "
                f"({metrics.train_bpd:.4f} bpd), test ll {test_ll:.2f} nats, "
                f"test bpd {test_bpd:.4f}{accuracy_text}; {metrics.images_per_second:.0f} "
                f"images/s, {seconds:.1f} s")
            if out is not None:
                _write_metrics(out / METRICS_NAME, history)
                save_checkpoint(out / CHECKPOINT_NAME, circuit, module_source,
                                optimizer=optimizer, epoch=epoch,
                                extra={"config": asdict(config),
                                       "history": [asdict(m) for m in history],
                                       "rng_state": _rng_state()})
                _write_curves(out / "curves.png", history,
                              f"{_model_name(circuit)} on {config.dataset}")
    if out is not None and ranks.main and config.samples > 0:
        _write_samples(out / "samples.png", circuit, config.samples, config.seed)
    return TrainResult(circuit, history)


def _model_name(circuit: nn.Module) -> str:
    return str(getattr(sys.modules.get(type(circuit).__module__), "MODEL_NAME", "circuit"))


def _resume(circuit: nn.Module, optimizer: Any, out: Path | None,
            config: TrainConfig) -> tuple[int, list[EpochMetrics]]:
    if out is None:
        raise TrainingError("resuming needs the output folder that holds checkpoint.pt (--out)")
    path = out / CHECKPOINT_NAME
    if not path.exists():
        raise TrainingError(f"nothing to resume: {path} does not exist")
    try:
        checkpoint = load_weights_into(circuit, path)
    except CheckpointError as exc:
        raise TrainingError(str(exc)) from None
    extra = checkpoint.get("extra") or {}
    saved = extra.get("config", {})
    if saved.get("optimizer") not in (None, config.optimizer):
        raise TrainingError(f"{path} was trained with --optimizer {saved['optimizer']}, not "
                            f"{config.optimizer}")
    if checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if "rng_state" in extra:
        _set_rng_state(extra["rng_state"])
    history = [EpochMetrics(**m) for m in extra.get("history", [])]
    return int(checkpoint.get("epoch") or 0), history
