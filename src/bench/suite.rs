//! Runs the cases of `lanes bench` on one runtime.
//!
//! For each case: upload the inputs, launch once on a zeroed output and
//! check it against the native loop, then measure the lanes launch, the
//! native loop and (optionally) rayon, one after the other so that they do
//! not compete for the cores. The scheduler's metrics are reset before the
//! lanes measurement and read after it (they include its warm-up).

use hdrhistogram::Histogram;
use lanes_scheduler::Report;
use serde::Serialize;

use super::baseline::Baseline;
use super::case::{Case, Prepared};
use super::measure::{Batching, Budget, Latency, measure};
use super::{BenchError, allowed_cpus, placement_name};
use crate::{Engine, Runtime};

/// A native or rayon sample lasts at least this long (a 256-element loop
/// takes less time than reading the clock twice).
const BASELINE_SAMPLE: std::time::Duration = std::time::Duration::from_micros(2);

/// Rounds each case's measurement is split into, lanes and baselines taking
/// turns (see `run_suite`): this machine's speed moves over seconds, and
/// measuring one side after the other skewed their ratio.
const ROUNDS: u64 = 4;

/// What [`run_suite`] measures.
#[derive(Clone, Debug)]
pub struct SuiteOptions {
    /// The cases, in order.
    pub cases: Vec<Case>,
    /// Warm-up and repetitions of each lanes measurement (the baselines
    /// get half its target time).
    pub budget: Budget,
    /// Whether to measure the rayon baseline too.
    pub rayon: bool,
    /// The engine lanes launches run on.
    pub engine: Engine,
}

/// The scheduler's counters over one case's lanes measurement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SchedulerCounters {
    /// Batches (launches on the pool).
    pub batches: u64,
    /// Tasks run (runs of blocks), by workers and submitter.
    pub tasks: u64,
    /// Tasks the submitting thread ran itself.
    pub submitter_tasks: u64,
    /// Chunks of tasks stolen from another thread's queue.
    pub steals: u64,
    /// Steal sweeps that found nothing.
    pub failed_steals: u64,
    /// Times a worker parked.
    pub parks: u64,
    /// Times a parked worker woke and found work.
    pub wakeups: u64,
}

impl SchedulerCounters {
    /// The counters of a scheduler report.
    pub fn of(report: &Report) -> SchedulerCounters {
        SchedulerCounters {
            batches: report.batches,
            tasks: report.total.tasks,
            submitter_tasks: report.submitters.tasks,
            steals: report.total.steals,
            failed_steals: report.total.failed_steals,
            parks: report.total.parks,
            wakeups: report.total.wakeups,
        }
    }
}

/// The result of one case.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// `kernel/n`.
    pub name: String,
    /// The kernel's name.
    pub kernel: &'static str,
    /// Elements (pixels for Mandelbrot, 1 for `empty`).
    pub n: u64,
    /// Blocks in the grid.
    pub grid: u32,
    /// Lanes per block.
    pub block: u32,
    /// The output was checked against the native loop and matched (always
    /// true in a report: a mismatch is an error).
    pub verified: bool,
    /// The engine that ran the launches (a kernel the JIT cannot compile
    /// runs on the pool engine).
    pub engine: &'static str,
    /// The JIT's compile time of the kernel for this case's block shape, in
    /// milliseconds, when this case's first launch compiled it.
    pub compile_ms: Option<f64>,
    /// Launch latency on lanes.
    pub lanes: Latency,
    /// The native single-threaded loop (none for `empty`).
    pub native: Option<Latency>,
    /// The rayon baseline, if measured.
    pub rayon: Option<Latency>,
    /// How rayon split the work: `par_iter`, `par_chunks` or `install`.
    pub rayon_method: Option<&'static str>,
    /// Lanes p50 / native p50 (lower is better; 1.0 is parity).
    pub vs_native: Option<f64>,
    /// Lanes p50 / rayon p50.
    pub vs_rayon: Option<f64>,
    /// `n` / lanes p50 (none for `empty`).
    pub elements_per_s: Option<f64>,
    /// Bytes read and written / lanes p50, for memory-bound kernels.
    pub gb_per_s: Option<f64>,
    /// The same for the native loop.
    pub native_gb_per_s: Option<f64>,
    /// The scheduler's counters over the lanes measurement.
    pub scheduler: SchedulerCounters,
    /// The full latency histogram of the lanes launches (ns).
    #[serde(skip)]
    pub histogram: Histogram<u64>,
    /// The scheduler's full report over the lanes measurement.
    #[serde(skip)]
    pub report: Report,
}

/// The settings a measurement ran with.
#[derive(Clone, Debug, Serialize)]
pub struct BudgetSettings {
    /// Warm-up calls, at least.
    pub warmup_runs: u64,
    /// Warm-up time, at least (ms).
    pub warmup_ms: f64,
    /// Samples, at least.
    pub min_runs: u64,
    /// Samples, at most.
    pub max_runs: u64,
    /// Measured time per lanes measurement (ms).
    pub target_ms: f64,
}

impl From<&Budget> for BudgetSettings {
    fn from(b: &Budget) -> BudgetSettings {
        BudgetSettings {
            warmup_runs: b.warmup_runs,
            warmup_ms: b.warmup_time.as_secs_f64() * 1e3,
            min_runs: b.min_runs,
            max_runs: b.max_runs,
            target_ms: b.target.as_secs_f64() * 1e3,
        }
    }
}

/// Everything `lanes bench` measured: its JSON.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteReport {
    /// The lanes version.
    pub version: &'static str,
    /// Threads that run launches (and threads of the rayon baseline).
    pub threads: usize,
    /// The pool's placement (`none`, `close`, `spread`, `cpus:LIST`).
    pub placement: String,
    /// The CPUs this process may run on.
    pub cpus: Vec<usize>,
    /// The measurement settings.
    pub budget: BudgetSettings,
    /// One entry per case, in the order run.
    pub cases: Vec<CaseResult>,
}

/// Where [`run_suite`] is, for progress displays and streamed output.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Case `index` of `total` starts.
    Starting {
        /// Index of the case.
        index: usize,
        /// Number of cases.
        total: usize,
        /// The case.
        case: &'a Case,
    },
    /// A case finished.
    Done {
        /// Index of the case.
        index: usize,
        /// Its result.
        result: &'a CaseResult,
    },
}

/// Measures every case of `options` on `rt`, telling `on_progress` when a
/// case starts and when it is done.
pub fn run_suite(
    rt: &Runtime,
    options: &SuiteOptions,
    mut on_progress: impl FnMut(Progress<'_>),
) -> Result<SuiteReport, BenchError> {
    let threads = rt.threads();
    let rayon = if options.rayon {
        Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("bench-rayon-{i}"))
                .build()
                .map_err(|e| BenchError::Rayon(e.to_string()))?,
        )
    } else {
        None
    };
    let baseline_budget = options.budget.scaled(0.5);
    let mut cases = Vec::with_capacity(options.cases.len());
    for (i, case) in options.cases.iter().enumerate() {
        on_progress(Progress::Starting {
            index: i,
            total: options.cases.len(),
            case,
        });
        let mut baseline = Baseline::new(*case);
        let prepared = Prepared::new(rt, &baseline)?.with_engine(options.engine);
        let first = prepared.verify(&mut baseline)?;

        // Lanes and the baselines alternate, round by round, so that both
        // sides sample the same moments of a machine whose speed moves.
        rt.reset_metrics();
        let mut round = |r: u64| -> Result<_, BenchError> {
            let lanes = measure(&options.budget.round(r, ROUNDS), Batching::Single, || {
                prepared.launch()
            })?;
            let budget = baseline_budget.round(r, ROUNDS);
            let native = if baseline.has_native() {
                Some(measure(
                    &budget,
                    Batching::AtLeast(BASELINE_SAMPLE),
                    || {
                        baseline.run_native();
                        Ok::<(), BenchError>(())
                    },
                )?)
            } else {
                None
            };
            let rayon = match &rayon {
                Some(pool) => Some(measure(
                    &budget,
                    Batching::AtLeast(BASELINE_SAMPLE),
                    || {
                        baseline.run_rayon(pool);
                        Ok::<(), BenchError>(())
                    },
                )?),
                None => None,
            };
            Ok((lanes, native, rayon))
        };
        let (mut samples, mut native_s, mut rayon_s) = round(0)?;
        for r in 1..ROUNDS {
            let (l, n, y) = round(r)?;
            samples.merge(l);
            for (into, more) in [(&mut native_s, n), (&mut rayon_s, y)] {
                if let (Some(into), Some(more)) = (into, more) {
                    into.merge(more);
                }
            }
        }
        let report = rt.report();
        drop(prepared);
        let native = native_s.map(|s| s.latency());
        let rayon_latency = rayon_s.map(|s| s.latency());

        let lanes = samples.latency();
        let ratio =
            |base: Option<Latency>| base.map(|b| lanes.p50_ns as f64 / b.p50_ns.max(1) as f64);
        let per_s = |ns: u64| 1e9 / ns.max(1) as f64;
        let bytes = case.kernel.bytes_per_element().map(|b| b * case.n);
        cases.push(CaseResult {
            name: case.name(),
            kernel: case.kernel.name(),
            n: case.n,
            grid: case.grid().x,
            block: case.block().x,
            verified: true,
            engine: first.as_ref().map_or(options.engine, |s| s.engine).name(),
            compile_ms: first
                .and_then(|s| s.compile_time)
                .map(|t| t.as_secs_f64() * 1e3),
            lanes,
            native,
            rayon: rayon_latency,
            rayon_method: rayon.as_ref().map(|_| baseline.rayon_method()),
            vs_native: ratio(native),
            vs_rayon: ratio(rayon_latency),
            elements_per_s: case
                .kernel
                .is_sized()
                .then(|| case.n as f64 * per_s(lanes.p50_ns)),
            gb_per_s: bytes.map(|b| b as f64 * per_s(lanes.p50_ns) / 1e9),
            native_gb_per_s: bytes
                .zip(native)
                .map(|(b, l)| b as f64 * per_s(l.p50_ns) / 1e9),
            scheduler: SchedulerCounters::of(&report),
            histogram: samples.histogram,
            report,
        });
        if let Some(result) = cases.last() {
            on_progress(Progress::Done { index: i, result });
        }
    }
    let config = rt.pool_config();
    Ok(SuiteReport {
        version: env!("CARGO_PKG_VERSION"),
        threads,
        placement: placement_name(&config.placement),
        cpus: allowed_cpus(),
        budget: BudgetSettings::from(&options.budget),
        cases,
    })
}
