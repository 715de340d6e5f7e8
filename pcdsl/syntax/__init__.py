"""Frontend: the grammar, the parser to a typed AST, and the semantic check."""

from pcdsl.syntax.parser import parse_source

__all__ = ["parse_source"]
