"""The fixed Python of generated modules, as ordinary modules that ruff lints and tests
import: codegen copies each one used into the module it writes (``emit.kernel_source``),
from the ``INLINED`` marker line on, so generated modules still import only torch."""
