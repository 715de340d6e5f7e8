"""The fixed Python of generated modules, as ordinary modules that ruff lints and tests
import, one per concern (``tables``, ``validation``, ``initialisers``, ``scales``, ``rows``,
``inputs``, ``gaussian``, ``sums``, ``products``, ``queries``, ``grams``). Codegen copies the
kernels a module uses, from each file's ``INLINED`` marker line on and no others, into the
module it writes (``codegen/inline.py``), so generated modules still import only torch."""
