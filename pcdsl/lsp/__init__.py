"""The language server of ``.pc`` files (``pcc lsp``).

``analysis`` answers the editor's questions (diagnostics, hover, completion, definition)
from the text alone, as pure functions; ``server`` connects them to the Language Server
Protocol with pygls. See docs/editors.md.
"""
