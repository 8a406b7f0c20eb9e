//! Merged metrics and how they are shown: a text table, HdrHistogram's
//! percentile distribution (`.hgrm`), JSON (serde).

use std::fmt::{self, Write as _};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::metrics::{Recorder, new_histogram};
use crate::placement::Placement;

/// Which latency a histogram holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Metric {
    /// How long each task ran.
    RunTime,
    /// From a batch's submission to the start of each of its tasks.
    QueueWait,
    /// End-to-end latency of each batch, as its submitter saw it.
    BatchLatency,
}

/// The usual percentiles of a latency histogram, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of values recorded.
    pub count: u64,
    /// Smallest value.
    pub min_ns: u64,
    /// Mean value.
    pub mean_ns: f64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest value.
    pub max_ns: u64,
}

impl LatencySummary {
    /// Summarises a histogram (all zero if it is empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary {
                count: 0,
                min_ns: 0,
                mean_ns: 0.0,
                p50_ns: 0,
                p90_ns: 0,
                p99_ns: 0,
                p999_ns: 0,
                max_ns: 0,
            };
        }
        LatencySummary {
            count: h.len(),
            min_ns: h.min(),
            mean_ns: h.mean(),
            p50_ns: h.value_at_quantile(0.5),
            p90_ns: h.value_at_quantile(0.9),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
        }
    }
}

/// The metrics of one worker, of all submitting threads, or of everyone.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerReport {
    /// `"worker 3"`, `"submitters"` or `"total"`.
    pub name: String,
    /// The worker index, for worker rows.
    pub worker: Option<usize>,
    /// Tasks run.
    pub tasks: u64,
    /// Chunks taken from another thread's queue.
    pub steals: u64,
    /// Sweeps over the other queues that found nothing (mostly while
    /// spinning).
    pub failed_steals: u64,
    /// Times the thread parked.
    pub parks: u64,
    /// Times it was woken from parking and then found work or mail to
    /// handle (`parks - wakeups` woke to find the work already taken).
    pub wakeups: u64,
    /// Task run time.
    pub run_time: LatencySummary,
    /// Queue wait (submission to task start).
    pub queue_wait: LatencySummary,
    #[serde(skip)]
    run_time_hist: Histogram<u64>,
    #[serde(skip)]
    queue_wait_hist: Histogram<u64>,
}

impl WorkerReport {
    fn new(name: String, worker: Option<usize>, rec: &Recorder) -> Self {
        WorkerReport {
            name,
            worker,
            tasks: rec.tasks,
            steals: rec.steals,
            failed_steals: rec.failed_steals,
            parks: rec.parks,
            wakeups: rec.wakeups,
            run_time: LatencySummary::of(&rec.run_time),
            queue_wait: LatencySummary::of(&rec.queue_wait),
            run_time_hist: rec.run_time.clone(),
            queue_wait_hist: rec.queue_wait.clone(),
        }
    }

    /// The full histogram (nanoseconds) of `metric`; `None` for
    /// [`Metric::BatchLatency`], which only the [`Report`] has.
    pub fn histogram(&self, metric: Metric) -> Option<&Histogram<u64>> {
        match metric {
            Metric::RunTime => Some(&self.run_time_hist),
            Metric::QueueWait => Some(&self.queue_wait_hist),
            Metric::BatchLatency => None,
        }
    }
}

/// One worker's placement, one line in the spirit of `OMP_DISPLAY_AFFINITY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerAffinity {
    /// Worker index.
    pub worker: usize,
    /// Thread name.
    pub thread_name: String,
    /// OS thread id (Linux `gettid`), if known.
    pub tid: Option<u64>,
    /// Whether the worker is pinned.
    pub pinned: bool,
    /// The CPU set it is bound to (the process's mask when not pinned).
    pub bound_to: Vec<usize>,
    /// The CPUs it has been seen running on (`sched_getcpu`), ascending.
    pub seen_on: Vec<usize>,
}

impl fmt::Display for WorkerAffinity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tid = self.tid.map_or_else(|| "?".to_string(), |t| t.to_string());
        write!(
            f,
            "worker {:<3} tid {:<8} {:<20} bound to {}{}  seen on {}",
            self.worker,
            tid,
            self.thread_name,
            cpu_set(&self.bound_to),
            if self.pinned { "" } else { " (not pinned)" },
            cpu_set(&self.seen_on),
        )
    }
}

/// The placement of every worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Affinity {
    /// The placement asked for.
    pub placement: Placement,
    /// Whether there were more workers than places, so placement wrapped
    /// around and some CPUs hold several workers.
    pub wrapped: bool,
    /// Number of places (CPUs) placement chose from.
    pub places: usize,
    /// One entry per worker.
    pub workers: Vec<WorkerAffinity>,
}

impl fmt::Display for Affinity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "placement {:?}: {} workers over {} places",
            self.placement,
            self.workers.len(),
            self.places
        )?;
        if self.wrapped {
            writeln!(
                f,
                "note: more workers than places; placement wraps around (several workers per CPU)"
            )?;
        }
        for w in &self.workers {
            writeln!(f, "{w}")?;
        }
        Ok(())
    }
}

/// A merged snapshot of the pool's metrics. Made by
/// [`Pool::report`](crate::Pool::report).
///
/// Serializes (serde) to the counters, the percentile summaries and the
/// affinity; the full histograms are available through
/// [`Report::histogram`] and [`Report::to_hgrm`].
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// One row per worker.
    pub workers: Vec<WorkerReport>,
    /// Tasks run by submitting threads (inline batches and helping).
    pub submitters: WorkerReport,
    /// Everything together.
    pub total: WorkerReport,
    /// Batches completed by submitters in the snapshot.
    pub batches: u64,
    /// End-to-end batch latency.
    pub batch_latency: LatencySummary,
    /// Where the workers run.
    pub affinity: Affinity,
    #[serde(skip)]
    batch_latency_hist: Histogram<u64>,
}

impl Report {
    pub(crate) fn new(workers: Vec<Recorder>, submitters: Recorder, affinity: Affinity) -> Self {
        let mut total = Recorder::new(submitters.timing);
        for rec in &workers {
            total.merge(rec);
        }
        total.merge(&submitters);
        let batch_latency_hist = if submitters.batch_latency.is_empty() {
            new_histogram()
        } else {
            submitters.batch_latency.clone()
        };
        Report {
            workers: workers
                .iter()
                .enumerate()
                .map(|(i, rec)| WorkerReport::new(format!("worker {i}"), Some(i), rec))
                .collect(),
            submitters: WorkerReport::new("submitters".into(), None, &submitters),
            total: WorkerReport::new("total".into(), None, &total),
            batches: submitters.batches,
            batch_latency: LatencySummary::of(&batch_latency_hist),
            affinity,
            batch_latency_hist,
        }
    }

    /// The merged histogram (nanoseconds) of `metric` over all threads.
    pub fn histogram(&self, metric: Metric) -> &Histogram<u64> {
        match metric {
            Metric::RunTime => &self.total.run_time_hist,
            Metric::QueueWait => &self.total.queue_wait_hist,
            Metric::BatchLatency => &self.batch_latency_hist,
        }
    }

    /// The merged histogram of `metric` as HdrHistogram's percentile
    /// distribution (`.hgrm`), values in microseconds, 5 ticks per half
    /// distance: what `HistogramLogProcessor` and the HdrHistogram plotters
    /// read.
    pub fn to_hgrm(&self, metric: Metric) -> String {
        hgrm(self.histogram(metric), 5, 1000.0)
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The report as a text table: counters and run-time / queue-wait
    /// percentiles per worker, for submitters and in total; then the batch
    /// latency and the affinity lines.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<12} {:>10} {:>8} {:>9} {:>7} {:>7} | {:<43} | {:<43}",
            "",
            "tasks",
            "steals",
            "failed",
            "parks",
            "wakeups",
            "run time: p50 / p90 / p99 / p99.9 / max",
            "queue wait: p50 / p90 / p99 / p99.9 / max"
        );
        let rows = self.workers.iter().chain([&self.submitters, &self.total]);
        for row in rows {
            let _ = writeln!(
                out,
                "{:<12} {:>10} {:>8} {:>9} {:>7} {:>7} | {:<43} | {:<43}",
                row.name,
                row.tasks,
                row.steals,
                row.failed_steals,
                row.parks,
                row.wakeups,
                percentiles(&row.run_time),
                percentiles(&row.queue_wait)
            );
        }
        let _ = writeln!(
            out,
            "batches {}: latency p50 / p90 / p99 / p99.9 / max = {}",
            self.batches,
            percentiles(&self.batch_latency)
        );
        let _ = write!(out, "{}", self.affinity);
        out
    }
}

fn percentiles(s: &LatencySummary) -> String {
    if s.count == 0 {
        return "-".to_string();
    }
    format!(
        "{} / {} / {} / {} / {}",
        duration(s.p50_ns),
        duration(s.p90_ns),
        duration(s.p99_ns),
        duration(s.p999_ns),
        duration(s.max_ns)
    )
}

/// A duration in ns, written short: `850ns`, `12.3us`, `4.56ms`, `1.20s`.
fn duration(ns: u64) -> String {
    let f = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}us", f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2}ms", f / 1e6)
    } else {
        format!("{:.2}s", f / 1e9)
    }
}

/// A CPU set written as ranges: `{0-3,8}`.
fn cpu_set(cpus: &[usize]) -> String {
    let mut out = String::from("{");
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        if out.len() > 1 {
            out.push(',');
        }
        if end == start {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
        i += 1;
    }
    out.push('}');
    out
}

/// Writes `h` in HdrHistogram's standard percentile-distribution format
/// (Java `Histogram.outputPercentileDistribution`): the
/// `Value Percentile TotalCount 1/(1-Percentile)` columns, then the
/// `#[Mean ...]`, `#[Max ...]` and `#[Buckets ...]` footer lines. Values are
/// divided by `unit_ratio` (1000.0 turns nanoseconds into microseconds).
pub fn hgrm(h: &Histogram<u64>, ticks_per_half_distance: u32, unit_ratio: f64) -> String {
    let digits = usize::from(h.sigfig());
    let mut out = String::new();
    let _ = write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(ticks_per_half_distance.max(1)) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / unit_ratio;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.digits$} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:12.digits$} {q:2.12} {total:10}");
            }
        }
    }
    let (mean, stdev) = if h.is_empty() {
        (0.0, 0.0)
    } else {
        (h.mean() / unit_ratio, h.stdev() / unit_ratio)
    };
    let max = if h.is_empty() {
        0.0
    } else {
        h.max() as f64 / unit_ratio
    };
    let _ = writeln!(
        out,
        "#[Mean    = {mean:12.digits$}, StdDeviation   = {stdev:12.digits$}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:12.digits$}, Total count    = {:12}]",
        h.len()
    );
    // Java prints the sub-bucket count: the power of two above 2 * 10^sigfig.
    let sub_buckets = (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two();
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_buckets
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hgrm_has_the_standard_shape() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let text = hgrm(&h, 5, 1000.0);
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines.next().unwrap(), "");
        let first = lines.next().unwrap();
        let cols: Vec<&str> = first.split_whitespace().collect();
        assert_eq!(cols.len(), 4, "{first}");
        assert_eq!(cols[0], "1.000");
        assert_eq!(cols[1], "0.000000000000");
        assert_eq!(cols[2], "1");
        assert_eq!(cols[3], "1.00");
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let last = body.last().unwrap();
        let cols: Vec<&str> = last.split_whitespace().collect();
        assert_eq!(cols.len(), 3, "the 100% line has no 1/(1-p) column: {last}");
        assert_eq!(cols[1], "1.000000000000");
        assert_eq!(cols[2], "1000");
        let footer: Vec<&str> = text.lines().filter(|l| l.starts_with("#[")).collect();
        assert_eq!(footer.len(), 3);
        assert!(footer[0].starts_with("#[Mean    = "), "{}", footer[0]);
        assert!(footer[0].contains(", StdDeviation   = "));
        assert!(footer[1].starts_with("#[Max     = "));
        assert!(
            footer[1].ends_with(", Total count    =         1000]"),
            "{}",
            footer[1]
        );
        assert!(footer[2].starts_with("#[Buckets = "));
        assert!(
            footer[2].ends_with(", SubBuckets     =         2048]"),
            "{}",
            footer[2]
        );
    }

    #[test]
    fn cpu_sets_print_as_ranges() {
        assert_eq!(cpu_set(&[0, 1, 2, 3, 8, 10, 11]), "{0-3,8,10-11}");
        assert_eq!(cpu_set(&[]), "{}");
        assert_eq!(cpu_set(&[5]), "{5}");
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(850), "850ns");
        assert_eq!(duration(12_345), "12.3us");
        assert_eq!(duration(4_560_000), "4.56ms");
        assert_eq!(duration(1_200_000_000), "1.20s");
    }
}
