"""`pcc learn`: structures learned from data, saved as files that specs point at.

    pcc learn chow-liu --dataset fashion-mnist --data-root DIR [--bins N] [--limit N] -o tree.json

learns the Chow-Liu tree of a data set's training images (``pcdsl.ir.region_graphs.
chow_liu``) and writes it as JSON, for ``regions = chow_liu_tree(file = "tree.json")``.
The data are read with torchvision from ``DIR``, downloaded only with ``--download``.
"""

from __future__ import annotations

import argparse
import sys

from pcdsl.cli.common import EXIT_OK, Parser, error, positive, write_output

DATASETS = ("fashion-mnist", "mnist")  # torchvision's FashionMNIST and MNIST: 1x28x28, 256 values
DEFAULT_BINS = 16


def register(commands: argparse._SubParsersAction) -> None:
    learn = commands.add_parser(
        "learn", help="learn a structure from data (pcc learn chow-liu --help)",
        description="Learn a structure from data and save it as a file that a spec points at.")
    structures = learn.add_subparsers(dest="structure", metavar="STRUCTURE", parser_class=Parser)
    tree = structures.add_parser(
        "chow-liu", help="a Chow-Liu tree, for regions = chow_liu_tree(file = ...)",
        description="Learn the Chow-Liu tree of a data set's images (maximum spanning tree of "
                    "the mutual information between pixels) and write it as JSON, for "
                    "'regions = chow_liu_tree(file = \"FILE\")' (the path relative to the spec).")
    tree.add_argument("--dataset", required=True, choices=DATASETS)
    tree.add_argument("--data-root", required=True, metavar="DIR",
                      help="the torchvision root folder of the data set (e.g. DIR/FashionMNIST/raw)")
    tree.add_argument("--download", action="store_true",
                      help="let torchvision download the data set if it is missing (needs internet)")
    tree.add_argument("--split", choices=("train", "test"), default="train",
                      help="the images to learn from (default: train)")
    tree.add_argument("--bins", type=positive, default=DEFAULT_BINS,
                      help="bin the 256 pixel values into N equal-width levels before counting "
                           f"(default: {DEFAULT_BINS}; 256: the raw values, slower: the mutual "
                           "information sums N^2 terms per pair of pixels)")
    tree.add_argument("--valid", type=positive, metavar="N",
                      help="leave out the N images that 'pcc train --valid N' holds out for "
                           "validation (the same ones), so that validation bpd is not "
                           "measured on images the tree was learned from")
    tree.add_argument("--limit", type=positive, metavar="N",
                      help="learn from the first N images only (default: all; after --valid)")
    tree.add_argument("-o", "--output", required=True, metavar="FILE", help="the tree file to write")
    learn.set_defaults(run=run, learn_parser=learn)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "structure", None) is None:
        args.learn_parser.print_usage(sys.stderr)
        return error("say what to learn: pcc learn chow-liu ...")
    from pcdsl.ir.region_graphs.chow_liu import ChowLiuTree, learn_chow_liu_tree, tree_to_json
    from pcdsl.runtime.data import DataError, DatasetNotFound, load_split

    try:
        split = load_split(args.dataset, args.data_root, train=args.split == "train",
                           download=args.download)
    except DatasetNotFound as exc:
        return error(f"cannot read the {exc.dataset} data set under {args.data_root}: not found "
                     f"(torchvision looked in {exc.folder}); point --data-root at it, or add "
                     "--download (needs internet)")
    except DataError as exc:
        return error(str(exc))
    if args.valid is not None:
        try:
            split, _ = split.held_out(args.valid)  # as pcc train does, before any --limit
        except ValueError as exc:
            return error(f"--valid {args.valid}: {exc}; hold out fewer")
    images = split.first(args.limit).images.numpy()
    shape = tuple(images.shape[1:])
    try:
        learned = learn_chow_liu_tree(images, 256, shape, bins=args.bins)  # type: ignore[arg-type]
    except ValueError as exc:
        return error(str(exc))
    held_out = (("held_out", args.valid),) if args.valid is not None else ()
    provenance = (("dataset", args.dataset), ("split", args.split), *held_out, *learned.learned_from)
    tree = ChowLiuTree(learned.image_shape, learned.parents, provenance)
    status = write_output(args.output, tree_to_json(tree).encode("utf-8"))
    if status != EXIT_OK:
        return status
    print(f"wrote {args.output}: a tree over {len(tree.parents)} variables rooted at "
          f"{tree.root}, learned from {len(images)} {args.split} images of {args.dataset} "
          f"({min(args.bins, 256)} levels"
          + (f"; the {args.valid} validation images of pcc train --valid left out" if args.valid else "")
          + ")")
    return EXIT_OK
