"""`pcc sample` and `pcc inpaint`: pictures of the circuit in a trained checkpoint.

Both commands rebuild the circuit by compiling the spec a checkpoint carries
(``pcdsl.rebuild.load_checkpoint``; nothing in the file is executed). ``inpaint`` checks the
checkpoint first, then reads the test split of the data set the checkpoint was trained on
(or ``--dataset``) through torchvision without downloading, from ``--data-root`` (default:
``$PCDSL_DATA_ROOT``, else ``./data``), as every command finds data.
"""

from __future__ import annotations

import argparse
import os

from pcdsl.cli.common import EXIT_CODES_HELP, EXIT_OK, error, output_refusal, positive
from pcdsl.runtime.data import DATASETS


def register(commands: argparse._SubParsersAction) -> None:
    sample = commands.add_parser(
        "sample", help="draw a grid of samples from a checkpoint",
        description="Draw exact (ancestral) samples from the circuit in a checkpoint and "
                    "write them as a PNG grid.", epilog=EXIT_CODES_HELP)
    sample.add_argument("checkpoint", metavar="CKPT", help="a checkpoint (save_checkpoint)")
    sample.add_argument("-n", "--count", type=positive, default=64,
                        help="number of samples (default 64)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sample.add_argument("--nrow", type=positive, help="images per row (default: a square)")
    sample.add_argument("--scale", type=positive, default=2,
                        help="pixels per image pixel (default 2)")
    sample.add_argument("-o", "--output", default="samples.png",
                        help="output picture, .png, .jpg, .pdf or .svg (default samples.png)")
    sample.set_defaults(run=run_sample)

    inpaint = commands.add_parser(
        "inpaint", help="complete test images under masks, as a picture",
        description="Hide part of some test images (each mask) and complete them with the "
                    "circuit in a checkpoint: rows of originals, masked inputs (unobserved "
                    "pixels red), exact conditional samples and, when the module has "
                    "map_complete, MAP completions.", epilog=EXIT_CODES_HELP)
    inpaint.add_argument("checkpoint", metavar="CKPT", help="a checkpoint (save_checkpoint)")
    inpaint.add_argument("--dataset", choices=tuple(DATASETS),
                         help="the data set whose test split to use (default: the one the "
                              "checkpoint was trained on)")
    inpaint.add_argument("--data-root", metavar="DIR",
                         help="torchvision's root folder of the data set (default: "
                              "$PCDSL_DATA_ROOT, else ./data); nothing is downloaded")
    inpaint.add_argument("--count", type=positive, default=8,
                         help="number of test images, chosen at random by --seed (default 8)")
    inpaint.add_argument("--masks", default="left,top,centre,first:100",
                         help="comma-separated masks: left, right, top, bottom (that half "
                              "unobserved), centre (a centred square of half the side), "
                              "first:K (only the first K pixels observed); default "
                              "left,top,centre,first:100")
    inpaint.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    inpaint.add_argument("--scale", type=positive, default=2,
                         help="pixels per image pixel (default 2)")
    inpaint.add_argument("-o", "--output", default="inpaint.png",
                         help="output picture, .png, .jpg, .pdf or .svg (default inpaint.png)")
    inpaint.set_defaults(run=run_inpaint)


def _open_checkpoint(path: str):
    """(circuit, checkpoint, None) or (None, None, exit status) after printing why the
    checkpoint is unusable."""
    from pcdsl.rebuild import load_checkpoint
    from pcdsl.runtime.checkpoint import CheckpointError

    try:
        circuit, checkpoint = load_checkpoint(path)
    except CheckpointError as exc:
        return None, None, error(str(exc))
    circuit.eval()
    if getattr(circuit, "image_shape", None) is None:
        return None, None, error(f"the model in {path} is not over images (its data has no "
                                 "image shape), so it has no pictures to draw.")
    if tuple(circuit.image_shape)[0] not in (1, 3):
        return None, None, error(f"the model in {path} has images of {circuit.image_shape[0]} "
                                 "channels; pictures need 1 (grey) or 3 (RGB).")
    return circuit, checkpoint, None


def _output_refusal(path: str) -> str | None:
    """Why ``-o path`` cannot be written, checked before anything is loaded."""
    from pcdsl.runtime.pictures import picture_format

    try:
        picture_format(path)
    except ValueError as exc:
        return f"-o: {exc}"
    return output_refusal(path)


def _write_picture(path: str, image) -> int:
    from pcdsl.runtime.pictures import save_image

    try:
        save_image(path, image)
    except OSError as exc:
        return error(f"cannot write {path}: {exc.strerror or exc}")
    print(f"wrote {path} ({image.width}x{image.height})")
    return EXIT_OK


def run_sample(args: argparse.Namespace) -> int:
    import math

    import torch

    from pcdsl.runtime.pictures import image_grid

    refusal = _output_refusal(args.output)
    if refusal:
        return error(refusal)
    circuit, _, status = _open_checkpoint(args.checkpoint)
    if circuit is None:
        return status
    generator = torch.Generator().manual_seed(args.seed)
    samples = circuit.sample(args.count, generator=generator)
    nrow = args.nrow or math.ceil(math.sqrt(args.count))
    image = image_grid(samples.view(args.count, *circuit.image_shape), circuit.num_values,
                       nrow, scale=args.scale)
    return _write_picture(args.output, image)


def run_inpaint(args: argparse.Namespace) -> int:
    import torch

    from pcdsl.cli.train import trained_dataset
    from pcdsl.runtime.data import DataError, DatasetNotFound, data_root, load_images
    from pcdsl.runtime.pictures import inpainting_grid, parse_masks

    refusal = _output_refusal(args.output)  # cheap checks first
    if refusal:
        return error(refusal)
    circuit, checkpoint, status = _open_checkpoint(args.checkpoint)
    if circuit is None:
        return status
    dataset = args.dataset or trained_dataset(checkpoint)
    if dataset is None:
        return error(f"{args.checkpoint} records no data set it was trained on: name one with "
                     "--dataset")
    info = DATASETS[dataset]
    if tuple(info.image_shape) != tuple(circuit.image_shape) or circuit.num_values != 256:
        return error(f"the model in {args.checkpoint} is over images of "
                     f"{'x'.join(map(str, circuit.image_shape))} with {circuit.num_values} "
                     f"values, but {dataset} has {'x'.join(map(str, info.image_shape))} images "
                     f"with {info.num_values} values.")
    try:
        masks = parse_masks(args.masks, info.image_shape)
    except ValueError as exc:
        return error(f"--masks: {exc}.")
    root, source = data_root(args.data_root)
    generator = torch.Generator().manual_seed(args.seed)
    try:
        images = load_images(dataset, root, count=args.count, generator=generator)
    except DatasetNotFound as exc:
        return error(
            f"the {dataset} test set was not found: torchvision looked in "
            f"{os.path.abspath(exc.folder)} (data root {root}, from {source}) and pcc inpaint "
            "never downloads. Point --data-root DIR (or the environment variable "
            f"PCDSL_DATA_ROOT) at the folder that holds {DATASETS[dataset].folder}/, or fetch "
            f"it once with 'pcc train SPEC --dataset {dataset} --download'.")
    except DataError as exc:
        return error(str(exc))
    image = inpainting_grid(circuit, images, masks, generator, scale=args.scale)
    return _write_picture(args.output, image)
