"""The size guard: image circuits up to 3x256x256 are built, and so are long chains (a
run per region); a learned tree so deep that its regions would hold too many variables
is refused when its file is read."""

from __future__ import annotations

import random

import pytest

from pcdsl.diagnostics import CompileError
from pcdsl.driver import compile_source
from pcdsl.ir.budget import size_errors
from pcdsl.ir.region_graphs.chow_liu import ChowLiuTree, chow_liu_region_graph, scope_entries, tree_to_json
from pcdsl.ir.region_graphs.linear_tree import linear_tree
from pcdsl.syntax.check import check_file
from pcdsl.syntax.parser import parse_source


def spec_of(source: str):
    specs, _ = check_file(parse_source(source, "spec.pc"))
    return specs[0]


@pytest.mark.parametrize("regions", ["quad_graph", "quad_tree(splits = 4)", "poon_domingos"])
def test_a_3x256x256_image_is_within_the_limits(regions):
    spec = spec_of(f"model m {{ data = image(channels = 3, height = 256, width = 256) regions = {regions} }}")
    assert size_errors(spec) == []


def test_a_long_chain_is_within_the_limits_one_run_per_region():
    spec = spec_of("model m {\n  data = image(height = 128, width = 128)\n  regions = linear_tree\n}\n")
    assert size_errors(spec) == []
    graph = linear_tree(128 * 128)
    assert all(len(region.runs) == 2 for region in graph.regions)  # one (start, stop) each
    assert graph.regions[graph.root].runs == (0, 128 * 128)


def _total(parents: list[int]) -> int:
    return sum(r.size for r in chow_liu_region_graph(parents).regions)


def test_chow_liu_scope_entries_bound_the_regions_closely():
    rng = random.Random(5)
    chain = [-1] + list(range(9))
    star = [-1] + [0] * 9
    shuffled = [-1] + [rng.randrange(v) for v in range(1, 40)]  # each parent earlier: a tree
    for parents in (chain, star, shuffled):
        leaves = len(parents) - len({p for p in parents if p >= 0})
        # Every variable in its leaf, its own region and its ancestors' regions; a variable
        # without children has no region of its own.
        assert scope_entries(parents) - leaves == _total(parents)
    assert _total(chain) == 10 + sum(range(2, 11))


def test_a_deep_tree_file_is_refused_before_its_graph_is_built():
    side = 128
    chain = tuple([-1] + list(range(side * side - 1)))
    tree = tree_to_json(ChowLiuTree((1, side, side), chain))
    source = (f"model m {{\n  data = image(height = {side}, width = {side})\n"
              '  regions = chow_liu_tree(file = "tree.json")\n}\n')
    with pytest.raises(CompileError) as caught:
        compile_source(source, "spec.pc", files={"tree.json": tree.encode()})
    (d,) = caught.value.diagnostics
    assert d.code == "too-large" and d.span.line == 3 and "so deep" in d.message
