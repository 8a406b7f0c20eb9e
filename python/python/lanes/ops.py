"""The library's ready kernels on NumPy arrays.

Each function runs one op of lanes' op library (``lanes::ops`` in Rust) on
``runtime`` (default: ``default_runtime()``, made on first use with one
thread per CPU), on its default engine. ``rt.ops`` has the same functions
bound to ``rt``.

Inputs are NumPy arrays (anything ``numpy.ascontiguousarray`` takes is
converted) or ``lanes.Buffer``s; the first input's dtype is the op's element
type, and the others must match it. ``out``, when given, is a C-contiguous,
writeable array (or a buffer) of that dtype and of the result's shape, and is
returned; otherwise a new array is (a new ``lanes.Buffer`` when the first
input is one). Arrays are used in place when their layout allows, as by
``Runtime.launch``.

Types: element-wise arithmetic, ``clip``, ``copy``, ``fill``, ``sum``,
``min``, ``max`` take every element type (uint8 to int64, float32,
float64); ``abs``, ``neg``, ``relu`` signed integers and floats; the
activations, ``softmax``, ``mean``, the losses, ``gemm`` and ``matvec``
floats. Integer arithmetic wraps; integer division by zero raises
``LaunchFault``. Float sums add in a fixed tree, the same on every engine
and thread count.
"""

from __future__ import annotations

import threading
from typing import Any, Optional, Union

import numpy as np

from ._lanes import Buffer, Ops, Runtime

Operand = Union[np.ndarray, Buffer, Any]
Number = Union[int, float]

_default: Optional[Runtime] = None
_default_lock = threading.Lock()


def default_runtime() -> Runtime:
    """The runtime ``lanes.ops`` uses when none is given (made on first use:
    one thread per CPU, placement "none", the "jit" engine)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Runtime()
        return _default


def _ops(runtime: Optional[Runtime]) -> Ops:
    return (runtime if runtime is not None else default_runtime()).ops


def add(a: Operand, b: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``a + b`` element-wise (integers wrap); same shape and dtype."""
    return _ops(runtime).add(a, b, out)


def sub(a: Operand, b: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``a - b`` element-wise (integers wrap)."""
    return _ops(runtime).sub(a, b, out)


def mul(a: Operand, b: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``a * b`` element-wise (integers wrap)."""
    return _ops(runtime).mul(a, b, out)


def div(a: Operand, b: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``a / b`` element-wise; integer division truncates toward zero,
    ``MIN / -1`` wraps, division by zero raises ``LaunchFault``."""
    return _ops(runtime).div(a, b, out)


def minimum(a: Operand, b: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """Element-wise minimum; for floats a NaN on one side gives the other
    side, and -0.0 counts below +0.0."""
    return _ops(runtime).minimum(a, b, out)


def maximum(a: Operand, b: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """Element-wise maximum; for floats a NaN on one side gives the other
    side, and -0.0 counts below +0.0."""
    return _ops(runtime).maximum(a, b, out)


def add_scalar(x: Operand, s: Number, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``x + s`` element-wise; ``s`` must fit x's dtype."""
    return _ops(runtime).add_scalar(x, s, out)


def mul_scalar(x: Operand, s: Number, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``x * s`` element-wise; ``s`` must fit x's dtype."""
    return _ops(runtime).mul_scalar(x, s, out)


def clip(x: Operand, lo: Number, hi: Number, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``x`` clamped to ``[lo, hi]`` element-wise (NaN stays NaN; ``lo <= hi``
    is checked)."""
    return _ops(runtime).clip(x, lo, hi, out)


def abs(x: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):  # noqa: A001
    """``|x|`` element-wise (signed integers and floats; ``abs(MIN) == MIN``)."""
    return _ops(runtime).abs(x, out)


def neg(x: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``-x`` element-wise (signed integers and floats; integers wrap)."""
    return _ops(runtime).neg(x, out)


def relu(x: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``x if x > 0 else 0`` element-wise (NaN and -0.0 give +0.0)."""
    return _ops(runtime).relu(x, out)


def sigmoid(x: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``1 / (1 + exp(-x))`` element-wise (floats, within a few ulp)."""
    return _ops(runtime).sigmoid(x, out)


def tanh(x: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``tanh(x)`` element-wise (floats, within 4 ulp)."""
    return _ops(runtime).tanh(x, out)


def gelu(x: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """GELU, tanh approximation: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    return _ops(runtime).gelu(x, out)


def softmax(x: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``exp(x - max) / sum`` over all elements of ``x`` (floats)."""
    return _ops(runtime).softmax(x, out)


def sum(x: Operand, *, runtime: Optional[Runtime] = None):  # noqa: A001
    """The sum of all elements (0 when empty), added in a fixed tree;
    integers wrap. Returns a Python number."""
    return _ops(runtime).sum(x)


def min(x: Operand, *, runtime: Optional[Runtime] = None):  # noqa: A001
    """The smallest element (an empty array raises ``ArgumentError``)."""
    return _ops(runtime).min(x)


def max(x: Operand, *, runtime: Optional[Runtime] = None):  # noqa: A001
    """The largest element (an empty array raises ``ArgumentError``)."""
    return _ops(runtime).max(x)


def mean(x: Operand, *, runtime: Optional[Runtime] = None):
    """The mean of all elements (floats; empty raises ``ArgumentError``)."""
    return _ops(runtime).mean(x)


def mse(p: Operand, t: Operand, *, runtime: Optional[Runtime] = None):
    """Mean squared error ``sum((p - t)**2) / n`` (floats)."""
    return _ops(runtime).mse(p, t)


def cross_entropy(p: Operand, t: Operand, *, runtime: Optional[Runtime] = None):
    """``-sum(t * ln(p))`` of one distribution (floats; ln clamped at -100)."""
    return _ops(runtime).cross_entropy(p, t)


def binary_cross_entropy(p: Operand, t: Operand, *, runtime: Optional[Runtime] = None):
    """``-sum(t ln p + (1 - t) ln(1 - p)) / n`` (floats; ln clamped at -100)."""
    return _ops(runtime).binary_cross_entropy(p, t)


def gemm(a: Operand, b: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """The matrix product of ``a`` (m, k) and ``b`` (k, n), floats; each
    element a dot product in index order (multiply, then add). Returns an
    (m, n) array."""
    return _ops(runtime).gemm(a, b, out)


matmul = gemm


def matvec(a: Operand, x: Operand, out: Optional[Operand] = None, *, runtime: Optional[Runtime] = None):
    """``a @ x`` for ``a`` (m, k) and ``x`` (k,), floats. Returns an (m,) array."""
    return _ops(runtime).matvec(a, x, out)


def copy(src: Operand, dst: Operand, *, runtime: Optional[Runtime] = None):
    """Copies ``src`` into ``dst`` (same dtype and shape); returns ``dst``."""
    return _ops(runtime).copy(src, dst)


def fill(out: Operand, value: Number, *, runtime: Optional[Runtime] = None):
    """Sets every element of ``out`` to ``value`` (which must fit its dtype);
    returns ``out``."""
    return _ops(runtime).fill(out, value)


__all__ = [
    "abs",
    "add",
    "add_scalar",
    "binary_cross_entropy",
    "clip",
    "copy",
    "cross_entropy",
    "default_runtime",
    "div",
    "fill",
    "gelu",
    "gemm",
    "matmul",
    "matvec",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mse",
    "mul",
    "mul_scalar",
    "neg",
    "relu",
    "sigmoid",
    "softmax",
    "sub",
    "sum",
    "tanh",
]
