"""Pictures of what a generated circuit does: grids of samples and of inpaintings.

- ``image_grid(batch, num_values, nrow)`` turns a batch of integer images (N, C, H, W),
  values 0..num_values-1, into one PIL image (``torchvision.utils.make_grid``; value ``v``
  is drawn as grey level ``v * 255 / (num_values - 1)``); ``save_grid`` writes it
  atomically as PNG, JPEG, PDF or SVG, as the file's suffix says (``picture_format``).
- ``standard_mask(name, image_shape)`` and ``parse_masks("left,top,centre,first:100",
  image_shape)`` build the standard observation masks, (D,) bool with True where a
  variable is **observed**:

  ==========  ===========================================================================
  ``left``    the left half of every row is unobserved (columns ``< W // 2``)
  ``right``   the right half is unobserved (the last ``W // 2`` columns)
  ``top``     the top half is unobserved (rows ``< H // 2``)
  ``bottom``  the bottom half is unobserved (the last ``H // 2`` rows)
  ``centre``  a centred square of half the side (``H // 2`` x ``W // 2``) is unobserved
              (``center`` is accepted too)
  ``first:K`` the first K pixels in row-major order are observed, the rest unobserved
              ("knowing the first K pixels, infer the rest")
  ==========  ===========================================================================

  A mask covers a pixel's every channel.
- ``inpainting_grid(circuit, images, masks, generator)`` draws one labelled block per
  mask, one column per image, with the rows, top to bottom: ``original`` (the images),
  ``masked`` (the circuit's input: unobserved pixels painted red, ``HIDDEN_COLOUR``),
  ``sampled`` (``circuit.sample_conditional``: an exact draw of the unobserved pixels given
  the observed ones) and, when the circuit has a ``map_complete`` method, ``MAP`` (its
  max-product completion). ``inpainting_rows`` returns the same rows as tensors.
- ``load_images`` and ``DatasetNotFound`` live in ``data.py`` (re-exported here).

torchvision and PIL are imported when first needed.
"""

from __future__ import annotations

import base64
import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from pcdsl.files import atomic_write
from pcdsl.runtime.data import DatasetNotFound, load_images  # noqa: F401 (re-exported)

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = [
    "HIDDEN_COLOUR",
    "MASK_NAMES",
    "DatasetNotFound",
    "InpaintingBlock",
    "image_grid",
    "inpainting_grid",
    "inpainting_rows",
    "load_images",
    "parse_masks",
    "picture_format",
    "save_grid",
    "save_image",
    "standard_mask",
    "to_rgb",
]

HIDDEN_COLOUR = (220, 40, 40)  # unobserved pixels in the "masked" row
BACKGROUND = 255  # white: the padding between images and the canvas around them
MASK_NAMES = ("left", "right", "top", "bottom", "centre", "first:K")
_FIRST = re.compile(r"first:(\d+)")


# Masks --------------------------------------------------------------------------------

def _shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in image_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"expected an image shape (C, H, W), found {tuple(image_shape)}")
    return shape  # type: ignore[return-value]


def standard_mask(name: str, image_shape: Sequence[int]) -> Tensor:
    """The standard mask ``name`` (see the module docstring) for images of ``image_shape``
    (C, H, W): a (C * H * W,) bool tensor, True where a variable is observed, in the
    variable order of generated modules (channel, row, column)."""
    channels, height, width = _shape(image_shape)
    rows = torch.arange(height).view(height, 1).expand(height, width)
    columns = torch.arange(width).view(1, width).expand(height, width)
    key = name.strip().lower()
    if key == "left":
        hidden = columns < width // 2
    elif key == "right":
        hidden = columns >= width - width // 2
    elif key == "top":
        hidden = rows < height // 2
    elif key == "bottom":
        hidden = rows >= height - height // 2
    elif key in ("centre", "center"):
        side_h, side_w = height // 2, width // 2
        top, left = (height - side_h) // 2, (width - side_w) // 2
        hidden = ((rows >= top) & (rows < top + side_h)
                  & (columns >= left) & (columns < left + side_w))
    elif (match := _FIRST.fullmatch(key)) is not None:
        count = int(match.group(1))
        if count > height * width:
            raise ValueError(f"mask '{name}': an image has only {height * width} pixels")
        hidden = (rows * width + columns) >= count
    else:
        raise ValueError(f"unknown mask '{name}': expected one of {', '.join(MASK_NAMES)}")
    return (~hidden).unsqueeze(0).expand(channels, height, width).reshape(-1).clone()


def parse_masks(spec: str, image_shape: Sequence[int]) -> dict[str, Tensor]:
    """``"left,top,centre,first:100"`` -> {name: mask}, in the order given."""
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if not names:
        raise ValueError(f"no mask named: expected a comma-separated list of {', '.join(MASK_NAMES)}")
    return {name: standard_mask(name, image_shape) for name in names}


# Grids --------------------------------------------------------------------------------

def _images(batch: Tensor, image_shape: Sequence[int] | None = None) -> Tensor:
    """A batch as (N, C, H, W): image-shaped already, (N, H, W), or flat with a shape."""
    if batch.dim() == 4:
        return batch
    if batch.dim() == 3 and image_shape is None:
        return batch.unsqueeze(1)
    if image_shape is not None:
        return batch.reshape(batch.shape[0], *_shape(image_shape))
    raise ValueError(f"expected images of shape (N, C, H, W), found {tuple(batch.shape)}")


def to_rgb(batch: Tensor, num_values: int, hidden: Tensor | None = None) -> Tensor:
    """Integer images (N, C, H, W) with C = 1 or 3 -> (N, 3, H, W) uint8 RGB: value ``v``
    becomes ``round(v * 255 / (num_values - 1))``. Where ``hidden`` (bool, broadcastable to
    (N, C, H, W) or (N, H, W)) is True the pixel is painted ``HIDDEN_COLOUR``."""
    if batch.dtype.is_floating_point or batch.dtype == torch.bool:
        raise TypeError(f"expected integer pixel values, found {batch.dtype}")
    if batch.dim() != 4 or batch.shape[1] not in (1, 3):
        raise ValueError("expected images of shape (N, 1, H, W) or (N, 3, H, W), found "
                         f"{tuple(batch.shape)}")
    if num_values < 2:
        raise ValueError(f"num_values must be at least 2, found {num_values}")
    batch = batch.detach().cpu().long()
    grey = (batch.clamp(0, num_values - 1).double() * (255.0 / (num_values - 1))).round()
    rgb = grey.to(torch.uint8).expand(-1, 3, -1, -1).clone()
    if hidden is not None:
        hidden = hidden.detach().cpu().bool()
        if hidden.dim() == 4:
            hidden = hidden.any(dim=1)
        hidden = hidden.expand(batch.shape[0], *batch.shape[2:])
        colour = torch.tensor(HIDDEN_COLOUR, dtype=torch.uint8).view(3, 1, 1)
        rgb = torch.where(hidden.unsqueeze(1), colour, rgb)
    return rgb


def _grid(rgb: Tensor, nrow: int, padding: int, scale: int) -> Tensor:
    from torchvision.utils import make_grid

    if scale < 1:
        raise ValueError(f"scale must be at least 1, found {scale}")
    if scale > 1:
        rgb = rgb.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    if rgb.shape[0] == 1:  # make_grid returns a single image unpadded; keep one layout
        return torch.nn.functional.pad(rgb[0], (padding,) * 4, value=BACKGROUND)
    return make_grid(rgb, nrow=max(1, nrow), padding=padding, pad_value=BACKGROUND)


def _pil(grid: Tensor) -> Image.Image:
    from PIL import Image

    return Image.fromarray(grid.permute(1, 2, 0).contiguous().numpy(), mode="RGB")


def image_grid(batch: Tensor, num_values: int, nrow: int = 8, *, padding: int = 2,
               scale: int = 1) -> Image.Image:
    """A grid of integer images (N, C, H, W), ``nrow`` images per row, as a PIL RGB image
    of ``nrow' * (W * scale + padding) + padding`` by ``rows * (H * scale + padding) +
    padding`` pixels (``nrow' = min(nrow, N)``), with white padding."""
    return _pil(_grid(to_rgb(_images(batch), num_values), nrow, padding, scale))


# A picture's format follows its file's suffix, so `-o grid.jpg` is a JPEG, not PNG bytes
# under a misleading name.
PICTURE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".pdf": "PDF", ".svg": "SVG"}


def picture_format(path: str | os.PathLike) -> str:
    """The format named by a picture file's suffix (any case): ``"PNG"``, ``"JPEG"``,
    ``"PDF"`` or ``"SVG"``. Raises ``ValueError`` for any other suffix; cheap (no import),
    so a command can check its output's name before it loads anything."""
    suffix = os.path.splitext(os.fspath(path))[1]
    if suffix.lower() not in PICTURE_FORMATS:
        found = f"'{suffix}'" if suffix else "no suffix"
        raise ValueError(f"cannot tell the picture format of {os.fspath(path)} ({found}): "
                         "expected .png, .jpg, .jpeg, .pdf or .svg")
    return PICTURE_FORMATS[suffix.lower()]


def _write_picture(handle, image: Image.Image, format: str) -> None:
    if format == "SVG":  # the pixels as an embedded PNG, drawn unsmoothed at their size
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        width, height = image.size
        handle.write((f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                      f'viewBox="0 0 {width} {height}">\n<image width="{width}" height="{height}" '
                      f'style="image-rendering: pixelated" href="data:image/png;base64,{data}"/>\n'
                      "</svg>\n").encode("ascii"))
    elif format == "JPEG":  # full chroma resolution: pixel grids have sharp colour edges
        image.convert("RGB").save(handle, format="JPEG", quality=95, subsampling=0)
    elif format == "PDF":  # one pixel per point
        image.convert("RGB").save(handle, format="PDF", resolution=72.0)
    else:
        image.save(handle, format=format)


def save_image(path: str | os.PathLike, image: Image.Image) -> None:
    """Write a PIL image in the format its suffix names (``picture_format``: PNG, JPEG,
    PDF or SVG), atomically (temporary file and rename). Raises ``ValueError`` for an
    unknown suffix, before writing anything."""
    format = picture_format(path)
    atomic_write(path, lambda handle: _write_picture(handle, image, format))


def save_grid(path: str | os.PathLike, batch: Tensor, num_values: int, nrow: int = 8, *,
              padding: int = 2, scale: int = 1) -> Image.Image:
    """``image_grid`` written to ``path`` atomically, in the format its suffix names
    (``save_image``); returns the image."""
    image = image_grid(batch, num_values, nrow, padding=padding, scale=scale)
    save_image(path, image)
    return image


# Inpainting ---------------------------------------------------------------------------

@dataclass(frozen=True)
class InpaintingBlock:
    """The rows drawn for one mask: ``observed`` is the (D,) mask; ``rows`` maps a row's
    label (``original``, ``masked``, ``sampled``, ``MAP``) to (N, C, H, W) images; for
    ``masked`` the values under the mask are those of the originals (drawn red)."""

    name: str
    observed: Tensor
    rows: dict[str, Tensor]


def inpainting_rows(circuit, images: Tensor, masks: Mapping[str, Tensor],
                    generator: torch.Generator | None = None) -> list[InpaintingBlock]:
    """Complete ``images`` (N, C, H, W) or (N, D) under each mask (name -> (D,) bool, True
    observed) with ``circuit.sample_conditional`` and, if the circuit has it,
    ``circuit.map_complete``. Every mask's images go through one batched call."""
    shape = getattr(circuit, "image_shape", None)
    if shape is None:
        raise ValueError("the circuit has no image shape: inpainting needs image data")
    images = _images(images, shape)
    count, dims = images.shape[0], math.prod(images.shape[1:])
    if count == 0:
        raise ValueError("no images given")
    if not masks:
        raise ValueError("no masks given")
    names = list(masks)
    observed = torch.stack([masks[name].reshape(-1).bool().cpu() for name in names])
    if observed.shape[1] != dims:
        raise ValueError(f"masks must have {dims} entries, found {observed.shape[1]}")
    device = next((p.device for p in circuit.parameters()), torch.device("cpu"))
    x = images.reshape(1, count, dims).expand(len(names), -1, -1).reshape(-1, dims)
    rows_mask = observed.unsqueeze(1).expand(-1, count, -1).reshape(-1, dims)
    x, rows_mask = x.to(device), rows_mask.to(device)
    with torch.no_grad():
        sampled = circuit.sample_conditional(x, rows_mask, generator=generator).cpu()
        completed = None
        if hasattr(circuit, "map_complete"):
            result = circuit.map_complete(x, rows_mask)
            completed = (result[0] if isinstance(result, tuple) else result).cpu()
    blocks = []
    for i, name in enumerate(names):
        part = slice(i * count, (i + 1) * count)
        rows = {"original": images.cpu(), "masked": images.cpu(),
                "sampled": sampled[part].view(images.shape)}
        if completed is not None:
            rows["MAP"] = completed[part].view(images.shape)
        blocks.append(InpaintingBlock(name, observed[i], rows))
    return blocks


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def _text_size(draw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def render_inpainting(blocks: Sequence[InpaintingBlock], num_values: int, *, scale: int = 2,
                      padding: int = 2) -> Image.Image:
    """Draw ``inpainting_rows``'s blocks: per block a title line, then one labelled row of
    images per entry of ``rows`` (the ``masked`` row with unobserved pixels in red)."""
    from PIL import Image, ImageDraw

    if not blocks:
        raise ValueError("nothing to draw")
    grids, titles = [], []
    for block in blocks:
        labels = list(block.rows)
        count = block.rows[labels[0]].shape[0]
        shape = block.rows[labels[0]].shape[1:]
        hidden = (~block.observed.bool()).view(1, *shape)
        parts = [to_rgb(block.rows[label], num_values, hidden if label == "masked" else None)
                 for label in labels]
        grids.append((labels, _pil(_grid(torch.cat(parts), count, padding, scale)), shape))
        seen = int(block.observed.sum())
        titles.append(f"mask '{block.name}': {seen} of {block.observed.numel()} values observed"
                      " (red: unobserved)")
    cell_height = min(shape[-2] for _, _, shape in grids) * scale
    font = _font(min(14, max(9, cell_height // 2)))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = max(_text_size(probe, label, font)[0] for labels, _, _ in grids
                      for label in labels) + 8
    title_height = max(_text_size(probe, title, font)[1] for title in titles) + 8
    width = max(label_width + max(grid.width for _, grid, _ in grids) + padding,
                max(_text_size(probe, title, font)[0] for title in titles) + 2 * padding + 4)
    gap = 4 * padding + 8
    height = sum(title_height + grid.height for _, grid, _ in grids) + gap * (len(grids) - 1)
    canvas = Image.new("RGB", (width, height), (BACKGROUND,) * 3)
    draw = ImageDraw.Draw(canvas)
    y = 0
    for (labels, grid, shape), title in zip(grids, titles):
        draw.text((padding + 2, y + 3), title, fill=(0, 0, 0), font=font)
        y += title_height
        canvas.paste(grid, (label_width, y))
        cell = shape[-2] * scale + padding
        for r, label in enumerate(labels):
            _, text_height = _text_size(draw, label, font)
            top = y + padding + r * cell + (shape[-2] * scale - text_height) // 2
            draw.text((4, max(y, top - 2)), label, fill=(0, 0, 0), font=font)
        y += grid.height + gap
    return canvas


def inpainting_grid(circuit, images: Tensor, masks: Mapping[str, Tensor],
                    generator: torch.Generator | None = None, *, scale: int = 2,
                    padding: int = 2) -> Image.Image:
    """One labelled block per mask, one column per image; rows ``original``, ``masked``
    (unobserved pixels red), ``sampled`` and, if the circuit has ``map_complete``,
    ``MAP``. See ``inpainting_rows`` for the tensors."""
    blocks = inpainting_rows(circuit, images, masks, generator)
    return render_inpainting(blocks, int(circuit.num_values), scale=scale, padding=padding)
