"""The peers benchmark's kernels for Numba ``@njit(parallel=True)``.

Each is the LASM kernel of the same name (``src/ops/*.lasm``,
``benches/peers/matmul.lasm``) written as a Numba user would: a ``prange``
loop over the outputs, on preallocated NumPy arrays, with the same
arithmetic as the LASM kernel so the results are bit-identical (checked
against NumPy before timing).

Two differ in shape, because Numba has no blocks, shared memory or
barriers:

- ``block_sum`` is a ``prange`` reduction: Numba gives each thread a
  partial sum and adds the partials at the end. That is what Numba does
  naturally, and a simpler algorithm than the 256-lane shared-memory tree
  with barriers that lanes and OpenCL run.
- ``matmul`` runs ``prange`` over rows (each thread a run of whole rows),
  not 16x16 blocks; every output is still one dot product, k ascending.
"""

import numpy as np
from numba import njit, prange


@njit(parallel=True)
def vector_add(a, b, out):
    for i in prange(a.shape[0]):
        out[i] = a[i] + b[i]


# `contract` lets LLVM fuse alpha * x + y into one fused multiply-add (on a
# CPU with FMA), rounded once, as the LASM kernel's `fma.f32` is. No other
# fast-math liberty is taken.
@njit(parallel=True, fastmath={"contract"})
def saxpy(alpha, x, y, out):
    for i in prange(x.shape[0]):
        out[i] = alpha * x[i] + y[i]


@njit(parallel=True)
def block_sum(x):
    total = np.float32(0.0)
    for i in prange(x.shape[0]):
        total += x[i]
    return total


@njit(parallel=True)
def mandelbrot(out, width, max_iter, x0, y0, dx, dy):
    for i in prange(out.shape[0]):
        cx = np.float32(i % width) * dx + x0
        cy = np.float32(i // width) * dy + y0
        x = np.float32(0.0)
        y = np.float32(0.0)
        steps = 0
        while steps < max_iter:
            xx = x * x
            yy = y * y
            if xx + yy > np.float32(4.0):
                break
            xy = x * y
            x = (xx - yy) + cx
            y = (xy + xy) + cy
            steps += 1
        out[i] = steps


@njit(parallel=True)
def matmul(a, b, c):
    n = a.shape[0]
    for row in prange(n):
        for col in range(n):
            acc = np.float32(0.0)
            for k in range(n):
                acc = acc + a[row, k] * b[k, col]
            c[row, col] = acc
