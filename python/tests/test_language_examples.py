"""Every example of docs/LANGUAGE.md, run from Python with the inputs and
results its text states; a new example without a check here fails."""

from __future__ import annotations

import re

import numpy as np
import pytest

import lanes

from conftest import REPO

DOC = (REPO / "docs" / "LANGUAGE.md").read_text()
BLOCKS = re.findall(r"```(lasm|lasm-invalid)\n(.*?)```(?:\s*```text\n(.*?)```)?", DOC, re.S)
EXAMPLES = {
    re.search(r"\.kernel (\w+)", text).group(1): (kind, text, after)
    for kind, text, after in BLOCKS
}


def run(rt, name, grid, block, *args, engine):
    kernel = rt.compile(EXAMPLES[name][1], name=f"{name}.lasm")[name]
    return rt.launch(kernel, grid, block, *args, engine=engine)


def check_vector_add(rt, engine):
    a = np.arange(1000, dtype=np.float32)
    b = np.full(1000, 2, dtype=np.float32)
    c = np.zeros(1000, dtype=np.float32)
    run(rt, "vector_add", 4, 256, a, b, c, 1000, engine=engine)
    np.testing.assert_array_equal(c, a + 2)


def check_two_barriers(rt, engine):
    out = np.zeros(64, dtype=np.uint32)
    run(rt, "two_barriers", 1, 64, out, engine=engine)
    assert out[0] == 0 and (out[1:] == 42).all()


def check_block_sums(rt, engine):
    x = (np.arange(1000) % 7).astype(np.float32)
    out = np.zeros(4, dtype=np.float32)
    run(rt, "block_sums", 4, 256, x, out, 1000, engine=engine)
    want = [x[256 * b : 256 * b + 256].sum() for b in range(4)]
    np.testing.assert_array_equal(out, want)


def check_past_the_end(rt, engine):
    x = np.zeros(3, dtype=np.float32)
    with pytest.raises(lanes.LaunchFault) as fault:
        run(rt, "past_the_end", 1, 4, x, engine=engine)
    assert str(fault.value) == EXAMPLES["past_the_end"][2].strip()


def check_iota(rt, engine):
    out = np.zeros(1000, dtype=np.float32)
    run(rt, "iota", 4, 256, out, 1.0, 1000, engine=engine)
    np.testing.assert_array_equal(out, np.arange(1000))


def check_axpy(rt, engine):
    x = np.arange(300, dtype=np.float32)
    y = np.ones(300, dtype=np.float32)
    run(rt, "axpy", 2, 256, 2.0, x, y, 300, engine=engine)
    np.testing.assert_array_equal(y, 2 * np.arange(300) + 1)


def check_brighten(rt, engine):
    pixels = np.array([0, 200, 230, 255, 7], dtype=np.uint8)
    run(rt, "brighten", 1, 32, pixels, 5, engine=engine)
    assert pixels.tolist() == [40, 240, 255, 255, 47]


def check_transpose(rt, engine):
    rows, cols = 20, 35
    m = (100 * np.arange(rows)[:, None] + np.arange(cols)[None, :]).astype(np.uint32)
    t = np.zeros((cols, rows), dtype=np.uint32)
    run(rt, "transpose", (3, 2), (16, 16), m, t, rows, cols, engine=engine)
    np.testing.assert_array_equal(t, m.T)


def check_histogram(rt, engine):
    x = (np.arange(1000) % 10).astype(np.uint32)
    bins = np.zeros(10, dtype=np.uint32)
    run(rt, "histogram", 4, 256, x, bins, 1000, engine=engine)
    assert (bins == 100).all()


def collatz_steps(v: int) -> int:
    steps = 0
    while v > 1:
        v = v // 2 if v % 2 == 0 else 3 * v + 1
        steps += 1
    return steps


def check_collatz(rt, engine):
    steps = np.zeros(1000, dtype=np.uint32)
    run(rt, "collatz", 4, 256, steps, 1000, engine=engine)
    assert steps.tolist() == [collatz_steps(i + 1) for i in range(1000)]
    assert steps[26] == 111


def check_first_wins(rt, engine):
    winner = np.zeros(2, dtype=np.uint32)  # one word: used in place
    run(rt, "first_wins", 4, 64, winner, engine=engine)
    assert 1 <= winner[0] <= 256


CHECKS = {name[len("check_") :]: f for name, f in globals().items() if name.startswith("check_")}


def test_every_example_has_a_check():
    valid = {name for name, (kind, _, _) in EXAMPLES.items() if kind == "lasm"}
    assert valid == set(CHECKS), "add a check for a new example, or remove a stale one"


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example(rt, name, engine):
    CHECKS[name](rt, engine)


def test_invalid_example_reports_every_diagnostic(rt):
    (name,) = [n for n, (kind, _, _) in EXAMPLES.items() if kind == "lasm-invalid"]
    _, text, expected = EXAMPLES[name]
    with pytest.raises(lanes.CompileError) as err:
        rt.compile(text, name="example.lasm")
    assert str(err.value) == expected.strip()
    got = [(d.file, d.line, d.column) for d in err.value.diagnostics]
    want = [tuple(line.split(":")[:3]) for line in expected.strip().splitlines()]
    assert got == [(f, int(l), int(c)) for f, l, c in want]
