"""Folding: every layer in exactly one fold, folds homogeneous, and their number grows
with the circuit's depth rather than its size."""

from __future__ import annotations

from pcdsl.driver import compile_source
from pcdsl.passes.fold import layer_depths


def folded_of(source: str):
    return compile_source(source, "spec.pc").models[0].folded


def test_each_layer_in_exactly_one_homogeneous_fold():
    folded = folded_of("model m { data = image(channels = 2, height = 7, width = 9) }")
    circuit = folded.circuit
    seen = [layer_id for fold in folded.folds for layer_id in fold.layers]
    assert sorted(seen) == list(range(len(circuit.layers)))
    depths = layer_depths(circuit)
    for fold in folded.folds:
        members = [circuit.layers[i] for i in fold.layers]
        assert {m.kind for m in members} == {fold.kind}
        assert {m.num_units for m in members} == {fold.num_units}
        assert {m.arity for m in members} == {fold.arity}
        assert {m.weight for m in members} == {fold.weight}
        assert {depths[m.id] for m in members} == {fold.depth}


def test_folds_read_only_earlier_folds():
    folded = folded_of("model m { data = image(height = 12, width = 12) }")
    for fold in folded.folds:
        if fold.gather is not None:
            assert all(source < fold.id for source in fold.gather.sources)
            assert len(fold.gather.index) == fold.arity
            assert all(len(row) == fold.size for row in fold.gather.index)


def test_fold_count_grows_with_depth_not_size():
    small = folded_of("model m { data = image(height = 8, width = 8) }")
    large = folded_of("model m { data = image(height = 28, width = 28) }")
    assert len(large.circuit.layers) > 10 * len(small.circuit.layers)
    assert len(large.folds) < 3 * len(small.folds)
    # One fold per layer kind per depth level at most, give or take border effects.
    assert len(large.folds) <= 2 * (large.depth + 1)
    assert len(large.folds) == 35


def test_most_folds_read_views():
    folded = folded_of("model m { data = image(height = 28, width = 28) }")
    gathered = [f for f in folded.folds if f.gather is not None]
    views = [f for f in gathered if f.gather.slice_start is not None]
    assert len(views) >= 0.7 * len(gathered)
