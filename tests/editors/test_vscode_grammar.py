"""The VS Code extension (editors/vscode): its TextMate grammar highlights every keyword
of the grammar (grammar/pc.lark) and every kind and setting of the schema, and its files
hang together."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcdsl.syntax import schema

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "editors" / "vscode"
GRAMMAR = json.loads((EXTENSION / "syntaxes" / "pc.tmLanguage.json").read_text(encoding="utf-8"))


def grammar_keywords() -> list[str]:
    """The quoted literal words of grammar/pc.lark (not its punctuation), outside comments."""
    text = (ROOT / "grammar" / "pc.lark").read_text(encoding="utf-8")
    code = "\n".join(line.split("//")[0] for line in text.splitlines())
    return sorted(set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', code)))


def rules(node: object) -> Iterator[dict]:
    """Every rule (a dict with ``match`` or ``begin``) anywhere in the grammar."""
    if isinstance(node, dict):
        if "match" in node or "begin" in node:
            yield node
        for value in node.values():
            yield from rules(value)
    elif isinstance(node, list):
        for value in node:
            yield from rules(value)


def scopes_of(text: str) -> dict[tuple[int, int], set[str]]:
    """(start, end) -> the scope names some rule's match (or capture) gives that stretch
    of ``text``, each rule applied on its own (no begin/end nesting: enough to tell
    whether a word is highlighted at all)."""
    found: dict[tuple[int, int], set[str]] = {}
    for rule in rules(GRAMMAR):
        pattern = rule.get("match") or rule["begin"]
        captures = {int(k): v for k, v in (rule.get("captures") or rule.get("beginCaptures") or {}).items()}
        for match in re.finditer(pattern, text, flags=re.MULTILINE):
            if "name" in rule:
                span = match.span() if "match" in rule else (match.start(), _end_of(rule, text, match.end()))
                found.setdefault(span, set()).add(rule["name"])
            for group, capture in captures.items():
                if match.group(group) is not None and "name" in capture:
                    found.setdefault(match.span(group), set()).add(capture["name"])
    return found


def _end_of(rule: dict, text: str, position: int) -> int:
    """Where a begin/end rule ends: as in TextMate, at each step the earliest match of the
    end pattern or of an inner ``match`` pattern wins (the end pattern on a tie)."""
    inner = [r["match"] for r in rule.get("patterns", []) if "match" in r]
    while position <= len(text):
        end = re.compile(rule["end"], re.MULTILINE).search(text, position)
        nested = [m for m in (re.compile(p).search(text, position) for p in inner) if m is not None]
        first = min(nested, key=lambda m: m.start(), default=None)
        if end is None and first is None:
            return len(text)
        if first is None or (end is not None and end.start() <= first.start()):
            return end.end() if end is not None else len(text)
        position = max(first.end(), position + 1)
    return len(text)


def highlighted_as(word: str, sample: str, prefix: str) -> bool:
    start = sample.index(word)
    return any(name.startswith(prefix) for name in scopes_of(sample).get((start, start + len(word)), ()))


KEYWORDS = grammar_keywords()
KINDS = [kind.name for kind in schema.KINDS]
SETTINGS = [setting.key for setting in schema.SETTINGS]


def test_the_grammar_file_has_keywords_to_check():
    assert {"const", "model", "structure", "region"} <= set(KEYWORDS)


def test_every_keyword_of_the_grammar_is_highlighted():
    missing = [w for w in KEYWORDS if not highlighted_as(w, f"{w} name {{", "keyword")]
    assert not missing, (f"keywords of grammar/pc.lark missing from the TextMate grammar: {missing}; "
                         "run editors/vscode/scripts/generate_grammar.py")


def test_every_kind_of_the_schema_is_highlighted():
    missing = [k for k in KINDS
               if not (highlighted_as(k, f"  regions = {k}", "support.function")
                       and highlighted_as(k, f"  regions = {k}(units = 1)", "support.function"))]
    assert not missing, (f"kinds of pcdsl/syntax/schema.py missing from the TextMate grammar: {missing}; "
                         "run editors/vscode/scripts/generate_grammar.py")


def test_every_operation_of_the_algebra_is_highlighted():
    from pcdsl.syntax.typed import OPERATIONS

    missing = [o for o in OPERATIONS
               if not highlighted_as(o, f"model m = {o}(base)", "support.function")]
    assert not missing, (f"operations of pcdsl/syntax/typed.py missing from the TextMate grammar: "
                         f"{missing}; run editors/vscode/scripts/generate_grammar.py")


def test_every_setting_of_the_schema_is_highlighted():
    missing = [s for s in SETTINGS if not highlighted_as(s, f"  {s} = 1", "support.type.property-name")]
    assert not missing, (f"settings of pcdsl/syntax/schema.py missing from the TextMate grammar: {missing}; "
                         "run editors/vscode/scripts/generate_grammar.py")


def test_an_unknown_name_is_not_a_kind_or_a_setting():
    assert not highlighted_as("quad_graphs", "  regions = quad_graphs", "support.function")
    assert not highlighted_as("regionz", "  regionz = 1", "support.type.property-name")


@pytest.mark.parametrize("sample, word, prefix", [
    ("const A = 1  # a comment", "# a comment", "comment.line"),
    ('const S = "a \\" b"', '"a \\" b"', "string.quoted.double"),
    ("const A = 2.5E+2", "2.5E+2", "constant.numeric"),
    ("const A = .5", ".5", "constant.numeric"),
    ("const A = 1 + 2", "+", "keyword.operator"),
    ("region r = a * b | c", "|", "keyword.operator"),
    ("  mixing = dense", "dense", "constant.language"),
    ("region r = x[0] * a", "x", "variable.language"),
    ("model mnist {", "mnist", "entity.name.type"),
    ("  layers = cp(units = 4)", "units", "variable.parameter"),
])
def test_comments_strings_numbers_operators_and_names(sample, word, prefix):
    assert highlighted_as(word, sample, prefix)


def test_the_grammar_is_well_formed():
    assert GRAMMAR["scopeName"] == "source.pc"
    repository = GRAMMAR["repository"]
    includes = re.findall(r'"include": "#([^"]+)"', json.dumps(GRAMMAR))
    assert includes and set(includes) <= set(repository)
    for rule in rules(GRAMMAR):
        for key in ("match", "begin", "end"):
            if key in rule:
                re.compile(rule[key])  # also valid for Oniguruma: the subset both read alike


def test_the_checked_in_grammar_is_what_the_generator_writes():
    script = EXTENSION / "scripts" / "generate_grammar.py"
    spec = importlib.util.spec_from_file_location("generate_grammar", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.grammar() == GRAMMAR, "run editors/vscode/scripts/generate_grammar.py"


def test_the_extension_manifest_and_language_configuration():
    manifest = json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))
    (language,) = manifest["contributes"]["languages"]
    assert language["id"] == "pc" and language["extensions"] == [".pc"]
    (grammar,) = manifest["contributes"]["grammars"]
    assert grammar["language"] == "pc" and grammar["scopeName"] == GRAMMAR["scopeName"]
    for path in (language["configuration"], grammar["path"], manifest["main"]):
        assert (EXTENSION / path).is_file(), path
    properties = manifest["contributes"]["configuration"]["properties"]
    assert properties["pcdsl.server.command"]["default"] == ["pcc", "lsp"]
    configuration = json.loads((EXTENSION / language["configuration"]).read_text(encoding="utf-8"))
    assert configuration["comments"]["lineComment"] == "#"
    assert ["(", ")"] in configuration["brackets"] and ["{", "}"] in configuration["brackets"]
    assert {"open": "(", "close": ")"} in configuration["autoClosingPairs"]
    assert (EXTENSION / "README.md").is_file()
