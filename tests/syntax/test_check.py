"""Semantic check: one test per kind of mistake, each pinning the diagnostic's code, its
exact place and the words that tell the user what to do; then defaults, constants and
arithmetic of specs that are fine."""

from __future__ import annotations

import pytest

from pcdsl.diagnostics import CompileError, Diagnostic, Severity
from pcdsl.driver import compile_source
from pcdsl.syntax.check import check_file
from pcdsl.syntax.parser import parse_source
from pcdsl.syntax.typed import KindValue, ModelSpec

FILE = "spec.pc"
IMAGE = "data = image(height = 2, width = 2)"
VARIABLES = "data = variables(count = 4, values = 2)"


def check(source: str) -> tuple[list[ModelSpec], list[Diagnostic]]:
    return check_file(parse_source(source, FILE))


def errors_of(source: str) -> list[Diagnostic]:
    with pytest.raises(CompileError) as info:
        check(source)
    errors = [d for d in info.value.diagnostics if d.is_error]
    assert errors, info.value.diagnostics
    return errors


def the_error(source: str) -> Diagnostic:
    """The one error of ``source``: a mistake is reported once, without follow-on errors."""
    errors = errors_of(source)
    assert len(errors) == 1, [d.message for d in errors]
    return errors[0]


def model(*lines: str) -> str:
    """A model `m` with one line per item, starting on line 2."""
    return "model m {\n" + "".join(f"  {line}\n" for line in lines) + "}\n"


def structure(*regions: str) -> str:
    """A `variables` model whose structure block's regions start on line 4."""
    return ("model m {\n  " + VARIABLES + "\n  structure {\n"
            + "".join(f"    {r}\n" for r in regions) + "  }\n}\n")


def where(d: Diagnostic) -> tuple[int, int]:
    assert d.span is not None and d.span.file == FILE
    return d.span.line, d.span.column


def the_model(source: str) -> ModelSpec:
    models, warnings = check(source)
    assert warnings == []
    (spec,) = models
    return spec


# Names --------------------------------------------------------------------------------

def test_unknown_setting_suggests_the_closest():
    d = the_error(model(IMAGE, "layer = cp"))
    assert d.code == "unknown-name"
    assert where(d) == (3, 3)
    assert d.span.end_column == 8  # the key only
    assert d.message == "unknown setting 'layer'"
    assert d.hint.startswith("did you mean 'layers'? (one of: ")


def test_unknown_kind_suggests_the_closest():
    d = the_error(model(IMAGE, "regions = quad_grph"))
    assert d.code == "unknown-name"
    assert where(d) == (3, 13)
    assert "region graph 'quad_grph'" in d.message
    assert d.hint.startswith("did you mean 'quad_graph'? (one of: ")


def test_hyphenated_kind_name_suggests_underscores():
    # `quad-graph` parses as a subtraction; the message must still be about the name.
    d = the_error(model(IMAGE, "regions = quad-graph"))
    assert d.code == "unknown-name"
    assert where(d) == (3, 13)
    assert d.span.end_column == 23  # the whole of `quad-graph`
    assert "'quad-graph'" in d.message
    assert d.hint.startswith("did you mean 'quad_graph'? (one of: ")


def test_kind_of_the_wrong_category():
    d = the_error(model(IMAGE, "regions = categorical"))
    assert d.code == "type"
    assert where(d) == (3, 13)
    assert d.message == "expected a region graph, found input layer 'categorical'"
    assert "quad_graph" in d.hint and "quad_tree" in d.hint


def test_unknown_option_suggests_the_closest():
    d = the_error(model(IMAGE, "inputs = categorical(unit = 3)"))
    assert d.code == "unknown-name"
    assert where(d) == (3, 24)
    assert d.message == "unknown option 'unit' of 'categorical'"
    assert d.hint == "did you mean 'units'? (one of: units, probs, logits)"


def test_unknown_option_with_no_close_one_lists_every_option():
    d = the_error(model(IMAGE, "regions = poon_domingos(step = 2)"))
    assert d.message == "unknown option 'step' of 'poon_domingos'"
    assert d.hint == "one of: delta, max_depth"


def test_an_option_of_a_kind_without_options_says_so():
    d = the_error(model(IMAGE, "regions = quad_graph(depth = 2)"))
    assert d.hint == "'quad_graph' takes no options"


def test_unknown_constant_suggests_the_closest():
    d = the_error("const UNITS = 32\n" + model(IMAGE, "layers = cp(units = UNTIS)"))
    assert d.code == "unknown-name"
    assert where(d) == (4, 23)
    assert d.message == "unknown constant 'UNTIS'"
    assert d.hint == "did you mean 'UNITS'?"


def test_constant_used_before_its_definition():
    d = the_error("const A = B\nconst B = 1\n" + model(IMAGE, "seed = B"))
    assert d.code == "unknown-name"
    assert where(d) == (1, 11)
    assert "'B'" in d.message and "before its definition" in d.message
    ((note, span),) = d.notes
    assert "'B'" in note
    assert (span.line, span.column) == (2, 1)


# Duplicates ---------------------------------------------------------------------------

def assert_duplicate(d: Diagnostic, what: str, name: str, at: tuple[int, int],
                     first: tuple[int, int]) -> None:
    assert d.code == "duplicate"
    assert where(d) == at
    assert d.message == f"{what} '{name}' is defined twice"
    ((note, span),) = d.notes
    assert "first definition" in note and f"'{name}'" in note
    assert (span.line, span.column) == first


def test_duplicate_setting_notes_the_first():
    d = the_error(model(IMAGE, "seed = 1", "seed = 2"))
    assert_duplicate(d, "setting", "seed", at=(4, 3), first=(3, 3))


def test_duplicate_constant():
    d = the_error("const A = 1\nconst A = 2\n" + model(IMAGE, "seed = A"))
    assert_duplicate(d, "constant", "A", at=(2, 7), first=(1, 7))


def test_duplicate_model():
    d = the_error(model(IMAGE) + model(IMAGE))
    assert_duplicate(d, "model", "m", at=(4, 7), first=(1, 7))


def test_duplicate_region():
    d = the_error(structure("region a = x[0] * x[1]", "region a = x[2] * x[3]"))
    assert_duplicate(d, "region", "a", at=(5, 12), first=(4, 12))


def test_duplicate_option():
    d = the_error(model("data = image(height = 2, height = 3, width = 2)"))
    assert_duplicate(d, "option", "height", at=(2, 28), first=(2, 16))


# Missing ------------------------------------------------------------------------------

def test_missing_data_setting():
    d = the_error(model("seed = 1"))
    assert d.code == "missing"
    assert where(d) == (1, 7)  # the model's name
    assert "setting 'data'" in d.message and "model 'm'" in d.message
    assert "data = " in d.hint


def test_missing_required_option():
    d = the_error(model("data = image(height = 2)"))
    assert d.code == "missing"
    assert where(d) == (2, 10)  # the call that lacks it
    assert "option 'width' of 'image'" in d.message
    assert "width = " in d.hint


# Types --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("line", "column", "words", "hint"),
    [
        ("layers = cp(units = 2.0)", 23, ["an integer", "'units' of 'cp'", "2.0"], "write 2"),
        ('weights = softmax(init = normal(mean = "zero"))', 42,
         ["a number", "'mean' of 'normal'", "string"], None),
        ('layers = cp(units = "many")', 23, ["an integer", "string"], None),
        ("layers = 3", 12, ["a sum-product layer", "the number 3"], "one of: cp, cp_t, tucker"),
    ],
    ids=["float-for-int", "string-for-float", "string-for-int", "number-for-kind"],
)
def test_wrong_type(line, column, words, hint):
    d = the_error(model(IMAGE, line))
    assert d.code == "type"
    assert where(d) == (3, column)
    assert d.message.startswith("expected ")
    for word in words:
        assert word in d.message
    if hint is not None:
        assert d.hint == hint


# Ranges -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("source", "at", "words"),
    [
        (model(IMAGE, "layers = cp(units = 0)"), (3, 23), ["'units' of 'cp'", "at least 1"]),
        (model("data = image(height = 2, width = 2, values = 1)"), (2, 48),
         ["'values' of 'image'", "at least 2"]),
        (model(IMAGE, "weights = softmax(init = normal(std = 0))"), (3, 41),
         ["'std' of 'normal'", "greater than 0"]),
        (model(IMAGE, "regions = quad_tree(splits = 3)"), (3, 32),
         ["'splits' of 'quad_tree'", "one of 2, 4", "found 3"]),
    ],
    ids=["units-0", "values-1", "std-0", "splits-3"],
)
def test_out_of_range(source, at, words):
    d = the_error(source)
    assert d.code == "range"
    assert where(d) == at
    for word in words:
        assert word in d.message


@pytest.mark.parametrize("digits", [20, 400, 5000])  # int() alone refuses 4,301 digits and more
def test_an_integer_literal_of_any_length_is_a_located_range_error(digits):
    d = the_error(model(IMAGE, f"layers = cp(units = {'9' * digits})"))
    assert d.code == "range" and where(d) == (3, 23)
    assert d.message == f"the integer 999999999999…999999999999 ({digits} characters) is out of range" \
        if digits > 24 else d.message == f"the integer {'9' * digits} is out of range"
    assert d.hint == "integers are at most 9223372036854775807 (2**63 - 1)"


def test_the_largest_int64_is_an_integer_literal():
    (spec,) = check(model(IMAGE, "seed = 9223372036854775807"))[0]
    assert spec.seed == 2**63 - 1


def test_integer_arithmetic_beyond_int64_is_a_range_error_at_the_expression():
    # 2**32 * 2**32 = 2**64: each literal is fine, their product is not.
    d = the_error(model(IMAGE, "layers = cp(units = 4294967296 * 4294967296)"))
    assert d.code == "range" and where(d) == (3, 23)
    assert "at most 9223372036854775807" in d.message and "found 18446744073709551616" in d.message


@pytest.mark.parametrize("value", ["1e999", "1e300 * 1e300"])
def test_a_float_beyond_any_double_for_an_integer_option_is_a_range_error(value):
    d = the_error(model(IMAGE, f"layers = cp(units = {value})"))
    assert d.code == "range" and where(d) == (3, 23)
    assert d.message == "'units' of 'cp' must be a finite integer, found inf"


# Arithmetic ---------------------------------------------------------------------------

def test_division_by_zero():
    d = the_error(model(IMAGE, "layers = cp(units = 64 / 0)"))
    assert d.code == "arithmetic"
    assert where(d) == (3, 23)
    assert d.span.end_column == 29  # all of `64 / 0`
    assert d.message == "division by zero"


def test_a_constant_with_an_error_causes_no_follow_on_errors():
    # `HALF` is defined on line 1; its uses must not be reported as unknown or as used
    # before their definition: the one mistake is the division.
    d = the_error("const HALF = 64 / 0\n" + model(IMAGE, "layers = cp(units = HALF)"))
    assert d.code == "arithmetic"
    assert where(d) == (1, 14)


# Structure ----------------------------------------------------------------------------

def test_regions_and_structure_conflict():
    d = the_error(model(IMAGE, "regions = quad_graph", "structure {",
                        "  region r = x[0] * x[1]", "}"))
    assert d.code == "conflict"
    assert where(d) == (4, 3)  # the structure block
    assert "'regions" in d.message and "'structure'" in d.message and "not both" in d.message


def test_variables_data_requires_a_structure():
    d = the_error(model(VARIABLES))
    assert d.code == "missing"
    assert where(d) == (1, 7)
    assert "structure" in d.message and "'m'" in d.message
    assert "structure {" in d.hint


def test_unknown_region_suggests_the_closest():
    d = the_error(structure("region left = x[0] * x[1]", "region root = lfet * x[2] * x[3]"))
    assert d.code == "unknown-name"
    assert where(d) == (5, 19)
    assert d.message == "unknown region 'lfet'"
    assert d.hint.startswith("did you mean 'left'? (one of: ")


def test_variable_index_out_of_range():
    d = the_error(structure("region root = x[0] * x[1] * x[2] * x[4]"))
    assert d.code == "range"
    assert where(d) == (4, 42)  # the index inside `x[4]`
    assert "variable index" in d.message
    assert "below 4" in d.message and "x[3]" in d.message and "found 4" in d.message


def test_variable_vector_other_than_x():
    d = the_error(structure("region root = x[0] * x[1] * x[2] * y[3]"))
    assert d.code == "unknown-name"
    assert where(d) == (4, 40)
    assert "'y'" in d.message
    # The user must learn what to write instead.
    assert d.hint is not None and "x[" in d.hint


def test_partition_with_a_single_part():
    d = the_error(structure("region root = x[0]"))
    assert d.code == "structure"
    assert where(d) == (4, 19)
    assert "at least two parts" in d.message
    assert "x[i]" in d.hint


def test_region_cycle():
    d = the_error(structure("region a = b * x[0]", "region b = a * x[1]"))
    assert d.code == "structure"
    assert where(d) == (4, 12)
    assert d.message == "region 'a' contains itself: a -> b -> a"


def test_several_root_regions():
    d = the_error(structure("region a = x[0] * x[1]", "region b = x[2] * x[3]"))
    assert d.code == "structure"
    assert where(d) == (5, 12)  # the second root
    assert "2 root regions" in d.message and "(a, b)" in d.message
    assert "'b'" in d.hint


def test_root_not_covering_every_variable():
    # Found when the region graph is built, so this runs the driver.
    source = structure("region root = x[0] * x[1]")
    with pytest.raises(CompileError) as info:
        compile_source(source, FILE)
    (d,) = [e for e in info.value.diagnostics if e.is_error]
    assert d.code == "coverage"
    assert where(d) == (4, 5)  # the root region's declaration
    assert "'root'" in d.message and "2 of 4" in d.message
    assert "x[2]" in d.message and "x[3]" in d.message


# Warnings -----------------------------------------------------------------------------

def test_unused_constant_is_a_warning_and_the_model_still_compiles():
    source = "const UNUSED = 3\n" + model(IMAGE)
    models, warnings = check(source)
    assert len(models) == 1
    (w,) = warnings
    assert w.severity is Severity.WARNING and not w.is_error
    assert w.code == "unused"
    assert where(w) == (1, 7)
    assert "'UNUSED'" in w.message
    compiled = compile_source(source, FILE)
    assert [m.spec.name for m in compiled.models] == ["m"]
    assert [d.code for d in compiled.warnings] == ["unused"]


# Specs that are fine ------------------------------------------------------------------

def test_defaults_are_filled_in():
    spec = the_model("model m { data = image(height = 28, width = 28) }")
    assert spec.name == "m"
    assert spec.data.kind == "image"
    assert dict(spec.data.options) == {"channels": 1, "height": 28, "width": 28, "values": 256,
                                       "domain": "discrete"}
    assert spec.num_variables == 784 and spec.num_values == 256
    assert spec.image_shape == (1, 28, 28)
    assert spec.structure is None
    assert spec.regions == KindValue("quad_graph", (), None)
    assert (spec.inputs.kind, spec.inputs["units"]) == ("categorical", 64)
    assert (spec.layers.kind, spec.layers["units"]) == ("cp", 64)
    assert spec.weights.kind == "softmax"
    init = spec.weights["init"]
    assert isinstance(init, KindValue)
    assert init.kind == "normal"
    assert init["mean"] == 0.0 and init["std"] == 1.0
    assert spec.seed == 0


def test_constants_and_arithmetic():
    spec = the_model("const U = 32\n" + model(
        "data = image(height = 2, width = 2)",
        "inputs = categorical(units = U / 2)",
        "layers = cp(units = U * 2)",
        "seed = (U - 2) / 3 + -1",
        "weights = softmax(init = normal(std = U / 64))",
    ))
    assert spec.layers["units"] == 64
    assert spec.inputs["units"] == 16
    assert isinstance(spec.inputs["units"], int)  # a whole quotient stays an integer
    assert spec.seed == 9 and isinstance(spec.seed, int)
    assert spec.weights["init"]["std"] == 0.5


def test_non_whole_quotient_is_not_an_integer():
    d = the_error("const U = 32\n" + model(IMAGE, "layers = cp(units = U / 3)"))
    assert d.code == "type"
    assert "an integer" in d.message


def test_model_constants_are_scoped_to_their_model():
    spec = the_model(model("const H = 4", "data = image(height = H, width = H)"))
    assert spec.image_shape == (1, 4, 4)
    d = the_error(model("const H = 4", "data = image(height = H, width = H)").replace(
        "model m", "model a") + model("data = image(height = H, width = 2)").replace(
        "model m", "model b"))
    assert d.code == "unknown-name"
    assert d.message == "unknown constant 'H'"


def test_bare_kind_name_is_shorthand_for_a_call_without_arguments():
    bare = the_model(model(IMAGE, "regions = quad_graph", "layers = cp"))
    called = the_model(model(IMAGE, "regions = quad_graph()", "layers = cp()"))
    assert bare.regions.kind == called.regions.kind == "quad_graph"
    assert bare.regions.options == called.regions.options == ()
    assert bare.layers.options == called.layers.options == (("units", 64),)
    tree = the_model(model(IMAGE, "regions = quad_tree"))
    assert tree.regions.kind == "quad_tree" and tree.regions["splits"] == 2


def test_positional_arguments_bind_in_schema_order():
    spec = the_model(model("data = image(3, 8, 4)", "layers = cp(16)"))
    assert spec.image_shape == (3, 8, 4)
    assert spec.layers["units"] == 16


def test_structure_is_resolved_in_dependency_order():
    spec = the_model(structure("region root = left * right",
                               "region left = x[0] * x[1]",
                               "region right = x[2] * x[3]"))
    assert spec.regions is None
    assert spec.structure is not None
    assert spec.structure.root == "root"
    names = [r.name for r in spec.structure.regions]
    assert names[-1] == "root" and set(names) == {"root", "left", "right"}
    left = next(r for r in spec.structure.regions if r.name == "left")
    assert [o.variable for o in left.partitions[0].operands] == [0, 1]


def test_hyphenated_kind_with_arguments_suggests_the_underscore_name():
    from pcdsl.diagnostics import CompileError
    from pcdsl.syntax.check import check_file
    from pcdsl.syntax.parser import parse_source

    source = "model m { data = image(height = 4, width = 4) regions = quad-tree(splits = 4) }"
    try:
        check_file(parse_source(source, "spec.pc"))
    except CompileError as exc:
        (d,) = [d for d in exc.diagnostics if d.is_error]
    else:
        raise AssertionError("no error")
    assert "unknown region graph 'quad-tree'" in d.message
    assert d.hint.startswith("did you mean 'quad_tree'? (one of: ")
    assert (d.span.line, d.span.column) == (1, 57)


def test_mixing_takes_one_of_its_names():
    import pytest

    from pcdsl.diagnostics import CompileError
    from pcdsl.syntax.check import check_file
    from pcdsl.syntax.parser import parse_source

    ok, _ = check_file(parse_source(
        "model m { data = image(height = 4, width = 4) mixing = dense }", "spec.pc"))
    assert ok[0].mixing == "dense"
    assert check_file(parse_source(
        "model m { data = image(height = 4, width = 4) }", "spec.pc"))[0][0].mixing == "per_unit"
    with pytest.raises(CompileError) as info:
        check_file(parse_source("model m { data = image(height = 4, width = 4) mixing = dens }",
                                "spec.pc"))
    (d,) = info.value.diagnostics
    assert d.message == "unknown value 'dens' for 'mixing'"
    assert d.hint == "did you mean 'dense'? (one of: per_unit, dense)"
    assert (d.span.line, d.span.column) == (1, 56)
    with pytest.raises(CompileError) as info:
        check_file(parse_source("model m { data = image(height = 4, width = 4) mixing = 2 }",
                                "spec.pc"))
    (d,) = info.value.diagnostics
    assert d.code == "type" and "per_unit, dense" in d.message


def test_product_first_layers_over_binomial_inputs_warn():
    from pcdsl.syntax.check import check_file
    from pcdsl.syntax.parser import parse_source

    models, warnings = check_file(parse_source(
        "model m { data = image(height = 4, width = 4)\n"
        "  inputs = binomial(units = 4)\n  layers = cp_t(units = 4) }", "spec.pc"))
    assert models  # a warning, not an error
    (w,) = warnings
    assert w.code == "numerics" and "underflow" in w.message
    assert (w.span.line, w.span.column) == (3, 12)
    _, none = check_file(parse_source(
        "model m { data = image(height = 4, width = 4) inputs = binomial(units = 4) }",
        "spec.pc"))
    assert none == []


# Input kinds, data domains and parameterisations (issue #3) ---------------------------

@pytest.mark.parametrize("lines,at,words,hint", [
    (("data = image(height = 2, width = 2)", "inputs = gaussian(units = 4)"), (3, 12),
     "'gaussian' inputs are over real-valued data, but the data are discrete with 256 values",
     "domain = real"),
    (("data = image(height = 2, width = 2, domain = real)",), (2, 48),
     "'categorical' inputs are over discrete values, but the data are real-valued", "gaussian"),
    (("data = image(height = 2, width = 2, domain = real)", "inputs = embedding"), (3, 12),
     "'embedding' inputs are over discrete values", "gaussian"),
    (("data = variables(count = 2, values = 2)", "inputs = gaussian",
      "structure { region r = x[0] * x[1] }"), (3, 12), "'variables' data", None),
])
def test_input_kinds_must_suit_the_data(lines, at, words, hint):
    d = the_error(model(*lines))
    assert d.code == "conflict" and where(d) == at and words in d.message
    assert hint is None or hint in d.hint


def test_values_of_real_data_is_an_error():
    d = the_error(model("data = image(height = 2, width = 2, values = 4, domain = real)",
                        "inputs = gaussian"))
    assert d.code == "conflict" and where(d) == (2, 48)
    assert d.message == "'values' is for discrete data, but 'domain' is real"


@pytest.mark.parametrize("inputs,column,words,hint", [
    ("categorical(probs = none)", 32, "a non-negative parameterisation for 'probs' of "
     "'categorical', found the parameterisation 'none'", "softmax, sigmoid"),
    ("binomial(probs = softplus)", 29, "a parameterisation in (0, 1) for 'probs' of "
     "'binomial'", "one of: sigmoid"),
    ("bernoulli(logits = sigmoid)", 31, "'logits' of 'bernoulli'", "one of: none"),
    ("embedding(weights = none)", 32, "'weights' of 'embedding'", "softplus"),
    ("gaussian(std = none)", 27, "a positive parameterisation for 'std'", "softplus"),
])
def test_input_parameterisations_are_checked(inputs, column, words, hint):
    data = ("image(height = 2, width = 2, domain = real)" if "gaussian" in inputs
            else "image(height = 2, width = 2, values = 2)")
    d = the_error(model(f"data = {data}", f"inputs = {inputs}"))
    assert d.code == "type" and where(d) == (3, column)
    assert words in d.message and hint in d.hint


def test_probs_and_logits_together_are_an_error():
    d = the_error(model(IMAGE, "inputs = categorical(probs = softmax, logits = none)"))
    assert d.code == "conflict" and where(d) == (3, 50)
    assert d.message == "'categorical' takes either 'probs' or 'logits', not both"


def test_uniform_needs_a_below_b():
    d = the_error(model(IMAGE, "weights = sigmoid(init = uniform(a = 1, b = 0.5))"))
    assert d.code == "range" and where(d) == (3, 47)
    assert d.message == "'b' of 'uniform' must be greater than 'a' (1.0), found 0.5"


def test_positive_values_need_positive_bounds():
    d = the_error(model(IMAGE, "weights = positive_clamp(minimum = 0)"))
    assert d.code == "range" and "greater than 0" in d.message
    d = the_error(model(IMAGE, "weights = softmax(init = dirichlet(alpha = -1))"))
    assert d.code == "range" and "'alpha' of 'dirichlet'" in d.message


def test_misspelt_parameterisation_suggests_the_closest():
    d = the_error(model(IMAGE, "dense_weights = sigmod"))
    assert d.message == "unknown parameterisation 'sigmod'"
    assert d.hint.startswith("did you mean 'sigmoid'? (one of: ")
    d = the_error(model(IMAGE, "weights = positive-clamp"))
    assert d.hint.startswith("did you mean 'positive_clamp'? (one of: ")


def test_unconstrained_weights_drawn_negative_warn():
    models, warnings = check(model(IMAGE, "weights = none"))
    assert models
    (w,) = warnings
    assert w.code == "numerics" and where(w) == (3, 13) and "negative" in w.message
    _, none = check(model(IMAGE, "weights = none(init = uniform(a = 0.0, b = 1.0))"))
    assert none == []


def test_input_parameterisations_default_to_the_weights_initialiser():
    spec = the_model(model(IMAGE, "weights = sigmoid(init = uniform(a = -1, b = 1))"))
    probs = spec.inputs["probs"]
    assert probs.kind == "softmax" and probs["init"] == spec.weights["init"]
    assert spec.inputs["logits"] is None
    assert spec.inputs.source() == ("categorical(units = 64, probs = softmax(init = "
                                    "uniform(a = -1.0, b = 1.0)))")
    binomial = the_model(model(IMAGE, "inputs = binomial")).inputs["probs"]
    assert binomial.kind == "sigmoid" and binomial["init"].kind == "spaced"
    logits = the_model(model(IMAGE, "inputs = categorical(logits = none)")).inputs
    assert logits["probs"] is None and logits["logits"].kind == "none"
    gaussian = the_model(model("data = image(height = 2, width = 2, domain = real)",
                               "inputs = gaussian")).inputs
    assert (gaussian["mean"].kind, gaussian["std"].kind) == ("none", "softplus")
    assert the_model(model(IMAGE, "inputs = embedding")).inputs["weights"].kind == "softplus"


def test_per_kind_weights_override_weights():
    spec = the_model(model(IMAGE, "weights = softplus", "mixing_weights = sigmoid"))
    assert spec.dense_weights is None
    assert spec.sum_weights("dense").kind == "softplus"
    assert spec.sum_weights("mixing").kind == "sigmoid"
    real = the_model(model("data = image(height = 2, width = 2, domain = real)",
                           "inputs = gaussian"))
    assert real.domain == "real" and real.num_values is None
    assert real.data.source() == "image(channels = 1, height = 2, width = 2, domain = real)"


def test_chow_liu_tree_takes_a_file_name():
    d = the_error(model(IMAGE, "regions = chow_liu_tree(file = 3)"))
    assert d.code == "type" and "a string for 'file' of 'chow_liu_tree'" in d.message
    d = the_error(model(IMAGE, "regions = chow_liu_tree"))
    assert d.code == "missing" and "option 'file' of 'chow_liu_tree'" in d.message
