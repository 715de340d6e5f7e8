"""pcdsl: a language and ahead-of-time compiler for probabilistic circuits.

The pipeline runs one way, one package per stage::

    syntax (parse, check) -> ir (lower) -> passes (structure, fold) -> codegen -> cli

``pcdsl.driver`` strings the stages together; the generated module depends on torch
alone and never imports this package.
"""

__version__ = "0.1.0"
