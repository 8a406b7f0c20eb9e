"""Faults, compile errors, timeouts and Ctrl-C."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import lanes

SPIN = """
.kernel spin
.param out buf
    mov.u64        r0, 0
loop:
    add.u64        r0, r0, 1
    bra            loop
"""


def test_fault_attributes_on_every_engine(rt, engine):
    source = """
.kernel reader
.param x buf
.param n u32
    mov.u32        r0, %gid
    setp.ge.u32    p0, r0, n
    @p0 exit
    shl.u64        r1, r0, 2
    ld.global.f32  r2, [x + r1]
"""
    k = rt.compile(source, name="reader.lasm")["reader"]
    x = np.zeros(100, dtype=np.float32)
    with pytest.raises(lanes.LaunchFault) as fault:
        rt.launch(k, 2, 64, x, 101, engine=engine)
    f = fault.value
    assert f.kernel == "reader"
    assert f.block == (1, 0, 0) and f.lane == (36, 0, 0)
    assert f.instruction == 4 and f.line == 9
    assert f.source == "ld.global.f32 r2, [x + r1]"
    assert f.kind == "out_of_bounds"
    assert f.detail == "out of bounds: 4-byte access at offset 400 of global buffer `x` (400 bytes)"
    assert str(f) == (
        "kernel `reader` faulted in block (1, 0, 0) lane (36, 0, 0) at instruction 4 "
        "(line 9: `ld.global.f32 r2, [x + r1]`): " + f.detail
    )


@pytest.mark.parametrize(
    "body, kind",
    [
        ("mov.u64 r0, 2\n ld.global.u32 r1, [x + r0]", "misaligned"),
        ("mov.u32 r0, 0\n div.u32 r1, r0, r0", "division_by_zero"),
        ("loop:\n bra loop", "step_limit"),
    ],
)
def test_fault_kinds(rt, body, kind):
    k = rt.compile(f".kernel k\n.param x buf\n {body}\n")["k"]
    with pytest.raises(lanes.LaunchFault) as fault:
        rt.launch(k, 1, 1, np.zeros(4, dtype=np.uint32), max_steps=1000)
    assert fault.value.kind == kind


def test_the_runtime_stays_usable_after_a_fault(rt, vector_add):
    k = rt.compile(".kernel k\n.param x buf\n mov.u64 r0, 64\n st.global.u8 [x + r0], r0\n")["k"]
    with pytest.raises(lanes.LaunchFault):
        rt.launch(k, 1, 1, np.zeros(8, dtype=np.uint8))
    a = np.ones(8, dtype=np.float32)
    c = np.zeros(8, dtype=np.float32)
    rt.launch(vector_add, 1, 8, a, a, c, 8)
    assert (c == 2).all()


def test_compile_error_lists_every_diagnostic(rt):
    with pytest.raises(lanes.CompileError) as err:
        rt.compile(".kernel k\n frob r0\n mov.u32 r999, 1\n bra nowhere\n", name="bad.lasm")
    e = err.value
    assert e.file == "bad.lasm"
    assert [(d.file, d.line) for d in e.diagnostics] == [("bad.lasm", 2), ("bad.lasm", 3), ("bad.lasm", 4)]
    assert all(d.column >= 1 and d.message for d in e.diagnostics)
    assert str(e).splitlines() == [str(d) for d in e.diagnostics]
    assert str(e.diagnostics[0]).startswith("bad.lasm:2:2: ")


def test_garbage_sources_never_crash(rt):
    rng = np.random.default_rng(7)
    words = [".kernel", ".param", "buf", "u32", "mov.u32", "r0", ",", "[", "]", "+", "@p0", "bra", "x", "\n", "-", "0x", "9" * 40, "é", "\x00"]
    for _ in range(200):
        text = " ".join(rng.choice(words, size=rng.integers(1, 30)))
        try:
            rt.compile(text)
        except lanes.CompileError as e:
            assert e.diagnostics


def test_timeout_names_unfinished_blocks(rt):
    k = rt.compile(SPIN)["spin"]
    with pytest.raises(lanes.LaunchTimeout) as err:
        rt.launch(k, 4, 1, np.zeros(1, dtype=np.uint64), timeout=0.05)
    e = err.value
    assert e.kernel == "spin" and e.blocks == 4 and 1 <= e.unfinished <= 4
    assert e.timeout == pytest.approx(0.05)
    assert e.unfinished_ranges and all(a < b for a, b in e.unfinished_ranges)
    assert "did not finish within its timeout" in str(e)


# Run in a process of its own, so that the signal cannot disturb pytest.
CTRL_C = r"""
import os, signal, sys, threading
import numpy as np
import lanes

rt = lanes.Runtime(threads=2)
k = rt.compile(sys.argv[1])["spin"]
# Sent to the process, as the terminal's Ctrl-C is, once the launch runs.
threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    # Without the cancel this ends at the timeout, with LaunchTimeout.
    rt.launch(k, 2, 1, np.zeros(1, dtype=np.uint64), max_steps=1 << 40, timeout=20)
    print("finished")
except KeyboardInterrupt as e:
    c = e.__cause__
    print(type(c).__name__, c.kernel, c.blocks, c.unfinished)
# The runtime still works.
out = np.zeros(1, dtype=np.uint64)
k2 = rt.compile(".kernel one\n.param o buf\n mov.u64 r0, 0\n st.global.u64 [o + r0], 7\n")["one"]
rt.launch(k2, 1, 1, out)
print("after", out[0])
# Ctrl-C still interrupts a blocking call (the handler keeps Python's flags:
# no SA_RESTART, which would restart the read and hold the interrupt back).
r, w = os.pipe()
wrote = []
for delay, action in ((0.3, lambda: os.kill(os.getpid(), signal.SIGINT)), (10, lambda: wrote.append(os.write(w, b"x")))):
    t = threading.Timer(delay, action)
    t.daemon = True
    t.start()
try:
    os.read(r, 1)
    print("read returned")
except KeyboardInterrupt:
    # Held back, the interrupt comes only once the write ends the read.
    print("read interrupted late" if wrote else "read interrupted")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
def test_ctrl_c_cancels_a_long_launch():
    run = subprocess.run(
        [sys.executable, "-c", CTRL_C, SPIN],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    cancelled, after, read = run.stdout.split("\n")[:3]
    name, kernel, blocks, unfinished = cancelled.split()
    assert (name, kernel, blocks) == ("LaunchCancelled", "spin", "2"), run.stdout
    assert 1 <= int(unfinished) <= 2
    assert after == "after 7"
    assert read == "read interrupted"


def test_no_panic_reaches_python(rt, vector_add):
    # Hostile but valid launches: huge grids of tiny kernels, huge offsets.
    k = rt.compile(".kernel k\n.param x buf\n mov.u64 r0, 0xFFFFFFFFFFFFFFF8\n ld.global.u64 r1, [x + r0 + 16]\n")["k"]
    with pytest.raises(lanes.LaunchFault) as fault:
        rt.launch(k, 1, 1, np.zeros(1, dtype=np.uint64))
    assert fault.value.kind == "out_of_bounds"
    with pytest.raises(lanes.ArgumentError):
        rt.launch(vector_add, (2**32 - 1, 2**32 - 1, 2**32 - 1), 1024, *([np.zeros(2, np.float32)] * 3), 2)
