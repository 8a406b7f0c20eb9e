"""Launch statistics, latency histograms and the scheduler's report."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lanes


def test_measure_gives_a_histogram_of_the_launches(rt, vector_add):
    n = 256
    a = np.ones(n, dtype=np.float32)
    c = np.zeros(n, dtype=np.float32)
    h = rt.measure(vector_add, 1, 256, a, a, c, n, repeat=200, warmup=3)
    assert h.count == len(h) == 200
    assert (c == 2).all()
    p = h.percentiles()
    assert list(p) == ["p50", "p90", "p99", "p99.9", "max"]
    values = list(p.values())
    assert values == sorted(values) and values[0] > 0
    assert h.min <= p["p50"] <= h.max == p["max"]
    assert h.percentile(50) == p["p50"]
    assert h.mean > 0
    lines = str(h).splitlines()
    assert [line.split()[0] for line in lines] == ["p50", "p90", "p99", "p99.9", "max"]
    summary = json.loads(h.to_json())
    assert summary["count"] == 200 and summary["p50_ns"] == p["p50"]
    hgrm = h.hgrm().splitlines()
    assert hgrm[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    assert any(line.startswith("#[Max") and "Total count    =          200" in line for line in hgrm)


def test_histograms_record_stats_and_numbers(rt, vector_add):
    h = lanes.LatencyHistogram()
    a = np.ones(8, dtype=np.float32)
    for _ in range(10):
        h.record(rt.launch(vector_add, 1, 8, a, a, np.zeros(8, np.float32), 8))
    h.record(1_000)
    assert h.count == 11 and h.min <= 1_000
    other = lanes.LatencyHistogram()
    other.record(10**9)
    h.merge(other)
    assert h.count == 12 and h.max >= 10**9 * 0.999
    with pytest.raises(lanes.ArgumentError):
        h.record(-5)
    with pytest.raises(lanes.ArgumentError):
        h.percentile(101)


def test_report_shows_the_scheduler_table(rt, vector_add):
    n = 1 << 16
    a = np.ones(n, dtype=np.float32)
    c = np.zeros(n, dtype=np.float32)
    rt.launch(vector_add, n // 256, 256, a, a, c, n)  # warm-up
    rt.reset_metrics()
    for _ in range(7):
        rt.launch(vector_add, n // 256, 256, a, a, c, n)
    r = rt.report()
    assert r.batches == 7
    assert r.batch_latency["count"] == 7
    rows = r.workers
    assert [w["name"] for w in rows] == ["worker 0", "submitters", "total"]
    assert rows[-1]["tasks"] == rows[0]["tasks"] + rows[1]["tasks"] > 0
    table = str(r)
    assert table == r.table()
    assert table.splitlines()[1].startswith("worker 0") and "batches 7" in table
    assert "worker 0" in r.affinity
    assert json.loads(r.to_json())["batches"] == 7
    assert r.histogram("batch_latency").count == 7
    assert r.histogram("run_time").count == rows[-1]["tasks"]
    assert r.hgrm("queue_wait").startswith("       Value")
    with pytest.raises(lanes.ArgumentError, match="unknown metric"):
        r.hgrm("speed")


def test_stats_of_a_launch(rt):
    k = rt.compile(".kernel e\n exit\n")["e"]
    s = rt.launch(k, (4, 2), 8, engine="reference")
    assert (s.blocks, s.lanes, s.tasks, s.engine) == (8, 64, 0, "reference")
    assert s.compile_time is None and not s.inline and s.copied_arrays == 0
    assert s.general_compile_time is None
    assert s.blocks_before_jit == 0
    s = rt.launch(k, 1, 1)
    assert s.inline and s.tasks == 1 and s.engine == "jit"
    # The one block ran on the block engine only if the kernel was still
    # compiling after the launch's wait (LaunchOptions::jit_wait).
    assert s.blocks_before_jit in (0, 1)
    assert (s.compile_time is None) == (s.blocks_before_jit == 1)
    assert "LaunchStats(blocks=1" in repr(s)
