"""Backend: emit a standalone PyTorch module from a folded circuit (Jinja2 templates)."""

from pcdsl.codegen.emit import generate_module

__all__ = ["generate_module"]
