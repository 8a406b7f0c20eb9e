//! Launch statistics, latency histograms and the scheduler's report as
//! Python objects.

use hdrhistogram::Histogram;
use lanes::Metric;
use lanes_scheduler::LatencySummary;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::{Error, Result, argument, guard};

/// What one launch did.
#[pyclass(module = "lanes", name = "LaunchStats", frozen, get_all)]
pub struct LaunchStats {
    /// Blocks run.
    pub blocks: u64,
    /// Lanes launched.
    pub lanes: u128,
    /// Pool tasks the grid was cut into (0 on the reference engine).
    pub tasks: usize,
    /// Wall time of the launch inside lanes, in nanoseconds.
    pub elapsed_ns: u64,
    /// The engine that ran it (`"jit"` asked for may run on `"pool"`).
    pub engine: &'static str,
    /// Time spent compiling the kernel (JIT), in seconds, reported by the
    /// first launch that ran the compiled code, or None (a kernel with
    /// barriers may report twice: its one-lane code, then its gang code).
    pub compile_time: Option<f64>,
    /// Time spent compiling the kernel's general part (JIT), in seconds,
    /// reported once by the first launch that ended after it was compiled,
    /// or None (only kernels without barriers compiled in two parts have
    /// one: what leaves their full-gang version runs there).
    pub general_compile_time: Option<f64>,
    /// Blocks of a JIT launch that ran on the block engine while the
    /// kernel was still compiling in the background (0 once compiled).
    pub blocks_before_jit: u64,
    /// Whether the launching thread ran the whole launch itself.
    pub inline: bool,
    /// Parked workers the launch woke.
    pub woken: usize,
    /// Tasks the launching thread ran.
    pub submitter_tasks: u64,
    /// Arrays that were copied in (and out, when written) because their
    /// layout did not allow using them in place; the others were used in
    /// place.
    pub copied_arrays: usize,
}

impl From<lanes::LaunchStats> for LaunchStats {
    fn from(s: lanes::LaunchStats) -> LaunchStats {
        let batch = s.batch.as_ref();
        LaunchStats {
            blocks: s.blocks,
            lanes: s.lanes,
            tasks: s.tasks,
            elapsed_ns: u64::try_from(s.elapsed.as_nanos()).unwrap_or(u64::MAX),
            engine: s.engine.name(),
            compile_time: s.compile_time.map(|d| d.as_secs_f64()),
            general_compile_time: s.general_compile_time.map(|d| d.as_secs_f64()),
            blocks_before_jit: s.blocks_before_jit,
            inline: batch.is_some_and(|b| b.inline),
            woken: batch.map_or(0, |b| b.woken),
            submitter_tasks: batch.map_or(0, |b| b.submitter_tasks),
            copied_arrays: 0,
        }
    }
}

#[pymethods]
impl LaunchStats {
    /// Wall time of the launch inside lanes, in seconds.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.elapsed_ns as f64 / 1e9
    }

    fn __repr__(&self) -> String {
        format!(
            "LaunchStats(blocks={}, lanes={}, tasks={}, engine={:?}, elapsed={})",
            self.blocks,
            self.lanes,
            self.tasks,
            self.engine,
            format_ns(self.elapsed_ns as f64)
        )
    }
}

/// `ns` with one decimal in the largest unit that keeps it at least 1, as
/// the `lanes` command prints latencies: `850.0 ns`, `3.2 µs`.
pub(crate) fn format_ns(ns: f64) -> String {
    const UNITS: [(&str, f64); 4] = [("ns", 1.0), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)];
    for (i, (unit, scale)) in UNITS.iter().enumerate() {
        let v = ns / scale;
        if i == UNITS.len() - 1 || (v * 10.0).round() < 10_000.0 {
            return format!("{v:.1} {unit}");
        }
    }
    format!("{ns} ns")
}

/// The percentiles a latency report shows.
const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("max", 1.0),
];

/// A latency histogram (HdrHistogram, 3 significant digits) of a series of
/// launches, in nanoseconds: made by `Runtime.measure`, or filled with
/// `record`. `percentiles()` gives the p50/p90/p99/p99.9/max as a dict,
/// `hgrm()` HdrHistogram's percentile distribution text, `to_json()` a
/// summary, and `str()` the lines `lanes run --repeat` prints.
#[pyclass(module = "lanes", name = "LatencyHistogram")]
pub struct LatencyHistogram {
    pub(crate) histogram: Histogram<u64>,
}

impl LatencyHistogram {
    pub(crate) fn empty() -> Result<LatencyHistogram> {
        let histogram = Histogram::new(3)
            .map_err(|e| Error::Other(format!("cannot create a histogram: {e}")))?;
        Ok(LatencyHistogram { histogram })
    }

    pub(crate) fn of(histogram: Histogram<u64>) -> LatencyHistogram {
        LatencyHistogram { histogram }
    }

    pub(crate) fn add(&mut self, ns: u64) -> Result<()> {
        self.histogram
            .record(ns)
            .map_err(|e| argument(format!("cannot record {ns} ns: {e}")))
    }

    fn summary(&self) -> LatencySummary {
        LatencySummary::of(&self.histogram)
    }
}

#[pymethods]
impl LatencyHistogram {
    /// An empty histogram.
    #[new]
    fn new() -> PyResult<LatencyHistogram> {
        guard(LatencyHistogram::empty)
    }

    /// Records one latency: nanoseconds (an int), or a `LaunchStats`
    /// (its `elapsed_ns`).
    fn record(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let ns = match value.cast::<LaunchStats>() {
                Ok(s) => s.get().elapsed_ns,
                Err(_) => value.extract::<u64>().map_err(|_| {
                    argument("record: expected nanoseconds (a non-negative int) or a LaunchStats")
                })?,
            };
            self.add(ns)
        })
    }

    /// Adds every value of `other`.
    fn merge(&mut self, other: PyRef<'_, LatencyHistogram>) -> PyResult<()> {
        self.histogram
            .add(&other.histogram)
            .map_err(|e| PyValueError::new_err(format!("cannot merge: {e}")))
    }

    /// Number of values recorded.
    #[getter]
    fn count(&self) -> u64 {
        self.histogram.len()
    }

    fn __len__(&self) -> usize {
        self.histogram.len() as usize
    }

    /// Smallest value (ns; 0 when empty).
    #[getter]
    fn min(&self) -> u64 {
        self.summary().min_ns
    }

    /// Largest value (ns; 0 when empty).
    #[getter]
    fn max(&self) -> u64 {
        self.summary().max_ns
    }

    /// Mean (ns; 0 when empty).
    #[getter]
    fn mean(&self) -> f64 {
        self.summary().mean_ns
    }

    /// The value at percentile `p` (0 to 100), in ns.
    fn percentile(&self, p: f64) -> PyResult<u64> {
        if !(0.0..=100.0).contains(&p) {
            return Err(PyErr::from(argument(format!(
                "percentile: {p} is not between 0 and 100"
            ))));
        }
        Ok(self.histogram.value_at_quantile(p / 100.0))
    }

    /// `{"p50": ns, "p90": ns, "p99": ns, "p99.9": ns, "max": ns}`.
    fn percentiles<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (label, q) in PERCENTILES {
            let v = if q >= 1.0 {
                self.histogram.max()
            } else {
                self.histogram.value_at_quantile(q)
            };
            d.set_item(label, v)?;
        }
        Ok(d)
    }

    /// HdrHistogram's percentile distribution (`.hgrm`), in microseconds,
    /// 5 ticks per half distance: what HdrHistogram's plotters read.
    fn hgrm(&self) -> String {
        lanes_scheduler::hgrm(&self.histogram, 5, 1000.0)
    }

    /// The count, min, mean, percentiles and max as JSON (ns).
    fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.summary()).unwrap_or_default()
    }

    /// The `p50 p90 p99 p99.9 max` lines of `lanes run --repeat`.
    fn __str__(&self) -> String {
        PERCENTILES
            .iter()
            .map(|(label, q)| {
                let ns = if *q >= 1.0 {
                    self.histogram.max()
                } else {
                    self.histogram.value_at_quantile(*q)
                };
                format!("{label} {}\n", format_ns(ns as f64))
            })
            .collect()
    }

    fn __repr__(&self) -> String {
        let s = self.summary();
        format!(
            "LatencyHistogram(count={}, p50={}, p99={}, max={})",
            s.count,
            format_ns(s.p50_ns as f64),
            format_ns(s.p99_ns as f64),
            format_ns(s.max_ns as f64)
        )
    }
}

/// The scheduler's metrics since the last `Runtime.reset_metrics()`: per
/// worker, the tasks, steals, parks and wake-ups, task run time and queue
/// wait; the batch (launch) latency; where each worker runs. `str()` (or
/// `table()`) is the table `lanes run --report` prints.
#[pyclass(module = "lanes", name = "Report", frozen)]
pub struct Report {
    pub(crate) report: lanes::Report,
}

fn metric(name: &str) -> Result<Metric> {
    match name {
        "run_time" => Ok(Metric::RunTime),
        "queue_wait" => Ok(Metric::QueueWait),
        "batch_latency" => Ok(Metric::BatchLatency),
        other => Err(argument(format!(
            "unknown metric `{other}` (expected run_time, queue_wait or batch_latency)"
        ))),
    }
}

fn summary_dict<'py>(py: Python<'py>, s: &LatencySummary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("count", s.count)?;
    d.set_item("min", s.min_ns)?;
    d.set_item("mean", s.mean_ns)?;
    d.set_item("p50", s.p50_ns)?;
    d.set_item("p90", s.p90_ns)?;
    d.set_item("p99", s.p99_ns)?;
    d.set_item("p99.9", s.p999_ns)?;
    d.set_item("max", s.max_ns)?;
    Ok(d)
}

#[pymethods]
impl Report {
    /// The per-worker table (the `lanes` command's `--report`).
    fn table(&self) -> String {
        self.report.to_table()
    }

    fn __str__(&self) -> String {
        self.report.to_table()
    }

    /// Launches (batches) completed.
    #[getter]
    fn batches(&self) -> u64 {
        self.report.batches
    }

    /// Batch latency percentiles (ns), as a dict.
    #[getter]
    fn batch_latency<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        summary_dict(py, &self.report.batch_latency)
    }

    /// One dict per worker, then the launching threads (`"submitters"`) and
    /// the total: name, tasks, steals, failed_steals, parks, wakeups,
    /// run_time and queue_wait (percentile dicts, ns).
    #[getter]
    fn workers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let rows = self
            .report
            .workers
            .iter()
            .chain([&self.report.submitters, &self.report.total]);
        for w in rows {
            let d = PyDict::new(py);
            d.set_item("name", &w.name)?;
            d.set_item("worker", w.worker)?;
            d.set_item("tasks", w.tasks)?;
            d.set_item("steals", w.steals)?;
            d.set_item("failed_steals", w.failed_steals)?;
            d.set_item("parks", w.parks)?;
            d.set_item("wakeups", w.wakeups)?;
            d.set_item("run_time", summary_dict(py, &w.run_time)?)?;
            d.set_item("queue_wait", summary_dict(py, &w.queue_wait)?)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// One line per worker: where it was pinned and where it was seen
    /// running.
    #[getter]
    fn affinity(&self) -> String {
        self.report.affinity.to_string()
    }

    /// The merged histogram of `metric` (`"run_time"`, `"queue_wait"` or
    /// `"batch_latency"`), in ns.
    #[pyo3(signature = (metric = "batch_latency"))]
    fn histogram(&self, metric: &str) -> PyResult<LatencyHistogram> {
        guard(|| {
            let m = self::metric(metric)?;
            Ok(LatencyHistogram::of(self.report.histogram(m).clone()))
        })
    }

    /// The merged histogram of `metric` as `.hgrm` text (microseconds).
    #[pyo3(signature = (metric = "batch_latency"))]
    fn hgrm(&self, metric: &str) -> PyResult<String> {
        guard(|| Ok(self.report.to_hgrm(self::metric(metric)?)))
    }

    /// The whole report as JSON.
    fn to_json(&self) -> String {
        self.report.to_json()
    }

    fn __repr__(&self) -> String {
        format!(
            "Report(workers={}, batches={})",
            self.report.workers.len(),
            self.report.batches
        )
    }
}
