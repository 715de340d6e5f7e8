"""The typed abstract syntax tree of a ``.pc`` file.

Every node is a frozen dataclass carrying the ``Span`` it was parsed from, so any
later stage can point at the text a problem comes from.
"""

from __future__ import annotations

from dataclasses import dataclass

from pcdsl.diagnostics import Span


@dataclass(frozen=True)
class Identifier:
    name: str
    span: Span


# Expressions --------------------------------------------------------------------------

@dataclass(frozen=True)
class Number:
    value: int | float
    text: str
    span: Span


@dataclass(frozen=True)
class String:
    value: str
    span: Span


@dataclass(frozen=True)
class Name:
    identifier: Identifier
    span: Span


@dataclass(frozen=True)
class Argument:
    name: Identifier | None  # None for a positional argument
    value: Expr
    span: Span


@dataclass(frozen=True)
class Call:
    function: Identifier
    arguments: tuple[Argument, ...]
    span: Span


@dataclass(frozen=True)
class BinaryOp:
    operator: str  # one of + - * /
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Negate:
    operand: Expr
    span: Span


Expr = Number | String | Name | Call | BinaryOp | Negate


# Hand-written structure -------------------------------------------------------------

@dataclass(frozen=True)
class RegionRef:
    """A partition operand naming another region."""

    identifier: Identifier
    span: Span


@dataclass(frozen=True)
class VariableRef:
    """A partition operand naming one variable, as in ``x[3]``."""

    identifier: Identifier
    index: Expr
    span: Span


Operand = RegionRef | VariableRef


@dataclass(frozen=True)
class Partition:
    operands: tuple[Operand, ...]
    span: Span


@dataclass(frozen=True)
class RegionDecl:
    name: Identifier
    partitions: tuple[Partition, ...]
    span: Span


@dataclass(frozen=True)
class StructureBlock:
    regions: tuple[RegionDecl, ...]
    span: Span


# Declarations -------------------------------------------------------------------------

@dataclass(frozen=True)
class ConstDecl:
    name: Identifier
    value: Expr
    span: Span


@dataclass(frozen=True)
class Setting:
    key: Identifier
    value: Expr
    span: Span


ModelItem = ConstDecl | Setting | StructureBlock


@dataclass(frozen=True)
class ModelDecl:
    name: Identifier
    items: tuple[ModelItem, ...]
    span: Span


@dataclass(frozen=True)
class AlgebraDecl:
    """``model NAME = operation(operand, ...)``: a model made from other models of the file
    (``square(base)``)."""

    name: Identifier
    value: Call
    span: Span


@dataclass(frozen=True)
class SpecFile:
    path: str
    items: tuple[ConstDecl | ModelDecl | AlgebraDecl, ...]
    span: Span

    @property
    def models(self) -> tuple[ModelDecl, ...]:
        return tuple(item for item in self.items if isinstance(item, ModelDecl))

    @property
    def algebra(self) -> tuple[AlgebraDecl, ...]:
        return tuple(item for item in self.items if isinstance(item, AlgebraDecl))

    @property
    def constants(self) -> tuple[ConstDecl, ...]:
        return tuple(item for item in self.items if isinstance(item, ConstDecl))


# Comments ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Comment:
    """A ``# ...`` comment. Not part of the tree (the grammar ignores comments); the parser
    collects them separately for tools that reprint source, such as the formatter."""

    text: str  # from the '#' to the end of the line, as written
    span: Span
