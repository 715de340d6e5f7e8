"""Write ``syntaxes/pc.tmLanguage.json``, the TextMate grammar of ``.pc`` files, from the
compiler's own lists: the keywords of the parser, the kinds, settings and named
choices of ``pcdsl/syntax/schema.py`` and the operations of the circuit algebra. Run it
after adding a kind, a setting or an operation:

    .venv/bin/python editors/vscode/scripts/generate_grammar.py

(tests/editors/test_vscode_grammar.py fails until the grammar knows every name.)
The regular expressions are written in the subset that Oniguruma (VS Code) and Python's
``re`` (the tests) read alike.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pcdsl.syntax import schema
from pcdsl.syntax.parser import KEYWORDS
from pcdsl.syntax.typed import OPERATIONS

OUTPUT = Path(__file__).resolve().parents[1] / "syntaxes" / "pc.tmLanguage.json"
NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def words(names: list[str]) -> str:
    # Longest first, so that no name is cut short by a shorter one it starts with.
    return r"\b(?:" + "|".join(re.escape(n) for n in sorted(set(names), key=lambda n: (-len(n), n))) + r")\b"


def grammar() -> dict:
    kinds = [k.name for k in schema.KINDS] + list(OPERATIONS)  # square(base) reads like a kind
    settings = [s.key for s in schema.SETTINGS]
    choices = [str(c) for s in schema.SETTINGS for c in (s.choices or ())]
    choices += [str(c) for k in schema.KINDS for o in k.options if o.type == "name"
                for c in (o.choices or ())]
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "pc",
        "scopeName": "source.pc",
        "fileTypes": ["pc"],
        "patterns": [{"include": "#comments"}, {"include": "#declarations"}, {"include": "#settings"},
                     {"include": "#expression"}],
        "repository": {
            "comments": {"patterns": [{
                "name": "comment.line.number-sign.pc",
                "match": r"(#).*$",
                "captures": {"1": {"name": "punctuation.definition.comment.pc"}},
            }]},
            "declarations": {"patterns": [
                {"match": rf"\b(model)\s+({NAME})",
                 "captures": {"1": {"name": "keyword.other.model.pc"},
                              "2": {"name": "entity.name.type.model.pc"}}},
                {"match": rf"\b(const)\s+({NAME})",
                 "captures": {"1": {"name": "keyword.other.const.pc"},
                              "2": {"name": "variable.other.constant.pc"}}},
                {"match": rf"\b(region)\s+({NAME})",
                 "captures": {"1": {"name": "keyword.other.region.pc"},
                              "2": {"name": "entity.name.function.region.pc"}}},
                {"name": "keyword.other.pc", "match": words(list(KEYWORDS))},
            ]},
            "settings": {"patterns": [{
                "name": "support.type.property-name.setting.pc",
                "match": words(settings) + r"(?=\s*=)",
            }]},
            "expression": {"patterns": [
                {"include": "#comments"},
                {"include": "#strings"},
                {"include": "#numbers"},
                {"include": "#call"},
                {"include": "#kinds"},
                {"include": "#choices"},
                {"include": "#variable"},
                {"include": "#operators"},
                {"include": "#punctuation"},
            ]},
            "call": {
                "begin": rf"\b({NAME})\s*(\()",
                "beginCaptures": {"1": {"name": "entity.name.function.pc",
                                        "patterns": [{"include": "#kinds"}]},
                                  "2": {"name": "punctuation.section.arguments.begin.pc"}},
                "end": r"\)",
                "endCaptures": {"0": {"name": "punctuation.section.arguments.end.pc"}},
                "name": "meta.function-call.pc",
                "patterns": [
                    {"include": "#comments"},
                    {"name": "variable.parameter.option.pc", "match": rf"\b{NAME}\b(?=\s*=)"},
                    {"include": "#expression"},
                ],
            },
            "kinds": {"patterns": [{"name": "support.function.kind.pc", "match": words(kinds)}]},
            "choices": {"patterns": [{"name": "constant.language.choice.pc", "match": words(choices)}]},
            "variable": {"patterns": [{"name": "variable.language.pc", "match": r"\bx\b(?=\s*\[)"}]},
            "strings": {"patterns": [{
                "name": "string.quoted.double.pc",
                "begin": '"',
                "end": r'"|$',
                "patterns": [
                    {"name": "constant.character.escape.pc", "match": r'\\["\\nt]'},
                    {"name": "invalid.illegal.escape.pc", "match": r"\\."},
                ],
            }]},
            "numbers": {"patterns": [{
                "name": "constant.numeric.pc",
                "match": r"(?<![A-Za-z0-9_.])(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![A-Za-z0-9_.])",
            }]},
            "operators": {"patterns": [
                {"name": "keyword.operator.assignment.pc", "match": "="},
                {"name": "keyword.operator.sum.pc", "match": r"\|"},
                {"name": "keyword.operator.arithmetic.pc", "match": r"[-+*/]"},
            ]},
            "punctuation": {"patterns": [
                {"name": "punctuation.separator.comma.pc", "match": ","},
                {"name": "punctuation.section.block.pc", "match": r"[{}]"},
                {"name": "punctuation.section.brackets.pc", "match": r"[\[\]]"},
                {"name": "punctuation.section.parens.pc", "match": r"[()]"},
            ]},
        },
    }


def main() -> None:
    OUTPUT.write_text(json.dumps(grammar(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
