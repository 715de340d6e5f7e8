"""Chow-Liu trees: learning (mutual information, maximum spanning tree, root), the tree
file, the HCLT region graph, the spec's `chow_liu_tree(file = ...)` and `pcc learn
chow-liu`. Comparisons with libcirkit 0.3.1 run where it is installed."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

from pcdsl.diagnostics import CompileError
from pcdsl.driver import compile_source, emit_python
from pcdsl.ir.region_graphs import chow_liu
from pcdsl.ir.region_graphs.chow_liu import (
    ChowLiuTree,
    bin_values,
    check_parents,
    chow_liu_region_graph,
    learn_chow_liu_tree,
    maximum_spanning_tree,
    mutual_information,
    tree_from_json,
    tree_to_json,
)
from pcdsl.ir.scope import scope_of


def correlated(rows: int, variables: int, values: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    common = rng.integers(0, values, size=(rows, 1))
    noise = rng.integers(0, 2, size=(rows, variables)) * rng.integers(0, values, (rows, variables))
    return (common + noise) % values


def test_mutual_information_of_copies_and_independent_columns():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, size=5000)
    b = rng.integers(0, 4, size=5000)
    information = mutual_information(np.stack([a, a, b], axis=1), 4)
    assert information[0, 0] == 0.0
    assert abs(information[0, 1] - math.log(4)) < 0.01  # a copy: its entropy, ln 4
    assert information[0, 2] < 0.005  # independent: about 0
    np.testing.assert_allclose(information, information.T)


def brute_force_information(data: np.ndarray, values: int) -> np.ndarray:
    """The definition, pair by pair and cell by cell: smoothed joint and marginal
    frequencies, sum of p(a, b) log(p(a, b) / (p(a) p(b)))."""
    rows, variables = data.shape
    total = rows + values * values * 0.01
    information = np.zeros((variables, variables))
    for i in range(variables):
        for j in range(variables):
            if i == j:
                continue
            joint = np.full((values, values), 0.01)
            for a, b in zip(data[:, i], data[:, j]):
                joint[a, b] += 1
            p = joint / total
            pi = (np.bincount(data[:, i], minlength=values) + values * 0.01) / total
            pj = (np.bincount(data[:, j], minlength=values) + values * 0.01) / total
            information[i, j] = sum(p[a, b] * math.log(p[a, b] / (pi[a] * pj[b]))
                                    for a in range(values) for b in range(values))
    return information


@pytest.mark.parametrize("rows, variables, values", [(1, 2, 2), (40, 5, 3), (300, 7, 6), (90, 4, 17)])
def test_mutual_information_is_its_definition(rows, variables, values):
    data = correlated(rows, variables, values, seed=rows)
    kept = data.copy()
    information = mutual_information(data, values)
    np.testing.assert_array_equal(data, kept)  # the caller's data is left alone
    np.testing.assert_allclose(information, brute_force_information(data, values),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("block", [1, 50, 200])
def test_mutual_information_in_blocks_is_the_same(monkeypatch, block):
    # Blocks of one column pair, a few pairs, and a column's pairs split across blocks.
    data = correlated(25, 9, 3, seed=4)
    monkeypatch.setattr(chow_liu, "_BLOCK_ITEMS", block)
    np.testing.assert_allclose(mutual_information(data, 3), brute_force_information(data, 3),
                               rtol=1e-10, atol=1e-12)


def test_maximum_spanning_tree_takes_the_heaviest_edges():
    weights = np.array([[0, 5, 1, 1], [5, 0, 4, 1], [1, 4, 0, 3], [1, 1, 3, 0]], dtype=float)
    edges = {frozenset(e) for e in maximum_spanning_tree(weights)}
    assert edges == {frozenset((0, 1)), frozenset((1, 2)), frozenset((2, 3))}


def test_binning_follows_cirkit():
    binned, levels = bin_values(np.array([[0, 15, 16, 255]]), 256, 16)
    assert levels == 16 and binned.tolist() == [[0, 0, 1, 15]]
    assert bin_values(np.array([[3]]), 4, None)[1] == 4


def test_region_graph_of_the_documented_example():
    graph = chow_liu_region_graph([1, -1, 1, 2])
    root = graph.regions[graph.root]
    assert root.scope == 0b1111
    (partition,) = root.partitions
    parts = [graph.regions[r].scope for r in graph.partitions[partition].inputs]
    assert parts == [scope_of([0]), scope_of([1]), scope_of([2, 3])]
    assert len(graph.regions) == 6 and len(graph.partitions) == 2


@pytest.mark.parametrize("parents,message", [
    ([], "no variables"),
    ([0, -1], "cycle"),
    ([-1, -1], "one root"),
    ([1, 2, 0], "one root"),
    ([1, 5, -1], "variable"),
    ([2, -1, 3, 2], "cycle"),
])
def test_parent_arrays_that_are_not_trees(parents, message):
    with pytest.raises(ValueError, match=message):
        check_parents(parents)


def test_tree_file_round_trip():
    tree = learn_chow_liu_tree(correlated(300, 6, 3, 1), 3, (1, 2, 3))
    text = tree_to_json(tree)
    assert json.loads(text)["parents"] == list(tree.parents)
    again = tree_from_json(text)
    assert again.parents == tree.parents and again.image_shape == (1, 2, 3)
    assert dict(again.learned_from)["samples"] == 300
    for broken, message in [("{", "not JSON"), ('{"format": "x"}', "not a Chow-Liu"),
                            (text.replace('"version": 1', '"version": 9'), "version"),
                            (text.replace("[1, 2, 3]", "[1, 2, 2]"), "entries")]:
        with pytest.raises(ValueError, match=message):
            tree_from_json(broken)


SPEC = """model m {{
  data    = image(channels = 1, height = 2, width = 3, values = 3)
  regions = chow_liu_tree(file = "{file}")
  inputs  = categorical(units = 2)
  layers  = cp(units = 3)
}}"""


def test_spec_reads_the_tree_relative_to_its_folder(tmp_path):
    (tmp_path / "trees").mkdir()
    tree = ChowLiuTree((1, 2, 3), (1, -1, 1, 2, 3, 4))
    (tmp_path / "trees" / "t.json").write_text(tree_to_json(tree))
    compiled = compile_source(SPEC.format(file="trees/t.json"), str(tmp_path / "spec.pc"))
    model = compiled.models[0]
    assert model.report.is_smooth and model.report.is_decomposable
    assert model.report.is_structured_decomposable
    text = emit_python(compiled, model)
    assert "trees" not in text and "t.json" not in text  # no spec text in the module
    import hashlib
    digest = hashlib.sha256((tmp_path / "trees" / "t.json").read_bytes()).hexdigest()
    assert digest in text.splitlines()[2]


@pytest.mark.parametrize("content,words", [
    (None, "cannot read the tree file 'tree.json'"),
    ("not json", "is not a Chow-Liu tree file: not JSON"),
    (tree_to_json(ChowLiuTree((1, 3, 2), (1, -1, 1, 2, 3, 4))), "images of 1x3x2"),
])
def test_tree_file_problems_are_diagnostics_at_the_file_option(tmp_path, content, words):
    if content is not None:
        (tmp_path / "tree.json").write_text(content)
    with pytest.raises(CompileError) as info:
        compile_source(SPEC.format(file="tree.json"), str(tmp_path / "spec.pc"))
    (d,) = [d for d in info.value.diagnostics if d.is_error]
    assert words in d.message and d.code == "file"
    assert (d.span.line, d.span.column) == (3, 34)
    assert "pcc learn chow-liu" in d.hint


def _write_idx(path, array: np.ndarray) -> None:
    magic = 0x0800 | array.ndim | (0x08 << 8)  # unsigned bytes, ndim dimensions
    with open(path, "wb") as handle:
        handle.write(struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape))
        handle.write(array.astype(np.uint8).tobytes())


def synthetic_fashion_mnist(root, images: np.ndarray) -> None:
    """``images`` as both splits of a Fashion-MNIST in torchvision's raw layout under
    ``root`` (never downloaded)."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for split in ("train", "t10k"):
        _write_idx(raw / f"{split}-images-idx3-ubyte", images)
        _write_idx(raw / f"{split}-labels-idx1-ubyte", np.zeros(len(images)))


def test_pcc_learn_chow_liu_writes_a_tree_a_spec_can_use(tmp_path, capsys):
    """On a tiny synthetic Fashion-MNIST."""
    from pcdsl.cli.main import main

    rng = np.random.default_rng(0)
    images = np.clip(np.cumsum(rng.integers(-30, 31, size=(40, 28, 28)), axis=2) + 128, 0, 255)
    synthetic_fashion_mnist(tmp_path / "data", images)
    out = tmp_path / "tree.json"
    code = main(["learn", "chow-liu", "--dataset", "fashion-mnist", "--data-root",
                 str(tmp_path / "data"), "--bins", "2", "--limit", "30", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    tree = tree_from_json(out.read_text())
    assert tree.image_shape == (1, 28, 28) and len(tree.parents) == 784
    assert dict(tree.learned_from) == {"dataset": "fashion-mnist", "split": "train",
                                       "samples": 30, "values": 256, "bins": 2}
    assert "784 variables" in capsys.readouterr().out
    spec = tmp_path / "hclt.pc"
    spec.write_text('model m { data = image(height = 28, width = 28)\n'
                    '  regions = chow_liu_tree(file = "tree.json") layers = cp(units = 2)\n'
                    '  inputs = categorical(units = 2) }')
    assert main(["check", str(spec)]) == 0
    assert main(["learn", "chow-liu", "--dataset", "mnist", "--data-root",
                 str(tmp_path / "data"), "-o", str(out)]) == 2  # no MNIST there
    assert "cannot read the mnist data set" in capsys.readouterr().err


def test_pcc_learn_leaves_out_the_validation_images_of_pcc_train(tmp_path, capsys):
    """--valid N: the tree of the images pcc train --valid N trains on, no others."""
    from pcdsl.cli.main import main
    from pcdsl.runtime.data import load_split

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(60, 28, 28))
    images[:, :, 1] = images[:, :, 0]  # pixel pairs that a tree links
    synthetic_fashion_mnist(tmp_path / "data", images)
    out = tmp_path / "tree.json"
    code = main(["learn", "chow-liu", "--dataset", "fashion-mnist", "--data-root",
                 str(tmp_path / "data"), "--bins", "4", "--valid", "15", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "the 15 validation images of pcc train --valid left out" in capsys.readouterr().out
    tree = tree_from_json(out.read_text())
    assert dict(tree.learned_from)["held_out"] == 15 and dict(tree.learned_from)["samples"] == 45
    rest, held = load_split("fashion-mnist", str(tmp_path / "data"), train=True).held_out(15)
    expected = learn_chow_liu_tree(rest.images.numpy(), 256, (1, 28, 28), bins=4)
    assert tree.parents == expected.parents
    everything = learn_chow_liu_tree(images, 256, (1, 28, 28), bins=4)
    assert everything.parents != expected.parents  # the held-out images do change the tree
    assert main(["learn", "chow-liu", "--dataset", "fashion-mnist", "--data-root",
                 str(tmp_path / "data"), "--valid", "60", "-o", str(out)]) == 2
    assert "--valid 60: cannot hold out 60 of 60 images; hold out fewer" in capsys.readouterr().err


@pytest.mark.parametrize("seed", range(4))
def test_same_tree_as_cirkit(seed):
    import torch

    cirkit = pytest.importorskip("cirkit.templates.region_graph.algorithms.chow_liu")
    data = correlated(200, 12, 4, seed)
    ours = learn_chow_liu_tree(data, 4, (1, 3, 4))
    theirs = cirkit.ChowLiuTree(torch.tensor(data), "categorical", num_categories=4,
                                as_region_graph=False)
    assert ours.parents == tuple(int(p) for p in theirs)
    theirs_information = cirkit._categorical_mutual_info(torch.tensor(data), num_categories=4)
    np.testing.assert_allclose(mutual_information(data, 4), theirs_information.double().numpy(),
                               atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_same_region_graph_as_cirkit(seed):
    pytest.importorskip("cirkit")
    from cirkit.templates.region_graph.algorithms.utils import tree2rg

    from tests.ir.test_region_graph_parity import assert_same_structure

    parents = learn_chow_liu_tree(correlated(60, 10, 3, seed), 3, (1, 2, 5)).parents
    assert_same_structure(chow_liu_region_graph(parents), tree2rg(np.array(parents)))
    assert_same_structure(chow_liu_region_graph([-1]), tree2rg(np.array([-1])))
