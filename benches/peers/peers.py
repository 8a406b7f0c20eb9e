#!/usr/bin/env python3
"""lanes against its peers: PoCL's CPU OpenCL driver and Numba parallel=True.

The same kernels, each written in its system's own language (LASM in
src/ops and here, OpenCL C in kernels.cl, Python in numba_kernels.py), run
on the same NumPy inputs. Every system's result is first compared with
NumPy (a wrong result stops the benchmark), then each case is timed launch
to completion (lanes: `Runtime::launch` returning; PoCL: enqueue and wait
for the kernel's event; Numba: the call returning) in rounds in which the
three systems take turns, so that their times sample the same moments of a
machine whose speed moves. See README.md beside this file.

Run it with the virtual environment that install.sh makes (run.sh does
both): target/peers-venv/bin/python benches/peers/peers.py [options]
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BLOCK_LANES = 256
MATMUL_TILE = 16
MANDELBROT_MAX_ITER = 256


@dataclass
class Case:
    """One benchmark case: a kernel at one size."""

    name: str
    kernel: str
    n: int  # elements; pixels for mandelbrot; the matrix side for matmul
    width: int = 0  # mandelbrot only


CASES = [
    Case("vector_add 16k", "vector_add", 1 << 14),
    Case("vector_add 1M", "vector_add", 1 << 20),
    Case("vector_add 16M", "vector_add", 1 << 24),
    Case("saxpy 1M", "saxpy", 1 << 20),
    Case("saxpy 16M", "saxpy", 1 << 24),
    Case("block_sum 1M", "block_sum", 1 << 20),
    Case("mandelbrot 600x400", "mandelbrot", 600 * 400, width=600),
    Case("matmul 256", "matmul", 256),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", help="lanes engine (passed to the lanes side as --engine; "
                   "default: the library's default, which `lanes run` also uses)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for every system (default 2)")
    p.add_argument("--rounds", type=int, default=7, help="rounds of turns (default 7)")
    p.add_argument("--budget-ms", type=float, default=200.0,
                   help="time each system spends per case per round (default 200)")
    p.add_argument("--min-reps", type=int, default=5,
                   help="launches per system per round at least (default 5)")
    p.add_argument("--max-reps", type=int, default=20000,
                   help="launches per system per round at most (default 20000)")
    p.add_argument("--warmup-ms", type=float, default=150.0,
                   help="untimed launches per system per case, in time (default 150)")
    p.add_argument("--settle-ms", type=float, default=20.0,
                   help="idle pause before each system's turn, so that the previous "
                   "system's threads stop spinning (default 20)")
    p.add_argument("--cases", help="comma-separated substrings: run only matching cases")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 2 rounds of 20 ms, short warm-up")
    p.add_argument("--json", type=Path, help="write every number here")
    p.add_argument("--markdown", type=Path, help="write the table here")
    p.add_argument("--lanes-bin", type=Path,
                   help="the built `peers` example (default: cargo build --release "
                   "--example peers)")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.budget_ms, args.warmup_ms, args.min_reps = 2, 20.0, 20.0, 2
    if args.threads < 1 or args.rounds < 1 or args.min_reps < 1:
        p.error("--threads, --rounds and --min-reps must be at least 1")
    return args


ARGS = parse_args()
# Both read their thread counts when they start: set them before importing.
os.environ["POCL_MAX_PTHREAD_COUNT"] = str(ARGS.threads)
os.environ["NUMBA_NUM_THREADS"] = str(ARGS.threads)

try:
    import numpy as np
    import pyopencl as cl
    import numba
    import numba_kernels
except ImportError as e:
    sys.exit(f"peers: {e}; install the peers first: bash benches/peers/install.sh, "
             "then run this with target/peers-venv/bin/python (or use run.sh)")


class CheckError(Exception):
    """A system's result differs from NumPy's."""


# ---------------------------------------------------------------- inputs and NumPy references


def f32_text(v):
    """Text that parses back (Rust `str::parse::<f32>`) to exactly `v`."""
    return np.format_float_positional(np.float32(v), unique=True, trim="-") if np.isfinite(v) \
        else str(float(v))


def fma_f32(alpha, x, y):
    """alpha * x + y rounded once to f32, for every element: what a fused
    multiply-add gives. The product of two f32s is exact in f64, so the f64
    result is rounded once there and once to f32; that double rounding can
    only differ from rounding once where the f64 result lies exactly halfway
    between two f32s (or in f32's subnormal range). Those elements, if any,
    are redone exactly with fractions."""
    r = np.float64(alpha) * x.astype(np.float64) + y.astype(np.float64)
    out = r.astype(np.float32)
    bits = r.view(np.uint64)
    halfway = (bits & np.uint64((1 << 29) - 1)) == np.uint64(1 << 28)
    for i in np.nonzero(halfway | (np.abs(r) < 2.0 ** -126))[0]:
        exact = Fraction(float(alpha)) * Fraction(float(x[i])) + Fraction(float(y[i]))
        c = out[i]
        best = None
        for cand in (np.nextafter(c, np.float32(-np.inf)), c, np.nextafter(c, np.float32(np.inf))):
            d = abs(Fraction(float(cand)) - exact)
            even = int(np.float32(cand).view(np.uint32)) & 1 == 0
            key = (d, not even)
            if best is None or key < best[0]:
                best = (key, cand)
        out[i] = best[1]
    return out


def mandelbrot_image(width, n):
    """The box [-2, 0.5] x [-1.25, 1.25] at pixel centres, in f32 as
    lanes's own benchmark (`lanes::bench::case::MandelbrotImage`) computes it."""
    height = -(-n // width)
    dx = np.float32(2.5) / np.float32(width)
    dy = np.float32(2.5) / np.float32(height)
    x0 = np.float32(-2.0) + dx / np.float32(2.0)
    y0 = np.float32(-1.25) + dy / np.float32(2.0)
    return dict(width=width, n=n, max_iter=MANDELBROT_MAX_ITER, x0=x0, y0=y0, dx=dx, dy=dy)


def mandelbrot_ref(img):
    """Escape times in NumPy, step for step as src/ops/mandelbrot.lasm."""
    i = np.arange(img["n"], dtype=np.uint32)
    cx = (i % np.uint32(img["width"])).astype(np.float32) * img["dx"] + img["x0"]
    cy = (i // np.uint32(img["width"])).astype(np.float32) * img["dy"] + img["y0"]
    x = np.zeros_like(cx)
    y = np.zeros_like(cy)
    steps = np.zeros(img["n"], dtype=np.uint32)
    active = np.ones(img["n"], dtype=bool)
    four = np.float32(4.0)
    for _ in range(img["max_iter"]):
        xx = x * x
        yy = y * y
        active &= ~((xx + yy) > four)
        if not active.any():
            break
        xy = x * y
        x = np.where(active, (xx - yy) + cx, x)
        y = np.where(active, (xy + xy) + cy, y)
        steps += active
    return steps


def matmul_ref(a, b):
    """acc = acc + a[row][k] * b[k][col], k ascending, each operation rounded."""
    acc = np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
    for k in range(a.shape[1]):
        acc = acc + a[:, k:k + 1] * b[k:k + 1, :]
    return acc


def make_data(case, rng):
    """The case's inputs and the result every system must give, bit for bit."""
    if case.kernel == "vector_add":
        a = rng.uniform(-1, 1, case.n).astype(np.float32)
        b = rng.uniform(-1, 1, case.n).astype(np.float32)
        return dict(a=a, b=b, expected=a + b)
    if case.kernel == "saxpy":
        alpha = np.float32(1.7)
        x = rng.uniform(-1, 1, case.n).astype(np.float32)
        y = rng.uniform(-1, 1, case.n).astype(np.float32)
        return dict(alpha=alpha, x=x, y=y, expected=fma_f32(alpha, x, y))
    if case.kernel == "block_sum":
        # Small integers: every partial sum is exact in f32, so the sum is the
        # same in any order (a tree, per-thread partials, atomics).
        x = rng.integers(-8, 9, case.n).astype(np.float32)
        return dict(x=x, expected=np.float32(x.astype(np.float64).sum()))
    if case.kernel == "mandelbrot":
        img = mandelbrot_image(case.width, case.n)
        return dict(img=img, expected=mandelbrot_ref(img))
    if case.kernel == "matmul":
        a = rng.uniform(-1, 1, (case.n, case.n)).astype(np.float32)
        b = rng.uniform(-1, 1, (case.n, case.n)).astype(np.float32)
        return dict(a=a, b=b, expected=matmul_ref(a, b))
    raise ValueError(case.kernel)


def check(system, case, got, expected):
    """Raises CheckError unless `got` has `expected`'s bits, element for element."""
    expected = np.atleast_1d(np.asarray(expected))
    got = np.atleast_1d(np.asarray(got)).reshape(expected.shape)
    if got.dtype != expected.dtype:
        raise CheckError(f"{system}: {case.name}: result is {got.dtype}, expected {expected.dtype}")
    differ = np.argwhere(got.view(np.uint32) != expected.view(np.uint32))
    if len(differ):
        first = tuple(int(i) for i in differ[0])
        raise CheckError(f"{system}: {case.name}: {len(differ)} of {expected.size} results "
                         f"differ from NumPy's; the first at {first}: {got[first]!r}, "
                         f"expected {expected[first]!r}")


# ---------------------------------------------------------------- the three systems


def time_calls(call, reps, min_reps=0, max_ns=None):
    """Up to `reps` calls, each timed; stops early once they have taken
    `max_ns` and at least `min_reps` were made."""
    ns, spent = [], 0
    for made in range(1, reps + 1):
        t0 = time.perf_counter_ns()
        call()
        took = time.perf_counter_ns() - t0
        ns.append(took)
        spent += took
        if max_ns is not None and spent >= max_ns and made >= min_reps:
            break
    return ns


class Lanes:
    """The `peers` example, kept running: JSON requests on its stdin."""

    name = "lanes"

    def __init__(self, exe, engine, threads):
        cmd = [str(exe), "--threads", str(threads)]
        if engine:
            cmd += ["--engine", engine]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.tmp = tempfile.TemporaryDirectory(prefix="lanes-peers-")
        self.case = None
        info = self.request(cmd="hello")
        self.engine, self.threads = info["engine"], info["threads"]

    def request(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the lanes side exited (status {self.proc.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"lanes: {answer['error']}")
        return answer["ok"]

    def npy(self, name, array):
        path = Path(self.tmp.name) / f"{name}.npy"
        np.save(path, np.ascontiguousarray(array).reshape(-1))
        return {"npy": str(path)}

    def prepare(self, case, data):
        n = case.n
        ops = ROOT / "src" / "ops"
        blocks = -(-n // BLOCK_LANES)
        if case.kernel == "vector_add":
            spec = dict(file=ops / "vector_add.lasm", grid=[blocks, 1, 1],
                        block=[BLOCK_LANES, 1, 1],
                        args=[self.npy("a", data["a"]), self.npy("b", data["b"]),
                              {"zeros": "f32", "count": n}, {"value": str(n)}])
            out = "out"
        elif case.kernel == "saxpy":
            spec = dict(file=ops / "saxpy.lasm", grid=[blocks, 1, 1], block=[BLOCK_LANES, 1, 1],
                        args=[{"value": f32_text(data["alpha"])}, self.npy("x", data["x"]),
                              self.npy("y", data["y"]), {"zeros": "f32", "count": n},
                              {"value": str(n)}])
            out = "out"
        elif case.kernel == "block_sum":
            spec = dict(file=ops / "block_sum.lasm", grid=[blocks, 1, 1],
                        block=[BLOCK_LANES, 1, 1],
                        args=[self.npy("x", data["x"]), {"zeros": "f32", "count": 1},
                              {"value": str(n)}])
            out = "out"
        elif case.kernel == "mandelbrot":
            img = data["img"]
            spec = dict(file=ops / "mandelbrot.lasm", grid=[blocks, 1, 1],
                        block=[BLOCK_LANES, 1, 1],
                        args=[{"zeros": "u32", "count": n}, {"value": str(img["width"])},
                              {"value": str(n)}, {"value": str(img["max_iter"])}]
                        + [{"value": f32_text(img[k])} for k in ("x0", "y0", "dx", "dy")])
            out = "out"
        elif case.kernel == "matmul":
            tiles = -(-n // MATMUL_TILE)
            spec = dict(file=HERE / "matmul.lasm", grid=[tiles, tiles, 1],
                        block=[MATMUL_TILE, MATMUL_TILE, 1],
                        args=[self.npy("a", data["a"]), self.npy("b", data["b"]),
                              {"zeros": "f32", "count": n * n}, {"value": str(n)}])
            out = "c"
        else:
            raise ValueError(case.kernel)
        spec["file"] = str(spec["file"])
        self.request(cmd="load", case=case.name, kernel=case.kernel, **spec)
        self.case = case.name
        result = Path(self.tmp.name) / "result.npy"
        self.request(cmd="check", case=case.name, save=[{"param": out, "path": str(result)}])
        got = np.load(result)
        check(self.name, case, got[0] if case.kernel == "block_sum" else got, data["expected"])

    def time(self, reps, min_reps=0, max_ns=None):
        limit = {} if max_ns is None else {"min_reps": min_reps, "max_ms": max_ns / 1e6}
        return self.request(cmd="time", case=self.case, reps=reps, **limit)["ns"]

    def release(self):
        if self.case is not None:
            self.request(cmd="unload", case=self.case)
            self.case = None
        for f in Path(self.tmp.name).glob("*.npy"):
            f.unlink()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()
        self.tmp.cleanup()


class Pocl:
    """PoCL's CPU device through PyOpenCL; arguments set once per case, each
    launch an enqueue and a wait on its event."""

    name = "pocl"

    def __init__(self):
        platforms = [p for p in cl.get_platforms() if "Portable Computing Language" in p.name]
        if not platforms:
            raise RuntimeError("no PoCL platform (is pocl-opencl-icd installed?)")
        self.platform = platforms[0]
        self.device = self.platform.get_devices()[0]
        self.ctx = cl.Context([self.device])
        self.queue = cl.CommandQueue(self.ctx)
        self.program = cl.Program(self.ctx, (HERE / "kernels.cl").read_text()).build()
        self.call = None
        self.buffers = []

    def buf(self, array=None, nbytes=None):
        mf = cl.mem_flags
        if array is not None:
            b = cl.Buffer(self.ctx, mf.READ_ONLY | mf.COPY_HOST_PTR,
                          hostbuf=np.ascontiguousarray(array))
        else:
            b = cl.Buffer(self.ctx, mf.READ_WRITE, nbytes)
            cl.enqueue_fill_buffer(self.queue, b, np.uint32(0), 0, nbytes).wait()
        self.buffers.append(b)
        return b

    def prepare(self, case, data):
        n = case.n
        lanes_x = -(-n // BLOCK_LANES) * BLOCK_LANES
        kernel = cl.Kernel(self.program, case.kernel)
        if case.kernel == "vector_add":
            out = self.buf(nbytes=4 * n)
            kernel.set_args(self.buf(data["a"]), self.buf(data["b"]), out, np.uint32(n))
            shape, dtype = ((lanes_x,), (BLOCK_LANES,)), np.float32
        elif case.kernel == "saxpy":
            out = self.buf(nbytes=4 * n)
            kernel.set_args(data["alpha"], self.buf(data["x"]), self.buf(data["y"]), out,
                            np.uint32(n))
            shape, dtype = ((lanes_x,), (BLOCK_LANES,)), np.float32
        elif case.kernel == "block_sum":
            out = self.buf(nbytes=4)
            kernel.set_args(self.buf(data["x"]), out, np.uint32(n))
            shape, dtype = ((lanes_x,), (BLOCK_LANES,)), np.float32
        elif case.kernel == "mandelbrot":
            img = data["img"]
            out = self.buf(nbytes=4 * n)
            kernel.set_args(out, np.uint32(img["width"]), np.uint32(n),
                            np.uint32(img["max_iter"]), img["x0"], img["y0"], img["dx"],
                            img["dy"])
            shape, dtype = ((lanes_x,), (BLOCK_LANES,)), np.uint32
        elif case.kernel == "matmul":
            side = -(-n // MATMUL_TILE) * MATMUL_TILE
            out = self.buf(nbytes=4 * n * n)
            kernel.set_args(self.buf(data["a"]), self.buf(data["b"]), out, np.uint32(n))
            shape, dtype = ((side, side), (MATMUL_TILE, MATMUL_TILE)), np.float32
        else:
            raise ValueError(case.kernel)
        queue = self.queue

        def call():
            cl.enqueue_nd_range_kernel(queue, kernel, *shape).wait()

        call()
        got = np.empty(out.size // 4, dtype=dtype)
        cl.enqueue_copy(queue, got, out).wait()
        check(self.name, case, got[0] if case.kernel == "block_sum" else got, data["expected"])
        self.call = call

    def time(self, reps, min_reps=0, max_ns=None):
        return time_calls(self.call, reps, min_reps, max_ns)

    def release(self):
        self.call = None
        for b in self.buffers:
            b.release()
        self.buffers = []

    def close(self):
        self.release()


class Numba:
    """numba_kernels.py's @njit(parallel=True) functions on NumPy arrays."""

    name = "numba"

    def __init__(self):
        self.call = None

    def prepare(self, case, data):
        k = numba_kernels
        if case.kernel == "vector_add":
            a, b, out = data["a"], data["b"], np.empty(case.n, np.float32)
            call = lambda: k.vector_add(a, b, out)  # noqa: E731
            result = lambda: out  # noqa: E731
        elif case.kernel == "saxpy":
            alpha, x, y, out = data["alpha"], data["x"], data["y"], np.empty(case.n, np.float32)
            call = lambda: k.saxpy(alpha, x, y, out)  # noqa: E731
            result = lambda: out  # noqa: E731
        elif case.kernel == "block_sum":
            x = data["x"]
            box = [None]

            def call():
                box[0] = k.block_sum(x)

            # Numba hands a float32 result back as a Python float (exactly).
            result = lambda: np.float32(box[0])  # noqa: E731
        elif case.kernel == "mandelbrot":
            img = data["img"]
            out = np.empty(case.n, np.uint32)
            width, max_iter = img["width"], img["max_iter"]
            x0, y0, dx, dy = img["x0"], img["y0"], img["dx"], img["dy"]
            call = lambda: k.mandelbrot(out, width, max_iter, x0, y0, dx, dy)  # noqa: E731
            result = lambda: out  # noqa: E731
        elif case.kernel == "matmul":
            a, b = data["a"], data["b"]
            out = np.empty_like(a)
            call = lambda: k.matmul(a, b, out)  # noqa: E731
            result = lambda: out  # noqa: E731
        else:
            raise ValueError(case.kernel)
        call()  # compiles on first use
        got = result()
        check(self.name, case, got, data["expected"])
        self.call = call

    def time(self, reps, min_reps=0, max_ns=None):
        return time_calls(self.call, reps, min_reps, max_ns)

    def release(self):
        self.call = None

    def close(self):
        pass


# ---------------------------------------------------------------- measuring


@dataclass
class Samples:
    reps: int = 0
    rounds: list = field(default_factory=list)  # ns per launch, one list per round

    def all(self):
        return [t for r in self.rounds for t in r]


def percentile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def p50(values):
    return statistics.median(values)


def calibrate(system, budget_s, warmup_s, min_reps, max_reps):
    """Untimed launches for about `warmup_s`, doubling the batch; returns the
    launches per round that fill `budget_s` at the fastest launch time seen.
    (Not the median: a warm-up that meets a slow moment of the machine would
    plan too few launches; a turn that runs slow is cut short anyway.)"""
    reps, spent, last = 1, 0.0, []
    while True:
        last = system.time(reps)
        spent += sum(last) / 1e9
        if spent >= warmup_s or reps >= max_reps:
            break
        reps *= 2
    per_launch = min(last) / 1e9
    return max(min_reps, min(max_reps, int(budget_s / max(per_launch, 1e-9))))


def run_case(case, systems, data, args):
    for s in systems:
        s.prepare(case, data)
    samples = {}
    for s in systems:
        time.sleep(args.settle_ms / 1e3)
        samples[s.name] = Samples(reps=calibrate(s, args.budget_ms / 1e3, args.warmup_ms / 1e3,
                                                 args.min_reps, args.max_reps))
    for r in range(args.rounds):
        # Each round starts with the next system, so none is always first.
        order = systems[r % len(systems):] + systems[:r % len(systems)]
        for s in order:
            time.sleep(args.settle_ms / 1e3)
            # A slow moment (launches far slower than calibrated) cuts the
            # turn short at twice the budget rather than stretching the run.
            samples[s.name].rounds.append(s.time(samples[s.name].reps, args.min_reps,
                                                 2 * args.budget_ms * 1e6))
    for s in systems:
        s.release()
    return samples


def summarize(case, samples):
    row = {"case": case.name, "kernel": case.kernel, "n": case.n, "systems": {}, "ratios": {}}
    for name, s in samples.items():
        everything = s.all()
        row["systems"][name] = {
            "p50_ns": p50(everything),
            "p10_ns": percentile(everything, 0.10),
            "p90_ns": percentile(everything, 0.90),
            "min_ns": min(everything),
            "launches": len(everything),
            "planned_per_round": s.reps,
            "round_p50_ns": [p50(r) for r in s.rounds],
        }
    lanes = row["systems"]["lanes"]
    for peer in ("pocl", "numba"):
        other = row["systems"][peer]
        per_round = [a / b for a, b in zip(lanes["round_p50_ns"], other["round_p50_ns"])]
        row["ratios"][peer] = {
            "p50": lanes["p50_ns"] / other["p50_ns"],
            "round_min": min(per_round),
            "round_max": max(per_round),
        }
    return row


def fmt_ns(ns):
    """Three significant digits in the largest unit that keeps the value at least 1."""
    for unit, scale in (("ns", 1.0), ("µs", 1e3), ("ms", 1e6)):
        if ns / scale < 999.5:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns / 1e9:.3g} s"


def markdown(rows):
    lines = ["| case | lanes p50 | pocl p50 | numba p50 | lanes/pocl | lanes/numba |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, q = r["systems"], r["ratios"]
        lines.append(
            f"| {r['case']} | {fmt_ns(s['lanes']['p50_ns'])} | {fmt_ns(s['pocl']['p50_ns'])} "
            f"| {fmt_ns(s['numba']['p50_ns'])} | {q['pocl']['p50']:.2f}x "
            f"| {q['numba']['p50']:.2f}x |")
    lines += ["", "Per round (p50 of the round's launches), the lowest and highest ratio:", "",
              "| case | lanes/pocl per round | lanes/numba per round |", "|---|---:|---:|"]
    for r in rows:
        q = r["ratios"]
        lines.append(f"| {r['case']} | {q['pocl']['round_min']:.2f}x - {q['pocl']['round_max']:.2f}x "
                     f"| {q['numba']['round_min']:.2f}x - {q['numba']['round_max']:.2f}x |")
    return "\n".join(lines) + "\n"


def cargo_build_example():
    out = subprocess.run(
        ["cargo", "build", "--release", "--example", "peers", "--message-format=json"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if (msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "peers"
                and msg.get("executable")):
            return Path(msg["executable"])
    raise RuntimeError("cargo built no `peers` example")


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def load_average():
    try:
        return Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return None


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              stdout=subprocess.PIPE, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(args):
    cases = CASES
    if args.cases:
        wanted = [w.strip() for w in args.cases.split(",") if w.strip()]
        cases = [c for c in CASES if any(w in c.name for w in wanted)]
        if not cases:
            sys.exit(f"peers: no case matches {args.cases!r}; cases: "
                     + ", ".join(c.name for c in CASES))
    try:
        exe = args.lanes_bin or cargo_build_example()
        lanes = Lanes(exe, args.engine, args.threads)
        pocl = Pocl()
    except (OSError, RuntimeError, subprocess.CalledProcessError, cl.Error) as e:
        sys.exit(f"peers: cannot start: {e}")
    peers = [lanes, pocl, Numba()]
    setup = {
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "load_average_before": load_average(),
        "threads": args.threads,
        "lanes": {"engine": lanes.engine, "threads": lanes.threads},
        "pocl": {"platform": pocl.platform.version, "device": pocl.device.name,
                 "compute_units": pocl.device.max_compute_units,
                 "pyopencl": cl.VERSION_TEXT},
        "numba": {"version": numba.__version__, "threads": numba.get_num_threads()},
        "numpy": np.__version__,
        "rounds": args.rounds, "budget_ms": args.budget_ms, "warmup_ms": args.warmup_ms,
        "settle_ms": args.settle_ms,
    }
    print(f"lanes engine {lanes.engine} on {lanes.threads} threads; {setup['pocl']['platform']} "
          f"({pocl.device.max_compute_units} compute units); numba {numba.__version__} "
          f"({numba.get_num_threads()} threads); {args.rounds} rounds of "
          f"{args.budget_ms:g} ms per system", file=sys.stderr)
    rng = np.random.default_rng(13)
    rows = []
    try:
        for case in cases:
            t0 = time.monotonic()
            data = make_data(case, rng)
            samples = run_case(case, peers, data, args)
            rows.append(summarize(case, samples))
            r = rows[-1]
            print(f"{case.name}: lanes {fmt_ns(r['systems']['lanes']['p50_ns'])}, "
                  f"pocl {fmt_ns(r['systems']['pocl']['p50_ns'])}, "
                  f"numba {fmt_ns(r['systems']['numba']['p50_ns'])} "
                  f"({time.monotonic() - t0:.1f} s)", file=sys.stderr)
        # Numba's threading layer is known once a parallel function has run.
        setup["numba"]["threading_layer"] = numba.threading_layer()
        setup["load_average_after"] = load_average()
    except CheckError as e:
        sys.exit(f"peers: wrong result: {e}")
    except (OSError, RuntimeError, cl.Error) as e:
        sys.exit(f"peers: {e}")
    finally:
        lanes.close()
        pocl.close()
    table = markdown(rows)
    print(table, end="")
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        args.json.write_text(json.dumps({"setup": setup, "cases": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main(ARGS)
