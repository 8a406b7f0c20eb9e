"""Launches from several Python threads, and the GIL released meanwhile."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

import lanes

# Each launch sets its own flag, then waits until the other launch has set
# its flag: both finish only if they run at the same time (else the step
# limit ends the one that waits alone, with a fault).
HANDSHAKE = """
.kernel handshake
.param flags buf
.param me u32
.param other u32
    shl.u64        r0, me, 2
    atom.global.exch.u32 r1, [flags + r0], 1
    shl.u64        r3, other, 2
wait:
    atom.global.add.u32 r2, [flags + r3], 0
    setp.eq.u32    p0, r2, 0
    @p0 bra        wait
"""

SPIN = """
.kernel spin
loop:
    bra            loop
"""


def test_two_python_threads_launch_at_once(rt):
    k = rt.compile(HANDSHAKE)["handshake"]
    flags = rt.zeros(2, np.uint32)
    errors: list[BaseException] = []

    def launch(me: int) -> None:
        try:
            rt.launch(k, 1, 1, flags, me, 1 - me, max_steps=20_000_000)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=launch, args=(me,)) for me in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert flags.read().tolist() == [1, 1]


def test_many_threads_launch_correctly(rt, vector_add):
    results: dict[int, bool] = {}

    def work(i: int) -> None:
        n = 4096 + 8 * i
        a = np.full(n, i, dtype=np.float32)
        c = np.zeros(n, dtype=np.float32)
        ok = True
        for _ in range(20):
            rt.launch(vector_add, (n + 255) // 256, 256, a, a, c, n)
            ok &= bool((c == 2 * i).all())
        results[i] = ok

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: True for i in range(4)}


def test_the_gil_is_released_during_a_launch(rt):
    k = rt.compile(SPIN)["spin"]
    count = 0
    stop = False

    def counter() -> None:
        nonlocal count
        while not stop:
            count += 1
            time.sleep(0)  # lets the main thread take the GIL back

    old = sys.getswitchinterval()
    # The main thread now gives the GIL up only when it blocks: the counter
    # can run between the two reads below only if the launch releases it.
    sys.setswitchinterval(1000)
    t = threading.Thread(target=counter)
    try:
        t.start()
        time.sleep(0.05)  # blocks: the counter starts
        before = count
        with pytest.raises(lanes.LaunchTimeout):
            rt.launch(k, 1, 1, timeout=0.3)
        after = count
    finally:
        stop = True
        sys.setswitchinterval(old)
        t.join()
    assert after > before, "no Python code ran while the kernel did"
