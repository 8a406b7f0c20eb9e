"""What a launch from Python costs on top of the same launch from Rust.

vector_add over n = 256 f32 elements (one block of 256 lanes), measured in
one process, in alternating rounds so that every way samples the same
moments of a machine whose speed moves:

- rust:          ``Runtime.measure``: a Rust loop around
                 ``kernel.launch(grid, block).arg(&a).arg(&b).arg(&c).arg(n).run(&rt)``
                 on resident buffers, each launch timed in Rust (what a Rust
                 program sees);
- python+arrays: ``rt.launch(k, 1, 256, a, b, c, n)`` on NumPy arrays (each
                 launch borrows the arrays and uses them in place), timed in
                 Python with ``time.perf_counter_ns`` around the call;
- python+buffers: the same call on resident ``lanes.Buffer``s.

Run it on a release build::

    cd python && maturin develop --release && cd ..
    python python/benches/launch_overhead.py            # or --threads 1, --engine jit
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

import lanes

SOURCE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "examples" / "vector_add.lasm"


def python_round(rt, k, args, n, repeat, hist):
    launch = rt.launch
    clock = time.perf_counter_ns
    for _ in range(repeat):
        t0 = clock()
        launch(k, 1, 256, *args, n)
        hist.record(clock() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--engine", default="pool", choices=lanes.ENGINES)
    p.add_argument("--repeat", type=int, default=5000, help="launches per way and round")
    p.add_argument("--rounds", type=int, default=4)
    opts = p.parse_args()

    n = 256
    rt = lanes.Runtime(threads=opts.threads, engine=opts.engine)
    k = rt.compile(SOURCE.read_text(), name="vector_add.lasm")["vector_add"]
    a = np.arange(n, dtype=np.float32)
    b = np.full(n, 0.5, dtype=np.float32)
    c = np.zeros(n, dtype=np.float32)
    bufs = (rt.buffer(a), rt.buffer(b), rt.zeros(n, np.float32))

    stats = rt.launch(k, 1, 256, a, b, c, n)
    assert stats.copied_arrays == 0 and (c == a + b).all()

    rust = lanes.LatencyHistogram()
    py_arrays = lanes.LatencyHistogram()
    py_buffers = lanes.LatencyHistogram()
    for _ in range(opts.rounds):
        rust.merge(rt.measure(k, 1, 256, *bufs, n, repeat=opts.repeat, warmup=10))
        python_round(rt, k, (a, b, c), n, opts.repeat, py_arrays)
        python_round(rt, k, bufs, n, opts.repeat, py_buffers)
    assert (bufs[2].read() == a + b).all()

    print(
        f"vector_add n={n}, {opts.threads} threads, engine {opts.engine}, "
        f"{opts.rounds} rounds x {opts.repeat} launches per way"
    )
    print(f"{'':16} {'p50':>9} {'p90':>9} {'p99':>9}   p50 - rust p50")
    base = rust.percentile(50)
    for name, h in (("rust", rust), ("python+arrays", py_arrays), ("python+buffers", py_buffers)):
        p50, p90, p99 = (h.percentile(q) / 1e3 for q in (50, 90, 99))
        extra = (h.percentile(50) - base) / 1e3
        print(f"{name:16} {p50:7.2f}us {p90:7.2f}us {p99:7.2f}us   {extra:+.2f} us")


if __name__ == "__main__":
    main()
