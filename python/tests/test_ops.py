"""Every op of lanes.ops against NumPy, for every dtype it is offered for,
on every engine."""

from __future__ import annotations

import numpy as np
import pytest

import lanes

INTS = [np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16, np.int32, np.int64]
SIGNED_INTS = [np.int8, np.int16, np.int32, np.int64]
FLOATS = [np.float32, np.float64]
ALL = INTS + FLOATS
SIZES = [0, 1, 7, 1000]


@pytest.fixture(scope="module", params=lanes.ENGINES)
def ops_rt(request) -> lanes.Runtime:
    return lanes.Runtime(threads=2, engine=request.param)


def data(dtype, n: int, seed: int = 0, nonzero: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed + n)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        x = rng.uniform(-10, 10, n).astype(dtype)
    else:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    if nonzero:
        x[x == 0] = 1
    return x


def ulps(dtype) -> float:
    return float(np.finfo(dtype).eps)


def trunc_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division toward zero, wrapping MIN / -1 (Rust's wrapping_div)."""
    if a.dtype.kind == "f":
        return a / b
    q = [abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1) for x, y in zip(a.tolist(), b.tolist())]
    bits = 8 * a.dtype.itemsize
    wrapped = np.array([v % (1 << bits) for v in q], dtype=np.uint64)  # two's complement
    return wrapped.astype(f"u{a.dtype.itemsize}").view(a.dtype)


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "minimum", "maximum"])
def test_binary(ops_rt, op, n, dtype):
    a, b = data(dtype, n, 1), data(dtype, n, 2, nonzero=(op == "div"))
    got = getattr(lanes.ops, op)(a, b, runtime=ops_rt)
    assert got.dtype == a.dtype and got.shape == a.shape
    with np.errstate(all="ignore"):
        want = {
            "add": lambda: a + b,
            "sub": lambda: a - b,
            "mul": lambda: a * b,
            "div": lambda: trunc_div(a, b),
            "minimum": lambda: np.fmin(a, b),
            "maximum": lambda: np.fmax(a, b),
        }[op]()
    np.testing.assert_array_equal(got, want)


def test_binary_float_edge_cases(ops_rt):
    a = np.array([np.nan, 1.0, np.inf, -0.0], dtype=np.float32)
    b = np.array([2.0, np.nan, -np.inf, 0.0], dtype=np.float32)
    assert lanes.ops.minimum(a, b, runtime=ops_rt).tolist()[:3] == [2.0, 1.0, -np.inf]
    assert lanes.ops.maximum(a, b, runtime=ops_rt).tolist()[:3] == [2.0, 1.0, np.inf]
    assert np.signbit(lanes.ops.minimum(a, b, runtime=ops_rt)[3])


@pytest.mark.parametrize("dtype", ALL)
def test_scalar_ops_and_clip(ops_rt, dtype):
    x = data(dtype, 1000, 3)
    s = dtype(7)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(lanes.ops.add_scalar(x, 7, runtime=ops_rt), x + s)
        np.testing.assert_array_equal(lanes.ops.mul_scalar(x, 7, runtime=ops_rt), x * s)
    lo, hi = (dtype(-5), dtype(5)) if np.dtype(dtype).kind != "u" else (dtype(5), dtype(200))
    np.testing.assert_array_equal(lanes.ops.clip(x, lo, hi, runtime=ops_rt), np.clip(x, lo, hi))


@pytest.mark.parametrize("dtype", SIGNED_INTS + FLOATS)
def test_signed_ops(ops_rt, dtype):
    x = data(dtype, 1000, 4)
    if np.dtype(dtype).kind == "i":
        x[0] = np.iinfo(dtype).min  # abs and neg wrap
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(lanes.ops.abs(x, runtime=ops_rt), np.abs(x))
        np.testing.assert_array_equal(lanes.ops.neg(x, runtime=ops_rt), -x)
    np.testing.assert_array_equal(lanes.ops.relu(x, runtime=ops_rt), np.where(x > 0, x, 0).astype(dtype))


def test_relu_of_nan_and_negative_zero(ops_rt):
    got = lanes.ops.relu(np.array([np.nan, -0.0, 3.0], dtype=np.float64), runtime=ops_rt)
    assert got.tolist() == [0.0, 0.0, 3.0] and not np.signbit(got).any()


@pytest.mark.parametrize("dtype", FLOATS)
def test_activations(ops_rt, dtype):
    x = data(dtype, 1000, 5)
    w = x.astype(np.float64)
    tol = dict(rtol=8 * ulps(dtype), atol=8 * ulps(dtype))
    np.testing.assert_allclose(lanes.ops.sigmoid(x, runtime=ops_rt), 1 / (1 + np.exp(-w)), **tol)
    np.testing.assert_allclose(lanes.ops.tanh(x, runtime=ops_rt), np.tanh(w), **tol)
    gelu = 0.5 * w * (1 + np.tanh(np.sqrt(2 / np.pi) * (w + 0.044715 * w**3)))
    np.testing.assert_allclose(lanes.ops.gelu(x, runtime=ops_rt), gelu, rtol=32 * ulps(dtype), atol=32 * ulps(dtype))
    e = np.exp(w - w.max())
    got = lanes.ops.softmax(x, runtime=ops_rt)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, e / e.sum(), rtol=64 * ulps(dtype), atol=1e-12)


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("n", SIZES)
def test_reductions(ops_rt, dtype, n):
    x = data(dtype, n, 6)
    s = lanes.ops.sum(x, runtime=ops_rt)
    if np.dtype(dtype).kind == "f":
        exact = x.astype(np.float64).sum()
        bound = 15 * 2 * ulps(dtype) / 2 * np.abs(x.astype(np.float64)).sum()
        assert abs(s - exact) <= bound
    else:
        assert s == x.sum(dtype=dtype)  # wraps as lanes does
    if n == 0:
        assert s == 0
        for op in ("min", "max"):
            with pytest.raises(lanes.ArgumentError, match="empty"):
                getattr(lanes.ops, op)(x, runtime=ops_rt)
        return
    assert lanes.ops.min(x, runtime=ops_rt) == x.min()
    assert lanes.ops.max(x, runtime=ops_rt) == x.max()
    if np.dtype(dtype).kind == "f":
        assert lanes.ops.mean(x, runtime=ops_rt) == pytest.approx(x.astype(np.float64).mean(), rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("dtype", FLOATS)
def test_losses(ops_rt, dtype):
    p = np.random.default_rng(8).uniform(0.01, 0.99, 500).astype(dtype)
    t = np.random.default_rng(9).uniform(0, 1, 500).astype(dtype)
    pw, tw = p.astype(np.float64), t.astype(np.float64)
    rel = 1e-5 if dtype == np.float32 else 1e-12
    assert lanes.ops.mse(p, t, runtime=ops_rt) == pytest.approx(((pw - tw) ** 2).mean(), rel=rel)
    assert lanes.ops.cross_entropy(p, t, runtime=ops_rt) == pytest.approx(-(tw * np.log(pw)).sum(), rel=rel)
    bce = -(tw * np.log(pw) + (1 - tw) * np.log(1 - pw)).mean()
    assert lanes.ops.binary_cross_entropy(p, t, runtime=ops_rt) == pytest.approx(bce, rel=rel)


def in_order_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot products in index order, multiply then add, in the dtype."""
    t = a.dtype.type
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n), dtype=a.dtype)
    for i in range(m):
        for j in range(n):
            acc = t(0)
            for p in range(k):
                acc = t(acc + t(a[i, p] * b[p, j]))
            c[i, j] = acc
    return c


@pytest.mark.parametrize("dtype", FLOATS)
def test_gemm_and_matvec(ops_rt, dtype):
    a = data(dtype, 5 * 19, 10).reshape(5, 19)
    b = data(dtype, 19 * 21, 11).reshape(19, 21)
    got = lanes.ops.gemm(a, b, runtime=ops_rt)
    assert got.shape == (5, 21)
    np.testing.assert_array_equal(got, in_order_matmul(a, b))
    np.testing.assert_allclose(got, a @ b, rtol=1e-4)
    assert lanes.ops.matmul is lanes.ops.gemm
    x = data(dtype, 19, 12)
    y = lanes.ops.matvec(a, x, runtime=ops_rt)
    np.testing.assert_array_equal(y, in_order_matmul(a, x.reshape(19, 1)).reshape(5))


@pytest.mark.parametrize("dtype", ALL)
def test_copy_and_fill(ops_rt, dtype):
    src = data(dtype, 1000, 13)
    dst = np.zeros_like(src)
    assert lanes.ops.copy(src, dst, runtime=ops_rt) is dst
    np.testing.assert_array_equal(dst, src)
    assert lanes.ops.fill(dst, 3, runtime=ops_rt) is dst
    assert (dst == 3).all()


def test_out_arguments_and_in_place(rt):
    a = np.arange(1000, dtype=np.float32)
    b = np.ones(1000, dtype=np.float32)
    out = np.empty_like(a)
    assert lanes.ops.add(a, b, out, runtime=rt) is out
    np.testing.assert_array_equal(out, a + 1)
    lanes.ops.add(a, b, out=a, runtime=rt)  # a += b
    np.testing.assert_array_equal(a, out)
    m = np.arange(12, dtype=np.float64).reshape(3, 4)
    np.testing.assert_array_equal(lanes.ops.relu(m - 5, runtime=rt), np.maximum(m - 5, 0))
    # Lists and non-contiguous inputs are converted.
    assert lanes.ops.sum([1, 2, 3], runtime=rt) == 6
    np.testing.assert_array_equal(lanes.ops.neg(m[:, ::2], runtime=rt), -m[:, ::2])


def test_ops_on_resident_buffers(rt):
    x = rt.buffer(np.arange(1000, dtype=np.float32))
    y = rt.ops.mul_scalar(x, 2)
    assert isinstance(y, lanes.Buffer) and y.shape == (1000,)
    rt.ops.add(x, y, out=y)  # y = 3x, resident
    np.testing.assert_array_equal(y.read(), 3 * np.arange(1000))
    assert rt.ops.sum(y) == 3 * 999 * 1000 / 2
    assert rt.ops.max(x) == 999


def test_op_argument_errors(rt):
    f = np.zeros(4, dtype=np.float32)
    with pytest.raises(lanes.ArgumentError, match=r"ops.add: `b` has shape \(5,\) but `a` has \(4,\)"):
        lanes.ops.add(f, np.zeros(5, np.float32), runtime=rt)
    with pytest.raises(lanes.ArgumentError, match="parameter `b`: expected an array of float32.*got int32"):
        lanes.ops.add(f, np.zeros(4, np.int32), runtime=rt)
    with pytest.raises(lanes.ArgumentError, match="ops.sigmoid takes float32 or float64 arrays, got int32"):
        lanes.ops.sigmoid(np.zeros(4, np.int32), runtime=rt)
    with pytest.raises(lanes.ArgumentError, match="ops.abs takes signed integer or float arrays, got uint8"):
        lanes.ops.abs(np.zeros(4, np.uint8), runtime=rt)
    with pytest.raises(lanes.ArgumentError, match=r"`out` must be float32 of shape \(4,\), got float64"):
        lanes.ops.add(f, f, np.zeros(4, np.float64), runtime=rt)
    with pytest.raises(lanes.ArgumentError, match=r"`b` must have shape \(3, n\)"):
        lanes.ops.gemm(np.zeros((2, 3)), np.zeros((4, 2)), runtime=rt)
    with pytest.raises(lanes.ArgumentError, match="2-D"):
        lanes.ops.gemm(np.zeros(3), np.zeros((3, 2)), runtime=rt)
    with pytest.raises(lanes.ArgumentError, match="is the same buffer as"):
        a = np.zeros((2, 2))
        lanes.ops.gemm(a, a, out=a, runtime=rt)
    with pytest.raises(lanes.ArgumentError, match="`s` is u8: 300 is out of its range"):
        lanes.ops.add_scalar(np.zeros(4, np.uint8), 300, runtime=rt)
    with pytest.raises(lanes.ArgumentError, match="lo <= hi|lo"):
        lanes.ops.clip(f, 2.0, 1.0, runtime=rt)
    with pytest.raises(lanes.LaunchFault) as fault:
        lanes.ops.div(np.ones(4, np.int32), np.zeros(4, np.int32), runtime=rt)
    assert fault.value.kind == "division_by_zero"


def test_default_runtime():
    assert lanes.default_runtime() is lanes.default_runtime()
    assert lanes.ops.add(np.ones(3, np.int8), np.ones(3, np.int8)).tolist() == [2, 2, 2]
