"""Documentation shown by hover and completion, built from the schema
(``pcdsl.syntax.schema``) so that it never drifts from what the checker accepts. Only
the four keywords, which the schema does not describe, are documented here."""

from __future__ import annotations

from pcdsl.syntax import schema
from pcdsl.syntax.parser import KEYWORDS

KEYWORD_DOCS = {
    "const": "`const NAME = expression`: a named number (or string), computed once. At file "
             "level every model sees it; inside a model, only that model does.",
    "model": "`model NAME { ... }`: one probabilistic circuit: its settings (`key = value`), "
             "constants and at most one `structure` block.",
    "structure": "`structure { region ... }`: a hand-written region graph, instead of "
                 "`regions = ...`. Exactly one region (the root) is used by no other.",
    "region": "`region NAME = a * b | c * d`: a sum over partitions (`|`), each a product "
              "(`*`) of two or more regions or variables `x[i]`.",
}
OPERATIONS = {  # the circuit algebra (syntax/typed.py OPERATIONS), docs/algebra.md
    "square": "**square**: operation\n\n`model NAME = square(MODEL)`: the squared circuit "
              "p(x) = c(x)^2 / Z of a model `c` of this file, whose weights may be negative "
              "(`weights = none(...)`); Z is computed exactly. Needs a structured-decomposable "
              "`MODEL` (`quad_tree`, not `quad_graph`).",
    "multiply": "**multiply**: operation\n\n`model NAME = multiply(A, B)`: the product "
                "p(x) = a(x) b(x) / Z of two models of this file over the same data, with "
                "non-negative weights; Z is computed exactly. Needs compatible models: split "
                "the same way wherever they share a scope (the same region graph).",
    "mixture": "**mixture**: operation\n\n`model NAME = mixture(A, B, ...)`: the mixture "
               "p(x) = sum_i w_i p_i(x) of two or more models of this file over the same data, "
               "with weights of its own: one sum over their outputs. Any region graphs; it "
               "trains with Adam or EM and answers every query.",
}
VARIABLE_DOC = ("`x[i]`: variable `i` of the data (0-based; images are flattened in channel, "
                "row, column order).")


def _literal(value: object) -> str:
    if value is schema.REQUIRED:
        return "required"
    if value is None:
        return "automatic"
    return f"`{value}`"


def option_range(option: schema.Option) -> str:
    if option.choices is not None:
        return "one of " + ", ".join(str(c) for c in option.choices)
    if option.minimum is not None:
        bound = f"{option.minimum:g}"
        return f"greater than {bound}" if option.minimum_exclusive else f"at least {bound}"
    return ""


def option_type(option: schema.Option) -> str:
    if option.type == "kind" and option.category:
        return schema.CATEGORY_NAMES.get(option.category, option.category)
    return option.type


def where_used(category: str) -> str:
    """Which setting (or option) takes kinds of ``category``, e.g. "setting `regions`"."""
    places = [f"setting `{s.key}`" for s in schema.SETTINGS if s.category == category]
    places += [f"option `{o.name}` of `{k.name}`" for k in schema.KINDS for o in k.options
               if o.category == category]
    return ", ".join(places)


def kind_markdown(kind: schema.Kind) -> str:
    category = schema.CATEGORY_NAMES.get(kind.category, kind.category)
    used = where_used(kind.category)
    signature = f"{kind.name}({', '.join(o.name for o in kind.options)})"
    lines = [f"**{kind.name}**: {category}" + (f" ({used})" if used else ""), "",
             f"`{signature}`", "", kind.doc]
    if kind.options:
        lines += ["", "| option | type | default | range | meaning |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| `{o.name}` | {option_type(o)} | {_literal(o.default)} | {option_range(o)} | {o.doc} |"
                  for o in kind.options]
    return "\n".join(lines)


def option_markdown(kind: schema.Kind, option: schema.Option) -> str:
    facts = [f"type {option_type(option)}", f"default {_literal(option.default)}"]
    if option_range(option):
        facts.append(option_range(option))
    return f"**{option.name}**: option of `{kind.name}`\n\n{option.doc}\n\n" + "; ".join(facts)


def setting_takes(setting: schema.SettingSchema) -> str:
    if setting.type == "kind" and setting.category:
        names = ", ".join(f"`{k}`" for k in schema.kinds_of(setting.category))
        return f"a {schema.CATEGORY_NAMES.get(setting.category, setting.category)}: {names}"
    if setting.type == "name" and setting.choices:
        return "one of " + ", ".join(f"`{c}`" for c in setting.choices)
    if setting.minimum is not None:
        return f"an {setting.type}, at least {setting.minimum:g}" if setting.type == "int" \
            else f"a {setting.type}, at least {setting.minimum:g}"
    return f"a {setting.type}"


def setting_markdown(setting: schema.SettingSchema) -> str:
    return (f"**{setting.key}**: model setting\n\n{setting.doc}\n\n"
            f"Takes {setting_takes(setting)}; default {_literal(setting.default)}.")


def choice_markdown(setting: schema.SettingSchema, choice: str) -> str:
    return f"**{choice}**: a value of setting `{setting.key}`\n\n{setting.doc}"


def word_markdown(word: str) -> str | None:
    """The documentation of a keyword, kind or setting name, whatever its context."""
    if word in KEYWORDS:
        return f"**{word}**: keyword\n\n{KEYWORD_DOCS.get(word, '')}".rstrip()
    kind = schema.kind_named(word)
    if kind is not None:
        return kind_markdown(kind)
    setting = schema.setting_named(word)
    if setting is not None:
        return setting_markdown(setting)
    for setting in schema.SETTINGS:
        if setting.choices and word in setting.choices:
            return choice_markdown(setting, word)
    return None
