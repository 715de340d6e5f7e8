"""Emit the Python source of a folded circuit.

Python decides what to write (names, shapes, gather strategies, constants); the
template in ``templates/`` only lays it out, and the kernels it calls (``kernels/``) are
inlined after rendering, only those it uses (``with_kernels``, ``inline.py``). Nothing
from the spec reaches the output except the model name and the spec's file name, both
validated against a strict pattern, and numbers.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import re
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

import jinja2
import numpy as np

from pcdsl import __version__
from pcdsl.codegen.inline import inline_kernels
from pcdsl.ir.circuit import LayerKind, Weight
from pcdsl.passes.fold import Fold, FoldedCircuit, Gather
from pcdsl.passes.structure import StructureReport

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")
_LINE_WIDTH = 99


@dataclass(frozen=True)
class _Parameter:
    name: str
    shape: str
    init: str
    comment: str


@dataclass(frozen=True)
class _Buffer:
    name: str
    constant: str
    shape: str
    coded: bool = False  # the constant holds runs for _expand, not the values

    @property
    def statement(self) -> str:
        """The line (or two) of ``__init__`` registering the buffer."""
        values = f"_expand({self.constant})" if self.coded else self.constant
        call = f'self.register_buffer("{self.name}", _index({values}, {self.shape})'
        if 8 + len(call) + len(", persistent=False)") <= _LINE_WIDTH:
            return call + ", persistent=False)"
        return call + ",\n" + " " * 29 + "persistent=False)"


@dataclass(frozen=True)
class _Step:
    comment: str
    code: str
    split: str  # the statement splitting this fold's output into the chunks others read
    release: str = ""  # the statement dropping the names no later statement reads


@dataclass(frozen=True)
class _Read:
    """Rows of an input table that a fold reads, looked up before the folds run."""

    name: str  # the variable holding the (h, s) pair
    variables: str
    rows: str
    weights: str = ""  # the dense sums over the rows, rather than the rows themselves
    arity: int = 1  # with weights: the Hadamard products of this many runs of the sums
    when_no_table: bool = False  # read only when the dense table of the reader is unused


@dataclass(frozen=True)
class _Constant:
    name: str
    text: str


@dataclass(frozen=True)
class _Normalised:
    """One entry of the module's ``normalised()`` dictionary."""

    key: str
    code: str
    from_log: str = ""  # the same entry computed from ``log_weights[key]`` (for EM)
    rule: str = ""  # how EM turns expected counts back into the parameter
    log_code: str = ""  # the entry's log-weights, computed from the parameter


def _parameter_name(fold: Fold) -> str:
    """The fold's key in ``normalised()``; also its parameter's name, except for gaussian
    folds, whose parameters are ``<key>_mean`` and ``<key>_std``."""
    return f"{fold.kind.value}_{fold.id}"


def _activated(weight: Weight, parameter: str) -> str:
    """Expression for the values of a parameter: its activation, exponentiated for log-space
    parameters (categorical logits)."""
    value = {
        "softmax": f"torch.softmax({parameter}, dim=-1)",
        "sigmoid": f"torch.sigmoid({parameter})",
        "softplus": f"torch.nn.functional.softplus({parameter})",
        "positive_clamp": f"{parameter}.clamp(min={weight.minimum!r})",
        "none": parameter,
    }[weight.activation]
    return f"torch.exp({value})" if weight.log_space else value


def _log_activated(weight: Weight, parameter: str) -> str:
    """Expression for the natural log of a parameter's values."""
    if weight.log_space:
        return _activated(replace(weight, log_space=False), parameter)
    if weight.activation == "softmax":
        return f"torch.log_softmax({parameter}, dim=-1)"
    if weight.activation == "sigmoid":
        return f"torch.nn.functional.logsigmoid({parameter})"
    return f"torch.log({_activated(weight, parameter)})"


def _activation_doc(weight: Weight, over: str) -> str:
    """How a parameter's free values become its values, for the parameter comments."""
    doc = {"softmax": f"softmax over {over}", "sigmoid": "sigmoid", "softplus": "softplus",
           "positive_clamp": f"clamped at {weight.minimum!r}", "none": "as they are"}
    return f"exp of {doc[weight.activation]}" if weight.log_space else doc[weight.activation]


class _Plan:
    """Decides how every fold reads its inputs and writes the statements of ``forward``.

    * Input folds are never materialised: ``normalised()`` turns their logits into a
      table of probabilities per (variable, value), rescaled per row, and folds read
      the rows they need straight from it. Every read of one table happens at once, at
      the start of the pass (``_lookups``), so that backward adds all of their gradients
      into a single table-sized buffer.
    * A dense fold over inputs alone is itself a table, (members x values) rows of its
      outputs; it is used whenever no gradient is needed (then it is cached) or the
      batch has at least twice as many rows as there are values, so a lookup replaces the
      matrix product.
    * A fold reading a contiguous run of one earlier fold gets chunks of that fold's
      output from ``split``: unlike slicing, split's backward is one concatenation
      rather than a zero-filled copy of the whole output per reader.
    * Anything else gathers by an index table (``_take``).
    """

    def __init__(self, folded: FoldedCircuit) -> None:
        self.folded = folded
        self.inputs = {f.id for f in folded.folds if f.kind.is_input}
        self.buffers: list[_Buffer] = []
        self.constants: list[_Constant] = []
        self.normalised: list[_Normalised] = []
        self.dense_tables: list[_Normalised] = []
        self.reads: dict[int, list[_Read]] = {}  # input fold -> reads of its table
        bounds: dict[int, set[int]] = {}
        for fold in folded.folds:
            gather = fold.gather
            if gather is None or gather.slice_start is None or gather.sources[0] in self.inputs:
                continue
            if self.reads_whole_fold(fold):
                continue  # read whole by _hadamard_runs
            (source,) = gather.sources
            cuts = bounds.setdefault(source, {0, folded.folds[source].size})
            cuts.update(gather.slice_start + a * gather.width for a in range(gather.arity + 1))
        self.bounds = {source: sorted(cuts) for source, cuts in bounds.items()}
        for fold in folded.folds:
            if fold.kind.is_input:
                self.buffer(f"variables_{fold.id}", list(fold.variables), (fold.size,))
            else:
                self.children(fold)
        readers: dict[int, int] = {}
        for fold in folded.folds:
            for source in set(fold.gather.sources) if fold.gather is not None else ():
                readers[source] = readers.get(source, 0) + 1
        # A product fold over the whole output of a dense fold over an input table, its
        # only reader: both come from the table's rows at once (see ``_Rows``).
        self.fused: dict[int, int] = {}  # product fold -> the dense fold it is computed with
        for fold in folded.folds:
            if fold.kind is not LayerKind.HADAMARD or not self.reads_whole_fold(fold):
                continue
            dense = folded.folds[fold.gather.sources[0]]
            if (dense.kind is LayerKind.DENSE and readers.get(dense.id) == 1
                    and dense.id != folded.output_fold and len(dense.gather.sources) == 1
                    and dense.gather.sources[0] in self.inputs
                    and folded.folds[dense.gather.sources[0]].kind.has_table):
                self.fused[fold.id] = dense.id
        self.dense_reads: dict[int, _Read] = {}  # fused dense folds' reads, by product fold
        # A product fold over the whole output of a dense fold over other folds, its only
        # reader (a CP layer's sums and products): both in one statement, ``_dense_runs``,
        # which on CUDA can compute them in one kernel when no gradient is wanted.
        self.with_products: dict[int, int] = {}  # dense fold -> the product fold over it
        for fold in folded.folds:
            if fold.kind is not LayerKind.HADAMARD or not self.reads_whole_fold(fold) \
                    or fold.id in self.fused:
                continue
            dense = folded.folds[fold.gather.sources[0]]
            if dense.gather is None:  # sums over the data itself
                continue
            over_inputs = len(dense.gather.sources) == 1 and dense.gather.sources[0] in self.inputs
            if (dense.kind is LayerKind.DENSE and readers.get(dense.id) == 1
                    and dense.id != folded.output_fold and not over_inputs):
                self.with_products[dense.id] = fold.id
        self.leaves = {f.id for f in folded.folds if f.kind is LayerKind.HADAMARD
                       and f.gather is not None and len(f.gather.sources) == 1
                       and f.gather.sources[0] in self.inputs}
        logged = {self.folded.folds[leaf].gather.sources[0] for leaf in self.leaves}
        for fold in folded.folds:
            if fold.kind.is_input:
                self.normalised.append(_input_entry(fold, fold.id in logged))
            elif fold.weight is not None:
                name = _parameter_name(fold)
                if fold.weight.is_normalised:
                    self.normalised.append(_Normalised(
                        name, f"torch.softmax(self.{name}, dim=-1)",
                        f"log_weights[\"{name}\"].exp()", "softmax",
                        f"torch.log_softmax(self.{name}, dim=-1)"))
                else:  # not for EM: computed from the parameter, also given log-weights
                    code = _activated(fold.weight, f"self.{name}")
                    self.normalised.append(_Normalised(name, code, code))

    def reads_whole_fold(self, fold: Fold) -> bool:
        """A product fold whose slots are the consecutive runs of one whole earlier fold:
        computed by the fused ``_hadamard_runs``."""
        gather = fold.gather
        return (fold.kind is LayerKind.HADAMARD and gather is not None
                and gather.slice_start == 0
                and gather.arity * gather.width == self.folded.folds[gather.sources[0]].size)

    def locate(self, gather: Gather) -> list[tuple[int, int]]:
        """(source fold, row) of every slot of every member, in index-table order."""
        sizes = [self.folded.folds[source].size for source in gather.sources]
        starts = np.cumsum([0, *sizes[:-1]])  # of each source in the concatenation
        positions = np.asarray(gather.index, np.int64).reshape(-1)
        which = np.searchsorted(starts, positions, side="right") - 1
        sources = np.asarray(gather.sources, np.int64)[which]
        return list(zip(sources.tolist(), (positions - starts[which]).tolist()))

    def children(self, fold: Fold) -> None:
        """Index tables of the (fold, row) each input slot of each member reads."""
        gather = fold.gather
        assert gather is not None
        located = self.locate(gather)
        shape = (gather.arity, gather.width)
        self.buffer(f"child_folds_{fold.id}", [s for s, _ in located], shape)
        self.buffer(f"child_rows_{fold.id}", [row for _, row in located], shape)

    def buffer(self, name: str, values: list[int], shape: tuple[int, ...]) -> str:
        constant = f"_{name.upper()}"
        # As runs where that is shorter (tables over images), else as the values. The
        # values' literal is written only when the runs are not clearly shorter: it is at
        # least as long as its items, and a large table's is megabytes of text.
        runs = _table_runs_literal(_table_runs(values))
        coded = len(runs) < _items_length(values)
        if not coded:
            literal = _tuple_literal(values)
            coded = len(runs) < len(literal)
        self.constants.append(_Constant(constant, runs if coded else literal))
        self.buffers.append(_Buffer(name, constant, _shape(shape), coded))
        return f"self.{name}"

    def lookup(self, source: int, positions: list[int], name: str) -> str:
        """Expression for members ``positions`` of input fold ``source``: a (h, s) pair,
        rows of its table (or, for gaussian inputs, densities of the batch's values)."""
        fold = self.folded.folds[source]
        variables = self.buffer(f"variables_{name}", [fold.variables[p] for p in positions],
                                (len(positions),))
        rows = self.buffer(f"rows_{name}", [p * _stride(fold) for p in positions],
                           (len(positions),))
        if fold.kind is LayerKind.GAUSSIAN:
            return f"_gaussian_lookup(w[\"{_parameter_name(fold)}\"], data, {variables}, {rows})"
        return self.read(source, _Read(f"read_{name}", variables, rows))

    def read(self, source: int, read: _Read) -> str:
        """Register a read of an input fold's table; its variable's name."""
        self.reads.setdefault(source, []).append(read)
        return read.name

    def read_statements(self) -> list[str]:
        """The statements, before the first fold, that look up every table's reads."""
        statements = []
        for source, reads in self.reads.items():
            table = _parameter_name(self.folded.folds[source])
            names = ", ".join(r.name for r in reads) + ("," if len(reads) == 1 else "")
            call = f"_lookups(w[\"{table}\"], data, ("
            if 8 + len(f"{names} = {call}") > _LINE_WIDTH:  # the names wrapped in parentheses
                lines = textwrap.wrap(names, _LINE_WIDTH - 12, break_on_hyphens=False)
                names = "(\n" + "".join(" " * 12 + line + "\n" for line in lines) + " " * 8 + ")"
            entries = "".join(
                f"\n            {'None if lookup else ' if r.when_no_table else ''}"
                f"({r.variables}, {r.rows}{', ' + r.weights if r.weights else ''}"
                f"{f', {r.arity}' if r.arity > 1 else ''})," for r in reads)
            statements.append(f"{names} = {call}{entries}\n        ))")
        return statements

    def split_statement(self, source: int) -> str:
        cuts = self.bounds.get(source)
        if cuts is None or len(cuts) == 2:
            return ""
        sizes = _shape(tuple(b - a for a, b in zip(cuts, cuts[1:])))
        statement = f"hc{source}, sc{source} = h{source}.split({sizes}), s{source}.split({sizes})"
        if 8 + len(statement) > _LINE_WIDTH:  # the sizes as a constant of the file
            name = f"_SPLIT_{source}"
            self.constants.append(_Constant(name, _tuple_literal(
                [b - a for a, b in zip(cuts, cuts[1:])])))
            statement = f"hc{source}, sc{source} = h{source}.split({name}), s{source}.split({name})"
        return statement

    def rows(self, source: int, start: int, stop: int) -> tuple[str, str]:
        """Expressions for rows [start, stop) of a materialised fold's h and s."""
        cuts = self.bounds[source]
        if len(cuts) == 2:
            return f"h{source}", f"s{source}"
        first, last = cuts.index(start), cuts.index(stop)
        if last == first + 1:
            return f"hc{source}[{first}]", f"sc{source}[{first}]"
        hs = ", ".join(f"hc{source}[{k}]" for k in range(first, last))
        ss = ", ".join(f"sc{source}[{k}]" for k in range(first, last))
        return f"torch.cat(({hs}))", f"torch.cat(({ss}))"

    def step(self, fold: Fold) -> _Step:
        comment, code = self.statement(fold)
        # A dense fold computed with its products ends where they do: theirs is the split.
        return _Step(comment, code, self.split_statement(self.with_products.get(fold.id, fold.id)))

    def steps(self) -> list[_Step]:
        """A step per fold that is not an input, but one for a dense fold and the products
        over it."""
        products = set(self.with_products.values())
        return [self.step(fold) for fold in self.folded.folds
                if not fold.kind.is_input and fold.id not in products]

    def released(self, steps: list[_Step], output: str) -> list[_Step]:
        """The steps with ``del`` statements for the names that no later statement (nor the
        result ``output``) reads, so that a pass without gradients holds only the outputs
        still to be read: a name would otherwise keep its tensor until the pass returns.
        Outputs of dense folds computed with their products exist only in one branch
        (lookup mode, or sampling's) and are dropped inside it."""
        name = re.compile(r"(?<!\w)(?:hc?\d+|sc?\d+|read_\w+)(?!\w)")
        fused = {f"{v}{d}" for d in (*self.fused.values(), *self.with_products) for v in "hs"}
        last: dict[str, int] = {}
        for k, step in enumerate(steps):
            for found in name.findall(step.code + "\n" + step.split):
                last[found] = k
        for found in name.findall(output):
            last.pop(found, None)
        released = []
        for k, step in enumerate(steps):
            dead = sorted((n for n, at in last.items() if at == k and n not in fused),
                          key=lambda n: (n.startswith("read_"), n[1:2] == "c", n))
            release = f"del {', '.join(dead)}" if dead else ""
            released.append(replace(step, release=release))
        return released

    def statement(self, fold: Fold) -> tuple[str, str]:
        """The comment and the code computing a fold's output (h, s)."""
        i = fold.id
        gather = fold.gather
        assert gather is not None
        weights = f'w["{_parameter_name(fold)}"]' if fold.weight is not None else ""
        if fold.id in self.leaves:
            return self.leaf_product(fold)
        if fold.kind is LayerKind.DENSE and set(gather.sources) <= self.inputs \
                and len(gather.sources) == 1:
            return self.dense_over_inputs(fold, weights)
        if self.reads_whole_fold(fold) and gather.sources[0] not in self.inputs:
            # The products of the runs of one whole fold: one fused function.
            (source,) = gather.sources
            code = f"{_output(i)} = _hadamard_runs(h{source}, s{source}, arity={gather.arity})"
            if i in self.fused:
                read = self.read(self.folded.folds[self.fused[i]].gather.sources[0],
                                 replace(self.dense_reads[i], name=f"read_{i}",
                                         arity=gather.arity))
                code = (f"if lookup:\n            {code}\n            del h{source}, s{source}\n"
                        f"        else:  # with the sums below them, from the rows read above\n"
                        f"            {_output(i)} = {read}")
            return _describe_fold(fold), code
        if gather.slice_start is not None and gather.sources[0] not in self.inputs:
            (source,) = gather.sources
            slots = [self.rows(source, gather.slice_start + a * gather.width,
                               gather.slice_start + (a + 1) * gather.width)
                     for a in range(gather.arity)]
            if fold.kind is LayerKind.DENSE:
                arguments = [slots[0][0], slots[0][1]]
            else:
                arguments = [_runs([h for h, _ in slots]), _runs([s for _, s in slots])]
        else:
            arguments = [self.gathered(fold)]
        function = {LayerKind.DENSE: "_dense", LayerKind.HADAMARD: "_hadamard",
                    LayerKind.KRONECKER: "_kronecker", LayerKind.MIXING: "_mixing",
                    LayerKind.STACKED: "_stacked"}.get(fold.kind)
        if function is None:
            raise AssertionError(f"no code for {fold.kind} folds")
        if weights:
            arguments.append(weights)
        if i in self.with_products:
            return self.dense_with_products(fold, arguments)
        code = _call(_output(i), function, arguments)
        return _describe_fold(fold), code

    def dense_with_products(self, fold: Fold, arguments: list[str]) -> tuple[str, str]:
        """A dense fold and the product fold over the runs of its output, in one statement:
        ``_dense_runs``, or for sampling (which reads the sums too) the two kernels."""
        i, product = fold.id, self.folded.folds[self.with_products[fold.id]]
        arity = product.gather.arity
        nested = [a.replace("\n", "\n    ") for a in arguments]  # one level deeper
        sums = _call(_output(i), "_dense", nested, indent=12)
        products = f"{_output(product.id)} = _hadamard_runs(h{i}, s{i}, arity={arity})"
        together = _call(f"h{product.id}, s{product.id}", "_dense_runs",
                         [*nested, f"arity={arity}"], indent=12)
        code = (f"if keep:  # sampling reads the sums too\n"
                f"            {sums}\n"
                f"            {products}\n"
                f"            del h{i}, s{i}\n"
                f"        else:\n"
                f"            {together}")
        n = product.size
        return (f"{_describe_fold(fold)}, then {n} Hadamard product{'s' if n != 1 else ''} "
                f"of their {arity} runs"), code

    def gathered(self, fold: Fold) -> str:
        """Inputs gathered by an index table; rows of input folds come from lookups."""
        gather = fold.gather
        assert gather is not None
        located = self.locate(gather)
        if len(gather.sources) == 1 and gather.sources[0] in self.inputs:
            # Only input rows: look them up in gather order, no index table needed.
            lookup = self.lookup(gather.sources[0], [p for _, p in located], f"{fold.id}")
            return f"*{lookup}" if gather.arity == 1 else f"*_unstack({lookup}, {gather.arity})"
        parts: list[str] = []
        base: dict[int, int] = {}
        rank: dict[tuple[int, int], int] = {}
        total = 0
        for source in gather.sources:
            base[source] = total
            if source in self.inputs:
                rows = list(dict.fromkeys(p for s, p in located if s == source))
                rank.update(((source, p), r) for r, p in enumerate(rows))
                parts.append(self.lookup(source, rows, f"{fold.id}_{source}"))
                total += len(rows)
            else:
                parts.append(f"(h{source}, s{source})")
                total += self.folded.folds[source].size
        flat = [base[s] + (rank[(s, p)] if s in self.inputs else p) for s, p in located]
        shape = (gather.width,) if gather.arity == 1 else (gather.arity, gather.width)
        index = self.buffer(f"gather_{fold.id}", flat, shape)
        if len(parts) == 1:
            return f"*_take(({parts[0]},), {index})"
        indent = "\n" + " " * 12
        return f"*_take(({indent}{(',' + indent).join(parts)},{indent}), {index})"

    def leaf_product(self, fold: Fold) -> tuple[str, str]:
        """A product of input units over several variables, taken in log space."""
        gather = fold.gather
        assert gather is not None
        (source,) = gather.sources
        input_fold = self.folded.folds[source]
        shape = (gather.arity, gather.width)
        flat = [p for row in gather.index for p in row]
        variables = self.buffer(f"variables_{fold.id}", [input_fold.variables[p] for p in flat],
                                shape)
        rows = self.buffer(f"rows_{fold.id}", [p * _stride(input_fold) for p in flat], shape)
        i = fold.id
        function = ("_gaussian_leaf_product" if input_fold.kind is LayerKind.GAUSSIAN
                    else "_leaf_product")
        code = (f"{_output(i)} = {function}(w[\"{_parameter_name(input_fold)}\"], data, "
                f"{variables}, {rows})")
        return _describe_fold(fold) + " (leaf: in log space)", code

    def dense_over_inputs(self, fold: Fold, weights: str) -> tuple[str, str]:
        """A dense fold over one input fold: a lookup in its own table, or a lookup then
        a matrix product when gradients flow and the batch is small."""
        gather = fold.gather
        assert gather is not None
        (source,) = gather.sources
        input_fold = self.folded.folds[source]
        positions = list(gather.index[0])
        if not input_fold.kind.has_table:  # gaussian inputs: densities, then the sums
            code = _call(_output(fold.id), "_dense",
                         [f"*{self.lookup(source, positions, str(fold.id))}", weights])
            return _describe_fold(fold), code
        stride = _stride(input_fold)
        table = f"table_{fold.id}"
        sources = self.buffer(f"positions_{fold.id}", positions, (len(positions),))
        self.dense_tables.append(_Normalised(
            table, f'_dense_table(w["{_parameter_name(input_fold)}"], {sources}, {weights})'))
        variables = self.buffer(f"variables_{fold.id}",
                                [input_fold.variables[p] for p in positions], (len(positions),))
        own_rows = self.buffer(f"rows_{fold.id}", [f * stride for f in range(len(positions))],
                               (len(positions),))
        input_rows = self.buffer(f"input_rows_{fold.id}", [p * stride for p in positions],
                                 (len(positions),))
        i = fold.id
        read = _Read(f"read_{i}", variables, input_rows, weights, when_no_table=True)
        looked_up = (f"if lookup:\n"
                     f"            {_output(i)} = _lookup(w[\"{table}\"], data, {variables}, "
                     f"{own_rows})")
        product = next((p for p, d in self.fused.items() if d == i), None)
        if product is not None:  # else computed with the products that read it
            self.dense_reads[product] = read
            return _describe_fold(fold) + " (over inputs: a table lookup, or fused below)", \
                looked_up
        sums = self.read(source, read)
        code = (f"{looked_up}\n"
                f"        else:  # the sums over the rows read above\n"
                f"            {_output(i)} = {sums}")
        return _describe_fold(fold) + " (over inputs: a table lookup)", code


TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    # Long expressions wrapped after the text before them on the line: `"key": ` in a dict,
    # `w["key"] = ` in an assignment.
    environment.filters["entry"] = lambda code, key, indent: _wrapped(
        code, indent + len(key) + 4, indent)
    environment.filters["assignment"] = lambda code, key, indent: _wrapped(
        code, indent + len(key) + 7, indent)
    return environment


def _arguments(call: str) -> tuple[str, list[str]] | None:
    """``f(a, g(b, c))`` -> ("f", ["a", "g(b, c)"]): a call's top-level arguments."""
    opening = call.find("(")
    if opening < 0 or not call.endswith(")"):
        return None
    arguments, depth, start = [], 0, opening + 1
    for position in range(opening, len(call) - 1):
        character = call[position]
        depth += character in "([{"
        depth -= character in ")]}"
        if depth == 0:
            return None  # the first parenthesis closes before the end: not one call
        if character == "," and depth == 1:
            arguments.append(call[start:position].strip())
            start = position + 1
    arguments.append(call[start:-1].strip())
    return call[:opening], arguments


def template_sha256(name: str) -> str:
    return hashlib.sha256((TEMPLATES / name).read_bytes()).hexdigest()


def precompiled_module_name(name: str) -> str:
    """``circuit.py.j2`` -> ``pcdsl.codegen.precompiled.circuit``."""
    return f"{__package__}.precompiled.{name.split('.')[0]}"


def precompiled_source(name: str) -> str:
    """The text of the shipped module that holds template ``name`` compiled by Jinja (what
    ``get_template`` would compile on every run, about a tenth of a small spec's compile)."""
    source = (TEMPLATES / name).read_text(encoding="utf-8")
    code = _environment().compile(source, name, name, raw=True, defer_init=True)
    return (
        f'"""Template {name}, compiled by Jinja: generated by scripts/regenerate.py, do not edit.\n\n'
        "pcdsl.codegen.emit uses it only while TEMPLATE_SHA256 and JINJA_VERSION match the\n"
        'template and the installed Jinja; otherwise it compiles the template itself."""\n\n'
        f"TEMPLATE_SHA256 = {template_sha256(name)!r}\n"
        f"JINJA_VERSION = {jinja2.__version__!r}\n\n"
        f"{code}"
    )


@functools.cache
def template(name: str) -> jinja2.Template:
    """Template ``name`` of ``templates/``: the shipped precompiled one while it is that of the
    template and of this Jinja, else compiled from the template (same text out, slower)."""
    environment = _environment()
    try:
        module = importlib.import_module(precompiled_module_name(name))
    except ImportError:
        module = None
    if (module is not None and getattr(module, "JINJA_VERSION", None) == jinja2.__version__
            and getattr(module, "TEMPLATE_SHA256", None) == template_sha256(name)):
        # The module's own namespace: its functions read `environment` from there.
        return environment.template_class.from_module_dict(
            environment, vars(module), environment.make_globals(None))
    return environment.get_template(name)



def _wrapped(code: str, column: int, indent: int) -> str:
    """``code`` starting at ``column``, its call's arguments one per line (at ``indent``
    plus 4) when it does not fit the line width."""
    parsed = _arguments(code)
    if column + len(code) <= _LINE_WIDTH or parsed is None:
        return code
    function, arguments = parsed
    inner = " " * (indent + 4)
    return (f"{function}(\n" + "".join(f"{inner}{a},\n" for a in arguments)
            + " " * indent + ")")


# Repeats up to this long are compared in Python, longer ones with numpy.
_SHORT_REPEAT = 32


def _table_runs(values: list[int]) -> list[tuple[int, int, int]]:
    """``values`` (none negative) coded as runs, exactly, for the module's ``_expand``:
    ``(start, step, count)`` is ``count`` values from ``start`` by ``step``, and
    ``(-back, delta, count)`` repeats ``count`` values from ``back`` places earlier, plus
    ``delta``. Index tables over images are mostly such repeats (a block of the table is
    the one before it, shifted), so a 3x128x128 quad-graph's 570,000 entries are 180 runs.
    Greedy: at each place the longest run of either kind, repeats tried ``back`` = 1, 2,
    4, ... (the blocks of a quad-tree)."""
    n = len(values)
    if n < 2:
        return [(v, 0, 1) for v in values]
    v = np.asarray(values, np.int64)
    # stretch[i]: where the run of equal steps through v[i], v[i + 1] ends (exclusive).
    steps = np.diff(v)
    ends = np.append(np.flatnonzero(steps[1:] != steps[:-1]) + 1, len(steps))
    # Lists, not arrays: the greedy loop below reads single items, which numpy makes slow.
    stretch = (np.repeat(ends, np.diff(ends, prepend=0)) + 1).tolist()
    step_at = steps.tolist()
    runs: list[tuple[int, int, int]] = []
    i = 0
    while i < n:
        length = stretch[i] - i if i < n - 1 else 1
        start, step, best = values[i], (step_at[i] if length > 1 else 0), length
        left = n - i
        back = 1
        while back <= i:
            count = back if back < left else left
            if count > best:
                delta = values[i] - values[i - back]
                # The second value first: most repeats that fail, fail there, cheaply.
                if values[i + 1] - values[i + 1 - back] == delta:
                    if count <= _SHORT_REPEAT:  # item by item: numpy's call costs more
                        match = 2
                        while match < count and values[i + match] - values[i + match - back] == delta:
                            match += 1
                    else:
                        mismatch = np.flatnonzero(
                            v[i:i + count] - v[i - back:i - back + count] != delta)
                        match = int(mismatch[0]) if len(mismatch) else count
                    if match > best:
                        start, step, best = -back, delta, match
            back *= 2
        runs.append((start, step, best))
        i += best
    return runs


def _table_runs_literal(runs: list[tuple[int, int, int]], indent: str = "    ") -> str:
    """Runs for ``_expand``, wrapped to the line width, a run per item."""
    return _literal_lines([f"({a}, {b}, {c}), " for a, b, c in runs], indent)


def _tuple_literal(values: list[int], indent: str = "    ") -> str:
    """A tuple of ints wrapped to the line width."""
    return _literal_lines([f"{v}, " for v in values], indent) if values else "()"


# 1, 10, 100, ...: a value's digits are how many of these it reaches.
_POWERS_OF_TEN = 10 ** np.arange(19, dtype=np.int64)


def _items_length(values: list[int]) -> int:
    """The length of the items ``"v, "`` of ``_tuple_literal(values)``, without the indents
    and line breaks the literal adds."""
    v = np.asarray(values, np.int64)
    digits = np.maximum(np.searchsorted(_POWERS_OF_TEN, np.abs(v), side="right"), 1)
    return int(digits.sum()) + int((v < 0).sum()) + 2 * len(v)


def _literal_lines(items: list[str], indent: str) -> str:
    """A parenthesised literal of ``items`` (each with its trailing ", "), as many a line
    as fit in the line width."""
    lines: list[str] = []
    line = indent
    for item in items:
        if len(line) + len(item) > _LINE_WIDTH and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += item
    lines.append(line.rstrip())
    return "(\n" + "\n".join(lines) + "\n)"


def _init_call(weight: Weight, shape: tuple[int, ...]) -> str:
    """The initialiser call that draws a folded parameter's initial free values."""
    args = dict(weight.init.arguments)
    if weight.init.kind == "normal":
        return f"_normal({_shape(shape)}, {args['mean']!r}, {args['std']!r}, generator)"
    if weight.init.kind == "uniform":
        return f"_uniform({_shape(shape)}, {args['a']!r}, {args['b']!r}, generator)"
    if weight.init.kind == "spaced":
        return f"_spaced({_shape(shape)}, {args['a']!r}, {args['b']!r})"
    if weight.init.kind == "dirichlet":
        return f"_dirichlet({_shape(shape)}, {args['alpha']!r}, generator)"
    raise AssertionError(f"no initialiser {weight.init.kind}")


def _stride(fold: Fold) -> int:
    """Rows per member in an input fold's table: one per value and one for an unobserved
    variable (gaussian folds have no table: members are addressed one by one)."""
    return fold.num_values + 1 if fold.kind.has_table else 1


def _input_entry(fold: Fold, keep_log: bool) -> _Normalised:
    """The ``normalised()`` entry of an input fold: its table, or its means and deviations."""
    name = _parameter_name(fold)
    weight = fold.weight
    assert weight is not None
    if fold.kind is LayerKind.GAUSSIAN:
        assert fold.std is not None
        code = (f"({_activated(weight, f'self.{name}_mean')}, "
                f"{_activated(fold.std, f'self.{name}_std')})")
        return _Normalised(name, code, code)
    keep = ", keep_log=True" if keep_log else ""
    if fold.kind is LayerKind.BINOMIAL:  # a sigmoid of the logits, as probs or logits
        log_values, rule = f"_binomial_log_probs(self.{name})", "binomial"
    else:
        log_values = _log_activated(weight, f"self.{name}")
        rule = "softmax" if fold.kind is LayerKind.CATEGORICAL and weight.is_normalised else ""
    if rule == "softmax" and not keep_log:  # normalised, transposed and rescaled at once
        return _Normalised(name, f"_softmax_table(self.{name})",
                           f"_input_table(log_weights[\"{name}\"])", rule, log_values)
    if rule:  # EM updates it: also computed from its log-weights
        return _Normalised(name, f"_input_table({log_values}{keep})",
                           f"_input_table(log_weights[\"{name}\"]{keep})", rule, log_values)
    flag = "" if weight.is_normalised else ", normalised=False"
    code = f"_input_table({log_values}{keep}{flag})"
    return _Normalised(name, code, code)


def _runs(items: list[str]) -> str:
    """A tuple of expressions; consecutive chunks ``hc3[0], hc3[1], ...`` as a slice."""
    found = [re.fullmatch(r"(\w+)\[(\d+)\]", item) for item in items]
    names = {m.group(1) for m in found if m is not None}
    if all(m is not None for m in found) and len(names) == 1:
        indices = [int(m.group(2)) for m in found if m is not None]
        if indices == list(range(indices[0], indices[0] + len(indices))):
            return f"{names.pop()}[{indices[0]}:{indices[-1] + 1}]"
    return f"({', '.join(items)})"


def _call(target: str, function: str, arguments: list[str], indent: int = 8) -> str:
    """``target = function(arguments)`` at ``indent`` (8: the body of ``_evaluate``), wrapped
    to the line width: one argument per line when the call is too long, and a long tuple
    argument's items packed onto as many lines as they need. Lines after the first carry
    their indentation; the first gets it from where the statement is placed."""
    line = f"{target} = {function}({', '.join(arguments)})"
    if indent + len(line) <= _LINE_WIDTH:
        return line
    inner = " " * (indent + 4)
    lines = [f"{target} = {function}("]
    for argument in arguments:
        parsed = _arguments(argument)
        if len(inner) + len(argument) + 1 <= _LINE_WIDTH or parsed is None or parsed[0]:
            lines.append(f"{inner}{argument},")
            continue
        items = parsed[1]  # a long tuple: its items packed onto lines
        lines.append(f"{inner}(")
        row = inner + "    "
        for item in items:
            if len(row) + len(item) + 2 > _LINE_WIDTH and row.strip():
                lines.append(row.rstrip())
                row = inner + "    "
            row += f"{item}, "
        lines.append(row.rstrip())
        lines.append(f"{inner}),")
    lines.append(" " * indent + ")")
    return "\n".join(lines)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _output(i: int) -> str:
    """The targets a fold's statement assigns: its output's names, and its entry in
    ``outputs`` (a dictionary that keeps it only for sampling)."""
    return f"h{i}, s{i} = outputs[{i}]"


def _describe_fold(fold: Fold) -> str:
    n = fold.size
    if fold.kind is LayerKind.GAUSSIAN:
        return (f"depth {fold.depth}: gaussian inputs, {n} variables x {fold.num_units} units "
                "over real values")
    if fold.kind.is_input:
        return (f"depth {fold.depth}: {fold.kind.value} inputs, {n} variables x "
                f"{fold.num_units} units over {fold.num_values} values")
    plural = "s" if n != 1 else ""
    what = {
        LayerKind.DENSE: f"dense sum{plural}, {fold.input_units} -> {fold.num_units} units",
        LayerKind.HADAMARD: f"Hadamard product{plural} of {fold.arity} x {fold.num_units} units",
        LayerKind.KRONECKER: (f"Kronecker product{plural} of {fold.arity} x "
                              f"{fold.input_units} units"),
        LayerKind.STACKED: (f"dense sum{plural} over {fold.arity} x {fold.input_units} -> "
                            f"{fold.num_units} units"),
        LayerKind.MIXING: f"mixing sum{plural} of {fold.arity} x {fold.num_units} units",
    }.get(fold.kind)
    if what is None:
        raise AssertionError(f"no description for {fold.kind} folds")
    return f"depth {fold.depth}: {n} {what}"


def _parameters(fold: Fold) -> list[_Parameter]:
    """The ``nn.Parameter`` attributes of a fold, with their initialisers and comments."""
    weight = fold.weight
    if weight is None:
        return []
    name = _parameter_name(fold)
    if fold.kind is LayerKind.GAUSSIAN:
        assert fold.std is not None
        shape = (fold.size, *fold.std.shape)
        return [_Parameter(f"{name}_mean", _shape(shape), _init_call(weight, shape),
                           f"(F, units) means, {_activation_doc(weight, 'units')}"),
                _Parameter(f"{name}_std", _shape(shape), _init_call(fold.std, shape),
                           f"(F, units) deviations, {_activation_doc(fold.std, 'units')}")]
    what = {LayerKind.CATEGORICAL: ("(F, units, values)", "logits" if weight.log_space
                                    else "probabilities", "values"),
            LayerKind.BINOMIAL: ("(F, units)", "success logits" if weight.log_space
                                 else "success probabilities", "units"),
            LayerKind.EMBEDDING: ("(F, units, values)", "values", "values"),
            LayerKind.DENSE: ("(F, out, in)", "weights", "inputs"),
            LayerKind.MIXING: ("(F, units, arity)", "weights", "inputs"),
            LayerKind.STACKED: ("(F, out, arity x in)", "weights", "inputs")}
    axes, role, over = what[fold.kind]
    shape = fold.weight_shape or ()
    return [_Parameter(name, _shape(shape), _init_call(weight, shape),
                       f"{axes} {role}, {_activation_doc(weight, over)}")]


def generate_module(folded: FoldedCircuit, report: StructureReport, *, spec_file: str,
                    spec_sha256: str) -> str:
    """The source text of the standalone module for ``folded``."""
    circuit = folded.circuit
    if not _IDENTIFIER.match(circuit.name):
        raise ValueError(f"model name {circuit.name!r} is not an identifier")
    if not re.fullmatch(r"[0-9a-f]{64}", spec_sha256):
        raise ValueError("spec hash must be a SHA-256 hex digest")
    file_name = Path(spec_file).name
    spec_file_comment = file_name if _SAFE_FILE_NAME.match(file_name) else "<spec>"

    parameters = [p for fold in folded.folds for p in _parameters(fold)]
    plan = _Plan(folded)
    steps = plan.steps()
    reads = plan.read_statements()  # after the steps, which register them
    o, p = folded.output_fold, folded.output_position
    output = f"torch.log(h{o}[{p}]).squeeze(-1) + s{o}[{p}]" if circuit.num_classes == 1 else \
        f"torch.log(h{o}[{p}]) + s{o}[{p}].unsqueeze(-1)"
    steps = plan.released(steps, output)
    shape = circuit.image_shape
    real = circuit.domain == "real"
    values = "real values" if real else f"{circuit.num_values} values"
    if shape is not None:
        image_input_shapes = [shape] + ([shape[1:]] if shape[0] == 1 else [])
        input_shapes = f"(B, {circuit.num_variables}) or (B, {', '.join(map(str, shape))})"
        modality = f"images of {shape[0]}x{shape[1]}x{shape[2]} with {values}"
    else:
        image_input_shapes = []
        input_shapes = f"(B, {circuit.num_variables})"
        modality = f"{circuit.num_variables} variables with {values} each"
    properties = ", ".join([
        "smooth" if report.is_smooth else "not smooth",
        "decomposable" if report.is_decomposable else "not decomposable",
        "structured-decomposable" if report.is_structured_decomposable
        else "not structured-decomposable",
    ])
    context = {
        "version": __version__,
        "kernels": KERNELS_GO_HERE,
        "model": circuit.name,
        "spec_file_comment": spec_file_comment,
        "spec_file_literal": f'"{spec_file_comment}"',  # matches a quote-free pattern
        "spec_sha256": spec_sha256,
        "summary": modality,
        "summary_sentence": f"A probabilistic circuit over {modality}.",
        "structure": "\n".join(textwrap.wrap(
            f"Structure: {len(circuit.layers)} layers in {len(folded.folds)} folds, depth "
            f"{folded.depth}; {circuit.num_parameters:,} parameters; {properties}.", width=88)),
        "num_variables": circuit.num_variables,
        "num_values": circuit.num_values,
        "domain": circuit.domain,
        "real": real,
        "stride": 0 if real else (circuit.num_values or 0) + 1,
        "is_normalised": circuit.is_normalised,
        "signed": circuit.is_signed,
        "signed_weights": "(" + "".join(
            f'"{_parameter_name(f)}", ' for f in folded.folds
            if f.kind.is_sum and f.weight is not None and f.weight.is_signed).rstrip(" ") + ")",
        "lookup_rule": ("False" if real
                        else "keep or not torch.is_grad_enabled() or x.shape[0] >= 2 * NUM_VALUES"),
        "region_graph_sha256": circuit.region_graph.source_sha256,
        "image_shape": repr(shape),
        "image_input_shapes": repr(tuple(image_input_shapes)),
        "input_shapes": input_shapes,
        "output_shape": "(B,)" if circuit.num_classes == 1 else f"(B, {circuit.num_classes})",
        "num_classes": circuit.num_classes,
        "num_parameters": circuit.num_parameters,
        "num_layers": len(circuit.layers),
        "num_folds": len(folded.folds),
        "is_smooth": report.is_smooth,
        "is_decomposable": report.is_decomposable,
        "is_structured_decomposable": report.is_structured_decomposable,
        "seed": circuit.seed,
        "parameters": parameters,
        "buffers": plan.buffers,
        "steps": steps,
        "reads": reads,
        "normalised": plan.normalised,
        "dense_tables": plan.dense_tables,
        "output": output,
        "output_fold": folded.output_fold,
        "output_position": folded.output_position,
        "fold_sizes": _tuple_literal([f.size for f in folded.folds]),
        "input_folds": "{" + ", ".join(f'{f.id}: "{_parameter_name(f)}"' for f in folded.folds
                                      if f.kind.is_input) + "}",
        "input_kernels": _dict_literal([
            f"{f.id}: {'_GaussianInputs' if f.kind is LayerKind.GAUSSIAN else '_TableInputs'}"
            for f in folded.folds if f.kind.is_input], len("_INPUT_KERNELS = ")),
        "max_steps": _kind_table(folded, "_max_", lambda kind: not kind.is_input,
                                 len("_MAX_STEPS = ")),
        "sum_choices": _kind_table(folded, "_choose_", lambda kind: kind.is_sum,
                                   len("_SUM_CHOICES = ")),
        "input_kinds": "{" + ", ".join(f'{f.id}: "{f.kind.value}"' for f in folded.folds
                                      if f.kind.is_input) + "}",
        "downward": [f'({f.id}, "{f.kind.value}", '
                     f'{repr(_parameter_name(f)) if f.weight is not None else None}, '
                     f'{f.input_units})'.replace("'", '"')
                     for f in reversed(folded.folds) if not f.kind.is_input],
        "first_parameter": parameters[0].name,
        "data_dtype": f"self.{parameters[0].name}.dtype" if real else "torch.long",
        "sample_shape": (f"(n, {', '.join(map(str, shape))})" if shape is not None
                         else f"(n, {circuit.num_variables})"),
        "constants": plan.constants,
    }
    return with_kernels(template("circuit.py.j2").render(**context))


# The line of a rendered template where the kernels it uses go (see ``with_kernels``).
KERNELS_GO_HERE = "# pcc: the kernels go here"
# The heading of a template's index tables, its last part: literals, which read no kernel.
_INDEX_TABLES = "\n# Index tables "


def with_kernels(layout: str, provided: frozenset[str] = frozenset()) -> str:
    """``layout`` with the kernels it uses (not those ``provided``) in place of its
    ``KERNELS_GO_HERE`` line. The names it uses are read from the code above its index
    tables: parsing those literals would cost more than the rest of codegen."""
    line = KERNELS_GO_HERE + "\n"
    assert layout.count(line) == 1, "a template must have one line for its kernels"
    code = layout.partition(_INDEX_TABLES)[0]
    return layout.replace(line, inline_kernels(code, provided))


def _kind_table(folded: FoldedCircuit, prefix: str, wanted, column: int) -> str:
    """``{"kind": <prefix>kind, ...}`` over the kinds of fold of the circuit that are
    ``wanted``, in the order of LayerKind: the kernel of each kind of fold it has."""
    kinds = {fold.kind for fold in folded.folds}
    return _dict_literal([f'"{kind.value}": {prefix}{kind.value}' for kind in LayerKind
                          if kind in kinds and wanted(kind)], column)


def _dict_literal(entries: list[str], column: int) -> str:
    """A dict of ``entries`` on one line when it fits after ``column``, else one a line."""
    line = "{" + ", ".join(entries) + "}"
    if column + len(line) <= _LINE_WIDTH:
        return line
    return "{\n" + "".join(f"    {entry},\n" for entry in entries) + "}"
