//! `lanes bench`: the benchmark suite ([`crate::bench`]) as a table, with
//! JSON, `.hgrm` and SVG outputs.
//!
//! Where the issue left room:
//! - `--sizes` replaces the size list of every sized kernel (Mandelbrot's
//!   `n` is its pixel count); `empty` always launches one lane.
//! - `--filter` keeps the cases whose `kernel/n` name contains one of the
//!   comma-separated patterns (`--filter vector_add/256,mandelbrot`).
//! - Ratios are lanes p50 / baseline p50: below 1 lanes is faster.
//! - A wrong kernel result is an error (exit 2 for now: `CliError` has no
//!   "failed check" kind of its own), printed with the first element that
//!   differs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::latency::format_ns;
use super::pool::{Placement, PoolSettings, make_runtime, parse_threads};
use super::report::{Progress, json_and_plot_outputs, ratio, scheduler_table, si};
use super::run::EngineChoice;
use super::{CliError, emit};
use crate::bench::case::MAX_N;
use crate::bench::{
    BenchError, BenchKernel, Budget, Case, CaseResult, SuiteOptions, SuiteReport, plot, run_suite,
};
use crate::{Engine, LaunchOptions};

/// Arguments of `lanes bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Threads that run launches (the launching thread and N-1 workers; N
    /// workers with a --placement other than none) and threads of the rayon
    /// baseline [default: one per available CPU].
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub(crate) threads: Option<usize>,
    /// Where the pool's workers run: none, close, spread or cpus:LIST. With
    /// a pinning placement, all N threads are pinned workers.
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(Placement))]
    pub(crate) placement: Option<Placement>,
    /// The engine lanes launches run on [default: the library's default
    /// engine].
    #[arg(long, value_enum)]
    pub(crate) engine: Option<EngineChoice>,
    /// Run only the cases whose `KERNEL/N` contains one of these patterns.
    #[arg(long, value_name = "PATTERN[,PATTERN...]", value_delimiter = ',')]
    pub(crate) filter: Vec<String>,
    /// Element counts for every sized kernel (`256,4k,1M`; k = 1024,
    /// M = 1048576) [default: 256,1k,4k,16k,1M; vector_add and saxpy also 16M;
    /// mandelbrot 4k,64k].
    #[arg(long, value_name = "N[,N...]", value_delimiter = ',', value_parser = parse_size)]
    pub(crate) sizes: Vec<u64>,
    /// Measure exactly N launches per case (after warm-up) instead of a
    /// time budget.
    #[arg(long, value_name = "N", value_parser = super::spec::whole(1, 1_000_000))]
    pub(crate) repeat: Option<u64>,
    /// Write every number as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Write one HdrHistogram percentile distribution (`KERNEL-N.hgrm`,
    /// microseconds) per case into DIR (created if missing).
    #[arg(long, value_name = "DIR")]
    pub(crate) hgrm: Option<PathBuf>,
    /// Draw latency against n per kernel and a percentile chart to an SVG
    /// file.
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) plot: Option<PathBuf>,
    /// A short run: fewer sizes, a few launches each.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Skip the rayon baseline.
    #[arg(long)]
    pub(crate) no_rayon: bool,
    /// Print the scheduler's per-worker report of each case.
    #[arg(long)]
    pub(crate) report: bool,
}

/// Parses an element count: `4096`, `4k` (x1024), `16M` (x1048576).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1u64 << 20),
        _ => (t, 1),
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!(
            "`{}` is not a size (a whole number from 1, optionally with k or M)",
            super::spec::quote(s)
        )
    })?;
    let n = n
        .checked_mul(scale)
        .filter(|&n| n <= MAX_N)
        .ok_or_else(|| {
            format!(
                "`{}` is too large: at most {MAX_N} (64M) elements",
                super::spec::quote(s)
            )
        })?;
    if n == 0 {
        return Err("a size must be at least 1".to_string());
    }
    Ok(n)
}

/// The cases `args` select, in suite order.
fn select_cases(args: &BenchArgs) -> Result<Vec<Case>, CliError> {
    if let Some(bad) = args.filter.iter().find(|p| p.trim().is_empty()) {
        return Err(CliError::Usage(format!(
            "--filter has an empty pattern (`{bad}`); give KERNEL or KERNEL/N patterns separated by commas"
        )));
    }
    let mut all = Vec::new();
    for kernel in BenchKernel::ALL {
        let sizes = if args.sizes.is_empty() || !kernel.takes_sizes() {
            kernel.default_sizes(args.quick)
        } else {
            let mut s = args.sizes.clone();
            s.dedup();
            s
        };
        all.extend(sizes.into_iter().map(|n| Case::new(kernel, n)));
    }
    if args.filter.is_empty() {
        return Ok(all);
    }
    for pattern in &args.filter {
        if !all.iter().any(|c| c.name().contains(pattern.trim())) {
            let kernels: Vec<&str> = BenchKernel::ALL.iter().map(|k| k.name()).collect();
            return Err(CliError::Usage(format!(
                "--filter `{pattern}` matches no case; cases are named KERNEL/N with KERNEL one of {}",
                kernels.join(", ")
            )));
        }
    }
    Ok(all
        .into_iter()
        .filter(|c| {
            let name = c.name();
            args.filter.iter().any(|p| name.contains(p.trim()))
        })
        .collect())
}

/// Runs `lanes bench`.
pub fn execute(args: &BenchArgs) -> Result<(), CliError> {
    let cases = select_cases(args)?;
    let (json, plot_file) = json_and_plot_outputs(args.json.as_ref(), args.plot.as_ref())?;
    if let Some(dir) = &args.hgrm {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::Usage(format!(
                "--hgrm {}: cannot create the directory: {e}",
                dir.display()
            ))
        })?;
    }
    let rt = make_runtime(&PoolSettings {
        threads: args.threads,
        placement: args.placement.clone(),
    })?;
    let base = if args.quick {
        Budget::QUICK
    } else {
        Budget::STANDARD
    };
    let budget = match args.repeat {
        Some(n) => Budget::exact(base, n),
        None => base,
    };
    let options = SuiteOptions {
        cases,
        budget,
        rayon: !args.no_rayon,
        engine: args
            .engine
            .map_or(LaunchOptions::default().engine, Engine::from),
    };

    let threads = rt.threads();
    let config = rt.pool_config();
    let placement = crate::bench::placement_name(&config.placement);
    let who = if config.submitter_helps && threads > 1 {
        " (the launching thread and workers)"
    } else if config.submitter_helps {
        " (the launching thread)"
    } else {
        " (workers)"
    };
    emit(&format!(
        "lanes bench: {} cases, {} engine, on {threads} thread{}{who}, placement {placement}; \
         vs = lanes p50 / baseline p50, below 1.00x lanes is faster\n{}",
        options.cases.len(),
        options.engine,
        if threads == 1 { "" } else { "s" },
        header()
    ));
    let progress = Progress::new(options.cases.len());
    let outcome = run_suite(&rt, &options, |p| match p {
        crate::bench::Progress::Starting { index, case, .. } => progress.at(index, case.name()),
        crate::bench::Progress::Done { result, .. } => progress.print(&row(result)),
    });
    progress.finish();
    let report = outcome.map_err(CliError::from)?;

    let mut tail = String::new();
    let _ = writeln!(
        tail,
        "native: the same loop in plain Rust on one thread; rayon: {threads} thread{} \
         (par_iter below 64k elements, par_chunks from 64k, install(|| ()) for empty)",
        if threads == 1 { "" } else { "s" }
    );
    let compiled: Vec<String> = report
        .cases
        .iter()
        .filter_map(|c| c.compile_ms.map(|ms| format!("{} {ms:.2} ms", c.name)))
        .collect();
    if !compiled.is_empty() {
        let _ = writeln!(
            tail,
            "JIT compile time (first launch of each kernel and block shape): {}",
            compiled.join(", ")
        );
    }
    let fell_back: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| c.engine != options.engine.name())
        .map(|c| c.name.as_str())
        .collect();
    if !fell_back.is_empty() {
        let _ = writeln!(
            tail,
            "ran on the pool engine instead: {}",
            fell_back.join(", ")
        );
    }
    if args.report {
        for case in &report.cases {
            let title = format!(
                "{} ({} launches incl. warm-up)",
                case.name, case.scheduler.batches
            );
            let _ = writeln!(tail, "\n{}", scheduler_table(&title, &case.report));
        }
    }
    if let Some(dir) = &args.hgrm {
        write_hgrms(dir, &report)?;
    }
    if let Some(file) = json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Usage(format!("cannot encode the JSON report: {e}")))?;
        file.write("json", &text)?;
    }
    if let Some(file) = plot_file {
        let path = file.path.clone();
        drop(file);
        plot::suite_svg(&report, &path)?;
    }
    emit(&tail);
    Ok(())
}

fn header() -> String {
    format!(
        "{:<10} {:>8} {:>6} {:>9} {:>9} {:>9} {:>8} {:>6} {:>9} {:>7} {:>9} {:>7}\n",
        "kernel", "n", "runs", "p50", "p99", "max", "elem/s", "GB/s", "native", "vs", "rayon", "vs"
    )
}

fn row(c: &CaseResult) -> String {
    let ns = |v: u64| format_ns(v as f64);
    format!(
        "{:<10} {:>8} {:>6} {:>9} {:>9} {:>9} {:>8} {:>6} {:>9} {:>7} {:>9} {:>7}\n",
        c.kernel,
        c.n,
        c.lanes.runs,
        ns(c.lanes.p50_ns),
        ns(c.lanes.p99_ns),
        ns(c.lanes.max_ns),
        c.elements_per_s.map_or_else(|| "-".to_string(), si),
        c.gb_per_s
            .map_or_else(|| "-".to_string(), |g| format!("{g:.2}")),
        c.native.map_or_else(|| "-".to_string(), |l| ns(l.p50_ns)),
        ratio(c.vs_native),
        c.rayon.map_or_else(|| "-".to_string(), |l| ns(l.p50_ns)),
        ratio(c.vs_rayon),
    )
}

fn write_hgrms(dir: &Path, report: &SuiteReport) -> Result<(), CliError> {
    for case in &report.cases {
        let path = dir.join(format!("{}-{}.hgrm", case.kernel, case.n));
        let text = lanes_scheduler::hgrm(&case.histogram, 5, 1000.0);
        std::fs::write(&path, text).map_err(|e| {
            CliError::Usage(format!("--hgrm: cannot write `{}`: {e}", path.display()))
        })?;
    }
    Ok(())
}

impl From<BenchError> for CliError {
    fn from(e: BenchError) -> CliError {
        match e {
            BenchError::Launch {
                source: crate::LaunchError::Fault(fault),
                ..
            } => CliError::Fault(fault),
            mismatch @ BenchError::Mismatch { .. } => CliError::Failed(mismatch.to_string()),
            other => CliError::Usage(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("256"), Ok(256));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        for bad in ["0", "", "k", "-1", "1.5k", "128M", "99999999999999999999"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
