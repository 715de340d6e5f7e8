"""Semantic check: resolve names and constants, type and range-check every value, fill in
defaults, and produce one ``ModelSpec`` per model.

One function per kind of mistake builds its diagnostic (see ``_Errors``), so each
message has a single wording and a test can pin it down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pcdsl.diagnostics import CompileError, Diagnostic, Span, did_you_mean, error, warning
from pcdsl.syntax import ast
from pcdsl.syntax.parser import LARGEST_INTEGER
from pcdsl.syntax.schema import (
    CATEGORY_NAMES,
    INPUT_INITIALISERS,
    NON_NEGATIVE,
    REQUIRED,
    SETTINGS,
    Kind,
    Option,
    kind_named,
    kinds_of,
    setting_named,
)
from pcdsl.syntax.typed import (
    OPERATIONS,
    AlgebraSpec,
    KindValue,
    ModelSpec,
    OperandSpec,
    PartitionSpec,
    RegionSpec,
    StructureSpec,
)

VARIABLE_VECTOR = "x"  # hand-written structure names variables x[0], x[1], ...

Scalar = int | float | str


class _Errors:
    """The diagnostic constructors of the semantic check, one per kind of mistake."""

    @staticmethod
    def unknown_name(what: str, name: str, span: Span, candidates) -> Diagnostic:
        return error("unknown-name", f"unknown {what} '{name}'", span, choose(name, candidates))

    @staticmethod
    def unknown_option(kind: str, name: str, span: Span, candidates) -> Diagnostic:
        return error("unknown-name", f"unknown option '{name}' of '{kind}'", span,
                     choose(name, candidates) or f"'{kind}' takes no options")

    @staticmethod
    def duplicate(what: str, name: str, span: Span, first: Span) -> Diagnostic:
        return error("duplicate", f"{what} '{name}' is defined twice", span,
                     "remove or rename one of them",
                     notes=((f"first definition of '{name}'", first),))

    @staticmethod
    def missing(what: str, span: Span, hint: str | None = None) -> Diagnostic:
        return error("missing", f"missing {what}", span, hint)

    @staticmethod
    def wrong_type(expected: str, found: str, span: Span, hint: str | None = None) -> Diagnostic:
        return error("type", f"expected {expected}, found {found}", span, hint)

    @staticmethod
    def out_of_range(what: str, value: object, requirement: str, span: Span) -> Diagnostic:
        return error("range", f"{what} must be {requirement}, found {value!r}", span)

    @staticmethod
    def conflict(message: str, span: Span, hint: str | None = None) -> Diagnostic:
        return error("conflict", message, span, hint)

    @staticmethod
    def structure(message: str, span: Span, hint: str | None = None) -> Diagnostic:
        return error("structure", message, span, hint)

    @staticmethod
    def arithmetic(message: str, span: Span) -> Diagnostic:
        return error("arithmetic", message, span)


E = _Errors


LISTED_NAMES = 12  # a hint names at most this many of the valid names


def choose(name: str, candidates) -> str | None:
    """The hint for a name that is none of ``candidates``: the closest one, if any is
    close, and all of them (None when there are none to name)."""
    names = list(dict.fromkeys(candidates))
    if not names:
        return None
    shown = ", ".join(names[:LISTED_NAMES])
    more = f" and {len(names) - LISTED_NAMES} more" if len(names) > LISTED_NAMES else ""
    listed = f"one of: {shown}{more}"
    suggestion = did_you_mean(name, names)
    if suggestion and len(names) == 1:
        return suggestion
    return f"{suggestion} ({listed})" if suggestion else listed


@dataclass
class _Constant:
    value: Scalar
    span: Span
    used: bool = False


@dataclass
class _Scope:
    constants: dict[str, _Constant] = field(default_factory=dict)
    parent: _Scope | None = None
    pending: dict[str, Span] = field(default_factory=dict)  # defined later in this scope
    failed: set[str] = field(default_factory=set)  # constants whose value had an error
    referenced: set[str] = field(default_factory=set)  # used (too early) before definition

    def has_failed(self, name: str) -> bool:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.failed:
                return True
            scope = scope.parent
        return False

    def lookup(self, name: str) -> _Constant | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.constants:
                return scope.constants[name]
            scope = scope.parent
        return None

    def all_names(self) -> list[str]:
        names: list[str] = []
        scope: _Scope | None = self
        while scope is not None:
            names.extend(scope.constants)
            scope = scope.parent
        return names


class _Abort(Exception):
    """Stops checking one value after its diagnostic was recorded."""


class Checker:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.squared: set[str] = set()  # models squared by the file: signed weights are the point

    def fail(self, diagnostic: Diagnostic) -> _Abort:
        self.diagnostics.append(diagnostic)
        return _Abort()

    # Constants and scalar values ---------------------------------------------------

    def define_constants(self, decls, scope: _Scope) -> None:
        for decl in decls:
            scope.pending.setdefault(decl.name.name, decl.span)
        for decl in decls:
            name = decl.name.name
            existing = scope.lookup(name)
            if existing is not None:
                self.diagnostics.append(E.duplicate("constant", name, decl.name.span, existing.span))
                continue
            if kind_named(name) is not None or name == VARIABLE_VECTOR:
                self.diagnostics.append(E.conflict(
                    f"constant '{name}' would hide the built-in name '{name}'", decl.name.span,
                    "choose another name"))
                continue
            try:
                value = self.scalar(decl.value, scope)
            except _Abort:
                # Already reported; uses of this constant are skipped without more noise.
                scope.pending.pop(name, None)
                scope.failed.add(name)
                continue
            scope.pending.pop(name, None)
            scope.constants[name] = _Constant(value, decl.name.span)

    def scalar(self, expr: ast.Expr, scope: _Scope) -> Scalar:
        """Evaluate a number or string expression."""
        if isinstance(expr, ast.Number):
            return expr.value
        if isinstance(expr, ast.String):
            return expr.value
        if isinstance(expr, ast.Name):
            name = expr.identifier.name
            constant = scope.lookup(name)
            if constant is not None:
                constant.used = True
                return constant.value
            if scope.has_failed(name):
                raise _Abort()
            if name in scope.pending:
                scope.referenced.add(name)
                raise self.fail(error("unknown-name", f"constant '{name}' is used before its definition",
                                      expr.span, None, notes=((f"'{name}' is defined here",
                                                               scope.pending[name]),)))
            kind = kind_named(name)
            if kind is not None:
                raise self.fail(E.wrong_type("a number", f"{CATEGORY_NAMES[kind.category]} '{name}'",
                                             expr.span))
            raise self.fail(E.unknown_name("constant", name, expr.span, scope.all_names()))
        if isinstance(expr, ast.Negate):
            value = self.scalar(expr.operand, scope)
            if isinstance(value, str):
                raise self.fail(E.wrong_type("a number", "a string", expr.operand.span))
            return -value
        if isinstance(expr, ast.BinaryOp):
            left = self.scalar(expr.left, scope)
            right = self.scalar(expr.right, scope)
            for side, value in ((expr.left, left), (expr.right, right)):
                if isinstance(value, str):
                    raise self.fail(E.wrong_type("a number", "a string", side.span,
                                                 f"'{expr.operator}' works on numbers only"))
            assert not isinstance(left, str) and not isinstance(right, str)
            # Integer operands are within the literals' range (checked here at every step), so
            # a result is an integer of at most 127 bits or a float, never an OverflowError.
            result = self.arithmetic(expr, left, right)
            if isinstance(result, int) and abs(result) > LARGEST_INTEGER:
                raise self.fail(E.out_of_range("the value of this expression", result,
                                               f"at most {LARGEST_INTEGER} in size", expr.span))
            return result
        if isinstance(expr, ast.Call):
            kind = kind_named(expr.function.name)
            found = (f"{CATEGORY_NAMES[kind.category]} '{kind.name}'" if kind
                     else f"a call of '{expr.function.name}'")
            raise self.fail(E.wrong_type("a number", found, expr.span))
        raise AssertionError(f"unexpected expression {expr!r}")

    def arithmetic(self, expr: ast.BinaryOp, left: int | float, right: int | float) -> int | float:
        if expr.operator == "+":
            return left + right
        if expr.operator == "-":
            return left - right
        if expr.operator == "*":
            return left * right
        if right == 0:
            raise self.fail(E.arithmetic("division by zero", expr.span))
        # Whole quotients of whole numbers stay integers, so `UNITS / 2` can be a unit count.
        if isinstance(left, int) and isinstance(right, int) and left % right == 0:
            return left // right
        return left / right

    def typed_scalar(self, expr: ast.Expr, option: Option, owner: str, scope: _Scope) -> Scalar:
        if option.type == "name":
            return self.choice(expr, option, owner)
        value = self.scalar(expr, scope)
        written = value
        what = f"'{option.name}' of {owner}"
        if option.type == "int":
            if isinstance(value, float) and not math.isfinite(value):
                raise self.fail(E.out_of_range(what, value, "a finite integer", expr.span))
            if isinstance(value, float) and value.is_integer():
                raise self.fail(E.wrong_type(f"an integer for {what}", repr(value), expr.span,
                                             f"write {int(value)}"))
            if not isinstance(value, int):
                raise self.fail(E.wrong_type(f"an integer for {what}", _describe(value), expr.span))
        elif option.type == "float":
            if not isinstance(value, (int, float)):
                raise self.fail(E.wrong_type(f"a number for {what}", _describe(value), expr.span))
            value = float(value)  # no OverflowError: integers are range-checked
            if not math.isfinite(value):  # 1e999, 1e999 - 1e999: no literal can carry it
                raise self.fail(E.out_of_range(what, written, "a finite number", expr.span))
        elif option.type == "string" and not isinstance(value, str):
            raise self.fail(E.wrong_type(f"a string for {what}", _describe(value), expr.span))
        if option.choices is not None and value not in option.choices:
            choices = ", ".join(repr(c) for c in option.choices)
            raise self.fail(E.out_of_range(what, value, f"one of {choices}", expr.span))
        if option.minimum is not None and isinstance(value, (int, float)):
            too_small = value <= option.minimum if option.minimum_exclusive else value < option.minimum
            if too_small:
                bound = _number(option.minimum)
                requirement = f"greater than {bound}" if option.minimum_exclusive else f"at least {bound}"
                raise self.fail(E.out_of_range(what, written, requirement, expr.span))
        if option.maximum is not None and isinstance(value, (int, float)) and value > option.maximum:
            raise self.fail(E.out_of_range(what, written, f"at most {_number(option.maximum)}",
                                           expr.span))
        return value

    def choice(self, expr: ast.Expr, option: Option, owner: str) -> str:
        """A bare name from a fixed list, e.g. ``mixing = dense``."""
        choices = tuple(str(c) for c in option.choices or ())
        listed = ", ".join(choices)
        if not isinstance(expr, ast.Name):
            raise self.fail(E.wrong_type(f"one of {listed} for '{option.name}' of {owner}",
                                         _describe_expr(expr), expr.span))
        name = expr.identifier.name
        if name not in choices:
            raise self.fail(error("unknown-name", f"unknown value '{name}' for '{option.name}'",
                                  expr.span, choose(name, choices)))
        return name

    # Kinds --------------------------------------------------------------------------

    def kind_value(self, expr: ast.Expr, category: str, scope: _Scope) -> KindValue:
        expected = _article(CATEGORY_NAMES[category])
        candidates = kinds_of(category)
        if isinstance(expr, ast.Name):
            name, arguments, function_span = expr.identifier.name, (), expr.span
        elif isinstance(expr, ast.Call):
            name, arguments, function_span = expr.function.name, expr.arguments, expr.function.span
        else:
            hyphenated = _hyphenated_name(expr)
            if hyphenated is not None:
                raise self.fail(E.unknown_name(CATEGORY_NAMES[category], hyphenated, expr.span,
                                               candidates))
            raise self.fail(E.wrong_type(expected, _describe_expr(expr), expr.span,
                                         _kinds_hint(category)))
        kind = candidates.get(name)
        if kind is None:
            other = kind_named(name)
            if other is not None:
                raise self.fail(E.wrong_type(expected, f"{CATEGORY_NAMES[other.category]} '{name}'",
                                             function_span, _kinds_hint(category)))
            if isinstance(expr, ast.Name) and scope.lookup(name) is not None:
                raise self.fail(E.wrong_type(expected, f"the constant '{name}'", function_span,
                                             _kinds_hint(category)))
            raise self.fail(E.unknown_name(CATEGORY_NAMES[category], name, function_span, candidates))
        return self.bind_arguments(kind, arguments, expr.span, scope)

    def bind_arguments(self, kind: Kind, arguments, span: Span, scope: _Scope) -> KindValue:
        given: dict[str, tuple[ast.Expr, Span]] = {}
        failed = False
        seen_named = False
        for position, argument in enumerate(arguments):
            if argument.name is None:
                if seen_named:
                    self.diagnostics.append(error(
                        "syntax", "positional argument after a named one", argument.span,
                        "name this argument, as in 'units = 64'"))
                    failed = True
                    continue
                if position >= len(kind.options):
                    self.diagnostics.append(error(
                        "arity", f"'{kind.name}' takes at most {len(kind.options)} argument"
                        f"{'s' if len(kind.options) != 1 else ''}, found {len(arguments)}",
                        argument.span))
                    failed = True
                    continue
                option_name = kind.options[position].name
                option_span = argument.span
            else:
                seen_named = True
                option_name = argument.name.name
                option_span = argument.name.span
                if kind.option(option_name) is None:
                    self.diagnostics.append(E.unknown_option(
                        kind.name, option_name, option_span, [o.name for o in kind.options]))
                    failed = True
                    continue
            if option_name in given:
                self.diagnostics.append(E.duplicate("option", option_name, option_span,
                                                    given[option_name][1]))
                failed = True
                continue
            given[option_name] = (argument.value, option_span)
        values: list[tuple[str, object]] = []
        spans: list[tuple[str, Span]] = []
        for option in kind.options:
            if option.name not in given:
                if option.required:
                    self.diagnostics.append(E.missing(
                        f"option '{option.name}' of '{kind.name}' ({option.doc})", span,
                        f"add '{option.name} = ...'"))
                    failed = True
                    continue
                values.append((option.name, self.default(option)))
                continue
            value_expr, option_span = given[option.name]
            try:
                if option.type == "kind":
                    assert option.category is not None
                    value: object = self.kind_value(value_expr, option.category, scope)
                else:
                    value = self.typed_scalar(value_expr, option, f"'{kind.name}'", scope)
            except _Abort:
                failed = True
                continue
            values.append((option.name, value))
            spans.append((option.name, value_expr.span))
        if failed:
            raise _Abort()
        value = KindValue(kind.name, tuple(values), span, tuple(spans))
        problem = _constraint(value)
        if problem is not None:
            raise self.fail(problem)
        return value

    def default(self, option: Option | None, kind_name: str | None = None) -> object:
        if option is not None and (option.type != "kind" or option.default is None):
            return option.default  # a kind option defaulting to None is resolved by the model
        name = kind_name if kind_name is not None else str(option.default)
        kind = kind_named(name)
        assert kind is not None, name
        return KindValue(kind.name, tuple((o.name, self.default(o)) for o in kind.options), None)

    # Models -------------------------------------------------------------------------

    def model(self, decl: ast.ModelDecl, file_scope: _Scope) -> ModelSpec | None:
        scope = _Scope(parent=file_scope)
        self.define_constants([i for i in decl.items if isinstance(i, ast.ConstDecl)], scope)
        settings: dict[str, ast.Setting] = {}
        structures: list[ast.StructureBlock] = []
        for item in decl.items:
            if isinstance(item, ast.Setting):
                key = item.key.name
                if setting_named(key) is None:
                    self.diagnostics.append(E.unknown_name("setting", key, item.key.span,
                                                           [s.key for s in SETTINGS]))
                elif key in settings:
                    self.diagnostics.append(E.duplicate("setting", key, item.key.span,
                                                        settings[key].key.span))
                else:
                    settings[key] = item
            elif isinstance(item, ast.StructureBlock):
                if structures:
                    self.diagnostics.append(error(
                        "duplicate", f"model '{decl.name.name}' has two structure blocks", item.span,
                        "merge them into one", notes=(("the first one", structures[0].span),)))
                else:
                    structures.append(item)
        before = len(self.diagnostics)
        failed = False
        values: dict[str, object] = {}
        for schema in SETTINGS:
            item = settings.get(schema.key)
            if item is None:
                if schema.default is REQUIRED:
                    self.diagnostics.append(E.missing(
                        f"setting '{schema.key}' in model '{decl.name.name}' ({schema.doc})",
                        decl.name.span, f"add '{schema.key} = ...' to the model"))
                elif schema.type == "kind" and schema.default is not None:
                    values[schema.key] = self.default(None, str(schema.default))
                else:
                    values[schema.key] = schema.default
                continue
            try:
                if schema.type == "kind":
                    assert schema.category is not None
                    values[schema.key] = self.kind_value(item.value, schema.category, scope)
                else:
                    option = Option(schema.key, schema.type, schema.default, schema.doc,
                                    minimum=schema.minimum, choices=schema.choices,
                                    maximum=schema.maximum)
                    values[schema.key] = self.typed_scalar(item.value, option, "the model", scope)
            except _Abort:
                failed = True
        if failed or len(self.diagnostics) > before:
            return None
        data = values["data"]
        assert isinstance(data, KindValue)
        regions: KindValue | None = values["regions"]  # type: ignore[assignment]
        structure = None
        if structures:
            if "regions" in settings:
                self.diagnostics.append(error(
                    "conflict",
                    "a model takes either 'regions = ...' or a 'structure' block, not both",
                    structures[0].span, "remove one of them",
                    notes=(("'regions' is set here", settings["regions"].span),),
                ))
                return None
            regions = None
            structure = self.structure(structures[0], _num_variables(data), scope)
            if structure is None:
                return None
        elif data.kind != "image":
            self.diagnostics.append(E.missing(
                f"structure of model '{decl.name.name}'", decl.name.span,
                "region graphs are built for image data; for 'variables' data write a "
                "'structure { region ... }' block"))
            return None
        self.check_unused(scope)
        layers = values["layers"]
        inputs = values["inputs"]
        weights = values["weights"]
        assert isinstance(layers, KindValue) and isinstance(inputs, KindValue)
        assert isinstance(weights, KindValue)
        if data.kind == "image" and data["domain"] == "real":
            data = data.with_option("values", None)  # real values have no count
        inputs_span = inputs.span or data.span_of("domain") or decl.name.span
        problem = _domain_conflict(data, inputs, inputs_span)
        if problem is not None:
            self.diagnostics.append(problem)
            return None
        try:
            inputs = self.input_parameters(inputs, weights, inputs_span)
        except _Abort:
            return None
        for key in ("weights", "dense_weights", "mixing_weights"):
            value = values[key]
            if (isinstance(value, KindValue) and value.kind == "none"
                    and decl.name.name not in self.squared):
                self.warn_signed(value, key, value.span or decl.name.span)
        if layers.kind in ("cp_t", "tucker") and inputs.kind == "binomial":
            self.diagnostics.append(warning(
                "numerics", f"'{layers.kind}' multiplies binomial inputs before any sum: their "
                "probabilities differ across units by hundreds of nats, and in float32 the "
                "products can underflow to a log-likelihood of -inf",
                layers.span or decl.name.span,
                "prefer 'cp' (sums before products) with binomial inputs, or run the module "
                "in float64"))
        return ModelSpec(
            name=decl.name.name, span=decl.span, data=data, regions=regions, structure=structure,
            inputs=inputs, layers=layers, weights=weights,
            seed=int(values["seed"]),  # type: ignore[arg-type]
            classes=int(values["classes"]),  # type: ignore[arg-type]
            mixing=str(values["mixing"]),
            dense_weights=values["dense_weights"],  # type: ignore[arg-type]
            mixing_weights=values["mixing_weights"],  # type: ignore[arg-type]
        )

    def input_parameters(self, inputs: KindValue, weights: KindValue, span: Span) -> KindValue:
        """Check the parameterisations of an input layer against what its parameters need,
        and fill in the defaults that depend on ``weights`` (its initialiser)."""
        for option, allowed, why in _INPUT_ACTIVATIONS.get(inputs.kind, ()):
            value = inputs[option]
            if isinstance(value, KindValue) and value.kind not in allowed:
                where = inputs.span_of(option) or span
                raise self.fail(E.wrong_type(
                    f"{_article(why)} for '{option}' of '{inputs.kind}'",
                    f"the parameterisation '{value.kind}'", where,
                    f"one of: {', '.join(allowed)}"))
        if inputs.kind in ("categorical", "binomial", "bernoulli"):
            if inputs["probs"] is not None and inputs["logits"] is not None:
                raise self.fail(E.conflict(
                    f"'{inputs.kind}' takes either 'probs' or 'logits', not both",
                    inputs.span_of("logits") or span, "remove one of them"))
            if inputs["probs"] is None and inputs["logits"] is None:
                activation = "softmax" if inputs.kind == "categorical" else "sigmoid"
                init = weights["init"]
                if inputs.kind in INPUT_INITIALISERS:  # e.g. binomial: spread over (0, 1)
                    init = KindValue(*INPUT_INITIALISERS[inputs.kind], None)
                default = KindValue(activation, (("init", init),), None)
                inputs = inputs.with_option("probs", default)
        return inputs

    def warn_signed(self, value: KindValue, key: str, span: Span) -> None:
        init = value["init"]
        assert isinstance(init, KindValue)
        if init.kind == "normal" or (init.kind == "uniform" and float(init["a"]) < 0):  # type: ignore[arg-type]
            self.diagnostics.append(warning(
                "numerics", f"'{key} = none' with '{init.kind}' initial values gives negative "
                "weights: the circuit can then be negative, and its log-likelihood NaN",
                span, "use a non-negative parameterisation (softplus, positive_clamp, sigmoid, "
                "softmax), or initial values that are not negative, e.g. "
                "'init = uniform(a = 0.0, b = 1.0)'"))

    def check_unused(self, scope: _Scope) -> None:
        for name, constant in scope.constants.items():
            if not constant.used and name not in scope.referenced:
                self.diagnostics.append(warning("unused", f"constant '{name}' is never used",
                                                constant.span, "remove it, or use it in a value"))

    # Hand-written structure ---------------------------------------------------------

    def structure(self, block: ast.StructureBlock, num_variables: int,
                  scope: _Scope) -> StructureSpec | None:
        before = len(self.diagnostics)
        if not block.regions:
            self.diagnostics.append(E.structure("the structure block declares no region", block.span,
                                                "declare regions as 'region r = x[0] * x[1]'"))
            return None
        declared: dict[str, ast.RegionDecl] = {}
        for region in block.regions:
            name = region.name.name
            if name in declared:
                self.diagnostics.append(E.duplicate("region", name, region.name.span,
                                                    declared[name].name.span))
            elif name == VARIABLE_VECTOR:
                self.diagnostics.append(E.conflict(
                    f"region name '{name}' is reserved for the variables", region.name.span,
                    "choose another name"))
            else:
                declared[name] = region
        specs: dict[str, RegionSpec] = {}
        failed = False
        used_by: dict[str, list[str]] = {name: [] for name in declared}
        for name, region in declared.items():
            partitions = []
            for partition in region.partitions:
                if len(partition.operands) < 2:
                    self.diagnostics.append(E.structure(
                        "a partition needs at least two parts joined by '*'", partition.span,
                        "a region over a single variable needs no declaration: use x[i] directly"))
                    continue
                operands = []
                for operand in partition.operands:
                    resolved = self.operand(operand, declared, num_variables, scope)
                    if resolved is None:
                        failed = True
                        continue
                    if resolved.region is not None:
                        used_by[resolved.region].append(name)
                    operands.append(resolved)
                partitions.append(PartitionSpec(tuple(operands), partition.span))
            specs[name] = RegionSpec(name, tuple(partitions), region.span, region.name.span)
        if failed or len(self.diagnostics) > before:
            return None
        order = self.dependency_order(specs)
        if order is None:
            return None
        roots = [name for name in order if not used_by[name]]
        if len(roots) > 1:
            first, *others = roots
            self.diagnostics.append(E.structure(
                f"the structure has {len(roots)} root regions ({', '.join(roots)}); a model has one",
                specs[others[0]].name_span,
                f"use '{others[0]}' in another region, or add a region that joins them",
            ))
            return None
        return StructureSpec(tuple(specs[name] for name in order), roots[0], block.span)

    def operand(self, operand: ast.Operand, declared: dict[str, ast.RegionDecl],
                num_variables: int, scope: _Scope) -> OperandSpec | None:
        if isinstance(operand, ast.RegionRef):
            name = operand.identifier.name
            if name not in declared:
                hint = choose(name, declared)
                if name == VARIABLE_VECTOR:
                    hint = "write a variable with its index, as in x[0]"
                self.diagnostics.append(error("unknown-name", f"unknown region '{name}'",
                                              operand.span, hint))
                return None
            return OperandSpec(name, None, operand.span)
        name = operand.identifier.name
        if name != VARIABLE_VECTOR:
            self.diagnostics.append(error(
                "unknown-name", f"unknown variable vector '{name}'", operand.identifier.span,
                f"variables are written {VARIABLE_VECTOR}[i], i from 0 to {num_variables - 1}"))
            return None
        index_option = Option("index", "int", REQUIRED, "variable index", minimum=0)
        try:
            index = self.typed_scalar(operand.index, index_option, f"'{VARIABLE_VECTOR}'", scope)
        except _Abort:
            return None
        assert isinstance(index, int)
        if index >= num_variables:
            self.diagnostics.append(E.out_of_range(
                "variable index", index, f"below {num_variables} (the model has {num_variables} "
                f"variables, x[0] .. x[{num_variables - 1}])", operand.index.span))
            return None
        return OperandSpec(None, index, operand.span)

    def dependency_order(self, specs: dict[str, RegionSpec]) -> list[str] | None:
        """Regions ordered parts-first; a cycle is reported once, naming its path."""
        order: list[str] = []
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        path: list[str] = []

        def visit(name: str) -> bool:
            if state.get(name) == 2:
                return True
            if state.get(name) == 1:
                cycle = path[path.index(name):] + [name]
                self.diagnostics.append(E.structure(
                    f"region '{name}' contains itself: {' -> '.join(cycle)}",
                    specs[name].name_span, "a region may only be split into smaller regions"))
                return False
            state[name] = 1
            path.append(name)
            for partition in specs[name].partitions:
                for operand in partition.operands:
                    if operand.region is not None and not visit(operand.region):
                        return False
            path.pop()
            state[name] = 2
            order.append(name)
            return True

        for name in specs:
            if not visit(name):
                return None
        return order


# What each input kind's parameterisations may be: (option, allowed activations, what the
# parameter must be, for the message).
_INPUT_ACTIVATIONS: dict[str, tuple[tuple[str, tuple[str, ...], str], ...]] = {
    "categorical": (("probs", NON_NEGATIVE, "non-negative parameterisation"),),
    "binomial": (("probs", ("sigmoid",), "parameterisation in (0, 1)"),
                 ("logits", ("none",), "parameterisation of logits")),
    "bernoulli": (("probs", ("sigmoid",), "parameterisation in (0, 1)"),
                  ("logits", ("none",), "parameterisation of logits")),
    "embedding": (("weights", NON_NEGATIVE, "non-negative parameterisation"),),
    "gaussian": (("std", ("softplus", "sigmoid", "positive_clamp"), "positive parameterisation"),),
}


def _constraint(value: KindValue) -> Diagnostic | None:
    """A rule between the options of one kind value, or None when it holds."""
    if value.kind == "uniform" and not float(value["b"]) > float(value["a"]):  # type: ignore[arg-type]
        return E.out_of_range("'b' of 'uniform'", value["b"], f"greater than 'a' ({value['a']!r})",
                              value.span_of("b"))  # type: ignore[arg-type]
    if value.kind == "image" and value["domain"] == "real" and value.given("values"):
        return E.conflict("'values' is for discrete data, but 'domain' is real",
                          value.span_of("values"),  # type: ignore[arg-type]
                          "remove 'values', or use 'domain = discrete'")
    return None


def _domain_conflict(data: KindValue, inputs: KindValue, span: Span) -> Diagnostic | None:
    """Gaussian inputs need real-valued data; every other input kind, discrete data."""
    real = data.kind == "image" and data["domain"] == "real"
    if inputs.kind == "gaussian" and not real:
        found = (f"discrete with {data['values']} values" if data.kind == "image"
                 else "discrete ('variables' data)")
        return E.conflict(
            f"'gaussian' inputs are over real-valued data, but the data are {found}", span,
            "declare real-valued pixels with 'image(..., domain = real)' and pass float "
            "tensors; for discrete values use categorical, binomial or embedding inputs")
    if inputs.kind != "gaussian" and real:
        return E.conflict(
            f"'{inputs.kind}' inputs are over discrete values, but the data are real-valued "
            "(domain = real)", span,
            "use 'inputs = gaussian(...)' for real values, or 'domain = discrete' for "
            "integer values")
    return None


def _article(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _num_variables(data: KindValue) -> int:
    if data.kind == "image":
        return int(data["channels"]) * int(data["height"]) * int(data["width"])
    return int(data["count"])


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return repr(value)


def _describe_expr(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Number):
        return f"the number {expr.text}"
    if isinstance(expr, ast.String):
        return "a string"
    return "an arithmetic expression"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _kinds_hint(category: str) -> str:
    names = ", ".join(sorted(kinds_of(category)))
    return f"one of: {names}"


def _hyphenated_name(expr: ast.Expr) -> str | None:
    """`quad-graph` parses as a subtraction; recover the intended name for the message."""
    if isinstance(expr, ast.Name):
        return expr.identifier.name
    if isinstance(expr, ast.Call):
        return expr.function.name
    if isinstance(expr, ast.BinaryOp) and expr.operator == "-":
        left, right = _hyphenated_name(expr.left), _hyphenated_name(expr.right)
        if left is not None and right is not None:
            return f"{left}-{right}"
    return None


def _usage(operation: str) -> str:
    """How an operation is written: ``square(MODEL)``, ``multiply(MODEL, MODEL)``,
    ``mixture(MODEL, MODEL, ...)``."""
    count = OPERATIONS[operation]
    operands = ["MODEL"] * count if count is not None else ["MODEL", "MODEL", "..."]
    return f"{operation}({', '.join(operands)})"


def check_algebra(spec: ast.SpecFile) -> list[AlgebraSpec]:
    """Check every ``model NAME = operation(...)`` of a parsed file: a known operation, its
    number of operands, each the name of a model of the file declared with a body, and a
    name no other model has. Raises ``CompileError`` with every error found."""
    bodies = {decl.name.name: decl.name.span for decl in spec.models}
    made = {decl.name.name: decl for decl in spec.algebra}
    found: list[Diagnostic] = []
    seen: dict[str, Span] = dict(bodies)
    checked: list[AlgebraSpec] = []
    for decl in spec.algebra:
        name, call = decl.name.name, decl.value
        if name in seen:
            found.append(E.duplicate("model", name, decl.name.span, seen[name]))
            continue
        seen[name] = decl.name.span
        operation = call.function.name
        if operation not in OPERATIONS:
            found.append(E.unknown_name("operation", operation, call.function.span, OPERATIONS))
            continue
        operands: list[str] = []
        for argument in call.arguments:
            value = argument.value
            if argument.name is not None:
                found.append(error("syntax", f"'{operation}' takes models, not named options",
                                   argument.span, f"write '{_usage(operation)}'"))
            elif not isinstance(value, ast.Name):
                found.append(E.wrong_type("the name of a model", "an expression", value.span,
                                          f"write '{_usage(operation)}'"))
            elif value.identifier.name in made and value.identifier.name not in bodies:
                found.append(error("unsupported", f"'{operation}' of '{value.identifier.name}', "
                                   "which is itself made by an operation, is not supported",
                                   value.span, "apply it to a model declared with a body"))
            elif value.identifier.name not in bodies:
                found.append(E.unknown_name("model", value.identifier.name, value.span, bodies))
            else:
                operands.append(value.identifier.name)
        count = OPERATIONS[operation]
        if count is None and len(call.arguments) < 2:
            found.append(error("arity", f"'{operation}' takes two models or more, found "
                               f"{len(call.arguments)}", call.span, f"write '{_usage(operation)}'"))
        elif count is not None and len(call.arguments) != count:
            found.append(error("arity", f"'{operation}' takes {count} model{'s' if count != 1 else ''}"
                               f", found {len(call.arguments)}", call.span,
                               f"write '{_usage(operation)}'"))
        elif len(operands) == len(call.arguments):
            checked.append(AlgebraSpec(name, operation, tuple(operands), decl.span, call.span))
    if found:
        raise CompileError(found)
    return checked


def check_file(spec: ast.SpecFile) -> tuple[list[ModelSpec], list[Diagnostic]]:
    """Check every model of a parsed file.

    Returns the models and the warnings; raises ``CompileError`` with every error found.
    """
    checker = Checker()
    checker.squared = {a.value.identifier.name for decl in spec.algebra
                       if decl.value.function.name == "square" for a in decl.value.arguments[:1]
                       if isinstance(a.value, ast.Name)}
    file_scope = _Scope()
    checker.define_constants(list(spec.constants), file_scope)
    models: list[ModelSpec] = []
    seen: dict[str, Span] = {}
    for decl in spec.models:
        name = decl.name.name
        if name in seen:
            checker.diagnostics.append(E.duplicate("model", name, decl.name.span, seen[name]))
            continue
        seen[name] = decl.name.span
        model = checker.model(decl, file_scope)
        if model is not None:
            models.append(model)
    if not spec.models:
        checker.diagnostics.append(E.missing("model declaration", spec.span,
                                             "declare one as 'model NAME { data = ... }'"))
    checker.check_unused(file_scope)
    errors = [d for d in checker.diagnostics if d.is_error]
    if errors:
        raise CompileError(checker.diagnostics)
    return models, [d for d in checker.diagnostics if not d.is_error]
