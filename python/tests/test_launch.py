"""Launching kernels on NumPy arrays and resident buffers."""

from __future__ import annotations

import numpy as np
import pytest

import lanes

from conftest import EXAMPLES, f32

SCALE = """
.kernel scale
.param x buf
.param s f32
.param n u32
    mov.u32        r0, %gid
    setp.ge.u32    p0, r0, n
    @p0 exit
    shl.u64        r1, r0, 2
    ld.global.f32  r2, [x + r1]
    mul.f32        r2, r2, s
    st.global.f32  [x + r1], r2
"""


def test_vector_add_on_every_engine(rt, vector_add, engine):
    n = 1000
    a = np.arange(n, dtype=np.float32)
    b = np.full(n, 0.5, dtype=np.float32)
    c = np.zeros(n, dtype=np.float32)
    stats = rt.launch(vector_add, 4, 256, a, b, c, n, engine=engine)
    np.testing.assert_array_equal(c, a + b)
    assert (stats.blocks, stats.lanes) == (4, 1024)
    assert stats.engine == engine
    assert stats.copied_arrays == 0, "4000-byte aligned arrays are used in place"
    assert stats.elapsed_ns > 0 and stats.elapsed == pytest.approx(stats.elapsed_ns / 1e9)


def test_arguments_by_name_in_any_order(rt, vector_add):
    a, b, c = f32([1, 2, 3]), f32([10, 20, 30]), np.zeros(3, np.float32)
    rt.launch(vector_add, 1, 32, n=3, c=c, b=b, a=a)
    np.testing.assert_array_equal(c, [11, 22, 33])
    c[:] = 0
    rt.launch(vector_add, 1, 32, a, b, n=3, c=c)
    np.testing.assert_array_equal(c, [11, 22, 33])


def test_grid_and_block_take_ints_and_tuples(rt):
    k = rt.compile(
        """
.kernel ids
.param out buf
    mov.u64        r0, %gid
    shl.u64        r1, r0, 3
    st.global.u64  [out + r1], r0
"""
    )["ids"]
    out = np.zeros(2 * 3 * 4 * 5, dtype=np.uint64)
    stats = rt.launch(k, (2, 3), [4, 5, 1], out)
    assert stats.blocks == 6 and stats.lanes == 120
    np.testing.assert_array_equal(out, np.arange(120, dtype=np.uint64))


def test_arrays_that_cannot_be_used_in_place_are_copied_in_and_out(rt, vector_add):
    # 3 float32 = 12 bytes: not whole 8-byte words, so copied.
    a, b, c = f32([1, 2, 3]), f32([4, 5, 6]), np.zeros(3, np.float32)
    stats = rt.launch(vector_add, 1, 32, a, b, c, 3)
    assert stats.copied_arrays == 3
    np.testing.assert_array_equal(c, [5, 7, 9])
    # A view at a 4-byte offset: copied, and the results land in the view.
    base = np.zeros(9, dtype=np.float32)
    view = base[1:9]
    x = np.arange(8, dtype=np.float32)
    stats = rt.launch(vector_add, 1, 32, x, x, view, 8)
    assert stats.copied_arrays == 1, "x (32 bytes, aligned) in place, the view copied"
    np.testing.assert_array_equal(base, [0] + [2 * i for i in range(8)])
    # A read-only input is copied; the kernel never writes it.
    ro = np.arange(8, dtype=np.float32)
    ro.flags.writeable = False
    out = np.zeros(8, dtype=np.float32)
    stats = rt.launch(vector_add, 1, 32, ro, ro, out, 8)
    assert stats.copied_arrays == 1
    np.testing.assert_array_equal(out, 2 * ro)


def test_unaligned_arrays_are_copied_bytewise(rt, vector_add):
    x = np.frombuffer(bytearray(4 * 9), dtype=np.float32, count=8, offset=1)
    out = np.frombuffer(bytearray(4 * 9), dtype=np.float32, count=8, offset=3)
    assert not x.flags.aligned and not out.flags.aligned and out.flags.writeable
    x[:] = np.arange(8)
    stats = rt.launch(vector_add, 1, 8, x, x, out, 8)
    assert stats.copied_arrays == 2, "x (for a and b) once, out once"
    np.testing.assert_array_equal(out, 2 * np.arange(8))
    np.testing.assert_array_equal(lanes.ops.add(x, out, runtime=rt), 3 * np.arange(8))
    b = rt.buffer(x)
    np.testing.assert_array_equal(b.read(), x)
    b.write(out)
    np.testing.assert_array_equal(b.read(), out)
    with pytest.raises(lanes.ArgumentError, match="must be C-contiguous and aligned"):
        b.read_into(out)


def test_in_place_arrays_are_the_kernels_memory(rt):
    k = rt.compile(SCALE)["scale"]
    x = np.arange(16, dtype=np.float32)
    alias = x.view()  # another array object over the same memory
    stats = rt.launch(k, 1, 32, x, 2.0, 16)
    assert stats.copied_arrays == 0
    np.testing.assert_array_equal(alias, np.arange(16) * 2)


def test_one_array_for_several_parameters(rt, vector_add):
    x = np.arange(8, dtype=np.float32)
    stats = rt.launch(vector_add, 1, 8, x, x, x, 8)  # x = x + x, in place
    np.testing.assert_array_equal(x, np.arange(8) * 2)
    assert stats.copied_arrays == 0


def test_multidimensional_arrays_are_seen_in_c_order(rt, vector_add):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    c = np.zeros((3, 4), dtype=np.float32)
    rt.launch(vector_add, 1, 32, a, a, c, 12)
    np.testing.assert_array_equal(c, 2 * a)


def test_buffers_stay_resident_across_launches(rt, vector_add):
    n = 1024
    a = rt.buffer(np.ones(n, dtype=np.float32))
    acc = rt.zeros(n, "float32")
    assert (acc.shape, acc.dtype, acc.size, acc.nbytes, len(acc)) == ((n,), np.float32, n, 4 * n, n)
    for _ in range(5):
        rt.launch(vector_add, n // 256, 256, acc, a, acc, n)  # acc += a
    np.testing.assert_array_equal(acc.read(), np.full(n, 5, dtype=np.float32))
    # Buffers and arrays mix; np.asarray reads a buffer.
    out = np.zeros(n, dtype=np.float32)
    rt.launch(vector_add, n // 256, 256, acc, np.full(n, 2, dtype=np.float32), out, n)
    np.testing.assert_array_equal(out, 7)
    np.testing.assert_array_equal(np.asarray(acc), 5)
    # Host writes and reads by range.
    acc.write(np.array([9, 9], dtype=np.float32), offset=10)
    got = np.empty(n, dtype=np.float32)
    acc.read_into(got)
    assert got[9:13].tolist() == [5, 9, 9, 5]


def test_buffer_keeps_shape_and_dtype(rt):
    m = rt.buffer([[1, 2, 3], [4, 5, 6]], dtype=np.int16)
    assert m.shape == (2, 3) and m.dtype == np.int16 and m.ndim == 2
    np.testing.assert_array_equal(m.read(), [[1, 2, 3], [4, 5, 6]])
    assert "shape=(2, 3), dtype=int16" in repr(m)


def test_large_arrays_16m_elements(rt, vector_add):
    n = 1 << 24
    a = np.arange(n, dtype=np.float32)
    b = np.full(n, 0.25, dtype=np.float32)
    c = np.empty(n, dtype=np.float32)
    stats = rt.launch(vector_add, n // 256, 256, a, b, c, n, engine="jit")
    assert stats.copied_arrays == 0, "no copy of 3 x 64 MiB"
    np.testing.assert_array_equal(c, a + b)
    # The op library on the same arrays (in place, JIT runtime).
    jit = lanes.Runtime(threads=2, engine="jit")
    out = lanes.ops.mul(c, b, runtime=jit)
    np.testing.assert_array_equal(out, c * b)
    assert lanes.ops.max(a, runtime=jit) == n - 1


def test_scalar_arguments_reach_the_kernel(rt):
    k = rt.compile(SCALE)["scale"]
    x = np.arange(8, dtype=np.float32)
    rt.launch(k, 1, 8, x, np.float32(0.5), np.uint32(8))  # NumPy scalars too
    np.testing.assert_array_equal(x, np.arange(8) * 0.5)
    rt.launch(k, 1, 8, x, 4, 8)  # an int for an f32 parameter
    np.testing.assert_array_equal(x, np.arange(8) * 2)


def test_docs_examples_run_as_the_readme_says(rt):
    iota = rt.compile_file(EXAMPLES / "iota.lasm")["iota"]
    add = rt.compile_file(EXAMPLES / "vector_add.lasm").vector_add
    a = np.zeros(1000, dtype=np.float32)
    b = np.zeros(1000, dtype=np.float32)
    rt.launch(iota, 4, 256, a, 1.0, 1000)
    rt.launch(iota, 4, 256, out=b, step=2.0, n=1000)
    c = np.zeros(1000, dtype=np.float32)
    rt.launch(add, 4, 256, a, b, c, 1000)
    np.testing.assert_array_equal(c, 3 * np.arange(1000, dtype=np.float32))


def test_kernel_and_program_objects(rt):
    program = rt.compile((EXAMPLES / "vector_add.lasm").read_text() + SCALE)
    assert program.names == ["vector_add", "scale"]
    assert len(program) == 2 and "scale" in program and "nope" not in program
    assert program[1] is not None and program[-1].name == "scale"
    assert [k.name for k in program] == ["vector_add", "scale"]
    k = program["scale"]
    assert repr(k) == "Kernel scale(x: buf, s: f32, n: u32)"
    x, s, n = k.params
    assert (x.name, x.kind, x.dtype, x.written, x.is_buffer) == ("x", "buf", "float32", True, True)
    assert (s.kind, s.dtype, s.is_buffer) == ("f32", "float32", False)
    assert n.kind == "u32"
    assert k.shared_bytes == 0 and k.instructions == 7
    with pytest.raises(KeyError, match="no kernel `nope`"):
        program["nope"]
    with pytest.raises(AttributeError):
        program.nope


def test_runtime_settings(rt):
    assert rt.threads == 2 and rt.placement == "none" and rt.engine == "jit"
    one = lanes.Runtime(threads=1, placement="close", spin_us=5, engine="reference")
    assert (one.threads, one.placement, one.engine) == (1, "close", "reference")
    assert one.spin_us == pytest.approx(5)
    assert lanes.Runtime(threads=1, placement=[0]).placement == "cpus:0"


def test_more_threads_than_cores(vector_add):
    many = lanes.Runtime(threads=7)
    k = many.compile((EXAMPLES / "vector_add.lasm").read_text())["vector_add"]
    n = 1 << 16
    a = np.arange(n, dtype=np.float32)
    c = np.zeros(n, dtype=np.float32)
    many.launch(k, n // 256, 256, a, a, c, n)
    np.testing.assert_array_equal(c, 2 * a)
