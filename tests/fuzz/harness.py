"""What the fuzz tests feed the compiler, and what they accept back.

Three sources of specs, all as Hypothesis strategies:

* ``mutated_specs``: small valid specs (the examples with their sizes shrunk, and the
  tests' small specs) with one to four mutations: a token deleted, duplicated or
  swapped, a number made huge, zero, negative or a float, a name replaced by another
  word of the language, random or look-alike characters inserted, the text truncated;
* ``token_streams``: random sequences of the grammar's own terminals;
* ``schema_specs``: random models built from the schema's settings, kinds and options
  (mostly valid, so that lowering, the passes and code generation see odd combinations).

``failure_of(source)`` runs one spec through ``compile_source`` and ``emit_python`` and
returns why the outcome is unacceptable, or None: the outcome must be module text that
parses as Python, or a ``CompileError`` whose diagnostics all have spans in the file;
anything else, or a case running past ``CASE_SECONDS``, is a failure.
``cli_failure_of(source, folder)`` does the same through ``pcc compile`` writing a file:
exit 0 with exactly the module written, or 1/2 with nothing written, and never a
traceback.

Sizes are kept tiny (images of at most 4 x 4, a few units), and the huge numbers the
mutations write are far past the driver's size guard, so that no case takes long.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import signal
import traceback
from collections.abc import Iterator
from pathlib import Path

from hypothesis import strategies as st

from pcdsl.diagnostics import CompileError
from pcdsl.driver import compile_source, emit_python
from pcdsl.syntax import schema
from pcdsl.syntax.grammar import lark_parser

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = "fuzz.pc"
CASE_SECONDS = 60  # a hang, not a slow case: tiny specs compile in milliseconds

# Small specs that exercise every part of the language; the examples join them, shrunk.
SMALL_SPECS = (
    """model m {
  data = image(height = 4, width = 4, values = 4)
  inputs = categorical(units = 2)
  layers = cp(units = 2)
}
""",
    """const UNITS = 3
const HALF = UNITS * 2 / 3
model tiny {
  data    = image(channels = 2, height = 3, width = 2, values = 3)
  regions = quad_tree(splits = 4)
  inputs  = binomial(units = UNITS)
  layers  = cp_t(units = UNITS)
  weights = softmax(init = normal(mean = -0.5, std = 2.0))
  seed    = 7
}
""",
    """model chain {
  data   = variables(count = 5, values = 3)
  inputs = categorical(units = 2)
  layers = cp(units = 3)
  structure {
    region ab   = x[0] * x[1]
    region cd   = x[2] * x[3]
    region abc  = ab * x[2] | x[0] * x[1] * x[2]
    region root = abc * x[3] * x[4] | ab * cd * x[4]
  }
}
""",
    """model bad {
  data = variables(count = 4, values = 2)
  structure {
    region a = x[0] * x[2]
    region b = x[1] * x[3]
    region r = a * b | x[0] * x[1]
  }
}
""",
    """model small { data = image(height = 2, width = 2) layers = tucker(2) inputs = categorical(2) }
model large { data = image(1, 3, 3, 2) mixing = dense
              regions = random_binary_tree(repetitions = 2, seed = 1) }
""",
    """model pd {
  data    = image(channels = 1, height = 4, width = 3, values = 5)
  regions = poon_domingos(delta = 2, max_depth = 3)
  inputs  = embedding(units = 2, weights = softplus(init = uniform(a = 0.0, b = 1.0)))
  layers  = cp(units = 2)
  weights = softplus(init = uniform(a = 0.0, b = 1.0))
  mixing_weights = softmax(init = dirichlet(alpha = 1.0))
  classes = 2
}
""",
    """model lin { data = image(height = 2, width = 3, domain = real) regions = linear_tree(repetitions = 2)
  inputs = gaussian(units = 2, mean = none(init = normal(mean = 0.0, std = 0.5)),
                    std = softplus(init = normal(mean = -1.0, std = 0.1)))
  layers = cp(units = 2) }
""",
    'const S = "text"  # a string constant, used nowhere\nmodel m { data = image(height = 1, width = 1) }\n',
)

_INTEGER = re.compile(r"(?<![\w.])\d+(?![\w.])")


def shrink(source: str) -> str:
    """A spec with every integer above 4 written as 3, so that images and units are tiny."""
    return _INTEGER.sub(lambda m: m.group(0) if int(m.group(0)) <= 4 else "3", source)


def seed_specs() -> tuple[str, ...]:
    examples = sorted((ROOT / "examples").glob("*.pc"))
    return SMALL_SPECS + tuple(shrink(p.read_text(encoding="utf-8")) for p in examples)


# Tokens -------------------------------------------------------------------------------

_TOKEN = re.compile(r'#[^\n]*|"(?:[^"\\\n]|\\.)*"?|[A-Za-z_]\w*|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?'
                    r"|\s+|.", re.DOTALL)


def tokens_of(source: str) -> list[str]:
    """The text cut into tokens, whitespace and comments included, so joining them gives
    the text back."""
    return _TOKEN.findall(source)


def _literals() -> list[str]:
    """The grammar's fixed terminals: keywords and punctuation."""
    return sorted(t.pattern.value for t in lark_parser().terminals
                  if type(t.pattern).__name__ == "PatternStr")


WORDS = sorted({k.name for k in schema.KINDS} | {s.key for s in schema.SETTINGS}
               | {o.name for k in schema.KINDS for o in k.options}
               | {str(c) for k in schema.KINDS for o in k.options for c in (o.choices or ())}
               | {"x", "model", "const", "structure", "region", "m", "r", "UNITS"})
NUMBERS = ("0", "1", "2", "3", "4", "0.5", "1.0", "64.0", ".5", "1.", "1e3", "2.5E+2", "1e-3",
           "100000", "99999999999", "18446744073709551616", "1e999", "1e-999",
           "0000000000000000000001")
# Characters a spec must survive: control characters, look-alikes (Cyrillic, Greek,
# fullwidth, mathematical and Arabic-Indic digits), invisible and bidirectional controls.
ODD_CHARACTERS = ("\x00", "\r", "\t", "\x0b", "\x0c", "\x1b", "\x7f", "\\", "'", '"', "#", ";",
                  ":", "@", "$", "`", "~", "!", "?", "<", ">", "&", "^", "%", "\n",
                  "\u0430", "\u0435", "\u03bf", "\uff21", "\uff12", "\U0001d7d0", "\u0663",
                  "\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", "\u2066", "\u2069",
                  "\u00a0", "\u3000", "\u2028", "\U0001f600", "\ud800")


# Strategies ---------------------------------------------------------------------------

@st.composite
def _mutation(draw: st.DrawFn, tokens: list[str]) -> list[str]:
    if not tokens:
        return [draw(st.sampled_from(WORDS))]
    i = draw(st.integers(0, len(tokens) - 1))
    # Numbers and words keep a spec parseable more often than the others.
    kind = draw(st.sampled_from(("number", "word", "delete", "number", "duplicate", "word",
                                 "swap", "number", "insert", "truncate")))
    out = list(tokens)
    if kind == "delete":
        del out[i]
    elif kind == "duplicate":
        out.insert(i, out[i])
    elif kind == "swap":
        j = draw(st.integers(0, len(tokens) - 1))
        out[i], out[j] = out[j], out[i]
    elif kind == "number":
        numbers = [k for k, t in enumerate(out) if t[:1].isdigit() or t[:1] == "."]
        k = draw(st.sampled_from(numbers)) if numbers else i
        replacement = draw(st.sampled_from(NUMBERS + ("-1", "-0", "- 3", "(0)")))
        out[k] = replacement
    elif kind == "word":
        names = [k for k, t in enumerate(out) if t[:1].isalpha() or t[:1] == "_"]
        k = draw(st.sampled_from(names)) if names else i
        out[k] = draw(st.sampled_from(WORDS))
    elif kind == "insert":
        text = draw(st.text(st.sampled_from(ODD_CHARACTERS) | st.characters(), min_size=1,
                            max_size=3))
        out.insert(i, text)
    else:
        out = out[:i]
    return out


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    tokens = tokens_of(draw(st.sampled_from(seed_specs())))
    for _ in range(draw(st.sampled_from((1, 1, 1, 2, 2, 3, 4)))):
        tokens = draw(_mutation(tokens))
    return "".join(tokens)


def _terminal_samples() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(_literals()),
        st.sampled_from(WORDS),
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
        st.sampled_from(NUMBERS),
        st.from_regex(r"(\d{1,3}\.\d{0,2}|\.\d{1,2}|\d{1,3})([eE][+-]?\d{1,3})?", fullmatch=True),
        st.from_regex(r'"([^"\\\n]|\\["\\nt]){0,6}"', fullmatch=True),
        st.from_regex(r"#[^\n]{0,10}\n", fullmatch=True),
    )


@st.composite
def token_streams(draw: st.DrawFn) -> str:
    """Terminals of the grammar in random order, sometimes after a valid prefix."""
    prefix = draw(st.sampled_from(("", "model m {", "model m { data = image(height = 2, width = 2) ",
                                   "model m { data = variables(count = 3, values = 2) structure { ")))
    words = draw(st.lists(_terminal_samples(), max_size=40))
    separators = draw(st.lists(st.sampled_from((" ", "\n", "", "\t")), min_size=len(words),
                               max_size=len(words)))
    return prefix + "".join(w + s for w, s in zip(words, separators))


# Option values: valid (in range, of the right type) nine times in ten, so that most
# schema-built models compile and reach lowering, the passes and code generation.
_BAD_INTS = st.sampled_from((0, -1, 100000, 2 ** 70))
_GOOD_FLOATS = st.sampled_from(("0.0", "0.5", "1.0", "2", "-1.5", "0.1"))
_BAD_FLOATS = st.sampled_from(("1e-300", "1e300", "1e999", "1e999 - 1e999", "-0.0", "0"))
_STRINGS = st.sampled_from(('""', '"trees/none.json"', '"a\\"b"', '"../../etc/passwd"',
                            '"\u202ex\u202c"'))


def _good_int(option: schema.Option) -> st.SearchStrategy[int]:
    if option.choices:
        return st.sampled_from(tuple(c for c in option.choices if isinstance(c, int)) or (1,))
    low = int(option.minimum) if option.minimum is not None else 0
    high = {"height": 4, "width": 4, "count": 5, "values": 4, "channels": 2}.get(option.name, 3)
    return st.integers(max(low, 0), max(low, high))


def _rarely(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in ``one_in`` draws. A middle value, not 0: Hypothesis draws the
    ends of a range far more often than their share."""
    return draw(st.integers(0, one_in - 1)) == one_in // 2


def _good_float(option: schema.Option) -> st.SearchStrategy[str]:
    if option.minimum is None:
        return _GOOD_FLOATS
    return st.sampled_from(tuple(f for f in ("0.0", "0.5", "1.0", "2", "-1.5", "0.1")
                                 if float(f) > option.minimum
                                 or float(f) == option.minimum and not option.minimum_exclusive))


def _value(draw: st.DrawFn, option: schema.Option, depth: int) -> str:
    bad = _rarely(draw, 25)
    if option.type == "kind" and option.category is not None:
        return _kind(draw, option.category, depth + 1)
    if option.type == "name":
        choices = tuple(str(c) for c in option.choices or ())
        return draw(st.sampled_from(("nothing",) if bad or not choices else choices))
    if option.type == "float":
        return draw(_BAD_FLOATS if bad else _good_float(option))
    if option.type == "string":
        return draw(_STRINGS)
    return str(draw(_BAD_INTS if bad else _good_int(option)))


def _kind(draw: st.DrawFn, category: str, depth: int = 0) -> str:
    kinds = sorted(schema.kinds_of(category).values(), key=lambda k: k.name)
    if _rarely(draw, 100):  # now and then a kind of another category
        kinds = sorted(schema.KINDS, key=lambda k: k.name)
    kind = draw(st.sampled_from(kinds))
    required = any(o.required for o in kind.options)
    if depth > 2 or not kind.options or (not required and draw(st.booleans())):
        return kind.name
    arguments = []
    for option in kind.options:
        if option.required or draw(st.booleans()):
            arguments.append(f"{option.name} = {_value(draw, option, depth)}")
    return f"{kind.name}({', '.join(arguments)})"


@st.composite
def _structure(draw: st.DrawFn, count: int) -> str:
    """A structure block that is smooth and decomposable by construction (each region's
    partitions cut the same variables into disjoint parts), now and then broken by a
    stray variable."""
    lines: list[str] = []

    def region(variables: list[int]) -> str:
        if len(variables) == 1:
            return f"x[{variables[0]}]"
        partitions = []
        for _ in range(draw(st.integers(1, 2))):
            shuffled = draw(st.permutations(variables))
            cuts = sorted(draw(st.sets(st.integers(1, len(variables) - 1), min_size=1,
                                       max_size=min(2, len(variables) - 1))))
            parts = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(variables)])]
            partitions.append(" * ".join(region(sorted(p)) for p in parts))
        if _rarely(draw, 20):
            partitions[-1] += f" * x[{draw(st.integers(0, count))}]"
        name = f"r{len(lines)}"
        lines.append(f"region {name} = {' | '.join(partitions)}")
        return name

    region(list(range(count)))
    return "structure { " + " ".join(draw(st.permutations(lines))) + " }"


def _image(draw: st.DrawFn, option: schema.Option) -> str:
    """The arguments of an image: tiny, and discrete four times in five."""
    image = schema.kind_named("image")
    assert image is not None
    arguments = []
    for o in image.options:
        if o.required or draw(st.booleans()):
            if o.name == "domain":
                arguments.append(f"domain = {draw(st.sampled_from(('discrete',) * 4 + ('real',)))}")
            else:
                arguments.append(f"{o.name} = {_value(draw, o, 0)}")
    return ", ".join(arguments)


@st.composite
def schema_specs(draw: st.DrawFn) -> str:
    """One or two models with random settings from the schema."""
    models = []
    for name in draw(st.sampled_from((["m"], ["m"], ["a", "b"]))):
        items = []
        structure = draw(st.booleans())
        if structure:
            count = draw(st.integers(2, 5))
            items.append(f"data = variables(count = {count}, values = {draw(st.integers(2, 3))})")
            items.append(draw(_structure(count)))
        else:
            option = schema.Option("data", "kind", schema.REQUIRED, "", category="data")
            items.append(f"data = image({_image(draw, option)})")
        for setting in schema.SETTINGS:
            if setting.key == "data" or not draw(st.booleans()):
                continue
            if setting.key == "regions" and structure and not _rarely(draw, 10):
                continue  # both is a conflict: now and then only
            if setting.type == "kind" and setting.category is not None:
                value = _kind(draw, setting.category)
            elif setting.type == "name":
                value = draw(st.sampled_from(tuple(setting.choices or ()) + ("other",) * 0))
            else:
                value = str(draw(st.sampled_from((2 ** 64, -1, 0)) if _rarely(draw, 25)
                                 else st.integers(1, 3)))
            items.append(f"{setting.key} = {value}")
        items = draw(st.permutations(items))
        models.append(f"model {name} {{\n  " + "\n  ".join(items) + "\n}\n")
    return "".join(models)


def any_spec() -> st.SearchStrategy[str]:
    return st.one_of(mutated_specs(), token_streams(), schema_specs())


# Outcomes -----------------------------------------------------------------------------

class Hang(BaseException):
    """A case ran past its time bound (a BaseException, so no ``except Exception`` in
    the compiler can take it for an ordinary error)."""


@contextlib.contextmanager
def time_bound(seconds: int) -> Iterator[None]:
    def expire(_signum: int, _frame: object) -> None:
        raise Hang(f"still running after {seconds} s")

    if not hasattr(signal, "SIGALRM"):  # Windows: no alarm; the case runs unbounded
        yield
        return
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def span_problems(exc: CompileError, path: str) -> list[str]:
    problems = []
    if not exc.diagnostics:
        problems.append("a CompileError without diagnostics")
    for d in exc.diagnostics:
        span = d.span
        if span is None:
            problems.append(f"no span: {d.code}: {d.message}")
        elif span.file != path or span.line < 1 or span.column < 1 or \
                (span.end_line, span.end_column) < (span.line, span.column):
            problems.append(f"bad span {span!r}: {d.message}")
    return problems


def compile_outcome(source: str, path: str = SPEC_PATH) -> tuple[list[str], list[str]]:
    """(module texts, problems) of compiling every model of ``source``."""
    try:
        compiled = compile_source(source, path)
    except CompileError as exc:
        return [], span_problems(exc, path)
    texts = [emit_python(compiled, model) for model in compiled.models]
    problems = []
    for text in texts:
        try:
            ast.parse(text)
        except SyntaxError as exc:
            problems.append(f"generated module is not Python: {exc}")
    return texts, problems


def failure_of(source: str, path: str = SPEC_PATH) -> str | None:
    """Why compiling ``source`` had an unacceptable outcome, or None."""
    try:
        with time_bound(CASE_SECONDS):
            _, problems = compile_outcome(source, path)
    except Hang as exc:
        return f"hang: {exc}"
    except Exception:  # anything but a CompileError is a bug
        return "exception:\n" + traceback.format_exc()
    return "\n".join(problems) or None


def cli_failure_of(source: str, folder: Path) -> str | None:
    """Why ``pcc compile`` on ``source`` had an unacceptable outcome, or None."""
    from pcdsl.cli.main import main

    spec = folder / "spec.pc"
    out = folder / "out" / "model.py"
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.iterdir():
        stale.unlink()
    spec.write_bytes(source.encode("utf-8", "surrogatepass"))
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with time_bound(CASE_SECONDS), contextlib.redirect_stdout(stdout), \
                contextlib.redirect_stderr(stderr):
            status = main(["compile", str(spec), "-o", str(out)])
    except Hang as exc:
        return f"hang: {exc}"
    except SystemExit as exc:  # argparse; no spec text can make a usage error of its own
        return f"SystemExit({exc.code}): {stderr.getvalue()}"
    except Exception:
        return "exception:\n" + traceback.format_exc()
    left = sorted(p.name for p in out.parent.iterdir())
    err = stderr.getvalue()
    if status not in (0, 1, 2):
        return f"exit {status}: {err}"
    if "Traceback" in err or "internal error" in err:
        return f"traceback on standard error:\n{err}"
    if status == 0:
        if left != ["model.py"]:
            return f"exit 0 but the output folder holds {left}"
        try:
            ast.parse(out.read_text(encoding="utf-8"))
        except SyntaxError as exc:
            return f"written module is not Python: {exc}"
    elif left:
        return f"exit {status} but the output folder holds {left} (a partial output)"
    return None
