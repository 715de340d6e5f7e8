"""Pictures: grid sizes and grey levels, the standard masks, and inpainting rows."""

from __future__ import annotations

import os

import numpy
import pytest
import torch
from torch import nn

from pcdsl.runtime.pictures import (
    HIDDEN_COLOUR,
    image_grid,
    inpainting_grid,
    inpainting_rows,
    parse_masks,
    picture_format,
    save_grid,
    standard_mask,
    to_rgb,
)
from tests.conftest import TINY_SPEC

TINY = TINY_SPEC


@pytest.fixture
def circuit(build_module):
    return build_module(TINY).Circuit(seed=3)


def images(n: int, values: int = 4, shape=(1, 4, 4), seed: int = 0) -> torch.Tensor:
    return torch.randint(values, (n, *shape), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("n, nrow, scale", [(1, 8, 1), (10, 4, 1), (16, 4, 3), (7, 8, 2)])
def test_grid_size(n, nrow, scale):
    image = image_grid(images(n), 4, nrow, scale=scale)
    columns, rows = min(n, nrow), -(-n // nrow)
    cell = 4 * scale + 2
    assert image.size == (columns * cell + 2, rows * cell + 2)
    assert image.mode == "RGB"


def test_grey_levels_scale_to_0_255():
    batch = torch.tensor([0, 1, 2, 3]).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    image = image_grid(batch, 4, nrow=4, padding=0)
    assert [image.getpixel((2 * i, 0)) for i in range(4)] == [
        (0, 0, 0), (85, 85, 85), (170, 170, 170), (255, 255, 255)]
    full = image_grid(torch.full((1, 1, 1, 1), 255), 256, padding=0)
    assert full.getpixel((0, 0)) == (255, 255, 255)


def test_rgb_images_and_hidden_pixels():
    rgb = to_rgb(torch.zeros(2, 3, 2, 2, dtype=torch.long), 2,
                 hidden=torch.tensor([[True, False], [False, False]]))
    assert rgb.shape == (2, 3, 2, 2) and rgb.dtype == torch.uint8
    assert tuple(rgb[1, :, 0, 0].tolist()) == HIDDEN_COLOUR
    assert rgb[1, :, 1, 1].tolist() == [0, 0, 0]
    with pytest.raises(TypeError):
        to_rgb(torch.zeros(1, 1, 2, 2), 2)


def test_save_grid_writes_a_png_atomically(tmp_path):
    from PIL import Image

    path = tmp_path / "grid.png"
    shown = save_grid(path, images(5), 4, nrow=5, scale=2)
    assert os.listdir(tmp_path) == ["grid.png"]
    with Image.open(path) as read:
        assert read.format == "PNG" and read.size == shown.size
        assert (numpy.asarray(read.convert("RGB")) == numpy.asarray(shown)).all()


@pytest.mark.parametrize(("name", "pil_format"), [("grid.jpg", "JPEG"), ("grid.JPEG", "JPEG"),
                                                 ("grid.pdf", "PDF"), ("grid.Png", "PNG")])
def test_save_grid_writes_the_format_its_suffix_names(tmp_path, name, pil_format):
    path = tmp_path / name
    shown = save_grid(path, images(5), 4, nrow=5, scale=2)
    assert os.listdir(tmp_path) == [name]
    data = path.read_bytes()
    if pil_format == "PDF":  # PIL reads no PDF: check the header and the embedded size
        assert data.startswith(b"%PDF-") and f"/Width {shown.width}".encode() in data
        return
    from PIL import Image

    with Image.open(path) as read:
        assert read.format == pil_format and read.size == shown.size
        error = numpy.abs(numpy.asarray(read.convert("RGB"), dtype=float) - numpy.asarray(shown))
        assert error.mean() < 4  # JPEG is lossy, but at quality 95 close to every pixel


def test_save_grid_as_svg_embeds_the_exact_pixels(tmp_path):
    import base64
    import io
    import re
    import xml.etree.ElementTree as ElementTree

    from PIL import Image

    path = tmp_path / "grid.svg"
    shown = save_grid(path, images(3), 4, nrow=3, scale=2)
    root = ElementTree.fromstring(path.read_text())  # well-formed XML
    assert root.get("width") == str(shown.width) and root.get("height") == str(shown.height)
    (href,) = re.findall(r'href="data:image/png;base64,([^"]+)"', path.read_text())
    with Image.open(io.BytesIO(base64.b64decode(href))) as embedded:
        assert (numpy.asarray(embedded.convert("RGB")) == numpy.asarray(shown)).all()


@pytest.mark.parametrize("name", ["grid.gif", "grid", "grid.png.bak", "grid.tiff"])
def test_an_unknown_picture_suffix_is_refused_before_writing(tmp_path, name):
    with pytest.raises(ValueError, match=r"expected \.png, \.jpg, \.jpeg, \.pdf or \.svg"):
        save_grid(tmp_path / name, images(2), 4)
    assert os.listdir(tmp_path) == []


def test_picture_format_names_the_format_of_each_suffix():
    assert [picture_format(n) for n in ("a.png", "b.JPG", "c.jpeg", "d.pdf", "e.SVG")] == \
        ["PNG", "JPEG", "JPEG", "PDF", "SVG"]
    with pytest.raises(ValueError, match=r"cannot tell the picture format of out \(no suffix\)"):
        picture_format("out")


@pytest.mark.parametrize("name, observed", [
    ("left", 392), ("right", 392), ("top", 392), ("bottom", 392), ("centre", 588),
    ("center", 588), ("first:100", 100), ("first:0", 0), ("first:784", 784),
])
def test_standard_masks_observe_the_right_counts(name, observed):
    mask = standard_mask(name, (1, 28, 28))
    assert mask.shape == (784,) and mask.dtype == torch.bool
    assert int(mask.sum()) == observed


def test_masks_hide_the_right_places():
    grid = {name: standard_mask(name, (1, 28, 28)).view(28, 28)
            for name in ("left", "right", "top", "bottom", "centre", "first:100")}
    assert not grid["left"][:, :14].any() and grid["left"][:, 14:].all()
    assert grid["right"][:, :14].all() and not grid["right"][:, 14:].any()
    assert not grid["top"][:14].any() and grid["top"][14:].all()
    assert grid["bottom"][:14].all() and not grid["bottom"][14:].any()
    assert not grid["centre"][7:21, 7:21].any()
    assert grid["centre"][:7].all() and grid["centre"][21:].all()
    assert grid["centre"][:, :7].all() and grid["centre"][:, 21:].all()
    first = grid["first:100"].reshape(-1)
    assert first[:100].all() and not first[100:].any()


def test_masks_cover_every_channel_and_odd_sizes():
    mask = standard_mask("first:5", (3, 4, 4)).view(3, 4, 4)
    assert int(mask.sum()) == 15 and (mask == mask[0]).all()
    assert int(standard_mask("left", (1, 5, 5)).sum()) == 15  # 2 of 5 columns hidden
    assert int(standard_mask("centre", (1, 5, 5)).sum()) == 21  # a 2x2 square hidden


def test_parse_masks_and_bad_names():
    masks = parse_masks(" left, first:3 ,top", (1, 4, 4))
    assert list(masks) == ["left", "first:3", "top"]
    with pytest.raises(ValueError, match="unknown mask 'diagonal'"):
        parse_masks("left,diagonal", (1, 4, 4))
    with pytest.raises(ValueError, match="only 16 pixels"):
        standard_mask("first:17", (1, 4, 4))
    with pytest.raises(ValueError):
        parse_masks(" , ", (1, 4, 4))


def test_inpainting_keeps_the_observed_pixels(circuit):
    batch = images(6, seed=4)
    masks = parse_masks("left,top,centre,first:5", circuit.image_shape)
    blocks = inpainting_rows(circuit, batch, masks, torch.Generator().manual_seed(0))
    assert [b.name for b in blocks] == list(masks)
    expected_rows = ["original", "masked", "sampled"] + (
        ["MAP"] if hasattr(circuit, "map_complete") else [])
    for block in blocks:
        assert list(block.rows) == expected_rows
        seen = block.observed.view(1, 1, 4, 4).expand(6, 1, 4, 4)
        assert torch.equal(block.rows["original"], batch)
        for label in expected_rows[2:]:
            completed = block.rows[label]
            assert completed.shape == batch.shape and completed.dtype == torch.long
            assert torch.equal(completed[seen], batch[seen]), (block.name, label)
            assert completed.min() >= 0 and completed.max() < 4


def test_flat_images_are_accepted(circuit):
    blocks = inpainting_rows(circuit, images(2).view(2, 16), {"top": standard_mask("top", (4, 4))})
    assert blocks[0].rows["sampled"].shape == (2, 1, 4, 4)


class _NoMap(nn.Module):
    """A circuit without map_complete: the MAP row is left out."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.image_shape, self.num_values = inner.image_shape, inner.num_values

    def sample_conditional(self, x, observed, generator=None):
        return self.inner.sample_conditional(x, observed, generator=generator)


def test_map_row_only_when_the_circuit_has_map_complete(circuit):
    blocks = inpainting_rows(_NoMap(circuit), images(2), {"left": standard_mask("left", (4, 4))})
    assert list(blocks[0].rows) == ["original", "masked", "sampled"]


@pytest.mark.parametrize("scale", [1, 3])
def test_inpainting_grid_paints_exactly_the_hidden_pixels_red(circuit, scale):
    masks = parse_masks("left,centre,first:5", circuit.image_shape)
    count = 5
    picture = inpainting_grid(circuit, images(count), masks, torch.Generator().manual_seed(1),
                              scale=scale)
    hidden = sum(int((~mask).sum()) for mask in masks.values())
    pixels = numpy.asarray(picture)
    red = int((pixels == numpy.array(HIDDEN_COLOUR, dtype=numpy.uint8)).all(axis=-1).sum())
    assert red == count * hidden * scale * scale
    cell = 4 * scale + 2
    assert picture.width > count * cell  # the images plus a column of labels
    rows = 4 if hasattr(circuit, "map_complete") else 3
    assert picture.height > len(masks) * rows * cell
