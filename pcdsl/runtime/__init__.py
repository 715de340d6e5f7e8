"""What users call on generated modules: loading, checkpoints, pictures, summaries.

The runtime works on the generated module alone and never imports the parser. Names are
imported lazily (PEP 562), so ``import pcdsl.runtime.loading`` stays free of torch.

- ``load_generated(path)``: import a generated ``.py`` file.
- ``save_checkpoint``, ``read_checkpoint``, ``load_weights_into``, ``SpecRecord``,
  ``CheckpointError``: checkpoints (weights + the spec, never code), ``checkpoint.py``.
- ``load_checkpoint``: a checkpoint back as a circuit. It compiles the embedded spec, so it
  lives in ``pcdsl.rebuild`` beside the driver; the name here is a lazy alias, and nothing
  else in the runtime imports it.
- ``image_grid``, ``save_grid``, ``inpainting_grid``, ``inpainting_rows``,
  ``standard_mask``, ``parse_masks``: pictures, see ``pictures.py``.
- ``load_split``, ``load_images``, ``DatasetNotFound``: torchvision data sets, ``data.py``.
- ``train``, ``evaluate``, ``TrainConfig``, ``TrainingError``: training and evaluation,
  ``train.py``; ``MiniBatchEM``: stepwise EM, ``em.py``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_generated": "pcdsl.runtime.loading",
    "CheckpointError": "pcdsl.runtime.checkpoint",
    "load_checkpoint": "pcdsl.rebuild",
    "read_checkpoint": "pcdsl.runtime.checkpoint",
    "SpecRecord": "pcdsl.runtime.checkpoint",
    "load_weights_into": "pcdsl.runtime.checkpoint",
    "save_checkpoint": "pcdsl.runtime.checkpoint",
    "DatasetNotFound": "pcdsl.runtime.data",
    "load_split": "pcdsl.runtime.data",
    "MiniBatchEM": "pcdsl.runtime.em",
    "TrainConfig": "pcdsl.runtime.train",
    "TrainingError": "pcdsl.runtime.train",
    "evaluate": "pcdsl.runtime.train",
    "train": "pcdsl.runtime.train",
    "image_grid": "pcdsl.runtime.pictures",
    "inpainting_grid": "pcdsl.runtime.pictures",
    "inpainting_rows": "pcdsl.runtime.pictures",
    "load_images": "pcdsl.runtime.data",
    "parse_masks": "pcdsl.runtime.pictures",
    "save_grid": "pcdsl.runtime.pictures",
    "standard_mask": "pcdsl.runtime.pictures",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pcdsl.runtime' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
