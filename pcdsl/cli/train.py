"""`pcc train` and `pcc eval`: train a spec (or a generated module) on an image data set,
and evaluate a checkpoint. The work is done by ``pcdsl.runtime.train``; this module turns
flags into a ``TrainConfig`` and failures into one-paragraph errors."""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from pcdsl.cli.common import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_OK,
    compile_failure,
    error,
    integer_in,
    positive,
)
from pcdsl.diagnostics import CompileError
from pcdsl.runtime.options import COMPILE_MODES, OPTIMIZERS, SEED_LIMIT
from pcdsl.runtime.precision import PRECISIONS


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found '{text}'") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, found '{text}'")
    return value


def _fraction(text: str) -> float:
    """argparse type: a number in (0, 1]."""
    value = _number(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], found {value}")
    return value


def _non_negative(text: str) -> float:
    """argparse type: a number of at least 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, found {value}")
    return value


def _positive_float(text: str) -> float:
    """argparse type: a number above 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, found {value}")
    return value


def _seed(text: str) -> int:
    """argparse type: a seed in 0..2**63-1."""
    return integer_in(text, 0, SEED_LIMIT - 1, "an integer seed")


MAX_SAMPLES = 4096
MAX_THREADS = 4096


def _thread_count(text: str) -> int:
    """argparse type: a number of CPU threads in 1..MAX_THREADS."""
    return integer_in(text, 1, MAX_THREADS, "a number of threads")


def _sample_count(text: str) -> int:
    """argparse type: a number of samples in 0..MAX_SAMPLES."""
    return integer_in(text, 0, MAX_SAMPLES, "a number of samples")


def _data_options(parser: argparse.ArgumentParser, dataset_help: str,
                  dataset_default: str | None) -> None:
    from pcdsl.runtime.data import DATA_ROOT_VARIABLE, DATASETS

    parser.add_argument("--dataset", choices=tuple(DATASETS), default=dataset_default,
                        help=dataset_help)
    parser.add_argument("--data-root", metavar="DIR",
                        help=f"torchvision's data root (default: ${DATA_ROOT_VARIABLE}, "
                             "else ./data)")
    parser.add_argument("--download", action="store_true",
                        help="let torchvision download the data set if it is missing "
                             "(needs internet; never done otherwise)")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda, cuda:N or auto (cuda when available; default)")


def _precision_option(parser: argparse.ArgumentParser, default_text: str,
                      default: str | None = None) -> None:
    parser.add_argument("--precision", choices=PRECISIONS, default=default,
                        help="matrix products in fp32, tf32 (TF32 tensor cores on a GPU; no "
                             "change on most CPUs) or bf16 (autocast: bf16 mantissas, float32 "
                             f"log-scales); default {default_text}; see docs/training.md")


def register(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train", help="train a spec on an image data set, with checkpoints and metrics",
        description="Compile a spec, train it with Adam or mini-batch EM, evaluate test "
                    "log-likelihood and bits per dimension after every epoch, and write "
                    "model.py, metrics.jsonl, checkpoint.pt, curves.png and samples.png into "
                    "--out. A folder that holds a run is never overwritten without --resume "
                    "or --overwrite. Ctrl-C (or SIGTERM) stops after saving nothing "
                    "half-written and prints the command that resumes. Under torchrun, "
                    "training is data-parallel (DistributedDataParallel).",
        epilog=EXIT_CODES_HELP)
    train.add_argument("file", metavar="SPEC", help="the .pc spec (checkpoints carry it)")
    train.add_argument("--model", help="the model to train, when the spec holds several")
    _data_options(train, "torchvision data set (default fashion-mnist)", "fashion-mnist")
    _precision_option(train, "fp32, or with --resume the checkpoint's")
    train.add_argument("--epochs", type=positive, default=10, help="epochs (default 10)")
    train.add_argument("--batch-size", type=positive, default=256,
                       help="global batch size (default 256)")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                       help="adam (gradient) or em (mini-batch EM); default adam")
    train.add_argument("--lr", type=_positive_float, default=0.01,
                       help="Adam's learning rate (default 0.01)")
    train.add_argument("--em-step-size", type=_fraction, default=0.05,
                       help="EM: how far each batch moves the running expected counts "
                            "towards its own, in (0, 1]; 1 is plain EM per batch (default 0.05)")
    train.add_argument("--em-pseudo-count", type=_non_negative, default=0.1,
                       help="EM: smoothing pseudo-count per distribution (default 0.1)")
    train.add_argument("--em-step-decay", type=_fraction, default=1.0,
                       help="EM: step size multiplied by this after every batch (default 1)")
    train.add_argument("--em-final-step-size", type=_fraction, metavar="S",
                       help="EM: decay the step size geometrically from --em-step-size to S "
                            "at the last batch of the last epoch, whatever the batch and data "
                            "sizes (instead of --em-step-decay)")
    train.add_argument("--em-input-smoothing", type=_non_negative, default=0.0, metavar="N",
                       help="EM: N pseudo-examples per categorical input distribution, spread "
                            "like its own counts blurred over neighbouring values (ordered "
                            "values such as grey levels): smooths the units that explain few "
                            "images (default 0: none)")
    train.add_argument("--em-input-smoothing-width", type=_positive_float, default=2.0,
                       metavar="W", help="EM: the blur's standard deviation, in values "
                                         "(default 2)")
    train.add_argument("--seed", type=_seed,
                       help="seed of the initial weights and of the data order (default: the "
                            "spec's seed, itself 0 unless the spec sets one)")
    train.add_argument("--out", metavar="DIR",
                       help="output folder (default runs/MODEL-DATASET-OPTIMIZER, numbered "
                            "-2, -3, ... when that one holds a run)")
    resume = train.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true",
                        help="continue the run in --out (without --out: the newest default "
                             "folder) from its checkpoint.pt (same spec required)")
    resume.add_argument("--overwrite", action="store_true",
                        help="replace the run in --out (its run files are removed first)")
    train.add_argument("--train-limit", type=positive, metavar="N",
                       help="train on the first N training images only")
    train.add_argument("--test-limit", type=positive, metavar="N",
                       help="evaluate on the first N test images only")
    train.add_argument("--valid", type=positive, metavar="N",
                       help="hold out N training images (the same ones for every run) for "
                            "validation: their bpd is reported each epoch and the epoch with "
                            "the best one is kept as best.pt, with its test bpd")
    train.add_argument("--patience", type=positive, metavar="K",
                       help="with --valid: stop after K epochs without a better validation bpd")
    train.add_argument("--eval-batch-size", type=positive, default=1024,
                       help="batch size of evaluation (default 1024)")
    train.add_argument("--samples", type=_sample_count, default=64,
                       help="samples drawn into samples.png at the end (default 64; 0: none; "
                            f"at most {MAX_SAMPLES})")
    train.add_argument("--no-progress", action="store_true",
                       help="no progress on stderr (by default: bars on a terminal, a line "
                            "every 5 s elsewhere)")
    train.add_argument("--threads", type=_thread_count, help="torch CPU threads (default: torch's)")
    train.add_argument("--compile", choices=COMPILE_MODES, default="off",
                       help="run these passes through torch.compile (needs a C++ compiler on "
                       "a CPU; the first pass compiles for a while): the test-set "
                       "evaluations, the training steps (adam), or all (default off)")
    train.set_defaults(run=run_train, parser=train)

    evaluate = commands.add_parser(
        "eval", help="test log-likelihood and bits per dimension of a checkpoint",
        description="Evaluate the circuit in a checkpoint on a data set's test split.",
        epilog=EXIT_CODES_HELP)
    evaluate.add_argument("checkpoint", metavar="CKPT",
                          help="a checkpoint.pt that pcc train wrote")
    _data_options(evaluate, "torchvision data set (default: the one the checkpoint was "
                  "trained on)", None)
    _precision_option(evaluate, "fp32", default="fp32")
    evaluate.add_argument("--split", choices=("test", "train"), default="test",
                          help="the split to evaluate (default test)")
    evaluate.add_argument("--limit", type=positive, metavar="N", help="the first N images only")
    evaluate.add_argument("--batch-size", type=positive, default=1024,
                          help="batch size (default 1024)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--compile", action="store_true",
                          help="evaluate through torch.compile (faster once compiled; needs a "
                          "C++ compiler on a CPU)")
    evaluate.set_defaults(run=run_eval)


def _device(requested: str) -> str | None:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError:
        return None
    if device.type not in ("cpu", "cuda"):
        return None
    if device.type == "cuda" and not torch.cuda.is_available():
        return None
    return requested


def _load_splits(dataset: str, root_flag: str | None, download: bool, splits: tuple[bool, ...]):
    """The requested splits, or an error message paragraph."""
    from pcdsl.runtime.data import (
        DATA_ROOT_VARIABLE,
        DataError,
        DatasetNotFound,
        data_root,
        load_split,
    )

    root, source = data_root(root_flag)
    try:
        return [load_split(dataset, root, train=train, download=download) for train in splits], None
    except DatasetNotFound as exc:
        return None, (
            f"the {dataset} data set was not found: torchvision looked in "
            f"{os.path.abspath(exc.folder)} (data root {root}, from {source}). Point "
            f"--data-root DIR (or the environment variable {DATA_ROOT_VARIABLE}) at the folder "
            f"that holds {Path(exc.folder).relative_to(Path(exc.root)).as_posix()}/, or add "
            "--download to fetch it (needs internet).")
    except DataError as exc:  # damaged or unreadable files
        return None, str(exc)
    except (OSError, RuntimeError, ValueError) as exc:  # no network for --download, ...
        return None, f"cannot read the {dataset} data set under {root}: {type(exc).__name__}: {exc}"


def _compiled(args: argparse.Namespace):
    """(module source, spec record) of the spec to train, or (None, exit status)."""
    if not args.file.endswith(".pc") and Path(args.file).suffix == ".py":
        return None, _not_a_spec(args.file)
    from pcdsl.driver import compile_file, emit_python
    from pcdsl.rebuild import spec_record

    try:
        compiled = compile_file(args.file)
        model = compiled.model(args.model)
        return (emit_python(compiled, model), spec_record(compiled, model)), EXIT_OK
    except CompileError as exc:
        return None, compile_failure(exc, args.file)
    except (OSError, UnicodeDecodeError) as exc:  # a tree file that went away meanwhile
        return None, error(f"cannot read a file {args.file} names: {exc}")


def _not_a_spec(path: str) -> int:
    """pcc train takes specs: a generated module cannot be checkpointed (checkpoints carry
    the spec, never code). Name the spec the module says it came from, read without
    running it."""
    from pcdsl.runtime.checkpoint import CheckpointError, source_constants

    try:
        text = Path(path).read_text(encoding="utf-8")
        spec_file = source_constants(text, ("SPEC_FILE",)).get("SPEC_FILE")
    except (OSError, UnicodeDecodeError, CheckpointError):
        spec_file = None
    came_from = f" ({path} was generated from {spec_file})" if isinstance(spec_file, str) else ""
    return error(f"pcc train takes the .pc spec, not a generated module: checkpoints carry the "
                 f"spec, never code{came_from}; pass the spec file.")


def _run_folder(args: argparse.Namespace, model_name: str) -> str:
    from pcdsl.runtime.runs import default_folder

    if args.out:
        return args.out
    base = Path("runs") / f"{model_name}-{args.dataset}-{args.optimizer}"
    return str(default_folder(base, resume=args.resume))


def resume_command(args: argparse.Namespace, out: str) -> str:
    """The command line that resumes this run: the flags given (those that differ from their
    defaults), with ``--out`` and ``--resume``."""
    words = ["pcc", "train", args.file]
    for action in args.parser._actions:
        if not action.option_strings or action.dest in ("help", "out", "resume", "overwrite"):
            continue
        value = getattr(args, action.dest, action.default)
        if value == action.default:
            continue
        flag = max(action.option_strings, key=len)
        words += [flag] if action.nargs == 0 else [flag, str(value)]
    return shlex.join([*words, "--out", out, "--resume"])


def run_train(args: argparse.Namespace) -> int:
    # SIGTERM (a scheduler's stop, `kill`, `timeout`) stops a run as Ctrl-C does: the epoch
    # in progress is abandoned, and the resume command printed.
    main = threading.current_thread() is threading.main_thread()  # where handlers can be set
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        return _run_train(args)
    except KeyboardInterrupt:
        print("pcc train: interrupted before training began; nothing was written.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(number: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_train(args: argparse.Namespace) -> int:
    if args.compile in ("train", "all") and args.optimizer != "adam":
        return error(f"--compile {args.compile} needs --optimizer adam: EM's step runs the "
                     "module's upward pass itself (--compile eval compiles the evaluations)")
    final = args.em_final_step_size
    if final is not None and args.optimizer != "em":
        return error("--em-final-step-size is a schedule of EM's step size: add --optimizer em")
    if final is not None and args.em_step_decay != 1.0:
        return error("--em-final-step-size and --em-step-decay are two ways to set one "
                     "schedule: give one of them")
    if final is not None and final > args.em_step_size:
        return error(f"--em-final-step-size {final:g} is larger than --em-step-size "
                     f"{args.em_step_size:g}: the step size decays towards it")
    if args.em_input_smoothing and args.optimizer != "em":
        return error("--em-input-smoothing is a prior of EM's M-step: add --optimizer em")
    if args.patience is not None and not args.valid:
        return error("--patience needs --valid N: early stopping watches the validation bpd")
    if args.resume and args.out and not Path(args.out, "checkpoint.pt").exists():
        return error(f"--resume: nothing to resume, {Path(args.out, 'checkpoint.pt')} does not "
                     "exist (drop --resume to start a run there)")
    compiled, status = _compiled(args)
    if compiled is None:
        return status
    source, record = compiled
    import torch

    from pcdsl.runtime.checkpoint import CheckpointError
    from pcdsl.runtime.train import TrainConfig, TrainingError, TrainingInterrupted, train

    device = _device(args.device)
    if device is None:
        return error(f"--device {args.device}: expected cpu, cuda, cuda:N or auto, with a CUDA "
                     "device present for cuda.")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = _run_folder(args, record.model)
    splits, message = _load_splits(args.dataset, args.data_root, args.download, (True, False))
    if splits is None:
        return error(message)
    config = TrainConfig(
        dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, em_step_size=args.em_step_size,
        em_pseudo_count=args.em_pseudo_count, em_step_decay=args.em_step_decay,
        em_final_step_size=args.em_final_step_size,
        em_input_smoothing=args.em_input_smoothing,
        em_input_smoothing_width=args.em_input_smoothing_width,
        seed=args.seed, device=device, out=out, eval_batch_size=args.eval_batch_size,
        train_limit=args.train_limit, test_limit=args.test_limit, samples=args.samples,
        valid=args.valid or 0, patience=args.patience,
        progress=not args.no_progress, compile=args.compile, precision=args.precision)
    try:
        result = train(source, config, splits[0], splits[1], spec=record, resume=args.resume,
                       overwrite=args.overwrite)
    except (TrainingError, CheckpointError) as exc:
        return error(str(exc))
    except TrainingInterrupted as stop:
        _report_interrupt(stop, args, out)
        return EXIT_INTERRUPTED
    if result.history and _is_main():
        last, best = result.history[-1], result.best
        count = len(result.history)
        chosen = (f"test bpd {best.test_bpd:.4f} at the best validation epoch {best.epoch} "
                  f"(best.pt), {last.test_bpd:.4f} at the last" if best is not None
                  else f"test bpd {last.test_bpd:.4f}")
        print(f"{chosen} ({args.dataset}, {count} epoch{'' if count == 1 else 's'}); files in "
              f"{out}")
    return EXIT_OK


def _report_interrupt(stop, args: argparse.Namespace, out: str) -> None:
    if stop.saved_epoch is None:
        print(f"pcc train: interrupted in epoch {stop.epoch}; no epoch had finished, so no "
              f"checkpoint was written. Start again with the same command.", file=sys.stderr)
        return
    print(f"pcc train: interrupted in epoch {stop.epoch}; that epoch is abandoned. "
          f"{stop.checkpoint} holds epoch {stop.saved_epoch} (metrics.jsonl agrees). "
          f"Resume with:\n  {resume_command(args, out)}", file=sys.stderr)


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def trained_dataset(checkpoint: dict) -> str | None:
    """The data set a checkpoint's run trained on, when it records one pcc knows."""
    from pcdsl.runtime.data import DATASETS

    extra = checkpoint.get("extra")
    config = extra.get("config") if isinstance(extra, dict) else None
    dataset = config.get("dataset") if isinstance(config, dict) else None
    return dataset if dataset in DATASETS else None


def run_eval(args: argparse.Namespace) -> int:
    from pcdsl.rebuild import load_checkpoint
    from pcdsl.runtime.checkpoint import CheckpointError
    from pcdsl.runtime.train import TrainingError, check_split, evaluate

    device = _device(args.device)
    if device is None:
        return error(f"--device {args.device}: expected cpu, cuda, cuda:N or auto, with a CUDA "
                     "device present for cuda.")
    try:  # the checkpoint first: it is cheaper to refuse than the data set is to read
        circuit, checkpoint = load_checkpoint(args.checkpoint, map_location=device)
    except CheckpointError as exc:
        return error(str(exc))
    dataset = args.dataset or trained_dataset(checkpoint)
    if dataset is None:
        return error(f"{args.checkpoint} records no data set it was trained on: name one with "
                     "--dataset")
    splits, message = _load_splits(dataset, args.data_root, args.download,
                                   (args.split == "train",))
    if splits is None:
        return error(message)
    split = splits[0].first(args.limit)
    try:
        check_split(circuit, split)
    except TrainingError as exc:
        return error(str(exc))
    if args.compile:
        from pcdsl.runtime.compiling import CompileUnavailable, compile_circuit

        try:
            circuit = compile_circuit(circuit)
        except CompileUnavailable as exc:
            return error(f"--compile: {exc}")
    avg, bpd, accuracy = evaluate(circuit, split, args.batch_size, device,
                                  precision=args.precision)
    facts = {"checkpoint": args.checkpoint, "dataset": dataset, "split": args.split,
             "images": len(split), "avg_ll": avg, "bpd": bpd, "precision": args.precision}
    if accuracy is not None:
        facts["accuracy"] = accuracy
    if args.json:
        print(json.dumps(facts))
    else:
        extra = f", accuracy {accuracy:.4f}" if accuracy is not None else ""
        print(f"{dataset} {args.split} ({len(split)} images): average log-likelihood "
              f"{avg:.2f} nats, {bpd:.4f} bits per dimension{extra}")
    return EXIT_OK
