//! `lanes affinity`: thread counts x placements x workloads.
//!
//! One runtime holds the workloads' buffers for the whole sweep; for each
//! (threads, placement) setting its pool is rebuilt
//! ([`Runtime::reconfigure`]), each workload is checked once against the
//! native loop and then measured, and the pool's affinity says where each
//! worker was bound and where it was actually seen running.

use std::fmt::Write as _;

use lanes_scheduler::{Affinity, DEFAULT_SPIN, Placement};
use serde::Serialize;

use super::baseline::Baseline;
use super::case::{BenchKernel, Case, Prepared};
use super::measure::{Batching, Budget, Latency, measure};
use super::suite::{BudgetSettings, SchedulerCounters};
use super::{BenchError, allowed_cpus, placement_name};
use crate::{PoolConfig, Runtime};

/// A kind of work the sweep runs at every setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// Tiny launches: vector_add over 4096 elements (16 blocks), where the
    /// cost of waking workers dominates.
    Tiny,
    /// Memory-bound: vector_add over 4M elements (48 MiB moved).
    Memory,
    /// Compute-bound and divergent: Mandelbrot, 128 x 128 pixels.
    Compute,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 3] = [Workload::Tiny, Workload::Memory, Workload::Compute];

    /// `tiny`, `memory`, `compute`.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Tiny => "tiny",
            Workload::Memory => "memory",
            Workload::Compute => "compute",
        }
    }

    /// The workload named `name`.
    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// The case it runs (`quick`: a smaller one).
    pub fn case(self, quick: bool) -> Case {
        match (self, quick) {
            (Workload::Tiny, _) => Case::new(BenchKernel::Add, 4096),
            (Workload::Memory, false) => Case::new(BenchKernel::Add, 1 << 22),
            (Workload::Memory, true) => Case::new(BenchKernel::Add, 1 << 16),
            (Workload::Compute, false) => Case::new(BenchKernel::Mandelbrot, 1 << 14),
            (Workload::Compute, true) => Case::new(BenchKernel::Mandelbrot, 1 << 10),
        }
    }
}

/// The default budget of a sweep: many settings, so less time each than
/// [`Budget::STANDARD`] (15 settings on 2 CPUs finish in well under a
/// minute).
pub const SWEEP_BUDGET: Budget = Budget {
    warmup_runs: 1,
    warmup_time: std::time::Duration::from_millis(5),
    min_runs: 5,
    max_runs: 20_000,
    target: std::time::Duration::from_millis(100),
    cap: std::time::Duration::from_millis(500),
};

/// What [`run_sweep`] measures.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// Thread counts.
    pub threads: Vec<usize>,
    /// Placements.
    pub placements: Vec<Placement>,
    /// Workloads.
    pub workloads: Vec<Workload>,
    /// Warm-up and repetitions of each measurement.
    pub budget: Budget,
    /// Smaller workloads.
    pub quick: bool,
}

impl SweepOptions {
    /// The default thread counts for `cpus` CPUs: powers of two below
    /// `cpus`, `cpus` itself, and `2 * cpus` (oversubscribed).
    pub fn default_threads(cpus: usize) -> Vec<usize> {
        let cpus = cpus.max(1);
        let mut t: Vec<usize> = (0..)
            .map(|k| 1usize << k)
            .take_while(|&p| p < cpus)
            .collect();
        t.push(cpus);
        t.push(2 * cpus);
        t
    }

    /// The default placements for the allowed CPUs: none, close, spread,
    /// the CPUs in reverse order, and every worker on the first CPU.
    pub fn default_placements(cpus: &[usize]) -> Vec<Placement> {
        let mut p = vec![Placement::None, Placement::Close, Placement::Spread];
        if cpus.len() > 1 {
            p.push(Placement::Cpus(cpus.iter().rev().copied().collect()));
        }
        if let Some(&first) = cpus.first() {
            p.push(Placement::Cpus(vec![first]));
        }
        p
    }
}

/// One workload at one setting.
#[derive(Clone, Debug, Serialize)]
pub struct WorkloadResult {
    /// `tiny`, `memory` or `compute`.
    pub workload: &'static str,
    /// The kernel it launches.
    pub kernel: &'static str,
    /// Elements per launch.
    pub n: u64,
    /// Launch latency.
    pub latency: Latency,
    /// `n` / p50.
    pub elements_per_s: f64,
    /// Bytes moved / p50, for the memory-bound kernels.
    pub gb_per_s: Option<f64>,
    /// Throughput / throughput with 1 thread and the same placement (if
    /// that setting was measured).
    pub speedup_vs_1_thread: Option<f64>,
    /// The scheduler's counters over the measurement.
    pub scheduler: SchedulerCounters,
}

/// Where one worker was bound and where it ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkerPlace {
    /// Worker index.
    pub worker: usize,
    /// Whether it was pinned to one CPU.
    pub pinned: bool,
    /// The CPUs it was allowed on.
    pub bound_to: Vec<usize>,
    /// The CPUs it was seen running on during the setting.
    pub ran_on: Vec<usize>,
}

/// One (threads, placement) setting.
#[derive(Clone, Debug, Serialize)]
pub struct SettingResult {
    /// Worker threads.
    pub threads: usize,
    /// `none`, `close`, `spread` or `cpus:LIST`.
    pub placement: String,
    /// More workers than allowed CPUs.
    pub oversubscribed: bool,
    /// More workers than places, so placement wrapped around.
    pub wrapped: bool,
    /// One plain line: what was pinned where and where it ran.
    pub pinning: String,
    /// Per worker.
    pub workers: Vec<WorkerPlace>,
    /// Per workload.
    pub workloads: Vec<WorkloadResult>,
}

/// Everything `lanes affinity` measured: its JSON.
#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    /// The lanes version.
    pub version: &'static str,
    /// The CPUs this process may run on.
    pub cpus: Vec<usize>,
    /// The measurement settings.
    pub budget: BudgetSettings,
    /// One entry per setting, in the order run.
    pub settings: Vec<SettingResult>,
}

/// Runs the sweep. `on_setting(i, total, label)` is called before each
/// measurement (for progress displays).
pub fn run_sweep(
    options: &SweepOptions,
    mut on_step: impl FnMut(usize, usize, &str),
) -> Result<SweepReport, BenchError> {
    let cpus = allowed_cpus();
    let rt = Runtime::builder()
        .threads(1)
        .build()
        .map_err(|source| BenchError::Pool {
            setting: "threads 1, placement none".to_string(),
            source,
        })?;
    let mut baselines: Vec<(Workload, Baseline)> = options
        .workloads
        .iter()
        .map(|&w| (w, Baseline::new(w.case(options.quick))))
        .collect();
    let prepared: Vec<Prepared<'_>> = baselines
        .iter()
        .map(|(_, b)| Prepared::new(&rt, b))
        .collect::<Result<_, _>>()?;

    let total = options.threads.len() * options.placements.len() * options.workloads.len();
    let mut step = 0;
    let mut settings = Vec::new();
    for placement in &options.placements {
        for &threads in &options.threads {
            let name = placement_name(placement);
            let setting = format!("threads {threads}, placement {name}");
            rt.reconfigure(PoolConfig {
                threads: Some(threads),
                placement: placement.clone(),
                spin: DEFAULT_SPIN,
                // Every thread that computes is a pinned worker.
                submitter_helps: false,
            })
            .map_err(|source| BenchError::Pool {
                setting: setting.clone(),
                source,
            })?;
            let mut workloads = Vec::new();
            for ((workload, baseline), prepared) in baselines.iter_mut().zip(&prepared) {
                on_step(step, total, &format!("{setting}, {}", workload.name()));
                step += 1;
                prepared.verify(baseline)?;
                rt.reset_metrics();
                let samples = measure(&options.budget, Batching::Single, || prepared.launch())?;
                let report = rt.report();
                let latency = samples.latency();
                let case = prepared.case();
                let per_s = 1e9 / latency.p50_ns.max(1) as f64;
                workloads.push(WorkloadResult {
                    workload: workload.name(),
                    kernel: case.kernel.name(),
                    n: case.n,
                    latency,
                    elements_per_s: case.n as f64 * per_s,
                    gb_per_s: case
                        .kernel
                        .bytes_per_element()
                        .map(|b| (b * case.n) as f64 * per_s / 1e9),
                    speedup_vs_1_thread: None,
                    scheduler: SchedulerCounters::of(&report),
                });
            }
            let affinity = rt.report().affinity;
            settings.push(SettingResult {
                threads,
                placement: name.clone(),
                oversubscribed: threads > cpus.len(),
                wrapped: affinity.wrapped,
                pinning: pinning_line(threads, &name, cpus.len(), &affinity),
                workers: affinity
                    .workers
                    .iter()
                    .map(|w| WorkerPlace {
                        worker: w.worker,
                        pinned: w.pinned,
                        bound_to: w.bound_to.clone(),
                        ran_on: w.seen_on.clone(),
                    })
                    .collect(),
                workloads,
            });
        }
    }
    fill_speedups(&mut settings);
    Ok(SweepReport {
        version: env!("CARGO_PKG_VERSION"),
        cpus,
        budget: BudgetSettings::from(&options.budget),
        settings,
    })
}

/// Throughput relative to the 1-thread setting of the same placement.
fn fill_speedups(settings: &mut [SettingResult]) {
    let single: Vec<(String, &'static str, f64)> = settings
        .iter()
        .filter(|s| s.threads == 1)
        .flat_map(|s| {
            s.workloads
                .iter()
                .map(|w| (s.placement.clone(), w.workload, w.elements_per_s))
        })
        .collect();
    for s in settings.iter_mut() {
        for w in &mut s.workloads {
            w.speedup_vs_1_thread = single
                .iter()
                .find(|(p, name, _)| *p == s.placement && *name == w.workload)
                .map(|(_, _, base)| w.elements_per_s / base);
        }
    }
}

/// `threads 2, close: worker 0 pinned to CPU 0, ran on 0; worker 1 ...`.
fn pinning_line(threads: usize, placement: &str, cpus: usize, affinity: &Affinity) -> String {
    let mut line = format!("threads {threads}, {placement}");
    if threads > cpus {
        let _ = write!(
            line,
            " (oversubscribed: {threads} workers on {cpus} CPU{})",
            if cpus == 1 { "" } else { "s" }
        );
    } else if affinity.wrapped {
        let _ = write!(line, " (more workers than listed CPUs: some share a CPU)");
    }
    line.push_str(": ");
    let workers: Vec<String> = affinity
        .workers
        .iter()
        .map(|w| {
            let bound = if w.pinned {
                format!("pinned to CPU {}", cpu_list(&w.bound_to))
            } else {
                "not pinned".to_string()
            };
            let ran = if w.seen_on.is_empty() {
                "not seen running".to_string()
            } else {
                format!("ran on {}", cpu_list(&w.seen_on))
            };
            format!("worker {} {bound}, {ran}", w.worker)
        })
        .collect();
    line.push_str(&workers.join("; "));
    line
}

/// `0-3,8` for `[0, 1, 2, 3, 8]`.
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_thread_counts() {
        assert_eq!(SweepOptions::default_threads(1), vec![1, 2]);
        assert_eq!(SweepOptions::default_threads(2), vec![1, 2, 4]);
        assert_eq!(SweepOptions::default_threads(6), vec![1, 2, 4, 6, 12]);
        assert_eq!(SweepOptions::default_threads(8), vec![1, 2, 4, 8, 16]);
    }

    #[test]
    fn default_placements() {
        let p = SweepOptions::default_placements(&[0, 1]);
        let names: Vec<String> = p.iter().map(placement_name).collect();
        assert_eq!(names, ["none", "close", "spread", "cpus:1,0", "cpus:0"]);
        assert_eq!(SweepOptions::default_placements(&[3]).len(), 4);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list(&[0, 1, 2, 3, 8]), "0-3,8");
        assert_eq!(cpu_list(&[1]), "1");
        assert_eq!(cpu_list(&[]), "");
    }
}
