"""Index tables written as runs: decoded by ``_expand`` (kernels/tables.py, which every
module carries verbatim) they are exactly the tables of the folded circuit, they make
image modules short, and a spec compiles to the same text every time."""

from __future__ import annotations

import random

from pcdsl.codegen.emit import _table_runs
from pcdsl.codegen.inline import kernel_statements
from pcdsl.codegen.kernels.tables import _expand
from pcdsl.driver import compile_source, emit_python

QUAD = "model m {{ data = image(channels = 3, height = {side}, width = {side}, values = 4) }}"


def module_of(source: str) -> tuple[dict, str, object]:
    compiled = compile_source(source, "spec.pc")
    text = emit_python(compiled, compiled.models[0])
    namespace: dict = {"__name__": "generated"}
    exec(compile(text, "generated.py", "exec"), namespace)
    return namespace, text, compiled.models[0].folded




def sequences():
    rng = random.Random(7)
    yield []
    yield [5]
    yield [3, 3, 3, 3]
    yield list(range(10, 0, -1))
    for _ in range(300):
        n = rng.randrange(1, 200)
        kind = rng.randrange(3)
        if kind == 0:  # irregular
            yield [rng.randrange(50) for _ in range(n)]
        elif kind == 1:  # arithmetic pieces
            yield [v for _ in range(rng.randrange(1, 6))
                   for v in range(rng.randrange(20), 200, rng.randrange(1, 4))][:n]
        else:  # blocks that repeat the one before, shifted: the tables of quad-trees
            values = [rng.randrange(5)]
            while len(values) < n:
                values += [v + rng.randrange(1, 9) * len(values) for v in values]
            yield values[:n]


def test_runs_decode_to_the_values():
    for values in sequences():
        runs = _table_runs(values)
        assert _expand(tuple(runs)) == values
        assert sum(count for _, _, count in runs) == len(values)
        done = 0
        for first, _, count in runs:  # a repeat reads only values already there
            assert first >= 0 or -first <= done
            done += count


def test_quad_graph_tables_are_a_few_runs_and_read_the_folds():
    namespace, text, folded = module_of(QUAD.format(side=32))
    assert "_expand(" in text and len(text.splitlines()) < 2000
    module = namespace["Circuit"]()
    (inputs,) = [f for f in folded.folds if f.kind.is_input]
    assert getattr(module, f"variables_{inputs.id}").tolist() == list(inputs.variables)


def test_the_module_carries_the_kernel_verbatim_and_imports_only_torch():
    _, text, _ = module_of(QUAD.format(side=4))
    (expand,) = [k for k in kernel_statements() if "_expand" in k.defines]
    assert expand.source in text and "def _expand(" in text
    imports = {line.split()[1] for line in text.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"__future__", "torch"}


def test_the_same_spec_gives_the_same_text():
    source = QUAD.format(side=16)
    assert module_of(source)[1] == module_of(source)[1]
