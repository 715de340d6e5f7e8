"""Training and evaluation of generated circuits on image data sets.

    from pcdsl.driver import compile_file, emit_python
    from pcdsl.rebuild import spec_record
    compiled = compile_file("examples/mnist.pc"); model = compiled.model(None)
    result = train(emit_python(compiled, model), TrainConfig(dataset="fashion-mnist",
                   epochs=10, out="runs/mnist"), train_split, test_split,
                   spec=spec_record(compiled, model))
    print(result.test_bpd)

``train`` takes the generated module's source text (what ``pcc`` writes) and the record of
the spec it was compiled from (what checkpoints carry: they hold no code), builds its
``Circuit``, and runs the seed recipe: batches of 8-bit pixels as int64, the mean negative
log-likelihood as the loss, Adam (or mini-batch EM, ``em.py``), and after each epoch the
test split's average log-likelihood and bits per dimension, ``bpd = -avg_ll / (D ln 2)``.

Into ``out`` it writes (all atomically, temporary file then rename):

- ``model.py``: the generated module;
- ``checkpoint.pt``: after every epoch, weights, optimizer state, epoch, RNG states, the
  spec (``checkpoint.py``); ``resume=True`` continues from it, bit for bit on CPU;
- ``metrics.jsonl``: one JSON object per epoch (train NLL, test LL and bpd, time, images/s),
  always written after the checkpoint of the same epoch, with interrupts held back between
  the two, so the two never disagree;
- ``curves.png``: training loss by step, train and test bits per dimension by epoch;
- ``samples.png``: a grid of exact samples, at the end.

A run folder is never overwritten silently: a folder that already holds a run is refused
unless ``resume`` (continue it) or ``overwrite`` (replace its run files; other files stay).
While a run writes a folder it holds a lock on ``.pcdsl-run.lock`` there, so two runs never
write one folder; temporary files a killed run left behind are removed when the next run
takes the lock.

Seeds: the run's seed is ``config.seed`` when given, else the module's ``SEED`` (the spec's
``seed``, default 0). It sets the initial weights and the data order: the order is a
function of ``(seed, epoch)`` alone (``DistributedSampler`` with that seed), so a resumed
run sees exactly the batches the uninterrupted run would have seen.

Under ``torchrun`` (``WORLD_SIZE`` > 1) training is data-parallel: one process per rank,
``DistributedDataParallel`` over gloo (CPU) or nccl (CUDA), each rank a shard of every
global batch of ``batch_size`` rows, metrics summed over ranks, files written by rank 0.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from pcdsl.files import atomic_write, write_text_atomically
from pcdsl.runtime import runs
from pcdsl.runtime.checkpoint import (
    CheckpointError,
    SpecRecord,
    load_weights_into,
    save_checkpoint,
)
from pcdsl.runtime.curves import StepLosses, write_curves
from pcdsl.runtime.data import Split
from pcdsl.runtime.em import EMNotSupported, MiniBatchEM
from pcdsl.runtime.loading import module_from_source
from pcdsl.runtime.options import COMPILE_MODES, OPTIMIZERS, SEED_LIMIT
from pcdsl.runtime.precision import autocast_forward, check_precision, matmul_precision
from pcdsl.runtime.progress import Progress, plural, track

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"  # the checkpoint of the best validation bpd (with --valid)
METRICS_NAME = "metrics.jsonl"


class TrainingError(Exception):
    """Training cannot start or go on; the message says why and what to do."""


class TrainingInterrupted(Exception):
    """Ctrl-C (SIGINT) stopped a run. ``epoch`` was in progress and is abandoned;
    ``saved_epoch`` is the last epoch that ``checkpoint`` (and ``metrics.jsonl``) hold, None
    when nothing was saved."""

    def __init__(self, epoch: int, saved_epoch: int | None, checkpoint: Path | None) -> None:
        super().__init__(f"interrupted in epoch {epoch}")
        self.epoch, self.saved_epoch, self.checkpoint = epoch, saved_epoch, checkpoint


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
    # EM: the step size at the run's last batch, reached by a geometric decay from
    # em_step_size over every batch of every epoch (instead of em_step_decay, whose same
    # value means another schedule at another batch or data size).
    em_final_step_size: float | None = None
    # EM: pseudo-examples per categorical input distribution, spread like its counts
    # blurred over em_input_smoothing_width neighbouring values (MiniBatchEM's docstring).
    em_input_smoothing: float = 0.0
    em_input_smoothing_width: float = 2.0
    seed: int | None = None  # None: the module's SEED (the spec's seed)
    device: str = "cpu"
    out: str | None = None
    eval_batch_size: int = 1024
    train_limit: int | None = None  # use only the first N training images (quick runs)
    test_limit: int | None = None
    samples: int = 64  # images in samples.png (0: none)
    valid: int = 0  # training images held out for validation (best.pt); 0: none
    patience: int | None = None  # stop after this many epochs without a better validation bpd
    progress: bool = True  # on stderr: bars on a terminal, a line every few seconds elsewhere
    compile: str = "off"  # one of COMPILE_MODES
    precision: str | None = None  # of precision.PRECISIONS; None: fp32, or when resuming
    # the checkpoint's

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, found '{self.optimizer}'")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be one of {COMPILE_MODES}, found '{self.compile}'")
        if self.compile in ("train", "all") and self.optimizer != "adam":
            raise ValueError("compiling the training steps needs the adam optimizer: EM's "
                             "step runs the module's upward pass itself")
        if self.precision is not None:
            check_precision(self.precision)
        if self.em_final_step_size is not None:
            if not 0.0 < self.em_final_step_size <= self.em_step_size:
                raise ValueError(f"em_final_step_size must lie in (0, em_step_size = "
                                 f"{self.em_step_size}], found {self.em_final_step_size}")
            if self.em_step_decay != 1.0:
                raise ValueError("em_final_step_size and em_step_decay are two ways to set "
                                 "one schedule: give one of them")
        if not (0.0 <= self.em_input_smoothing < math.inf
                and 0.0 < self.em_input_smoothing_width < math.inf):
            raise ValueError("em_input_smoothing must be a finite number of at least 0 and "
                             "em_input_smoothing_width one above 0, found "
                             f"{self.em_input_smoothing} and {self.em_input_smoothing_width}")
        if self.em_input_smoothing and self.optimizer != "em":
            raise ValueError("em_input_smoothing is a prior of EM's M-step: it needs the em "
                             "optimizer")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, found {getattr(self, name)}")
        if self.valid < 0:
            raise ValueError(f"valid must be at least 0, found {self.valid}")
        if self.patience is not None and (self.patience < 1 or not self.valid):
            raise ValueError("patience must be at least 1 and needs a validation split (valid)")
        if self.seed is not None and not 0 <= self.seed < SEED_LIMIT:
            raise ValueError(f"seed must be in 0..{SEED_LIMIT - 1}, found {self.seed}")


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
    precision: str = "fp32"  # of the training steps and evaluations (precision.PRECISIONS)
    valid_ll: float | None = None  # nats per image on the held-out validation images
    valid_bpd: float | None = None


@dataclass
class TrainResult:
    circuit: nn.Module
    history: list[EpochMetrics] = field(default_factory=list)

    @property
    def test_bpd(self) -> float:
        return self.history[-1].test_bpd if self.history else math.nan

    @property
    def best(self) -> EpochMetrics | None:
        """The epoch of the lowest validation bpd (None without a validation split)."""
        return best_epoch(self.history)


def best_epoch(history: list[EpochMetrics]) -> EpochMetrics | None:
    """The epoch of the lowest validation bpd, the earliest of ties; None without one."""
    scored = [m for m in history if m.valid_bpd is not None]
    return min(scored, key=lambda m: (m.valid_bpd, m.epoch)) if scored else None


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
            "spec's image(...).")


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


def _batches_per_epoch(size: int, batch_size: int, ranks: Ranks) -> int:
    """Each rank's batches in an epoch of ``size`` rows (``epoch_order`` pads every rank's
    share to ceil(size / world) rows, in batches of batch_size / world)."""
    per_rank = max(1, batch_size // ranks.world)
    return math.ceil(math.ceil(size / ranks.world) / per_rank)


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
             ranks: Ranks | None = None,
             precision: str = "fp32") -> tuple[float, float, float | None]:
    """(average test log-likelihood in nats, bits per dimension, accuracy or None) of a
    split, its forward passes at ``precision`` (see ``precision.py``); with several ranks
    each evaluates its shard and the sums are combined."""
    ranks = ranks or Ranks()
    circuit.eval()
    device = torch.device(device)
    indices = list(range(ranks.rank, len(split), ranks.world))
    total, correct, rows = 0.0, 0, 0
    classes = int(getattr(circuit, "num_classes", 1))
    # One autocast region for every batch, so that the module's cached tables serve them all.
    with matmul_precision(precision), autocast_forward(precision, device):
        for batch in _progress(list(batches(indices, batch_size)), progress and ranks.main,
                               "test"):
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


def _progress(items: list, enabled: bool, description: str):
    """``items``, with a progress bar on a terminal or a line every few seconds elsewhere."""
    return track(items, description) if enabled else items


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


def build_circuit(module_source: str, seed: int | None = None,
                  origin: str = "<module>") -> nn.Module:
    """Import generated source and instantiate its Circuit with ``seed`` (None: the
    module's ``SEED``, the spec's seed)."""
    module = module_from_source(module_source, origin=origin)
    return module.Circuit() if seed is None else module.Circuit(seed=seed)


def run_seed(module_source: str, config: TrainConfig) -> int:
    """The seed of a run: ``config.seed`` when given, else the spec's (``SEED``)."""
    if config.seed is not None:
        return config.seed
    return int(module_from_source(module_source).SEED)


def uniform_bpd(circuit: nn.Module) -> float | None:
    """Bits per dimension of the uniform distribution over the circuit's values (None for
    real-valued data): a trained model that does worse has learned nothing useful."""
    if _is_real(circuit):
        return None
    return math.log2(int(circuit.num_values))


def _log_likelihood(circuit: nn.Module, x: Tensor, labels: Tensor) -> Tensor:
    ll = circuit(x)
    if ll.dim() == 2:
        ll = ll.gather(1, labels.view(-1, 1)).squeeze(1)
    return ll


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def train(module_source: str, config: TrainConfig, train_split: Split, test_split: Split,
          *, spec: SpecRecord | None = None, resume: bool = False, overwrite: bool = False,
          log: Callable[[str], None] = print,
          warn: Callable[[str], None] = _stderr) -> TrainResult:
    """Train the circuit of ``module_source`` on ``train_split`` and evaluate it on
    ``test_split`` after every epoch; see the module docstring for what is written.
    ``spec`` (the record of the spec the module was compiled from) is needed to write
    checkpoints, that is whenever ``config.out`` is set. Raises ``TrainingError`` when
    the run cannot start or go on, ``TrainingInterrupted`` on Ctrl-C."""
    ranks = setup_distributed(config.device)
    out = Path(config.out) if config.out else None
    if out is not None and spec is None:
        raise TrainingError("a run with an output folder needs the record of its spec "
                            "(spec=pcdsl.rebuild.spec_record(...)): checkpoints carry the spec")
    if out is not None and ranks.main:
        try:
            runs.prepare(out, resume=resume, overwrite=overwrite)
        except runs.RunFolderError as exc:
            raise TrainingError(str(exc)) from None
    # _train enters the run's precision here once it is known (a resumed run's is in its
    # checkpoint), so that TF32 holds for the rest of the run, backward included.
    with contextlib.ExitStack() as scope:
        if out is None or not ranks.main:
            return _train(module_source, config, train_split, test_split, spec, resume, out,
                          ranks, log, warn, scope)
        try:
            with runs.locked(out):
                if overwrite and not resume:
                    runs.clear_previous(out)
                return _train(module_source, config, train_split, test_split, spec, resume,
                              out, ranks, log, warn, scope)
        except runs.RunFolderError as exc:
            raise TrainingError(str(exc)) from None


def _train(module_source: str, config: TrainConfig, train_split: Split, test_split: Split,
           spec: SpecRecord | None, resume: bool, out: Path | None,
           ranks: Ranks, log: Callable[[str], None], warn: Callable[[str], None],
           scope: contextlib.ExitStack) -> TrainResult:
    device = torch.device(config.device)
    if device.type == "cuda" and ranks.world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", ranks.rank)))
        torch.cuda.set_device(device)
    explicit_seed = config.seed
    seed = run_seed(module_source, config)
    config = replace(config, seed=seed)
    circuit = build_circuit(module_source, seed).to(device)
    valid_split = None
    if config.valid:
        try:
            train_split, valid_split = train_split.held_out(config.valid)
        except ValueError:
            raise TrainingError(f"--valid {config.valid}: the training split has "
                                f"{len(train_split)} images; hold out fewer") from None
        check_split(circuit, valid_split)
    train_split = train_split.first(config.train_limit)
    test_split = test_split.first(config.test_limit)
    check_split(circuit, train_split)
    check_split(circuit, test_split)
    circuit.check_values = False  # check_split did it once for every image: no host read a step

    model: nn.Module = circuit
    if config.optimizer == "adam":
        if ranks.world > 1:
            model = nn.parallel.DistributedDataParallel(
                circuit, device_ids=[device.index] if device.type == "cuda" else None)
        optimizer: Any = torch.optim.Adam(circuit.parameters(), lr=config.lr)
    else:
        decay, floor = config.em_step_decay, 0.0
        if config.em_final_step_size is not None:  # decay to it over the run's batches
            steps = config.epochs * _batches_per_epoch(len(train_split), config.batch_size, ranks)
            decay = (config.em_final_step_size / config.em_step_size) ** (1 / max(steps - 1, 1))
            floor = config.em_final_step_size
        try:
            optimizer = MiniBatchEM(circuit, step_size=config.em_step_size,
                                    pseudo_count=config.em_pseudo_count,
                                    step_decay=decay, min_step_size=floor,
                                    dataset_size=len(train_split),
                                    input_smoothing=config.em_input_smoothing,
                                    input_smoothing_width=config.em_input_smoothing_width)
        except EMNotSupported as exc:
            raise TrainingError(str(exc)) from None

    history: list[EpochMetrics] = []
    losses = StepLosses()
    start = 0
    if resume:
        start, history, saved_seed, losses, saved_precision = _resume(
            circuit, optimizer, out, config, explicit_seed)
        if explicit_seed is None and saved_seed is not None:
            seed = saved_seed  # the resumed run keeps its data order
            config = replace(config, seed=seed)
        config = replace(config, precision=config.precision or saved_precision)
        log(f"resumed from {out / CHECKPOINT_NAME} after {_epochs(start)}")  # type: ignore[operator]
    config = replace(config, precision=config.precision or "fp32")
    scope.enter_context(matmul_precision(config.precision))
    if out is not None and ranks.main:
        try:
            write_text_atomically(out / "model.py", module_source)
        except OSError as exc:
            raise TrainingError(f"cannot write into the run folder {out}: "
                                f"{exc.strerror or exc}") from None

    if config.compile in ("train", "all"):
        model = _compiled(model, fullgraph=ranks.world == 1)  # DDP's hooks break graphs
    evaluated = _compiled(circuit) if config.compile in ("eval", "all") else circuit

    per_rank = max(1, config.batch_size // ranks.world)
    if config.batch_size % ranks.world:
        raise TrainingError(f"--batch-size {config.batch_size} is not divisible by the "
                            f"{ranks.world} processes")
    num_variables = int(circuit.num_variables)
    uniform = uniform_bpd(circuit)
    saved_epoch = start if start else None
    epoch, warned = start, False
    progress = Progress(sys.stderr, epochs=config.epochs, num_variables=num_variables,
                        batches_per_epoch=math.ceil(math.ceil(len(train_split) / ranks.world)
                                                    / per_rank))
    try:
        for epoch in range(start + 1, config.epochs + 1):
            metrics = _train_epoch(model, circuit, optimizer, evaluated, config, train_split,
                                   test_split, epoch, per_rank, device, ranks, num_variables,
                                   progress if config.progress and ranks.main else None, losses)
            if valid_split is not None:
                valid_ll, valid_bpd, _ = evaluate(evaluated, valid_split, config.eval_batch_size,
                                                  device, config.progress, ranks,
                                                  config.precision)
                metrics = replace(metrics, valid_ll=valid_ll, valid_bpd=valid_bpd)
            history.append(metrics)
            if not ranks.main:
                continue
            accuracy = metrics.test_accuracy
            accuracy_text = f", accuracy {accuracy:.4f}" if accuracy is not None else ""
            valid_text = (f", valid bpd {metrics.valid_bpd:.4f}"
                          if metrics.valid_bpd is not None else "")
            log(f"epoch {epoch}/{config.epochs}: train nll {metrics.train_nll:.2f} nats "
                f"({metrics.train_bpd:.4f} bpd){valid_text}, test ll {metrics.test_ll:.2f} "
                f"nats, test bpd {metrics.test_bpd:.4f}{accuracy_text}; "
                f"{metrics.images_per_second:.0f} images/s, {metrics.seconds:.1f} s")
            if uniform is not None and metrics.test_bpd > uniform and not warned:
                warned = True  # once a run: the figures of later epochs are in the log
                warn(f"warning: test bpd {metrics.test_bpd:.4f} after {_epochs(epoch)} is worse "
                     f"than the uniform distribution's {uniform:.4f}: check the inputs' "
                     "initialisation and the learning rate (--lr), or train longer")
            if out is not None:
                try:
                    # The checkpoint and its metrics together; the curves too, because
                    # drawing them imports matplotlib on the first epoch, and an interrupt
                    # raised inside a C extension's initialisation is not a clean
                    # KeyboardInterrupt (it left "ImportError: initialization failed" and an
                    # aborted interpreter when SIGTERM came right after epoch 1's metrics).
                    with runs.held_interrupts():
                        save_checkpoint(out / CHECKPOINT_NAME, circuit,
                                        spec,  # type: ignore[arg-type]
                                        optimizer=optimizer, epoch=epoch,
                                        extra={"config": asdict(config),
                                               "history": [asdict(m) for m in history],
                                               "step_losses": losses.state(),
                                               "rng_state": _rng_state()})
                        _write_metrics(out / METRICS_NAME, history)
                        if best_epoch(history) is metrics:  # a new best validation bpd
                            _copy(out / CHECKPOINT_NAME, out / BEST_NAME)
                        saved_epoch = epoch
                        write_curves(out / "curves.png", losses=losses, epochs=history,
                                     title=f"{_model_name(circuit)} on {config.dataset}",
                                     num_variables=num_variables)
                except OSError as exc:  # disk full, folder removed, ...: earlier files stay
                    kept = (f"{out / CHECKPOINT_NAME} still holds epoch {saved_epoch}"
                            if saved_epoch else "no checkpoint was written")
                    raise TrainingError(f"cannot write the files of epoch {epoch} into {out}: "
                                        f"{exc.strerror or exc}; {kept}") from None
            if _patience_ran_out(history, config.patience):
                best = best_epoch(history)
                log(f"stopping early: no better validation bpd for {_epochs(config.patience)} "
                    f"since epoch {best.epoch}")  # type: ignore[union-attr]
                break
    except KeyboardInterrupt:
        progress.close()
        raise TrainingInterrupted(epoch if epoch > (saved_epoch or 0) else epoch + 1,
                                  saved_epoch if out is not None else None,
                                  out / CHECKPOINT_NAME if out is not None else None) from None
    best = best_epoch(history)
    if best is not None and ranks.main:
        where = f" ({out / BEST_NAME})" if out is not None else ""
        log(f"best validation bpd {best.valid_bpd:.4f} at epoch {best.epoch}{where}: "
            f"test bpd {best.test_bpd:.4f}")
    algebra = getattr(sys.modules.get(type(circuit).__module__), "ALGEBRA", None)
    if out is not None and ranks.main and config.samples > 0 and algebra:
        # A squared or product model samples autoregressively, one Gram pass per variable
        # (minutes for 28x28), and not at all over real values: no picture by default.
        log(f"no samples.png: a {algebra} model samples one variable at a time"
            + ("" if _is_real(circuit) else "; draw them with 'pcc sample'"))
    elif out is not None and ranks.main and config.samples > 0:
        try:
            _write_samples(out / "samples.png", circuit, config.samples, seed)
        except OSError as exc:
            raise TrainingError(f"cannot write {out / 'samples.png'}: {exc.strerror or exc}; "
                                f"the run's checkpoint and metrics are written") from None
    circuit.check_values = True  # the circuit handed back checks what its callers give it
    return TrainResult(circuit, history)


def _compiled(module: nn.Module, fullgraph: bool = True) -> nn.Module:
    from pcdsl.runtime.compiling import CompileUnavailable, compile_circuit

    try:
        return compile_circuit(module, fullgraph=fullgraph)
    except CompileUnavailable as exc:
        raise TrainingError(f"--compile: {exc}") from None


def _patience_ran_out(history: list[EpochMetrics], patience: int | None) -> bool:
    best = best_epoch(history)
    return patience is not None and best is not None and history[-1].epoch - best.epoch >= patience


def _copy(source: Path, target: Path) -> None:
    """Copy a file atomically (for best.pt), streaming rather than reading it whole."""
    import shutil

    with open(source, "rb") as handle:
        atomic_write(target, lambda out: shutil.copyfileobj(handle, out, 2**22))


def _epochs(count: int) -> str:
    return plural(count, "epoch")


def _train_epoch(model: nn.Module, circuit: nn.Module, optimizer: Any, evaluated: nn.Module,
                 config: TrainConfig, train_split: Split, test_split: Split, epoch: int,
                 per_rank: int, device: torch.device, ranks: Ranks, num_variables: int,
                 progress: Progress | None, losses: StepLosses) -> EpochMetrics:
    """One epoch of training, then the evaluation of the test split."""
    circuit.train()
    indices = epoch_order(len(train_split), config.seed, epoch, ranks)  # type: ignore[arg-type]
    epoch_batches = list(batches(indices, per_rank))
    if progress is not None:
        progress.start_epoch(epoch, len(epoch_batches))
    nll_sum, seen, began = 0.0, 0, time.perf_counter()
    for done, batch in enumerate(epoch_batches, 1):
        x = _values(circuit, train_split.images[batch].to(device, non_blocking=True))
        labels = train_split.labels[batch].to(device)
        if config.optimizer == "adam":
            with autocast_forward(config.precision, device):  # backward outside autocast
                loss = -_log_likelihood(model, x, labels).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            batch_nll = float(loss.detach())
        else:  # autocast covers the E-step's forward; its backward runs outside (em.py)
            with autocast_forward(config.precision, device):
                batch_nll = -optimizer.step(x, labels)
        if not math.isfinite(batch_nll):
            raise TrainingError(f"the loss became {batch_nll} in epoch {epoch}: lower the "
                                "learning rate (--lr) or the EM step size (--em-step-size)")
        nll_sum += batch_nll * len(batch)
        seen += len(batch)
        losses.add(epoch - 1 + done / len(epoch_batches), batch_nll)
        if progress is not None:
            progress.step(len(batch) * ranks.world, batch_nll)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - began
    if progress is not None:
        progress.end_epoch()
    nll_sum, seen = _sum_over_ranks(nll_sum, seen, device=device)
    train_nll = nll_sum / max(seen, 1)
    eval_began = time.perf_counter()
    test_ll, test_bpd, accuracy = evaluate(evaluated, test_split, config.eval_batch_size,
                                           device, config.progress, ranks, config.precision)
    return EpochMetrics(
        epoch=epoch, train_nll=train_nll,
        train_bpd=bits_per_dimension(-train_nll, num_variables),
        test_ll=test_ll, test_bpd=test_bpd, seconds=seconds,
        images_per_second=seen / max(seconds, 1e-9),
        eval_seconds=time.perf_counter() - eval_began, test_accuracy=accuracy,
        precision=config.precision)


def _model_name(circuit: nn.Module) -> str:
    return str(getattr(sys.modules.get(type(circuit).__module__), "MODEL_NAME", "circuit"))


def _resume(circuit: nn.Module, optimizer: Any, out: Path | None, config: TrainConfig,
            explicit_seed: int | None
            ) -> tuple[int, list[EpochMetrics], int | None, StepLosses, str]:
    """Load the checkpoint in ``out`` into ``circuit`` and ``optimizer``: (its epoch, its
    history, the seed it was trained with, its step losses, its precision)."""
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
    saved_precision = saved.get("precision", "fp32")  # runs before --precision were fp32
    if config.precision is not None and saved_precision != config.precision:
        raise TrainingError(f"{path} was trained with --precision {saved_precision}, not "
                            f"{config.precision}: resume with --precision {saved_precision}")
    saved_seed = saved.get("seed")
    if explicit_seed is not None and saved_seed is not None and saved_seed != explicit_seed:
        raise TrainingError(f"{path} was trained with seed {saved_seed}, not {explicit_seed}: "
                            f"resume with --seed {saved_seed}, or without --seed (the seed sets "
                            "the data order)")
    if checkpoint.get("optimizer") is not None:
        try:
            optimizer.load_state_dict(checkpoint["optimizer"])
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise TrainingError(f"the optimizer state in {path} does not fit this run "
                                f"({type(exc).__name__}: {exc})") from None
    if "rng_state" in extra:
        _set_rng_state(extra["rng_state"])
    history = [EpochMetrics(**m) for m in extra.get("history", [])]
    losses = (StepLosses.from_state(extra["step_losses"]) if "step_losses" in extra
              else StepLosses())
    return int(checkpoint.get("epoch") or 0), history, saved_seed, losses, saved_precision
