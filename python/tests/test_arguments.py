"""Every argument error: a LanesError (also a TypeError and a ValueError)
that names the parameter and says what was expected; nothing runs."""

from __future__ import annotations

import numpy as np
import pytest

import lanes

from conftest import EXAMPLES

TYPES = """
.kernel types
.param out buf
.param a u8
.param b i8
.param c u32
.param d i64
.param e u64
.param f f32
.param g f64
    mov.u64 r0, 0
    st.global.u64 [out + r0], e
"""


@pytest.fixture(scope="module")
def types(rt):
    return rt.compile(TYPES)["types"]


def launch_error(rt, kernel, *args, grid=1, block=1, **named) -> str:
    with pytest.raises(lanes.ArgumentError) as err:
        rt.launch(kernel, grid, block, *args, **named)
    return str(err.value)


def test_argument_error_is_a_lanes_type_and_value_error():
    assert issubclass(lanes.ArgumentError, lanes.LanesError)
    assert issubclass(lanes.ArgumentError, TypeError)
    assert issubclass(lanes.ArgumentError, ValueError)
    for e in (lanes.CompileError, lanes.LaunchFault, lanes.LaunchTimeout, lanes.LaunchCancelled):
        assert issubclass(e, lanes.LanesError)


def test_count_and_names(rt, vector_add):
    a = np.zeros(4, dtype=np.float32)
    msg = launch_error(rt, vector_add, a, a, a, 4, 5)
    assert "takes 4 arguments (a: buf, b: buf, c: buf, n: u32), got 5" in msg
    msg = launch_error(rt, vector_add, a, a, a, 4, m=3)
    assert "has no parameter `m`" in msg and "a: buf, b: buf, c: buf, n: u32" in msg
    msg = launch_error(rt, vector_add, a, a, a, 4, a=a)
    assert "parameter `a` is given twice" in msg
    msg = launch_error(rt, vector_add, a, a)
    assert "missing arguments for `c: buf`, `n: u32`" in msg
    assert "kernel `vector_add`" in msg


def test_kinds(rt, vector_add):
    a = np.zeros(4, dtype=np.float32)
    msg = launch_error(rt, vector_add, 1.5, a, a, 4)
    assert "parameter `a` is a buffer: pass a NumPy array or a lanes.Buffer, got float" in msg
    msg = launch_error(rt, vector_add, [1.0] * 4, a, a, 4)
    assert "parameter `a` is a buffer" in msg and "got list" in msg
    msg = launch_error(rt, vector_add, a, a, a, a)
    assert "parameter `n` is u32: expected an integer, got ndarray" in msg
    msg = launch_error(rt, vector_add, a, a, a, rt.zeros(4, "u32"))
    assert "parameter `n` is u32: expected an integer, got Buffer" in msg
    msg = launch_error(rt, vector_add, a, a, a, "4")
    assert "parameter `n` is u32: expected an integer, got str" in msg
    msg = launch_error(rt, vector_add, a, a, a, 4.0)
    assert "parameter `n` is u32: expected an integer, got float" in msg


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("a", 256, "`a` is u8: 256 is out of its range 0..=255"),
        ("a", -1, "`a` is u8: -1 is out of its range 0..=255"),
        ("b", -129, "`b` is i8: -129 is out of its range -128..=127"),
        ("c", 2**32, "`c` is u32: 4294967296 is out of its range 0..=4294967295"),
        ("d", 2**63, "`d` is i64: 9223372036854775808 is out of its range"),
        ("e", 2**64, "`e` is u64: 18446744073709551616 is out of its range"),
        ("e", 2**200, "`e` is u64: expected an integer"),
        ("f", 1e39, "`f` is f32: 1e+39 does not fit (it overflows to infinity)"),
        ("g", "x", "`g` is f64: expected a number, got str"),
    ],
)
def test_scalar_ranges(rt, types, name, value, message):
    args = dict(out=np.zeros(1, dtype=np.uint64), a=0, b=0, c=0, d=0, e=0, f=0.0, g=0.0)
    args[name] = value
    assert message in launch_error(rt, types, **args)


def test_scalar_extremes_fit(rt, types):
    out = np.zeros(1, dtype=np.uint64)
    rt.launch(types, 1, 1, out, 255, -128, 2**32 - 1, -(2**63), 2**64 - 1, float("inf"), float("nan"))
    assert out[0] == 2**64 - 1
    rt.launch(types, 1, 1, out, True, np.int8(-1), np.uint32(7), 0, np.uint64(5), -3.4e38, 1e308)
    assert out[0] == 5


def test_dtypes_and_layouts(rt, vector_add):
    f = np.zeros(8, dtype=np.float32)
    msg = launch_error(rt, vector_add, np.zeros(8, dtype=np.int32), f, f, 8)
    assert "parameter `a`: expected an array of float32 (the kernel accesses it as f32), got int32" in msg
    msg = launch_error(rt, vector_add, f, f, rt.zeros(8, np.float64), 8)
    assert "parameter `c`: expected an array of float32" in msg and "got float64" in msg
    msg = launch_error(rt, vector_add, np.zeros(8, dtype=bool), f, f, 8)
    assert "parameter `a`: dtype bool is not an element type of lanes" in msg
    msg = launch_error(rt, vector_add, np.zeros(8, dtype=np.float16), f, f, 8)
    assert "dtype float16 is not an element type" in msg
    msg = launch_error(rt, vector_add, np.zeros(8, dtype=">f4"), f, f, 8)
    assert "parameter `a`: dtype >f4 is not in the machine's byte order" in msg
    msg = launch_error(rt, vector_add, np.zeros(16, dtype=np.float32)[::2], f, f, 8)
    assert "parameter `a`: the array is not C-contiguous" in msg
    ro = np.zeros(8, dtype=np.float32)
    ro.flags.writeable = False
    msg = launch_error(rt, vector_add, f, f, ro, 8)
    assert "parameter `c`: the kernel writes it, but the array is read-only" in msg


def test_overlapping_arrays_that_are_written(rt, vector_add):
    x = np.zeros(16, dtype=np.float32)
    msg = launch_error(rt, vector_add, x[:8], x[:8], x[4:12], 8)
    assert "the arrays for parameters `a` and `c` overlap and the kernel writes `c`" in msg
    # Overlapping inputs only read are fine.
    out = np.zeros(8, dtype=np.float32)
    x[:] = np.arange(16)
    rt.launch(vector_add, 1, 8, x[:8], x[4:12], out, 8)
    np.testing.assert_array_equal(out, np.arange(8) + np.arange(4, 12))


def test_shapes(rt, vector_add):
    f = np.zeros(4, dtype=np.float32)
    for grid in (0, (1, 0), (1, 1, 1, 1), (), -1, 2**32, "4", 1.5):
        msg = launch_error(rt, vector_add, f, f, f, 4, grid=grid)
        assert "grid" in msg, msg
    msg = launch_error(rt, vector_add, f, f, f, 4, block=(32, 33))
    assert "a block has at most 1024 lanes, got 32 x 33 x 1 = 1056" in msg
    msg = launch_error(rt, vector_add, f, f, f, 4, block=0)
    assert "every block dimension must be at least 1" in msg


def test_options(rt, vector_add):
    f = np.zeros(4, dtype=np.float32)
    assert "unknown engine `gpu`" in launch_error(rt, vector_add, f, f, f, 4, engine="gpu")
    assert "timeout must be a positive number" in launch_error(rt, vector_add, f, f, f, 4, timeout=0)
    assert "timeout must be a positive number" in launch_error(rt, vector_add, f, f, f, 4, timeout=-1)


def test_option_names_are_reserved_keywords(rt):
    k = rt.compile(".kernel k\n.param timeout u32\n.param out buf\n mov.u64 r0, 0\n st.global.u32 [out + r0], timeout\n")["k"]
    out = np.zeros(2, dtype=np.uint32)
    rt.launch(k, 1, 1, 7, out)  # by position: fine
    assert out[0] == 7
    msg = launch_error(rt, k, timeout=7, out=out)  # `timeout=` is the option
    assert "missing argument for `timeout: u32`" in msg


def test_buffer_of_another_runtime(rt, vector_add):
    other = lanes.Runtime(threads=1)
    f = np.zeros(4, dtype=np.float32)
    msg = launch_error(rt, vector_add, other.zeros(4, "f32"), f, f, 4)
    assert "parameter `a` is a buffer of another runtime" in msg


def test_runtime_arguments():
    with pytest.raises(lanes.ArgumentError, match="threads must be from 1 to 1024, got 0"):
        lanes.Runtime(threads=0)
    with pytest.raises(lanes.ArgumentError, match="threads must be from 1 to 1024, got 5000"):
        lanes.Runtime(threads=5000)
    with pytest.raises(lanes.ArgumentError, match="is not a placement"):
        lanes.Runtime(placement="far")
    with pytest.raises(lanes.ArgumentError, match="unknown engine"):
        lanes.Runtime(engine="cuda")
    with pytest.raises(lanes.ArgumentError, match="dtype"):
        lanes.Runtime(threads=1).zeros(4, "complex64")


def test_buffer_method_arguments(rt):
    b = rt.zeros((2, 3), np.int32)
    with pytest.raises(lanes.ArgumentError, match="must be int32 like the buffer, got float32"):
        b.write(np.zeros(2, dtype=np.float32))
    with pytest.raises(lanes.LanesError, match="outside buffer"):
        b.write(np.zeros(4, dtype=np.int32), offset=3)
    with pytest.raises(lanes.ArgumentError, match="must be an array of 6 int32 elements, got 5 int32"):
        b.read_into(np.zeros(5, dtype=np.int32))


def test_nothing_ran_after_an_argument_error(rt, vector_add):
    a = np.ones(4, dtype=np.float32)
    c = np.zeros(4, dtype=np.float32)
    with pytest.raises(lanes.ArgumentError):
        rt.launch(vector_add, 1, 4, a, a, c, -1)
    assert (c == 0).all()
