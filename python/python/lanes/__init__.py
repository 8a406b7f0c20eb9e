"""lanes: run GPU-style kernels (LASM) on CPU cores, on NumPy arrays.

A kernel is written in LASM, a small assembly language with per-lane
registers, global and shared memory, predicates, branches, barriers and
atomics (``docs/LANGUAGE.md`` in the repository). A launch runs it over a
grid of lane blocks on a pool of worker threads::

    import numpy as np
    import lanes

    rt = lanes.Runtime(threads=2)
    add = rt.compile(open("vector_add.lasm").read())["vector_add"]
    a = np.arange(1000, dtype=np.float32)
    b = np.full(1000, 0.5, dtype=np.float32)
    c = np.zeros_like(a)
    stats = rt.launch(add, 4, 256, a, b, c, n=1000)   # c = a + b, in place
    probabilities = lanes.ops.softmax(c)               # the op library

Arrays go to kernels in place when their layout allows (C-contiguous, 8-byte
aligned, a whole number of 8-byte words) and are copied otherwise. The GIL is
released while a kernel runs, and Ctrl-C cancels it. Errors are
``LanesError`` subclasses: ``CompileError``, ``LaunchFault``,
``LaunchTimeout``, ``LaunchCancelled`` and ``ArgumentError``.
"""

from ._lanes import (
    ENGINES,
    ArgumentError,
    Buffer,
    CompileError,
    Diagnostic,
    Kernel,
    LanesError,
    LatencyHistogram,
    LaunchCancelled,
    LaunchFault,
    LaunchStats,
    LaunchTimeout,
    Ops,
    Param,
    Program,
    Report,
    Runtime,
    __version__,
)
from . import ops
from .ops import default_runtime

__all__ = [
    "ENGINES",
    "ArgumentError",
    "Buffer",
    "CompileError",
    "Diagnostic",
    "Kernel",
    "LanesError",
    "LatencyHistogram",
    "LaunchCancelled",
    "LaunchFault",
    "LaunchStats",
    "LaunchTimeout",
    "Ops",
    "Param",
    "Program",
    "Report",
    "Runtime",
    "__version__",
    "default_runtime",
    "ops",
]
