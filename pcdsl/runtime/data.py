"""Image data sets through torchvision, as whole in-memory tensors of integer pixel values.

The seed recipe reads MNIST with ``transforms.ToTensor()`` and then ``(255 * x).long()``;
for 8-bit images that is exactly the stored byte, so ``load_split`` takes torchvision's
own ``data`` array (the raw bytes) instead of converting image by image: the same values,
about a thousand times faster. ``tests/runtime/test_data.py`` checks the equality.

Nothing here downloads unless asked (``download=True``, for users online); a missing data
set raises ``DatasetNotFound`` naming the folder that torchvision looked in. Data sets
are described in ``DATASETS``: adding one is one entry.

The data root is ``--data-root``, else ``$PCDSL_DATA_ROOT``, else ``./data``
(``data_root``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported when data is loaded, so `pcc --help` stays quick
    import torch
    from torch import Tensor

DATA_ROOT_VARIABLE = "PCDSL_DATA_ROOT"
DEFAULT_DATA_ROOT = "data"
HELD_OUT_SEED = 20_240_611  # the validation images of every run (Split.held_out)


@dataclass(frozen=True)
class DatasetInfo:
    """One torchvision image data set: its class and where its files live under a root."""

    name: str
    torchvision_class: str
    folder: str  # the folder under the data root that torchvision reads
    image_shape: tuple[int, int, int]
    num_values: int = 256


DATASETS: dict[str, DatasetInfo] = {
    info.name: info for info in (
        DatasetInfo("mnist", "MNIST", "MNIST/raw", (1, 28, 28)),
        DatasetInfo("fashion-mnist", "FashionMNIST", "FashionMNIST/raw", (1, 28, 28)),
        DatasetInfo("kmnist", "KMNIST", "KMNIST/raw", (1, 28, 28)),
        DatasetInfo("cifar10", "CIFAR10", "cifar-10-batches-py", (3, 32, 32)),
    )
}


class DatasetNotFound(Exception):
    """The data set's files are not where torchvision looks for them."""

    def __init__(self, dataset: str, root: str, folder: str) -> None:
        super().__init__(f"{dataset} not found: torchvision looked in {folder}")
        self.dataset, self.root, self.folder = dataset, root, folder


class DataError(Exception):
    """The data set's files are there but cannot be read (damaged, truncated, unreadable);
    the message is one sentence naming the folder and what to do."""


@dataclass(frozen=True)
class Split:
    """A whole split in memory: ``images`` (N, C, H, W) uint8, ``labels`` (N,) int64."""

    dataset: str
    train: bool
    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def held_out(self, count: int, seed: int = HELD_OUT_SEED) -> tuple[Split, Split]:
        """(the rest, ``count`` images held out): the held-out images are chosen by a fixed
        permutation of ``seed`` (by default the same for every run, so that runs with other
        seeds are compared on the same validation images), both parts in their original
        order. Raises ``ValueError`` unless 0 < count < len(self)."""
        import torch

        if not 0 < count < len(self):
            raise ValueError(f"cannot hold out {count} of {len(self)} images")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        held = torch.zeros(len(self), dtype=torch.bool)
        held[order[:count]] = True
        return (Split(self.dataset, self.train, self.images[~held], self.labels[~held]),
                Split(self.dataset, self.train, self.images[held], self.labels[held]))

    def first(self, count: int | None) -> Split:
        """The first ``count`` images (all of them for None), for quick runs."""
        if count is None or count >= len(self):
            return self
        return Split(self.dataset, self.train, self.images[:count], self.labels[:count])


def data_root(explicit: str | None = None) -> tuple[str, str]:
    """The data root to use and where it came from (for error messages)."""
    if explicit:
        return explicit, "--data-root"
    if os.environ.get(DATA_ROOT_VARIABLE):
        return os.environ[DATA_ROOT_VARIABLE], DATA_ROOT_VARIABLE
    return DEFAULT_DATA_ROOT, "the default"


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown data set '{name}': expected one of {', '.join(DATASETS)}")
    return DATASETS[name]


def _torchvision_dataset(info: DatasetInfo, root: str | os.PathLike, train: bool, download: bool):
    import torchvision

    cls = getattr(torchvision.datasets, info.torchvision_class)
    folder = Path(root) / info.folder
    try:
        return cls(root=str(root), train=train, download=download)
    except RuntimeError as exc:
        if "not found" in str(exc).lower() or "corrupted" in str(exc).lower():
            raise DatasetNotFound(info.name, str(root), str(folder)) from None
        raise _damaged(info, folder, exc) from None
    except (AssertionError, ValueError, OSError, EOFError, IndexError, TypeError,
            MemoryError, OverflowError, KeyError) as exc:
        # torchvision's IDX reader asserts on a damaged header; pickled CIFAR batches fail
        # in other ways. None of it is a bug of the caller's: say which files to replace.
        raise _damaged(info, folder, exc) from None


def _damaged(info: DatasetInfo, folder: Path, exc: BaseException) -> DataError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "its header is damaged"
    if isinstance(exc, PermissionError):
        reason = f"permission denied: {exc.filename}" if exc.filename else "permission denied"
    return DataError(f"cannot read the {info.name} files in {folder} ({type(exc).__name__}: "
                     f"{reason[:200]}): replace them with a good copy, or remove them and add "
                     "--download (needs internet)")


def load_split(dataset: str, root: str | os.PathLike, *, train: bool,
               download: bool = False) -> Split:
    """The whole train or test split of ``dataset`` as uint8 images (N, C, H, W) and labels.

    Raises ``DatasetNotFound`` when the files are absent (and ``download`` is off),
    ``DataError`` when they are there but damaged or unreadable."""
    import torch

    info = dataset_info(dataset)
    source = _torchvision_dataset(info, root, train, download)
    images = torch.as_tensor(source.data)
    if images.dim() == 3:  # (N, H, W): one channel
        images = images.unsqueeze(1)
    elif images.shape[-1] == info.image_shape[0]:  # (N, H, W, C), as CIFAR stores it
        images = images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(source.targets, dtype=torch.long)
    return Split(dataset, train, images.contiguous().to(torch.uint8), labels)


def load_images(dataset: str, root: str | os.PathLike, *, count: int | None = None,
                generator: torch.Generator | None = None, train: bool = False) -> Tensor:
    """Images of a data set (the test split unless ``train``), never downloading, as
    (N, C, H, W) int64 values 0..255. With ``count``, that many distinct images chosen at
    random with ``generator``. Raises ``DatasetNotFound``."""
    import torch

    images = load_split(dataset, root, train=train).images
    total = images.shape[0]
    if count is not None and count < total:
        images = images[torch.randperm(total, generator=generator)[:max(0, count)]]
    return images.long()
