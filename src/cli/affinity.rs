//! `lanes affinity`: thread counts x placements x workloads
//! ([`crate::bench::sweep`]), a block of rows per setting under one plain
//! line saying what was pinned where and where each worker ran.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::latency::format_ns;
use super::pool::{Placement, parse_threads};
use super::report::{Progress, json_and_plot_outputs, ratio, si};
use super::{CliError, emit};
use crate::bench::sweep::{SWEEP_BUDGET, cpu_list};
use crate::bench::{Budget, SweepOptions, SweepReport, Workload, allowed_cpus, plot, run_sweep};

/// The most worker threads a setting may ask for: the pool's limit.
const MAX_THREADS: usize = lanes_scheduler::MAX_THREADS;

/// Arguments of `lanes affinity`.
#[derive(Debug, Args)]
pub struct AffinityArgs {
    /// Thread counts to try [default: 1, 2, 4, ... below the CPU count, the
    /// CPU count, and twice it (oversubscribed)].
    #[arg(long, value_name = "N[,N...]", value_delimiter = ',', value_parser = parse_threads)]
    pub(crate) threads: Vec<usize>,
    /// A placement to try: none, close, spread or cpus:LIST; repeat the
    /// option for several [default: none, close, spread, the CPUs in
    /// reverse order, and every worker on the first CPU].
    #[arg(long = "placement", value_name = "P", value_parser = clap::value_parser!(Placement))]
    pub(crate) placements: Vec<Placement>,
    /// Workloads to run at every setting [default: all three].
    #[arg(long, value_name = "W[,W...]", value_delimiter = ',', value_enum)]
    pub(crate) workloads: Vec<WorkloadChoice>,
    /// Measure exactly N launches per workload and setting (after warm-up).
    #[arg(long, value_name = "N", value_parser = super::spec::whole(1, 1_000_000))]
    pub(crate) repeat: Option<u64>,
    /// A short run: smaller workloads, a few launches each.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Write every number as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Draw throughput against threads per placement (a panel per workload)
    /// to an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) plot: Option<PathBuf>,
}

/// `--workloads`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WorkloadChoice {
    /// vector_add over 4096 elements: launch and wake-up cost.
    Tiny,
    /// vector_add over 4M elements (1/16 of it with --quick): memory bound.
    Memory,
    /// Mandelbrot over 128x128 pixels (32x32 with --quick): divergent, compute bound.
    Compute,
}

impl From<WorkloadChoice> for Workload {
    fn from(w: WorkloadChoice) -> Workload {
        match w {
            WorkloadChoice::Tiny => Workload::Tiny,
            WorkloadChoice::Memory => Workload::Memory,
            WorkloadChoice::Compute => Workload::Compute,
        }
    }
}

/// The sweep `args` ask for, checked against the CPUs this process may use.
fn sweep_options(args: &AffinityArgs, cpus: &[usize]) -> Result<SweepOptions, CliError> {
    let mut threads = if args.threads.is_empty() {
        SweepOptions::default_threads(cpus.len())
    } else {
        args.threads.clone()
    };
    if let Some(&t) = threads.iter().find(|&&t| t > MAX_THREADS) {
        return Err(CliError::Usage(format!(
            "--threads {t}: at most {MAX_THREADS} threads per setting"
        )));
    }
    dedup_in_order(&mut threads);
    let mut placements: Vec<lanes_scheduler::Placement> = if args.placements.is_empty() {
        SweepOptions::default_placements(cpus)
    } else {
        args.placements.clone()
    };
    for p in &args.placements {
        if let Placement::Cpus(list) = p {
            if let Some(cpu) = list.iter().find(|c| !cpus.contains(c)) {
                return Err(CliError::Usage(format!(
                    "--placement {p}: CPU {cpu} is not available to this process (available: {})",
                    cpu_list(cpus)
                )));
            }
        }
    }
    dedup_in_order(&mut placements);
    let mut workloads: Vec<Workload> = if args.workloads.is_empty() {
        Workload::ALL.to_vec()
    } else {
        args.workloads.iter().map(|&w| w.into()).collect()
    };
    dedup_in_order(&mut workloads);
    let base = if args.quick {
        Budget::QUICK
    } else {
        SWEEP_BUDGET
    };
    Ok(SweepOptions {
        threads,
        placements,
        workloads,
        budget: args.repeat.map_or(base, |n| Budget::exact(base, n)),
        quick: args.quick,
    })
}

fn dedup_in_order<T: PartialEq + Clone>(v: &mut Vec<T>) {
    let mut seen: Vec<T> = Vec::with_capacity(v.len());
    v.retain(|x| {
        if seen.contains(x) {
            false
        } else {
            seen.push(x.clone());
            true
        }
    });
}

/// Runs `lanes affinity`.
pub fn execute(args: &AffinityArgs) -> Result<(), CliError> {
    let cpus = allowed_cpus();
    let options = sweep_options(args, &cpus)?;
    let (json, plot_file) = json_and_plot_outputs(args.json.as_ref(), args.plot.as_ref())?;
    let threads: Vec<String> = options.threads.iter().map(|t| t.to_string()).collect();
    let workloads: Vec<&str> = options.workloads.iter().map(|w| w.name()).collect();
    emit(&format!(
        "lanes affinity: CPUs {} available; threads {} x {} placements x workloads {}\n",
        cpu_list(&cpus),
        threads.join(","),
        options.placements.len(),
        workloads.join(",")
    ));
    let total = options.threads.len() * options.placements.len() * options.workloads.len();
    let progress = Progress::new(total);
    let outcome = run_sweep(&options, |i, _, label| progress.at(i, label.to_string()));
    progress.finish();
    let report = outcome.map_err(CliError::from)?;
    emit(&render(&report));
    if let Some(file) = json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Usage(format!("cannot encode the JSON report: {e}")))?;
        file.write("json", &text)?;
    }
    if let Some(file) = plot_file {
        let path = file.path.clone();
        drop(file);
        plot::sweep_svg(&report, &path)?;
    }
    Ok(())
}

/// The text report: per setting its pinning line, then one row per workload.
fn render(report: &SweepReport) -> String {
    let mut out = String::new();
    for s in &report.settings {
        let _ = writeln!(out, "\n{}", s.pinning);
        let _ = writeln!(
            out,
            "  {:<8} {:>8} {:>6} {:>9} {:>9} {:>9} {:>8} {:>6} {:>8} {:>7} {:>7}",
            "workload",
            "n",
            "runs",
            "p50",
            "p99",
            "max",
            "elem/s",
            "GB/s",
            "vs 1 thr",
            "steals",
            "parks"
        );
        for w in &s.workloads {
            let ns = |v: u64| format_ns(v as f64);
            let _ = writeln!(
                out,
                "  {:<8} {:>8} {:>6} {:>9} {:>9} {:>9} {:>8} {:>6} {:>8} {:>7} {:>7}",
                w.workload,
                w.n,
                w.latency.runs,
                ns(w.latency.p50_ns),
                ns(w.latency.p99_ns),
                ns(w.latency.max_ns),
                si(w.elements_per_s),
                w.gb_per_s
                    .map_or_else(|| "-".to_string(), |g| format!("{g:.2}")),
                ratio(w.speedup_vs_1_thread),
                w.scheduler.steals,
                w.scheduler.parks,
            );
        }
    }
    out.push_str(
        "\nvs 1 thr: throughput over the 1-thread setting of the same placement; \
         steals and parks include warm-up launches\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_first_order() {
        let mut v = vec![2, 1, 2, 4, 1];
        dedup_in_order(&mut v);
        assert_eq!(v, [2, 1, 4]);
    }
}
