"""The `pcc` command line."""

import gc

# Python's cyclic collector runs after every 700 net allocations by default: many times
# while pcc imports its modules and compiles a spec (dataclasses, parse trees, the IR),
# 11 ms of the 0.45 s that compiling the MNIST example takes (measured side by side).
# Reference counting frees what a command makes and cycles are rare, so here the collector
# runs a hundred times less often (the same for the long commands, whose allocations are
# tensors).
gc.set_threshold(100_000, 50, 100)
