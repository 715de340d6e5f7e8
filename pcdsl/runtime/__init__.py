"""What users call on generated modules: loading, summaries (later: training, evaluation).

The runtime works on the generated module alone and never imports the parser.
"""

from pcdsl.runtime.loading import load_generated

__all__ = ["load_generated"]
